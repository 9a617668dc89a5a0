//! Reading a checkpoint: opening (regular files only, refused up front otherwise), the
//! header, tensor bytes through positioned reads into bounded buffers, and checksum
//! verification. Nothing is memory-mapped, so a file another process truncates or
//! rewrites while it is read gives an error, never SIGBUS.

use std::fs::{self, File, FileType, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh64::Xxh64;

use super::header::{parse_header, CheckpointInfo, TensorInfo};
use super::MAX_HEADER_BYTES;
use crate::dtype::StoredDType;
use crate::error::{FileKind, FormatError, Result};

/// Bytes hashed per read when verifying a tensor: the host memory `verify` holds.
const VERIFY_CHUNK: u64 = 4 << 20;

/// What a non-regular file type is.
pub(crate) fn file_kind(ft: &FileType) -> FileKind {
    if ft.is_dir() {
        return FileKind::Directory;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return FileKind::Fifo;
        }
        if ft.is_char_device() {
            return FileKind::CharDevice;
        }
        if ft.is_block_device() {
            return FileKind::BlockDevice;
        }
        if ft.is_socket() {
            return FileKind::Socket;
        }
    }
    FileKind::Other
}

fn io_err<'p>(path: &'p Path, operation: &'static str) -> impl FnOnce(io::Error) -> FormatError + 'p {
    move |source| FormatError::Io { path: path.to_path_buf(), operation, source }
}

/// Opens `path` for reading if it is a regular file (following symlinks). A directory,
/// FIFO, device or socket is refused before it is opened, and again after (the open
/// does not block on a FIFO that appeared meanwhile: it is non-blocking).
fn open_regular(path: &Path) -> Result<File> {
    let md = fs::metadata(path).map_err(io_err(path, "open"))?;
    if !md.is_file() {
        return Err(FormatError::NotAFile { path: path.to_path_buf(), kind: file_kind(&md.file_type()) });
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io_err(path, "open"))?;
    let md = file.metadata().map_err(io_err(path, "stat"))?;
    if !md.is_file() {
        return Err(FormatError::NotAFile { path: path.to_path_buf(), kind: file_kind(&md.file_type()) });
    }
    Ok(file)
}

/// Where a checkpoint's bytes come from.
enum Source<'a> {
    File(File),
    Memory(&'a [u8]),
}

impl Source<'_> {
    fn len(&self) -> io::Result<u64> {
        match self {
            Source::File(f) => Ok(f.metadata()?.len()),
            Source::Memory(b) => Ok(b.len() as u64),
        }
    }

    /// Fills `buf` from `offset`; `UnexpectedEof` when the source ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match self {
            Source::Memory(b) => {
                let eof = || io::Error::from(io::ErrorKind::UnexpectedEof);
                let start = usize::try_from(offset).map_err(|_| eof())?;
                let end = start.checked_add(buf.len()).ok_or_else(eof)?;
                buf.copy_from_slice(b.get(start..end).ok_or_else(eof)?);
                Ok(())
            }
            Source::File(f) => read_file_at(f, buf, offset),
        }
    }
}

#[cfg(unix)]
fn read_file_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_file_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn read_file_at(_: &File, _: &mut [u8], _: u64) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "positioned reads are not supported on this platform"))
}

/// A zeroed buffer of `n` bytes, or an out-of-memory I/O error (never an abort).
fn buffer(n: u64, path: &Path) -> Result<Vec<u8>> {
    let oom = || FormatError::Io {
        path: path.to_path_buf(),
        operation: "read",
        source: io::Error::new(io::ErrorKind::OutOfMemory, format!("cannot allocate {n} bytes of host memory")),
    };
    let n = usize::try_from(n).map_err(|_| oom())?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| oom())?;
    v.resize(n, 0);
    Ok(v)
}

/// Checks a tensor's bytes as they stream by: the XXH64 checksum (if recorded) and, for
/// bool tensors, that every byte is 0 or 1.
pub(crate) struct TensorCheck<'t> {
    tensor: &'t TensorInfo,
    hasher: Xxh64,
    seen: u64,
    bad_bool: Option<(u64, u8)>,
}

impl<'t> TensorCheck<'t> {
    pub(crate) fn new(tensor: &'t TensorInfo) -> Self {
        TensorCheck { tensor, hasher: Xxh64::new(0), seen: 0, bad_bool: None }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if self.tensor.checksum.is_some() {
            self.hasher.update(bytes);
        }
        if self.tensor.stored_dtype == StoredDType::Bool && self.bad_bool.is_none() {
            if let Some(i) = bytes.iter().position(|&b| b > 1) {
                self.bad_bool = Some((self.seen + i as u64, bytes[i]));
            }
        }
        self.seen += bytes.len() as u64;
    }

