//! The graph-wide, case-insensitive `names_in_use` table (catalogue 0.1) and the
//! name-scope validation rules (0.2, N5).

use std::fmt::Write as _;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::Error;

/// `names_in_use`: lower-cased op / name-scope name to a counter, shared by ops, name
/// scopes and variable ops. Changes can be journaled so a failed call can undo them.
///
/// Every variable reserves about ten op names here (`v/Initializer/random_uniform/shape`,
/// `v/read`, ...), so the table grows to ten times the variables, and its names share long
/// prefixes. It is kept as a tree of `/`-separated components: a name is a node, found
/// from the root one component at a time, and a node's counter is the name's. A
/// variable's ten names are then ten small nodes under its own, no string each, and the
/// walk resumes from the previous name's deepest shared component (the last path is
/// cached), so reserving them touches little memory. As a flat table of strings (one
/// allocation and two cache misses per name in a table of a million entries) this was two
/// thirds of `get_variable`'s time when creating 100,000 variables.
///
/// Nodes are never removed: undoing a reservation restores its counter, and a node whose
/// counter is 0 is a name not in use, so journal entries stay valid (node ids are stable).
#[derive(Debug, Clone)]
pub(crate) struct NameTable {
    /// The nodes by id; node 0 is the root, the parent of a name's first component,
    /// itself no name.
    nodes: Vec<Node>,
    /// The children of nodes with more than LIST_MAX children (a scope holding many
    /// variables), by `parent << 32 | comp`; other nodes' children are found by walking
    /// their sibling list, which stays in the few cache lines where they were appended.
    index: HashTable<Child>,
    comps: Interner,
    hasher: foldhash::fast::FixedState,
    /// The last name walked by `reserve`, lower-cased, and the node of each of its
    /// components with the byte offset where that component ends.
    last_key: String,
    last_path: Vec<(usize, u32)>,
    /// Reused buffer for the lower-cased name being reserved.
    scratch: String,
}

const ROOT: u32 = 0;
/// Children a node keeps in its sibling list only; from one more on they are indexed.
const LIST_MAX: u32 = 16;

/// A name: its counter (0: not in use), its last component, its newest child and its
/// next older sibling (0: none; the root is nobody's child), and how many children it has.
#[derive(Debug, Clone, Copy)]
struct Node {
    count: u64,
    comp: u32,
    first_child: u32,
    next_sibling: u32,
    children: u32,
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable {
            nodes: vec![Node { count: 0, comp: u32::MAX, first_child: 0, next_sibling: 0, children: 0 }],
            index: HashTable::new(),
            comps: Interner::default(),
            hasher: foldhash::fast::FixedState::default(),
            last_key: String::new(),
            last_path: Vec::new(),
            scratch: String::new(),
        }
    }
}

/// An indexed link from node `parent` to its child `node` by component id `comp`; `key`
/// is `parent << 32 | comp`.
#[derive(Debug, Clone, Copy)]
struct Child {
    key: u64,
    node: u32,
}

/// Component strings by id: all their bytes in one string, each entry with its hash, so
/// growing the table hashes no string again.
#[derive(Debug, Clone, Default)]
struct Interner {
    ids: HashTable<(u64, u32)>,
    spans: Vec<(usize, usize)>,
    text: String,
}

impl Interner {
    fn get(&self, hash: u64, comp: &str) -> Option<u32> {
        self.ids.find(hash, |&(h, id)| h == hash && self.str_of(id) == comp).map(|&(_, id)| id)
    }

    fn str_of(&self, id: u32) -> &str {
        let (start, end) = self.spans[id as usize];
        &self.text[start..end]
    }

    fn intern(&mut self, hash: u64, comp: &str) -> u32 {
        if let Some(id) = self.get(hash, comp) {
            return id;
        }
        let id = u32::try_from(self.spans.len()).expect("fewer than 2^32 name components");
        let start = self.text.len();
        self.text.push_str(comp);
        self.spans.push((start, self.text.len()));
        self.ids.insert_unique(hash, (hash, id), |&(h, _)| h);
        id
    }
}

