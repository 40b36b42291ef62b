//! Everything tcptune prints, and nothing else: aligned text for people
//! (readable at 80 columns, coloured when asked) and JSON for machines.
//!
//! JSON documents carry `"schema": 1`; fields are only ever added within a
//! schema version. Each view is built in memory and written in one call, so
//! a closed pipe (`tcptune list | head -1`) is not an error.

use std::fmt::Write as _;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::boot::{BootConfig, FileState, Loader};
use crate::catalog::{self, Default as KDefault, Param, Scope};
use crate::cli::Format;
use crate::error::Error;
use crate::explain::Effect;
use crate::library::{Listing, Resolved};
use crate::plan::{AtBoot, DriftScope, Plan, Row, Snapshot, Status};
use crate::profile::{OrderedEntries, Target};
use crate::value::Value;

const WIDTH: usize = 80;
const SCHEMA: u32 = 1;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const CHANGE: Style = AnsiColor::Yellow.on_default().bold();
const OK: Style = AnsiColor::Green.on_default();
const BAD: Style = AnsiColor::Red.on_default().bold();

pub struct Renderer {
    format: Format,
    color: anstream::ColorChoice,
}

/// What a change means: `effect` is "after X instead of Y", `notes` are
/// caveats, `detail` the catalog's explanation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Explanation {
    pub effect: Option<String>,
    pub notes: Vec<String>,
    #[serde(skip)]
    pub detail: Option<&'static str>,
}

impl Renderer {
    pub fn new(format: Format, color: anstream::ColorChoice) -> Renderer {
        Renderer { format, color }
    }

