//! `Error`: everything that can go wrong, with the facts a sysadmin needs to
//! fix it (file, line, column, key, what was expected) as structured fields,
//! and one `Display` that words them.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::catalog::Range;

/// Where in a profile a problem sits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// A path, or `built-in:NAME` for a profile compiled into the binary.
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        Ok(())
    }
}

/// One thing wrong with a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Empty,
    NotUtf8 {
        offset: usize,
    },
    Syntax(String),
    /// A structural error reported by the YAML deserializer (unknown or
    /// missing field, wrong shape), already worded.
    Shape(String),
    DuplicateKey {
        first_line: Option<usize>,
    },
    SameParameterTwice {
        other: String,
        other_line: Option<usize>,
    },
    UnknownKey {
        suggestion: Option<&'static str>,
        kernel_checked: bool,
    },
    WrongType {
        expected: String,
        found: String,
    },
    OutOfRange {
        value: String,
        range: Range,
        /// A seconds key: the kernel's own limit is INT_MAX/HZ, which
        /// depends on how it was built; the range is the one every kernel
        /// accepts.
        portable: bool,
    },
    AmbiguousOctal {
        text: String,
        octal: Option<i64>,
    },
    BoundsInverted {
        at_least: i64,
        at_most: i64,
    },
    PairOrder {
        low: i64,
        high: i64,
    },
    NoTarget,
    ValueAndBound,
    Removed {
        since: &'static str,
        why: &'static str,
        instead: &'static str,
    },
    BadName {
        name: String,
    },
    UnknownExtends {
        name: String,
    },
    ExtendsCycle {
        chain: Vec<String>,
    },
    BadKey(crate::key::KeyError),
    /// A key outside net.* without `allow_outside_net: true`.
    OutsideNet {
        key: String,
    },
    /// A value with a character no sysctl.d line can hold.
    UnsafeValue {
        text: String,
    },
    TooLarge {
        limit: usize,
    },
    TooDeep {
        limit: usize,
    },
    TooManyKeys {
        limit: usize,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Problem::*;
        match self {
            Empty => f.write_str("the file is empty; a profile needs at least `sysctls:`"),
            NotUtf8 { offset } => write!(f, "not valid UTF-8 (first bad byte at offset {offset})"),
            Syntax(msg) => write!(f, "YAML syntax error: {msg}"),
            Shape(msg) => f.write_str(msg),
            DuplicateKey {
                first_line: Some(l),
            } => write!(
                f,
                "duplicate key (first set on line {l}); YAML keeps only the last, so remove one"
            ),
            DuplicateKey { first_line: None } => {
                f.write_str("duplicate key; YAML keeps only the last, so remove one")
            }
            SameParameterTwice { other, other_line } => {
                write!(f, "the same parameter is already set as `{other}`")?;
                if let Some(l) = other_line {
                    write!(f, " on line {l}")?;
                }
                f.write_str("; keep one")
            }
            UnknownKey {
                suggestion,
                kernel_checked,
            } => {
                f.write_str("unknown key")?;
                if *kernel_checked {
                    f.write_str(
                        ": not in tcptune's catalog and not present under /proc/sys on this kernel",
                    )?;
                } else {
                    f.write_str(": not in tcptune's catalog")?;
                }
                if let Some(s) = suggestion {
                    write!(f, "; did you mean `{s}`?")?;
                }
                Ok(())
            }
            WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            OutOfRange {
                value,
                range,
                portable: false,
            } => write!(
                f,
                "{value} is outside the range the kernel accepts ({range})"
            ),
            OutOfRange {
                value,
                range,
                portable: true,
            } => write!(
                f,
                "{value} is outside {range}, the range every kernel accepts for a seconds key (INT_MAX/HZ: 2147483 at HZ=1000; a kernel built with a lower HZ accepts more, e.g. 8589934 at HZ=250, but nobody needs a timeout of 24 days)"
            ),
            AmbiguousOctal { text, octal } => {
                write!(
                    f,
                    "`{text}` has a leading zero, which the kernel reads as octal"
                )?;
                if let Some(v) = octal {
                    write!(f, " ({v})")?;
                }
                f.write_str("; write the number in decimal")
            }
            BoundsInverted { at_least, at_most } => write!(
                f,
                "at_least ({at_least}) is above at_most ({at_most}); no value can satisfy both"
            ),
            PairOrder { low, high } => {
                write!(f, "the low end ({low}) is above the high end ({high})")
            }
            NoTarget => f.write_str("expected `value`, `at_least` or `at_most`"),
            ValueAndBound => f.write_str(
                "`value` cannot be combined with `at_least` or `at_most`; use one or the bounds",
            ),
            Removed {
                since,
                why,
                instead,
            } => write!(f, "removed in {since}: {why}. Instead, {instead}"),
            BadName { name } => write!(
                f,
                "`{name}` is not a profile name: use letters, digits, '-', '_' and '.', without '/' or a leading '.'"
            ),
            UnknownExtends { name } => {
                write!(f, "extends unknown profile `{name}` (see `tcptune list`)")
            }
            ExtendsCycle { chain } => write!(f, "extends forms a cycle: {}", chain.join(" -> ")),
            BadKey(e) => write!(f, "not a sysctl key: {e}"),
            OutsideNet { key } => write!(
                f,
                "{key} is outside net.*: tcptune is a TCP tool and sets only net.* keys unless an entry opts in; to set it anyway, write `{key}: {{value: ..., allow_outside_net: true, why: ...}}` (diff marks such keys for review)"
            ),
            UnsafeValue { text } => write!(
                f,
                "the value {text} holds a control character; a sysctl.d line cannot carry it"
            ),
            TooLarge { limit } => write!(
                f,
                "larger than {} KiB; a profile is a short file",
                limit / 1024
            ),
            TooDeep { limit } => write!(
                f,
                "nested more than {limit} levels deep; a profile is at most 3 levels"
            ),
            TooManyKeys { limit } => write!(
                f,
                "more than {limit} entries; the kernel has fewer TCP settings than that"
            ),
        }
    }
}