/// One undoable change to the table: the node whose counter changed and its previous
/// value (0: the change put the name in use).
#[derive(Debug)]
pub(crate) struct NameUndo {
    node: u32,
    old: u64,
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
        self.reserve_parts(&[full], undo)
    }

    /// [`NameTable::reserve`] of the name `parts` spell together.
    pub fn reserve_parts(&mut self, parts: &[&str], undo: Option<&mut Vec<NameUndo>>) -> u64 {
        let mut key = std::mem::take(&mut self.scratch);
        lower_into(&mut key, parts);
        let i = self.reserve_key(&key, undo);
        self.scratch = key;
        i
    }

    fn reserve_key(&mut self, key: &str, mut undo: Option<&mut Vec<NameUndo>>) -> u64 {
        let (parent, node) = self.walk(key);
        let i = self.nodes[node as usize].count;
        if i == 0 {
            self.set(node, 1, undo);
            return 0;
        }
        self.set(node, i + 1, undo.as_deref_mut());
        // `last_j` under the same parent for the first free j from i, where `last` is the
        // name's last component.
        let last = &key[key.rfind('/').map_or(0, |p| p + 1)..];
        let mut cand = String::with_capacity(last.len() + 4);
        let mut j = i;
        loop {
            cand.clear();
            let _ = write!(cand, "{last}_{j}");
            let c = self.comps.intern(self.hasher.hash_one(cand.as_str()), &cand);
            let n = self.child_or_add(parent, c);
            if self.nodes[n as usize].count == 0 {
                self.set(n, 1, undo);
                return j;
            }
            j += 1;
        }
    }

    /// The node of the lower-cased name `key` and its parent, adding the missing nodes
    /// (counter 0). Resumes from the deepest component `key` shares with the last name
    /// walked.
    fn walk(&mut self, key: &str) -> (u32, u32) {
        let common = key.bytes().zip(self.last_key.bytes()).take_while(|(a, b)| a == b).count();
        // Cached components usable for `key`: those ending inside the common prefix at a
        // component boundary of `key` too.
        let keep = self
            .last_path
            .iter()
            .take_while(|&&(end, _)| end <= common && (end == key.len() || key.as_bytes()[end] == b'/'))
            .count();
        self.last_path.truncate(keep);
        self.last_key.clear();
        self.last_key.push_str(key);
        let (mut node, mut start) = match self.last_path.last() {
            None => (ROOT, 0),
            Some(&(end, n)) if end == key.len() => {
                let parent = self.last_path.len().checked_sub(2).map_or(ROOT, |k| self.last_path[k].1);
                return (parent, n);
            }
            Some(&(end, n)) => (n, end + 1),
        };
        loop {
            let end = key[start..].find('/').map_or(key.len(), |p| start + p);
            let comp = &key[start..end];
            let hash = self.hasher.hash_one(comp);
            let c = self.comps.intern(hash, comp);
            let parent = node;
            node = self.child_or_add(node, c);
            self.last_path.push((end, node));
            if end == key.len() {
                return (parent, node);
            }
            start = end + 1;
        }
    }

    fn child(&self, parent: u32, comp: u32) -> Option<u32> {
        let p = &self.nodes[parent as usize];
        if p.children > LIST_MAX {
            let key = (u64::from(parent) << 32) | u64::from(comp);
            return self.index.find(self.hasher.hash_one(key), |c| c.key == key).map(|c| c.node);
        }
        let mut c = p.first_child;
        while c != 0 {
            let n = &self.nodes[c as usize];
            if n.comp == comp {
                return Some(c);
            }
            c = n.next_sibling;
        }
        None
    }

    /// The child of `parent` by component `comp`, added (counter 0) if missing.
    fn child_or_add(&mut self, parent: u32, comp: u32) -> u32 {
        match self.child(parent, comp) {
            Some(n) => n,
            None => self.add_child(parent, comp),
        }
    }

    fn add_child(&mut self, parent: u32, comp: u32) -> u32 {
        let node = u32::try_from(self.nodes.len()).expect("fewer than 2^32 names");
        let p = &mut self.nodes[parent as usize];
        let next_sibling = std::mem::replace(&mut p.first_child, node);
        p.children += 1;
        let children = p.children;
        self.nodes.push(Node { count: 0, comp, first_child: 0, next_sibling, children: 0 });
        // From LIST_MAX + 1 children on, every child is indexed (all of them at the switch).
        if children == LIST_MAX + 1 {
            let mut c = node;
            while c != 0 {
                self.index_child(parent, c);
                c = self.nodes[c as usize].next_sibling;
            }
        } else if children > LIST_MAX + 1 {
            self.index_child(parent, node);
        }
        node
    }

    fn index_child(&mut self, parent: u32, node: u32) {
        let key = (u64::from(parent) << 32) | u64::from(self.nodes[node as usize].comp);
        let Self { index, hasher, .. } = self;
        index.insert_unique(hasher.hash_one(key), Child { key, node }, |c| hasher.hash_one(c.key));
    }

    /// Sets the counter of `node` to `value`, journaled in `undo` when given.
    fn set(&mut self, node: u32, value: u64, undo: Option<&mut Vec<NameUndo>>) {
        let old = std::mem::replace(&mut self.nodes[node as usize].count, value);
        if let Some(undo) = undo {
            undo.push(NameUndo { node, old });
        }
    }

    /// Undoes journaled changes, newest first.
    pub fn undo(&mut self, undo: &[NameUndo]) {
        for u in undo.iter().rev() {
            if let Some(n) = self.nodes.get_mut(u.node as usize) {
                n.count = u.old;
            }
        }
    }

    /// Whether a (case-insensitive) name is in use.
    pub fn is_used(&self, name: &str) -> bool {
        let mut key = String::with_capacity(name.len());
        lower_into(&mut key, &[name]);
        let mut node = ROOT;
        for comp in key.split('/') {
            let Some(c) = self.comps.get(self.hasher.hash_one(comp), comp) else { return false };
            let Some(n) = self.child(node, c) else { return false };
            node = n;
        }
        self.nodes[node as usize].count != 0
    }
}