    fn emit(&self, text: &str) -> Result<(), Error> {
        let mut out = anstream::AutoStream::new(io::stdout().lock(), self.color);
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
            _ => Ok(()),
        }
    }

    fn emit_json(&self, value: &impl Serialize) -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(value).expect("views serialize");
        text.push('\n');
        self.emit(&text)
    }

    /// An error on standard error, one `tcptune: error:` line per problem.
    pub fn error(color: anstream::ColorChoice, message: &str) {
        let mut err = anstream::AutoStream::new(io::stderr().lock(), color);
        let mut text = String::new();
        for line in message.lines() {
            let _ = writeln!(text, "tcptune: {BAD}error{BAD:#}: {line}");
        }
        let _ = err.write_all(text.as_bytes());
    }

    pub fn list(&self, profiles: &[Listing]) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&serde_json::json!({ "schema": SCHEMA, "profiles": profiles }));
        }
        let name_w = profiles
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let src = |p: &Listing| {
            if p.source == "built-in" {
                "built-in".to_string()
            } else {
                "/etc".to_string() + p.source.split("/etc").nth(1).unwrap_or(&p.source)
            }
        };
        let src_w = profiles
            .iter()
            .map(|p| src(p).len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut t = format!(
            "{BOLD}{:name_w$}  {:src_w$}  DESCRIPTION{BOLD:#}\n",
            "NAME", "SOURCE"
        );
        for p in profiles {
            let mut desc = first_sentence(&p.description);
            if p.overrides_builtin {
                desc = format!("(replaces the built-in) {desc}");
            }
            if let Some(e) = &p.error {
                desc = format!(
                    "{BAD}invalid{BAD:#}: {}",
                    e.lines().next().unwrap_or_default()
                );
            }
            let indent = name_w + src_w + 4;
            let wrapped = hang(
                &format!("{:name_w$}  {:src_w$}  ", p.name, src(p)),
                &desc,
                indent,
                WIDTH,
            );
            let _ = writeln!(t, "{wrapped}");
        }
        self.emit(&t)
    }

    pub fn show(&self, r: &Resolved) -> Result<(), Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            schema: Option<u32>,
            name: &'a str,
            source: String,
            description: &'a str,
            chain: &'a [String],
            sysctls: OrderedEntries<'a>,
        }
        let p = &r.profile;
        let json = self.format == Format::Json;
        let shown = Shown {
            schema: json.then_some(SCHEMA),
            name: &p.name,
            source: p.source.describe(),
            description: &p.description,
            chain: &r.chain,
            sysctls: OrderedEntries(&p.entries),
        };
        if json {
            return self.emit_json(&shown);
        }
        let yaml = serde_yaml::to_string(&shown).expect("views serialize");
        self.emit(&format!(
            "# {} resolved by tcptune; `from` names the profile each entry comes from\n{yaml}",
            p.name
        ))
    }

    /// The table of `diff` (and, with explanations, `diff --explain`).
    pub fn diff(&self, plan: &Plan, explained: Option<&[Explanation]>) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&PlanJson::new("diff", plan, explained));
        }
        let mut t = String::new();
        let ancestry = if plan.chain.len() > 1 {
            format!(", extends {}", plan.chain[1..].join(" > "))
        } else {
            String::new()
        };
        let against = plan.loader.map_or_else(
            || "the live kernel".to_string(),
            |l| format!("the live kernel and the boot files ({})", l.name()),
        );
        let _ = writeln!(
            t,
            "{}\n",
            wrap(
                &format!(
                    "{BOLD}{}{BOLD:#} ({}{ancestry}) against {against}",
                    plan.profile, plan.source
                ),
                0,
                WIDTH
            )
        );
        // Column widths: the widest cell, within bounds that keep 80 columns.
        let width = |cell: &dyn Fn(&Row) -> usize, lo: usize, hi: usize| {
            plan.rows.iter().map(cell).max().unwrap_or(lo).clamp(lo, hi)
        };
        let key_w = width(&|r| r.key.len(), 9, 32);
        let live_w = width(&|r| live_text(r).len(), 4, 20);
        let tgt_w = width(&|r| target_text(&r.target).len(), 6, 20);
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
                r.key,
                live_text(r),
                target_text(&r.target),
                r.status.words()
            );
            if let Some(line) = boot_line(r) {
                let _ = writeln!(t, "{}", wrap(&line, 4, WIDTH));
            }
            if r.param.is_none() {
                let _ = writeln!(
                    t,
                    "{DIM}    note: not in tcptune's catalog; no explanation{DIM:#}"
                );
            }
            if r.status.live_drift() || r.status.boot_drift() {
                if let Some(reason) = r.reason() {
                    let _ = writeln!(
                        t,
                        "{DIM}{}{DIM:#}",
                        wrap(&format!("why: {reason}"), 4, WIDTH)
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
    pub fn check(&self, plan: &Plan, scope: DriftScope) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&PlanJson::new("check", plan, None));
        }
        let mut t = String::new();
        for r in plan.drifted(scope) {
            let want = target_text(&r.target);
            if r.status.live_drift() && scope != DriftScope::Boot {
                let _ = writeln!(
                    t,
                    "drift: {} is {}, {} wants {want}",
                    r.key,
                    live_text(r),
                    plan.profile
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
                    "drift at boot: {} will load {boot}, {} wants {want}",
                    r.key, plan.profile
                );
            }
        }
        self.emit(&t)
    }

    /// `explain PROFILE`: every change with its consequence.
    pub fn explain_plan(&self, plan: &Plan, explained: &[Explanation]) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&PlanJson::new("explain", plan, Some(explained)));
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
            .filter(|(r, _)| r.status == Status::Change)
        {
            let _ = writeln!(
                t,
                "{BOLD}{}{BOLD:#}: {} -> {}",
                r.key,
                live_text(r),
                r.desired.as_ref().map(Value::to_string).unwrap_or_default()
            );
            if let Some(why) = &r.why {
                let _ = writeln!(t, "{}", wrap(&format!("why: {why}"), 2, WIDTH));
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
                "schema": SCHEMA, "key": p.key, "alias": p.alias, "summary": p.summary, "detail": p.detail,
                "range": { "min": p.range.min, "max": p.range.max }, "unit": p.unit, "default": default,
                "scope": match p.scope { Scope::PerNetns => "netns", Scope::InitNetnsOnly => "init-netns" },
                "versions": p.versions, "live": live.map(Value::to_string),
                "effect": now.map(Effect::state), "note": now.and_then(|e| e.note.clone()),
            }));
        }
        let mut t = format!(
            "{BOLD}{}{BOLD:#} ({})\n{}\n\n",
            p.key,
            p.alias,
            wrap(p.summary, 2, WIDTH)
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
            let _ = writeln!(t, "{}", hang(&format!("  {label:<8} "), &value, 11, WIDTH));
        }
        if let Some(e) = now {
            let _ = writeln!(t, "{}", hang("  now      ", &e.state(), 11, WIDTH));
            if let Some(n) = &e.note {
                let _ = writeln!(t, "{}", hang("  note     ", n, 11, WIDTH));
            }
        }
        let _ = writeln!(
            t,
            "\n{}\n\n{}",
            wrap(p.detail, 2, WIDTH),
            wrap(&format!("Versions: {}", p.versions), 2, WIDTH)
        );
        self.emit(&t)
    }

    /// `explain` of a key the kernel no longer has.
    pub fn explain_removed(&self, r: &catalog::Removed) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&serde_json::json!({"schema": SCHEMA, "key": r.key, "alias": r.alias, "removed": r.since, "why": r.why, "instead": r.instead}));
        }
        self.emit(&format!(
            "{BOLD}{}{BOLD:#}: removed in {}.\n{}\n{}\n",
            r.key,
            r.since,
            wrap(&format!("Why: {}.", r.why), 2, WIDTH),
            wrap(&format!("Instead: {}.", r.instead), 2, WIDTH)
        ))
    }

    /// `explain` of a key the kernel has but the catalog does not.
    pub fn explain_uncatalogued(&self, key: &str, live: Option<&Value>) -> Result<(), Error> {
        let live = live.map(Value::to_string);
        if self.format == Format::Json {
            return self.emit_json(&serde_json::json!({"schema": SCHEMA, "key": key, "live": live, "catalogued": false}));
        }
        self.emit(&format!("{BOLD}{key}{BOLD:#}\n  live     {}\n  tcptune's catalog has no explanation for this key; see the kernel's\n  Documentation/networking/ip-sysctl.rst.\n", live.unwrap_or_default()))
    }

    pub fn lint(&self, results: &[(String, Result<Vec<String>, String>)]) -> Result<(), Error> {
        if self.format == Format::Json {
            let files: Vec<_> = results.iter().map(|(f, r)| match r {
                Ok(notes) => serde_json::json!({"file": f, "valid": true, "notes": notes}),
                Err(e) => serde_json::json!({"file": f, "valid": false, "errors": e.lines().collect::<Vec<_>>()}),
            }).collect();
            return self.emit_json(&serde_json::json!({"schema": SCHEMA, "files": files}));
        }
        let mut t = String::new();
        for (file, notes) in results
            .iter()
            .filter_map(|(f, r)| r.as_ref().ok().map(|n| (f, n)))
        {
            let _ = writeln!(t, "{file}: {OK}ok{OK:#}");
            for n in notes {
                let _ = writeln!(t, "{}", wrap(&format!("note: {n}"), 2, WIDTH));
            }
        }
        self.emit(&t)
    }

    pub fn completions(&self, shell: clap_complete::Shell) -> Result<(), Error> {
        // Render into memory first: clap_complete panics on a write error.
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut crate::cli::command(), "tcptune", &mut buf);
        self.emit(&String::from_utf8_lossy(&buf))
    }
}

