//! `varscope train`: the example MLP (`varscope-example-mlp`) with results on stdout
//! (the loss every `--log-every` steps, then the summary), and on stderr the device in
//! use with the reason it was chosen and a progress bar (drawn only when stderr is a
//! terminal). `--quiet` prints nothing but errors.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use varscope::bench::backend_name;
use varscope_example_mlp::{Progress, TrainConfig, ACCURACY_TARGET};

use crate::BACKEND_ENV;

/// The command line of `varscope train` (ranges checked by clap).
pub struct Args {
    pub device: Option<String>,
    pub steps: usize,
    pub points: usize,
    pub log_every: usize,
    pub save: Option<PathBuf>,
    pub quiet: bool,
}

/// Trains; `Ok(true)` when training finished below the accuracy target.
pub fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    if let Some(path) = &args.save {
        check_destination(path)?;
    }
    let config = TrainConfig {
        device: args.device.clone(),
        steps: args.steps,
        points_per_class: args.points,
        log_every: args.log_every,
        save: args.save.clone(),
        ..TrainConfig::default()
    };
    config.validate()?;
    let quiet = args.quiet;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(args.steps as u64), ProgressDrawTarget::stderr())
    };
    // The template is a constant; the default style is a fine fallback should it not parse.
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = varscope_example_mlp::run(&config, |p| match p {
        Progress::Device { name, adapter, backend } if !quiet => {
            let label = match backend {
                None => format!("{name} (host)"),
                Some(b) => format!("{name} ({adapter}, {})", backend_name(Some(b))),
            };
            bar.suspend(|| eprintln!("varscope: training on {label}: {}", why(args.device.as_deref(), &name)));
        }
        Progress::Loss { step, loss } if !quiet => {
            bar.set_message(format!("loss {loss:.4}"));
            bar.suspend(|| println!("step {step:>5}  loss {loss:.4}"));
        }
        Progress::Step { done, .. } => bar.set_position(done as u64),
        _ => {}
    })?;
    bar.finish_and_clear();
    let backend = backend_name(report.backend);
    if !quiet {
        println!("device:   {} ({}, {backend})", report.device, report.adapter);
        println!("accuracy: {:.3} (target {ACCURACY_TARGET})", report.accuracy);
        println!("l2 loss:  {:.6}", report.regularization_loss);
        println!("optimizer dispatches per step: {}", report.optimizer_dispatches);
        if let Some(p) = &args.save {
            println!("checkpoint: {}", p.display());
        }
    }
    let below = report.accuracy < ACCURACY_TARGET;
    if below {
        eprintln!(
            "error: accuracy {:.3} is below the target {ACCURACY_TARGET} (exit status {})",
            report.accuracy,
            crate::EXIT_BELOW_TARGET
        );
    }
    Ok(below)
}

/// Why training runs on `chosen`.
fn why(requested: Option<&str>, chosen: &str) -> String {
    if requested.is_some() {
        return "chosen with --device".into();
    }
    if let Some(d) = std::env::var(varscope::gpu::DEFAULT_DEVICE_ENV).ok().filter(|d| !d.trim().is_empty()) {
        return format!("{}={d}", varscope::gpu::DEFAULT_DEVICE_ENV);
    }
    if chosen != "/cpu:0" {
        return "the first GPU adapter (the default device)".into();
    }
    let narrowed = std::env::var(BACKEND_ENV).map(|v| format!(" with {BACKEND_ENV}={v}")).unwrap_or_default();
    format!(
        "no GPU adapter found{narrowed}, so the host runs the model (install a GPU driver or Mesa's \
         software Vulkan driver to train on a GPU; `varscope devices` lists what is found)"
    )
}

