//! The default-name counters of variable scopes, one set per thread and graph
//! (TensorFlow's `_VariableScopeStore.variable_scopes_count`, catalogue K2).
//!
//! TensorFlow keeps them in a dict: entering a scope adds 1 to its full name's counter,
//! leaving a scope by name zeroes every counter under it (`close_variable_subscopes`:
//! a scan of the whole dict), and entering a scope *object* copies the dict, which
//! leaving it restores. Both are linear in the counters a thread has ever opened, so a
//! program that re-enters 10,000 layer scopes (the usual way of sharing) paid 2.2 ms per
//! entry. Here:
//!
//! - only nonzero counters are kept, in an ordered map, so the counters under `name/`
//!   are one range of it: zeroing them removes exactly those (each counter is removed at
//!   most once per increment);
//! - a snapshot is a mark in a journal of the changes made while any snapshot is open
//!   (name and previous value); restoring undoes the changes after the mark. With no
//!   snapshot open nothing is journaled.
//!
//! - `_get_unique_variable_scope`'s search for the first free `name_i` (TensorFlow tries
//!   1, 2, ... every time: the 10,000th default-named scope in one scope tried 10,000
//!   names, 2 ms) starts where the previous search for the same name ended, for as long
//!   as no counter of that name family has dropped to zero.
//!
//! Same counters and names as TensorFlow after every operation (the tests replay both).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::ops::Bound;

use crate::FastMap;

/// An open snapshot of a thread's counters (see [`ScopeCounts::snapshot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot(u64);

/// One thread's default-name counters over one graph.
#[derive(Default)]
pub(crate) struct ScopeCounts {
    /// The nonzero counters, by full scope name.
    counts: BTreeMap<String, u64>,
    /// Every change made while a snapshot is open: the name and its previous counter
    /// (0: it had none).
    journal: Vec<(String, u64)>,
    /// The open snapshots, oldest first: id and journal length when taken.
    marks: Vec<(u64, usize)>,
    next_id: u64,
    /// For `free_suffix`: base name -> `h` such that `base_1` .. `base_{h-1}` all have
    /// nonzero counters (a counter only drops to zero in `drop_counter`, which forgets
    /// the hint of the name's base).
    suffix_hints: FastMap<String, u64>,
}

impl ScopeCounts {
    /// The counter of `name` (0 if never opened or since zeroed).
    pub fn get(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// `open_variable_scope`: adds 1 to the counter of `name`.
    pub fn open(&mut self, name: &str) {
        let old = match self.counts.get_mut(name) {
            Some(c) => {
                *c += 1;
                *c - 1
            }
            None => {
                self.counts.insert(name.to_string(), 1);
                0
            }
        };
        self.record(name, old);
    }

    /// `close_variable_subscopes(name)`: zeroes the counters of every scope under
    /// `name` (full names starting with `name/`), not `name`'s own.
    pub fn close_subscopes(&mut self, name: &str) {
        let prefix = format!("{name}/");
        let under: Vec<String> = self
            .counts
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for key in under {
            if let Some((k, old)) = self.counts.remove_entry(key.as_str()) {
                self.forget_hint(&k);
                if !self.marks.is_empty() {
                    self.journal.push((k, old));
                }
            }
        }
    }

    /// `_get_unique_variable_scope`'s suffix for the full name `full`: `None` if its
    /// counter is zero (the name itself is free), else the smallest `i >= 1` whose
    /// `full_i` counter is zero.
    pub fn free_suffix(&mut self, full: &str) -> Option<u64> {
        if self.get(full) == 0 {
            return None;
        }
        let mut i = self.suffix_hints.get(full).copied().unwrap_or(1);
        let mut candidate = String::with_capacity(full.len() + 4);
        loop {
            candidate.clear();
            let _ = write!(candidate, "{full}_{i}");
            if self.get(&candidate) == 0 {
                break;
            }
            i += 1;
        }
        match self.suffix_hints.get_mut(full) {
            Some(h) => *h = i,
            None => {
                self.suffix_hints.insert(full.to_string(), i);
            }
        }
        Some(i)
    }

    /// A snapshot of the counters as they are now, for [`restore`](Self::restore).
    pub fn snapshot(&mut self) -> Snapshot {
        let id = self.next_id;
        self.next_id += 1;
        self.marks.push((id, self.journal.len()));
        Snapshot(id)
    }

    /// Puts the counters back as they were when `s` was taken, and closes `s` and every
    /// snapshot taken after it. A snapshot already closed changes nothing.
    pub fn restore(&mut self, s: Snapshot) {
        let Some(i) = self.marks.iter().position(|m| m.0 == s.0) else { return };
        let at = self.marks[i].1;
        let undo = self.journal.split_off(at);
        for (name, old) in undo.into_iter().rev() {
            if old == 0 {
                self.counts.remove(name.as_str());
                self.forget_hint(&name);
            } else {
                self.counts.insert(name, old);
            }
        }
        self.marks.truncate(i);
        self.trim();
    }

    /// Closes `s` without restoring (its scope can no longer be exited).
    pub fn forget(&mut self, s: Snapshot) {
        self.marks.retain(|m| m.0 != s.0);
        self.trim();
    }

    fn record(&mut self, name: &str, old: u64) {
        if !self.marks.is_empty() {
            self.journal.push((name.to_string(), old));
        }
    }

    /// `name`'s counter dropped to zero: if it is `base_i`, `base`'s search hint may now
    /// skip a free name.
    fn forget_hint(&mut self, name: &str) {
        if let Some((base, digits)) = name.rsplit_once('_') {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                self.suffix_hints.remove(base);
            }
        }
    }

