//! The one sanitiser for text shown to a person. Profiles, sysctl.d files,
//! file names, kernel values and error messages can all carry control
//! characters; on a terminal an escape sequence could move the cursor and
//! hide a row of the plan a reviewer is asked to approve (the class of
//! kubectl's CVE-2021-25743). So every such character is shown escaped
//! (`\x1b[3F`), never interpreted, whether or not stdout is a terminal.
//! JSON is not touched here: serde escapes control characters exactly.
//!
//! Two layers: `clean` for each untrusted string as a view composes its
//! text, and `guard`, which `Renderer::emit` runs over the whole text and
//! which lets through only newlines and tcptune's own colour codes.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that reorder or break text without being C0/C1 controls:
/// bidirectional overrides and isolates ("Trojan Source"), and the
/// Unicode line and paragraph separators.
fn is_invisible_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Whether `c` must be escaped before reaching a terminal.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_invisible_control(c)
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `s` with every control character escaped (newlines too): for one-line
/// fields such as a key, a value, a `why` or a file name.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A character for a message: `'x'`, or its escape (`\x1b`).
pub fn quoted_char(c: char) -> String {
    if is_unsafe(c) {
        let mut s = String::new();
        escape_into(&mut s, c);
        s
    } else {
        format!("'{c}'")
    }
}

/// The colour codes tcptune itself emits (anstyle's SGR for bold, dim,
/// red, green, yellow, and reset). Nothing else may pass.
const OWN_SGR: [&str; 6] = [
    "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m",
];

/// 0x80 in each byte of `x` that is zero, and nowhere else (eight bytes
/// compared at once: the guard and text layout read every line so).
pub(super) fn zero_bytes(x: u64) -> u64 {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((x & LOW) + LOW) | x | LOW)
}

/// Whether each of the eight bytes in `x` is in 0x20..0x7f.
pub(super) fn all_printable_ascii(x: u64) -> bool {
    // Below 0x20 the top three bits are clear; from 0x80 the high bit is
    // set; 0x7f is the one left.
    let below_space = zero_bytes(x & 0xe0e0_e0e0_e0e0_e0e0);
    let del_or_high = (x & 0x8080_8080_8080_8080) | zero_bytes(x ^ 0x7f7f_7f7f_7f7f_7f7f);
    below_space | del_or_high == 0
}

/// The last line of defence, over a whole composed text: keeps newlines
/// and tcptune's own colour codes, escapes every other control character.
pub fn guard(text: &str) -> Cow<'_, str> {
    let unsafe_at = |i: usize, c: char| {
        c != '\n'
            && is_unsafe(c)
            && !(c == '\x1b' && OWN_SGR.iter().any(|s| text[i..].starts_with(s)))
    };
    // Fast path, byte by byte: printable ASCII and newlines are safe; any
    // other byte (ESC, other controls, non-ASCII) is looked at as a char.
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut clean_so_far = true;
    while i < bytes.len() {
        // Eight bytes at a time while they are all printable ASCII (the
        // whole of a 10 MB `files` listing but its newlines).
        if let Some(chunk) = bytes.get(i..i + 8)
            && all_printable_ascii(u64::from_ne_bytes(chunk.try_into().expect("8 bytes")))
        {
            i += 8;
            continue;
        }
        let b = bytes[i];
        if (0x20..0x7f).contains(&b) || b == b'\n' {
            i += 1;
            continue;
        }
        let c = text[i..].chars().next().expect("a char boundary");
        if unsafe_at(i, c) {
            clean_so_far = false;
            break;
        }
        i += c.len_utf8();
    }
    if clean_so_far {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, c) in text.char_indices() {
        if unsafe_at(i, c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` without tcptune's own colour codes, for a destination without
/// colour. Only after `guard`: every ESC left then starts one of them.
pub fn strip_sgr(text: &str) -> Cow<'_, str> {
    if !text.as_bytes().contains(&0x1b) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        match OWN_SGR.iter().find(|s| after.starts_with(**s)) {
            Some(sgr) => rest = &after[sgr.len()..],
            None => {
                // Not ours (cannot happen after guard): kept, escaped.
                out.push_str("\\x1b");
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_shown_not_interpreted() {
        assert_eq!(clean("ok\x1b[3F\x1b[2Kgone"), "ok\\x1b[3F\\x1b[2Kgone");
        assert_eq!(clean("a\rb\0c\nd\u{202e}e"), "a\\rb\\0c\\nd\\u{202e}e");
        assert_eq!(clean("\u{9b}31m"), "\\x9b31m");
        assert!(matches!(clean("plain text, ünïcode"), Cow::Borrowed(_)));
    }

    #[test]
    fn own_colours_are_stripped_for_a_pipe() {
        assert_eq!(
            strip_sgr("\x1b[1mbold\x1b[0m and \x1b[31mred\x1b[0m"),
            "bold and red"
        );
        assert!(matches!(strip_sgr("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_guard_keeps_only_newlines_and_own_colours() {
        let ours = "\x1b[1mbold\x1b[0m\nnext";
        assert_eq!(guard(ours), ours);
        // Every byte value, at every offset of an eight-byte chunk.
        for b in 0..=0x7fu8 {
            for at in 0..8 {
                let mut text = [b'a'; 17];
                text[at + 4] = b;
                let text = std::str::from_utf8(&text).unwrap();
                let plain = (0x20..0x7f).contains(&b) || b == b'\n';
                assert_eq!(
                    matches!(guard(text), Cow::Borrowed(_)),
                    plain,
                    "{b:#x} at {at}"
                );
            }
        }
        assert_eq!(guard("row\x1b[3F\x1b[8mx\r"), "row\\x1b[3F\\x1b[8mx\\r");
        assert_eq!(guard("\x1b]8;;http://x\x07"), "\\x1b]8;;http://x\\x07");
    }
}
