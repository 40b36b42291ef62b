//! The sysctl.d file tcptune writes: the only writer of that format in
//! tcptune, and the only place that puts text into it.
//!
//! What a reviewer approves must be exactly what loads at boot, so:
//! - keys and values are refused if they hold anything but printable,
//!   non-space characters (a value may have single spaces);
//! - free text (a profile's name, source, `why`) goes only into comments,
//!   with every character a loader could end a line at (`\n`, `\r`, NUL)
//!   and every other control character escaped (`\x0d`);
//! - the rendered text is parsed back with the boot model's own line
//!   parser, as systemd-sysctl and as procps split it, and must yield
//!   exactly the planned assignments, or nothing is written.
//!
//! The default name, `99-zz-tcptune.conf` in /etc/sysctl.d, sorts after
//! every `99-<word>` name distributions and cloud images ship
//! (`99-sysctl.conf`, the link to /etc/sysctl.conf on Debian, Ubuntu,
//! Fedora and SUSE; `99-cloudimg-*.conf`; `99-gce.conf`;
//! `99-kubernetes-cri.conf`), so systemd-sysctl applies it last. Under
//! procps `sysctl --system`, /etc/sysctl.conf still comes after it; `apply`
//! checks both and says so.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::boot::{self, Loader};
use crate::error::Error;
use crate::plan::Plan;
use crate::render::sanitize;
use crate::root::{ReadError, Root};
use crate::value::Value;

pub const DEFAULT_PATH: &str = "/etc/sysctl.d/99-zz-tcptune.conf";
/// Where `--file` may point: the admin's sysctl.d directories (never the
/// vendor's /usr/lib/sysctl.d, which packages own).
pub const WRITABLE_DIRS: [&str; 3] = ["/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d"];

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

/// Free text as comment text: everything a loader could take for a line
/// end, and every other control character, escaped.
fn comment(text: &str) -> String {
    sanitize::clean(text).into_owned()
}

/// Whether `s` can stand as a key or value on one line: printable, no
/// white space but single inner spaces (values), nothing a loader reads as
/// a comment or a flag at its start.
fn is_line_safe(s: &str, spaces: bool) -> bool {
    !s.is_empty()
        && !s.starts_with(['#', ';', '-', ' '])
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.chars()
            .all(|c| !sanitize::is_unsafe(c) && (c == ' ' && spaces || !c.is_whitespace()))
}

/// The file's text for `settings`, checked: the result parses, under
/// both loaders, to exactly these assignments.
pub fn render(
    profile: &str,
    source: &str,
    chain: &[String],
    settings: &[Setting],
) -> Result<String, Error> {
    for s in settings {
        let value = s.value.to_kernel();
        if crate::key::canonical(&s.key).ok().as_deref() != Some(s.key.as_str())
            || !is_line_safe(&s.key, false)
        {
            return Err(Error::Unrenderable {
                profile: profile.to_string(),
                key: sanitize::clean(&s.key).into_owned(),
                why: "the key holds characters that cannot be written to a sysctl.d line".into(),
            });
        }
        if !is_line_safe(&value, true) {
            return Err(Error::Unrenderable {
                profile: profile.to_string(),
                key: s.key.clone(),
                why: format!(
                    "the value {} holds characters that cannot be written to a sysctl.d line",
                    sanitize::clean(&value)
                ),
            });
        }
    }
    let mut t = String::new();
    let ancestry = if chain.len() > 1 {
        format!(", extends {}", chain[1..].join(" > "))
    } else {
        String::new()
    };
    let _ = writeln!(
        t,
        "# Written by tcptune from profile {} ({}{}).",
        comment(profile),
        comment(source),
        comment(&ancestry)
    );
    t.push_str("# Hand edits are replaced by the next `tcptune apply`: change the profile\n");
    t.push_str("# instead. `tcptune revert` restores what was here before.\n");
    for s in settings {
        t.push('\n');
        if let Some(summary) = s.summary {
            let _ = writeln!(t, "# {}", comment(summary));
        }
        if let Some(why) = &s.why {
            let _ = writeln!(t, "# why: {}", comment(why));
        }
        let _ = writeln!(t, "{} = {}", s.key, s.value.to_kernel());
    }
    verify(profile, &t, settings)?;
    Ok(t)
}

