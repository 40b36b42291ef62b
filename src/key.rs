//! Sysctl keys as tcptune accepts them, at every entry point (a profile,
//! the command line, the state file): one dotted or slashed name that maps
//! to exactly one path below /proc/sys, and nothing else.
//!
//! The canonical spelling is dotted, with a slash standing for a dot inside
//! a name (`net.ipv4.conf.eth0/100.rp_filter`), so `net/core/somaxconn`,
//! `net.core.somaxconn` and `net.core/somaxconn` are one key and are
//! caught as duplicates. A leading separator, an empty or `..` segment, a
//! glob character, white space, `=` or a control character is refused:
//! each would make the file tcptune writes mean something else to a
//! loader than to a reviewer.

use std::fmt;

/// The longest key accepted (the longest real ones are under 100).
pub const MAX_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    Empty,
    TooLong,
    /// A control character, white space, `=`, or a glob character.
    BadCharacter(char),
    /// Starts or ends with a separator, or has an empty, `.` or `..` segment.
    BadSegment,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => f.write_str("an empty key"),
            KeyError::TooLong => write!(f, "longer than {MAX_LEN} characters"),
            KeyError::BadCharacter(c) => write!(
                f,
                "{} is not allowed in a key",
                crate::render::sanitize::quoted_char(*c)
            ),
            KeyError::BadSegment => f.write_str(
                "a key is names separated by '.' or '/', with no leading, trailing or doubled separator and no '..'",
            ),
        }
    }
}

/// The path of `key` below /proc/sys, by sysctl.d(5)'s rule: when the first
/// separator is a dot, dots separate and slashes stand for dots inside a
/// name (`net.ipv4.conf.eth0/100.rp_filter`); otherwise slashes separate.
/// Does not validate (see `canonical`).
pub fn to_path(key: &str) -> String {
    let key = key.trim_start_matches(['.', '/']);
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'.' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// The dotted spelling of a /proc/sys path.
pub fn from_path(path: &str) -> String {
    path.split('/')
        .map(|seg| seg.replace('.', "/"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Checks `text` and returns its canonical dotted spelling.
pub fn canonical(text: &str) -> Result<String, KeyError> {
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    if text.len() > MAX_LEN {
        return Err(KeyError::TooLong);
    }
    if let Some(c) = text.chars().find(|c| {
        c.is_control() || c.is_whitespace() || matches!(c, '=' | '*' | '?' | '[' | ']' | '\\')
    }) {
        return Err(KeyError::BadCharacter(c));
    }
    if text.starts_with(['.', '/']) || text.ends_with(['.', '/']) {
        return Err(KeyError::BadSegment);
    }
    // A loader reads a leading '#' or ';' as a comment and '-' as a flag.
    if let Some(c) = text
        .chars()
        .next()
        .filter(|c| !(c.is_alphanumeric() || *c == '_'))
    {
        return Err(KeyError::BadCharacter(c));
    }
    let path = to_path(text);
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(KeyError::BadSegment);
    }
    Ok(from_path(&path))
}

/// Whether a (canonical) key is one of the kernel's networking keys, the
/// only ones a profile may set without opting in.
pub fn is_net(key: &str) -> bool {
    key.starts_with("net.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_and_slashes_follow_sysctl_d() {
        assert_eq!(to_path("net.core.somaxconn"), "net/core/somaxconn");
        assert_eq!(
            to_path("net.ipv4.conf.eth0/100.rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            to_path("net/ipv4/conf/eth0.100/rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
    }

    #[test]
    fn every_spelling_has_one_canonical_form() {
        for k in ["net.core.somaxconn", "net/core/somaxconn"] {
            assert_eq!(canonical(k).unwrap(), "net.core.somaxconn");
        }
        assert_eq!(
            canonical("net/ipv4/conf/eth0.100/rp_filter").unwrap(),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
    }

    #[test]
    fn keys_stay_below_proc_sys_and_on_one_line() {
        for bad in [
            "net/../../etc/passwd",
            "net..core",
            "a b",
            "",
            "net.core.",
            "/kernel/core_pattern",
            ".kernel.core_pattern",
            "net.ipv4.x\r",
            "net.ipv4.x\0",
            "net.ipv4.*",
            "net.ipv4.x=1",
            "net/./core",
            "#net.ipv4.x",
            "-net.ipv4.x",
            ";net.ipv4.x",
        ] {
            assert!(canonical(bad).is_err(), "{bad:?}");
        }
        assert!(is_net("net.ipv4.tcp_syn_retries"));
        assert!(!is_net("kernel.core_pattern") && !is_net("network.x"));
    }
}
