//! Planning over the graph's variables, as plain data: which tensor a variable (or the
//! shards of a partitioned variable) is saved as, which tensor restores which variable
//! (names, assignment map, strictness, shapes, dtypes), and the slicing and dtype
//! conversion that turn a tensor's bytes into each part's bytes and back.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use varscope_core::{DType, Graph, Variable};

use super::header::{CheckpointInfo, Partitioning, TensorInfo};
use super::METADATA_KEY;
use crate::dtype::{can_convert, convert_into, StoredDType};
use crate::error::{BadNameReason, FormatError, Result};

/// One variable behind a tensor: a whole variable, or one shard of a partitioned one.
#[derive(Clone, Debug)]
pub struct Part {
    /// The variable (or shard).
    pub variable: Variable,
    /// Its offset in the tensor's (full) shape; zeros for a whole variable.
    pub offset: Vec<u64>,
    /// Its shape.
    pub shape: Vec<u64>,
}

impl Part {
    /// Elements of the part (`u64::MAX` if more).
    pub fn num_elements(&self) -> u64 {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).unwrap_or(u64::MAX)
    }
}

/// What a tensor name stands for in the graph: a variable, or (some of) the shards of a
/// partitioned variable.
#[derive(Clone, Debug)]
pub struct Unit {
    /// The tensor name.
    pub name: String,
    /// The variables' dtype.
    pub dtype: DType,
    /// The tensor's shape (a partitioned variable's full shape).
    pub full_shape: Vec<u64>,
    /// The variables behind it, in the order given.
    pub parts: Vec<Part>,
    /// Whether the parts are shards of a partitioned variable.
    pub partitioned: bool,
}

/// The tensor name of an unpartitioned variable: its store key, without the trailing `/`
/// of slot variables (`get_variable("")` in scope `foo/v/Adam` has the store key
/// `foo/v/Adam/` and the op name `foo/v/Adam`, TensorFlow's checkpoint name).
pub fn tensor_name(v: &Variable) -> String {
    let k = v.key();
    match k.strip_suffix('/') {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => k.to_string(),
    }
}

/// Groups variables into units (shards under their partitioned variable's key), in
/// first-appearance order, skipping duplicates. Checks each shard's slice and that every
/// dtype has a stored form.
pub fn units_of(graph: &Graph, vars: &[Variable]) -> Result<Vec<Unit>> {
    let mut units: Vec<Unit> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for v in vars {
        if !seen.insert(v.id()) {
            continue;
        }
        if v.graph_id() != graph.id() {
            return Err(FormatError::ForeignVariable { variable: v.key().to_string() });
        }
        let dims = v
            .dims()
            .ok_or_else(|| FormatError::UnknownShape { variable: v.key().to_string(), shape: v.shape().to_string() })?;
        let (name, full, offset, partitioned) = match v.slice_info() {
            Some(si) => (si.full_name.clone(), si.full_shape.clone(), si.var_offset.clone(), true),
            None => (tensor_name(v), dims.clone(), vec![0; dims.len()], false),
        };
        let fits = full.len() == dims.len()
            && offset.len() == dims.len()
            && (0..dims.len()).all(|i| offset[i].checked_add(dims[i]).is_some_and(|e| e <= full[i]));
        if !fits {
            return Err(FormatError::BadSlice { variable: v.key().to_string(), offset, shape: dims, full_shape: full });
        }
        if StoredDType::of(v.dtype()).is_none() {
            return Err(FormatError::UnsupportedDType { variable: name, dtype: v.dtype() });
        }
        let part = Part { variable: v.clone(), offset, shape: dims };
        match by_name.get(&name) {
            Some(&i)
                if units[i].partitioned
                    && partitioned
                    && units[i].full_shape == full
                    && units[i].dtype == v.dtype() =>
            {
                units[i].parts.push(part);
            }
            Some(_) => {
                return Err(FormatError::BadName { name, variable: v.key().to_string(), reason: BadNameReason::Taken })
            }
            None => {
                by_name.insert(name.clone(), units.len());
                units.push(Unit { name, dtype: v.dtype(), full_shape: full, parts: vec![part], partitioned });
            }
        }
    }
    Ok(units)
}

// ----- save --------------------------------------------------------------------------------

/// One tensor a save writes, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveTensor {
    /// The tensor name.
    pub name: String,
    /// Its dtype (stored as [`StoredDType::of`] it).
    pub dtype: DType,
    /// Its (full) shape.
    pub shape: Vec<u64>,
    /// Bytes of data.
    pub bytes: u64,
    /// The partitioning of a partitioned variable, recorded in the metadata.
    pub partitioning: Option<Partitioning>,
}

