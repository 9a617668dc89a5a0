//! Checkpoints: save a session's variables to a safetensors file and restore them
//! (runtime.md section 8).
//!
//! The file format, its header model, checksums, the planning of slices,
//! repartitioning and dtype conversion, reading and atomic writing live in the host-only
//! crate `varscope-format` ([`varscope_format::safetensors_file`], which documents the
//! format); this module is the session adapter that moves bytes between those files and
//! the session's variables (through the few calls of `session_io`).
//!
//! # Guarantees
//!
//! - [`save`] checks the destination first ([`check_save_destination`]), writes through
//!   a symlink to its target, and is atomic: it writes `.NAME.varscope-tmp.PID.N` next
//!   to the target, flushes and syncs it, renames it over the target and syncs the
//!   directory. On any error the temporary file is removed and a previous checkpoint at
//!   the target is untouched; temporary files of killed saves are removed by the next
//!   save to the same path.
//! - [`restore`] validates everything before it writes any variable: the header, the
//!   assignment map, every shape and dtype, every checksum of the bytes it will use,
//!   and the placement, dtype support and device memory of every target. A failed
//!   restore leaves every variable as it was. (Only a device failure, or the file being
//!   changed by another process, while writing, after all of that passed, can leave the
//!   variables written before it restored; variables that had no storage before the
//!   call are then freed again.)
//! - [`restore`] is streamed: the file is read with positioned reads, one tensor at a
//!   time, and each tensor's bytes are checked against its checksum again as they are
//!   read. A file truncated or rewritten meanwhile is an error, never a crash.

mod session_io;
pub mod tf;

use std::path::{Path, PathBuf};

use varscope_core::{DType, Variable};
use varscope_format::safetensors_file::{self as st, CheckpointReader, CheckpointWriter, RestorePlan, Unit};

use crate::error::GpuError;
use crate::session::Session;

pub use varscope_format::error::{esc, esc_path};
pub use varscope_format::safetensors_file::{
    can_convert, check_save_destination, checksum as xxh64, inspect, remove_stale_temporaries, verify, CheckpointInfo,
    ChecksumStatus, Partitioning, StoredDType, TensorInfo, VerifyReport, CHECKSUM_ALGORITHM_KEY, FORMAT_VERSION,
    FORMAT_VERSION_KEY, GRAPH_SEED_KEY, MAX_HEADER_BYTES,
};
pub use varscope_format::{BadNameReason, DestinationProblem, FileKind, FormatError};

/// Errors of [`save`] and [`restore`]: the file and its planning
/// ([`FormatError`]: each names the file and the tensor, variable, shape or dtype), or
/// the session. A failed call leaves the session's variables and any previous checkpoint
/// file as they were.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The checkpoint file, its header, or matching it to the variables.
    #[error(transparent)]
    Format(#[from] FormatError),

    /// A session error (uninitialized variable, placement, device memory, wgpu).
    #[error(transparent)]
    Gpu(#[from] GpuError),

    /// An error of a TensorFlow bundle (see [`tf`]); boxed, as its
    /// variants carry several names.
    #[error(transparent)]
    Tf(Box<varscope_format::tf::TfError>),
}

impl From<varscope_format::tf::TfError> for CheckpointError {
    fn from(e: varscope_format::tf::TfError) -> Self {
        CheckpointError::Tf(Box::new(e))
    }
}

/// Result with [`CheckpointError`].
pub type Result<T, E = CheckpointError> = std::result::Result<T, E>;

// ----- save ------------------------------------------------------------------------------

/// Options of [`save`]. Build with the setters from `default()`.
#[derive(Clone, Debug, Default)]
pub struct SaveOptions {
    pub(crate) variables: Option<Vec<Variable>>,
    #[cfg(feature = "test-hooks")]
    fail_after_bytes: Option<u64>,
}

impl SaveOptions {
    /// The variables to save (default: the graph's global variables). Shards of a
    /// partitioned variable are saved together as its full tensor, so all of them must be
    /// given. Optimizer slots are variables like any other.
    pub fn variables(mut self, vars: impl Into<Vec<Variable>>) -> Self {
        self.variables = Some(vars.into());
        self
    }

    /// Test hook: the save fails with an I/O error once this many bytes of the temporary
    /// file are written, as a crash half-way would leave it. Not public API: only with
    /// the `test-hooks` feature, which this crate's tests enable.
    #[cfg(feature = "test-hooks")]
    pub fn fail_after_bytes(mut self, bytes: u64) -> Self {
        self.fail_after_bytes = Some(bytes);
        self
    }
}

/// What [`save`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveReport {
    /// The checkpoint file, as given.
    pub path: PathBuf,
    /// The tensors written, in file order, with their checksums.
    pub tensors: Vec<TensorInfo>,
    /// Bytes of the file.
    pub bytes: u64,
}

