//! Finding a bundle from what a user passes: a prefix, an `.index` file, or a directory with
//! TensorFlow's `checkpoint` state file (a text `CheckpointState` proto whose
//! `model_checkpoint_path` names the latest prefix).

use std::path::{Path, PathBuf};

use super::error::{Result, TfError};
use super::index_path;

/// The name of TensorFlow's checkpoint state file.
pub const STATE_FILE: &str = "checkpoint";

/// Whether `path` names a TensorFlow checkpoint: a directory holding a `checkpoint` state
/// file, that state file, an existing `.index` file, or a prefix whose `.index` exists.
pub fn is_tf_checkpoint(path: &Path) -> bool {
    if path.is_dir() {
        return path.join(STATE_FILE).is_file();
    }
    if path.file_name().is_some_and(|n| n == STATE_FILE) && path.is_file() {
        return true;
    }
    if path.extension().is_some_and(|e| e == "index") && path.is_file() {
        return true;
    }
    index_path(path).is_file()
}

/// The bundle prefix `path` names (see [`is_tf_checkpoint`]). A prefix is returned as is.
pub fn resolve_prefix(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        return latest_checkpoint(path);
    }
    if path.file_name().is_some_and(|n| n == STATE_FILE) && path.is_file() {
        let dir = path.parent().unwrap_or(Path::new("."));
        return latest_checkpoint(dir);
    }
    if path.extension().is_some_and(|e| e == "index") {
        return Ok(path.with_extension(""));
    }
    Ok(path.to_owned())
}

/// The latest prefix named by `dir/checkpoint`. A relative path is taken relative to `dir`;
/// an absolute path whose bundle is gone but whose file name exists in `dir` (a moved
/// checkpoint directory) resolves to the one in `dir`.
pub fn latest_checkpoint(dir: &Path) -> Result<PathBuf> {
    let state = dir.join(STATE_FILE);
    let no_state = || TfError::NoCheckpointState { path: state.clone() };
    let text = std::fs::read_to_string(&state).map_err(|_| no_state())?;
    let latest = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("model_checkpoint_path:"))
        .filter_map(|value| unquote(value.trim()))
        .next_back()
        .ok_or_else(no_state)?;
    let named = PathBuf::from(&latest);
    if named.is_relative() {
        return Ok(dir.join(named));
    }
    if !index_path(&named).is_file() {
        if let Some(name) = named.file_name() {
            let moved = dir.join(name);
            if index_path(&moved).is_file() {
                return Ok(moved);
            }
        }
    }
    Ok(named)
}

/// Parses a text-format string literal (`"..."` or `'...'` with C escapes).
fn unquote(s: &str) -> Option<String> {
    let quote = s.chars().next().filter(|&c| c == '"' || c == '\'')?;
    let body = s.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = Vec::new();
    let mut bytes = body.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = bytes.next()?;
        out.push(match e {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'\\' | b'"' | b'\'' | b'?' => e,
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match bytes.peek() {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            bytes.next();
                        }
                        _ => break,
                    }
                }
                u8::try_from(v).ok()?
            }
            b'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while let Some(d) = bytes.peek().and_then(|&d| (d as char).to_digit(16)) {
                    v = v * 16 + d;
                    bytes.next();
                    n += 1;
                    if n == 2 {
                        break;
                    }
                }
                if n == 0 {
                    return None;
                }
                v as u8
            }
            _ => return None,
        });
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_text_format_strings() {
        assert_eq!(unquote(r#""model.ckpt-5""#).as_deref(), Some("model.ckpt-5"));
        assert_eq!(unquote(r#""a\"b\\c\101\x42""#).as_deref(), Some("a\"b\\cAB"));
        assert_eq!(unquote("'x'").as_deref(), Some("x"));
        assert_eq!(unquote("x"), None);
        assert_eq!(unquote(r#""bad\q""#), None);
    }
}