/// The tensors a save of `units` writes: checks reserved names and that every shard of
/// each partitioned variable is there, and derives each partitioning.
pub fn plan_save(graph: &Graph, units: &[Unit]) -> Result<Vec<SaveTensor>> {
    let mut out = Vec::with_capacity(units.len());
    for u in units {
        if u.name == METADATA_KEY {
            return Err(FormatError::BadName {
                name: u.name.clone(),
                variable: u.name.clone(),
                reason: BadNameReason::Reserved,
            });
        }
        let elems = u.full_shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let bytes = elems.and_then(|n| n.checked_mul(u.dtype.size_bytes() as u64));
        let (Some(elems), Some(bytes)) = (elems, bytes) else {
            return Err(FormatError::BadSlice {
                variable: u.name.clone(),
                offset: vec![],
                shape: u.full_shape.clone(),
                full_shape: u.full_shape.clone(),
            });
        };
        let partitioning = if u.partitioned {
            let have = u.parts.iter().fold(0u64, |a, p| a.saturating_add(p.num_elements()));
            let given: HashSet<u64> = u.parts.iter().map(|p| p.variable.id()).collect();
            let all = graph.partitioned_variable(&u.name).map(|p| p.shards().to_vec()).unwrap_or_default();
            let missing: Vec<String> =
                all.iter().filter(|s| !given.contains(&s.id())).map(|s| s.key().to_string()).collect();
            if !missing.is_empty() || have != elems {
                return Err(FormatError::IncompleteShards { variable: u.name.clone(), missing });
            }
            let axis = u.parts[0].shape.iter().zip(&u.full_shape).position(|(a, b)| a != b).unwrap_or(0);
            let mut offsets: Vec<u64> = u.parts.iter().map(|p| p.offset.get(axis).copied().unwrap_or(0)).collect();
            offsets.sort_unstable();
            Some(Partitioning { axis, offsets })
        } else {
            None
        };
        out.push(SaveTensor { name: u.name.clone(), dtype: u.dtype, shape: u.full_shape.clone(), bytes, partitioning });
    }
    Ok(out)
}

/// Copies the bytes of part `part` of `unit` (row-major, the unit's dtype) into their
/// region of `full` (the whole tensor's bytes).
pub fn place_part(unit: &Unit, part: usize, src: &[u8], full: &mut [u8]) -> Result<()> {
    let eb = unit.dtype.size_bytes() as u64;
    let len = |shape: &[u64]| shape.iter().try_fold(eb, |a, &d| a.checked_mul(d));
    let p = unit.parts.get(part);
    let expected = p.and_then(|p| len(&p.shape));
    if expected != Some(src.len() as u64) || len(&unit.full_shape) != Some(full.len() as u64) {
        let tensor = unit.name.clone();
        return Err(FormatError::WrongTensorBytes {
            tensor,
            expected: expected.unwrap_or(0),
            actual: src.len() as u64,
        });
    }
    let Some(p) = p else { return Ok(()) };
    let mut pos = 0usize;
    for_each_run(&unit.full_shape, &p.offset, &p.shape, |start, count| {
        let (s, n) = ((start * eb) as usize, (count * eb) as usize);
        full[s..s + n].copy_from_slice(&src[pos..pos + n]);
        pos += n;
    });
    if pos != src.len() {
        // The part's region is not inside the full shape (units_of never builds one).
        return Err(FormatError::BadSlice {
            variable: p.variable.key().to_string(),
            offset: p.offset.clone(),
            shape: p.shape.clone(),
            full_shape: unit.full_shape.clone(),
        });
    }
    Ok(())
}

// ----- restore -----------------------------------------------------------------------------

/// One tensor to unit assignment of a restore plan (indices into the header's tensors
/// and the units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// Index into [`CheckpointInfo::tensors`].
    pub tensor: usize,
    /// Index into the units.
    pub unit: usize,
}

/// Which tensor restores which unit, and what matched nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestorePlan {
    /// The assignments, in file order.
    pub pairs: Vec<Pair>,
    /// Units (tensor names) no tensor reached.
    pub missing: Vec<String>,
    /// Tensors no unit receives.
    pub unexpected: Vec<String>,
}

/// The scope part of an assignment-map entry (`"old/"` -> `"old/"`, `"/"` -> `""`).
pub fn scope_prefix(s: &str) -> &str {
    if s == "/" {
        ""
    } else {
        s
    }
}

