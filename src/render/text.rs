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
    out.push_str(prefix);
    // Most lines fit: skip the word splitting.
    if visible_len(prefix) + visible_len(text) <= width
        && !text.contains(['\n', '\t'])
        && !text.contains("  ")
    {
        out.push_str(text);
        truncate_end(&mut out);
        return out;
    }
    let mut line_len = visible_len(prefix);
    let mut fresh = true;
    for word in glue_units(text) {
        let len = visible_len(&word);
        if !fresh && line_len + 1 + len > width {
            truncate_end(&mut out);
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', rest));
            line_len = rest;
            fresh = true;
        }
        if !fresh {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(&word);
        line_len += len;
        fresh = false;
    }
    truncate_end(&mut out);
    out
}

/// Drops trailing white space in place.
fn truncate_end(s: &mut String) {
    let kept = s.trim_end().len();
    s.truncate(kept);
}

/// Words of `text`, with a unit kept on the line of its number ("2 h",
/// "15 s") so durations never break across lines.
pub(super) fn glue_units(text: &str) -> Vec<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    let mut words: Vec<Cow<'_, str>> = Vec::new();
    for w in text.split_whitespace() {
        let bare = w.trim_end_matches([',', ';', ')', '.', ':']);
        let after_number = words
            .last()
            .is_some_and(|p| p.ends_with(|c: char| c.is_ascii_digit()));
        match words.last_mut() {
            Some(prev) if after_number && matches!(bare, "s" | "ms" | "min" | "h") => {
                let joined = prev.to_mut();
                joined.push(' ');
                joined.push_str(w);
            }
            _ => words.push(Cow::Borrowed(w)),
        }
    }
    words
}

/// Length on screen, not counting ANSI escape sequences.
pub(super) fn visible_len(s: &str) -> usize {
    if s.is_ascii() && !s.as_bytes().contains(&0x1b) {
        return s.len();
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