    pub(crate) fn finish(self, path: &Path) -> Result<()> {
        let t = self.tensor;
        if let Some(expected) = t.checksum {
            let actual = self.hasher.digest();
            if actual != expected {
                return Err(FormatError::ChecksumMismatch {
                    path: path.to_path_buf(),
                    tensor: t.name.clone(),
                    expected,
                    actual,
                });
            }
        }
        if let Some((index, byte)) = self.bad_bool {
            return Err(FormatError::InvalidBool { path: path.to_path_buf(), tensor: t.name.clone(), index, byte });
        }
        Ok(())
    }
}

/// The XXH64 (seed 0) of `bytes`: the checksum varscope records per tensor.
pub fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(bytes, 0)
}

/// Whether [`verify`] found checksums to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// A varscope checkpoint: every tensor's checksum matched (`tensors` of them).
    Verified {
        /// Tensors whose checksum was verified.
        tensors: usize,
    },
    /// A file written by another tool: it records no checksums, so only its structure
    /// (and the bytes of bool tensors) could be checked.
    NotRecorded,
}

/// What [`verify`] found: the header, and whether there were checksums to verify.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyReport {
    /// The header, as [`inspect`] returns it.
    pub info: CheckpointInfo,
    /// The checksums verified, or that there were none.
    pub checksums: ChecksumStatus,
}

/// An open checkpoint: its validated header and the bytes behind it (a file read with
/// positioned reads, or memory).
pub struct CheckpointReader<'a> {
    path: PathBuf,
    source: Source<'a>,
    info: CheckpointInfo,
}

impl CheckpointReader<'static> {
    /// Opens `path` (a regular file; symlinks are followed) and reads and validates its
    /// header. Reads no tensor data.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = open_regular(path)?;
        CheckpointReader::new(path.to_path_buf(), Source::File(file))
    }
}

impl<'a> CheckpointReader<'a> {
    /// A checkpoint held in memory (the whole file); errors name the file `<memory>`.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        CheckpointReader::new(PathBuf::from("<memory>"), Source::Memory(bytes))
    }

    fn new(path: PathBuf, source: Source<'a>) -> Result<Self> {
        let len = source.len().map_err(io_err(&path, "stat"))?;
        let truncated =
            |expected| FormatError::Truncated { path: path.clone(), section: "header", expected, actual: len };
        let mut prefix = [0u8; 8];
        if len < 8 {
            return Err(truncated(8));
        }
        read_at(&source, &path, len, &mut prefix, 0)?;
        let n = u64::from_le_bytes(prefix);
        let corrupt = |reason: String| FormatError::CorruptHeader {
            path: path.clone(),
            tensor: None,
            line: 0,
            column: 0,
            reason,
        };
        if n > MAX_HEADER_BYTES {
            return Err(corrupt(format!("header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")));
        }
        if n == 0 {
            return Err(corrupt("header length is 0".into()));
        }
        if 8 + n > len {
            return Err(truncated(8 + n));
        }
        let mut text = buffer(n, &path)?;
        read_at(&source, &path, len, &mut text, 8)?;
        let info = parse_header(&text, len, &path)?;
        Ok(CheckpointReader { path, source, info })
    }

    /// The file's path (`<memory>` for [`CheckpointReader::from_bytes`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated header.
    pub fn info(&self) -> &CheckpointInfo {
        &self.info
    }

    /// The header, consuming the reader.
    pub fn into_info(self) -> CheckpointInfo {
        self.info
    }

    /// Reads `buf.len()` bytes at `offset`; a file that is no longer as long as when its
    /// header was read is [`FormatError::ChangedWhileReading`].
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        read_at(&self.source, &self.path, self.info.file_bytes, buf, offset)
    }

    /// Streams tensor `t` through its checksum and bool checks, `VERIFY_CHUNK` bytes at
    /// a time.
    pub fn check_tensor(&self, t: &TensorInfo) -> Result<()> {
        let mut check = TensorCheck::new(t);
        let mut buf = buffer(t.bytes.min(VERIFY_CHUNK), &self.path)?;
        let mut done = 0u64;
        while done < t.bytes {
            let n = (t.bytes - done).min(VERIFY_CHUNK) as usize;
            self.read(&mut buf[..n], t.offset + done)?;
            check.feed(&buf[..n]);
            done += n as u64;
        }
        check.finish(&self.path)
    }

    /// Verifies every tensor (checksums and bool bytes).
    pub fn verify(&self) -> Result<ChecksumStatus> {
        for t in &self.info.tensors {
            self.check_tensor(t)?;
        }
        Ok(if self.info.has_checksums() {
            ChecksumStatus::Verified { tensors: self.info.tensors.len() }
        } else {
            ChecksumStatus::NotRecorded
        })
    }

    /// The bytes of tensor `t` (one tensor in host memory), checked again against its
    /// checksum: a file rewritten since it was verified is an error.
    pub fn read_tensor(&self, t: &TensorInfo) -> Result<Vec<u8>> {
        let mut data = buffer(t.bytes, &self.path)?;
        self.read(&mut data, t.offset)?;
        let mut check = TensorCheck::new(t);
        check.feed(&data);
        check.finish(&self.path)?;
        Ok(data)
    }
}

