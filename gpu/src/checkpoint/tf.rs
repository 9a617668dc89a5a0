//! TensorFlow checkpoints (`tf.train.Saver` tensor bundles) for a session: restore from a
//! prefix or a directory with a `checkpoint` state file, save as a bundle TensorFlow 1.15
//! and 2.x restore. The bundle format itself is `varscope_format::tf` (host-only); this
//! module moves values between it and the session.
//!
//! Names are the same as in the safetensors checkpoints ([`super`]): a
//! variable's store key without `:0` (a slot's trailing `/` dropped), and a partitioned
//! variable is one full tensor under its own key. In a bundle that full tensor's entry
//! lists the shards as slices, exactly as TensorFlow's `Saver` writes it, so TensorFlow
//! restores it into any partitioning, and varscope restores a TensorFlow-partitioned
//! tensor into any partitioning of its own.
//!
//! [`super::restore`] detects a TensorFlow checkpoint from the path and comes
//! here, so one entry point restores both formats with the same [`RestoreOptions`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use varscope_core::{DType, Variable};
use varscope_format::error::FormatError;
use varscope_format::tf::{BundleReader, BundleWriter, TensorInfo, TensorSlice, TfDtype, TfError};

use varscope_format::safetensors_file::{can_convert, convert_into, scope_prefix, units_of, Part, StoredDType, Unit};

use super::{CheckpointError, RestoreOptions, RestoreReport, Restored, Result, SaveOptions};
use crate::error::GpuError;
use crate::session::Session;
use crate::values::{first_invalid_value, HostValues};

/// The safetensors form of a TensorFlow dtype with a fixed-size layout (what
/// [`can_convert`] and the restore's conversion work with); `None` for string, resource,
/// variant, complex and quantized dtypes, which no varscope variable restores from.
pub fn stored_dtype(dtype: TfDtype) -> Option<StoredDType> {
    Some(match dtype {
        TfDtype::Bool => StoredDType::Bool,
        TfDtype::UInt8 => StoredDType::U8,
        TfDtype::Int8 => StoredDType::I8,
        TfDtype::Int16 => StoredDType::I16,
        TfDtype::UInt16 => StoredDType::U16,
        TfDtype::Float16 => StoredDType::F16,
        TfDtype::BFloat16 => StoredDType::BF16,
        TfDtype::Int32 => StoredDType::I32,
        TfDtype::UInt32 => StoredDType::U32,
        TfDtype::Float32 => StoredDType::F32,
        TfDtype::Float64 => StoredDType::F64,
        TfDtype::Int64 => StoredDType::I64,
        TfDtype::UInt64 => StoredDType::U64,
        _ => return None,
    })
}

/// Tensor-to-unit pairs of a restore, and what is left over on either side.
struct Matched {
    pairs: Vec<(usize, usize)>,
    missing: Vec<String>,
    unexpected: Vec<String>,
}

/// Matches tensor names to units through the assignment map, with the rules of the
/// safetensors restore (`init_from_checkpoint`'s): exact entries beat scope entries, the
/// longest scope wins, every entry must match, mapped targets must exist.
fn match_names(names: &[&str], units: &[Unit], map: &[(String, String)], strict: bool, path: &Path) -> Result<Matched> {
    for (from, to) in map {
        if from.ends_with('/') != to.ends_with('/') {
            return Err(FormatError::InvalidMapEntry { from: from.clone(), to: to.clone() }.into());
        }
    }
    let by_name: HashMap<&str, usize> = units.iter().enumerate().map(|(i, u)| (u.name.as_str(), i)).collect();
    let mut used_entry = vec![false; map.len()];
    let mut claimed: HashMap<usize, usize> = HashMap::new();
    let mut pairs = Vec::new();
    let mut unexpected = Vec::new();
    for (ti, &name) in names.iter().enumerate() {
        let target = if map.is_empty() {
            Some((name.to_string(), false))
        } else if let Some(i) = map.iter().position(|(f, _)| !f.ends_with('/') && f == name) {
            used_entry[i] = true;
            Some((map[i].1.clone(), true))
        } else {
            map.iter()
                .enumerate()
                .filter(|(_, (f, _))| f.ends_with('/') && name.starts_with(scope_prefix(f)))
                .max_by_key(|(_, (f, _))| scope_prefix(f).len())
                .map(|(i, (f, to))| {
                    used_entry[i] = true;
                    (format!("{}{}", scope_prefix(to), &name[scope_prefix(f).len()..]), true)
                })
        };
        let Some((target, mapped)) = target else {
            unexpected.push(name.to_string());
            continue;
        };
        let Some(&ui) = by_name.get(target.as_str()) else {
            if mapped {
                return Err(FormatError::MapTargetNotFound {
                    path: path.to_path_buf(),
                    tensor: name.to_string(),
                    target,
                }
                .into());
            }
            unexpected.push(name.to_string());
            continue;
        };
        if let Some(&prev) = claimed.get(&ui) {
            return Err(FormatError::DuplicateTarget {
                path: path.to_path_buf(),
                variable: units[ui].name.clone(),
                first: names[prev].to_string(),
                second: name.to_string(),
            }
            .into());
        }
        claimed.insert(ui, ti);
        pairs.push((ti, ui));
    }
    if let Some(i) = used_entry.iter().position(|u| !u) {
        return Err(FormatError::MapSourceNotFound {
            path: path.to_path_buf(),
            from: map[i].0.clone(),
            to: map[i].1.clone(),
        }
        .into());
    }
    let missing: Vec<String> =
        units.iter().enumerate().filter(|(i, _)| !claimed.contains_key(i)).map(|(_, u)| u.name.clone()).collect();
    if strict && (!missing.is_empty() || !unexpected.is_empty()) {
        return Err(FormatError::Strict {
            path: path.to_path_buf(),
            missing_in_file: missing,
            unexpected_in_file: unexpected,
        }
        .into());
    }
    Ok(Matched { pairs, missing, unexpected })
}