fn explanation_text(t: &mut String, ex: &Explanation, indent: usize) {
    if let Some(e) = &ex.effect {
        let _ = writeln!(t, "{}", wrap(&format!("effect: {e}"), indent, WIDTH));
    }
    for n in &ex.notes {
        let _ = writeln!(t, "{}", wrap(&format!("note: {n}"), indent, WIDTH));
    }
    if let Some(d) = ex.detail {
        let _ = writeln!(t, "{DIM}{}{DIM:#}", wrap(d, indent, WIDTH));
    }
}

fn status_style(s: Status) -> Style {
    match s {
        Status::Change => CHANGE,
        Status::InSync | Status::BoundSatisfied => OK,
        Status::NotOnKernel | Status::NotInNetns => DIM,
        Status::NotLiveYet | Status::LostAtReboot => CHANGE,
        Status::OverriddenAtBoot => BAD,
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

fn first_sentence(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(i) => line[..=i].to_string(),
        None => line.to_string(),
    }
}

/// Wraps `text` to `width` columns, every line indented by `indent`.
pub fn wrap(text: &str, indent: usize, width: usize) -> String {
    hang(&" ".repeat(indent), text, indent, width)
}

/// Wraps `text` after `prefix` (kept as is, alignment spaces included),
/// continuation lines indented by `rest`.
fn hang(prefix: &str, text: &str, rest: usize, width: usize) -> String {
    // Most lines fit: skip the word splitting.
    if visible_len(prefix) + visible_len(text) <= width
        && !text.contains(['\n', '\t'])
        && !text.contains("  ")
    {
        return format!("{prefix}{text}").trim_end().to_string();
    }
    let mut out = String::new();
    let mut line = prefix.to_string();
    let mut fresh = true;
    for word in glue_units(text) {
        let word = word.as_str();
        if !fresh && visible_len(&line) + 1 + visible_len(word) > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(rest);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    out.push_str(line.trim_end());
    out
}

/// Words of `text`, with a unit kept on the line of its number ("2 h",
/// "15 s") so durations never break across lines.
fn glue_units(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        let bare = w.trim_end_matches([',', ';', ')', '.', ':']);
        let after_number = words
            .last()
            .is_some_and(|p| p.ends_with(|c: char| c.is_ascii_digit()));
        match words.last_mut() {
            Some(prev) if after_number && matches!(bare, "s" | "ms" | "min" | "h") => {
                prev.push(' ');
                prev.push_str(w);
            }
            _ => words.push(w.to_string()),
        }
    }
    words
}

/// Length on screen, not counting ANSI escape sequences.
fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

#[derive(Serialize)]
struct PlanJson<'a> {
    schema: u32,
    command: &'static str,
    profile: ProfileJson<'a>,
    loader: Option<Loader>,
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
}

