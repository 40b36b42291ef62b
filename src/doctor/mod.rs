//! `doctor`: which connection-handling limit is this namespace hitting?
//! Samples the kernel's counters and sockets twice, `--interval` apart (or
//! once, with totals since boot), hands the evidence to `findings` (pure
//! rules that name the limit, show the numbers and propose targets), and
//! can write the targets as a profile for the usual review.
//!
//! Everything is read in the calling thread's network namespace (`--netns`
//! runs the whole command in a thread that joined it): /proc/thread-self/net
//! and the netlink socket follow the thread.

pub mod counters;
mod descriptors;
mod filter;
pub mod findings;
pub mod sockets;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Context;
use crate::error::Error;
use crate::kernel::{Kernel, Reading};
use counters::{Movement, Sample};
use findings::{Evidence, Finding, Severity, Sysctls};
use sockets::Sockets;

/// What doctor found, for the renderer.
pub struct Report {
    pub interval_s: f64,
    /// `--netns` as given; `None` for the namespace tcptune runs in.
    pub netns: Option<String>,
    pub sockets: Sockets,
    pub counters: BTreeMap<String, Movement>,
    pub sample: Sample,
    pub sysctls: Sysctls,
    pub findings: Vec<Finding>,
    /// `--write-profile` was given (the view need not suggest it).
    pub writing_profile: bool,
}

impl Report {
    /// Findings that make doctor exit 1.
    pub fn alarming(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity >= Severity::Warning)
    }

    /// Every target of every finding, the largest where two disagree, with
    /// the evidence behind it.
    pub fn targets(&self) -> BTreeMap<String, (String, Vec<String>)> {
        let mut out: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for f in &self.findings {
            for (key, value) in &f.targets {
                let why = format!("{}: {}", f.id, f.evidence.join("; "));
                let entry = out
                    .entry(key.clone())
                    .or_insert_with(|| (value.clone(), Vec::new()));
                if bigger(value, &entry.0) {
                    entry.0 = value.clone();
                }
                entry.1.push(why);
            }
        }
        out
    }
}

/// Whether `a` asks for more than `b` (numbers; a pair by its width).
fn bigger(a: &str, b: &str) -> bool {
    let width = |t: &str| -> i64 {
        let n: Vec<i64> = t
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match n.as_slice() {
            [lo, hi] => hi - lo,
            [v] => *v,
            _ => 0,
        }
    };
    width(a) > width(b)
}

fn read_sysctls(cx: &Context) -> Sysctls {
    findings::KEYS
        .iter()
        .filter_map(|&k| match cx.kernel.read(k) {
            Reading::Value(v) => Some((k, v.split_whitespace().collect::<Vec<_>>().join(" "))),
            _ => None,
        })
        .collect()
}

/// Sockets with the namespace's ephemeral range. Connections are dumped
/// only when the namespace holds enough of them (sockets in use plus
/// TIME_WAIT, from sockstat) to fill the share of the range at which
/// port-exhaustion starts: no pair of addresses can hold more than all.
fn sockets(sysctls: &Sysctls, sample: &Sample) -> Result<Sockets, Error> {
    let range = sysctls
        .get("net.ipv4.ip_local_port_range")
        .and_then(|r| {
            let mut it = r.split_whitespace().filter_map(|w| w.parse::<u16>().ok());
            Some((it.next()?, it.next()?))
        })
        .unwrap_or((32768, 60999));
    let stat = |f: &str| sample.sockstat.get(f).copied().unwrap_or(i64::MAX / 4);
    let connections = stat("inuse").saturating_add(stat("tw"));
    let near = findings::port_threshold(i64::from(range.1) - i64::from(range.0) + 1);
    Sockets::read(range, connections, near).map_err(|source| Error::SockDiag { source })
}

