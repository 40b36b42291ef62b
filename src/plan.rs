//! `Plan`: what a profile would change, key by key, against a `Snapshot`
//! of live values. Building a plan is pure; reading the kernel happens once,
//! before, in `Snapshot::read`.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::boot::BootConfig;
use crate::catalog::{self, Default as KDefault, Kind, Param, Scope};
use crate::kernel::{Kernel, Reading};
use crate::library::Resolved;
use crate::profile::Target;
use crate::value::Value;

/// Live values of a set of keys, as read once.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    values: HashMap<String, Live>,
}

/// One key's live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    Value(Value),
    /// This kernel (or namespace) has no such key, or no kernel is visible.
    Absent,
    /// It exists but cannot be read or parsed (why).
    Unreadable(String),
}

impl Snapshot {
    /// Reads each key once. A key that cannot be read, or that the kernel
    /// prints in an unexpected shape, is reported for that key alone.
    pub fn read<'a>(kernel: &dyn Kernel, keys: impl IntoIterator<Item = &'a str>) -> Snapshot {
        let mut values = HashMap::new();
        for key in keys {
            if values.contains_key(key) {
                continue;
            }
            let param = catalog::find(key);
            let live = match kernel.read(key) {
                Reading::Absent => Live::Absent,
                Reading::Unreadable(why) => Live::Unreadable(why),
                Reading::Value(text) => match Value::from_kernel(&text, param) {
                    Some(v) => Live::Value(v),
                    None => Live::Unreadable(format!(
                        "the kernel printed `{}`, which is not {}",
                        crate::render::sanitize::clean(text.trim()),
                        if param.is_some_and(|p| p.kind == Kind::Pair) {
                            "a pair of integers"
                        } else {
                            "an integer"
                        }
                    )),
                },
            };
            values.insert(key.to_string(), live);
        }
        Snapshot { values }
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Option<Value>)>) -> Snapshot {
        Snapshot {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k, v.map_or(Live::Absent, Live::Value)))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        match self.values.get(key) {
            Some(Live::Value(v)) => Some(v),
            _ => None,
        }
    }

    /// Why `key` could not be read, if it could not.
    pub fn unreadable(&self, key: &str) -> Option<&str> {
        match self.values.get(key) {
            Some(Live::Unreadable(why)) => Some(why),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The live value differs; the plan would write `desired`.
    Change,
    InSync,
    /// An at_least/at_most bound that the live value already meets.
    BoundSatisfied,
    NotOnKernel,
    /// The key exists only in the initial network namespace.
    NotInNetns,
    /// Live differs, but the sysctl.d files already set the target: it
    /// takes effect at the next boot (or on apply).
    NotLiveYet,
    /// Live matches, but no file sets the key and the kernel default
    /// differs: the next boot loses it.
    LostAtReboot,
    /// Live matches, but a file sets another value at boot (a stale line,
    /// or a later file beating the one that sets the target).
    OverriddenAtBoot,
    /// The key exists but its live value cannot be read.
    Unreadable,
}

impl Status {
    pub fn words(self) -> &'static str {
        match self {
            Status::Change => "change",
            Status::InSync => "in sync",
            Status::BoundSatisfied => "bound satisfied",
            Status::NotOnKernel => "not on this kernel",
            Status::NotInNetns => "not in this netns",
            Status::NotLiveYet => "not live yet",
            Status::LostAtReboot => "lost at reboot",
            Status::OverriddenAtBoot => "overridden at boot",
            Status::Unreadable => "cannot read",
        }
    }

    /// The live value differs from the profile.
    pub fn live_drift(self) -> bool {
        matches!(self, Status::Change | Status::NotLiveYet)
    }

    /// What loads at boot differs from the profile.
    pub fn boot_drift(self) -> bool {
        matches!(
            self,
            Status::Change | Status::LostAtReboot | Status::OverriddenAtBoot
        )
    }
}

/// Where a key will stand after the next boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtBoot {
    /// The value that will load: the winning file's, else the kernel's fixed
    /// default; `None` when neither is known or the kernel would refuse it.
    pub value: Option<Value>,
    /// The winning file and line; `None` when no file sets the key.
    pub source: Option<(PathBuf, usize)>,
    /// A line that sets the profile's target but loses to `source`.
    pub overridden: Option<(PathBuf, usize)>,
    pub satisfied: bool,
    /// Files whose effect tcptune cannot know (unreadable, blocking, too
    /// large): while there are any, this view is a guess.
    pub unknown: bool,
}

