//! Writing a bundle as TensorFlow's `BundleWriter` does: one data shard, entries sorted by
//! key after the header, partitioned tensors as a full-shape entry listing its slices plus
//! one entry per slice under its slice key.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;

use super::error::{Result, SliceDefect, TfError};
use super::proto::{BundleEntryProto, BundleHeaderProto, Dim, TensorShapeProto, VersionDef};
use super::slice::{check_tiling, encode_slice_key, TensorSlice};
use super::table::{mask_crc, TableBuilder};
use super::{data_path, index_path, TfDtype};

/// The bundle format version written (TensorFlow's `kTensorBundleVersion`).
const WRITER_VERSION: i32 = 1;

/// Writes a bundle. Tensors go to a temporary data file as they are added; [`finish`]
/// writes the index to a temporary file and renames both into place, data first, so a
/// reader never sees an index without its data and a failed or dropped writer leaves no
/// bundle behind (and removes its temporary files).
///
/// Tensor bytes are little-endian, row-major.
///
/// [`finish`]: BundleWriter::finish
pub struct BundleWriter {
    prefix: PathBuf,
    data_tmp: PathBuf,
    index_tmp: PathBuf,
    data: Option<BufWriter<File>>,
    offset: u64,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
    /// Full-tensor entries of partitioned tensors: name → the slice boxes added so far.
    sliced: BTreeMap<String, Vec<Vec<(u64, u64)>>>,
    table: TableBuilder,
}

/// A per-process counter that makes temporary names unique among concurrent writers.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_name(path: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tempstate-{}-{n}", std::process::id()));
    PathBuf::from(s)
}

fn shape_proto(shape: &[u64]) -> TensorShapeProto {
    TensorShapeProto {
        dim: shape.iter().map(|&size| Dim { size: size as i64, name: String::new() }).collect(),
        unknown_rank: false,
    }
}