/// Saves variables of `session` (default: all global variables) to the safetensors file
/// `path`, atomically. Every variable must be initialized. See the module documentation
/// for the guarantees and [`varscope_format::safetensors_file`] for the format.
pub fn save(session: &Session, path: impl AsRef<Path>, options: &SaveOptions) -> Result<SaveReport> {
    let path = path.as_ref();
    let graph = session.graph();
    let vars = options.variables.clone().unwrap_or_else(|| graph.global_variables());
    let units = st::units_of(graph, &vars)?;
    let tensors = st::plan_save(graph, &units)?;
    for part in units.iter().flat_map(|u| &u.parts) {
        if !session_io::is_initialized(session, &part.variable) {
            return Err(GpuError::Uninitialized { variable: part.variable.op_name().to_string() }.into());
        }
    }
    #[cfg(feature = "test-hooks")]
    let writer = CheckpointWriter::create_failing_after(path, tensors, graph.seed(), options.fail_after_bytes);
    #[cfg(not(feature = "test-hooks"))]
    let writer = CheckpointWriter::create(path, tensors, graph.seed());
    let mut writer = writer?;
    // Batches of units whose values fit the budget: one read (one submission and one wait
    // per device) per batch, then the tensors in file order.
    let mut start = 0;
    while start < units.len() {
        let mut end = start;
        let mut bytes = 0u64;
        while end < units.len() && (end == start || bytes + unit_bytes(&units[end]) <= session_io::BATCH_BYTES) {
            bytes += unit_bytes(&units[end]);
            end += 1;
        }
        let batch = &units[start..end];
        let vars: Vec<Variable> = batch.iter().flat_map(|u| u.parts.iter().map(|p| p.variable.clone())).collect();
        let mut values = session_io::read_many(session, &vars)?.into_iter();
        for u in batch {
            let bytes = if u.partitioned {
                let total = writer.next_tensor().map_or(0, |t| t.bytes);
                let mut full = vec![0u8; usize::try_from(total).unwrap_or(usize::MAX)];
                for i in 0..u.parts.len() {
                    st::place_part(u, i, &values.next().unwrap_or_default(), &mut full)?;
                }
                full
            } else {
                values.next().unwrap_or_default()
            };
            writer.write_tensor(&bytes)?;
        }
        start = end;
    }
    let (tensors, bytes) = writer.finish()?;
    Ok(SaveReport { path: path.to_path_buf(), tensors, bytes })
}

// ----- restore ---------------------------------------------------------------------------

/// Options of [`restore`]. Build with the setters from `default()`.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    pub(crate) assignment_map: Vec<(String, String)>,
    pub(crate) strict: bool,
    pub(crate) variables: Option<Vec<Variable>>,
    #[cfg(feature = "test-hooks")]
    after_validation: Option<fn(&Path)>,
}

impl RestoreOptions {
    /// Adds an assignment-map entry, as in `init_from_checkpoint`: `from` names the
    /// checkpoint side, `to` the graph side. `"old_scope/" -> "new_scope/"` maps a scope
    /// (both sides must end in `/`; `"/"` alone is the root), `"old/v" -> "new/w"` one
    /// tensor. An exact entry beats a scope entry, and the longest scope wins. With a
    /// non-empty map only the tensors it matches are restored; an entry that matches no
    /// tensor, or sends one to a name that is not a variable being restored, is an error.
    pub fn map(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.assignment_map.push((from.into(), to.into()));
        self
    }

    /// Replaces the whole assignment map.
    pub fn assignment_map(mut self, map: impl IntoIterator<Item = (String, String)>) -> Self {
        self.assignment_map = map.into_iter().collect();
        self
    }

    /// Strict mode: a variable the file has no tensor for, or a tensor no variable
    /// receives, is an error (and nothing is restored). Default: reported, not an error.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The variables to restore (default: the graph's global variables). Shards go by
    /// their partitioned variable's key and take their slice of its full tensor; any
    /// subset of the shards may be given.
    pub fn variables(mut self, vars: impl Into<Vec<Variable>>) -> Self {
        self.variables = Some(vars.into());
        self
    }

    /// Test hook: called with the file's path once everything is validated, before the
    /// first variable is written (to change the file under a running restore). Not
    /// public API: only with the `test-hooks` feature, which this crate's tests enable.
    #[cfg(feature = "test-hooks")]
    pub fn after_validation(mut self, hook: fn(&Path)) -> Self {
        self.after_validation = Some(hook);
        self
    }
}

/// One variable (or partitioned variable) a restore wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The tensor it came from.
    pub tensor: String,
    /// The variable's store key (a partitioned variable's key for shards).
    pub variable: String,
    /// The dtype in the file.
    pub file_dtype: StoredDType,
    /// The variable's dtype (differs from `file_dtype` when converted).
    pub dtype: DType,
    /// Shards written (1 for an unpartitioned variable).
    pub shards: usize,
}

/// What [`restore`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// What was restored, in file order.
    pub restored: Vec<Restored>,
    /// Variables being restored (store keys) that no tensor of the file reached.
    pub missing_in_file: Vec<String>,
    /// Tensors of the file that no variable received.
    pub unexpected_in_file: Vec<String>,
    /// The graph seed the checkpoint was saved with, if recorded.
    pub saved_graph_seed: Option<u64>,
}

