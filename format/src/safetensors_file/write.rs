//! Writing a checkpoint atomically, like a careful tool: the destination is checked
//! first (plain-words errors), a symlink is written through to its target, the data goes
//! to a findable temporary file next to the target (`.NAME.varscope-tmp.PID.N`, shortened
//! with a hash when `NAME` is long) that is flushed, synced and renamed over the target;
//! temporary files of dead processes are removed by the next save to the same path.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::ser::SerializeMap;
use serde::Serialize;

use super::header::{encode_checksum, TensorInfo};
use super::plan::SaveTensor;
use super::read::{checksum, file_kind};
use super::{
    CHECKSUM_ALGORITHM, CHECKSUM_ALGORITHM_KEY, CHECKSUM_PREFIX, DTYPE_PREFIX, FORMAT_VERSION, FORMAT_VERSION_KEY,
    GRAPH_SEED_KEY, METADATA_KEY, PARTITIONING_PREFIX,
};
use crate::dtype::StoredDType;
use crate::error::{DestinationProblem, FormatError, Result};

/// The marker between a target's name and the process id in temporary file names.
const TMP_MARKER: &str = ".varscope-tmp.";
/// Longest file name most filesystems take (Linux `NAME_MAX`).
const NAME_MAX: usize = 255;
/// Room a temporary name needs besides the target's (shortened) name: the leading `.`,
/// the marker, a 10-digit process id, `.` and a 20-digit counter.
const TMP_OVERHEAD: usize = 1 + TMP_MARKER.len() + 10 + 1 + 20;
/// Symlinks followed before a destination counts as a loop (Linux's limit).
const MAX_SYMLINKS: usize = 40;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn dest_err(path: &Path, problem: DestinationProblem) -> FormatError {
    FormatError::SaveDestination { path: path.to_path_buf(), problem }
}

// ----- names -------------------------------------------------------------------------------