/// The graph-side name the assignment map sends tensor `name` to: `None` when a
/// non-empty map does not match it; the flag says whether a map entry (index) matched.
fn map_target(name: &str, map: &[(String, String)]) -> Option<(String, Option<usize>)> {
    if map.is_empty() {
        return Some((name.to_string(), None));
    }
    if let Some(i) = map.iter().position(|(f, _)| !f.ends_with('/') && f == name) {
        return Some((map[i].1.clone(), Some(i)));
    }
    let (i, (f, to)) = map
        .iter()
        .enumerate()
        .filter(|(_, (f, _))| f.ends_with('/') && name.starts_with(scope_prefix(f)))
        .max_by_key(|(_, (f, _))| scope_prefix(f).len())?;
    Some((format!("{}{}", scope_prefix(to), &name[scope_prefix(f).len()..]), Some(i)))
}

/// Matches tensors to units by name through the assignment map (as
/// `init_from_checkpoint`: exact names beat scopes, the longest scope wins) and checks
/// every pair's shape and dtype. Reads no bytes: check the paired tensors' bytes before
/// writing anything (`CheckpointReader::check_tensor`).
pub fn plan_restore(
    info: &CheckpointInfo,
    units: &[Unit],
    map: &[(String, String)],
    strict: bool,
    path: &Path,
) -> Result<RestorePlan> {
    for (from, to) in map {
        if from.ends_with('/') != to.ends_with('/') {
            return Err(FormatError::InvalidMapEntry { from: from.clone(), to: to.clone() });
        }
    }
    let by_name: HashMap<&str, usize> = units.iter().enumerate().map(|(i, u)| (u.name.as_str(), i)).collect();
    let mut used_entry = vec![false; map.len()];
    let mut claimed: HashMap<usize, usize> = HashMap::new();
    let mut plan = RestorePlan::default();
    for (ti, t) in info.tensors.iter().enumerate() {
        let Some((target, entry)) = map_target(&t.name, map) else {
            plan.unexpected.push(t.name.clone());
            continue;
        };
        if let Some(i) = entry {
            used_entry[i] = true;
        }
        let Some(&ui) = by_name.get(target.as_str()) else {
            if entry.is_some() {
                return Err(FormatError::MapTargetNotFound {
                    path: path.to_path_buf(),
                    tensor: t.name.clone(),
                    target,
                });
            }
            plan.unexpected.push(t.name.clone());
            continue;
        };
        if let Some(&prev) = claimed.get(&ui) {
            return Err(FormatError::DuplicateTarget {
                path: path.to_path_buf(),
                variable: units[ui].name.clone(),
                first: info.tensors[prev].name.clone(),
                second: t.name.clone(),
            });
        }
        claimed.insert(ui, ti);
        plan.pairs.push(Pair { tensor: ti, unit: ui });
    }
    if let Some(i) = used_entry.iter().position(|u| !u) {
        return Err(FormatError::MapSourceNotFound {
            path: path.to_path_buf(),
            from: map[i].0.clone(),
            to: map[i].1.clone(),
        });
    }
    plan.missing =
        units.iter().enumerate().filter(|(i, _)| !claimed.contains_key(i)).map(|(_, u)| u.name.clone()).collect();
    if strict && (!plan.missing.is_empty() || !plan.unexpected.is_empty()) {
        return Err(FormatError::Strict {
            path: path.to_path_buf(),
            missing_in_file: plan.missing,
            unexpected_in_file: plan.unexpected,
        });
    }
    for p in &plan.pairs {
        let (t, u) = (&info.tensors[p.tensor], &units[p.unit]);
        if t.shape != u.full_shape {
            return Err(FormatError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor: t.name.clone(),
                variable: u.name.clone(),
                file_shape: t.shape.clone(),
                graph_shape: u.full_shape.clone(),
            });
        }
        if !can_convert(t.stored_dtype, u.dtype) {
            return Err(FormatError::DTypeMismatch {
                path: path.to_path_buf(),
                tensor: t.name.clone(),
                variable: u.name.clone(),
                file_dtype: t.stored_dtype,
                dtype: u.dtype,
            });
        }
    }
    Ok(plan)
}