impl AtBoot {
    fn new(
        boot: &BootConfig,
        key: &str,
        param: Option<&Param>,
        target: &Target,
        live: Option<&Value>,
        offline: bool,
    ) -> AtBoot {
        let prov = boot.provenance(key);
        let fits = |raw: &Option<crate::boot::Text>| {
            raw.as_deref()
                .and_then(|v| Value::from_write(v, param))
                .is_some_and(|v| satisfies(target, &v))
        };
        let (value, source) = match prov.winner {
            Some(l) => (
                l.value.as_deref().and_then(|v| Value::from_write(v, param)),
                Some((boot.file_of(l).to_path_buf(), l.line as usize)),
            ),
            // No file sets it: the running kernel's default loads. Defaults
            // changed between versions (somaxconn 128 -> 4096 in 5.4), so the
            // catalog's default counts only when the live value agrees; for
            // an offline image it is the best there is.
            None => match param.map(|p| p.default) {
                Some(KDefault::Fixed(d))
                    if offline || Value::from_kernel(d, param).as_ref() == live =>
                {
                    (Value::from_kernel(d, param), None)
                }
                _ => (None, None),
            },
        };
        let satisfied = value.as_ref().is_some_and(|v| satisfies(target, v));
        let overridden = if satisfied {
            None
        } else {
            prov.candidates
                .iter()
                .rev()
                .find(|l| fits(&l.value))
                .map(|l| (boot.file_of(l).to_path_buf(), l.line as usize))
        };
        AtBoot {
            value,
            source,
            overridden,
            satisfied,
            unknown: boot.unknown().next().is_some(),
        }
    }
}

