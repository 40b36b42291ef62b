//! `SysctlFile`: the sysctl.d file tcptune writes, rendered byte-for-byte
//! the same for the same profile and system, and replaced atomically.
//!
//! The default name, `99-zz-tcptune.conf` in /etc/sysctl.d, sorts after
//! every `99-<word>` name distributions and cloud images ship
//! (`99-sysctl.conf`, the link to /etc/sysctl.conf on Debian, Ubuntu,
//! Fedora and SUSE; `99-cloudimg-*.conf`; `99-gce.conf`;
//! `99-kubernetes-cri.conf`), so systemd-sysctl applies it last. Under
//! procps `sysctl --system`, /etc/sysctl.conf still comes after it; `apply`
//! checks both and says so.

use std::ffi::CString;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::plan::Plan;
use crate::value::Value;

pub const DEFAULT_PATH: &str = "/etc/sysctl.d/99-zz-tcptune.conf";
/// Names of temporary files: hidden, and without `.conf` so no loader
/// reads one that a killed run left behind.
pub const TEMP_PREFIX: &str = ".tcptune-";

/// One line of the file: key, value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: Value,
    pub summary: Option<&'static str>,
    pub why: Option<String>,
}

/// The settings of `plan` that belong in the file: every key the kernel
/// has, at its target. A bound is written only when what loads at boot
/// would not already meet it, and then as the bound itself.
pub fn settings(plan: &Plan, all_keys: bool) -> Vec<Setting> {
    use crate::plan::Status;
    use crate::profile::Target;
    plan.rows
        .iter()
        .filter(|r| all_keys || !matches!(r.status, Status::NotOnKernel | Status::NotInNetns))
        .filter_map(|r| {
            let value = match &r.target {
                Target::Exact(v) => v.clone(),
                Target::Bounds { at_least, at_most } => {
                    if r.boot.as_ref().is_some_and(|b| {
                        b.satisfied
                            && b.source
                                .as_ref()
                                .is_some_and(|(f, _)| f != Path::new(DEFAULT_PATH))
                    }) {
                        return None;
                    }
                    match (r.live.as_ref().and_then(Value::as_int), at_least, at_most) {
                        (Some(v), lo, hi)
                            if lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi) =>
                        {
                            Value::Int(v)
                        }
                        (_, Some(lo), _) => Value::Int(*lo),
                        (_, None, Some(hi)) => Value::Int(*hi),
                        (_, None, None) => return None,
                    }
                }
            };
            Some(Setting {
                key: r.key.clone(),
                value,
                summary: r.param.map(|p| p.summary),
                why: r.why.clone(),
            })
        })
        .collect()
}

/// The file's text.
pub fn render(profile: &str, source: &str, chain: &[String], settings: &[Setting]) -> String {
    let mut t = String::new();
    let ancestry = if chain.len() > 1 {
        format!(", extends {}", chain[1..].join(" > "))
    } else {
        String::new()
    };
    let _ = writeln!(
        t,
        "# Written by tcptune from profile {profile} ({source}{ancestry})."
    );
    let _ = writeln!(
        t,
        "# Hand edits are replaced by the next `tcptune apply`: change the profile"
    );
    let _ = writeln!(
        t,
        "# instead. `tcptune revert` restores what was here before."
    );
    for s in settings {
        t.push('\n');
        if let Some(summary) = s.summary {
            let _ = writeln!(t, "# {summary}");
        }
        if let Some(why) = &s.why {
            let _ = writeln!(t, "# why: {}", why.replace('\n', " "));
        }
        let _ = writeln!(t, "{} = {}", s.key, s.value.to_kernel());
    }
    t
}

/// `path` below `root`.
pub fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// The current content of the file, `None` when it does not exist.
pub fn read(real: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(real) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `real` with `content` atomically: a nameless O_TMPFILE in the
/// same directory (mode 0644), written and fsynced, linked under a hidden
/// temporary name and renamed over the target, then the directory fsynced.
/// A reader sees the old file or the new one, never a partial one.
pub fn write_atomic(real: &Path, content: &str) -> io::Result<()> {
    let dir = real
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = real
        .file_name()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let tmp = dir.join(format!(
        "{TEMP_PREFIX}{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut file = open_tmpfile(dir, &tmp)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    file.write_all(content.as_bytes())?;
    file.sync_all()?;
    link_tmpfile(&file, &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, real) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}

/// Removes `real` (revert of a file that did not exist before), durably.
pub fn remove(real: &Path) -> io::Result<()> {
    match std::fs::remove_file(real) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let dir = real
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// Removes temporary files a killed run may have left (between linking and
/// renaming). Called under the lock.
pub fn clean_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// An unnamed file in `dir` (O_TMPFILE), or a named `tmp` where the file
/// system has no O_TMPFILE.
fn open_tmpfile(dir: &Path, tmp: &Path) -> io::Result<std::fs::File> {
    let c = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path; the fd is owned by the File.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd >= 0 {
        // SAFETY: fd is a fresh, open descriptor nobody else owns.
        return Ok(unsafe { std::fs::File::from_raw_fd(fd) });
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL) => {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(tmp)
        }
        _ => Err(err),
    }
}

/// Gives an O_TMPFILE its temporary name (a named fallback already has it).
fn link_tmpfile(file: &std::fs::File, tmp: &Path) -> io::Result<()> {
    if tmp.exists() {
        return Ok(());
    }
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = CString::new(tmp.as_os_str().as_bytes())?;
    // SAFETY: valid NUL-terminated paths.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("99-zz-tcptune.conf");
        write_atomic(&f, "a = 1\n").unwrap();
        write_atomic(&f, "a = 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "a = 2\n");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn render_is_deterministic_and_explained() {
        let s = vec![Setting {
            key: "net.ipv4.tcp_synack_retries".into(),
            value: Value::Int(2),
            summary: Some("SYN-ACK retries."),
            why: Some("faster".into()),
        }];
        let a = render(
            "web",
            "built-in",
            &["web".into(), "kernel-defaults".into()],
            &s,
        );
        assert_eq!(
            a,
            render(
                "web",
                "built-in",
                &["web".into(), "kernel-defaults".into()],
                &s
            )
        );
        assert!(a.contains("# SYN-ACK retries.\n# why: faster\nnet.ipv4.tcp_synack_retries = 2\n"));
        assert!(a.starts_with(
            "# Written by tcptune from profile web (built-in, extends kernel-defaults)."
        ));
    }
}
