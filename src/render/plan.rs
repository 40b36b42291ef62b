//! The plan views: `diff`, `check` and `explain`, in text and JSON. Kept
//! together because explanations are part of the diff table.

use std::fmt::Write as _;

use anstyle::Style;
use serde::Serialize;

use super::sanitize::clean;
use super::text::{hang, wrap};
use super::{BAD, BOLD, CHANGE, DIM, OK, Renderer, SCHEMA, width};
use crate::boot::Loader;
use crate::catalog::{self, Default as KDefault, Param, Scope};
use crate::cli::Format;
use crate::error::Error;
use crate::explain::Effect;
use crate::plan::{AtBoot, DriftScope, Plan, Row, Status};
use crate::profile::Target;
use crate::value::Value;

/// What a change means: `effect` is "after X instead of Y", `notes` are
/// caveats, `detail` the catalog's explanation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Explanation {
    pub effect: Option<String>,
    /// The consequence as a number after the change, and before it, with
    /// its unit ("s", "connections/s"...), when it has one.
    pub value: Option<f64>,
    /// For a consequence that depends on the path: the range's lower end
    /// (`value` is then the upper end).
    pub low: Option<f64>,
    pub before: Option<f64>,
    pub unit: Option<&'static str>,
    /// The key is in sync, but other keys of the plan change its effect.
    pub changed_by_others: bool,
    pub notes: Vec<String>,
    #[serde(skip)]
    pub detail: Option<&'static str>,
}