#[derive(Serialize)]
struct BootJson {
    value: Option<String>,
    file: Option<String>,
    line: Option<usize>,
    satisfied: bool,
    overridden: Option<String>,
}

#[derive(Serialize)]
struct EntryJson<'a> {
    key: &'a str,
    alias: Option<&'static str>,
    status: Status,
    live: Option<String>,
    target: TargetJson,
    desired: Option<String>,
    why: Option<&'a str>,
    from: &'a str,
    boot: Option<BootJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a Explanation>,
}

#[derive(Serialize)]
struct TargetJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_least: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_most: Option<i64>,
}

impl<'a> PlanJson<'a> {
    fn new(command: &'static str, plan: &'a Plan, explained: Option<&'a [Explanation]>) -> Self {
        let entries = plan.rows.iter().enumerate().map(|(i, r)| EntryJson {
            key: &r.key,
            alias: r.param.map(|p| p.alias),
            status: r.status,
            live: r.live.as_ref().map(Value::to_string),
            target: match &r.target {
                Target::Exact(v) => TargetJson {
                    value: Some(v.to_string()),
                    at_least: None,
                    at_most: None,
                },
                Target::Bounds { at_least, at_most } => TargetJson {
                    value: None,
                    at_least: *at_least,
                    at_most: *at_most,
                },
            },
            desired: r.desired.as_ref().map(Value::to_string),
            why: r.why.as_deref(),
            from: &r.origin,
            boot: r.boot.as_ref().map(|b| BootJson {
                value: b.value.as_ref().map(Value::to_string),
                file: b.source.as_ref().map(|(f, _)| f.display().to_string()),
                line: b.source.as_ref().map(|(_, l)| *l),
                satisfied: b.satisfied,
                overridden: b
                    .overridden
                    .as_ref()
                    .map(|(f, l)| format!("{}:{l}", f.display())),
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
            changes_pending: plan.has_changes(),
            summary: SummaryJson {
                change: plan.count(Status::Change),
                in_sync: plan.count(Status::InSync),
                bound_satisfied: plan.count(Status::BoundSatisfied),
                not_on_kernel: plan.count(Status::NotOnKernel),
                not_in_netns: plan.count(Status::NotInNetns),
                not_live_yet: plan.count(Status::NotLiveYet),
                lost_at_reboot: plan.count(Status::LostAtReboot),
                overridden_at_boot: plan.count(Status::OverriddenAtBoot),
            },
            entries: entries.collect(),
        }
    }
}

#[derive(Serialize)]
struct BootSourceJson {
    value: Option<String>,
    file: Option<String>,
    line: Option<usize>,
}

#[derive(Serialize)]
struct AssignmentJson {
    file: String,
    line: usize,
    written: String,
    value: Option<String>,
    glob: bool,
    wins: Vec<Loader>,
}

impl Renderer {
    /// `why KEY...`: live value, boot value under each loader, and every
    /// line that sets the key.
    pub fn why(
        &self,
        keys: &[String],
        live: &Snapshot,
        configs: [&BootConfig; 2],
        default: Loader,
    ) -> Result<(), Error> {
        let mut json_keys = Vec::new();
        let mut t = String::new();
        for key in keys {
            let provs = configs.map(|c| (c, c.provenance(key)));
            let winner_at = |c: &BootConfig, p: &crate::boot::Provenance| {
                p.winner.map(|w| (c.file_of(w).to_path_buf(), w.line))
            };
            // Candidates in file order; procps reads a superset of systemd's files.
            let mut seen: std::collections::HashSet<(std::path::PathBuf, usize)> =
                std::collections::HashSet::new();
            let mut rows = Vec::new();
            for (c, p) in provs.iter().rev() {
                for l in &p.candidates {
                    let at = (c.file_of(l).to_path_buf(), l.line);
                    if !seen.insert(at.clone()) {
                        continue;
                    }
                    let wins: Vec<Loader> = provs
                        .iter()
                        .filter(|(c2, p2)| winner_at(c2, p2).as_ref() == Some(&at))
                        .map(|(c2, _)| c2.loader)
                        .collect();
                    rows.push((at, l.written.clone(), l.value.clone(), l.glob, wins));
                }
            }
            let live_value = live.get(key).map(Value::to_string);
            if self.format == Format::Json {
                let boot: serde_json::Map<String, serde_json::Value> = provs
                    .iter()
                    .map(|(c, p)| {
                        let src = BootSourceJson {
                            value: p.winner.and_then(|w| w.value.clone()),
                            file: p.winner.map(|w| c.file_of(w).display().to_string()),
                            line: p.winner.map(|w| w.line),
                        };
                        (
                            serde_json::to_value(c.loader)
                                .expect("loader")
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            serde_json::to_value(src).expect("serializes"),
                        )
                    })
                    .collect();
                let assignments: Vec<AssignmentJson> = rows
                    .iter()
                    .map(|((f, l), w, v, g, wins)| AssignmentJson {
                        file: f.display().to_string(),
                        line: *l,
                        written: w.clone(),
                        value: v.clone(),
                        glob: *g,
                        wins: wins.clone(),
                    })
                    .collect();
                json_keys.push(serde_json::json!({ "key": key, "live": live_value, "boot": boot, "assignments": assignments }));
                continue;
            }
            let _ = writeln!(t, "{BOLD}{key}{BOLD:#}");
            let _ = writeln!(
                t,
                "  live     {}",
                live_value.as_deref().unwrap_or("(not present here)")
            );
            for (c, p) in &provs {
                let here = if c.loader == default {
                    " (this system's loader)"
                } else {
                    ""
                };
                let what = match p.winner {
                    Some(w) => format!(
                        "{} from {}:{}",
                        w.value.as_deref().unwrap_or_default(),
                        c.file_of(w).display(),
                        w.line
                    ),
                    None => "no file sets it: the kernel default stays".to_string(),
                };
                let _ = writeln!(
                    t,
                    "{}",
                    hang(
                        &format!("  boot     {}{here}: ", c.loader.name()),
                        &what,
                        11,
                        WIDTH
                    )
                );
            }
            if rows.is_empty() {
                let _ = writeln!(t, "  no sysctl.d file or /etc/sysctl.conf sets it");
            } else {
                let _ = writeln!(t, "  set by, in file order:");
            }
            for ((file, line), written, value, glob, wins) in &rows {
                let assignment = match value {
                    Some(v) => format!("{written} = {v}"),
                    None => format!("-{written} (excluded from globs)"),
                };
                let mut tags: Vec<String> = wins
                    .iter()
                    .map(|l| format!("wins under {}", l.name()))
                    .collect();
                if *glob {
                    tags.push("glob".into());
                }
                if file.as_path() == std::path::Path::new(crate::boot::SYSCTL_CONF) {
                    tags.push("systemd-sysctl does not read this file".into());
                }
                let tail = if tags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", tags.join("; "))
                };
                let _ = writeln!(
                    t,
                    "{}",
                    hang(
                        &format!("    {}:{line}  ", file.display()),
                        &format!("{assignment}{tail}"),
                        6,
                        WIDTH
                    )
                );
            }
            t.push('\n');
        }
        if self.format == Format::Json {
            return self.emit_json(
                &serde_json::json!({ "schema": SCHEMA, "loader": default, "keys": json_keys }),
            );
        }
        self.emit(t.trim_end_matches('\n').to_string().as_str())
            .and_then(|()| self.emit("\n"))
    }

    /// `files`: every file in load order, annotated.
    pub fn files(&self, cfg: &BootConfig, detected: Loader) -> Result<(), Error> {
        let winners = cfg.explicit_winners();
        // Lines are stored file by file, so each file's lines are a range.
        let lines_of = |i: usize| {
            let (start, end) = (
                cfg.lines.partition_point(|l| l.file < i),
                cfg.lines.partition_point(|l| l.file <= i),
            );
            cfg.lines[start..end]
                .iter()
                .enumerate()
                .map(move |(k, l)| (start + k, l))
        };
        let dead_by = |idx: usize, l: &crate::boot::Line| -> Option<String> {
            if l.glob {
                return None;
            }
            match winners.get(l.path.as_str()) {
                Some(Some(w)) if *w != idx => {
                    let wl = &cfg.lines[*w];
                    Some(format!("{}:{}", cfg.file_of(wl).display(), wl.line))
                }
                Some(None) if l.value.is_some() => Some("a later exclusion".to_string()),
                _ => None,
            }
        };
        if self.format == Format::Json {
            let files: Vec<_> = cfg
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let assignments: Vec<_> = lines_of(i)
                        .map(|(idx, l)| serde_json::json!({ "line": l.line, "key": l.written, "value": l.value, "glob": l.glob, "ignore_failure": l.ignore_failure, "dead": dead_by(idx, l).is_some(), "overridden_by": dead_by(idx, l) }))
                        .collect();
                    serde_json::json!({ "path": f.path, "state": f.state, "replaces": f.replaces, "assignments": assignments })
                })
                .collect();
            let warnings: Vec<_> = cfg
                .warnings
                .iter()
                .map(
                    |w| serde_json::json!({ "path": w.path, "line": w.line, "message": w.message }),
                )
                .collect();
            return self.emit_json(&serde_json::json!({ "schema": SCHEMA, "loader": cfg.loader, "files": files, "warnings": warnings }));
        }
        let whose = if cfg.loader == detected {
            "the loader this system uses"
        } else {
            "not the loader this system uses"
        };
        let mut t = format!(
            "{}\n",
            wrap(
                &format!(
                    "Files in the order {} applies them ({whose}):",
                    cfg.loader.name()
                ),
                0,
                WIDTH
            )
        );
        if cfg.files.is_empty() {
            t.push_str("  (none)\n");
        }
        for (i, f) in cfg.files.iter().enumerate() {
            let mut head = format!("\n{BOLD}{}{BOLD:#}", f.path.display());
            match &f.state {
                FileState::Read => {}
                FileState::Masked => head.push_str("  masked (empty or /dev/null)"),
                FileState::Missing => {
                    let _ = write!(head, "  {BAD}dangling link{BAD:#}");
                }
                FileState::Unreadable(why) => {
                    let _ = write!(head, "  {BAD}unreadable{BAD:#}: {why}");
                }
            }
            for r in &f.replaces {
                let _ = write!(head, "\n  replaces {}", r.display());
            }
            let _ = writeln!(t, "{head}");
            for (idx, l) in lines_of(i) {
                let text = match &l.value {
                    Some(v) => format!(
                        "{}{} = {v}",
                        if l.ignore_failure { "-" } else { "" },
                        l.written
                    ),
                    None => format!("-{}", l.written),
                };
                let note = match dead_by(idx, l) {
                    Some(by) => format!(" {DIM}(dead: overridden by {by}){DIM:#}"),
                    None if l.glob => " (glob)".to_string(),
                    None => String::new(),
                };
                let _ = writeln!(
                    t,
                    "{}",
                    hang(
                        &format!("{:>5}  ", l.line),
                        &format!("{text}{note}"),
                        9,
                        WIDTH
                    )
                );
            }
        }
        if !cfg.warnings.is_empty() {
            t.push_str("\nWarnings:\n");
            for w in &cfg.warnings {
                let at = w.line.map_or_else(
                    || w.path.display().to_string(),
                    |l| format!("{}:{l}", w.path.display()),
                );
                let _ = writeln!(t, "{}", wrap(&format!("{at}: {}", w.message), 2, WIDTH));
            }
        }
        self.emit(&t)
    }
}