fn read_at(source: &Source<'_>, path: &Path, expected_len: u64, buf: &mut [u8], offset: u64) -> Result<()> {
    match source.read_exact_at(buf, offset) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            let actual = source.len().map_err(io_err(path, "stat"))?;
            Err(FormatError::ChangedWhileReading { path: path.to_path_buf(), expected: expected_len, actual })
        }
        Err(e) => Err(FormatError::Io { path: path.to_path_buf(), operation: "read", source: e }),
    }
}

impl CheckpointInfo {
    /// Parses and validates the header of a checkpoint held in memory (the whole file):
    /// length prefix, JSON, tensor entries, offsets covering the data exactly, and
    /// varscope's metadata. Does not read tensor data (see [`CheckpointInfo::verify`]).
    /// Never panics, whatever the bytes.
    pub fn parse(file: &[u8]) -> Result<CheckpointInfo> {
        CheckpointReader::from_bytes(file).map(CheckpointReader::into_info)
    }

    /// Verifies every recorded checksum and the bytes of every bool tensor against
    /// `file` (the bytes this info was parsed from).
    pub fn verify(&self, file: &[u8]) -> Result<ChecksumStatus> {
        let reader =
            CheckpointReader { path: PathBuf::from("<memory>"), source: Source::Memory(file), info: self.clone() };
        reader.verify()
    }
}

/// Reads a checkpoint's header (`varscope inspect FILE`): tensors with name, dtype,
/// shape, bytes, checksum and saved partitioning, and the metadata. Reads no tensor data.
/// Refuses anything but a regular file up front ([`FormatError::NotAFile`]).
pub fn inspect(path: impl AsRef<Path>) -> Result<CheckpointInfo> {
    CheckpointReader::open(path).map(CheckpointReader::into_info)
}

/// Like [`inspect`], and also verifies every tensor's checksum and every bool tensor's
/// bytes, reading the file in bounded chunks. The report says whether there were
/// checksums at all ([`ChecksumStatus::NotRecorded`] for files of other tools).
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport> {
    let reader = CheckpointReader::open(path)?;
    let checksums = reader.verify()?;
    Ok(VerifyReport { info: reader.into_info(), checksums })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_known_answers() {
        assert_eq!(checksum(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(checksum(b"a"), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(checksum(b"abc"), 0x44BC_2CF5_AD77_0999);
        assert_eq!(checksum(b"Nobody inspects the spammish repetition"), 0xFBCE_A83C_8A37_8BF1);
    }

    #[test]
    fn streamed_checks_match_whole_checks() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let t = TensorInfo {
            name: "t".into(),
            stored_dtype: StoredDType::U8,
            shape: vec![1000],
            offset: 0,
            bytes: 1000,
            checksum: Some(checksum(&bytes)),
            partitioning: None,
        };
        let mut c = TensorCheck::new(&t);
        for chunk in bytes.chunks(33) {
            c.feed(chunk);
        }
        assert!(c.finish(Path::new("x")).is_ok());
        let mut b = TensorInfo { stored_dtype: StoredDType::Bool, checksum: None, ..t };
        b.bytes = 4;
        let mut c = TensorCheck::new(&b);
        c.feed(&[0, 1]);
        c.feed(&[1, 7]);
        assert!(matches!(c.finish(Path::new("x")), Err(FormatError::InvalidBool { index: 3, byte: 7, .. })));
    }
}