impl Renderer {
    /// The table of `diff` (and, with explanations, `diff --explain`).
    pub fn diff(&self, plan: &Plan, explained: Option<&[Explanation]>) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&PlanJson::new("diff", plan, explained, DriftScope::Both));
        }
        let mut t = String::new();
        let ancestry = if plan.chain.len() > 1 {
            format!(", extends {}", plan.chain[1..].join(" > "))
        } else {
            String::new()
        };
        let against = match plan.loader {
            _ if plan.offline => "the boot files only (no live kernel under this root)".to_string(),
            None => "the live kernel".to_string(),
            Some(l) => format!("the live kernel and the boot files ({})", l.name()),
        };
        let _ = writeln!(
            t,
            "{}\n",
            wrap(
                &format!(
                    "{BOLD}{}{BOLD:#} ({}{}) against {against}",
                    clean(&plan.profile),
                    clean(&plan.source),
                    clean(&ancestry)
                ),
                0,
                width()
            )
        );
        for (file, why) in &plan.unknown_files {
            let _ = writeln!(
                t,
                "{}\n",
                wrap(
                    &format!(
                        "{BAD}boot view unknown{BAD:#}: {}: {}",
                        clean(&file.display().to_string()),
                        clean(why)
                    ),
                    0,
                    width()
                )
            );
        }
        // Column widths: the widest cell, within bounds that fit the width.
        let column = |cell: &dyn Fn(&Row) -> usize, lo: usize, hi: usize| {
            plan.rows.iter().map(cell).max().unwrap_or(lo).clamp(lo, hi)
        };
        let key_w = column(&|r| r.key.len(), 9, 32);
        let live_w = column(&|r| live_text(r).len(), 4, 20);
        let tgt_w = column(&|r| target_text(&r.target).len(), 6, 20);
        let _ = writeln!(
            t,
            "{BOLD}{:key_w$}  {:>live_w$}  {:>tgt_w$}  STATUS{BOLD:#}",
            "PARAMETER", "LIVE", "TARGET"
        );
        for (i, r) in plan.rows.iter().enumerate() {
            let style = status_style(r.status);
            let _ = writeln!(
                t,
                "{:key_w$}  {:>live_w$}  {:>tgt_w$}  {style}{}{style:#}",
                clean(&r.key),
                clean(&live_text(r)),
                clean(&target_text(&r.target)),
                r.status.words()
            );
            if r.outside_net {
                let _ = writeln!(
                    t,
                    "{}",
                    wrap(
                        &format!(
                            "{BAD}! outside net.*{BAD:#}: the profile opted in with allow_outside_net; review this key"
                        ),
                        4,
                        width()
                    )
                );
            }
            if let Some(why) = &r.unreadable {
                let _ = writeln!(
                    t,
                    "{}",
                    wrap(&format!("cannot read: {}", clean(why)), 4, width())
                );
            }
            if let Some(line) = boot_line(r) {
                let _ = writeln!(t, "{}", wrap(&line, 4, width()));
            }
            if r.param.is_none() {
                let _ = writeln!(
                    t,
                    "{DIM}    note: not in tcptune's catalog; no explanation{DIM:#}"
                );
            }
            let ex = explained.and_then(|e| e.get(i));
            if !(r.status.live_drift() || r.status.boot_drift())
                && let Some(ex) = ex.filter(|e| e.changed_by_others)
            {
                explanation_text(&mut t, ex, 4);
            }
            if r.status.live_drift() || r.status.boot_drift() {
                if let Some(reason) = r.reason() {
                    let _ = writeln!(
                        t,
                        "{DIM}{}{DIM:#}",
                        wrap(&format!("why: {}", clean(reason)), 4, width())
                    );
                }
                if let Some(ex) = explained.and_then(|e| e.get(i)) {
                    explanation_text(&mut t, ex, 4);
                }
            }
        }
        let _ = writeln!(t, "\n{}", summary(plan));
        self.emit(&t)
    }

    /// `check`: silent when in sync, one line per drifted key otherwise.
    /// `check --applied --format json` when tcptune applied nothing here.
    pub fn nothing_applied(&self) -> Result<(), Error> {
        self.emit_json(
            &serde_json::json!({ "schema": SCHEMA, "command": "check", "nothing_applied": true }),
        )
    }

    pub fn check(&self, plan: &Plan, scope: DriftScope) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&PlanJson::new("check", plan, None, scope));
        }
        let mut t = String::new();
        for r in plan.drifted(scope) {
            let want = target_text(&r.target);
            if r.status.live_drift() && scope != DriftScope::Boot {
                let _ = writeln!(
                    t,
                    "drift: {} is {}, {} wants {}",
                    clean(&r.key),
                    clean(&live_text(r)),
                    clean(&plan.profile),
                    clean(&want)
                );
            }
            // A live change whose boot value is just the kernel default is one
            // difference, not two; say "at boot" only when a file decides it.
            let boot_decided = r.boot.as_ref().is_some_and(|b| b.source.is_some());
            if r.status.boot_drift()
                && scope != DriftScope::Live
                && (r.status != Status::Change || boot_decided || scope == DriftScope::Boot)
            {
                let boot = r.boot.as_ref().map_or_else(|| "-".to_string(), boot_value);
                let _ = writeln!(
                    t,
                    "drift at boot: {} will load {}, {} wants {}",
                    clean(&r.key),
                    clean(&boot),
                    clean(&plan.profile),
                    clean(&want)
                );
            }
        }
        self.emit(&t)
    }

    /// `explain PROFILE`: every change with its consequence.
    pub fn explain_plan(&self, plan: &Plan, explained: &[Explanation]) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&PlanJson::new(
                "explain",
                plan,
                Some(explained),
                DriftScope::Both,
            ));
        }
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{BOLD}{}{BOLD:#} ({}): {}\n",
            plan.profile,
            plan.source,
            summary(plan)
        );
        for (r, ex) in plan
            .rows
            .iter()
            .zip(explained)
            .filter(|(r, ex)| r.status == Status::Change || ex.changed_by_others)
        {
            let _ = writeln!(
                t,
                "{BOLD}{}{BOLD:#}: {} -> {}",
                r.key,
                live_text(r),
                r.desired.as_ref().map(Value::to_string).unwrap_or_default()
            );
            if let Some(why) = &r.why {
                let _ = writeln!(t, "{}", wrap(&format!("why: {}", clean(why)), 2, width()));
            }
            explanation_text(&mut t, ex, 2);
            t.push('\n');
        }
        if plan.changes().next().is_none() {
            t.push_str("Nothing to change: the live kernel already matches.\n");
        }
        self.emit(&t)
    }

    /// `explain KEY`: the catalog entry, live value and what it means now.
    pub fn explain_param(
        &self,
        p: &Param,
        live: Option<&Value>,
        now: Option<&Effect>,
    ) -> Result<(), Error> {
        let default = match p.default {
            KDefault::Fixed(v) => v.to_string(),
            KDefault::Derived(how) => how.to_string(),
        };
        let scope = match p.scope {
            Scope::PerNetns => {
                "per network namespace (a new namespace starts from the kernel default)"
            }
            Scope::InitNetnsOnly => "global: only the initial network namespace has it",
        };
        let live_text = live.map_or_else(|| "(not present here)".to_string(), Value::to_string);
        if self.format == Format::Json {
            return self.emit_json(&serde_json::json!({
                "schema": SCHEMA, "command": "explain", "key": p.key, "alias": p.alias, "summary": p.summary, "detail": p.detail,
                "range": { "min": p.range.min, "max": p.range.max }, "unit": p.unit, "default": default,
                "scope": match p.scope { Scope::PerNetns => "netns", Scope::InitNetnsOnly => "init-netns" },
                "versions": p.versions, "live": live.map(Value::to_string),
                "effect": now.map(|e| serde_json::json!({
                    "text": e.state(),
                    "value": e.quantity.map(|(v, _)| v),
                    "low": e.low,
                    "unit": e.quantity.map(|(_, u)| u),
                })),
                "note": now.and_then(|e| e.note.clone()),
            }));
        }
        let mut t = format!(
            "{BOLD}{}{BOLD:#} ({})\n{}\n\n",
            p.key,
            p.alias,
            wrap(p.summary, 2, width())
        );
        let unit = if p.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", p.unit)
        };
        for (label, value) in [
            ("live", format!("{live_text}{unit}")),
            ("default", default),
            ("range", p.range.to_string()),
            ("scope", scope.to_string()),
        ] {
            let _ = writeln!(
                t,
                "{}",
                hang(&format!("  {label:<8} "), &value, 11, width())
            );
        }
        if let Some(e) = now {
            let _ = writeln!(t, "{}", hang("  now      ", &e.state(), 11, width()));
            if let Some(n) = &e.note {
                let _ = writeln!(t, "{}", hang("  note     ", n, 11, width()));
            }
        }
        let _ = writeln!(
            t,
            "\n{}\n\n{}",
            wrap(p.detail, 2, width()),
            wrap(&format!("Versions: {}", p.versions), 2, width())
        );
        self.emit(&t)
    }

    /// `explain` of a key the kernel no longer has.
    pub fn explain_removed(&self, r: &catalog::Removed) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&serde_json::json!({"schema": SCHEMA, "command": "explain", "key": r.key, "alias": r.alias, "removed": r.since, "why": r.why, "instead": r.instead}));
        }
        self.emit(&format!(
            "{BOLD}{}{BOLD:#}: removed in {}.\n{}\n{}\n",
            r.key,
            r.since,
            wrap(&format!("Why: {}.", r.why), 2, width()),
            wrap(&format!("Instead: {}.", r.instead), 2, width())
        ))
    }

    /// `explain` of a key the kernel has but the catalog does not.
    pub fn explain_uncatalogued(&self, key: &str, live: Option<&Value>) -> Result<(), Error> {
        let live = live.map(Value::to_string);
        if self.format == Format::Json {
            return self.emit_json(&serde_json::json!({"schema": SCHEMA, "command": "explain", "key": key, "live": live, "catalogued": false}));
        }
        self.emit(&format!("{BOLD}{key}{BOLD:#}\n  live     {}\n  tcptune's catalog has no explanation for this key; see the kernel's\n  Documentation/networking/ip-sysctl.rst.\n", live.unwrap_or_default()))
    }
}