/// Restores variables of `session` from the safetensors file `path` (or a TensorFlow
/// checkpoint, see [`tf::restore`]: the format is detected from the
/// path): by name, through
/// the assignment map, into any partitioning, converting between float dtypes.
/// Restored variables count as initialized (initializers skip them).
///
/// Everything is validated before any variable is written; on error no variable
/// changes. Values are read one tensor at a time. Files from other tools (PyTorch,
/// candle) load by name.
pub fn restore(session: &Session, path: impl AsRef<Path>, options: &RestoreOptions) -> Result<RestoreReport> {
    let path = path.as_ref();
    if varscope_format::tf::is_tf_checkpoint(path) {
        return tf::restore(session, path, options);
    }
    let graph = session.graph();
    let vars = options.variables.clone().unwrap_or_else(|| graph.global_variables());
    let units = st::units_of(graph, &vars)?;
    let reader = CheckpointReader::open(path)?;
    let info = reader.info();
    let plan = st::plan_restore(info, &units, &options.assignment_map, options.strict, path)?;
    for p in &plan.pairs {
        reader.check_tensor(&info.tensors[p.tensor])?;
    }
    // Device side: placement, dtype support, size and memory of every target, all at once.
    let targets: Vec<Variable> =
        plan.pairs.iter().flat_map(|p| units[p.unit].parts.iter().map(|part| part.variable.clone())).collect();
    let made = session_io::materialize(session, &targets)?;
    #[cfg(feature = "test-hooks")]
    if let Some(hook) = options.after_validation {
        hook(path);
    }
    let restored = match write_plan(session, &reader, &units, &plan) {
        Ok(r) => r,
        Err(e) => {
            session_io::release(session, &made);
            return Err(e);
        }
    };
    Ok(RestoreReport {
        restored,
        missing_in_file: plan.missing,
        unexpected_in_file: plan.unexpected,
        saved_graph_seed: info.graph_seed,
    })
}

/// Bytes of a unit's values on the host.
fn unit_bytes(u: &Unit) -> u64 {
    u.full_shape.iter().fold(u.dtype.size_bytes() as u64, |a, &d| a.saturating_mul(d))
}

/// Reads each planned tensor (checked against its checksum again) and writes its parts.
fn write_plan(
    session: &Session,
    reader: &CheckpointReader<'_>,
    units: &[Unit],
    plan: &RestorePlan,
) -> Result<Vec<Restored>> {
    let info = reader.info();
    let mut restored = Vec::with_capacity(plan.pairs.len());
    // Values are written in batches of at most BATCH_BYTES: one submission per device each.
    let mut batch: Vec<session_io::Write> = Vec::new();
    let mut batch_bytes = 0u64;
    for p in &plan.pairs {
        let (t, u) = (&info.tensors[p.tensor], &units[p.unit]);
        let data = reader.read_tensor(t)?;
        for (i, part) in u.parts.iter().enumerate() {
            // plan_restore checked shape and dtype, so the part's bytes exist.
            let bytes = st::part_bytes(&data, t, u, i).ok_or_else(|| GpuError::BadHostBytes {
                dtype: u.dtype,
                elements: part.num_elements(),
                len: 0,
            })?;
            batch_bytes += bytes.len() as u64;
            batch.push(session_io::Write {
                variable: part.variable.clone(),
                dtype: u.dtype,
                shape: part.shape.clone(),
                bytes,
            });
        }
        if batch_bytes >= session_io::BATCH_BYTES {
            session_io::write_many(session, std::mem::take(&mut batch))?;
            batch_bytes = 0;
        }
        restored.push(Restored {
            tensor: t.name.clone(),
            variable: u.name.clone(),
            file_dtype: t.stored_dtype,
            dtype: u.dtype,
            shards: u.parts.len(),
        });
    }
    if !batch.is_empty() {
        session_io::write_many(session, batch)?;
    }
    Ok(restored)
}

// ----- the session's checkpoint methods ----------------------------------------------------

impl Session {
    /// Saves every global variable to `path` ([`save`] with default options): a
    /// safetensors file, or a TensorFlow bundle where the checkpoint module writes one.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<SaveReport> {
        save(self, path, &SaveOptions::default())
    }

    /// [`save`] with options.
    pub fn save_with(&self, path: impl AsRef<Path>, options: &SaveOptions) -> Result<SaveReport> {
        save(self, path, options)
    }

    /// Restores every global variable from `path` ([`restore`] with default options).
    pub fn restore(&self, path: impl AsRef<Path>) -> Result<RestoreReport> {
        restore(self, path, &RestoreOptions::default())
    }

    /// [`restore`] with options.
    pub fn restore_with(&self, path: impl AsRef<Path>, options: &RestoreOptions) -> Result<RestoreReport> {
        restore(self, path, options)
    }
}
