//! Live kernel access: `Kernel`, the small trait the rest of the program
//! reads (and, for `apply`, writes) sysctls through, and `ProcSys`, its
//! implementation over `/proc/sys` below the root (see `root`).
//!
//! We do not use the `sysctl` crate: it hard-codes `/proc/sys` (no test
//! root), turns every open error into NotFound without the key, and cannot
//! address interface names that contain dots (`eth0.100`).

use std::io;
use std::path::{Path, PathBuf};

use crate::key;
use crate::root::{self, Root};

/// What reading one key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Value(String),
    /// This kernel (or this network namespace) has no such key.
    Absent,
    /// It exists but cannot be read (a write-only key, or not root).
    Unreadable(String),
}

pub trait Kernel {
    fn read(&self, key: &str) -> Reading;

    /// Whether the key exists, without reading it.
    fn has(&self, key: &str) -> bool;

    /// Writes `value` (canonical text) to `key`. The error is the kernel's
    /// (EINVAL for a value out of range, EROFS, EACCES...).
    fn write(&self, key: &str, value: &str) -> io::Result<()>;
}

/// Whether a live kernel can be seen below the root, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    Live,
    /// `--root` names an image with no /proc/sys: boot files only.
    Offline,
    /// /proc/sys should be there and is not usable (message says why).
    Broken(String),
}

pub struct ProcSys<'r> {
    root: &'r Root,
}

impl<'r> ProcSys<'r> {
    pub fn new(root: &'r Root) -> ProcSys<'r> {
        ProcSys { root }
    }

    /// The system path of `key`.
    pub fn path(key: &str) -> PathBuf {
        Path::new("/proc/sys").join(key::to_path(key))
    }

    /// Whether this root has a live kernel: on the running system
    /// /proc/sys must be procfs with a net/ directory; under `--root`, an
    /// image without /proc/sys is offline (boot view only), and one whose
    /// /proc/sys/net is missing or empty is broken.
    pub fn visibility(&self) -> Visibility {
        let sys = Path::new("/proc/sys");
        if !self.root.is_host() && self.root.meta(sys, true).is_err() {
            return Visibility::Offline;
        }
        // PROC_SUPER_MAGIC's type differs between architectures.
        #[allow(clippy::unnecessary_cast)]
        let procfs = libc::PROC_SUPER_MAGIC as i64;
        if self.root.is_host() && self.root.fs_type(sys).ok() != Some(procfs) {
            return Visibility::Broken(
                "/proc/sys is not procfs here: is /proc mounted? (mount -t proc proc /proc)".into(),
            );
        }
        match self.root.list(&sys.join("net")) {
            Ok(entries) if !entries.is_empty() => Visibility::Live,
            Ok(_) => Visibility::Broken(format!(
                "{} is empty: no live kernel values can be read",
                self.root.show(&sys.join("net")).display()
            )),
            Err(e) => Visibility::Broken(format!(
                "cannot read {}: {}",
                self.root.show(&sys.join("net")).display(),
                crate::error::io_meaning(&e)
            )),
        }
    }
}

impl Kernel for ProcSys<'_> {
    fn read(&self, key: &str) -> Reading {
        match self.root.read_proc(&Self::path(key)) {
            Ok(text) => Reading::Value(text),
            Err(e) if root::is_absent(&e) => Reading::Absent,
            Err(e) => Reading::Unreadable(crate::error::io_meaning(&e)),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.root.meta(&Self::path(key), true).is_ok()
    }

    fn write(&self, key: &str, value: &str) -> io::Result<()> {
        // One write(2) of the whole value: procfs parses each write alone.
        self.root.write_proc(&Self::path(key), value)
    }
}

/// TCP sockets in LISTEN state (`st` 0A) in the caller's network
/// namespace, from /proc/net/tcp and tcp6; `None` when neither is readable.
pub fn listening_sockets(root: &Root) -> Option<usize> {
    let mut found = None;
    // thread-self: the network namespace of this thread (see --netns); a
    // fake root may only have proc/net.
    let dir = if root.meta(Path::new("/proc/thread-self/net"), true).is_ok() {
        "/proc/thread-self/net"
    } else {
        "/proc/net"
    };
    for file in ["tcp", "tcp6"] {
        let Ok(text) = root.read_string(&Path::new(dir).join(file), 256 << 20) else {
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