fn explanation_text(t: &mut String, ex: &Explanation, indent: usize) {
    if let Some(e) = &ex.effect {
        let _ = writeln!(t, "{}", wrap(&format!("effect: {e}"), indent, width()));
    }
    for n in &ex.notes {
        let _ = writeln!(t, "{}", wrap(&format!("note: {n}"), indent, width()));
    }
    if let Some(d) = ex.detail {
        let _ = writeln!(t, "{DIM}{}{DIM:#}", wrap(d, indent, width()));
    }
}

fn status_style(s: Status) -> Style {
    match s {
        Status::Change => CHANGE,
        Status::InSync | Status::BoundSatisfied => OK,
        Status::NotOnKernel | Status::NotInNetns => DIM,
        Status::NotLiveYet | Status::LostAtReboot => CHANGE,
        Status::OverriddenAtBoot | Status::Unreadable => BAD,
    }
}

fn summary(plan: &Plan) -> String {
    let parts: Vec<String> = [
        (Status::Change, "to change"),
        (Status::InSync, "in sync"),
        (Status::BoundSatisfied, "bound satisfied"),
        (Status::NotOnKernel, "not on this kernel"),
        (Status::NotInNetns, "not in this netns"),
        (Status::NotLiveYet, "not live yet"),
        (Status::LostAtReboot, "lost at reboot"),
        (Status::OverriddenAtBoot, "overridden at boot"),
        (Status::Unreadable, "cannot be read"),
    ]
    .iter()
    .filter_map(|(s, w)| {
        Some(plan.count(*s))
            .filter(|n| *n > 0)
            .map(|n| format!("{n} {w}"))
    })
    .collect();
    if parts.is_empty() {
        "no parameters".to_string()
    } else {
        parts.join(", ")
    }
}