/// The bytes of part `part` of `unit` from tensor `t` whose bytes are `data`: its region
/// of the full tensor, converted to the unit's dtype. `None` if `data` or the part does
/// not match `t` (a plan from [`plan_restore`] always does).
pub fn part_bytes(data: &[u8], t: &TensorInfo, unit: &Unit, part: usize) -> Option<Vec<u8>> {
    let p = unit.parts.get(part)?;
    if data.len() as u64 != t.bytes || t.shape != unit.full_shape || !can_convert(t.stored_dtype, unit.dtype) {
        return None;
    }
    let eb = t.stored_dtype.size_bytes() as u64;
    if t.num_elements().checked_mul(eb) != Some(t.bytes) {
        return None;
    }
    let n = usize::try_from(p.num_elements()).ok()?;
    let mut out = Vec::new();
    out.try_reserve_exact(n.checked_mul(unit.dtype.size_bytes())?).ok()?;
    for_each_run(&unit.full_shape, &p.offset, &p.shape, |start, count| {
        let (s, len) = ((start * eb) as usize, (count * eb) as usize);
        convert_into(&data[s..s + len], t.stored_dtype, unit.dtype, &mut out);
    });
    Some(out)
}

/// Calls `f(start_element, count)` for each contiguous run of the region `offset`,
/// `size` of a row-major tensor of shape `full`, in the region's row-major order.
/// A region outside `full`, or a shape of more than 2^64 elements, yields no runs.
pub fn for_each_run(full: &[u64], offset: &[u64], size: &[u64], mut f: impl FnMut(u64, u64)) {
    let r = full.len();
    let fits = offset.len() == r
        && size.len() == r
        && (0..r).all(|i| offset[i].checked_add(size[i]).is_some_and(|e| e <= full[i]));
    if size.contains(&0) || !fits {
        return;
    }
    // Every element index fits in u64 (the shape's product does), so nothing below overflows.
    if full.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).is_none() {
        return;
    }
    let mut stride = vec![1u64; r];
    for i in (0..r.saturating_sub(1)).rev() {
        stride[i] = stride[i + 1] * full[i + 1];
    }
    // Merge trailing dims the region covers fully, plus the first partial one.
    let mut d = r;
    let mut block = 1u64;
    while d > 0 && size[d - 1] == full[d - 1] {
        block *= full[d - 1];
        d -= 1;
    }
    if d > 0 {
        block *= size[d - 1];
        d -= 1;
    }
    let base: u64 = (0..r).map(|j| offset[j] * stride[j]).sum();
    let outer: u64 = size[..d].iter().product();
    let mut idx = vec![0u64; d];
    for _ in 0..outer {
        let start = base + (0..d).map(|j| idx[j] * stride[j]).sum::<u64>();
        f(start, block);
        for j in (0..d).rev() {
            idx[j] += 1;
            if idx[j] < size[j] {
                break;
            }
            idx[j] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_regions() {
        let runs = |full: &[u64], off: &[u64], size: &[u64]| {
            let mut v = Vec::new();
            for_each_run(full, off, size, |s, n| v.push((s, n)));
            v
        };
        assert_eq!(runs(&[4, 3], &[1, 0], &[2, 3]), vec![(3, 6)]);
        assert_eq!(runs(&[2, 5], &[0, 4], &[2, 1]), vec![(4, 1), (9, 1)]);
        assert_eq!(runs(&[2, 3, 4], &[0, 1, 0], &[2, 2, 4]), vec![(4, 8), (16, 8)]);
        assert_eq!(runs(&[], &[], &[]), vec![(0, 1)]);
        assert!(runs(&[3, 0], &[0, 0], &[3, 0]).is_empty());
        assert!(runs(&[3, 2], &[2, 0], &[2, 2]).is_empty(), "a region outside the tensor yields nothing");
        assert!(runs(&[1 << 40, 1 << 40], &[0, 0], &[1, 1]).is_empty(), "more than 2^64 elements yield nothing");
    }

    #[test]
    fn map_targets_follow_init_from_checkpoint() {
        let map: Vec<(String, String)> =
            [("old/", "new/"), ("old/inner/", "deep/"), ("old/v", "new/w"), ("/", "root/")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert_eq!(map_target("old/a", &map), Some(("new/a".into(), Some(0))));
        assert_eq!(map_target("old/inner/c", &map), Some(("deep/c".into(), Some(1))));
        assert_eq!(map_target("old/v", &map), Some(("new/w".into(), Some(2))));
        assert_eq!(map_target("x", &map), Some(("root/x".into(), Some(3))));
        assert_eq!(map_target("x", &map[..3]), None);
        assert_eq!(map_target("x", &[]), Some(("x".into(), None)));
    }
}