/// Parses `text` as each loader would and checks it yields exactly
/// `settings`, in order, and nothing else.
fn verify(profile: &str, text: &str, settings: &[Setting]) -> Result<(), Error> {
    let want: Vec<(String, Option<String>)> = settings
        .iter()
        .map(|s| (s.key.clone(), Some(s.value.to_kernel())))
        .collect();
    for loader in [Loader::Systemd, Loader::Procps] {
        let (got, problems) = boot::assignments(text.as_bytes(), loader);
        if got != want || problems > 0 {
            return Err(Error::Unrenderable {
                profile: profile.to_string(),
                key: String::new(),
                why: format!(
                    "the rendered file would load differently under {} than planned; nothing was written",
                    loader.name()
                ),
            });
        }
    }
    Ok(())
}

/// `--file` (and any file path in the state): an absolute path directly in
/// one of `WRITABLE_DIRS`, named `*.conf`, not hidden (systemd-sysctl
/// ignores hidden names).
pub fn check_target(path: &Path) -> Result<(), Error> {
    let bad = |why: &str| Error::BadTarget {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    if !path.is_absolute() {
        return Err(bad("not an absolute path"));
    }
    let in_dir = path
        .parent()
        .is_some_and(|p| WRITABLE_DIRS.iter().any(|d| p == Path::new(d)));
    if !in_dir
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(bad(&format!(
            "tcptune writes only directly into {}",
            WRITABLE_DIRS.join(", ")
        )));
    }
    let name = path.file_name().and_then(OsStr::to_str).unwrap_or_default();
    if !name.ends_with(".conf") || name.len() <= ".conf".len() {
        return Err(bad("the loaders read only names ending in .conf"));
    }
    if name.starts_with('.') {
        return Err(bad("systemd-sysctl ignores names starting with '.'"));
    }
    if name
        .chars()
        .any(|c| sanitize::is_unsafe(c) || c.is_whitespace())
    {
        return Err(bad("the name holds white space or control characters"));
    }
    Ok(())
}

/// The file's directory and name, for reading and writing through a `Dir`.
fn split(path: &Path) -> (&Path, &OsStr) {
    (
        path.parent().unwrap_or(Path::new("/")),
        path.file_name().unwrap_or_default(),
    )
}

/// The current content of the target, `None` when it does not exist. A
/// link, FIFO, device or directory in its place is an error: tcptune
/// replaces only regular files.
pub fn read(root: &Root, path: &Path) -> Result<Option<String>, Error> {
    let shown = root.show(path);
    let (dir, name) = split(path);
    let dir = match root.dir(dir) {
        Ok(d) => d,
        Err(e) if crate::root::is_absent(&e) => return Ok(None),
        Err(e) => return Err(Error::io(shown, e)),
    };
    match dir.entry(name).map_err(|e| Error::io(&shown, e))? {
        None => return Ok(None),
        Some(m) if m.kind != rustix::fs::FileType::RegularFile => {
            return Err(Error::BadTarget {
                path: path.to_path_buf(),
                why: format!(
                    "it is a {}; tcptune replaces only regular files (--force does not change that)",
                    m.kind_name()
                ),
            });
        }
        Some(_) => {}
    }
    match dir.read(name, boot::FILE_CAP) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(ReadError::Io(e)) => Err(Error::io(shown, e)),
        Err(e) => Err(Error::BadTarget {
            path: path.to_path_buf(),
            why: e.to_string(),
        }),
    }
}

/// Replaces the target with `content` (mode 0644), creating its directory.
pub fn write(root: &Root, path: &Path, content: &str) -> std::io::Result<()> {
    let (dir, name) = split(path);
    root.make_dir(dir, 0o755)?
        .replace(name, content.as_bytes(), 0o644)
}

