//! `BootConfig`: what the sysctl loaders will apply at the next boot, read
//! exactly as they read it, with the file and line behind every value.
//!
//! Two loaders are modelled (checked against systemd 252 and procps-ng 4.0):
//!
//! - systemd-sysctl: `/etc/sysctl.d`, `/run/sysctl.d`,
//!   `/usr/local/lib/sysctl.d`, `/usr/lib/sysctl.d` (and `/lib/sysctl.d`
//!   where it is a separate directory). A file replaces a same-named one in
//!   a later directory; an empty file or a link to /dev/null masks it; a
//!   Surviving files apply in
//!   lexicographic order of their names. Any entry with a `.conf` name
//!   claims it, a directory or a dangling link too. It keeps one entry per key: a new
//!   value replaces the old one and moves to the end; the same value keeps
//!   its place. It never reads /etc/sysctl.conf.
//! - procps `sysctl --system`: the same directories and the same
//!   same-name rule, then `/etc/sysctl.conf` last if it is a regular file.
//!   Every line is applied in order, and `- key` keeps the space (so the
//!   key is not found) where systemd trims it.
//!
//! Both: `key = value`, `#`/`;` comments, `.` or `/` separators (swapped
//! when the first is a dot), a leading `-` to ignore failures, globs
//! (`net.ipv4.conf.*.rp_filter`) that never override a key set explicitly
//! anywhere, and `-key` lines that exclude a key from globs.
//!
//! Reading never fails: unreadable files and malformed lines become
//! warnings, as the loaders log and skip them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::kernel::key_to_path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Loader {
    Systemd,
    Procps,
}

impl Loader {
    /// The loader this system boots with: systemd-sysctl when systemd is
    /// running (`/run/systemd/system` exists), procps otherwise.
    pub fn detect(root: &Path) -> Loader {
        if root.join("run/systemd/system").is_dir() {
            Loader::Systemd
        } else {
            Loader::Procps
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Loader::Systemd => "systemd-sysctl",
            Loader::Procps => "sysctl --system",
        }
    }
}

/// sysctl.d directories, highest priority first.
const DIRS: [&str; 4] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
];
const LIB_DIR: &str = "/lib/sysctl.d";
pub const SYSCTL_CONF: &str = "/etc/sysctl.conf";

/// One assignment (or `-key` exclusion) as written in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Index into `BootConfig::files`.
    pub file: usize,
    pub line: usize,
    /// The key as written, without a leading `-`.
    pub written: String,
    /// Normalised to a path below /proc/sys (`net/ipv4/tcp_fin_timeout`).
    pub path: String,
    /// `None` for a `-key` exclusion.
    pub value: Option<String>,
    pub ignore_failure: bool,
    pub glob: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileState {
    Read,
    /// Empty, or a link to /dev/null: replaces same-named files, sets nothing.
    Masked,
    /// A link to nothing: it still replaces same-named files.
    Missing,
    Unreadable(String),
}

#[derive(Debug, Clone)]
pub struct ConfFile {
    /// The path as the booted system sees it (without `--root`).
    pub path: PathBuf,
    pub state: FileState,
    /// Same-named files in lower-priority directories that this one replaces.
    pub replaces: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct BootConfig {
    pub loader: Loader,
    /// Files in the order the loader applies them.
    pub files: Vec<ConfFile>,
    /// Every assignment and exclusion, file by file, line by line.
    pub lines: Vec<Line>,
    /// Indices into `lines` in the order the loader applies them (systemd
    /// drops a repeated value and moves a changed one to the end).
    pub order: Vec<usize>,
    pub warnings: Vec<Warning>,
    /// A file read from memory instead of disk (see `read_with`).
    overlay: Option<(PathBuf, String)>,
}

/// What one key will be after boot, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance<'a> {
    /// Every line that would touch the key, in application order.
    pub candidates: Vec<&'a Line>,
    /// The line whose value the key ends with; `None` when no file sets it
    /// (the kernel default stays) or it is excluded.
    pub winner: Option<&'a Line>,
}

impl BootConfig {
    pub fn read(root: &Path, loader: Loader) -> BootConfig {
        Self::read_with(root, loader, None)
    }

