//! The boot views: `why` (where a key's value comes from) and `files`
//! (every sysctl.d file in load order), in text and JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::sanitize::clean;
use super::text::{hang, hang_into, push_right_aligned, wrap};
use super::{BAD, BOLD, DIM, Renderer, SCHEMA, width};
use std::path::{Path, PathBuf};

use crate::boot::{BootConfig, FileState, Line, Loader, Provenance};
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
    /// The winner writes another key; how the kernel carries it here.
    carried: Option<&'static str>,
    /// "FILE:LINE" of the `-key` line that stops a matching glob.
    excluded_by: Option<String>,
    /// "FILE:LINE" of a conf.default line only later interfaces copy.
    later_interfaces: Option<String>,
}

#[derive(Serialize)]
struct AssignmentJson {
    file: String,
    line: usize,
    written: String,
    value: Option<String>,
    glob: bool,
    wins: Vec<Loader>,
    read_by: Vec<Loader>,
    also_read_as: Vec<String>,
}

/// A line of a file, whichever path the loaders reached the file by: a
/// link and its target are one file (device, inode).
#[derive(Clone, PartialEq, Eq, Hash)]
enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_id(c: &BootConfig, l: &Line) -> (FileId, usize) {
    let f = &c.files[l.file as usize];
    let id = match f.identity {
        Some((dev, ino)) => FileId::Inode(dev, ino),
        None => FileId::Path(f.path.clone()),
    };
    (id, l.line as usize)
}

/// One row of `why`'s "set by" list.
struct WhyRow<'a> {
    id: (FileId, usize),
    line: &'a Line,
    /// Every path the loaders read this file by; the first is shown.
    paths: Vec<&'a Path>,
    wins: Vec<Loader>,
    read_by: Vec<Loader>,
    carried: Option<&'static str>,
    later_interfaces: bool,
}

type Provs<'a> = [(&'a BootConfig, Provenance<'a>); 2];

/// The rows for one key: every candidate line under either loader, one row
/// per file line, in file order (procps reads a superset of systemd's).
fn why_rows<'a>(provs: &Provs<'a>) -> Vec<WhyRow<'a>> {
    let mut rows: Vec<WhyRow> = Vec::new();
    let mut index: rustc_hash::FxHashMap<(FileId, usize), usize> = Default::default();
    for (c, p) in provs.iter().rev() {
        for l in &p.candidates {
            let id = file_id(c, l);
            let path = c.file_of(l);
            let i = match index.get(&id) {
                Some(&i) => i,
                None => {
                    index.insert(id.clone(), rows.len());
                    rows.push(WhyRow {
                        id,
                        line: l,
                        paths: Vec::new(),
                        wins: Vec::new(),
                        read_by: Vec::new(),
                        carried: None,
                        later_interfaces: false,
                    });
                    rows.len() - 1
                }
            };
            let r = &mut rows[i];
            if !r.paths.contains(&path) {
                // A link's own path goes after the file it leads to.
                if c.files[l.file as usize].is_link {
                    r.paths.push(path);
                } else {
                    r.paths.insert(0, path);
                }
            }
            if !r.read_by.contains(&c.loader) {
                r.read_by.push(c.loader);
            }
            if p.winner.is_some_and(|w| std::ptr::eq(w, *l)) && !r.wins.contains(&c.loader) {
                r.wins.push(c.loader);
                r.carried = r.carried.or(p.carried);
            }
            r.later_interfaces |= p.later_interfaces.is_some_and(|w| std::ptr::eq(w, *l));
        }
    }
    for r in &mut rows {
        r.wins.sort_by_key(|l| *l != Loader::Systemd);
        r.read_by.sort_by_key(|l| *l != Loader::Systemd);
    }
    rows
}

/// "FILE:LINE", by the path a person would open (a link's target when
/// both were read).
fn at(rows: &[WhyRow], c: &BootConfig, l: &Line) -> String {
    let id = file_id(c, l);
    let path = rows
        .iter()
        .find(|r| r.id == id)
        .and_then(|r| r.paths.first().copied())
        .unwrap_or_else(|| c.file_of(l));
    format!("{}:{}", path.display(), l.line)
}

