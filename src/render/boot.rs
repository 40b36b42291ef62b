//! The boot views: `why` (where a key's value comes from) and `files`
//! (every sysctl.d file in load order), in text and JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::sanitize::clean;
use super::text::{hang, wrap};
use super::{BAD, BOLD, DIM, Renderer, SCHEMA, WIDTH};
use crate::boot::{BootConfig, FileState, Loader};
use crate::cli::Format;
use crate::error::Error;
use crate::plan::Snapshot;
use crate::value::Value;

/// What loads at boot under one loader: a file's value, or (no file sets
/// it) the kernel default when the catalog knows it and the live value
/// agrees, as diff and check say it.
#[derive(Serialize)]
struct BootSourceJson {
    value: Option<String>,
    file: Option<String>,
    line: Option<usize>,
    kernel_default: bool,
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
            let param = crate::catalog::find(key);
            let kernel_default = match param.map(|p| p.default) {
                Some(crate::catalog::Default::Fixed(d))
                    if Value::from_kernel(d, param).as_ref() == live.get(key) =>
                {
                    live_value.clone()
                }
                _ => None,
            };
            if self.format == Format::Json {
                let boot: serde_json::Map<String, serde_json::Value> = provs
                    .iter()
                    .map(|(c, p)| {
                        let src = BootSourceJson {
                            value: p
                                .winner
                                .and_then(|w| w.value.clone())
                                .or_else(|| kernel_default.clone()),
                            file: p.winner.map(|w| c.file_of(w).display().to_string()),
                            line: p.winner.map(|w| w.line),
                            kernel_default: p.winner.is_none() && kernel_default.is_some(),
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
                json_keys.push(serde_json::json!({
                    "key": key, "catalogued": param.is_some(), "live": live_value,
                    "live_error": live.unreadable(key), "boot": boot, "assignments": assignments,
                }));
                continue;
            }
            let _ = writeln!(t, "{BOLD}{}{BOLD:#}", clean(key));
            let live_text = match (live_value.as_deref(), live.unreadable(key)) {
                (Some(v), _) => clean(v).into_owned(),
                (None, Some(why)) => format!("(cannot read: {})", clean(why)),
                (None, None) => "(not present here)".to_string(),
            };
            let _ = writeln!(t, "  live     {live_text}");
            for (c, p) in &provs {
                let here = if c.loader == default {
                    " (this system's loader)"
                } else {
                    ""
                };
                let what = match p.winner {
                    Some(w) => clean(&format!(
                        "{} from {}:{}",
                        w.value.as_deref().unwrap_or_default(),
                        c.file_of(w).display(),
                        w.line
                    ))
                    .into_owned(),
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
                        &format!("    {}:{line}  ", clean(&file.display().to_string())),
                        &format!("{}{tail}", clean(&assignment)),
                        6,
                        WIDTH
                    )
                );
            }
            t.push('\n');
        }
        if self.format == Format::Json {
            return self.emit_json(
                &serde_json::json!({ "schema": SCHEMA, "command": "why", "loader": default, "keys": json_keys }),
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
                    serde_json::json!({ "path": f.path, "state": f.state.name(), "why": match &f.state { FileState::Unknown(w) => Some(w.as_str()), _ => None }, "replaces": f.replaces, "assignments": assignments })
                })
                .collect();
            let warnings: Vec<_> = cfg
                .warnings
                .iter()
                .map(
                    |w| serde_json::json!({ "path": w.path, "line": w.line, "kind": w.kind, "message": w.message }),
                )
                .collect();
            return self.emit_json(&serde_json::json!({ "schema": SCHEMA, "command": "files", "loader": cfg.loader, "files": files, "warnings": warnings }));
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
            let mut head = format!("\n{BOLD}{}{BOLD:#}", clean(&f.path.display().to_string()));
            match &f.state {
                FileState::Read => {}
                FileState::Masked => head.push_str("  masked (empty or /dev/null)"),
                FileState::Missing => {
                    let _ = write!(head, "  {BAD}dangling link{BAD:#}");
                }
                FileState::Directory => {
                    let _ = write!(head, "  {BAD}a directory{BAD:#}");
                }
                FileState::Unknown(_) => {
                    let _ = write!(head, "  {BAD}unknown{BAD:#} (see the warnings)");
                }
            }
            for r in &f.replaces {
                let _ = write!(head, "\n  replaces {}", clean(&r.display().to_string()));
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
                        &format!("{}{note}", clean(&text)),
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
                let _ = writeln!(
                    t,
                    "{}",
                    wrap(&clean(&format!("{at}: {}", w.message)), 2, WIDTH)
                );
            }
        }
        self.emit(&t)
    }
}
