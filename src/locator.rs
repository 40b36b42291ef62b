//! `Locator`: line and column of every block-style mapping key in a YAML
//! text, so profile errors can point at the line that caused them.
//!
//! yaml_serde reports positions only for syntax errors and for the start of
//! the enclosing mapping, and it silently keeps the last of two duplicate
//! keys. Profiles are small, hand-written, block-style YAML, so a line
//! scanner recovers both. Flow-style mappings (`{a: 1}`) are not scanned;
//! errors in them fall back to naming the key.

use std::borrow::Cow;

/// Where one mapping key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAt {
    pub line: usize,
    pub column: usize,
}

/// Separates a path's keys in the index (a key cannot hold a NUL that
/// matters here: the profile checks reject such keys anyway).
const SEP: char = '\0';

#[derive(Debug, Default)]
pub struct Locator {
    /// Every key's occurrences in file order, by its path from the
    /// document root joined with `SEP` (one string per key, one lookup
    /// per entry: large profiles stay linear and cheap).
    keys: rustc_hash::FxHashMap<String, Vec<KeyAt>>,
}

impl Locator {
    pub fn scan(text: &str) -> Locator {
        let mut keys: rustc_hash::FxHashMap<String, Vec<KeyAt>> = Default::default();
        // The mappings we are inside: their indents, and their keys
        // joined in `path` (`ends[i]` is where key i ends in it).
        let mut indents: Vec<usize> = Vec::new();
        let mut ends: Vec<usize> = Vec::new();
        let mut path = String::new();
        // Indent of a key whose value is a block scalar (`|` or `>`).
        let mut block_scalar: Option<usize> = None;
        for (idx, raw) in text.lines().enumerate() {
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let content = raw[indent..].trim_end();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if let Some(owner) = block_scalar {
                if indent > owner {
                    continue;
                }
                block_scalar = None;
            }
            if is_marker_or_item(content) {
                continue;
            }
            let Some((key, rest)) = split_key(content) else {
                continue;
            };
            while indents.last().is_some_and(|i| *i >= indent) {
                indents.pop();
                ends.pop();
            }
            path.truncate(ends.last().copied().unwrap_or(0));
            if !ends.is_empty() {
                path.push(SEP);
            }
            path.push_str(&key);
            let at = KeyAt {
                line: idx + 1,
                column: indent + 1,
            };
            match keys.get_mut(path.as_str()) {
                Some(v) => v.push(at),
                None => {
                    keys.insert(path.clone(), vec![at]);
                }
            }
            let rest = strip_comment(rest).trim();
            if rest.is_empty() {
                indents.push(indent);
                ends.push(path.len());
            } else if rest.starts_with('|') || rest.starts_with('>') {
                block_scalar = Some(indent);
            }
        }
        Locator { keys }
    }

    /// The `nth` (0-based) occurrence of the key at `path`.
    pub fn find(&self, path: &[&str], nth: usize) -> Option<&KeyAt> {
        let mut joined = String::with_capacity(path.iter().map(|p| p.len() + 1).sum());
        for (i, p) in path.iter().enumerate() {
            if i > 0 {
                joined.push(SEP);
            }
            joined.push_str(p);
        }
        self.keys.get(&joined).and_then(|v| v.get(nth))
    }
}

/// The first top-level occurrence of `key`: what `Locator::scan(text)
/// .find(&[key], 0)` gives, without indexing every key. A top-level key
/// starts its line in block style, and a line at indent 0 is never inside
/// a nested mapping or a block scalar.
pub fn top_level(text: &str, key: &str) -> Option<KeyAt> {
    text.lines().enumerate().find_map(|(idx, raw)| {
        let content = raw.trim_end();
        let skip =
            content.is_empty() || content.starts_with([' ', '#']) || is_marker_or_item(content);
        let (found, _) = if skip { None } else { split_key(content) }?;
        (found == key).then_some(KeyAt {
            line: idx + 1,
            column: 1,
        })
    })
}

/// A document marker (`---`, `...`) or a sequence item: no key to index.
fn is_marker_or_item(content: &str) -> bool {
    content.starts_with("---")
        || content.starts_with("...")
        || content.starts_with("- ")
        || content == "-"
}