/// The boot value under one loader, in words.
fn boot_text(rows: &[WhyRow], c: &BootConfig, p: &Provenance, key: &str) -> String {
    match (p.winner, p.carried) {
        (Some(w), Some(rule)) => format!(
            "{} from {} (written to {}; {rule})",
            w.value.as_deref().unwrap_or_default(),
            at(rows, c, w),
            w.written
        ),
        (Some(w), None) => format!(
            "{} from {}",
            w.value.as_deref().unwrap_or_default(),
            at(rows, c, w)
        ),
        (None, _) => {
            let mut t = String::from("no file sets it");
            if let Some(x) = p.excluded_by {
                let _ = write!(
                    t,
                    " (a glob matches, but {} excludes {key})",
                    at(rows, c, x)
                );
            }
            match p.later_interfaces {
                Some(d) => {
                    let _ = write!(
                        t,
                        ": interfaces present when the loader runs keep the kernel default; interfaces created later copy {} from {}",
                        d.value.as_deref().unwrap_or_default(),
                        at(rows, c, d)
                    );
                }
                None => t.push_str(": the kernel default stays"),
            }
            t
        }
    }
}

/// Appends a row's tags to `body` as "  [tag; tag]", if it has any.
fn push_row_tags(body: &mut String, r: &WhyRow, same_value_before: Option<&str>) {
    let mut first = true;
    let mut tag = |body: &mut String, parts: &[&str]| {
        body.push_str(if first { "  [" } else { "; " });
        first = false;
        parts.iter().for_each(|p| body.push_str(p));
    };
    match r.wins.as_slice() {
        [_, _] => tag(body, &["wins under both"]),
        wins => wins
            .iter()
            .for_each(|l| tag(body, &["wins under ", l.name()])),
    }
    if r.line.glob {
        tag(body, &["glob"]);
    }
    if r.carried.is_some() {
        tag(body, &["the kernel carries it to this key"]);
    }
    if r.later_interfaces {
        tag(body, &["interfaces created later copy it"]);
    }
    if let Some(earlier) = same_value_before {
        tag(body, &["repeats the value of ", earlier]);
    }
    if !r.read_by.contains(&Loader::Systemd) {
        let hidden = r.paths.iter().all(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        });
        tag(
            body,
            &[if hidden {
                "systemd-sysctl skips names starting with '.'"
            } else {
                "systemd-sysctl does not read this file"
            }],
        );
    }
    if r.paths.len() > 1 {
        let also: Vec<String> = r.paths[1..]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        tag(body, &["also read as ", &also.join(", ")]);
    }
    if !first {
        body.push(']');
    }
}