impl BundleWriter {
    /// Starts a bundle at `prefix` (its files will be `PREFIX.index` and
    /// `PREFIX.data-00000-of-00001`), creating the parent directory if needed.
    pub fn create(prefix: impl AsRef<Path>) -> Result<BundleWriter> {
        let prefix = prefix.as_ref().to_owned();
        if let Some(parent) = prefix.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| TfError::Io { path: parent.to_owned(), source })?;
        }
        let data_tmp = temp_name(&data_path(&prefix, 0, 1));
        let index_tmp = temp_name(&index_path(&prefix));
        let file = File::create(&data_tmp).map_err(|source| TfError::Io { path: data_tmp.clone(), source })?;
        Ok(BundleWriter {
            prefix,
            data_tmp,
            index_tmp,
            data: Some(BufWriter::with_capacity(8 << 20, file)),
            offset: 0,
            entries: BTreeMap::new(),
            sliced: BTreeMap::new(),
            table: TableBuilder::default(),
        })
    }

    /// Uses another table layout for the index (block size, restart interval,
    /// compression). TensorFlow's defaults are the default.
    pub fn with_table(mut self, table: TableBuilder) -> BundleWriter {
        self.table = table;
        self
    }

    fn check_name(&self, name: &str) -> Result<()> {
        if name.is_empty() || name.starts_with('\0') {
            return Err(TfError::InvalidName { path: self.prefix.clone(), tensor: name.to_owned() });
        }
        Ok(())
    }

    fn check_len(&self, name: &str, dtype: TfDtype, shape: &[u64], data: &[u8]) -> Result<()> {
        let Some(size) = dtype.size() else {
            return Err(TfError::UnsupportedDtype { path: self.prefix.clone(), tensor: name.to_owned(), dtype });
        };
        let expected = shape.iter().try_fold(size as u64, |acc, &d| acc.checked_mul(d));
        if expected != Some(data.len() as u64) {
            return Err(TfError::DataLength {
                path: self.prefix.clone(),
                tensor: name.to_owned(),
                dtype,
                shape: shape.to_vec(),
                expected: expected.unwrap_or(u64::MAX),
                got: data.len(),
            });
        }
        Ok(())
    }

    fn append(&mut self, data: &[u8]) -> Result<(u64, u32)> {
        let path = self.data_tmp.clone();
        let Some(out) = self.data.as_mut() else {
            // Only `finish` takes the file, and it consumes the writer.
            return Err(TfError::Io { path, source: std::io::ErrorKind::BrokenPipe.into() });
        };
        out.write_all(data).map_err(|source| TfError::Io { path, source })?;
        let offset = self.offset;
        self.offset += data.len() as u64;
        Ok((offset, crc32c::crc32c(data)))
    }

    fn put(&mut self, key: Vec<u8>, dtype: TfDtype, shape: &[u64], data: &[u8]) -> Result<()> {
        let (offset, crc) = self.append(data)?;
        let entry = BundleEntryProto {
            dtype: dtype.code(),
            shape: Some(shape_proto(shape)),
            shard_id: 0,
            offset: offset as i64,
            size: data.len() as i64,
            crc32c: mask_crc(crc),
            slices: Vec::new(),
        };
        self.entries.insert(key, entry);
        Ok(())
    }

    fn duplicate(&self, name: &str) -> TfError {
        TfError::DuplicateTensor { path: self.prefix.clone(), tensor: name.to_owned() }
    }

    /// Adds a whole tensor.
    pub fn add(&mut self, name: &str, dtype: TfDtype, shape: &[u64], data: &[u8]) -> Result<()> {
        self.check_name(name)?;
        self.check_len(name, dtype, shape, data)?;
        if self.entries.contains_key(name.as_bytes()) {
            return Err(self.duplicate(name));
        }
        self.put(name.as_bytes().to_vec(), dtype, shape, data)
    }

    /// Adds one slice of a partitioned tensor of shape `full_shape`, as TensorFlow's
    /// `BundleWriter::AddSlice`: the full-shape entry under `name` gains the slice, and the
    /// slice's bytes go under its slice key. A slice covering the whole tensor is a plain
    /// [`add`](BundleWriter::add). The slices of one tensor must tile it by
    /// [`finish`](BundleWriter::finish).
    pub fn add_slice(
        &mut self,
        name: &str,
        dtype: TfDtype,
        full_shape: &[u64],
        slice: &TensorSlice,
        data: &[u8],
    ) -> Result<()> {
        self.check_name(name)?;
        let bad = |defect| TfError::BadSlice {
            path: self.prefix.clone(),
            tensor: name.to_owned(),
            slice: slice.to_string(),
            defect,
        };
        if slice.rank() != full_shape.len() {
            return Err(bad(SliceDefect::RankMismatch));
        }
        let boxed = slice.resolve(full_shape).ok_or_else(|| bad(SliceDefect::OutOfRange))?;
        let lens: Vec<u64> = boxed.iter().map(|&(_, len)| len).collect();
        self.check_len(name, dtype, &lens, data)?;
        if lens == full_shape {
            return self.add(name, dtype, full_shape, data);
        }
        if let Some(full) = self.entries.get(name.as_bytes()) {
            if full.slices.is_empty() {
                return Err(self.duplicate(name));
            }
            let earlier_shape: Vec<u64> = full.shape.iter().flat_map(|s| s.dim.iter().map(|d| d.size as u64)).collect();
            let earlier_dtype = TfDtype::from_code(full.dtype).unwrap_or(dtype);
            if earlier_dtype != dtype || earlier_shape != full_shape {
                return Err(TfError::SliceConflict {
                    path: self.prefix.clone(),
                    tensor: name.to_owned(),
                    dtype,
                    shape: full_shape.to_vec(),
                    earlier_dtype,
                    earlier_shape,
                });
            }
        }
        let key = encode_slice_key(name, slice);
        if self.entries.contains_key(&key) {
            return Err(bad(SliceDefect::Overlap));
        }
        self.put(key, dtype, &lens, data)?;
        let full = self.entries.entry(name.as_bytes().to_vec()).or_insert_with(|| BundleEntryProto {
            dtype: dtype.code(),
            shape: Some(shape_proto(full_shape)),
            shard_id: 0,
            offset: 0,
            size: 0,
            crc32c: 0,
            slices: Vec::new(),
        });
        full.slices.push(slice.to_proto());
        self.sliced.entry(name.to_owned()).or_default().push(boxed);
        Ok(())
    }

    /// Checks that every partitioned tensor's slices tile it, writes the index and renames
    /// the files into place.
    pub fn finish(mut self) -> Result<()> {
        for (name, boxes) in &self.sliced {
            let shape: Vec<u64> =
                self.entries[name.as_bytes()].shape.iter().flat_map(|s| s.dim.iter().map(|d| d.size as u64)).collect();
            if let Err((i, defect)) = check_tiling(&shape, boxes) {
                let b = &boxes[i];
                let starts: Vec<u64> = b.iter().map(|x| x.0).collect();
                let lens: Vec<u64> = b.iter().map(|x| x.1).collect();
                return Err(TfError::BadSlice {
                    path: self.prefix.clone(),
                    tensor: name.clone(),
                    slice: TensorSlice::from_ranges(&starts, &lens).to_string(),
                    defect,
                });
            }
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TfError::Io { path, source }
        };
        if let Some(data) = self.data.take() {
            let file =
                data.into_inner().map_err(|e| TfError::Io { path: self.data_tmp.clone(), source: e.into_error() })?;
            file.sync_all().map_err(io(&self.data_tmp))?;
        }
        let header = BundleHeaderProto {
            num_shards: 1,
            endianness: 0,
            version: Some(VersionDef { producer: WRITER_VERSION, min_consumer: 0, bad_consumers: Vec::new() }),
        };
        let header = header.encode_to_vec();
        let values: Vec<(Vec<u8>, Vec<u8>)> =
            self.entries.iter().map(|(k, e)| (k.clone(), e.encode_to_vec())).collect();
        let rows = std::iter::once((&[][..], header.as_slice()))
            .chain(values.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
        // Keys come from a BTreeMap after the empty header key, and names are non-empty.
        let table = self
            .table
            .build(rows)
            .map_err(|_| TfError::InvalidName { path: self.prefix.clone(), tensor: String::new() })?;
        {
            let mut file = File::create(&self.index_tmp).map_err(io(&self.index_tmp))?;
            file.write_all(&table).map_err(io(&self.index_tmp))?;
            file.sync_all().map_err(io(&self.index_tmp))?;
        }
        let data_final = data_path(&self.prefix, 0, 1);
        std::fs::rename(&self.data_tmp, &data_final).map_err(io(&data_final))?;
        let index_final = index_path(&self.prefix);
        std::fs::rename(&self.index_tmp, &index_final).map_err(io(&index_final))?;
        Ok(())
    }
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        // After a successful `finish` both temporaries were renamed away and these fail
        // harmlessly; otherwise they clean up a partial write.
        self.data.take();
        let _ = std::fs::remove_file(&self.data_tmp);
        let _ = std::fs::remove_file(&self.index_tmp);
    }
}
