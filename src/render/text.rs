//! Text layout for people: wrapping at 80 columns with hanging indents,
//! durations kept on one line, and widths that ignore colour escapes.

use super::sanitize::{all_printable_ascii, zero_bytes};

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
        } else if !spaced {
            lay_out_single_spaced(out, text, line_len, rest, width);
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
/// Eight bytes at a time: this runs for every line `files` prints.
fn printable_ascii(text: &str) -> Option<bool> {
    const SPACES: u64 = 0x2020_2020_2020_2020;
    let bytes = text.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    let mut spaced = false;
    let mut last_was_space = false;
    for chunk in chunks.by_ref() {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if !all_printable_ascii(w) {
            return None;
        }
        let spaces = zero_bytes(w ^ SPACES);
        // Two spaces side by side in the chunk, or across its start.
        spaced |= spaces & (spaces >> 8) != 0 || (last_was_space && spaces & 0x80 != 0);
        last_was_space = spaces >> 56 != 0;
    }
    for &b in chunks.remainder() {
        if !(0x20..0x7f).contains(&b) {
            return None;
        }
        spaced |= b == b' ' && last_was_space;
        last_was_space = b == b' ';
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

/// `lay_out` for printable ASCII text whose words are separated by single
/// spaces (most of `files`' 100,000 lines, which need wrapping): what goes
/// on one line is then a slice of the text as it is, copied once, and the
/// words are found in one pass over the bytes. The words, and the units
/// kept with their numbers, are those `lay_out` takes, so the lines are.
fn lay_out_single_spaced(
    out: &mut String,
    text: &str,
    mut line_len: usize,
    rest: usize,
    width: usize,
) {
    let text = text.trim_matches(' ');
    let bytes = text.as_bytes();
    let word_end = |from: usize| {
        let mut end = from;
        while end < bytes.len() && bytes[end] != b' ' {
            end += 1;
        }
        end
    };
    let (mut line_start, mut line_end) = (0, 0);
    let mut fresh = true;
    let mut at = 0;
    while at < bytes.len() {
        let mut end = word_end(at);
        // A unit stays on the line of its number ("2 h", "15 s").
        if bytes[end - 1].is_ascii_digit() && end < bytes.len() {
            let unit_end = word_end(end + 1);
            if is_unit(&text[end + 1..unit_end]) {
                end = unit_end;
            }
        }
        let len = end - at;
        if !fresh && line_len + 1 + len > width {
            out.push_str(&text[line_start..line_end]);
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', rest));
            line_len = rest;
            fresh = true;
        }
        if fresh {
            line_start = at;
        } else {
            line_len += 1;
        }
        line_end = end;
        line_len += len;
        fresh = false;
        at = end + 1;
    }
    out.push_str(&text[line_start..line_end]);
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

    /// `printable_ascii` a byte at a time.
    fn printable_ascii_bytewise(text: &str) -> Option<bool> {
        let b = text.as_bytes();
        if !b.iter().all(|c| (0x20..0x7f).contains(c)) {
            return None;
        }
        Some(b.windows(2).any(|w| w == b"  "))
    }

    #[test]
    fn printable_ascii_eight_bytes_at_a_time_is_exact() {
        // Every arrangement of letters and spaces up to 14 bytes.
        for len in 0..=14 {
            for bits in 0u32..1 << len {
                let text: String = (0..len)
                    .map(|k| if bits >> k & 1 == 1 { ' ' } else { 'a' })
                    .collect();
                assert_eq!(
                    printable_ascii(&text),
                    printable_ascii_bytewise(&text),
                    "{text:?}"
                );
            }
        }
        // Every character below 0x100 at every place of a 17-byte text.
        for c in (0u32..0x100).filter_map(char::from_u32) {
            for at in 0..17 {
                let mut text: String = "ab cd  ef gh ij k".chars().take(at).collect();
                text.push(c);
                text.extend("ab cd  ef gh ij k".chars().skip(at + 1));
                assert_eq!(
                    printable_ascii(&text),
                    printable_ascii_bytewise(&text),
                    "{text:?}"
                );
            }
        }
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
            // The same words single-spaced: the path most lines take.
            let single = text.split_whitespace().collect::<Vec<_>>().join(" ");
            for text in [&text, &single] {
                for width in [20, 40, 80, 200] {
                    for prefix in ["    12  ", "", "a prefix wider than twenty:  "] {
                        let mut fast = String::new();
                        hang_into(&mut fast, prefix, text, 9, width);
                        assert_eq!(
                            fast,
                            hang_general(prefix, text, 9, width),
                            "{text:?} at {width} after {prefix:?}"
                        );
                    }
                }
            }
        }
        // Runs of consecutive words: a number right before its unit
        // ("15 s", "2 h"), wherever a line may break.
        for first in 0..words.len() {
            for count in 1..=words.len() {
                let text = (first..first + count)
                    .map(|k| words[k % words.len()])
                    .collect::<Vec<_>>()
                    .join(" ");
                for width in 10..=60 {
                    let mut fast = String::new();
                    hang_into(&mut fast, "  ", &text, 4, width);
                    assert_eq!(
                        fast,
                        hang_general("  ", &text, 4, width),
                        "{text:?} at {width}"
                    );
                }
            }
        }
        assert_eq!(printable_ascii("a b"), Some(false));
        assert_eq!(printable_ascii("a  b"), Some(true));
        assert_eq!(printable_ascii(" a "), Some(false));
        assert_eq!(printable_ascii("tab\there"), None);
        assert_eq!(printable_ascii("caf\u{e9}"), None);
    }
}