/// Keys the kernel no longer has that a boot file still sets.
fn removed_in_boot_files(cx: &Context) -> Vec<(String, String)> {
    if cx.other_netns {
        return Vec::new();
    }
    let boot = cx.boot();
    boot.lines
        .iter()
        .filter(|l| l.value.is_some())
        .filter_map(|l| {
            let key = crate::key::canonical(&l.written).ok()?;
            let removed = crate::catalog::find_removed(&key)?;
            Some((
                removed.key.to_string(),
                format!("{}:{}", boot.file_of(l).display(), l.line),
            ))
        })
        .collect()
}

/// Samples, waits, samples again, and diagnoses.
pub fn examine(cx: &Context, interval_s: f64, netns: Option<String>) -> Result<Report, Error> {
    let sysctls = read_sysctls(cx);
    let (before, sockets_before) = if interval_s > 0.0 {
        let started = Instant::now();
        let sample = Sample::read(cx.root);
        let socks = sockets(&sysctls, &sample)?;
        let wait = Duration::from_secs_f64(interval_s).saturating_sub(started.elapsed());
        std::thread::sleep(wait);
        (Some(sample), Some(socks))
    } else {
        (None, None)
    };
    let sample = Sample::read(cx.root);
    let socks = sockets(&sysctls, &sample)?;
    let counters = counters::movements(before.as_ref(), &sample, interval_s);
    let found = findings::diagnose(&Evidence {
        interval_s,
        counters: &counters,
        sample: &sample,
        sockets: &socks,
        sockets_before: sockets_before.as_ref(),
        sysctls: &sysctls,
        removed_in_boot_files: removed_in_boot_files(cx),
    });
    Ok(Report {
        interval_s,
        netns,
        sockets: socks,
        counters,
        sample,
        sysctls,
        findings: found,
        writing_profile: false,
    })
}

/// The profile `--write-profile` writes: `base` extended by every target,
/// each `why` quoting the evidence. `None` when no finding has a target.
pub fn profile_text(report: &Report, base: &str, host: &str) -> Option<String> {
    #[derive(serde::Serialize)]
    struct Entry {
        value: serde_yaml::Value,
        why: String,
    }
    #[derive(serde::Serialize)]
    struct Profile {
        description: String,
        extends: String,
        sysctls: BTreeMap<String, Entry>,
    }
    let targets = report.targets();
    if targets.is_empty() {
        return None;
    }
    let ids: Vec<&str> = {
        let mut v: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| !f.targets.is_empty())
            .map(|f| f.id)
            .collect();
        v.dedup();
        v
    };
    let sysctls = targets
        .into_iter()
        .map(|(key, (value, whys))| {
            let value = match value.parse::<i64>() {
                Ok(n) => serde_yaml::Value::Number(n.into()),
                Err(_) => serde_yaml::Value::String(value),
            };
            let why = crate::render::sanitize::clean(&whys.join(" / ")).into_owned();
            (key, Entry { value, why })
        })
        .collect();
    let profile = Profile {
        description: format!(
            "Changes supported by tcptune doctor's evidence on {host} ({}).",
            ids.join(", ")
        ),
        extends: base.to_string(),
        sysctls,
    };
    let yaml = serde_yaml::to_string(&profile).ok()?;
    Some(format!(
        "# Written by `tcptune doctor` from what this host's counters and sockets\n# showed. Review it: `tcptune diff FILE`, then `tcptune apply FILE`.\n{yaml}"
    ))
}

/// Writes `content` to a new file at `path` (a host path, as given):
/// written in full under a temporary name in the same directory, then
/// linked into place only if nothing is there, so no reader ever sees a
/// half-written profile and no existing file is replaced.
pub fn write_new(path: &Path, content: &str) -> Result<(), Error> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| Error::BadTarget {
        path: path.to_path_buf(),
        why: "names no file".into(),
    })?;
    let persist = |source| Error::Persist {
        path: path.to_path_buf(),
        source,
    };
    let tmp = dir.join(format!(
        ".{}.tcptune-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(persist)?;
    let written = file
        .write_all(content.as_bytes())
        .and_then(|()| file.sync_all());
    // hard_link fails with EEXIST rather than replace: never overwrites.
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Exists {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(persist(e)),
    }
}