/// Sets `out` to the lower-cased concatenation of `parts` (ASCII lower-cased in place;
/// otherwise Unicode lower-casing of the whole, which a `/` does not affect).
fn lower_into(out: &mut String, parts: &[&str]) {
    out.clear();
    for p in parts {
        out.push_str(p);
    }
    if out.is_ascii() {
        out.make_ascii_lowercase();
    } else {
        *out = out.to_lowercase();
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
        assert_eq!(t.unique_name("a", &mut u2), "a_1");
        t.undo(&u2);
        // The suffix given back is free again (its node stays, its counter is 0).
        assert!(!t.is_used("a_1"));
        assert_eq!(t.unique_name("a", &mut u), "a_1");
        assert_eq!(t.unique_name("a_1", &mut u), "a_1_1");
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
        t.undo(&u);
        assert!((0..5000).all(|i| !t.is_used(&format!("drop/v{i}"))));
        assert!((0..1000).all(|i| t.is_used(&format!("KEEP/V{i}"))));
        assert!(!t.is_used("keep/v3_1"));
        assert_eq!(t.reserve("keep/v3", None), 1);
    }

    #[test]
    fn names_sharing_prefixes_with_the_last_one_walked() {
        let mut t = NameTable::default();
        let mut u = Vec::new();
        // Each name against the cached path of the one before: deeper, shallower, a
        // sibling with a common byte prefix, the same name, a name ending in `/`.
        let seq = ["a/b/c", "a/b", "a/bx", "a/b/c/d", "a/b/c", "a/b/", "a/b/", "A/B", "a//b", "a/b/c/d"];
        let got: Vec<String> = seq.iter().map(|n| t.unique_name(n, &mut u)).collect();
        assert_eq!(got, ["a/b/c", "a/b", "a/bx", "a/b/c/d", "a/b/c_1", "a/b/", "a/b/_1", "A/B_1", "a//b", "a/b/c/d_1"]);
        for n in ["a", "a/b/c/d_1", "A/BX", "a//b", "a/b/"] {
            assert_eq!(t.is_used(n), n != "a", "{n}");
        }
        assert!(!t.is_used("a/b/c/d/e") && !t.is_used("a/") && !t.is_used(""));
        assert_eq!(t.unique_name("", &mut u), "");
        assert_eq!(t.unique_name("", &mut u), "_1");
        assert!(t.is_used(""));
    }

    #[test]
    fn a_scope_with_many_names_switches_to_its_index() {
        let mut t = NameTable::default();
        for i in 0..3 * LIST_MAX {
            assert_eq!(t.reserve(&format!("s/v{i}"), None), 0);
            // Every earlier sibling still found, before and after the switch.
            assert!((0..=i).all(|k| t.is_used(&format!("S/V{k}"))), "after {i}");
            assert!(!t.is_used(&format!("s/v{}", i + 1)));
        }
        assert_eq!(t.reserve("s/v3", None), 1);
        assert_eq!(t.reserve(&format!("s/v{}", LIST_MAX), None), 1);
        assert!(t.is_used("s/v3_1") && !t.is_used("s/v4_1"));
    }

    #[test]
    fn non_ascii_names_are_lower_cased_as_a_whole() {
        let mut t = NameTable::default();
        let mut u = Vec::new();
        assert_eq!(t.unique_name("Ä/Ω", &mut u), "Ä/Ω");
        assert_eq!(t.unique_name("ä/ω", &mut u), "ä/ω_1");
        assert!(t.is_used("Ä/Ω_1") && !t.is_used("ä"));
    }

    #[test]
    fn validation() {
        assert!(validate_scope_name("_foo", true).is_err());
        assert!(validate_scope_name("_foo", false).is_ok());
        assert!(validate_scope_name("a b", false).is_err());
        assert!(validate_scope_name(".a-b>c\\d/e", true).is_ok());
    }
}