/// Checks one pair: shape, dtype (string/resource/variant tensors are
/// [`TfError::UnsupportedDtype`]) and convertibility. Returns the tensor's stored dtype.
fn check_pair(reader: &BundleReader, t: &TensorInfo, u: &Unit) -> Result<StoredDType> {
    let stored = stored_dtype(t.dtype).ok_or_else(|| TfError::UnsupportedDtype {
        path: reader.index_path().to_path_buf(),
        tensor: t.name.clone(),
        dtype: t.dtype,
    })?;
    if t.shape != u.full_shape {
        return Err(FormatError::ShapeMismatch {
            path: reader.prefix().to_path_buf(),
            tensor: t.name.clone(),
            variable: u.name.clone(),
            file_shape: t.shape.clone(),
            graph_shape: u.full_shape.clone(),
        }
        .into());
    }
    if !can_convert(stored, u.dtype) {
        return Err(FormatError::DTypeMismatch {
            path: reader.prefix().to_path_buf(),
            tensor: t.name.clone(),
            variable: u.name.clone(),
            file_dtype: stored,
            dtype: u.dtype,
        }
        .into());
    }
    Ok(stored)
}

/// Checks the bytes of `shape` at `offset` of tensor `t` (read as the variable's `dtype`)
/// for values no [`HostValues`] of that dtype may hold (a bool byte other than 0 or 1):
/// [`FormatError::InvalidBool`] naming the tensor, the checkpoint `prefix`, the element
/// (its row-major index in the full tensor) and the byte.
fn check_values(prefix: &Path, t: &TensorInfo, dtype: DType, offset: &[u64], shape: &[u64], data: &[u8]) -> Result<()> {
    let Some((i, byte)) = first_invalid_value(dtype, data) else {
        return Ok(());
    };
    // The region's row-major element `i` as coordinates, moved by `offset`, flattened in
    // the full tensor (whose element count fits a u64: checked when the index was opened).
    let mut rest = i as u64;
    let mut coords = vec![0u64; shape.len()];
    for (c, &d) in coords.iter_mut().zip(shape).rev() {
        *c = rest % d;
        rest /= d;
    }
    let index = coords.iter().zip(offset).zip(&t.shape).fold(0u64, |acc, ((&c, &o), &d)| acc * d + o + c);
    Err(FormatError::InvalidBool { path: prefix.to_path_buf(), tensor: t.name.clone(), index, byte }.into())
}