/// A problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub at: Location,
    pub problem: Problem,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),

    #[error("no profile named `{name}` (looked in {}, and among the built-ins; see `tcptune list`)", .searched.display())]
    ProfileNotFound { name: String, searched: PathBuf },

    #[error(
        "`{name}` is not a profile name: use letters, digits, '-', '_' and '.', or give a path containing '/'"
    )]
    BadProfileName { name: String },

    #[error("`{name}` is neither a parameter in tcptune's catalog nor a profile{}", suggestion_text(.suggestion))]
    UnknownTopic {
        name: String,
        suggestion: Option<&'static str>,
    },

    #[error("cannot read {}: {}", .path.display(), io_meaning_at(.source, Some(.path)))]
    Io { path: PathBuf, source: io::Error },

    #[error("cannot write to standard output: {0}")]
    Output(io::Error),

    #[error("cannot write {value} to {key}: {}{}", write_meaning(.key, .source), write_hint(.source))]
    Write {
        key: String,
        value: String,
        source: io::Error,
    },

    #[error(
        "{key}: wrote {wrote} but the kernel reads back {got}; the kernel changed or refused the value"
    )]
    ReadBack {
        key: String,
        wrote: String,
        got: String,
    },

    #[error("cannot write {}: {}", .path.display(), io_meaning_at(.source, Some(.path)))]
    Persist { path: PathBuf, source: io::Error },

    #[error("another tcptune apply or revert is running (it holds {}{}); try again when it ends, or pass --wait", .path.display(), .holder.as_ref().map(|h| format!(": {h}")).unwrap_or_default())]
    Locked {
        path: PathBuf,
        holder: Option<String>,
    },

    #[error("{}: {why}; tcptune runs as root and takes no instructions from a {what} that others can change. Fix: {fix}", .path.display())]
    Untrusted {
        path: PathBuf,
        what: String,
        why: String,
        fix: String,
    },

    #[error("--file {}: {why}", clean_path(.path))]
    BadTarget { path: PathBuf, why: String },

    #[error("profile {profile}{}: {why}", if .key.is_empty() { String::new() } else { format!(", key {}", .key) })]
    Unrenderable {
        profile: String,
        key: String,
        why: String,
    },

    #[error("{what}: cannot write {}: {}; nothing was changed", .path.display(), io_meaning_at(.source, Some(.path)))]
    NotPermitted {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error(
        "no terminal to confirm on: pass --yes to {command} without asking (nothing was changed)"
    )]
    NoTerminal { command: &'static str },

    #[error("interrupted by {}: {}", signal_name(*.signal), rollback_text(.restored, .not_restored))]
    Interrupted {
        signal: i32,
        restored: usize,
        not_restored: Vec<String>,
    },

    #[error("{why}")]
    NoLiveKernel { why: String },

    #[error("cannot read {key}: {why}; its drift cannot be judged")]
    Unreadable { key: String, why: String },

    #[error("`{}` is not a sysctl key tcptune or this kernel knows{}", crate::render::sanitize::clean(.name), suggestion_text(.suggestion))]
    UnknownKey {
        name: String,
        suggestion: Option<&'static str>,
    },

    #[error("the boot view is unknown: {}", unknown_text(.files))]
    BootUnknown { files: Vec<(PathBuf, String)> },

    #[error("--netns {name}: not a network namespace")]
    NotANetns { name: String },

    #[error(
        "{what} conflicts with --netns without --root: another namespace's boot files are in its own root; pass --root for its file system, or use --live-only"
    )]
    NetnsPersist { what: &'static str },

    #[error("{}: {why}; move it aside to start afresh", .path.display())]
    BadState { path: PathBuf, why: String },

    #[error("{}", overridden_text(.file, .by))]
    Overridden {
        file: PathBuf,
        by: Vec<(String, String)>,
    },

    #[error("{failure}\n{}", rollback_text(.restored, .not_restored))]
    RolledBack {
        failure: Box<Error>,
        restored: usize,
        not_restored: Vec<String>,
    },

    #[error("--netns {name}: {}", netns_meaning(.name, .source))]
    Netns { name: String, source: io::Error },

    #[error("--format {format} is only for {only}, not {command}")]
    FormatNotFor {
        format: &'static str,
        only: &'static str,
        command: &'static str,
    },

    #[error("cannot list sockets through sock_diag (netlink): {}", io_meaning(.source))]
    SockDiag { source: io::Error },

    #[error("{} already exists; doctor never overwrites a profile: remove it or name another file", clean_path(.path))]
    Exists { path: PathBuf },
}

