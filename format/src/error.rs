//! The crate's one error type: every way reading, planning or writing a checkpoint file
//! can fail, each variant naming the file and the tensor, variable, shape or dtype.
//!
//! `Display` texts are for people: paths and tensor names are printed with control
//! characters escaped (`a\nb`), never with Rust's debug formatting.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use varscope_core::DType;

use crate::dtype::StoredDType;

/// Errors of reading, planning and writing checkpoint files. A failed call changes no
/// file: a save writes a temporary file and only renames it over the target at the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// An operating-system error on the checkpoint or its temporary file.
    #[error("Cannot {operation} {}: {source}", esc_path(.path))]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`open`, `read`, `write`, `replace`, `sync`).
        operation: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The path names something that is not a regular file (a directory, FIFO, device,
    /// socket). Refused before anything is read from it or written to it.
    #[error("Cannot use {} as a checkpoint: it is {kind}, not a regular file", esc_path(.path))]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },

    /// A save destination that cannot work (checked before any work starts).
    #[error("Cannot save a checkpoint to {}: {problem}", esc_path(.path))]
    SaveDestination {
        /// The destination as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: DestinationProblem,
    },

    /// The file is shorter than its header says.
    #[error("Checkpoint {} is truncated: the {section} needs {expected} bytes of file, but it has {actual}", esc_path(.path))]
    Truncated {
        /// The file.
        path: PathBuf,
        /// `header` (length prefix or JSON) or `data`.
        section: &'static str,
        /// Bytes the file should have at least.
        expected: u64,
        /// Bytes it has.
        actual: u64,
    },

    /// The file shrank (or grew) while it was being read: another process truncated or
    /// rewrote it in place.
    #[error("Checkpoint {} changed while it was being read: it had {expected} bytes when opened and has {actual} now", esc_path(.path))]
    ChangedWhileReading {
        /// The file.
        path: PathBuf,
        /// Its length when the header was read.
        expected: u64,
        /// Its length now.
        actual: u64,
    },

    /// The safetensors header is malformed (bad JSON, bad tensor entry, bad offsets).
    #[error("Checkpoint {} has a corrupt header{}: {reason}{}", esc_path(.path), tensor_note(.tensor), position_note(*.line, *.column))]
    CorruptHeader {
        /// The file.
        path: PathBuf,
        /// The tensor whose entry is bad, if one.
        tensor: Option<String>,
        /// 1-based line in the JSON header where the JSON parser stopped (0: a problem
        /// found after parsing, such as offsets or sizes).
        line: u64,
        /// 1-based column in that line.
        column: u64,
        /// What is wrong.
        reason: String,
    },

    /// varscope's metadata in the header is inconsistent or malformed.
    #[error("Checkpoint {} has corrupt varscope metadata at key '{}': {reason}", esc_path(.path), esc(.key))]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// What is wrong.
        reason: String,
    },

    /// A varscope checkpoint of a format version this build does not read.
    #[error("Checkpoint {} has varscope format version '{}'; this build reads version {supported}", esc_path(.path), esc(.version))]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version string found.
        version: String,
        /// The version this build reads.
        supported: u32,
    },

    /// A tensor's bytes do not match the checksum recorded when it was saved.
    #[error("Checksum mismatch for tensor {} in checkpoint {}: recorded xxh64 {expected:016x}, bytes hash to {actual:016x}", esc(.tensor), esc_path(.path))]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Recorded checksum.
        expected: u64,
        /// Checksum of the bytes in the file.
        actual: u64,
    },

    /// A bool tensor holding a byte other than 0 or 1.
    #[error("Tensor {} in checkpoint {} is bool but element {index} is the byte {byte}", esc(.tensor), esc_path(.path))]
    InvalidBool {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Element index.
        index: u64,
        /// The byte found.
        byte: u8,
    },

    /// A tensor's shape differs from the variable it restores.
    #[error("Cannot restore tensor {} of shape {} from {} into variable {} of shape {}", esc(.tensor), fmt_shape(.file_shape), esc_path(.path), esc(.variable), fmt_shape(.graph_shape))]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The variable (a partitioned variable's key for shards).
        variable: String,
        /// Shape in the file.
        file_shape: Vec<u64>,
        /// The variable's full shape.
        graph_shape: Vec<u64>,
    },

    /// A tensor's dtype cannot be converted to the variable's (conversions exist between
    /// float16, bfloat16, float32 and float64 only).
    #[error("Cannot restore tensor {} of dtype {file_dtype} from {} into variable {} of dtype {dtype}", esc(.tensor), esc_path(.path), esc(.variable))]
    DTypeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The variable.
        variable: String,
        /// The dtype in the file (safetensors code).
        file_dtype: StoredDType,
        /// The variable's dtype.
        dtype: DType,
    },

    /// An assignment-map entry that does not follow `init_from_checkpoint`'s rules.
    #[error("Assignment map with scope only name {} should map to scope only {}. Should be 'scope/': 'other_scope/'.", esc(.from), esc(.to))]
    InvalidMapEntry {
        /// Checkpoint side.
        from: String,
        /// Graph side.
        to: String,
    },

    /// An assignment-map entry whose checkpoint side names nothing in the file.
    #[error("Tensor {} is not found in {} checkpoint (assignment map entry '{}' -> '{}')", esc(.from), esc_path(.path), esc(.from), esc(.to))]
    MapSourceNotFound {
        /// The file.
        path: PathBuf,
        /// Checkpoint side of the entry.
        from: String,
        /// Graph side of the entry.
        to: String,
    },

    /// The assignment map sends a tensor to a name that is no variable being restored.
    #[error("Tensor {} of checkpoint {} is mapped to {}, which is not a variable being restored", esc(.tensor), esc_path(.path), esc(.target))]
    MapTargetNotFound {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Where the map sends it.
        target: String,
    },

    /// Two tensors of the file would restore the same variable.
    #[error("Variable {} would be restored from both {} and {} of checkpoint {}", esc(.variable), esc(.first), esc(.second), esc_path(.path))]
    DuplicateTarget {
        /// The file.
        path: PathBuf,
        /// The variable.
        variable: String,
        /// One tensor.
        first: String,
        /// The other.
        second: String,
    },

    /// A strict restore found variables without a tensor, or tensors without a variable.
    #[error("Strict restore from {} failed: missing in the checkpoint: [{}]; in the checkpoint but not in the graph: [{}]", esc_path(.path), esc_list(.missing_in_file), esc_list(.unexpected_in_file))]
    Strict {
        /// The file.
        path: PathBuf,
        /// Variables (store keys) the file has no tensor for.
        missing_in_file: Vec<String>,
        /// Tensors no variable receives.
        unexpected_in_file: Vec<String>,
    },

    /// A variable whose dtype has no checkpoint form (string, complex).
    #[error("Variable {} has dtype {dtype}, which a checkpoint cannot hold", esc(.variable))]
    UnsupportedDType {
        /// The variable.
        variable: String,
        /// Its dtype.
        dtype: DType,
    },

    /// A variable whose shape is not fully known.
    #[error("Variable {} has shape {shape}, which is not fully defined: a checkpoint holds only known shapes", esc(.variable))]
    UnknownShape {
        /// The variable.
        variable: String,
        /// Its shape as TensorFlow prints it.
        shape: String,
    },

    /// A variable of another graph than the one being saved or restored.
    #[error("Variable {} belongs to another graph", esc(.variable))]
    ForeignVariable {
        /// The variable.
        variable: String,
    },

    /// Two variables to save under one tensor name, or a reserved name.
    #[error("Cannot save variable {} as tensor {}: {reason}", esc(.variable), esc(.name))]
    BadName {
        /// The tensor name.
        name: String,
        /// The variable.
        variable: String,
        /// Why.
        reason: BadNameReason,
    },

    /// Saving some but not all shards of a partitioned variable.
    #[error("Cannot save partitioned variable {} without all of its shards: missing {}", esc(.variable), esc_list(.missing))]
    IncompleteShards {
        /// The partitioned variable's key.
        variable: String,
        /// The shards not given.
        missing: Vec<String>,
    },

    /// A shard whose slice does not fit its partitioned variable's full shape.
    #[error("Shard {} has offset {} and shape {}, which do not fit in the full shape {}", esc(.variable), fmt_shape(.offset), fmt_shape(.shape), fmt_shape(.full_shape))]
    BadSlice {
        /// The shard.
        variable: String,
        /// Its offset.
        offset: Vec<u64>,
        /// Its shape.
        shape: Vec<u64>,
        /// The full shape.
        full_shape: Vec<u64>,
    },

    /// Tensor bytes handed to the writer that do not match the header it announced.
    #[error("Tensor {} has {actual} bytes, but the header announced {expected}", esc(.tensor))]
    WrongTensorBytes {
        /// The tensor.
        tensor: String,
        /// Bytes announced.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
}