/// Checks that a checkpoint can be written to `path`, before any training: the name
/// is a file name (not a directory, `.`, or a path ending in `/`), an existing file is a
/// regular file (a symlink is followed), its directory exists and is a directory, and a
/// file can be created there (the save writes a temporary file beside the destination
/// and renames it). The error says what is wrong in plain words.
fn check_destination(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let text = path.as_os_str().to_string_lossy();
    if text.is_empty() {
        return Err("--save needs a file name".into());
    }
    let names_a_directory = text.ends_with('/')
        || text.ends_with(std::path::MAIN_SEPARATOR)
        || path.file_name().is_none()
        || text == "."
        || text.ends_with("/.");
    if names_a_directory {
        return Err(format!(
            "cannot save to {shown}: it names a directory; give a file name, such as model.safetensors"
        ));
    }
    let target = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(format!(
                "cannot save to {shown}: it is a directory; give a file name, such as {}",
                path.join("model.safetensors").display()
            ))
        }
        Ok(m) if !m.is_file() => {
            return Err(format!("cannot save to {shown}: it is not a regular file (a FIFO, socket or device)"))
        }
        Ok(_) => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        // A symlink whose target does not exist yet: the save creates the target.
        Err(e) if e.kind() == ErrorKind::NotFound => match std::fs::read_link(path) {
            Ok(t) if t.is_relative() => path.parent().map(|p| p.join(&t)).unwrap_or(t),
            Ok(t) => t,
            Err(_) => path.to_path_buf(),
        },
        Err(e) => return Err(format!("cannot save to {shown}: {}", plain(&e))),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir_shown = dir.display();
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("cannot save to {shown}: {dir_shown} is not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(format!("cannot save to {shown}: the directory {dir_shown} does not exist"))
        }
        Err(e) => return Err(format!("cannot save to {shown}: cannot use the directory {dir_shown}: {}", plain(&e))),
    }
    let probe = dir.join(format!(".varscope-save-check-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(f) => {
            drop(f);
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        // ENOENT for a directory that exists: a file system that takes no new files (/proc).
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err(format!("cannot save to {shown}: {dir_shown} does not accept new files"))
        }
        Err(e) => Err(format!("cannot save to {shown}: cannot create files in {dir_shown}: {}", plain(&e))),
    }
}

/// An I/O error in plain words (without Rust's `(os error N)` suffix).
fn plain(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::ReadOnlyFilesystem => "the file system is read-only".into(),
        ErrorKind::StorageFull => "the disk is full".into(),
        ErrorKind::NotFound => "it does not exist".into(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("varscope-dest-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn destinations_are_checked_in_plain_words() {
        let d = temp_dir("check");
        assert_eq!(check_destination(&d.join("model.safetensors")), Ok(()));
        assert!(!d.join(format!(".varscope-save-check-{}", std::process::id())).exists(), "probe left behind");
        let bad: Vec<(PathBuf, &str)> = vec![
            (d.clone(), "is a directory"),
            (PathBuf::from("."), "names a directory"),
            (d.join("sub/"), "names a directory"),
            (d.join("missing/model.safetensors"), "does not exist"),
            (PathBuf::from(""), "needs a file name"),
        ];
        for (p, want) in bad {
            let e = check_destination(&p).expect_err(&format!("{} accepted", p.display()));
            assert!(e.contains(want), "{}: {e}", p.display());
            assert!(!e.contains("os error"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn special_files_and_dangling_symlinks() {
        let d = temp_dir("special");
        let fifo = d.join("fifo");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
        if ok {
            let e = check_destination(&fifo).expect_err("a FIFO accepted");
            assert!(e.contains("not a regular file"), "{e}");
        }
        let link = d.join("link.safetensors");
        std::os::unix::fs::symlink("target.safetensors", &link).expect("symlink");
        assert_eq!(check_destination(&link), Ok(()));
        std::os::unix::fs::symlink(d.join("nowhere/x.safetensors"), d.join("bad-link")).expect("symlink");
        let e = check_destination(&d.join("bad-link")).expect_err("link into a missing directory");
        assert!(e.contains("does not exist"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
