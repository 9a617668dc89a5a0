//! `get_collection(key, scope)`'s filter (catalogue I7): TensorFlow keeps the items for
//! which `re.match(scope, item.name)` succeeds, a regular expression matched at the
//! start of the name. A scope's own filter is its name plus `/`, and a scope name is
//! made of `[A-Za-z0-9_.\\/>-]`, so the only regular-expression syntax it can hold is
//! `.` and backslash escapes; this module implements exactly those, with Python's
//! meaning:
//!
//! - `.` is any character but a newline;
//! - `\d` `\D` `\w` `\W` `\s` `\S` are the (Unicode) digit, word and space classes and
//!   their complements; `\b` `\B` a word boundary or not; `\A` the start, `\Z` the end;
//! - `\a` `\f` `\n` `\r` `\t` `\v` are those control characters, `\0` (up to two more
//!   octal digits) or three octal digits an octal escape, `\xhh` `\uhhhh` `\Uhhhhhhhh`
//!   a character by its code;
//! - a backslash before any other character that is not an ASCII letter or digit is
//!   that character.
//!
//! Everything else is literal. Where Python's `re` rejects the pattern (a group
//! reference such as `\1`, which has no group to refer to, an unknown letter escape
//! such as `\q`, a `\` at the end), the pattern matches nothing.

/// One element of a pattern.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    /// One given character.
    Char(char),
    /// `.`: any character but a newline.
    Any,
    /// A character class, or its complement when `negated`.
    Class { class: Class, negated: bool },
    /// `\b` (`true`) or `\B` (`false`): zero-width.
    Boundary(bool),
    /// `\A`: zero-width, the start of the text.
    Start,
    /// `\Z`: zero-width, the end of the text.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Class {
    Digit,
    Word,
    Space,
}

impl Class {
    fn contains(self, c: char) -> bool {
        match self {
            Class::Digit => c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric()),
            Class::Word => is_word(c),
            Class::Space => c.is_whitespace(),
        }
    }
}

fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// A parsed `re.match` pattern of scope-name syntax (see the module docs). `None`
/// inside: a pattern Python's `re` rejects, which matches nothing.
pub(crate) struct ScopePattern(Option<Vec<Tok>>);

impl ScopePattern {
    /// Parses `pattern`.
    pub(crate) fn new(pattern: &str) -> Self {
        ScopePattern(parse(pattern))
    }

    /// `re.match(pattern, text)`: whether the pattern matches a prefix of `text`.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let Some(toks) = &self.0 else { return false };
        let mut rest = text.chars();
        let mut prev = None;
        for &tok in toks {
            let next = rest.clone().next();
            let ok = match tok {
                Tok::Char(p) => next == Some(p),
                Tok::Any => next.is_some_and(|c| c != '\n'),
                Tok::Class { class, negated } => next.is_some_and(|c| class.contains(c) != negated),
                Tok::Boundary(want) => (prev.is_some_and(is_word) != next.is_some_and(is_word)) == want,
                Tok::Start => prev.is_none(),
                Tok::End => next.is_none(),
            };
            if !ok {
                return false;
            }
            if tok.consumes() {
                prev = rest.next();
            }
        }
        true
    }
}

impl Tok {
    /// Whether it matches a character (the zero-width ones match a position).
    fn consumes(self) -> bool {
        !matches!(self, Tok::Boundary(_) | Tok::Start | Tok::End)
    }
}