impl Renderer {
    /// `why KEY...`: live value, boot value under each loader, and every
    /// line that sets the key. `absent` says, for a key this kernel does
    /// not show, why not.
    pub fn why(
        &self,
        keys: &[String],
        live: &Snapshot,
        absent: &dyn Fn(&str) -> String,
        configs: [&BootConfig; 2],
        default: Loader,
    ) -> Result<(), Error> {
        let mut json_keys = Vec::new();
        let mut t = String::new();
        for key in keys {
            let provs: Provs = configs.map(|c| (c, c.provenance(key)));
            let rows = why_rows(&provs);
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
                json_keys.push(why_json(key, &provs, &rows, live, absent, kernel_default));
                continue;
            }
            let _ = writeln!(t, "{BOLD}{}{BOLD:#}", clean(key));
            let live_text = match (live_value.as_deref(), live.unreadable(key)) {
                (Some(v), _) => clean(v).into_owned(),
                (None, Some(why)) => format!("(cannot read: {})", clean(why)),
                (None, None) => format!("({})", clean(&absent(key))),
            };
            let _ = writeln!(t, "  live     {live_text}");
            let texts = provs.each_ref().map(|(c, p)| boot_text(&rows, c, p, key));
            let lines: Vec<(String, &String)> = if texts[0] == texts[1] {
                vec![("both loaders".to_string(), &texts[0])]
            } else {
                provs
                    .iter()
                    .zip(&texts)
                    .map(|((c, _), text)| {
                        let here = if c.loader == default {
                            " (this system's loader)"
                        } else {
                            ""
                        };
                        (format!("{}{here}", c.loader.name()), text)
                    })
                    .collect()
            };
            for (who, what) in lines {
                let _ = writeln!(
                    t,
                    "{}",
                    hang(&format!("  boot     {who}: "), &clean(what), 11, width())
                );
            }
            if rows.is_empty() {
                let _ = writeln!(t, "  no sysctl.d file or /etc/sysctl.conf sets it");
            } else {
                let _ = writeln!(t, "  set by, in file order:");
            }
            // The first row of each value and its "FILE:LINE", for "repeats
            // the value of" (made once per value, not once per row).
            let mut first_of: rustc_hash::FxHashMap<&str, (usize, String)> = Default::default();
            for (i, r) in rows.iter().enumerate() {
                if let (false, Some(v)) = (r.line.glob, r.line.value.as_deref()) {
                    first_of.entry(v).or_insert_with(|| {
                        (i, format!("{}:{}", r.paths[0].display(), r.line.line))
                    });
                }
            }
            // Buffers reused row after row (a key set by 10,000 files).
            let (mut prefix, mut body) = (String::new(), String::new());
            for (i, r) in rows.iter().enumerate() {
                let l = r.line;
                let same_value_before = match (l.glob, l.value.as_deref()) {
                    (false, Some(v)) => first_of
                        .get(v)
                        .filter(|(f, _)| *f < i)
                        .map(|(_, at)| at.as_str()),
                    _ => None,
                };
                body.clear();
                let _ = match &l.value {
                    Some(v) => write!(body, "{} = {v}", l.written),
                    None => write!(body, "-{} (excluded from globs)", l.written),
                };
                push_row_tags(&mut body, r, same_value_before);
                prefix.clear();
                prefix.push_str("    ");
                if let Some(p) = r.paths.first() {
                    prefix.push_str(&clean(&p.to_string_lossy()));
                }
                let _ = write!(prefix, ":{}  ", l.line);
                hang_into(&mut t, &prefix, &clean(&body), 6, width());
                t.push('\n');
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
        // "FILE:LINE" of each winning line, made once: most lines of a
        // large tree are overridden by one of a few winners.
        let at_of: rustc_hash::FxHashMap<usize, String> = winners
            .values()
            .flatten()
            .map(|&w| {
                let wl = &cfg.lines[w];
                (w, format!("{}:{}", cfg.file_of(wl).display(), wl.line))
            })
            .collect();
        // Lines are stored file by file, so each file's lines are a range.
        let lines_of = |i: usize| {
            let (start, end) = (
                cfg.lines.partition_point(|l| (l.file as usize) < i),
                cfg.lines.partition_point(|l| (l.file as usize) <= i),
            );
            cfg.lines[start..end]
                .iter()
                .enumerate()
                .map(move |(k, l)| (start + k, l))
        };
        // Another line decides this one's key: with another value (this
        // line is dead), or with the same one (a repeat, not an override).
        let decided_by = |idx: usize, l: &Line| -> Option<(&str, bool)> {
            if l.glob {
                return None;
            }
            match winners.get(&*l.path) {
                Some(Some(w)) if *w != idx => {
                    Some((at_of[w].as_str(), cfg.lines[*w].value == l.value))
                }
                Some(None) if l.value.is_some() => Some(("a later exclusion", false)),
                _ => None,
            }
        };
        let dead_by = |idx: usize, l: &Line| {
            decided_by(idx, l)
                .filter(|(_, same)| !same)
                .map(|(at, _)| at)
        };
        let same_as = |idx: usize, l: &Line| {
            decided_by(idx, l)
                .filter(|(_, same)| *same)
                .map(|(at, _)| at)
        };
        if self.format == Format::Json {
            let files: Vec<_> = cfg
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let assignments: Vec<_> = lines_of(i)
                        .map(|(idx, l)| serde_json::json!({ "line": l.line, "key": l.written, "value": l.value, "glob": l.glob, "ignore_failure": l.ignore_failure, "dead": dead_by(idx, l).is_some(), "overridden_by": dead_by(idx, l), "same_value_as": same_as(idx, l) }))
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
                width()
            )
        );
        if cfg.files.is_empty() {
            t.push_str("  (none)\n");
        }
        // Buffers reused line after line: a tree of 10,000 files has
        // 100,000 lines. Without colour, no escapes to lay out and strip.
        let (dim, undim) = if self.colour() {
            (DIM.render().to_string(), DIM.render_reset().to_string())
        } else {
            (String::new(), String::new())
        };
        let (mut number, mut text, mut body) = (String::new(), String::new(), String::new());
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
                text.clear();
                match &l.value {
                    Some(v) => {
                        if l.ignore_failure {
                            text.push('-');
                        }
                        text.push_str(&l.written);
                        text.push_str(" = ");
                        text.push_str(v);
                    }
                    None => {
                        text.push('-');
                        text.push_str(&l.written);
                    }
                }
                body.clear();
                body.push_str(&clean(&text));
                // Pieces pushed, not formatted: this runs 100,000 times.
                match decided_by(idx, l) {
                    Some((at, same)) => {
                        let what = if same {
                            "(the same value is also set at "
                        } else {
                            "(dead: overridden by "
                        };
                        for piece in [" ", &dim, what, at, ")", &undim] {
                            body.push_str(piece);
                        }
                    }
                    None if l.glob => body.push_str(" (glob)"),
                    None => {}
                }
                number.clear();
                push_right_aligned(&mut number, l.line, 5);
                number.push_str("  ");
                hang_into(&mut t, &number, &body, 9, width());
                t.push('\n');
            }
            // Out in pieces, at file boundaries: 10,000 files make about
            // 10 MB of text, which need not all be held at once.
            if t.len() >= 1 << 16 {
                self.emit(&t)?;
                t.clear();
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
                    wrap(&clean(&format!("{at}: {}", w.message)), 2, width())
                );
            }
        }
        self.emit(&t)
    }
}