fn clean_path(p: &std::path::Path) -> String {
    crate::render::sanitize::clean(&p.display().to_string()).into_owned()
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

fn unknown_text(files: &[(PathBuf, String)]) -> String {
    files
        .iter()
        .map(|(p, why)| format!("{}: {why}", p.display()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn write_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(30) => "; nothing was changed that could not be undone",
        _ => "",
    }
}

/// A failed sysctl write: its errno once, with the hint for /proc/sys.
fn write_meaning(key: &str, e: &io::Error) -> String {
    if matches!(e.raw_os_error(), Some(13) | Some(1)) && !rustix::process::geteuid().is_root() {
        let base = io_meaning_at(e, None);
        let base = base.split(" (").next().unwrap_or(&base).to_string();
        return format!(
            "{base} (writing sysctls needs root: CAP_NET_ADMIN for this network namespace, CAP_SYS_ADMIN for global keys)"
        );
    }
    let path = std::path::Path::new("/proc/sys").join(crate::key::to_path(key));
    io_meaning_at(e, Some(&path))
}

fn overridden_text(file: &std::path::Path, by: &[(String, String)]) -> String {
    let mut t = format!("{} would not win at boot:", file.display());
    for (key, winner) in by {
        t.push_str(&format!("\n  {key} would load from {winner}"));
    }
    t.push_str("\nRemove those lines, or write to a file that sorts later (--file), or pass --force to write it anyway.");
    t
}

fn rollback_text(restored: &usize, not_restored: &[String]) -> String {
    if not_restored.is_empty() {
        format!(
            "Rolled back: {} restored; no file was written.",
            live_values(*restored)
        )
    } else {
        format!(
            "Rolled back {}, but could NOT restore: {}. Check them by hand.",
            live_values(*restored),
            not_restored.join(", ")
        )
    }
}

/// "1 live value", "4 live values".
pub fn live_values(n: usize) -> String {
    if n == 1 {
        "1 live value".into()
    } else {
        format!("{n} live values")
    }
}

fn join_lines(d: &[Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn suggestion_text(s: &Option<&'static str>) -> String {
    s.map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// An errno in words a sysadmin can act on, said once.
pub fn io_meaning(e: &io::Error) -> String {
    io_meaning_at(e, None)
}

/// `io_meaning` for an error on `path`: the hint fits the file (a
/// read-only /proc/sys is a container's; a read-only /etc is not) and the
/// user (permission denied to root is not "run as root").
pub fn io_meaning_at(e: &io::Error, path: Option<&std::path::Path>) -> String {
    let in_proc_sys = path.is_some_and(|p| p.starts_with("/proc/sys"));
    let root = rustix::process::geteuid().is_root();
    let hint = match e.raw_os_error() {
        Some(13) | Some(1) if root && in_proc_sys => {
            " (even as root: this key belongs to another namespace, or the container lacks CAP_NET_ADMIN or CAP_SYS_ADMIN)"
        }
        Some(13) | Some(1) if root => {
            " (even as root: a read-only bind mount, an immutable file, or a security module denies it)"
        }
        Some(13) | Some(1) => " (run as root, or check the file's permissions)",
        Some(30) if in_proc_sys || path.is_none() => {
            " (the file system is read-only; inside a container /proc/sys is often mounted read-only)"
        }
        Some(30) => " (the file system is read-only)",
        Some(22) => " (the kernel rejected the value)",
        Some(2) => " (it does not exist on this system)",
        Some(28) => " (the file system is full)",
        _ => "",
    };
    let base = e.to_string();
    let base = base.split(" (os error").next().unwrap_or(&base).to_string();
    format!("{base}{hint}")
}

fn netns_meaning(name: &str, e: &io::Error) -> String {
    if e.raw_os_error() == Some(2) && !name.contains('/') {
        format!(
            "no network namespace named {name} under /run/netns (`ip netns list` shows them; a container's is /proc/PID/ns/net)"
        )
    } else {
        io_meaning(e)
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// An error as JSON (`--format json`): a stable kind, the message, and
/// where it is when it is about a file.
#[derive(Debug, serde::Serialize)]
pub struct ErrorJson {
    pub kind: &'static str,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
}

impl Error {
    /// A stable name for each kind of error, for machines.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid-profile",
            Error::ProfileNotFound { .. } => "profile-not-found",
            Error::BadProfileName { .. } => "bad-profile-name",
            Error::UnknownTopic { .. } => "unknown-topic",
            Error::UnknownKey { .. } => "unknown-key",
            Error::Io { .. } => "io",
            Error::Output(_) => "output",
            Error::Write { .. } => "write",
            Error::ReadBack { .. } => "read-back",
            Error::Persist { .. } => "persist",
            Error::Locked { .. } => "locked",
            Error::Untrusted { .. } => "untrusted",
            Error::BadTarget { .. } => "bad-target",
            Error::Unrenderable { .. } => "unrenderable",
            Error::NotPermitted { .. } => "not-permitted",
            Error::NoTerminal { .. } => "no-terminal",
            Error::Interrupted { .. } => "interrupted",
            Error::NoLiveKernel { .. } => "no-live-kernel",
            Error::Unreadable { .. } => "unreadable",
            Error::BootUnknown { .. } => "boot-unknown",
            Error::NotANetns { .. } | Error::Netns { .. } => "netns",
            Error::NetnsPersist { .. } => "netns-persist",
            Error::BadState { .. } => "bad-state",
            Error::Overridden { .. } => "overridden-at-boot",
            Error::RolledBack { .. } => "rolled-back",
            Error::FormatNotFor { .. } => "usage",
            Error::SockDiag { .. } => "sock-diag",
            Error::Exists { .. } => "exists",
        }
    }

    /// Every problem as its own JSON error (a profile error lists several).
    pub fn diagnostics_json(&self) -> Vec<ErrorJson> {
        match self {
            Error::Invalid(ds) => ds
                .iter()
                .map(|d| ErrorJson {
                    kind: "invalid-profile",
                    message: d.to_string(),
                    file: Some(d.at.file.clone()),
                    line: d.at.line,
                    column: d.at.column,
                    key: d.at.key.clone(),
                })
                .collect(),
            e => vec![e.to_json()],
        }
    }

    /// The error for a JSON document: the first problem's place, for a
    /// profile error; the path, for a file error.
    pub fn to_json(&self) -> ErrorJson {
        let (mut file, mut line, mut column, mut key) = (None, None, None, None);
        match self {
            Error::Invalid(d) => {
                if let Some(first) = d.first() {
                    file = Some(first.at.file.clone());
                    line = first.at.line;
                    column = first.at.column;
                    key = first.at.key.clone();
                }
            }
            Error::Io { path, .. }
            | Error::Persist { path, .. }
            | Error::BadState { path, .. }
            | Error::Untrusted { path, .. }
            | Error::BadTarget { path, .. }
            | Error::NotPermitted { path, .. }
            | Error::Locked { path, .. } => file = Some(path.display().to_string()),
            Error::Write { key: k, .. }
            | Error::ReadBack { key: k, .. }
            | Error::Unreadable { key: k, .. } => key = Some(k.clone()),
            _ => {}
        }
        ErrorJson {
            kind: self.kind(),
            message: self.to_string(),
            file,
            line,
            column,
            key,
        }
    }
}