/// Result with [`FormatError`].
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// What a path names when it is not a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A FIFO (named pipe).
    Fifo,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else that is not a regular file.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "a special file",
        })
    }
}

/// Why a save destination cannot work ([`FormatError::SaveDestination`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestinationProblem {
    /// The path names no file: empty, `.`, `..`, or ending in `/`.
    NoFileName,
    /// The path (or the file a symlink there points to) is a directory.
    IsDirectory,
    /// The path (or a symlink's target) is a FIFO, device or socket.
    SpecialFile(FileKind),
    /// The directory that would hold the file does not exist.
    MissingDirectory(PathBuf),
    /// The parent "directory" exists but is not a directory.
    ParentNotADirectory(PathBuf),
    /// A file cannot be created in the directory (permissions, read-only filesystem).
    NotWritable(PathBuf, String),
    /// The path is a symlink that loops or is nested too deeply.
    SymlinkLoop,
}

impl fmt::Display for DestinationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestinationProblem::NoFileName => {
                f.write_str("the path does not name a file (it is empty, '.', '..' or ends in '/')")
            }
            DestinationProblem::IsDirectory => f.write_str("it is a directory; give a file name inside it"),
            DestinationProblem::SpecialFile(kind) => write!(f, "it is {kind}, not a regular file"),
            DestinationProblem::MissingDirectory(d) => write!(f, "the directory {} does not exist", esc_path(d)),
            DestinationProblem::ParentNotADirectory(d) => write!(f, "{} is not a directory", esc_path(d)),
            DestinationProblem::NotWritable(d, why) => {
                write!(f, "cannot create a file in the directory {} ({why})", esc_path(d))
            }
            DestinationProblem::SymlinkLoop => f.write_str("it is a symlink that loops or nests too deeply"),
        }
    }
}