/// "45 from /etc/sysctl.d/99-x.conf:3", or "60 (kernel default; no file sets it)".
fn boot_value(b: &AtBoot) -> String {
    match (&b.source, &b.value) {
        _ if b.unknown => "unknown (a boot file cannot be read: see `tcptune files`)".to_string(),
        (Some((file, line)), Some(v)) => format!("{v} from {}:{line}", file.display()),
        (Some((file, line)), None) => {
            format!("a value the kernel refuses, from {}:{line}", file.display())
        }
        (None, Some(v)) => format!("{v} (kernel default; no file sets it)"),
        (None, None) => "the kernel default (no file sets it)".to_string(),
    }
}

/// The sub-line under a row whose boot view matters.
fn boot_line(r: &Row) -> Option<String> {
    let b = r.boot.as_ref()?;
    let show = matches!(
        r.status,
        Status::NotLiveYet | Status::LostAtReboot | Status::OverriddenAtBoot
    ) || (r.status == Status::Change && b.source.is_some());
    if !show {
        return None;
    }
    let mut line = format!("at boot: {}", boot_value(b));
    if let Some((file, n)) = &b.overridden {
        let _ = write!(line, ", overriding {}:{n}", file.display());
    }
    Some(line)
}

fn live_text(r: &Row) -> String {
    r.live
        .as_ref()
        .map_or_else(|| "-".to_string(), Value::to_string)
}

fn target_text(t: &Target) -> String {
    match t {
        Target::Exact(v) => v.to_string(),
        Target::Bounds {
            at_least: Some(lo),
            at_most: Some(hi),
        } => format!("{lo}..{hi}"),
        Target::Bounds {
            at_least: Some(lo), ..
        } => format!(">= {lo}"),
        Target::Bounds {
            at_most: Some(hi), ..
        } => format!("<= {hi}"),
        Target::Bounds { .. } => "-".to_string(),
    }
}

/// The plan as JSON (schema 2): every value in kernel text (a string),
/// per-entry drift flags for live and boot, and the scope they were judged in.
#[derive(Serialize)]
pub(super) struct PlanJson<'a> {
    schema: u32,
    command: &'a str,
    profile: ProfileJson<'a>,
    loader: Option<Loader>,
    offline: bool,
    scope: &'static str,
    changes_pending: bool,
    summary: SummaryJson,
    entries: Vec<EntryJson<'a>>,
}

#[derive(Serialize)]
struct ProfileJson<'a> {
    name: &'a str,
    source: &'a str,
    chain: &'a [String],
}