    /// The boot model as if `overlay` (a system path and its content) were
    /// written: how `apply` checks that its file will win before writing it.
    pub fn read_with(root: &Path, loader: Loader, overlay: Option<(&Path, &str)>) -> BootConfig {
        let mut cfg = BootConfig {
            overlay: overlay.map(|(p, c)| (p.to_path_buf(), c.to_string())),
            loader,
            files: Vec::new(),
            lines: Vec::new(),
            order: Vec::new(),
            warnings: Vec::new(),
        };
        let mut dirs: Vec<&str> = DIRS.to_vec();
        if loader == Loader::Procps || is_separate_dir(root, LIB_DIR, "/usr/lib/sysctl.d") {
            dirs.push(LIB_DIR);
        }
        let mut chosen: Vec<(String, PathBuf, FileState, Vec<PathBuf>)> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for dir in dirs {
            // A missing directory lists nothing (the overlay may still go there).
            let entries = std::fs::read_dir(under(root, dir)).into_iter().flatten();
            // The entry's type comes with the directory listing (no stat).
            let mut names: Vec<(String, Option<std::fs::FileType>)> = entries
                .filter_map(Result::ok)
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.file_type().ok(),
                    )
                })
                .filter(|(n, _)| n.ends_with(".conf"))
                .collect();
            if let Some((o, _)) = &cfg.overlay
                && o.parent() == Some(Path::new(dir))
                && let Some(n) = o.file_name().map(|n| n.to_string_lossy().into_owned())
                && n.ends_with(".conf")
                && !names.iter().any(|(x, _)| *x == n)
            {
                names.push((n, None));
            }
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, file_type) in names {
                let path = Path::new(dir).join(&name);
                if let Some(&i) = by_name.get(&name) {
                    let c: &mut (String, PathBuf, FileState, Vec<PathBuf>) = &mut chosen[i];
                    c.3.push(path);
                    continue;
                }
                let is_overlay = cfg.overlay.as_ref().is_some_and(|(o, _)| *o == path);
                let state = match entry_kind(&under(root, &path), file_type) {
                    _ if is_overlay => FileState::Read,
                    Kind::Masked => FileState::Masked,
                    Kind::Regular => FileState::Read,
                    Kind::Missing => FileState::Missing,
                    Kind::Other => FileState::Unreadable("not a regular file".into()),
                };
                by_name.insert(name.clone(), chosen.len());
                chosen.push((name, path, state, Vec::new()));
            }
        }
        chosen.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, path, state, replaces) in chosen {
            cfg.add_file(root, path, state, replaces);
        }
        let conf_overlaid = cfg
            .overlay
            .as_ref()
            .is_some_and(|(o, _)| o == Path::new(SYSCTL_CONF));
        if loader == Loader::Procps && (conf_overlaid || under(root, SYSCTL_CONF).is_file()) {
            cfg.add_file(
                root,
                PathBuf::from(SYSCTL_CONF),
                FileState::Read,
                Vec::new(),
            );
        }
        cfg.order = match loader {
            Loader::Systemd => systemd_order(&cfg.lines),
            Loader::Procps => (0..cfg.lines.len()).collect(),
        };
        cfg
    }

    fn add_file(
        &mut self,
        root: &Path,
        path: PathBuf,
        mut state: FileState,
        replaces: Vec<PathBuf>,
    ) {
        let index = self.files.len();
        if state == FileState::Read {
            let bytes = match &self.overlay {
                Some((o, content)) if *o == path => Ok(content.clone().into_bytes()),
                _ => std::fs::read(under(root, &path)),
            };
            match bytes {
                // An empty file is a mask (it still replaces same-named files).
                Ok(bytes) if bytes.is_empty() => state = FileState::Masked,
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    for (n, raw) in text.lines().enumerate() {
                        match parse_line(raw, self.loader) {
                            Parsed::Nothing => {}
                            Parsed::Malformed(message) => self.warnings.push(Warning {
                                path: path.clone(),
                                line: Some(n + 1),
                                message,
                            }),
                            Parsed::Line {
                                written,
                                value,
                                ignore_failure,
                            } => {
                                let path = normalize(&written);
                                let glob = written.contains(['*', '?', '[']);
                                self.lines.push(Line {
                                    file: index,
                                    line: n + 1,
                                    written,
                                    path,
                                    value,
                                    ignore_failure,
                                    glob,
                                });
                            }
                        }
                    }
                }
                Err(e) => {
                    let message = crate::error::io_meaning(&e);
                    self.warnings.push(Warning {
                        path: path.clone(),
                        line: None,
                        message: format!("cannot be read, the loader skips it: {message}"),
                    });
                    state = FileState::Unreadable(message);
                }
            }
        } else if let FileState::Unreadable(why) = &state {
            self.warnings.push(Warning {
                path: path.clone(),
                line: None,
                message: format!("{why}; the loader reads nothing from it, and same-named files in other directories are not read either"),
            });
        } else if state == FileState::Missing {
            let message = "a link to a file that does not exist; the loader reads nothing from it, and same-named files in other directories are not read either";
            self.warnings.push(Warning {
                path: path.clone(),
                line: None,
                message: message.into(),
            });
        }
        self.files.push(ConfFile {
            path,
            state,
            replaces,
        });
    }

    /// Where `key` (any spelling) gets its boot value.
    pub fn provenance(&self, key: &str) -> Provenance<'_> {
        let path = normalize(key);
        let applied = || self.order.iter().map(|&i| &self.lines[i]);
        let explicit: Vec<&Line> = applied().filter(|l| !l.glob && l.path == path).collect();
        let winner = if explicit.is_empty() {
            self.order
                .iter()
                .rev()
                .map(|&i| &self.lines[i])
                .find(|l| l.glob && l.value.is_some() && glob_match(&l.path, &path))
        } else {
            match self.loader {
                // One entry per key: the last one, an exclusion included.
                Loader::Systemd => explicit.last().copied().filter(|l| l.value.is_some()),
                // Every assignment is written; an exclusion only stops globs.
                Loader::Procps => explicit.iter().rev().find(|l| l.value.is_some()).copied(),
            }
        };
        let candidates = self
            .lines
            .iter()
            .filter(|l| {
                (!l.glob && l.path == path)
                    || (l.glob && l.value.is_some() && glob_match(&l.path, &path))
            })
            .collect();
        Provenance { candidates, winner }
    }

    /// For every key set explicitly, the index of the line that decides it
    /// (`None` when an exclusion is last under systemd). Globs are not
    /// expanded: they depend on which keys the running kernel has.
    pub fn explicit_winners(&self) -> HashMap<&str, Option<usize>> {
        let mut out: HashMap<&str, Option<usize>> = HashMap::new();
        for &i in &self.order {
            let l = &self.lines[i];
            if l.glob {
                continue;
            }
            match (self.loader, &l.value) {
                (Loader::Procps, None) => {
                    out.entry(&l.path).or_insert(None);
                }
                (Loader::Systemd, None) => {
                    out.insert(&l.path, None);
                }
                (_, Some(_)) => {
                    out.insert(&l.path, Some(i));
                }
            }
        }
        out
    }

    pub fn file_of(&self, line: &Line) -> &Path {
        &self.files[line.file].path
    }
}