fn parse(pattern: &str) -> Option<Vec<Tok>> {
    let mut toks = Vec::with_capacity(pattern.len());
    let mut it = pattern.chars().peekable();
    while let Some(c) = it.next() {
        toks.push(match c {
            '.' => Tok::Any,
            '\\' => {
                let e = it.next()?; // a trailing backslash: "bad escape (end of pattern)"
                let class = |class, negated| Tok::Class { class, negated };
                match e {
                    'd' => class(Class::Digit, false),
                    'D' => class(Class::Digit, true),
                    'w' => class(Class::Word, false),
                    'W' => class(Class::Word, true),
                    's' => class(Class::Space, false),
                    'S' => class(Class::Space, true),
                    'b' => Tok::Boundary(true),
                    'B' => Tok::Boundary(false),
                    'A' => Tok::Start,
                    'Z' => Tok::End,
                    'a' => Tok::Char('\x07'),
                    'f' => Tok::Char('\x0c'),
                    'n' => Tok::Char('\n'),
                    'r' => Tok::Char('\r'),
                    't' => Tok::Char('\t'),
                    'v' => Tok::Char('\x0b'),
                    'x' => Tok::Char(hex(&mut it, 2)?),
                    'u' => Tok::Char(hex(&mut it, 4)?),
                    'U' => Tok::Char(hex(&mut it, 8)?),
                    '0'..='9' => Tok::Char(octal(e, &mut it)?),
                    e if e.is_ascii_alphanumeric() => return None, // "bad escape"
                    e => Tok::Char(e),
                }
            }
            c => Tok::Char(c),
        });
    }
    Some(toks)
}

/// `n` hex digits after `\x`, `\u` or `\U` (exactly `n`, as Python requires).
fn hex(it: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize) -> Option<char> {
    let mut v = 0u32;
    for _ in 0..n {
        v = v * 16 + it.next()?.to_digit(16)?;
    }
    char::from_u32(v)
}

/// A digit escape: `\0` with up to two more octal digits, or three octal digits, is an
/// octal escape (at most `\377`); any other is a group reference, and a scope pattern
/// has no groups.
fn octal(first: char, it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let is_octal = |c: &char| ('0'..='7').contains(c);
    let mut digits = vec![first];
    while digits.len() < 3 {
        match it.peek() {
            Some(c) if is_octal(c) && (first == '0' || c.is_ascii_digit()) => digits.push(it.next()?),
            _ => break,
        }
    }
    if first != '0' && (digits.len() < 3 || !digits.iter().all(is_octal)) {
        return None; // a group reference: "invalid group reference"
    }
    let v = digits.iter().try_fold(0u32, |v, d| Some(v * 8 + d.to_digit(8)?))?;
    // Python: "octal escape value ... outside of range 0-0o377".
    if v > 0o377 {
        return None;
    }
    char::from_u32(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        ScopePattern::new(pattern).matches(text)
    }

    #[test]
    fn literals_and_dot_match_a_prefix() {
        assert!(m("a.c/", "abc/v:0"));
        assert!(!m("a.c/", "a\nc/v:0"), "`.` is not a newline");
        assert!(!m("foo/", "foo_/v:0"));
        assert!(m("", "x"));
        assert!(!m("foo/", "foo"));
        assert!(m("a>b-c/", "a>b-c/v:0"));
    }

    #[test]
    fn escapes_have_pythons_meaning() {
        // (pattern, text, re.match(pattern, text) is not None), checked against
        // Python 3's `re`.
        let cases = [
            (r"x\d/", "x5/v:0", true),
            (r"x\d/", "xd/v:0", false),
            (r"x\D/", "xd/v:0", true),
            (r"\w\w/", "a_/v", true),
            (r"\w/", "-/v", false),
            (r"\W/", "-/v", true),
            (r"a\sb", "a b", true),
            (r"a\Sb", "a b", false),
            (r"\.x/", ".x/v", true),
            (r"\.x/", "ax/v", false),
            (r"a\\b/", "a\\b/v", true),
            (r"a\/b", "a/b", true),
            (r"a\>b\-c\_d", "a>b-c_d", true),
            (r"\Aab", "ab", true),
            (r"ab\Z", "ab", true),
            (r"ab\Z", "abc", false),
            (r"ab\b", "ab/c", true),
            (r"ab\b", "abc", false),
            (r"ab\B", "abc", true),
            (r"\x41\u0042\U00000043", "ABC", true),
            (r"\0", "\0", true),
            (r"\101", "A", true),
            (r"\t\n", "\t\n", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(m(p, t), want, "re.match({p:?}, {t:?})");
        }
    }

    #[test]
    fn patterns_python_rejects_match_nothing() {
        for p in [r"\q", r"a\", r"\1", r"\8", r"\x4", r"\400", r"\y/", r"\N"] {
            assert!(ScopePattern::new(p).0.is_none(), "{p:?} is an error in Python");
            assert!(!m(p, "q"), "{p:?}");
        }
    }
}
