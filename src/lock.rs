//! `Lock`: one apply or revert at a time, per root. An exclusive flock(2)
//! on /run/tcptune.lock (below `--root`), released when the process ends,
//! however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::Error;

pub const LOCK_PATH: &str = "/run/tcptune.lock";

pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock; fails at once if another run holds it, unless `wait`.
    pub fn acquire(root: &Path, wait: bool) -> Result<Lock, Error> {
        let path: PathBuf = crate::sysctl_file::under(root, Path::new(LOCK_PATH));
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if wait {
            file.lock().map_err(|e| Error::io(&path, e))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(Error::Locked { path }),
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
        Ok(Lock { _file: file })
    }
}