enum Kind {
    Regular,
    Masked,
    Missing,
    Other,
}

/// What a directory entry is, with system calls only for links (an empty
/// regular file is found to be a mask when it is read).
fn entry_kind(path: &Path, file_type: Option<std::fs::FileType>) -> Kind {
    match file_type {
        Some(t) if t.is_file() => return Kind::Regular,
        Some(t) if t.is_dir() => return Kind::Other,
        _ => {}
    }
    if std::fs::read_link(path).is_ok_and(|t| t == Path::new("/dev/null")) {
        return Kind::Masked;
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == 0 => Kind::Masked,
        Ok(m) if m.is_file() => Kind::Regular,
        Err(_) if std::fs::symlink_metadata(path).is_ok() => Kind::Missing,
        _ => Kind::Other,
    }
}

fn under(root: &Path, path: impl AsRef<Path>) -> PathBuf {
    root.join(path.as_ref().strip_prefix("/").unwrap_or(path.as_ref()))
}

/// Whether `a` exists and is not the same directory as `b` (on merged-/usr
/// systems /lib is a link to /usr/lib).
fn is_separate_dir(root: &Path, a: &str, b: &str) -> bool {
    match (
        std::fs::canonicalize(under(root, a)),
        std::fs::canonicalize(under(root, b)),
    ) {
        (Ok(x), Ok(y)) => x != y,
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

/// The order systemd applies `lines` in: one entry per key in insertion
/// order; a different value removes the old entry and appends, the same
/// value keeps the old place.
fn systemd_order(lines: &[Line]) -> Vec<usize> {
    let mut order: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    let mut at: HashMap<&str, usize> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(&slot) = at.get(line.path.as_str()) {
            let kept = order[slot].expect("slots in `at` are live");
            if lines[kept].value == line.value {
                continue;
            }
            order[slot] = None;
        }
        at.insert(&line.path, order.len());
        order.push(Some(i));
    }
    order.into_iter().flatten().collect()
}

enum Parsed {
    Nothing,
    Malformed(String),
    Line {
        written: String,
        value: Option<String>,
        ignore_failure: bool,
    },
}

fn parse_line(raw: &str, loader: Loader) -> Parsed {
    let line = raw.trim();
    if line.is_empty() || line.starts_with(['#', ';']) {
        return Parsed::Nothing;
    }
    match line.split_once('=') {
        None => match line.strip_prefix('-') {
            Some(key) if !key.trim().is_empty() => {
                // procps keeps the space in "- key", as for assignments.
                let key = if loader == Loader::Procps {
                    key
                } else {
                    key.trim()
                };
                Parsed::Line {
                    written: key.to_string(),
                    value: None,
                    ignore_failure: true,
                }
            }
            _ => Parsed::Malformed(format!("not an assignment, the loader ignores it: {line}")),
        },
        Some((key, value)) => {
            let key = key.trim();
            let (key, ignore_failure) = match key.strip_prefix('-') {
                // procps keeps the space in "- key"; the key then matches nothing.
                Some(k) if loader == Loader::Procps => (k, true),
                Some(k) => (k.trim(), true),
                None => (key, false),
            };
            if key.is_empty() {
                // Both loaders try to write it to /proc/sys/ itself and fail.
                return Parsed::Malformed(format!("no key before '=', the write fails: {line}"));
            }
            Parsed::Line {
                written: key.to_string(),
                value: Some(value.trim().to_string()),
                ignore_failure,
            }
        }
    }
}

/// A key in either spelling as a path below /proc/sys, `//` collapsed.
pub fn normalize(key: &str) -> String {
    key_to_path(key)
        .split('/')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// glob(3) matching of one /proc/sys path: `*`, `?` and `[...]` never match '/'.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // Returns (matched, length of the class in the pattern).
        let mut i = 1;
        let negate = matches!(p.get(1), Some('!' | '^'));
        if negate {
            i += 1;
        }
        let mut hit = false;
        let mut first = true;
        while i < p.len() && (p[i] != ']' || first) {
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                hit |= p[i] <= c && c <= p[i + 2];
                i += 3;
            } else {
                hit |= p[i] == c;
                i += 1;
            }
            first = false;
        }
        (i < p.len()).then_some((hit != negate, i + 1))
    }
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != '/')
                .any(|i| go(&p[1..], &s[i..])),
            Some('?') => s.first().is_some_and(|c| *c != '/') && go(&p[1..], &s[1..]),
            Some('[') => match (s.first(), class(p, *s.first().unwrap_or(&'/'))) {
                (Some(c), Some((hit, len))) if *c != '/' => hit && go(&p[len..], &s[1..]),
                (_, None) => s.first() == Some(&'[') && go(&p[1..], &s[1..]),
                _ => false,
            },
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_one_component() {
        assert!(glob_match(
            "net/ipv4/conf/*/rp_filter",
            "net/ipv4/conf/eth0.100/rp_filter"
        ));
        assert!(!glob_match("net/ipv4/*", "net/ipv4/conf/all/rp_filter"));
        assert!(glob_match(
            "net/ipv4/tcp_keepalive_*",
            "net/ipv4/tcp_keepalive_time"
        ));
        assert!(glob_match("net/ipv4/tcp_[fk]*", "net/ipv4/tcp_fin_timeout"));
        assert!(!glob_match(
            "net/ipv4/tcp_[!fk]*",
            "net/ipv4/tcp_fin_timeout"
        ));
        assert!(glob_match("net/ipv?/tcp_x", "net/ipv4/tcp_x"));
    }

    #[test]
    fn lines_as_the_loaders_read_them() {
        assert!(matches!(
            parse_line("  # c", Loader::Systemd),
            Parsed::Nothing
        ));
        assert!(matches!(parse_line("; c", Loader::Procps), Parsed::Nothing));
        assert!(matches!(
            parse_line("bogus", Loader::Systemd),
            Parsed::Malformed(_)
        ));
        match parse_line(" -net.ipv4.x = 1 # not a comment", Loader::Systemd) {
            Parsed::Line {
                written,
                value,
                ignore_failure,
            } => {
                assert_eq!(
                    (written.as_str(), value.as_deref(), ignore_failure),
                    ("net.ipv4.x", Some("1 # not a comment"), true)
                );
            }
            _ => panic!(),
        }
        assert!(matches!(
            parse_line("-net.ipv4.conf.lo.rp_filter", Loader::Procps),
            Parsed::Line { value: None, .. }
        ));
        assert_eq!(
            normalize("net/ipv4//conf/eth0.100/rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            normalize("net.ipv4.conf.eth0/100.rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
    }
}
