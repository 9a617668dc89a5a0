//! The graph-wide, case-insensitive `names_in_use` table (catalogue 0.1) and the
//! name-scope validation rules (0.2, N5).

use std::collections::HashMap;

use crate::Error;

/// `names_in_use`: lower-cased op / name-scope name to a counter, shared by ops, name
/// scopes and variable ops. Changes can be journaled so a failed call can undo them.
/// Hashed with foldhash rather than SipHash: every variable reserves about ten op names
/// here, and SipHash was a fifth of `get_variable`'s time (the keys are names the program
/// chose, not untrusted input).
#[derive(Default, Debug, Clone)]
pub(crate) struct NameTable {
    used: HashMap<String, u64, foldhash::fast::RandomState>,
}

/// One undoable change to the table: the key and its previous value.
pub(crate) type NameUndo = (String, Option<u64>);

impl NameTable {
    /// `Graph.unique_name(name)` where `full` already carries the name stack.
    /// Returns the unique name (original capitalisation kept) and marks it used (the
    /// graph calls `reserve` and builds the name itself).
    #[cfg(test)]
    pub fn unique_name(&mut self, full: &str, undo: &mut Vec<NameUndo>) -> String {
        match self.reserve(full, Some(undo)) {
            0 => full.to_string(),
            i => format!("{full}_{i}"),
        }
    }

    /// Marks `full` used, or, when it is taken, its first free `full_i`, and returns that
    /// `i` (0: `full` itself): `unique_name` without building the name. Changes are
    /// journaled in `undo` when given.
    pub fn reserve(&mut self, full: &str, mut undo: Option<&mut Vec<NameUndo>>) -> u64 {
        let key = full.to_lowercase();
        let i = self.used.get(key.as_str()).copied().unwrap_or(0);
        if i == 0 {
            self.set(key, 1, undo);
            return 0;
        }
        // `key_j` for the first free j from i; `k[..base]` is `key` (moved into the table).
        let base = key.len();
        let mut j = i;
        let mut k = format!("{key}_{j}");
        self.set(key, i + 1, undo.as_deref_mut());
        while self.used.contains_key(&k) {
            j += 1;
            k = format!("{}_{j}", &k[..base]);
        }
        self.set(k, 1, undo);
        j
    }

    fn set(&mut self, key: String, value: u64, undo: Option<&mut Vec<NameUndo>>) {
        match undo {
            Some(undo) => {
                let old = self.used.insert(key.clone(), value);
                undo.push((key, old));
            }
            None => {
                self.used.insert(key, value);
            }
        }
    }

    /// Undoes journaled changes, newest first.
    pub fn undo(&mut self, undo: Vec<NameUndo>) {
        for (k, old) in undo.into_iter().rev() {
            match old {
                Some(v) => self.used.insert(k, v),
                None => self.used.remove(&k),
            };
        }
    }

    /// Whether a (case-insensitive) name is in use.
    pub fn is_used(&self, name: &str) -> bool {
        self.used.contains_key(&name.to_lowercase())
    }
}

fn valid_rest(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '\\' | '/' | '>' | '-')
}

/// Validates a name-scope name: at the root it must match
/// `^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$`, nested `^[A-Za-z0-9_.\\/>-]*$`.
pub(crate) fn validate_scope_name(name: &str, at_root: bool) -> Result<(), Error> {
    if at_root {
        let mut chars = name.chars();
        let ok = match chars.next() {
            Some(c) => (c.is_ascii_alphanumeric() || c == '.') && chars.all(valid_rest),
            None => true,
        };
        if !ok {
            return Err(Error::InvalidRootScopeName { name: name.to_string() });
        }
    } else if !name.chars().all(valid_rest) {
        return Err(Error::InvalidScopeName { name: name.to_string() });
    }
    Ok(())
}

/// `re.match(pattern, text)` for patterns made of scope-name characters: `.` matches any
/// character but a newline, `\x` matches `x`, everything else is literal. This is how
/// `get_collection(key, scope)` filters by a scope name (catalogue I7).
pub(crate) fn regex_prefix_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let mut t = text.chars();
    let mut i = 0;
    while i < p.len() {
        let Some(c) = t.next() else { return false };
        match p[i] {
            '.' => {
                if c == '\n' {
                    return false;
                }
            }
            '\\' if i + 1 < p.len() => {
                i += 1;
                if c != p[i] {
                    return false;
                }
            }
            pc => {
                if pc != c {
                    return false;
                }
            }
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_b19() {
        let mut t = NameTable::default();
        let mut u = Vec::new();
        let got: Vec<String> = ["x", "x", "x", "x_1", "x"].iter().map(|n| t.unique_name(n, &mut u)).collect();
        assert_eq!(got, vec!["x", "x_1", "x_2", "x_1_1", "x_3"]);
    }

    #[test]
    fn case_insensitive_keeps_capitalisation() {
        let mut t = NameTable::default();
        let mut u = Vec::new();
        assert_eq!(t.unique_name("W", &mut u), "W");
        assert_eq!(t.unique_name("w", &mut u), "w_1");
    }

    #[test]
    fn undo_restores() {
        let mut t = NameTable::default();
        let mut u = Vec::new();
        t.unique_name("a", &mut u);
        let mut u2 = Vec::new();
        t.unique_name("a", &mut u2);
        t.undo(u2);
        assert_eq!(t.unique_name("a", &mut u), "a_1");
    }

    #[test]
    fn regex_match() {
        assert!(regex_prefix_match("a.c/", "abc/v:0"));
        assert!(!regex_prefix_match("foo/", "foo_/v:0"));
        assert!(regex_prefix_match("", "x"));
    }

    #[test]
    fn validation() {
        assert!(validate_scope_name("_foo", true).is_err());
        assert!(validate_scope_name("_foo", false).is_ok());
        assert!(validate_scope_name("a b", false).is_err());
        assert!(validate_scope_name(".a-b>c\\d/e", true).is_ok());
    }
}