fn why_json(
    key: &str,
    provs: &Provs,
    rows: &[WhyRow],
    live: &Snapshot,
    absent: &dyn Fn(&str) -> String,
    kernel_default: Option<String>,
) -> serde_json::Value {
    let boot: serde_json::Map<String, serde_json::Value> = provs
        .iter()
        .map(|(c, p)| {
            let src = BootSourceJson {
                value: p
                    .winner
                    .and_then(|w| w.value.as_deref().map(str::to_string))
                    .or_else(|| {
                        kernel_default
                            .clone()
                            .filter(|_| p.later_interfaces.is_none())
                    }),
                file: p.winner.map(|w| c.file_of(w).display().to_string()),
                line: p.winner.map(|w| w.line as usize),
                kernel_default: p.winner.is_none()
                    && p.later_interfaces.is_none()
                    && kernel_default.is_some(),
                carried: p.carried,
                excluded_by: p.excluded_by.map(|x| at(rows, c, x)),
                later_interfaces: p.later_interfaces.map(|d| at(rows, c, d)),
            };
            (
                c.loader.json_name().to_string(),
                serde_json::to_value(src).expect("serializes"),
            )
        })
        .collect();
    let assignments: Vec<AssignmentJson> = rows
        .iter()
        .map(|r| AssignmentJson {
            file: r
                .paths
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            line: r.line.line as usize,
            written: r.line.written.to_string(),
            value: r.line.value.as_deref().map(str::to_string),
            glob: r.line.glob,
            wins: r.wins.clone(),
            read_by: r.read_by.clone(),
            also_read_as: r
                .paths
                .iter()
                .skip(1)
                .map(|p| p.display().to_string())
                .collect(),
        })
        .collect();
    let live_value = live.get(key).map(Value::to_string);
    let unreadable = live.unreadable(key);
    serde_json::json!({
        "key": key, "catalogued": crate::catalog::find(key).is_some(), "live": live_value,
        "live_error": unreadable,
        "absent": (live_value.is_none() && unreadable.is_none()).then(|| absent(key)),
        "boot": boot, "assignments": assignments,
    })
}