/// Restores variables of `session` from a TensorFlow checkpoint: a prefix
/// (`model.ckpt-1000`), its `.index` file, or a directory (or `checkpoint` file) whose
/// checkpoint state names the latest prefix. Options as for the safetensors restore: by
/// name, partial or strict, with an assignment map, into any partitioning (from whole or
/// partitioned tensors), converting between float dtypes. Restored variables count as
/// initialized.
///
/// Everything is checked before any variable is written (the whole index, every pair's
/// shape and dtype, the CRC32C of every tensor used, every value a bool variable would
/// receive, the targets' placement and memory); on error no variable changes. Values are
/// read one variable (or shard) at a time.
pub fn restore(session: &Session, path: impl AsRef<Path>, options: &RestoreOptions) -> Result<RestoreReport> {
    let reader = BundleReader::open(path.as_ref())?;
    let graph = session.graph();
    let vars = options.variables.clone().unwrap_or_else(|| graph.global_variables());
    let units = units_of(graph, &vars)?;
    for u in &units {
        if StoredDType::of(u.dtype).is_none() {
            return Err(FormatError::UnsupportedDType { variable: u.name.clone(), dtype: u.dtype }.into());
        }
    }
    let infos: Vec<&TensorInfo> = reader.tensors().collect();
    let names: Vec<&str> = infos.iter().map(|t| t.name.as_str()).collect();
    let matched = match_names(&names, &units, &options.assignment_map, options.strict, reader.prefix())?;
    let mut stored = Vec::with_capacity(matched.pairs.len());
    for &(ti, ui) in &matched.pairs {
        stored.push(check_pair(&reader, infos[ti], &units[ui])?);
    }
    for &(ti, _) in &matched.pairs {
        reader.verify_tensor(&infos[ti].name)?;
    }
    // The values, as the safetensors restore checks them before writing: every part's bytes
    // become `HostValues`, which refuse a bool byte other than 0 or 1. Lengths and dtypes
    // are right by `check_pair`, so values are all that can still be refused; bool parts
    // are read (one part at a time) and checked here, so a bad one changes no variable.
    for &(ti, ui) in &matched.pairs {
        let (t, u) = (infos[ti], &units[ui]);
        if u.dtype != DType::Bool {
            continue;
        }
        for Part { offset, shape, .. } in &u.parts {
            let region = reader.read_region(&t.name, offset, shape)?;
            check_values(reader.prefix(), t, u.dtype, offset, shape, &region.data)?;
        }
    }

    let targets: Vec<Variable> =
        matched.pairs.iter().flat_map(|&(_, ui)| units[ui].parts.iter().map(|p| p.variable.clone())).collect();
    let made = session.materialize(&targets)?;
    let mut restored = Vec::with_capacity(matched.pairs.len());
    for (&(ti, ui), &file_dtype) in matched.pairs.iter().zip(&stored) {
        let (t, u) = (infos[ti], &units[ui]);
        for Part { variable: v, offset, shape } in &u.parts {
            let written =
                reader.read_region(&t.name, offset, shape).map_err(CheckpointError::from).and_then(|region| {
                    let mut out =
                        Vec::with_capacity(region.data.len() / file_dtype.size_bytes() * u.dtype.size_bytes());
                    convert_into(&region.data, file_dtype, u.dtype, &mut out);
                    // Checked above; again here so that a file rewritten since (other values
                    // under a valid CRC32C) is the same typed error.
                    check_values(reader.prefix(), t, u.dtype, offset, shape, &out)?;
                    let values = HostValues::from_bytes(u.dtype, shape, out)?;
                    Ok(session.assign(v, &values)?)
                });
            if let Err(e) = written {
                session.free(&made);
                return Err(e);
            }
        }
        restored.push(Restored {
            tensor: t.name.clone(),
            variable: u.name.clone(),
            file_dtype,
            dtype: u.dtype,
            shards: u.parts.len(),
        });
    }
    Ok(RestoreReport {
        restored,
        missing_in_file: matched.missing,
        unexpected_in_file: matched.unexpected,
        saved_graph_seed: None,
    })
}

/// What [`save`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TfSaveReport {
    /// The bundle's prefix.
    pub prefix: PathBuf,
    /// The tensors of the written bundle, as its index lists them.
    pub tensors: Vec<TensorInfo>,
}

/// Saves variables of `session` (default: all global variables) as a TensorFlow bundle at
/// `prefix` (`PREFIX.index`, `PREFIX.data-00000-of-00001`), atomically: names are the store
/// keys (no `:0`), a partitioned variable is one full-shape entry whose slices are its
/// shards (all shards must be saved together). Every variable must be initialized.
pub fn save(session: &Session, prefix: impl AsRef<Path>, options: &SaveOptions) -> Result<TfSaveReport> {
    let prefix = prefix.as_ref();
    let graph = session.graph();
    let vars = options.variables.clone().unwrap_or_else(|| graph.global_variables());
    let units = units_of(graph, &vars)?;
    let mut dtypes = Vec::with_capacity(units.len());
    for u in &units {
        let dtype = TfDtype::from_core(u.dtype)
            .ok_or(FormatError::UnsupportedDType { variable: u.name.clone(), dtype: u.dtype })?;
        dtypes.push(dtype);
        for Part { variable: v, .. } in &u.parts {
            if !session.is_variable_initialized(v) {
                return Err(GpuError::Uninitialized { variable: v.op_name().to_string() }.into());
            }
        }
        if u.partitioned {
            let given: HashSet<u64> = u.parts.iter().map(|p| p.variable.id()).collect();
            let all = graph.partitioned_variable(&u.name).map(|p| p.shards().to_vec()).unwrap_or_default();
            let missing: Vec<String> =
                all.iter().filter(|s| !given.contains(&s.id())).map(|s| s.key().to_string()).collect();
            let have: u64 = u.parts.iter().map(|p| p.shape.iter().product::<u64>()).sum();
            if !missing.is_empty() || have != u.full_shape.iter().product::<u64>() {
                return Err(FormatError::IncompleteShards { variable: u.name.clone(), missing }.into());
            }
        }
    }
    let mut writer = BundleWriter::create(prefix)?;
    for (u, &dtype) in units.iter().zip(&dtypes) {
        for Part { variable: v, offset, shape } in &u.parts {
            let values = session.read(v)?;
            if u.partitioned {
                let slice = TensorSlice::from_ranges(offset, shape);
                writer.add_slice(&u.name, dtype, &u.full_shape, &slice, values.bytes())?;
            } else {
                writer.add(&u.name, dtype, &u.full_shape, values.bytes())?;
            }
        }
    }
    writer.finish()?;
    let written = BundleReader::open(prefix)?;
    Ok(TfSaveReport { prefix: prefix.to_path_buf(), tensors: written.tensors().cloned().collect() })
}