/// Removes the target (revert of a file that did not exist before).
pub fn remove(root: &Root, path: &Path) -> std::io::Result<()> {
    let (dir, name) = split(path);
    match root.dir(dir) {
        Ok(d) => d.remove(name),
        Err(e) if crate::root::is_absent(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes temporary files a killed run may have left next to the target.
pub fn clean_stale_temps(root: &Root, path: &Path) {
    if let Ok(d) = root.dir(split(path).0) {
        d.clean_temps();
    }
}

/// Where a file is shown in messages.
pub fn shown(root: &Root, path: &Path) -> PathBuf {
    root.show(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(key: &str, value: Value, why: &str) -> Setting {
        Setting {
            key: key.into(),
            value,
            summary: Some("SYN-ACK retries."),
            why: Some(why.into()),
        }
    }

    #[test]
    fn render_is_deterministic_and_explained() {
        let s = vec![setting(
            "net.ipv4.tcp_synack_retries",
            Value::Int(2),
            "faster",
        )];
        let chain = ["web".into(), "kernel-defaults".into()];
        let a = render("web", "built-in", &chain, &s).unwrap();
        assert_eq!(a, render("web", "built-in", &chain, &s).unwrap());
        assert!(a.contains("# SYN-ACK retries.\n# why: faster\nnet.ipv4.tcp_synack_retries = 2\n"));
        assert!(a.starts_with(
            "# Written by tcptune from profile web (built-in, extends kernel-defaults)."
        ));
    }

    #[test]
    fn free_text_cannot_end_a_comment_line() {
        for why in [
            "ok\rkernel.core_pattern = |/tmp/x %p",
            "ok\0kernel.core_pattern = |/tmp/x",
            "ok\nkernel.core_pattern = x",
            "ok\r\n\u{85}kernel.x = 1",
        ] {
            let s = vec![setting("net.ipv4.tcp_synack_retries", Value::Int(2), why)];
            let text = render(&format!("p{why}"), why, &["p".into()], &s).unwrap();
            for loader in [Loader::Systemd, Loader::Procps] {
                let (got, _) = boot::assignments(text.as_bytes(), loader);
                assert_eq!(
                    got,
                    [(
                        "net.ipv4.tcp_synack_retries".to_string(),
                        Some("2".to_string())
                    )],
                    "{why:?}"
                );
            }
            assert!(!text.contains('\r') && !text.contains('\0'));
        }
    }

    #[test]
    fn keys_and_values_that_are_not_one_line_are_refused() {
        for (key, value) in [
            (
                "net.ipv4.x",
                Value::Text("1\rkernel.core_pattern = |x".into()),
            ),
            ("net.ipv4.x", Value::Text("1\0".into())),
            ("net.ipv4.x\rkernel.y", Value::Int(1)),
            ("#net.ipv4.x", Value::Int(1)),
            ("net.ipv4.x", Value::Text("".into())),
        ] {
            let s = vec![setting(key, value, "x")];
            assert!(
                matches!(
                    render("p", "f", &["p".into()], &s),
                    Err(Error::Unrenderable { .. })
                ),
                "{key:?}"
            );
        }
    }

    #[test]
    fn targets_stay_in_the_admins_sysctl_directories() {
        for ok in [
            "/etc/sysctl.d/99-zz-tcptune.conf",
            "/run/sysctl.d/50-x.conf",
            "/usr/local/lib/sysctl.d/x.conf",
        ] {
            assert!(check_target(Path::new(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "etc/sysctl.d/x.conf",
            "/etc/passwd",
            "/dev/null",
            "/etc/sysctl.d/x",
            "/etc/sysctl.d/.x.conf",
            "/etc/sysctl.d/../passwd.conf",
            "/etc/sysctl.d/sub/x.conf",
            "/usr/lib/sysctl.d/x.conf",
            "/etc/sysctl.d/a\nb.conf",
        ] {
            assert!(check_target(Path::new(bad)).is_err(), "{bad}");
        }
    }
}