impl Renderer {
    /// What apply or revert will do: the diff table (apply), the live
    /// writes (revert), the file's unified diff, and other files that set
    /// the same keys. Text only; JSON comes whole with the outcome.
    pub fn change_plan(
        &self,
        plan: Option<&Plan>,
        change: &crate::apply::Change,
    ) -> Result<(), Error> {
        if self.format == Format::Json {
            return Ok(());
        }
        if let Some(plan) = plan {
            self.diff(plan, None)?;
        } else if !change.live.is_empty() {
            let mut t = String::from("Live values to restore:\n");
            for w in &change.live {
                let _ = writeln!(t, "  {}: {} -> {}", w.key, w.previous, w.value);
            }
            self.emit(&t)?;
        }
        let mut t = String::new();
        if let Some(f) = change.file.as_ref().filter(|f| f.changes()) {
            let label = |content: &Option<String>, when: &str| {
                if content.is_some() {
                    format!("{} ({when})", f.path.display())
                } else {
                    "/dev/null".to_string()
                }
            };
            let (old, new) = (
                f.old.as_deref().unwrap_or(""),
                f.new.as_deref().unwrap_or(""),
            );
            let diff = similar::TextDiff::from_lines(old, new);
            let unified = diff
                .unified_diff()
                .context_radius(3)
                .header(&label(&f.old, "now"), &label(&f.new, "after"))
                .to_string();
            t.push('\n');
            for line in unified.lines() {
                let style = match line.as_bytes().first() {
                    Some(b'+') if !line.starts_with("+++") => OK,
                    Some(b'-') if !line.starts_with("---") => BAD,
                    Some(b'@') => DIM,
                    _ => Style::new(),
                };
                let _ = writeln!(t, "{style}{line}{style:#}");
            }
        } else if let Some(f) = &change.file {
            let _ = writeln!(t, "\n{} is already as it should be.", f.path.display());
        }
        if !change.others.is_empty() {
            t.push_str("\nOther files that set these keys:\n");
            for (key, at, value) in &change.others {
                let _ = writeln!(
                    t,
                    "{}",
                    hang(&format!("  {at}  "), &format!("{key} = {value}"), 6, WIDTH)
                );
            }
        }
        if !change.overridden.is_empty() {
            let _ = writeln!(t, "\n{BAD}Would be overridden at boot{BAD:#}:");
            for (key, winner) in &change.overridden {
                let _ = writeln!(
                    t,
                    "{}",
                    hang(
                        &format!("  {key}: "),
                        &format!("loads from {winner}"),
                        6,
                        WIDTH
                    )
                );
            }
        }
        self.emit(&t)
    }