/// Why a tensor name cannot be saved ([`FormatError::BadName`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadNameReason {
    /// Another variable (or partitioned variable) has the same tensor name.
    Taken,
    /// `__metadata__`, which safetensors reserves.
    Reserved,
}

impl fmt::Display for BadNameReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadNameReason::Taken => "another variable or partitioned variable has this name",
            BadNameReason::Reserved => "the name is reserved by safetensors",
        })
    }
}

/// `s` with control characters (newlines, tabs, escape, ...) escaped as `\n`, `\u{1b}`;
/// everything else, including non-ASCII letters, as it is.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A path for messages: [`esc`] of its lossy UTF-8 form.
pub fn esc_path(p: &Path) -> String {
    esc(&p.to_string_lossy())
}

fn esc_list(names: &[String]) -> String {
    names.iter().map(|n| esc(n)).collect::<Vec<_>>().join(", ")
}

fn tensor_note(t: &Option<String>) -> String {
    match t {
        Some(t) => format!(" in the entry of tensor {}", esc(t)),
        None => String::new(),
    }
}

fn position_note(line: u64, column: u64) -> String {
    match line {
        0 => String::new(),
        1 => format!(" (at header byte {})", column.saturating_sub(1)),
        _ => format!(" (at header line {line}, column {column})"),
    }
}

/// `[2, 3]`.
pub(crate) fn fmt_shape(s: &[u64]) -> String {
    let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}