#[cfg(unix)]
fn name_bytes(name: &OsStr) -> Vec<u8> {
    std::os::unix::ffi::OsStrExt::as_bytes(name).to_vec()
}
#[cfg(not(unix))]
fn name_bytes(name: &OsStr) -> Vec<u8> {
    name.to_string_lossy().into_owned().into_bytes()
}
#[cfg(unix)]
fn name_from_bytes(bytes: Vec<u8>) -> OsString {
    std::os::unix::ffi::OsStringExt::from_vec(bytes)
}
#[cfg(not(unix))]
fn name_from_bytes(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

/// The part of the temporary names of target `name` before the process id:
/// `.NAME.varscope-tmp.`; a name too long for that to fit in `NAME_MAX` with the id and
/// counter is cut and followed by `~` and its XXH64 in hex, so it stays unique.
fn tmp_prefix(name: &OsStr) -> Vec<u8> {
    let mut bytes = name_bytes(name);
    let room = NAME_MAX - TMP_OVERHEAD;
    if bytes.len() > room {
        let hash = format!("~{:016x}", checksum(&bytes));
        let mut keep = room - hash.len();
        // On platforms whose names are text, cut at a character boundary.
        while cfg!(not(unix)) && keep > 0 && std::str::from_utf8(&bytes[..keep]).is_err() {
            keep -= 1;
        }
        bytes.truncate(keep);
        bytes.extend_from_slice(hash.as_bytes());
    }
    let mut out = vec![b'.'];
    out.extend_from_slice(&bytes);
    out.extend_from_slice(TMP_MARKER.as_bytes());
    out
}

/// Whether the last component of `path` as written names a file (not empty, `.`, `..`,
/// and no trailing `/`).
fn names_a_file(path: &Path) -> bool {
    let raw = name_bytes(path.as_os_str());
    let last = raw.rsplit(|&b| b == b'/' || (cfg!(windows) && b == b'\\')).next().unwrap_or(&[]);
    !matches!(last, b"" | b"." | b"..") && matches!(path.components().next_back(), Some(Component::Normal(_)))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

// ----- the destination ---------------------------------------------------------------------

/// Follows symlinks from `path` to the file a save must replace (which may not exist
/// yet), refusing directories and special files there.
fn resolve_target(path: &Path) -> Result<PathBuf> {
    let mut target = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        if !names_a_file(&target) {
            return Err(dest_err(path, DestinationProblem::NoFileName));
        }
        let md = match fs::symlink_metadata(&target) {
            Ok(md) => md,
            Err(_) => return Ok(target), // absent (or unreadable): the parent checks say why
        };
        if md.file_type().is_symlink() {
            let link = fs::read_link(&target).map_err(|source| FormatError::Io {
                path: target.clone(),
                operation: "read the symlink",
                source,
            })?;
            target = if link.is_absolute() { link } else { parent_dir(&target).join(link) };
            continue;
        }
        if md.is_dir() {
            return Err(dest_err(path, DestinationProblem::IsDirectory));
        }
        if !md.is_file() {
            return Err(dest_err(path, DestinationProblem::SpecialFile(file_kind(&md.file_type()))));
        }
        return Ok(target);
    }
    Err(dest_err(path, DestinationProblem::SymlinkLoop))
}

/// Creates a new temporary file for `target` in its directory.
fn create_temporary(path: &Path, target: &Path) -> Result<(PathBuf, File)> {
    let dir = parent_dir(target);
    match fs::metadata(&dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(dest_err(path, DestinationProblem::ParentNotADirectory(dir))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(dest_err(path, DestinationProblem::MissingDirectory(dir)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(dest_err(path, DestinationProblem::ParentNotADirectory(dir)))
        }
        Err(source) => return Err(FormatError::Io { path: dir, operation: "look at the directory", source }),
    }
    let name = target.file_name().unwrap_or(OsStr::new("checkpoint"));
    let prefix = tmp_prefix(name);
    loop {
        let k = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut n = prefix.clone();
        n.extend_from_slice(format!("{}.{k}", std::process::id()).as_bytes());
        let tmp = dir.join(name_from_bytes(n));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(dest_err(path, DestinationProblem::NotWritable(dir, e.to_string()))),
        }
    }
}

/// Checks that a checkpoint can be saved to `path`, before any work starts: it names a
/// file (not empty, `.`, `..`, or ending in `/`); it (or the file its symlinks lead to)
/// is not a directory, FIFO, device or socket; its directory exists, is a directory, and
/// a file can be created there (tried with a temporary file, removed again). Returns the
/// file a save will replace: `path`, or the target of the symlink(s) at `path`.
///
/// The errors are [`FormatError::SaveDestination`] with a [`DestinationProblem`] in
/// plain words.
pub fn check_save_destination(path: impl AsRef<Path>) -> Result<PathBuf> {
    let path = path.as_ref();
    let target = resolve_target(path)?;
    let (tmp, file) = create_temporary(path, &target)?;
    drop(file);
    let _ = fs::remove_file(&tmp);
    Ok(target)
}

/// Whether process `pid` may still be running (`true` when unsure).
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
        if pid <= 0 {
            return true;
        }
        // SAFETY: kill with signal 0 sends nothing; it only checks that the process
        // exists. `pid` is positive, so it names one process, never a process group.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Removes the temporary files that saves to `target` left behind in processes that are
/// no longer running (killed mid-save). Best effort: returns the files removed.
pub fn remove_stale_temporaries(target: &Path) -> Vec<PathBuf> {
    let Some(name) = target.file_name() else { return Vec::new() };
    let prefix = tmp_prefix(name);
    let dir = parent_dir(target);
    let Ok(entries) = fs::read_dir(&dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let n = name_bytes(&e.file_name());
        let Some(rest) = n.strip_prefix(prefix.as_slice()) else { continue };
        let Some(pid) = std::str::from_utf8(rest).ok().and_then(|r| r.split_once('.')).and_then(|(p, k)| {
            (k.bytes().all(|b| b.is_ascii_digit()) && !k.is_empty()).then_some(p)?.parse::<u32>().ok()
        }) else {
            continue;
        };
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        if is_file && pid != std::process::id() && !process_alive(pid) && fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

/// A temporary file that becomes `target` on [`AtomicFile::commit`], and is removed if
/// dropped before.
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Checks the destination `path` ([`check_save_destination`]), removes stale
    /// temporary files of dead processes, and creates the temporary file next to the
    /// target (with the target's permissions, if it exists).
    pub fn create(path: impl AsRef<Path>) -> Result<(AtomicFile, File)> {
        let path = path.as_ref();
        let target = resolve_target(path)?;
        remove_stale_temporaries(&target);
        let (tmp, file) = create_temporary(path, &target)?;
        let atomic = AtomicFile { target, tmp, committed: false };
        if let Ok(md) = fs::metadata(&atomic.target) {
            let _ = fs::set_permissions(&atomic.tmp, md.permissions());
        }
        Ok((atomic, file))
    }

    /// The temporary file's path.
    pub fn temporary_path(&self) -> &Path {
        &self.tmp
    }

    /// The file that [`AtomicFile::commit`] replaces (symlinks followed).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs `file` (the temporary file), renames it over the target and syncs the
    /// directory. On error the temporary file is removed and the target is untouched.
    pub fn commit(mut self, file: File) -> Result<()> {
        file.sync_all().map_err(|source| FormatError::Io { path: self.tmp.clone(), operation: "sync", source })?;
        drop(file);
        fs::rename(&self.tmp, &self.target).map_err(|source| FormatError::Io {
            path: self.target.clone(),
            operation: "replace",
            source,
        })?;
        self.committed = true;
        #[cfg(unix)]
        if let Ok(d) = File::open(parent_dir(&self.target)) {
            d.sync_all().map_err(|source| FormatError::Io {
                path: parent_dir(&self.target),
                operation: "sync the directory of",
                source,
            })?;
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

// ----- the header --------------------------------------------------------------------------

#[derive(Serialize)]
struct EntryOut<'a> {
    dtype: &'static str,
    shape: &'a [u64],
    data_offsets: [u64; 2],
}

struct HeaderOut<'a> {
    metadata: BTreeMap<String, String>,
    tensors: &'a [SaveTensor],
}

impl Serialize for HeaderOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.tensors.len() + 1))?;
        m.serialize_entry(METADATA_KEY, &self.metadata)?;
        let mut off = 0u64;
        for t in self.tensors {
            let dtype = StoredDType::of(t.dtype).map_or("U8", StoredDType::code);
            m.serialize_entry(&t.name, &EntryOut { dtype, shape: &t.shape, data_offsets: [off, off + t.bytes] })?;
            off += t.bytes;
        }
        m.end()
    }
}