    /// How apply or revert ended: one line of text, or the whole JSON document.
    pub fn outcome(
        &self,
        command: &str,
        change: &crate::apply::Change,
        result: &str,
        text: &str,
    ) -> Result<(), Error> {
        if self.format == Format::Json {
            let live: Vec<_> = change
                .live
                .iter()
                .map(|w| serde_json::json!({ "key": w.key, "from": w.previous, "to": w.value }))
                .collect();
            let file = change.file.as_ref().map(|f| serde_json::json!({ "path": f.path, "changed": f.changes(), "removed": f.changes() && f.new.is_none() }));
            let others: Vec<_> = change
                .others
                .iter()
                .map(|(k, at, v)| serde_json::json!({ "key": k, "at": at, "value": v }))
                .collect();
            let overridden: Vec<_> = change
                .overridden
                .iter()
                .map(|(k, w)| serde_json::json!({ "key": k, "winner": w }))
                .collect();
            return self.emit_json(&serde_json::json!({ "schema": SCHEMA, "command": command, "result": result, "live": live, "file": file, "others": others, "overridden": overridden }));
        }
        self.emit(&format!("\n{BOLD}{text}{BOLD:#}\n"))
    }

    /// Asks on a terminal; without one (configuration management), proceeds.
    pub fn confirm(&self, question: &str) -> bool {
        use std::io::IsTerminal;
        if !io::stdin().is_terminal() {
            return true;
        }
        let mut err = anstream::AutoStream::new(io::stderr().lock(), self.color);
        let _ = write!(err, "{question} [y/N] ");
        let _ = err.flush();
        let mut answer = String::new();
        let _ = io::stdin().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
    }
}
