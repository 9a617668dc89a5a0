//! The safetensors checkpoint layer without a GPU or a session: the reader on hostile
//! bytes and hostile files (shrinking, FIFOs, directories, devices), the fuzz corpus,
//! atomic writes through symlinks, temporary-file naming and cleanup, destination checks,
//! and error texts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use varscope_core::{DType, Graph, Partitioner, Variable};
use varscope_format::safetensors_file::{
    self as st, check_save_destination, CheckpointInfo, CheckpointReader, CheckpointWriter, ChecksumStatus, SaveTensor,
};
use varscope_format::{DestinationProblem, FileKind, FormatError};
use varscope_test_support::TempDir;

// ----- helpers -----------------------------------------------------------------------------

/// Deterministic bytes for `n` elements of `dtype` (bools are 0 or 1).
fn pattern(dtype: DType, n: u64, salt: u64) -> Vec<u8> {
    let eb = dtype.size_bytes();
    (0..n as usize * eb)
        .map(|i| {
            let h = ((i as u64).wrapping_mul(2_654_435_761).wrapping_add(salt.wrapping_mul(40_503)) >> 3) as u8;
            if dtype == DType::Bool {
                h & 1
            } else {
                h
            }
        })
        .collect()
}

/// Writes a varscope checkpoint of `vars` (pattern values) with the format's writer.
fn write_checkpoint(path: &Path, graph: &Graph, vars: &[Variable]) -> Vec<SaveTensor> {
    let units = st::units_of(graph, vars).unwrap();
    let tensors = st::plan_save(graph, &units).unwrap();
    let mut w = CheckpointWriter::create(path, tensors.clone(), graph.seed()).unwrap();
    for (i, t) in tensors.iter().enumerate() {
        w.write_tensor(&pattern(t.dtype, t.shape.iter().product(), i as u64)).unwrap();
    }
    w.finish().unwrap();
    tensors
}

/// A graph with one variable of each storable dtype, a scalar and a partitioned one.
fn model() -> (Graph, Vec<Variable>) {
    let g = Graph::new();
    g.set_seed(77);
    let mut vars = Vec::new();
    for d in [
        DType::Float32,
        DType::Float16,
        DType::BFloat16,
        DType::Float64,
        DType::Int32,
        DType::Int64,
        DType::UInt32,
        DType::Bool,
    ] {
        vars.extend(g.get_variable(&format!("net/w_{d}")).shape([3u64, 5]).dtype(d).get().unwrap().variables());
    }
    vars.extend(g.get_variable("net/scalar").shape(Vec::<u64>::new()).get().unwrap().variables());
    vars.extend(
        g.get_variable("net/emb").shape([10u64, 3]).partitioner(Partitioner::fixed_size(4)).get().unwrap().variables(),
    );
    (g, vars)
}

fn header_end(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize + 8
}

// ----- the writer and the reader -------------------------------------------------------------

#[test]
fn written_files_read_back_and_other_readers_agree() {
    let dir = TempDir::new("round_trip");
    let (g, vars) = model();
    let path = dir.path("m.safetensors");
    let tensors = write_checkpoint(&path, &g, &vars);
    let report = st::verify(&path).unwrap();
    assert_eq!(report.checksums, ChecksumStatus::Verified { tensors: tensors.len() });
    let info = &report.info;
    assert_eq!((info.format_version, info.graph_seed), (Some(1), Some(77)));
    let emb = info.tensor("net/emb").unwrap();
    assert_eq!(emb.partitioning.as_ref().map(|p| (p.axis, p.offsets.clone())), Some((0, vec![0, 3, 6, 8])));
    assert!(info.metadata.iter().any(|(k, v)| k == "dtype:net/w_float16" && v == "float16"));

    // The safetensors crate reads it: same tensors, bytes and metadata.
    let bytes = std::fs::read(&path).unwrap();
    let other = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (i, t) in tensors.iter().enumerate() {
        let view = other.tensor(&t.name).unwrap();
        assert_eq!(view.shape().iter().map(|&d| d as u64).collect::<Vec<_>>(), t.shape);
        assert_eq!(view.data(), pattern(t.dtype, t.shape.iter().product(), i as u64).as_slice(), "{}", t.name);
    }
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta.get("varscope.checksum").map(String::as_str), Some("xxh64"));
    let sum = info.tensor("net/w_float32").unwrap().checksum.unwrap();
    assert_eq!(meta.get("checksum:net/w_float32"), Some(&format!("xxh64:{sum:016x}")));
    assert_eq!(dir.entries(), vec!["m.safetensors".to_string()], "no temporary file left");
}

