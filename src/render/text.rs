//! Text layout for people: wrapping at 80 columns with hanging indents,
//! durations kept on one line, and widths that ignore colour escapes.

pub(super) fn first_sentence(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(i) => line[..=i].to_string(),
        None => line.to_string(),
    }
}

/// Wraps `text` to `width` columns, every line indented by `indent`.
pub fn wrap(text: &str, indent: usize, width: usize) -> String {
    hang(&" ".repeat(indent), text, indent, width)
}

/// Wraps `text` after `prefix` (kept as is, alignment spaces included),
/// continuation lines indented by `rest`.
pub(super) fn hang(prefix: &str, text: &str, rest: usize, width: usize) -> String {
    let mut out = String::with_capacity(prefix.len() + text.len() + 8);
    hang_into(&mut out, prefix, text, rest, width);
    out
}

/// `hang`, appended to `out` (no allocation of its own: `files` lays out
/// 100,000 lines this way).
pub(super) fn hang_into(out: &mut String, prefix: &str, text: &str, rest: usize, width: usize) {
    let start = out.len();
    out.push_str(prefix);
    let mut line_len = visible_len(prefix);
    // Most lines fit: skip the word splitting.
    if line_len + visible_len(text) <= width && !text.contains(['\n', '\t']) && !text.contains("  ")
    {
        out.push_str(text);
        truncate_end(out, start);
        return;
    }
    let mut fresh = true;
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        // A unit stays on the line of its number ("2 h", "15 s").
        let unit = if word.ends_with(|c: char| c.is_ascii_digit()) {
            words.next_if(|w| is_unit(w))
        } else {
            None
        };
        let len = visible_len(word) + unit.map_or(0, |u| 1 + visible_len(u));
        if !fresh && line_len + 1 + len > width {
            truncate_end(out, start);
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', rest));
            line_len = rest;
            fresh = true;
        }
        if !fresh {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        if let Some(u) = unit {
            out.push(' ');
            out.push_str(u);
        }
        line_len += len;
        fresh = false;
    }
    truncate_end(out, start);
}

/// Drops trailing white space in place, never before `start`.
fn truncate_end(s: &mut String, start: usize) {
    let kept = start + s[start..].trim_end().len();
    s.truncate(kept);
}

/// A time unit, with the punctuation that may follow it.
fn is_unit(word: &str) -> bool {
    matches!(
        word.trim_end_matches([',', ';', ')', '.', ':']),
        "s" | "ms" | "min" | "h"
    )
}

/// Length on screen, not counting ANSI escape sequences.
pub(super) fn visible_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    if s.is_ascii() {
        if !bytes.contains(&0x1b) {
            return bytes.len();
        }
        // Byte by byte: ASCII is one column a byte, and an escape runs to
        // its final 'm'.
        let mut n = 0;
        let mut in_escape = false;
        for &b in bytes {
            match (in_escape, b) {
                (false, 0x1b) => in_escape = true,
                (true, b'm') => in_escape = false,
                (true, _) => {}
                (false, _) => n += 1,
            }
        }
        return n;
    }
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}