    /// With no snapshot open, nothing needs the journal.
    fn trim(&mut self) {
        if self.marks.is_empty() {
            self.journal.clear();
        }
    }

    /// How many changes the journal holds (tests).
    #[cfg(test)]
    fn journaled(&self) -> usize {
        self.journal.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TensorFlow's dict, operation for operation.
    #[derive(Clone, Default)]
    struct Dict(FastMap<String, u64>);

    impl Dict {
        fn get(&self, n: &str) -> u64 {
            self.0.get(n).copied().unwrap_or(0)
        }
        fn open(&mut self, n: &str) {
            *self.0.entry(n.to_string()).or_insert(0) += 1;
        }
        fn close_subscopes(&mut self, n: &str) {
            let p = format!("{n}/");
            for (k, v) in self.0.iter_mut() {
                if k.starts_with(&p) {
                    *v = 0;
                }
            }
        }
    }

    fn same(c: &ScopeCounts, d: &Dict, names: &[&str]) {
        for n in names {
            assert_eq!(c.get(n), d.get(n), "counter of {n:?}");
        }
    }

    const NAMES: [&str; 9] = ["", "a", "a/b", "a/b/c", "a/b_1", "a_1", "ab", "a/", "b"];

    #[test]
    fn open_and_close_subscopes_match_the_dict() {
        let mut c = ScopeCounts::default();
        let mut d = Dict::default();
        for n in ["a", "a/b", "a/b", "a/b/c", "ab", "a_1", "a/b_1", "b", ""] {
            c.open(n);
            d.open(n);
        }
        same(&c, &d, &NAMES);
        // Only names under `a/`: not `a` itself, not `ab` or `a_1` (a byte prefix).
        c.close_subscopes("a");
        d.close_subscopes("a");
        same(&c, &d, &NAMES);
        assert_eq!((c.get("a"), c.get("ab"), c.get("a/b")), (1, 1, 0));
        // The empty name's subscopes are those starting with `/`.
        c.open("/x");
        d.open("/x");
        c.close_subscopes("");
        d.close_subscopes("");
        same(&c, &d, &["/x", "", "a", "b"]);
    }

    #[test]
    fn restore_undoes_everything_after_the_snapshot() {
        let mut c = ScopeCounts::default();
        c.open("a");
        c.open("a/b");
        let before = [c.get("a"), c.get("a/b"), c.get("a/b/c"), c.get("z")];
        let s = c.snapshot();
        c.open("a/b/c");
        c.open("z");
        c.close_subscopes("a");
        c.open("a/b");
        assert_eq!([c.get("a"), c.get("a/b"), c.get("a/b/c"), c.get("z")], [1, 1, 0, 1]);
        c.restore(s);
        assert_eq!([c.get("a"), c.get("a/b"), c.get("a/b/c"), c.get("z")], before);
        assert_eq!(c.journaled(), 0, "no snapshot open, nothing journaled");
        c.open("q");
        assert_eq!(c.journaled(), 0);
    }

    #[test]
    fn nested_snapshots_restore_in_order_and_an_outer_restore_closes_inner_ones() {
        let mut c = ScopeCounts::default();
        let mut d = Dict::default();
        let mut saved = Vec::new();
        let mut snaps = Vec::new();
        for (i, n) in ["a", "a/b", "a/b/c"].iter().enumerate() {
            c.open(n);
            d.open(n);
            snaps.push(c.snapshot());
            saved.push(d.clone());
            c.open(&format!("{n}/x{i}"));
            d.open(&format!("{n}/x{i}"));
        }
        // Inner first: each restore gives that snapshot's dict back.
        let inner = snaps.pop().unwrap();
        c.restore(inner);
        d = saved.pop().unwrap();
        same(&c, &d, &["a", "a/b", "a/b/c", "a/x0", "a/b/x1", "a/b/c/x2"]);
        // Restoring the outermost closes the middle one too.
        c.open("a/b/c");
        let middle = snaps.pop().unwrap();
        let outer = snaps.pop().unwrap();
        c.restore(outer);
        d = saved.remove(0);
        same(&c, &d, &["a", "a/b", "a/b/c", "a/x0", "a/b/x1", "a/b/c/x2"]);
        assert_eq!(c.journaled(), 0);
        // A closed snapshot restores nothing.
        c.open("a");
        c.restore(middle);
        assert_eq!(c.get("a"), 2);
    }

    #[test]
    fn a_forgotten_snapshot_stops_journaling_without_restoring() {
        let mut c = ScopeCounts::default();
        let s = c.snapshot();
        c.open("a");
        assert_eq!(c.journaled(), 1);
        c.forget(s);
        assert_eq!((c.get("a"), c.journaled()), (1, 0));
        // Forgetting an outer snapshot keeps an inner one working.
        let outer = c.snapshot();
        c.open("b");
        let inner = c.snapshot();
        c.open("c");
        c.forget(outer);
        c.restore(inner);
        assert_eq!((c.get("b"), c.get("c")), (1, 0));
        assert_eq!(c.journaled(), 0);
    }

    /// TensorFlow's search: the first `full_i` with a zero counter, from 1.
    fn dict_suffix(d: &Dict, full: &str) -> Option<u64> {
        if d.get(full) == 0 {
            return None;
        }
        (1..).find(|i| d.get(&format!("{full}_{i}")) == 0)
    }

    #[test]
    fn free_suffix_resumes_and_sees_names_freed_again() {
        let mut c = ScopeCounts::default();
        assert_eq!(c.free_suffix("m/d"), None);
        c.open("m/d");
        for i in 1..=50 {
            assert_eq!(c.free_suffix("m/d"), Some(i));
            c.open(&format!("m/d_{i}"));
        }
        // An unused suffix found earlier is found again (hint not past it).
        assert_eq!(c.free_suffix("m/d"), Some(51));
        assert_eq!(c.free_suffix("m/d"), Some(51));
        // Freed by closing the parent's subscopes: found again from the start.
        c.close_subscopes("m");
        assert_eq!(c.free_suffix("m/d"), None);
        c.open("m/d");
        c.open("m/d_1");
        c.open("m/d_2");
        let s = c.snapshot();
        c.open("m/d_3");
        assert_eq!(c.free_suffix("m/d"), Some(4));
        // Freed by a restore.
        c.restore(s);
        assert_eq!(c.free_suffix("m/d"), Some(3));
        // A base that itself ends in digits after `_`.
        c.open("x_1");
        c.open("x_1_1");
        assert_eq!(c.free_suffix("x_1"), Some(2));
        assert_eq!(c.free_suffix("x"), None);
        c.open("x");
        assert_eq!(c.free_suffix("x"), Some(2));
        // Freeing `x_1_1` forgets `x_1`'s hint (not `x`'s, which stays right).
        let s = c.snapshot();
        c.open("x_1_2");
        assert_eq!(c.free_suffix("x_1"), Some(3));
        c.close_subscopes("x");
        c.restore(s);
        assert_eq!((c.free_suffix("x_1"), c.free_suffix("x")), (Some(2), Some(2)));
    }

    /// A long random sequence of operations against TensorFlow's dict with copies.
    #[test]
    fn random_operations_match_the_dict_with_copies() {
        let mut c = ScopeCounts::default();
        let mut d = Dict::default();
        let mut stack: Vec<(Snapshot, Dict)> = Vec::new();
        let names =
            ["a", "a/b", "a/b/c", "a/c", "ab", "a_1/b", "b", "b/a", "", "a_1", "a_2", "a/b_1", "a/b_2", "a_1_1"];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = names[(x >> 8) as usize % names.len()];
            match x % 6 {
                0 | 1 => {
                    c.open(n);
                    d.open(n);
                }
                5 => assert_eq!(c.free_suffix(n), dict_suffix(&d, n), "suffix of {n:?}"),
                2 => {
                    c.close_subscopes(n);
                    d.close_subscopes(n);
                }
                3 if stack.len() < 6 => stack.push((c.snapshot(), d.clone())),
                _ => {
                    if let Some((s, saved)) = stack.pop() {
                        c.restore(s);
                        d = saved;
                    }
                }
            }
            same(&c, &d, &names);
        }
    }
}
