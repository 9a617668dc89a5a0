//! The TensorFlow parts of the `varscope` command: `inspect` of a bundle, and `convert`
//! between a TensorFlow bundle and a `.safetensors` file (issue 12). Host only.

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, View};
use varscope_format::tf::{BundleReader, BundleWriter, TfDtype};

use super::{human_bytes, print_scope, ScopeNode};

/// What the TensorFlow subcommands return.
type CliResult = Result<(), Box<dyn std::error::Error>>;

/// `varscope inspect PREFIX|DIR`: the bundle's scope tree like a safetensors file's; with
/// `--verify`, every CRC32C is checked first. String, resource and variant tensors are
/// listed (their bytes as stored).
pub fn inspect(path: &Path, verify: bool) -> CliResult {
    let reader = BundleReader::open(path)?;
    if verify {
        reader.verify()?;
    }
    let mut root = ScopeNode::default();
    let mut on_disk = 0u64;
    for t in reader.tensors() {
        let bytes = match (t.dtype.size(), &t.layout) {
            (Some(size), _) => t.num_elements() * size as u64,
            (None, varscope_format::tf::Layout::Whole(at)) => at.size,
            (None, varscope_format::tf::Layout::Sliced(s)) => s.iter().map(|(_, at)| at.size).sum(),
        };
        let mut shape = varscope::Shape::new(&t.shape).to_string();
        if let varscope_format::tf::Layout::Sliced(s) = &t.layout {
            shape = format!("{shape} in {} slices", s.len());
        }
        let mut node = &mut root;
        node.bytes += bytes;
        node.tensors += 1;
        for part in t.name.split('/') {
            node = node.children.entry(part.to_string()).or_default();
            node.bytes += bytes;
            node.tensors += 1;
        }
        node.leaf = Some((t.dtype.name().to_string(), shape, bytes));
    }
    for shard in 0..reader.num_shards() {
        let data = varscope_format::tf::data_path(reader.prefix(), shard, reader.num_shards());
        on_disk += std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
    }
    on_disk += std::fs::metadata(reader.index_path()).map(|m| m.len()).unwrap_or(0);
    println!(
        "{} (TensorFlow checkpoint, {} data shard{}): {} tensors, {} ({} on disk){}",
        reader.prefix().display(),
        reader.num_shards(),
        if reader.num_shards() == 1 { "" } else { "s" },
        root.tensors,
        human_bytes(root.bytes),
        human_bytes(on_disk),
        if verify { ", CRC32C verified" } else { "" }
    );
    print_scope(&root, 0);
    Ok(())
}

fn st_dtype(dtype: TfDtype) -> Option<Dtype> {
    Some(match dtype {
        TfDtype::Bool => Dtype::BOOL,
        TfDtype::UInt8 => Dtype::U8,
        TfDtype::Int8 => Dtype::I8,
        TfDtype::Int16 => Dtype::I16,
        TfDtype::UInt16 => Dtype::U16,
        TfDtype::Float16 => Dtype::F16,
        TfDtype::BFloat16 => Dtype::BF16,
        TfDtype::Int32 => Dtype::I32,
        TfDtype::UInt32 => Dtype::U32,
        TfDtype::Float32 => Dtype::F32,
        TfDtype::Float64 => Dtype::F64,
        TfDtype::Int64 => Dtype::I64,
        TfDtype::UInt64 => Dtype::U64,
        _ => return None,
    })
}

fn tf_dtype(dtype: Dtype) -> Option<TfDtype> {
    [
        TfDtype::Bool,
        TfDtype::UInt8,
        TfDtype::Int8,
        TfDtype::Int16,
        TfDtype::UInt16,
        TfDtype::Float16,
        TfDtype::BFloat16,
        TfDtype::Int32,
        TfDtype::UInt32,
        TfDtype::Float32,
        TfDtype::Float64,
        TfDtype::Int64,
        TfDtype::UInt64,
    ]
    .into_iter()
    .find(|d| st_dtype(*d) == Some(dtype))
}

/// One tensor held for `safetensors` serialization.
struct Held {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Held {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// `varscope convert SRC DST`: a TensorFlow checkpoint (prefix, `.index` or directory) to
/// a `.safetensors` file, or a `.safetensors` file to a TensorFlow bundle at prefix DST.
/// Names and bytes are unchanged; partitioned TensorFlow variables become full tensors.
/// Writes are atomic.
pub fn convert(src: &Path, dst: &Path) -> CliResult {
    match (is_safetensors(src), is_safetensors(dst)) {
        (false, true) => tf_to_safetensors(src, dst),
        (true, false) => safetensors_to_tf(src, dst),
        _ => Err(format!(
            "convert needs one TensorFlow checkpoint and one .safetensors file (got {} and {})",
            src.display(),
            dst.display()
        )
        .into()),
    }
}

fn tf_to_safetensors(src: &Path, dst: &Path) -> CliResult {
    let reader = BundleReader::open(src)?;
    let mut held = Vec::new();
    for t in reader.tensors() {
        let dtype = st_dtype(t.dtype)
            .ok_or_else(|| format!("tensor {} has dtype {}, which safetensors cannot hold", t.name, t.dtype))?;
        let v = reader.read(&t.name)?;
        let shape = v.shape.iter().map(|&d| d as usize).collect();
        held.push((t.name.clone(), Held { dtype, shape, data: v.data }));
    }
    let tmp = temp_beside(dst);
    let written = safetensors::serialize_to_file(held.iter().map(|(n, h)| (n.as_str(), h)), &None, &tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))
        .and_then(|()| std::fs::rename(&tmp, dst).map_err(|e| format!("cannot rename to {}: {e}", dst.display())));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    println!("{} -> {}: {} tensors", reader.prefix().display(), dst.display(), held.len());
    Ok(())
}

fn safetensors_to_tf(src: &Path, dst: &Path) -> CliResult {
    let bytes = std::fs::read(src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: {e}", src.display()))?;
    let mut writer = BundleWriter::create(dst)?;
    let mut names: Vec<String> = file.names().into_iter().cloned().collect();
    names.sort();
    for name in &names {
        let t = file.tensor(name).map_err(|e| format!("{}: {e}", src.display()))?;
        let dtype = tf_dtype(t.dtype()).ok_or_else(|| {
            format!("tensor {name} has dtype {:?}, which TensorFlow checkpoints cannot hold", t.dtype())
        })?;
        let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
        writer.add(name, dtype, &shape, t.data())?;
    }
    writer.finish()?;
    println!("{} -> {}: {} tensors", src.display(), dst.display(), names.len());
    Ok(())
}

fn temp_beside(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(s)
}
