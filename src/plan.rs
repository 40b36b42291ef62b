//! `Plan`: what a profile would change, key by key, against a `Snapshot`
//! of live values. Building a plan is pure; reading the kernel happens once,
//! before, in `Snapshot::read`.

use std::collections::HashMap;

use crate::catalog::{self, Kind, Param, Scope};
use crate::error::Error;
use crate::kernel::Kernel;
use crate::library::Resolved;
use crate::profile::Target;
use crate::value::Value;

/// Live values of a set of keys; `None` where the kernel has no such key.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    values: HashMap<String, Option<Value>>,
}

impl Snapshot {
    /// Reads each key once. A key the kernel prints in an unexpected shape
    /// is an error naming it, not a silent mismatch.
    pub fn read<'a>(
        kernel: &dyn Kernel,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<Snapshot, Error> {
        let mut values = HashMap::new();
        for key in keys {
            if values.contains_key(key) {
                continue;
            }
            let param = catalog::find(key);
            let value = match kernel.read(key)? {
                None => None,
                Some(text) => {
                    Some(
                        Value::from_kernel(&text, param).ok_or_else(|| Error::Unparsable {
                            key: key.to_string(),
                            text: text.trim().to_string(),
                            expected: if param.is_some_and(|p| p.kind == Kind::Pair) {
                                "pair of integers"
                            } else {
                                "integer"
                            },
                        })?,
                    )
                }
            };
            values.insert(key.to_string(), value);
        }
        Ok(Snapshot { values })
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Option<Value>)>) -> Snapshot {
        Snapshot {
            values: pairs.into_iter().collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key).and_then(Option::as_ref)
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
}

impl Status {
    pub fn words(self) -> &'static str {
        match self {
            Status::Change => "change",
            Status::InSync => "in sync",
            Status::BoundSatisfied => "bound satisfied",
            Status::NotOnKernel => "not on this kernel",
            Status::NotInNetns => "not in this netns",
        }
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
    pub origin: String,
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
}

impl Plan {
    pub fn new(resolved: &Resolved, live: &Snapshot) -> Plan {
        let p = &resolved.profile;
        let rows = p.entries.iter().map(|e| {
            let live = live.get(&e.key).cloned();
            let (status, desired) = decide(&e.target, live.as_ref(), e.param);
            Row {
                key: e.key.clone(),
                param: e.param,
                live,
                target: e.target.clone(),
                desired,
                status,
                why: e.why.clone(),
                origin: e.origin.clone(),
            }
        });
        Plan {
            profile: p.name.clone(),
            source: p.source.describe(),
            chain: resolved.chain.clone(),
            rows: rows.collect(),
        }
    }

    pub fn changes(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.status == Status::Change)
    }

    pub fn has_changes(&self) -> bool {
        self.changes().next().is_some()
    }

    pub fn count(&self, status: Status) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }

    /// The live values with the plan's changes applied: what the kernel
    /// would hold afterwards, for explaining consequences.
    pub fn after(&self, before: &Snapshot) -> Snapshot {
        let mut after = before.clone();
        for r in self.changes() {
            after.values.insert(r.key.clone(), r.desired.clone());
        }
        after
    }
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
