//! Which files tcptune, running as root, takes instructions from.
//!
//! A profile decides what root writes into the kernel and into a file read
//! at every boot; the state decides what `revert` writes back. So, like
//! sshd's StrictModes, sudo and logrotate, when tcptune runs as root it
//! refuses a profile or state file that someone else could have changed:
//! the file and every directory above it must be owned by root and not
//! writable by group or others. A sticky directory (/tmp) is fine when the
//! file itself is root's. Run as another user, tcptune cannot change
//! anything, and nothing is checked.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::root::{Meta, Root};

pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Checks `sys` (a path inside the root) and the directories above it.
pub fn check(root: &Root, sys: &Path, what: &str) -> Result<(), Error> {
    if !running_as_root() {
        return Ok(());
    }
    let chain = root.chain(sys).map_err(|e| Error::io(root.show(sys), e))?;
    let chain: Vec<(PathBuf, u32, u32, bool)> = chain
        .into_iter()
        .map(|(p, m): (PathBuf, Meta)| {
            (
                root.show(&p),
                m.uid,
                m.mode,
                m.kind == rustix::fs::FileType::Directory,
            )
        })
        .collect();
    judge(&chain, what)
}

/// Checks a file named on the command line (a host path) and the
/// directories above it, both as named and after resolving links.
pub fn check_host(path: &Path, what: &str) -> Result<(), Error> {
    if !running_as_root() {
        return Ok(());
    }
    let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let real = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    for start in [&real, &absolute] {
        let mut chain = Vec::new();
        let mut p = Some(start.as_path());
        while let Some(at) = p {
            let m = std::fs::metadata(at).map_err(|e| Error::io(at, e))?;
            chain.push((at.to_path_buf(), m.uid(), m.mode() & 0o7777, m.is_dir()));
            p = at.parent();
        }
        judge(&chain, what)?;
    }
    Ok(())
}

/// The rule, over (path, owner, mode, is_dir), the file first.
fn judge(chain: &[(PathBuf, u32, u32, bool)], what: &str) -> Result<(), Error> {
    let untrusted = |path: &Path, why: String, fix: String| Error::Untrusted {
        path: path.to_path_buf(),
        what: what.to_string(),
        why,
        fix,
    };
    for (i, (path, uid, mode, is_dir)) in chain.iter().enumerate() {
        let sticky = *is_dir && mode & 0o1000 != 0;
        if *uid != 0 {
            return Err(untrusted(
                path,
                format!("owned by uid {uid}, not root"),
                format!("chown root: {}", path.display()),
            ));
        }
        if mode & 0o022 != 0 && !(sticky && i > 0) {
            return Err(untrusted(
                path,
                format!(
                    "writable by {} (mode {:04o})",
                    if mode & 0o002 != 0 {
                        "others"
                    } else {
                        "its group"
                    },
                    mode
                ),
                format!("chmod go-w {}", path.display()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(entries: &[(u32, u32, bool)]) -> Vec<(PathBuf, u32, u32, bool)> {
        entries
            .iter()
            .enumerate()
            .map(|(i, (u, m, d))| (PathBuf::from(format!("/p{i}")), *u, *m, *d))
            .collect()
    }

    #[test]
    fn only_root_may_write_along_the_way() {
        assert!(judge(&chain(&[(0, 0o644, false), (0, 0o755, true)]), "profile").is_ok());
        // A world-writable profile, a group-writable directory, a user's file.
        assert!(judge(&chain(&[(0, 0o666, false), (0, 0o755, true)]), "profile").is_err());
        assert!(judge(&chain(&[(0, 0o644, false), (0, 0o775, true)]), "profile").is_err());
        assert!(judge(&chain(&[(1000, 0o644, false), (0, 0o755, true)]), "profile").is_err());
        // /tmp is sticky: a root-owned file in it is fine; the file itself never.
        assert!(judge(&chain(&[(0, 0o644, false), (0, 0o1777, true)]), "profile").is_ok());
        let err = judge(&chain(&[(0, 0o646, false)]), "profile")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("writable by others (mode 0646)") && err.contains("chmod go-w /p0"),
            "{err}"
        );
    }
}
