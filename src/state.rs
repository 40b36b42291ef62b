//! `State`: what tcptune has changed in one network namespace, kept so that
//! `revert` can put the host back as it was before tcptune, however many
//! applies, interrupted runs and repairs came in between.
//!
//! - `originals`: for every key tcptune ever wrote (since the last full
//!   revert), the value it had *before tcptune first touched it*, and the
//!   value tcptune last wrote. Likewise `files`, for the sysctl.d files.
//!   A later apply never overwrites an original, so a re-run after a killed
//!   apply keeps the true originals.
//! - `applies`: the history, newest last (bounded), for `revert --last`.
//! - `journal`: written, with the originals, *before* the first change; a
//!   run that is killed leaves it behind, and the next apply or revert says
//!   so and carries on from the recorded originals.
//!
//! Where: `/var/lib/tcptune/state.json` below the root for the namespace
//! tcptune runs in; `/run/tcptune/netns-INODE.json` for another namespace
//! reached with `--netns` and no `--root` (live values only, gone at
//! reboot with the namespace). Every state names its namespace (inode and
//! cookie), and one recorded in another namespace is refused, so a revert
//! never writes one namespace's values into another.
//!
//! A state is data, not an instruction: loading validates every key, path
//! and size, and (run as root) its ownership.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::key;
use crate::root::{ReadError, Root};
use crate::trust;

pub const STATE_DIR: &str = "/var/lib/tcptune";
pub const NETNS_STATE_DIR: &str = "/run/tcptune";
const STATE_NAME: &str = "state.json";
/// A state file is small; anything larger is not ours.
const STATE_CAP: u64 = 4 << 20;
/// Applies kept for `revert --last` (originals are kept for every key).
const HISTORY: usize = 32;

/// A network namespace, as the kernel identifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsId {
    pub inode: u64,
    /// SO_NETNS_COOKIE (Linux 5.14+): never reused while the system runs.
    pub cookie: Option<u64>,
}

impl std::fmt::Display for NetnsId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "net:[{}]", self.inode)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    /// The value before tcptune first wrote the key.
    pub value: String,
    /// What tcptune last wrote.
    pub wrote: String,
    /// The apply that first wrote it (see `Record::seq`).
    pub since: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOriginal {
    /// The content before tcptune first wrote the file; `None`: no file.
    pub before: Option<String>,
    /// What tcptune last left there; `None`: it removed the file.
    pub wrote: Option<String>,
    pub since: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveChange {
    pub key: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One apply, as it was carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub profile: String,
    /// How to find the profile again (`check --applied`): its name, or
    /// the absolute path of its file. Absent in states of older tcptunes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// What the apply made true: "both", "live" or "boot".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Seconds since the epoch.
    pub at: u64,
    pub live: Vec<LiveChange>,
    pub file: Option<FileChange>,
}

/// A run in progress: present on disk only while it runs, or after it was
/// killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub command: String,
    pub profile: Option<String>,
    pub pid: u32,
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Bumped if the shape changes; other versions are refused, not guessed.
    pub version: u32,
    pub netns: NetnsId,
    pub originals: BTreeMap<String, Original>,
    pub files: BTreeMap<PathBuf, FileOriginal>,
    pub applies: Vec<Record>,
    pub journal: Option<Journal>,
    /// The last apply's number.
    pub seq: u64,
}

/// Where the state of this run lives.
#[derive(Debug, Clone)]
pub struct Place {
    pub dir: PathBuf,
    pub name: String,
}

