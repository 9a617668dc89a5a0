//! The graph-wide, case-insensitive `names_in_use` table (catalogue 0.1) and the
//! name-scope validation rules (0.2, N5).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::Error;

/// `names_in_use`: lower-cased op / name-scope name to a counter, shared by ops, name
/// scopes and variable ops. Changes can be journaled so a failed call can undo them.
///
/// Every variable reserves about ten op names here, so the table grows to ten times the
/// variables and its keys are long scope paths. Each entry keeps its hash (foldhash,
/// computed once; SipHash was a fifth of `get_variable`'s time, and the keys are names
/// the program chose, not untrusted input), so growing the table moves entries without
/// hashing a string again, and a serial number by which the journal finds it, so
/// journaling a change copies no string.
#[derive(Default, Debug, Clone)]
pub(crate) struct NameTable {
    used: HashTable<Entry>,
    hasher: foldhash::fast::FixedState,
    next_serial: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    hash: u64,
    serial: u64,
    key: String,
    count: u64,
}

/// One undoable change to the table: the changed entry (its hash and serial number) and
/// its previous counter (`None`: the change inserted it).
#[derive(Debug)]
pub(crate) struct NameUndo {
    hash: u64,
    serial: u64,
    old: Option<u64>,
}

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
    pub fn reserve(&mut self, full: &str, undo: Option<&mut Vec<NameUndo>>) -> u64 {
        self.reserve_key(full.to_lowercase(), undo)
    }

    /// [`NameTable::reserve`] of the name `parts` spell together, lower-cased straight
    /// into the one string the table keeps (no intermediate name).
    pub fn reserve_parts(&mut self, parts: &[&str], undo: Option<&mut Vec<NameUndo>>) -> u64 {
        let key = if parts.iter().all(|p| p.is_ascii()) {
            let mut key = String::with_capacity(parts.iter().map(|p| p.len()).sum());
            for p in parts {
                key.extend(p.bytes().map(|b| char::from(b.to_ascii_lowercase())));
            }
            key
        } else {
            parts.concat().to_lowercase()
        };
        self.reserve_key(key, undo)
    }

    fn reserve_key(&mut self, key: String, mut undo: Option<&mut Vec<NameUndo>>) -> u64 {
        let hash = self.hasher.hash_one(key.as_str());
        let i = self.count_hashed(hash, &key);
        if i == 0 {
            self.set(hash, key, 1, undo);
            return 0;
        }
        // `key_j` for the first free j from i; `k[..base]` is `key` (moved into the table).
        let base = key.len();
        let mut j = i;
        let mut k = format!("{key}_{j}");
        self.set(hash, key, i + 1, undo.as_deref_mut());
        let mut k_hash = self.hasher.hash_one(k.as_str());
        while self.count_hashed(k_hash, &k) != 0 {
            j += 1;
            k = format!("{}_{j}", &k[..base]);
            k_hash = self.hasher.hash_one(k.as_str());
        }
        self.set(k_hash, k, 1, undo);
        j
    }

    /// The counter of the lower-cased `key` whose hash is `hash` (0: unused).
    fn count_hashed(&self, hash: u64, key: &str) -> u64 {
        self.used.find(hash, |e| e.key == key).map_or(0, |e| e.count)
    }

    /// Sets the counter of `key` (hash `hash`) to `value`, journaled in `undo` when given.
    fn set(&mut self, hash: u64, key: String, value: u64, undo: Option<&mut Vec<NameUndo>>) {
        let (serial, old) = match self.used.find_mut(hash, |e| e.key == key) {
            Some(e) => (e.serial, Some(std::mem::replace(&mut e.count, value))),
            None => {
                let serial = self.next_serial;
                self.next_serial += 1;
                self.used.insert_unique(hash, Entry { hash, serial, key, count: value }, |e| e.hash);
                (serial, None)
            }
        };
        if let Some(undo) = undo {
            undo.push(NameUndo { hash, serial, old });
        }
    }

    /// Undoes journaled changes, newest first.
    pub fn undo(&mut self, undo: Vec<NameUndo>) {
        for u in undo.into_iter().rev() {
            let Ok(entry) = self.used.find_entry(u.hash, |e| e.serial == u.serial) else { continue };
            match u.old {
                Some(v) => entry.into_mut().count = v,
                None => {
                    entry.remove();
                }
            }
        }
    }

    /// Whether a (case-insensitive) name is in use.
    pub fn is_used(&self, name: &str) -> bool {
        let key = name.to_lowercase();
        self.count_hashed(self.hasher.hash_one(key.as_str()), &key) != 0
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
    fn undo_removes_what_it_inserted_across_growth() {
        let mut t = NameTable::default();
        let mut kept = Vec::new();
        for i in 0..1000 {
            t.reserve(&format!("Keep/v{i}"), Some(&mut kept));
        }
        // Enough inserts to grow the table several times, then undone.
        let mut u = Vec::new();
        for i in 0..5000 {
            t.reserve(&format!("drop/V{i}"), Some(&mut u));
        }
        assert_eq!(t.reserve("keep/V3", Some(&mut u)), 1);
        t.undo(u);
        assert!((0..5000).all(|i| !t.is_used(&format!("drop/v{i}"))));
        assert!((0..1000).all(|i| t.is_used(&format!("KEEP/V{i}"))));
        assert!(!t.is_used("keep/v3_1"));
        assert_eq!(t.reserve("keep/v3", None), 1);
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