#[test]
fn files_of_other_tools_have_no_checksums_to_verify() {
    use safetensors::tensor::{Dtype, TensorView};
    let dir = TempDir::new("foreign");
    let path = dir.path("pt.safetensors");
    let w: Vec<u8> = (0..24).collect();
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize_to_file(
        vec![("layer/w", TensorView::new(Dtype::F32, vec![2, 3], &w).unwrap())],
        &Some(meta),
        &path,
    )
    .unwrap();
    let report = st::verify(&path).unwrap();
    assert_eq!(report.checksums, ChecksumStatus::NotRecorded);
    assert_eq!(report.info.format_version, None);
    assert!(report.info.tensors.iter().all(|t| t.checksum.is_none()));
}

/// Checksums of files written before the switch to `xxhash-rust` (the fuzz seeds, written
/// by `fuzz/make_seeds.py` with an independent XXH64) still verify.
#[test]
fn fuzz_seeds_and_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let (g, vars) = st::fuzz_fixture().unwrap();
    let mut seeds = 0;
    for e in std::fs::read_dir(root.join("seeds/checkpoint_reader")).expect("fuzz/seeds/checkpoint_reader") {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let info = CheckpointInfo::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let status = info.verify(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(info.format_version.is_some(), name.starts_with("varscope"), "{name}");
        assert_eq!(matches!(status, ChecksumStatus::Verified { .. }), name.starts_with("varscope"), "{name}");
        let map: Vec<(String, String)> =
            if name.contains("renamed") { vec![("old/".into(), "/".into())] } else { vec![] };
        let values = st::fuzz_restore_plan(&bytes, &g, &vars, &map, false).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.ends_with("_all") || name.contains("renamed") {
            assert_eq!(values.len(), 7, "{name}: 4 variables and 3 shards");
            let v: Vec<f32> = values[0].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            assert_eq!(v, vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5], "{name}");
        }
        seeds += 1;
    }
    assert!(seeds >= 5, "seed corpus missing");
    if let Ok(dir) = std::fs::read_dir(root.join("regressions/checkpoint_reader")) {
        for e in dir {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            if let Ok(info) = CheckpointInfo::parse(&bytes) {
                let _ = info.verify(&bytes);
            }
            for map in [
                vec![],
                vec![("old/".to_string(), "s/".to_string()), ("w".into(), "v".into()), ("/".into(), "/".into())],
            ] {
                let _ = st::fuzz_restore_plan(&bytes, &g, &vars, &map, false);
                let _ = st::fuzz_restore_plan(&bytes, &g, &vars, &map, true);
            }
        }
    }
}

// ----- hostile bytes -----------------------------------------------------------------------

/// xorshift64*, for reproducible mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A cheap in-tree complement to `fuzz/`: thousands of mutated checkpoints through the
/// whole host side of a restore. None may panic; a mutation of the data section that
/// the parser accepts must be caught by a checksum.
#[test]
fn mutated_checkpoints_never_panic() {
    let dir = TempDir::new("mutations");
    let (g, vars) = model();
    let path = dir.path("m.safetensors");
    write_checkpoint(&path, &g, &vars);
    let good = std::fs::read(&path).unwrap();
    let maps: [Vec<(String, String)>; 2] = [vec![], vec![("net/".into(), "net/".into()), ("/".into(), "x/".into())]];
    let header = header_end(&good);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..3000 {
        let mut b = good.clone();
        match i % 6 {
            0 => {
                let k = rng.below(b.len());
                b[k] ^= 1 << rng.below(8);
            }
            1 => {
                let k = 8 + rng.below(header - 8);
                b[k] = b"{}[],:\"0123456789-.eE\\u ntf"[rng.below(27)];
            }
            2 => b.truncate(rng.below(b.len())),
            3 => {
                let k = rng.below(b.len());
                let n = rng.below(16);
                b.splice(k..k, (0..n).map(|_| rng.next() as u8));
            }
            4 => {
                let k = rng.below(8);
                b[k] = rng.next() as u8;
            }
            _ => {
                let k = header + rng.below(b.len() - header);
                b[k] = b[k].wrapping_add(1);
            }
        }
        for map in &maps {
            let r = st::fuzz_restore_plan(&b, &g, &vars, map, i % 2 == 0);
            if i % 6 == 5 && map.is_empty() {
                assert!(
                    matches!(r, Err(FormatError::ChecksumMismatch { .. } | FormatError::InvalidBool { .. })),
                    "mutation {i} of the data went unnoticed: {:?}",
                    r.map(|v| v.len())
                );
            }
        }
        if let Ok(info) = CheckpointInfo::parse(&b) {
            let _ = info.verify(&b);
        }
    }
}