impl Place {
    /// The namespace tcptune runs in keeps its state below the root; one
    /// reached with `--netns` and no `--root`, in /run.
    pub fn for_run(other_netns: bool, netns: NetnsId) -> Place {
        if other_netns {
            Place {
                dir: NETNS_STATE_DIR.into(),
                name: format!("netns-{}.json", netns.inode),
            }
        } else {
            Place {
                dir: STATE_DIR.into(),
                name: STATE_NAME.into(),
            }
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl State {
    pub const VERSION: u32 = 2;

    pub fn new(netns: NetnsId) -> State {
        State {
            version: Self::VERSION,
            netns,
            originals: BTreeMap::new(),
            files: BTreeMap::new(),
            applies: Vec::new(),
            journal: None,
            seq: 0,
        }
    }

    /// Nothing recorded: nothing to revert.
    pub fn is_empty(&self) -> bool {
        self.originals.is_empty() && self.files.is_empty() && self.applies.is_empty()
    }

    /// The recorded state, or `None` when tcptune has changed nothing here
    /// (or a full revert undid it).
    pub fn load(root: &Root, place: &Place, here: NetnsId) -> Result<Option<State>, Error> {
        let path = place.path();
        let shown = root.show(&path);
        let bad = |why: String| Error::BadState {
            path: shown.clone(),
            why,
        };
        let bytes = match root.read(&path, STATE_CAP) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(ReadError::Io(e)) => return Err(Error::io(shown, e)),
            Err(e) => return Err(bad(e.to_string())),
        };
        trust::check(root, &path, "state file")?;
        let state: State = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if state.version != Self::VERSION {
            return Err(bad(format!(
                "version {} (this tcptune reads {})",
                state.version,
                Self::VERSION
            )));
        }
        state.validate().map_err(bad)?;
        let has_live = !state.originals.is_empty();
        let same_ns = state.netns.inode == here.inode
            && (state.netns.cookie.is_none()
                || here.cookie.is_none()
                || state.netns.cookie == here.cookie);
        if has_live && !same_ns {
            return Err(bad(format!(
                "it records values of network namespace {}, and this is {}: revert it from that namespace (--netns)",
                state.netns, here
            )));
        }
        Ok(Some(state))
    }

    /// Every key canonical and printable, every file a sysctl.d file.
    fn validate(&self) -> Result<(), String> {
        let check_key = |k: &str| match key::canonical(k) {
            Ok(c) if c == k => Ok(()),
            Ok(_) => Err(format!(
                "key {} is not in canonical form",
                crate::render::sanitize::clean(k)
            )),
            Err(e) => Err(format!("key {}: {e}", crate::render::sanitize::clean(k))),
        };
        let check_value = |v: &str| {
            if v.chars().any(|c| c.is_control() && c != '\t') || v.len() > 4096 {
                Err(format!(
                    "value {} is not a sysctl value",
                    crate::render::sanitize::clean(v)
                ))
            } else {
                Ok(())
            }
        };
        for (k, o) in &self.originals {
            check_key(k)?;
            check_value(&o.value)?;
            check_value(&o.wrote)?;
        }
        for r in &self.applies {
            for c in &r.live {
                check_key(&c.key)?;
                check_value(&c.before)?;
                check_value(&c.after)?;
            }
            if let Some(f) = &r.file {
                crate::sysctl_file::check_target(&f.path).map_err(|e| e.to_string())?;
            }
        }
        for p in self.files.keys() {
            crate::sysctl_file::check_target(p).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Writes the state durably (temp file, fsync, rename, fsync of the
    /// directory), in a root-only directory.
    pub fn save(&self, root: &Root, place: &Place) -> Result<(), Error> {
        let persist = |source| Error::Persist {
            path: root.show(&place.path()),
            source,
        };
        let dir = root.make_dir(&place.dir, 0o700).map_err(persist)?;
        let text = serde_json::to_string_pretty(self).expect("state serializes");
        dir.replace(OsStr::new(&place.name), text.as_bytes(), 0o600)
            .map_err(persist)
    }

    pub fn remove(root: &Root, place: &Place) -> Result<(), Error> {
        let persist = |source| Error::Persist {
            path: root.show(&place.path()),
            source,
        };
        match root.dir(&place.dir) {
            Ok(dir) => dir.remove(OsStr::new(&place.name)).map_err(persist),
            Err(e) if crate::root::is_absent(&e) => Ok(()),
            Err(e) => Err(persist(e)),
        }
    }

    /// Records, before anything is written, the originals of what `record`
    /// will change and the journal of the run.
    pub fn begin(&mut self, record: &Record, command: &str) {
        self.seq = self.seq.max(record.seq);
        for c in &record.live {
            self.originals
                .entry(c.key.clone())
                .and_modify(|o| o.wrote = c.after.clone())
                .or_insert_with(|| Original {
                    value: c.before.clone(),
                    wrote: c.after.clone(),
                    since: record.seq,
                });
        }
        if let Some(f) = &record.file {
            self.files
                .entry(f.path.clone())
                .and_modify(|o| o.wrote = f.after.clone())
                .or_insert_with(|| FileOriginal {
                    before: f.before.clone(),
                    wrote: f.after.clone(),
                    since: record.seq,
                });
        }
        self.journal = Some(Journal {
            command: command.into(),
            profile: Some(record.profile.clone()),
            pid: std::process::id(),
            at: now(),
        });
    }

    /// The number the next apply gets.
    pub fn next_seq(&self) -> u64 {
        self.seq + 1
    }

    /// Closes a completed apply: into the history, journal cleared.
    pub fn finish(&mut self, record: Record) {
        self.seq = self.seq.max(record.seq);
        self.applies.push(record);
        let excess = self.applies.len().saturating_sub(HISTORY);
        self.applies.drain(..excess);
        self.journal = None;
    }

    /// After `revert --last` undid the newest apply: forget it, and the
    /// originals it was the first to record (they are restored now).
    pub fn pop_last(&mut self) -> Option<Record> {
        let last = self.applies.pop()?;
        self.originals.retain(|_, o| o.since != last.seq);
        self.files.retain(|_, o| o.since != last.seq);
        for c in &last.live {
            if let Some(o) = self.originals.get_mut(&c.key) {
                o.wrote = c.before.clone();
            }
        }
        if let Some(f) = &last.file
            && let Some(o) = self.files.get_mut(&f.path)
        {
            o.wrote = f.before.clone();
        }
        self.journal = None;
        Some(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, key: &str, before: &str, after: &str) -> Record {
        Record {
            seq,
            profile: "p".into(),
            spec: None,
            scope: None,
            at: 0,
            live: vec![LiveChange {
                key: key.into(),
                before: before.into(),
                after: after.into(),
            }],
            file: None,
        }
    }

    #[test]
    fn originals_survive_reruns_and_repairs() {
        let mut s = State::new(NetnsId {
            inode: 1,
            cookie: None,
        });
        // First apply, killed after its journal: 60 -> 15.
        s.begin(&record(1, "net.ipv4.tcp_fin_timeout", "60", "15"), "apply");
        // The re-run sees 15 already there for that key, and changes another.
        let r2 = record(2, "net.ipv4.tcp_syn_retries", "6", "3");
        s.begin(&r2, "apply");
        s.finish(r2);
        // Someone drifts fin_timeout to 30; a repair sets 15 again.
        let r3 = record(3, "net.ipv4.tcp_fin_timeout", "30", "15");
        s.begin(&r3, "apply");
        s.finish(r3);
        assert_eq!(s.originals["net.ipv4.tcp_fin_timeout"].value, "60");
        assert_eq!(s.originals["net.ipv4.tcp_syn_retries"].value, "6");
        assert!(s.journal.is_none());
        // revert --last undoes the repair only, and keeps both originals.
        s.pop_last();
        assert_eq!(s.originals["net.ipv4.tcp_fin_timeout"].value, "60");
        s.pop_last();
        assert!(!s.originals.contains_key("net.ipv4.tcp_syn_retries"));
    }
}
