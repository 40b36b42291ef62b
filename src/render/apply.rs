//! The apply and revert views: the change plan (diff table, file diff,
//! other files that set the same keys) and the outcome.

use std::fmt::Write as _;

use anstyle::Style;
use serde::Serialize;

use super::plan::PlanJson;
use super::sanitize::clean;
use super::text::hang;
use super::{BAD, BOLD, DIM, OK, Renderer, SCHEMA, width};
use crate::change::Change;
use crate::cli::Format;
use crate::error::Error;
use crate::plan::Plan;

#[derive(Serialize)]
struct LiveJson<'a> {
    key: &'a str,
    before: &'a str,
    after: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_since: Option<&'a str>,
}

#[derive(Serialize)]
struct FileJson<'a> {
    path: &'a std::path::Path,
    changed: bool,
    removed: bool,
    before: Option<&'a str>,
    after: Option<&'a str>,
    edited_since: bool,
}

#[derive(Serialize)]
struct OutcomeJson<'a> {
    schema: u32,
    command: &'a str,
    result: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<PlanJson<'a>>,
    live: Vec<LiveJson<'a>>,
    files: Vec<FileJson<'a>>,
    others: Vec<serde_json::Value>,
    overridden: Vec<serde_json::Value>,
    notes: &'a [String],
}

impl Renderer {
    /// What apply or revert will do: the diff table (apply), the live
    /// writes (revert), the file's unified diff, and other files that set
    /// the same keys. Text only; JSON comes whole with the outcome.
    pub fn change_plan(
        &self,
        plan: Option<&Plan>,
        change: &Change,
        notes: &[String],
    ) -> Result<(), Error> {
        if self.format == Format::Json {
            return Ok(());
        }
        if let Some(plan) = plan {
            self.diff(plan, None)?;
        } else if !change.live.is_empty() {
            let mut t = String::from("Live values to restore:\n");
            for w in &change.live {
                let _ = write!(
                    t,
                    "  {}: {} -> {}",
                    clean(&w.key),
                    clean(&w.previous),
                    clean(&w.value)
                );
                if let Some(wrote) = &w.changed_since {
                    let _ = write!(
                        t,
                        "  {BAD}(changed by someone else since tcptune set {}){BAD:#}",
                        clean(wrote)
                    );
                }
                t.push('\n');
            }
            self.emit(&t)?;
        }
        let mut t = String::new();
        for f in &change.files {
            if !f.changes() {
                if plan.is_some() {
                    let _ = writeln!(
                        t,
                        "\n{} is already as it should be.",
                        clean(&f.path.display().to_string())
                    );
                }
                continue;
            }
            let path = clean(&f.path.display().to_string()).into_owned();
            let label = |content: &Option<String>, when: &str| {
                if content.is_some() {
                    format!("{path} ({when})")
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
            if f.edited_since {
                let _ = writeln!(
                    t,
                    "{BAD}{path} was edited since tcptune wrote it; those edits are undone too{BAD:#}"
                );
            }
            for line in unified.lines() {
                let style = match line.as_bytes().first() {
                    Some(b'+') if !line.starts_with("+++") => OK,
                    Some(b'-') if !line.starts_with("---") => BAD,
                    Some(b'@') => DIM,
                    _ => Style::new(),
                };
                let _ = writeln!(t, "{style}{}{style:#}", clean(line));
            }
        }
        if !change.others.is_empty() {
            t.push_str("\nOther files that set these keys:\n");
            for (key, at, value) in &change.others {
                let _ = writeln!(
                    t,
                    "{}",
                    hang(
                        &format!("  {}  ", clean(at)),
                        &format!("{} = {}", clean(key), clean(value)),
                        6,
                        width()
                    )
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
                        &format!("  {}: ", clean(key)),
                        &format!("loads from {}", clean(winner)),
                        6,
                        width()
                    )
                );
            }
        }
        for n in notes {
            let _ = writeln!(
                t,
                "\n{}",
                super::text::wrap(&format!("note: {}", clean(n)), 0, width())
            );
        }
        self.emit(&t)
    }

    /// How apply or revert ended: one line of text, or the whole JSON
    /// document (the plan, live and file before/after, notes).
    pub fn outcome(
        &self,
        command: &str,
        plan: Option<&Plan>,
        change: &Change,
        notes: &[String],
        result: &str,
        text: &str,
    ) -> Result<(), Error> {
        if self.format == Format::Json {
            let doc = OutcomeJson {
                schema: SCHEMA,
                command,
                result,
                message: text,
                plan: plan.map(|p| PlanJson::new(command, p, None, crate::plan::DriftScope::Both)),
                live: change
                    .live
                    .iter()
                    .map(|w| LiveJson {
                        key: &w.key,
                        before: &w.previous,
                        after: &w.value,
                        changed_since: w.changed_since.as_deref(),
                    })
                    .collect(),
                files: change
                    .files
                    .iter()
                    .map(|f| FileJson {
                        path: &f.path,
                        changed: f.changes(),
                        removed: f.changes() && f.new.is_none(),
                        before: f.old.as_deref(),
                        after: f.new.as_deref(),
                        edited_since: f.edited_since,
                    })
                    .collect(),
                others: change
                    .others
                    .iter()
                    .map(|(k, at, v)| serde_json::json!({ "key": k, "at": at, "value": v }))
                    .collect(),
                overridden: change
                    .overridden
                    .iter()
                    .map(|(k, w)| serde_json::json!({ "key": k, "winner": w }))
                    .collect(),
                notes,
            };
            return self.emit_json(&doc);
        }
        // A blank line parts the outcome from a plan shown above it.
        let gap = if plan.is_some() || !change.is_empty() || !notes.is_empty() {
            "\n"
        } else {
            ""
        };
        self.emit(&format!("{gap}{BOLD}{}{BOLD:#}\n", clean(text)))
    }
}
