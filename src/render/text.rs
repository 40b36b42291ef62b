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
    let line_len = visible_len(prefix);
    if let Some(spaced) = printable_ascii(text) {
        // A column a byte, and the words are what split_whitespace would
        // give (found byte by byte). As below, a text with a run of spaces
        // is always laid out again, which closes the run up.
        if !spaced && line_len + text.len() <= width {
            out.push_str(text);
        } else {
            lay_out(
                out,
                start,
                text.split_ascii_whitespace(),
                str::len,
                line_len,
                rest,
                width,
            );
        }
    } else if line_len + visible_len(text) <= width
        && !text.contains(['\n', '\t'])
        && !text.contains("  ")
    {
        // Most lines fit: skip the word splitting.
        out.push_str(text);
    } else {
        lay_out(
            out,
            start,
            text.split_whitespace(),
            visible_len,
            line_len,
            rest,
            width,
        );
    }
    truncate_end(out, start);
}

/// `n` in decimal, right-aligned in `width` columns (`{n:>width}`, without
/// the formatting machinery: `files` numbers 100,000 lines).
pub(super) fn push_right_aligned(out: &mut String, mut n: u32, width: usize) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = &digits[start..];
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(digits.len())));
    out.extend(digits.iter().map(|&d| char::from(d)));
}

/// For printable ASCII text (the only white space in it is the space),
/// whether it holds a run of two or more spaces; `None` for other text.
fn printable_ascii(text: &str) -> Option<bool> {
    let mut spaced = false;
    let mut after_space = false;
    for &b in text.as_bytes() {
        if !(0x20..0x7f).contains(&b) {
            return None;
        }
        spaced |= b == b' ' && after_space;
        after_space = b == b' ';
    }
    Some(spaced)
}

/// Greedy wrapping of `words` after a first line already `line_len` wide;
/// `out[start..]` is this text's.
fn lay_out<'a>(
    out: &mut String,
    start: usize,
    words: impl Iterator<Item = &'a str>,
    width_of: impl Fn(&str) -> usize,
    mut line_len: usize,
    rest: usize,
    width: usize,
) {
    let mut fresh = true;
    let mut words = words.peekable();
    while let Some(word) = words.next() {
        // A unit stays on the line of its number ("2 h", "15 s").
        let unit = if word.ends_with(|c: char| c.is_ascii_digit()) {
            words.next_if(|w| is_unit(w))
        } else {
            None
        };
        let len = width_of(word) + unit.map_or(0, |u| 1 + width_of(u));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_right_aligned_as_format_does() {
        for n in [0, 7, 42, 99_999, 100_000, u32::MAX] {
            let mut out = String::new();
            push_right_aligned(&mut out, n, 5);
            assert_eq!(out, format!("{n:>5}"));
        }
    }

    /// `hang_into` as it was before its printable-ASCII path: the
    /// reference that path must match.
    fn hang_general(prefix: &str, text: &str, rest: usize, width: usize) -> String {
        let mut out = prefix.to_string();
        let line_len = visible_len(prefix);
        if line_len + visible_len(text) <= width
            && !text.contains(['\n', '\t'])
            && !text.contains("  ")
        {
            out.push_str(text);
        } else {
            let words = text.split_whitespace();
            lay_out(&mut out, 0, words, visible_len, line_len, rest, width);
        }
        truncate_end(&mut out, 0);
        out
    }

    #[test]
    fn printable_ascii_lays_out_as_the_general_path_does() {
        let words = [
            "net.ipv4.tcp_fin_timeout",
            "=",
            "15",
            "s",
            "(dead:",
            "overridden",
            "by",
            "/usr/lib/sysctl.d/9999-bench.conf:1)",
            "2",
            "h",
            "x",
            "min,",
            "ms",
            "[repeats",
        ];
        let gaps = [" ", " ", " ", "  ", "   "];
        for n in 1..400usize {
            // A deterministic mix of the words and gaps above, with a space
            // before or after the text now and then.
            let mut text = String::from(if n % 11 == 0 { " " } else { "" });
            for k in 0..n % 23 + 1 {
                if k > 0 {
                    text.push_str(gaps[(n + k * 3) % gaps.len()]);
                }
                text.push_str(words[(n * 7 + k * 5) % words.len()]);
            }
            if n % 13 == 0 {
                text.push(' ');
            }
            assert!(printable_ascii(&text).is_some());
            for width in [20, 40, 80, 200] {
                let mut fast = String::new();
                hang_into(&mut fast, "    12  ", &text, 9, width);
                assert_eq!(
                    fast,
                    hang_general("    12  ", &text, 9, width),
                    "{text:?} at {width}"
                );
            }
        }
        assert_eq!(printable_ascii("a b"), Some(false));
        assert_eq!(printable_ascii("a  b"), Some(true));
        assert_eq!(printable_ascii(" a "), Some(false));
        assert_eq!(printable_ascii("tab\there"), None);
        assert_eq!(printable_ascii("caf\u{e9}"), None);
    }
}
