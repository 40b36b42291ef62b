//! `Lock`: one apply or revert at a time, per root. An exclusive flock(2)
//! on /run/tcptune/lock (below `--root`), released when the process ends,
//! however it ends.
//!
//! The lock file is root's alone (mode 0600, in a 0700 directory, opened
//! without following links), so no other user can open it, let alone hold
//! it and block every apply. If it is held anyway, the holder is named
//! (from /proc/locks).

use std::ffi::OsStr;
use std::fs::{File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::root::Root;

pub const LOCK_DIR: &str = "/run/tcptune";
const LOCK_NAME: &str = "lock";

pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock; fails at once if another run holds it, unless `wait`.
    pub fn acquire(root: &Root, wait: bool) -> Result<Lock, Error> {
        let sys = Path::new(LOCK_DIR).join(LOCK_NAME);
        let shown = root.show(&sys);
        let io = |e| Error::io(&shown, e);
        let dir = root.make_dir(Path::new(LOCK_DIR), 0o700).map_err(io)?;
        crate::trust::check(root, Path::new(LOCK_DIR), "lock directory")?;
        let file = dir.open_lock(OsStr::new(LOCK_NAME)).map_err(io)?;
        if wait {
            file.lock().map_err(io)?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        holder: holder(&file),
                        path: shown,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        Ok(Lock { _file: file })
    }
}

/// "pid 812 (uid 1000)", from the FLOCK line of /proc/locks for this file.
fn holder(file: &File) -> Option<String> {
    let meta = file.metadata().ok()?;
    let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
    let want = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let pid: u32 = locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&want.as_str()))
            .then(|| f.get(4)?.parse().ok())
            .flatten()
    })?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok();
    let uid = status.as_deref().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|u| u.split_whitespace().nth(1))
            .map(str::to_string)
    });
    Some(match uid {
        Some(u) if u != "0" => format!(
            "pid {pid}, uid {u}: not root, so it should not be able to open the lock; check {}",
            PathBuf::from(LOCK_DIR).display()
        ),
        Some(_) => format!("pid {pid}"),
        None => format!("pid {pid}"),
    })
}