/// The JSON header, padded with spaces so that `8 + len` is a multiple of 8. Checksums
/// are fixed-width, so the header with placeholders has the final header's length.
fn header_json(tensors: &[SaveTensor], checksums: &[u64], graph_seed: Option<u64>) -> io::Result<Vec<u8>> {
    let mut metadata = BTreeMap::new();
    metadata.insert(FORMAT_VERSION_KEY.to_string(), FORMAT_VERSION.to_string());
    metadata.insert(GRAPH_SEED_KEY.to_string(), graph_seed.map_or_else(|| "none".to_string(), |s| s.to_string()));
    metadata.insert(CHECKSUM_ALGORITHM_KEY.to_string(), CHECKSUM_ALGORITHM.to_string());
    for (t, &c) in tensors.iter().zip(checksums) {
        metadata.insert(format!("{DTYPE_PREFIX}{}", t.name), t.dtype.name().to_string());
        metadata.insert(format!("{CHECKSUM_PREFIX}{}", t.name), encode_checksum(c));
        if let Some(p) = &t.partitioning {
            metadata.insert(format!("{PARTITIONING_PREFIX}{}", t.name), p.encode());
        }
    }
    let mut out = Vec::new();
    HeaderOut { metadata, tensors }.serialize(&mut serde_json::Serializer::new(&mut out))?;
    while (out.len() + 8) % 8 != 0 {
        out.push(b' ');
    }
    Ok(out)
}

// ----- the writer --------------------------------------------------------------------------

/// A writer that fails after a byte budget (a test hook: a crash half-way).
struct Budget<W> {
    inner: W,
    left: Option<u64>,
}

