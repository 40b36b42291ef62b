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

use crate::catalog::{self, Default as KDefault, Param, Scope};
use crate::cli::Format;
use crate::error::Error;
use crate::explain::Effect;
use crate::library::{Listing, Resolved};
use crate::plan::{Plan, Row, Status};
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

    /// A warning on standard error.
    pub fn warning(&self, message: &str) {
        let mut err = anstream::AutoStream::new(io::stderr().lock(), self.color);
        let _ = writeln!(err, "tcptune: {CHANGE}warning{CHANGE:#}: {message}");
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
        let _ = writeln!(
            t,
            "{BOLD}{}{BOLD:#} ({}{ancestry}) against the live kernel\n",
            plan.profile, plan.source
        );
        let key_w = plan
            .rows
            .iter()
            .map(|r| r.key.len())
            .max()
            .unwrap_or(9)
            .clamp(9, 32);
        let live_w = plan
            .rows
            .iter()
            .map(|r| live_text(r).len())
            .max()
            .unwrap_or(4)
            .clamp(4, 20);
        let tgt_w = plan
            .rows
            .iter()
            .map(|r| target_text(&r.target).len())
            .max()
            .unwrap_or(6)
            .clamp(6, 20);
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
            if r.status == Status::Change {
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
    pub fn check(&self, plan: &Plan) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(&PlanJson::new("check", plan, None));
        }
        let mut t = String::new();
        for r in plan.changes() {
            let _ = writeln!(
                t,
                "drift: {} is {}, {} wants {}",
                r.key,
                live_text(r),
                plan.profile,
                target_text(&r.target)
            );
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
        if !plan.has_changes() {
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
    }
}

fn summary(plan: &Plan) -> String {
    let parts: Vec<String> = [
        (Status::Change, "to change"),
        (Status::InSync, "in sync"),
        (Status::BoundSatisfied, "bound satisfied"),
        (Status::NotOnKernel, "not on this kernel"),
        (Status::NotInNetns, "not in this netns"),
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
            explanation: explained
                .and_then(|e| e.get(i))
                .filter(|_| r.status == Status::Change),
        });
        PlanJson {
            schema: SCHEMA,
            command,
            profile: ProfileJson {
                name: &plan.profile,
                source: &plan.source,
                chain: &plan.chain,
            },
            changes_pending: plan.has_changes(),
            summary: SummaryJson {
                change: plan.count(Status::Change),
                in_sync: plan.count(Status::InSync),
                bound_satisfied: plan.count(Status::BoundSatisfied),
                not_on_kernel: plan.count(Status::NotOnKernel),
                not_in_netns: plan.count(Status::NotInNetns),
            },
            entries: entries.collect(),
        }
    }
}