/// Inputs the fuzzer (`fuzz/`) found, or that target its corners; each must give a
/// typed error, never a panic.
#[test]
fn reader_regressions() {
    let file = |header: &str, data: &[u8]| {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("zero header", 0u64.to_le_bytes().to_vec()),
        (
            "offset overflow",
            file(r#"{"t":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}}"#, &[]),
        ),
        (
            "shape product overflow",
            file(r#"{"t":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#, &[]),
        ),
        (
            "integer overflow",
            file(r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,99999999999999999999999]}}"#, &[0]),
        ),
        ("negative", file(r#"{"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#, &[0])),
        ("float", file(r#"{"t":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}"#, &[0])),
        ("deep nesting", file(&format!(r#"{{"t":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000)), &[0])),
        (
            "deep shape",
            file(
                &format!(
                    r#"{{"t":{{"dtype":"U8","shape":{}1{},"data_offsets":[0,1]}}}}"#,
                    "[".repeat(10_000),
                    "]".repeat(10_000)
                ),
                &[0],
            ),
        ),
        ("lone surrogate", file(r#"{"\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, &[0])),
        (
            "duplicate",
            file(
                r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                &[0, 0],
            ),
        ),
        ("duplicate field", file(r#"{"t":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, &[0])),
        ("duplicate metadata key", file(r#"{"__metadata__":{"a":"1","a":"2"}}"#, &[])),
        ("three offsets", file(r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}"#, &[0])),
        ("trailing bytes", file(r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, &[0, 0])),
        ("trailing json", file(r#"{} {}"#, &[])),
        ("not an object", file(r#"[1, 2]"#, &[])),
        ("metadata not strings", file(r#"{"__metadata__":{"a":1}}"#, &[])),
        (
            "metadata names no tensor",
            file(
                r#"{"__metadata__":{"varscope.format_version":"1","varscope.checksum":"xxh64","checksum:zz":"xxh64:0000000000000000"}}"#,
                &[],
            ),
        ),
        (
            "checksum missing",
            file(
                r#"{"__metadata__":{"varscope.format_version":"1","varscope.checksum":"xxh64","dtype:t":"uint8"},"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
                &[0],
            ),
        ),
        ("algorithm missing", file(r#"{"__metadata__":{"varscope.format_version":"1"}}"#, &[])),
        (
            "partitioning of a scalar",
            file(
                r#"{"__metadata__":{"varscope.format_version":"1","varscope.checksum":"xxh64","dtype:t":"float32","checksum:t":"xxh64:0000000000000000","partitioning:t":"axis:0;shards:1;offsets:0"},"t":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
        ),
        ("not utf-8", [&7u64.to_le_bytes()[..], b"{\"\xff\":1}"].concat()),
    ];
    let g = Graph::new();
    let v: Vec<Variable> = g.get_variable("t").shape([1u64]).dtype(DType::UInt32).get().unwrap().variables();
    for (what, bytes) in cases {
        let err = CheckpointInfo::parse(&bytes).expect_err(what);
        let msg = err.to_string();
        assert!(msg.contains("<memory>"), "{what}: {msg}");
        assert!(!msg.contains("Some("), "{what}: debug formatting leaked: {msg}");
        assert!(st::fuzz_restore_plan(&bytes, &g, &v, &[], true).is_err(), "{what}");
    }
    // A well-formed empty file and a zero-element tensor are fine.
    assert!(CheckpointInfo::parse(&file("{}      ", &[])).unwrap().tensors.is_empty());
    let ok = CheckpointInfo::parse(&file(r#"{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}"#, &[])).unwrap();
    assert_eq!(ok.tensors[0].shape, vec![0, 3]);
    // Unknown fields of an entry are skipped, as other readers do, however deep (serde_json
    // skips them without recursion).
    assert!(CheckpointInfo::parse(&file(
        r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":{"y":[null]}}}"#,
        &[0]
    ))
    .is_ok());
    let deep = format!(
        r#"{{"t":{{"x":{}{}, "dtype":"U8","shape":[1],"data_offsets":[0,1]}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(CheckpointInfo::parse(&file(&deep, &[0])).is_ok());
}

// ----- error texts -------------------------------------------------------------------------

#[test]
fn error_texts_are_plain_and_escape_control_characters() {
    // An unsupported checksum algorithm: no `Some("sha256")`.
    let header = r#"{"__metadata__":{"varscope.format_version":"1","varscope.checksum":"sha256"}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    let msg = CheckpointInfo::parse(&b).unwrap_err().to_string();
    assert!(msg.contains("'sha256'") && !msg.contains("Some("), "{msg}");

    // A tensor named with a newline and an escape character prints escaped.
    use safetensors::tensor::{Dtype, TensorView};
    let dir = TempDir::new("escape");
    let path = dir.path("e.safetensors");
    let name = "evil\nname\u{1b}[31m";
    let data = [0u8, 1, 2];
    safetensors::serialize_to_file(vec![(name, TensorView::new(Dtype::BOOL, vec![3], &data).unwrap())], &None, &path)
        .unwrap();
    let err = st::verify(&path).unwrap_err();
    assert!(matches!(&err, FormatError::InvalidBool { tensor, index: 2, byte: 2, .. } if tensor == name), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("evil\\nname\\u{1b}[31m") && !msg.contains('\n') && !msg.contains('\u{1b}'), "{msg}");
}

// ----- hostile files -----------------------------------------------------------------------

/// A file truncated after its header was read (by another process, say) is an error when
/// the data is read: no SIGBUS, nothing half-read returned.
#[test]
fn a_file_that_shrinks_while_read_is_an_error() {
    let dir = TempDir::new("shrink");
    let (g, vars) = model();
    let path = dir.path("m.safetensors");
    write_checkpoint(&path, &g, &vars);
    let len = std::fs::metadata(&path).unwrap().len();
    for cut in [0, 8, len / 2, len - 1] {
        write_checkpoint(&path, &g, &vars);
        let reader = CheckpointReader::open(&path).unwrap();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
        let last = reader.info().tensors.last().unwrap().clone();
        for err in [
            reader.verify().unwrap_err(),
            reader.read_tensor(&last).unwrap_err(),
            reader.check_tensor(&last).unwrap_err(),
        ] {
            assert!(
                matches!(err, FormatError::ChangedWhileReading { expected, actual, .. } if expected == len && actual == cut),
                "cut {cut}: {err:?}"
            );
            assert!(err.to_string().contains("changed while it was being read"), "{err}");
        }
    }
    // Rewritten in place with other bytes of the same length: the checksum catches it.
    write_checkpoint(&path, &g, &vars);
    let reader = CheckpointReader::open(&path).unwrap();
    let t = reader.info().tensors[0].clone();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[t.offset as usize] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(reader.read_tensor(&t), Err(FormatError::ChecksumMismatch { .. })));
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success());
}

/// Directories, FIFOs and devices are refused before anything is read (a FIFO without
/// a writer would block an open forever).
#[test]
#[cfg(unix)]
fn special_files_are_refused_up_front() {
    let dir = TempDir::new("special");
    let fifo = dir.path("fifo");
    mkfifo(&fifo);
    let link = dir.path("link-to-fifo");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let cases: [(&Path, FileKind); 4] = [
        (dir.dir(), FileKind::Directory),
        (&fifo, FileKind::Fifo),
        (&link, FileKind::Fifo),
        (Path::new("/dev/null"), FileKind::CharDevice),
    ];
    for (path, kind) in cases {
        for err in
            [st::inspect(path).unwrap_err(), st::verify(path).unwrap_err(), CheckpointReader::open(path).err().unwrap()]
        {
            assert!(matches!(&err, FormatError::NotAFile { kind: k, .. } if *k == kind), "{}: {err:?}", path.display());
            assert!(err.to_string().contains(&format!("it is {kind}, not a regular file")), "{err}");
        }
    }
}

// ----- saving ------------------------------------------------------------------------------

fn problem(r: Result<PathBuf, FormatError>) -> DestinationProblem {
    match r {
        Err(FormatError::SaveDestination { problem, .. }) => problem,
        other => panic!("expected a destination problem, got {other:?}"),
    }
}

#[test]
fn save_destinations_are_checked_in_plain_words() {
    let dir = TempDir::new("destinations");
    let file = dir.path("plain");
    std::fs::write(&file, b"x").unwrap();
    assert_eq!(check_save_destination(dir.path("new.safetensors")).unwrap(), dir.path("new.safetensors"));
    assert_eq!(check_save_destination(&file).unwrap(), file, "an existing file is fine (it is replaced)");
    assert_eq!(dir.entries(), vec!["plain".to_string()], "the check leaves no file behind");

    assert_eq!(problem(check_save_destination(dir.dir())), DestinationProblem::IsDirectory);
    for no_name in [".", "..", "", "some/dir/"] {
        assert_eq!(problem(check_save_destination(no_name)), DestinationProblem::NoFileName, "{no_name:?}");
    }
    let missing = dir.path("no/such/dir");
    assert_eq!(problem(check_save_destination(missing.join("x"))), DestinationProblem::MissingDirectory(missing));
    assert_eq!(problem(check_save_destination(file.join("x"))), DestinationProblem::ParentNotADirectory(file.clone()));
    let err = check_save_destination(dir.dir()).unwrap_err().to_string();
    assert!(
        err.starts_with("Cannot save a checkpoint to ")
            && err.ends_with("it is a directory; give a file name inside it"),
        "{err}"
    );
    let err = check_save_destination(dir.path("no/such/dir/x")).unwrap_err().to_string();
    assert!(err.contains("does not exist") && !err.contains("os error"), "{err}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let fifo = dir.path("fifo");
        mkfifo(&fifo);
        assert_eq!(problem(check_save_destination(&fifo)), DestinationProblem::SpecialFile(FileKind::Fifo));
        assert_eq!(problem(check_save_destination("/dev/null")), DestinationProblem::SpecialFile(FileKind::CharDevice));
        let loop_a = dir.path("loop_a");
        std::os::unix::fs::symlink(dir.path("loop_b"), &loop_a).unwrap();
        std::os::unix::fs::symlink(&loop_a, dir.path("loop_b")).unwrap();
        assert_eq!(problem(check_save_destination(&loop_a)), DestinationProblem::SymlinkLoop);
        // Unwritable directory (root writes anyway: then the check must pass).
        let ro = dir.path("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let root = std::fs::write(ro.join("probe"), b"").is_ok();
        let r = check_save_destination(ro.join("x"));
        if root {
            assert!(r.is_ok(), "{r:?}");
        } else {
            assert!(matches!(problem(r), DestinationProblem::NotWritable(d, _) if d == ro));
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
#[cfg(unix)]
fn saving_through_a_symlink_writes_its_target() {
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new("symlink");
    std::fs::create_dir(dir.path("real")).unwrap();
    let target = dir.path("real/ckpt.safetensors");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path("link.safetensors");
    std::os::unix::fs::symlink("real/ckpt.safetensors", &link).unwrap();
    let (g, vars) = model();
    write_checkpoint(&link, &g, &vars);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real/ckpt.safetensors"));
    st::verify(&target).unwrap();
    assert_eq!(std::fs::read(&link).unwrap(), std::fs::read(&target).unwrap());
    assert_eq!(check_save_destination(&link).unwrap(), dir.path("real/ckpt.safetensors"));
    // A dangling symlink: the save creates its target.
    let dangling = dir.path("dangling.safetensors");
    std::os::unix::fs::symlink("real/new.safetensors", &dangling).unwrap();
    write_checkpoint(&dangling, &g, &vars);
    st::verify(dir.path("real/new.safetensors")).unwrap();
    assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    // Special files are refused, not replaced.
    let fifo = dir.path("fifo");
    mkfifo(&fifo);
    let units = st::units_of(&g, &vars).unwrap();
    let err = CheckpointWriter::create(&fifo, st::plan_save(&g, &units).unwrap(), None).err().unwrap();
    assert!(
        matches!(err, FormatError::SaveDestination { problem: DestinationProblem::SpecialFile(FileKind::Fifo), .. }),
        "{err:?}"
    );
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

/// A pid that no running process has: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn stale_temporary_files_of_dead_processes_are_removed_by_the_next_save() {
    let dir = TempDir::new("stale");
    let (g, vars) = model();
    let path = dir.path("ckpt.safetensors");
    let dead = format!(".ckpt.safetensors.varscope-tmp.{}.3", dead_pid());
    let alive = format!(".ckpt.safetensors.varscope-tmp.{}.0", std::process::id());
    let other_target = format!(".other.safetensors.varscope-tmp.{}.0", dead_pid());
    let not_ours = ".ckpt.safetensors.varscope-tmp.notapid".to_string();
    for n in [&dead, &alive, &other_target, &not_ours] {
        std::fs::write(dir.path(n), b"half a checkpoint").unwrap();
    }
    write_checkpoint(&path, &g, &vars);
    let mut want = vec![alive.clone(), other_target, not_ours, "ckpt.safetensors".to_string()];
    want.sort();
    assert_eq!(dir.entries(), want, "only the dead process's temporary file of this target is gone");
}

#[test]
fn a_255_byte_limit_file_name_saves() {
    let dir = TempDir::new("long_name");
    let (g, vars) = model();
    for len in [200, 209, 210, 252, 255] {
        let name = format!("{}.st", "n".repeat(len - 3));
        let path = dir.path(&name);
        write_checkpoint(&path, &g, &vars);
        st::verify(&path).unwrap_or_else(|e| panic!("{len}: {e}"));
        check_save_destination(&path).unwrap();
        // And a dead process's temporary file of that name is found and removed.
        let units = st::units_of(&g, &vars).unwrap();
        let w = CheckpointWriter::create(&path, st::plan_save(&g, &units).unwrap(), None).unwrap();
        drop(w);
        assert_eq!(
            dir.entries().len(),
            [200, 209, 210, 252, 255].iter().position(|&l| l == len).unwrap() + 1,
            "{len}: dropped writer leaves nothing"
        );
    }
}

#[test]
fn a_dropped_or_failed_writer_leaves_the_previous_file() {
    let dir = TempDir::new("atomic");
    let (g, vars) = model();
    let path = dir.path("ckpt.safetensors");
    write_checkpoint(&path, &g, &vars);
    let good = std::fs::read(&path).unwrap();
    let units = st::units_of(&g, &vars).unwrap();
    let tensors = st::plan_save(&g, &units).unwrap();
    for budget in [0, 5, 100, good.len() as u64 - 1] {
        let r =
            CheckpointWriter::create_failing_after(&path, tensors.clone(), g.seed(), Some(budget)).and_then(|mut w| {
                for (i, t) in tensors.iter().enumerate() {
                    w.write_tensor(&pattern(t.dtype, t.shape.iter().product(), i as u64 + 9))?;
                }
                w.finish()
            });
        assert!(matches!(&r, Err(FormatError::Io { operation: "write", .. })), "{budget}: {r:?}");
        assert_eq!(std::fs::read(&path).unwrap(), good);
        assert_eq!(dir.entries(), vec!["ckpt.safetensors".to_string()]);
    }
    // Wrong sizes are typed errors, not a corrupt file.
    let mut w = CheckpointWriter::create(&path, tensors.clone(), None).unwrap();
    assert!(matches!(w.write_tensor(&[0; 3]), Err(FormatError::WrongTensorBytes { .. })));
    assert!(matches!(w.finish(), Err(FormatError::WrongTensorBytes { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_eq!(dir.entries(), vec!["ckpt.safetensors".to_string()]);
}
