//! Live kernel access: `Kernel`, the small trait the rest of the program
//! reads (and, for `apply`, writes) sysctls through, and `ProcSys`, its
//! implementation over `/proc/sys` under a configurable root.
//!
//! We do not use the `sysctl` crate: it hard-codes `/proc/sys` (no test
//! root), turns every open error into NotFound without the key, and cannot
//! address interface names that contain dots (`eth0.100`).

use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;

pub trait Kernel {
    /// The value of `key` as the kernel prints it, or `None` when this
    /// kernel (or this network namespace) has no such key.
    fn read(&self, key: &str) -> Result<Option<String>, Error>;

    /// Whether the key exists, without reading it.
    fn has(&self, key: &str) -> bool;

    /// Writes `value` (canonical text) to `key`. The error is the kernel's
    /// (EINVAL for a value out of range, EROFS, EACCES...).
    fn write(&self, key: &str, value: &str) -> io::Result<()>;
}

pub struct ProcSys {
    dir: PathBuf,
}

impl ProcSys {
    pub fn new(root: &Path) -> ProcSys {
        ProcSys {
            dir: root.join("proc/sys"),
        }
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key_to_path(key))
    }
}

impl Kernel for ProcSys {
    fn read(&self, key: &str) -> Result<Option<String>, Error> {
        let path = self.path(key);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(source) => Err(Error::Read {
                key: key.to_string(),
                path,
                source,
            }),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.path(key).is_file()
    }

    fn write(&self, key: &str, value: &str) -> io::Result<()> {
        use std::io::Write;
        // One write(2) of the whole value: procfs parses each write alone.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(self.path(key))?;
        f.write_all(format!("{value}\n").as_bytes())
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// The path of `key` below /proc/sys, by sysctl.d(5)'s rule: when the first
/// separator is a dot, dots separate and slashes stand for dots inside a
/// name (`net.ipv4.conf.eth0/100.rp_filter`); otherwise slashes separate.
pub fn key_to_path(key: &str) -> String {
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

/// TCP sockets in LISTEN state (`st` 0A) in the caller's network
/// namespace, from /proc/net/tcp and tcp6; `None` when neither is readable.
pub fn listening_sockets(root: &Path) -> Option<usize> {
    let mut found = None;
    // thread-self: the network namespace of this thread (see --netns); a
    // fake root may only have proc/net.
    let dir = if root.join("proc/thread-self/net").is_dir() {
        "proc/thread-self/net"
    } else {
        "proc/net"
    };
    for file in ["tcp", "tcp6"].map(|f| format!("{dir}/{f}")) {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        let n = text
            .lines()
            .skip(1)
            .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
            .count();
        found = Some(found.unwrap_or(0) + n);
    }
    found
}

/// Whether `key` names something below /proc/sys and nothing outside it.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key_to_path(key)
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_and_slashes_follow_sysctl_d() {
        assert_eq!(key_to_path("net.core.somaxconn"), "net/core/somaxconn");
        assert_eq!(
            key_to_path("net.ipv4.conf.eth0/100.rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            key_to_path("net/ipv4/conf/eth0.100/rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
    }

    #[test]
    fn keys_stay_below_proc_sys() {
        assert!(is_valid_key("net.ipv4.conf.eth0/100.rp_filter"));
        for bad in ["net/../../etc/passwd", "net..core", "a b", "", "net.core."] {
            assert!(!is_valid_key(bad), "{bad}");
        }
    }
}
