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
    // Most lines fit: skip the word splitting.
    if visible_len(prefix) + visible_len(text) <= width
        && !text.contains(['\n', '\t'])
        && !text.contains("  ")
    {
        return format!("{prefix}{text}").trim_end().to_string();
    }
    let mut out = String::new();
    let mut line = prefix.to_string();
    let mut fresh = true;
    for word in glue_units(text) {
        let word = word.as_str();
        if !fresh && visible_len(&line) + 1 + visible_len(word) > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(rest);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    out.push_str(line.trim_end());
    out
}

/// Words of `text`, with a unit kept on the line of its number ("2 h",
/// "15 s") so durations never break across lines.
pub(super) fn glue_units(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        let bare = w.trim_end_matches([',', ';', ')', '.', ':']);
        let after_number = words
            .last()
            .is_some_and(|p| p.ends_with(|c: char| c.is_ascii_digit()));
        match words.last_mut() {
            Some(prev) if after_number && matches!(bare, "s" | "ms" | "min" | "h") => {
                prev.push(' ');
                prev.push_str(w);
            }
            _ => words.push(w.to_string()),
        }
    }
    words
}

/// Length on screen, not counting ANSI escape sequences.
pub(super) fn visible_len(s: &str) -> usize {
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