impl<W: Write> Write for Budget<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.left {
            Some(0) => return Err(io::Error::other("injected failure (fail_after_bytes)")),
            Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let n = self.inner.write(&buf[..n])?;
        if let Some(left) = &mut self.left {
            *left -= n as u64;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a varscope checkpoint atomically, one tensor at a time in the planned order:
/// a header with placeholder checksums, each tensor's bytes (checksummed as they pass),
/// then the final header; [`CheckpointWriter::finish`] renames it into place. Dropped
/// before `finish`, it leaves no file behind.
pub struct CheckpointWriter {
    atomic: AtomicFile,
    out: Budget<io::BufWriter<File>>,
    tensors: Vec<SaveTensor>,
    checksums: Vec<u64>,
    graph_seed: Option<u64>,
}

impl CheckpointWriter {
    /// Starts a checkpoint of `tensors` at `path` ([`AtomicFile::create`]).
    pub fn create(path: impl AsRef<Path>, tensors: Vec<SaveTensor>, graph_seed: Option<u64>) -> Result<Self> {
        Self::with_budget(path, tensors, graph_seed, None)
    }

    /// [`create`](Self::create), failing with an I/O error once `fail_after_bytes` bytes
    /// (if any) are written, as a crash half-way would leave the file. Not public API:
    /// only with the `test-hooks` feature, for tests.
    #[cfg(feature = "test-hooks")]
    pub fn create_failing_after(
        path: impl AsRef<Path>,
        tensors: Vec<SaveTensor>,
        graph_seed: Option<u64>,
        fail_after_bytes: Option<u64>,
    ) -> Result<Self> {
        Self::with_budget(path, tensors, graph_seed, fail_after_bytes)
    }

    fn with_budget(
        path: impl AsRef<Path>,
        tensors: Vec<SaveTensor>,
        graph_seed: Option<u64>,
        fail_after_bytes: Option<u64>,
    ) -> Result<Self> {
        let (atomic, file) = AtomicFile::create(path)?;
        let mut w = CheckpointWriter {
            atomic,
            out: Budget { inner: io::BufWriter::with_capacity(1 << 20, file), left: fail_after_bytes },
            checksums: Vec::with_capacity(tensors.len()),
            tensors,
            graph_seed,
        };
        let placeholder = header_json(&w.tensors, &vec![0; w.tensors.len()], graph_seed).map_err(w.io("write"))?;
        let prefix = (placeholder.len() as u64).to_le_bytes();
        w.out.write_all(&prefix).and_then(|()| w.out.write_all(&placeholder)).map_err(w.io("write"))?;
        Ok(w)
    }

    fn io(&self, operation: &'static str) -> impl FnOnce(io::Error) -> FormatError {
        let path = self.atomic.temporary_path().to_path_buf();
        move |source| FormatError::Io { path, operation, source }
    }

    /// The tensor whose bytes [`CheckpointWriter::write_tensor`] takes next.
    pub fn next_tensor(&self) -> Option<&SaveTensor> {
        self.tensors.get(self.checksums.len())
    }

    /// Writes the next tensor's bytes (exactly its planned size).
    pub fn write_tensor(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(t) = self.next_tensor() else {
            return Err(FormatError::WrongTensorBytes {
                tensor: String::new(),
                expected: 0,
                actual: bytes.len() as u64,
            });
        };
        if t.bytes != bytes.len() as u64 {
            return Err(FormatError::WrongTensorBytes {
                tensor: t.name.clone(),
                expected: t.bytes,
                actual: bytes.len() as u64,
            });
        }
        self.out.write_all(bytes).map_err(self.io("write"))?;
        self.checksums.push(checksum(bytes));
        Ok(())
    }

    /// Rewrites the header with the checksums, syncs, and renames the file into place.
    /// Returns the tensors as the file's header describes them, and the file's size.
    pub fn finish(self) -> Result<(Vec<TensorInfo>, u64)> {
        if let Some(t) = self.next_tensor() {
            return Err(FormatError::WrongTensorBytes { tensor: t.name.clone(), expected: t.bytes, actual: 0 });
        }
        let header = header_json(&self.tensors, &self.checksums, self.graph_seed).map_err(self.io("write"))?;
        let io_write = self.io("write");
        let io_seek = self.io("seek in");
        let CheckpointWriter { atomic, out, tensors, checksums, .. } = self;
        let Budget { inner, left } = out;
        let mut file = inner.into_inner().map_err(|e| io_write(e.into_error()))?;
        file.seek(SeekFrom::Start(8)).map_err(io_seek)?;
        Budget { inner: &mut file, left }.write_all(&header).map_err(|source| FormatError::Io {
            path: atomic.temporary_path().to_path_buf(),
            operation: "write",
            source,
        })?;
        atomic.commit(file)?;
        let mut offset = 8 + header.len() as u64;
        let infos = tensors
            .into_iter()
            .zip(checksums)
            .map(|(t, c)| {
                let info = TensorInfo {
                    stored_dtype: StoredDType::of(t.dtype).unwrap_or(StoredDType::U8),
                    offset,
                    bytes: t.bytes,
                    checksum: Some(c),
                    name: t.name,
                    shape: t.shape,
                    partitioning: t.partitioning,
                };
                offset += info.bytes;
                info
            })
            .collect();
        Ok((infos, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_fit_name_max_and_stay_unique() {
        let short = tmp_prefix(OsStr::new("ckpt.safetensors"));
        assert_eq!(short, b".ckpt.safetensors.varscope-tmp.");
        let a = "a".repeat(252);
        let mut b = a.clone();
        b.replace_range(251.., "b");
        let (pa, pb) = (tmp_prefix(OsStr::new(&a)), tmp_prefix(OsStr::new(&b)));
        assert_ne!(pa, pb, "names differing past the cut get different hashes");
        assert!(pa.len() + 10 + 1 + 20 <= NAME_MAX, "{}", pa.len());
    }

    #[test]
    fn only_paths_naming_a_file_qualify() {
        for bad in ["", ".", "..", "/", "dir/", "dir/.", "dir/..", "./"] {
            assert!(!names_a_file(Path::new(bad)), "{bad:?}");
        }
        for good in ["x", "dir/x", "./x", ".hidden", "/abs/x.safetensors"] {
            assert!(names_a_file(Path::new(good)), "{good:?}");
        }
    }
}