/// Splits `key: rest` (plain, single- or double-quoted key).
fn split_key(content: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = if let Some(q @ ('"' | '\'')) = content.chars().next() {
        let end = closing_quote(content, q)?;
        let inner = &content[1..end];
        let key = if q == '"' {
            Cow::Owned(unescape(inner))
        } else {
            Cow::Owned(inner.replace("''", "'"))
        };
        (key, content[end + 1..].trim_start())
    } else {
        if content.starts_with(['{', '[', '&', '*', '!', '|', '>']) {
            return None;
        }
        let mut colon = None;
        for (i, c) in content.char_indices() {
            if c == '#' && i > 0 && content[..i].ends_with(' ') {
                break;
            }
            if c == ':'
                && content[i + 1..]
                    .chars()
                    .next()
                    .is_none_or(|n| n == ' ' || n == '\t')
            {
                colon = Some(i);
                break;
            }
        }
        let i = colon?;
        return Some((Cow::Borrowed(content[..i].trim_end()), &content[i + 1..]));
    };
    after.strip_prefix(':').map(|rest| (key, rest))
}

/// The index of the quote that closes a key opened with `q` at 0.
fn closing_quote(content: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in content.char_indices().skip(1) {
        match c {
            '\\' if q == '"' && !escaped => escaped = true,
            c if c == q && !escaped => {
                // '' inside single quotes is an escaped quote.
                if q == '\'' && content[i + 1..].starts_with('\'') {
                    continue;
                }
                return Some(i);
            }
            _ => escaped = false,
        }
    }
    None
}

/// YAML double-quoted escapes, the common ones (enough to locate a key).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('e') => out.push('\x1b'),
            Some('a') => out.push('\x07'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.extend(u8::from_str_radix(&hex, 16).ok().map(char::from));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn strip_comment(s: &str) -> &str {
    match s.find(" #") {
        Some(i) => &s[..i],
        None if s.starts_with('#') => "",
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# comment
description: |
  text with: a colon
  more: text
sysctls:
  net.core.somaxconn: 8192   # c
  'tcp_synack_retries': 2
  tcp_keepalive_time:
    value: 600
    why: \"x: y\"
  net.core.somaxconn: 1
extends: kernel-defaults
";

    #[test]
    fn finds_nested_keys_and_skips_block_scalars() {
        let l = Locator::scan(TEXT);
        assert_eq!(
            l.find(&["sysctls", "net.core.somaxconn"], 0)
                .map(|k| (k.line, k.column)),
            Some((6, 3))
        );
        assert_eq!(
            l.find(&["sysctls", "tcp_synack_retries"], 0)
                .map(|k| k.line),
            Some(7)
        );
        assert_eq!(
            l.find(&["sysctls", "tcp_keepalive_time", "why"], 0)
                .map(|k| k.line),
            Some(10)
        );
        assert_eq!(l.find(&["extends"], 0).map(|k| k.line), Some(12));
        assert!(l.find(&["description", "text with"], 0).is_none());
        assert!(l.find(&["more"], 0).is_none());
    }

    #[test]
    fn top_level_agrees_with_the_full_scan() {
        let texts = [
            TEXT,
            "extends: a\nextends: b\n",
            "sysctls:\n  extends: nested\n\"extends\": quoted\n",
            "description: |\n  extends: inside a block scalar\n---\n'extends': x\n",
            "- extends: in a sequence\n# extends: comment\n",
            "description: no such key\n",
        ];
        for text in texts {
            let full = Locator::scan(text);
            for key in ["extends", "sysctls", "description"] {
                assert_eq!(
                    top_level(text, key),
                    full.find(&[key], 0).copied(),
                    "{text:?} {key}"
                );
            }
        }
        assert_eq!(top_level(texts[2], "extends").map(|k| k.line), Some(3));
        assert_eq!(top_level(texts[3], "extends").map(|k| k.line), Some(4));
        assert_eq!(top_level(texts[4], "extends"), None);
    }
}