/// Whether `value` meets the profile's target.
pub fn satisfies(target: &Target, value: &Value) -> bool {
    match target {
        Target::Exact(want) => want == value,
        Target::Bounds { at_least, at_most } => value
            .as_int()
            .is_some_and(|v| at_least.is_none_or(|lo| v >= lo) && at_most.is_none_or(|hi| v <= hi)),
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub key: String,
    pub param: Option<&'static Param>,
    pub live: Option<Value>,
    pub target: Target,
    /// The value the plan would write; set for `Change` only.
    pub desired: Option<Value>,
    pub status: Status,
    pub why: Option<String>,
    /// Outside net.*, set only because the profile opted in.
    pub outside_net: bool,
    /// Why the live value cannot be read, for `Unreadable`.
    pub unreadable: Option<String>,
    pub origin: String,
    /// The at-boot view; `None` when the boot files were not read or the
    /// kernel has no such key.
    pub boot: Option<AtBoot>,
}

impl Row {
    /// The one-line reason shown under a change: the profile author's
    /// `why`, else the catalog's summary.
    pub fn reason(&self) -> Option<&str> {
        self.why.as_deref().or(self.param.map(|p| p.summary))
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub profile: String,
    pub source: String,
    pub chain: Vec<String>,
    pub rows: Vec<Row>,
    /// The loader whose files were read for the at-boot view.
    pub loader: Option<crate::boot::Loader>,
    /// No live kernel was visible (an image): statuses come from the boot view.
    pub offline: bool,
    /// Boot files whose effect is unknown (why): the boot view is a guess.
    pub unknown_files: Vec<(PathBuf, String)>,
}

impl Plan {
    /// The plan for `resolved` against live values and, when given, what
    /// the sysctl.d files will load at boot.
    pub fn new(resolved: &Resolved, snapshot: &Snapshot, boot: Option<&BootConfig>) -> Plan {
        Self::build(resolved, snapshot, boot, false)
    }

    /// The plan for an image with no live kernel: every status from the
    /// boot view alone (`Change`: the file would change what loads).
    pub fn offline(resolved: &Resolved, boot: &BootConfig) -> Plan {
        Self::build(resolved, &Snapshot::default(), Some(boot), true)
    }

    fn build(
        resolved: &Resolved,
        snapshot: &Snapshot,
        boot: Option<&BootConfig>,
        offline: bool,
    ) -> Plan {
        let p = &resolved.profile;
        let rows = p.entries.iter().map(|e| {
            let unreadable = snapshot.unreadable(&e.key).map(str::to_string);
            let live = snapshot.get(&e.key).cloned();
            let (mut status, desired) = decide(&e.target, live.as_ref(), e.param);
            if unreadable.is_some() {
                status = Status::Unreadable;
            }
            // Offline (an image without /proc/sys): the boot view is all there is.
            let at_boot = boot
                .filter(|_| live.is_some() || offline)
                .map(|b| AtBoot::new(b, &e.key, e.param, &e.target, live.as_ref(), offline));

            status = match (status, at_boot.as_ref().map(|b| b.satisfied)) {
                (Status::Change, Some(true)) => Status::NotLiveYet,
                // A file sets another value (a stale line, or one that beats
                // the line setting the target): the boot overrides live.
                (Status::InSync | Status::BoundSatisfied, Some(false))
                    if at_boot.as_ref().is_some_and(|b| b.source.is_some()) =>
                {
                    Status::OverriddenAtBoot
                }
                (Status::InSync | Status::BoundSatisfied, Some(false)) => Status::LostAtReboot,
                (s, _) => s,
            };
            if offline {
                status = match at_boot.as_ref().map(|b| b.satisfied) {
                    Some(true) => Status::InSync,
                    _ => Status::Change,
                };
            }
            Row {
                key: e.key.clone(),
                param: e.param,
                live,
                target: e.target.clone(),
                desired,
                status,
                why: e.why.clone(),
                outside_net: e.outside_net,
                unreadable,
                origin: e.origin.clone(),
                boot: at_boot,
            }
        });
        Plan {
            profile: p.name.clone(),
            source: p.source.describe(),
            chain: resolved.chain.clone(),
            rows: rows.collect(),
            loader: boot.map(|b| b.loader),
            offline,
            unknown_files: boot
                .map(|b| {
                    b.unknown()
                        .map(|(p, w)| (p.to_path_buf(), w.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Rows whose live value would be written.
    pub fn changes(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.status.live_drift() && r.desired.is_some() && r.live.is_some())
    }

    /// Files whose effect on the boot view is unknown, if any row uses it.
    pub fn boot_unknown(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.boot.as_ref().is_some_and(|b| b.unknown))
    }

    /// Rows that differ from the profile, live or at boot.
    pub fn drifted(&self, scope: DriftScope) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| match scope {
            DriftScope::Both => r.status.live_drift() || r.status.boot_drift(),
            DriftScope::Live => r.status.live_drift(),
            DriftScope::Boot => r.status.boot_drift(),
        })
    }

    pub fn has_changes(&self) -> bool {
        self.drifted(DriftScope::Both).next().is_some()
    }

    pub fn count(&self, status: Status) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }

    /// The live values with the plan's changes applied: what the kernel
    /// would hold afterwards, for explaining consequences.
    pub fn after(&self, before: &Snapshot) -> Snapshot {
        let mut after = before.clone();
        for r in self.changes() {
            if let Some(d) = &r.desired {
                after.values.insert(r.key.clone(), Live::Value(d.clone()));
            }
        }
        after
    }
}

/// Which differences count as drift (`check --live-only`, `--boot-only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftScope {
    Both,
    Live,
    Boot,
}

fn decide(target: &Target, live: Option<&Value>, param: Option<&Param>) -> (Status, Option<Value>) {
    let Some(live) = live else {
        let status = match param.map(|p| p.scope) {
            Some(Scope::InitNetnsOnly) => Status::NotInNetns,
            _ => Status::NotOnKernel,
        };
        return (status, None);
    };
    match target {
        Target::Exact(want) if want == live => (Status::InSync, None),
        Target::Exact(want) => (Status::Change, Some(want.clone())),
        Target::Bounds { at_least, at_most } => {
            let v = live.as_int().unwrap_or_default();
            match (at_least, at_most) {
                (Some(lo), _) if v < *lo => (Status::Change, Some(Value::Int(*lo))),
                (_, Some(hi)) if v > *hi => (Status::Change, Some(Value::Int(*hi))),
                _ => (Status::BoundSatisfied, None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Profile, Source};

    fn plan(profile: &str, live: &[(&str, Option<Value>)]) -> Plan {
        let p = Profile::parse("t", Source::Builtin, profile.as_bytes(), None).unwrap();
        let resolved = Resolved {
            profile: p,
            chain: vec!["t".into()],
        };
        Plan::new(
            &resolved,
            &Snapshot::from_pairs(live.iter().map(|(k, v)| (k.to_string(), v.clone()))),
            None,
        )
    }

    #[test]
    fn exact_values_and_bounds() {
        let p = plan(
            "sysctls:\n  somaxconn: 8192\n  tcp_max_syn_backlog: {at_least: 4096}\n  tcp_fin_timeout: {at_most: 30}\n  tcp_synack_retries: 5\n",
            &[
                ("net.core.somaxconn", Some(Value::Int(4096))),
                ("net.ipv4.tcp_max_syn_backlog", Some(Value::Int(8192))),
                ("net.ipv4.tcp_fin_timeout", Some(Value::Int(60))),
                ("net.ipv4.tcp_synack_retries", Some(Value::Int(5))),
            ],
        );
        let got: Vec<_> = p
            .rows
            .iter()
            .map(|r| (r.status, r.desired.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (Status::Change, Some(Value::Int(8192))),
                (Status::BoundSatisfied, None),
                (Status::Change, Some(Value::Int(30))),
                (Status::InSync, None)
            ]
        );
        assert!(p.has_changes());
    }

    #[test]
    fn missing_keys_by_scope() {
        let p = plan(
            "sysctls:\n  netdev_max_backlog: 5000\n  tcp_tw_reuse_delay: 100\n",
            &[],
        );
        let got: Vec<_> = p.rows.iter().map(|r| r.status).collect();
        assert_eq!(got, [Status::NotInNetns, Status::NotOnKernel]);
        assert!(!p.has_changes());
    }
}