#[derive(Serialize)]
struct SummaryJson {
    change: usize,
    in_sync: usize,
    bound_satisfied: usize,
    not_on_kernel: usize,
    not_in_netns: usize,
    not_live_yet: usize,
    lost_at_reboot: usize,
    overridden_at_boot: usize,
    unreadable: usize,
}

#[derive(Serialize)]
struct BootJson {
    value: Option<String>,
    file: Option<String>,
    line: Option<usize>,
    /// No file sets the key: `value` is the kernel's default.
    kernel_default: bool,
    satisfied: bool,
    overridden: Option<String>,
    unknown: bool,
}

#[derive(Serialize)]
struct DriftJson {
    live: bool,
    boot: bool,
}

#[derive(Serialize)]
struct EntryJson<'a> {
    key: &'a str,
    alias: Option<&'static str>,
    status: Status,
    drift: DriftJson,
    live: Option<String>,
    target: TargetJson,
    desired: Option<String>,
    why: Option<&'a str>,
    from: &'a str,
    outside_net: bool,
    unreadable: Option<&'a str>,
    boot: Option<BootJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a Explanation>,
}

/// A target: a value, or bounds, each in kernel text.
#[derive(Serialize)]
struct TargetJson {
    value: Option<String>,
    at_least: Option<String>,
    at_most: Option<String>,
}

impl<'a> PlanJson<'a> {
    pub(super) fn new(
        command: &'a str,
        plan: &'a Plan,
        explained: Option<&'a [Explanation]>,
        scope: DriftScope,
    ) -> Self {
        let entries = plan.rows.iter().enumerate().map(|(i, r)| EntryJson {
            key: &r.key,
            alias: r.param.map(|p| p.alias),
            status: r.status,
            drift: DriftJson {
                live: r.status.live_drift(),
                boot: r.status.boot_drift(),
            },
            live: r.live.as_ref().map(Value::to_string),
            target: match &r.target {
                Target::Exact(v) => TargetJson {
                    value: Some(v.to_string()),
                    at_least: None,
                    at_most: None,
                },
                Target::Bounds { at_least, at_most } => TargetJson {
                    value: None,
                    at_least: at_least.map(|v| v.to_string()),
                    at_most: at_most.map(|v| v.to_string()),
                },
            },
            desired: r.desired.as_ref().map(Value::to_string),
            why: r.why.as_deref(),
            from: &r.origin,
            outside_net: r.outside_net,
            unreadable: r.unreadable.as_deref(),
            boot: r.boot.as_ref().map(|b| BootJson {
                value: b.value.as_ref().map(Value::to_string),
                file: b.source.as_ref().map(|(f, _)| f.display().to_string()),
                line: b.source.as_ref().map(|(_, l)| *l),
                kernel_default: b.source.is_none() && b.value.is_some(),
                satisfied: b.satisfied,
                overridden: b
                    .overridden
                    .as_ref()
                    .map(|(f, l)| format!("{}:{l}", f.display())),
                unknown: b.unknown,
            }),
            explanation: explained
                .and_then(|e| e.get(i))
                .filter(|_| r.status.live_drift()),
        });
        PlanJson {
            schema: SCHEMA,
            command,
            profile: ProfileJson {
                name: &plan.profile,
                source: &plan.source,
                chain: &plan.chain,
            },
            loader: plan.loader,
            offline: plan.offline,
            scope: match scope {
                DriftScope::Both => "both",
                DriftScope::Live => "live",
                DriftScope::Boot => "boot",
            },
            changes_pending: plan.drifted(scope).next().is_some(),
            summary: SummaryJson {
                change: plan.count(Status::Change),
                in_sync: plan.count(Status::InSync),
                bound_satisfied: plan.count(Status::BoundSatisfied),
                not_on_kernel: plan.count(Status::NotOnKernel),
                not_in_netns: plan.count(Status::NotInNetns),
                not_live_yet: plan.count(Status::NotLiveYet),
                lost_at_reboot: plan.count(Status::LostAtReboot),
                overridden_at_boot: plan.count(Status::OverriddenAtBoot),
                unreadable: plan.count(Status::Unreadable),
            },
            entries: entries.collect(),
        }
    }
}
