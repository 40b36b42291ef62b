//! Everything tcptune prints, and nothing else: aligned text for people
//! (readable at 80 columns, coloured when asked) and JSON for machines.
//!
//! JSON documents carry `"schema": 1`; fields are only ever added within a
//! schema version. Each view is built in memory and written in one call, so
//! a closed pipe (`tcptune list | head -1`) is not an error.

mod apply;
mod boot;
mod doctor;
mod plan;
pub mod sanitize;
pub mod text;

use std::fmt::Write as _;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::cli::Format;
use crate::error::Error;
use crate::library::{Listing, Resolved};
use crate::profile::OrderedEntries;

pub use plan::Explanation;

/// One file's lint result: its name, and its notes or its errors.
pub type LintResult = (String, Result<Vec<String>, Vec<crate::error::ErrorJson>>);
use text::{first_sentence, hang, wrap};

/// Text wraps at the terminal's width (COLUMNS, else the terminal's own,
/// else 80 on a pipe), kept between 60 and 160 columns.
fn width() -> usize {
    static WIDTH: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WIDTH.get_or_init(|| {
        use std::io::IsTerminal;
        let from_env = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok());
        let from_tty = || {
            std::io::stdout()
                .is_terminal()
                .then(|| rustix::termios::tcgetwinsize(std::io::stdout()).ok())
                .flatten()
                .map(|w| usize::from(w.ws_col))
                .filter(|c| *c > 0)
        };
        from_env.or_else(from_tty).unwrap_or(80).clamp(60, 160)
    })
}
/// The JSON schema version (see tcptune(8), JSON OUTPUT).
pub const SCHEMA: u32 = 2;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const CHANGE: Style = AnsiColor::Yellow.on_default().bold();
const OK: Style = AnsiColor::Green.on_default();
const BAD: Style = AnsiColor::Red.on_default().bold();

pub struct Renderer {
    format: Format,
    color: anstream::ColorChoice,
}

impl Renderer {
    pub fn new(format: Format, color: anstream::ColorChoice) -> Renderer {
        Renderer { format, color }
    }

    /// Writes a whole view in one write; a closed pipe is not an error.
    /// Without colour (a pipe, NO_COLOR...) tcptune's own colour codes are
    /// cut out here: after `guard` no other escape sequence is left.
    /// Whether text goes out with its colours (else they are stripped).
    fn colour(&self) -> bool {
        match self.color {
            anstream::ColorChoice::Always | anstream::ColorChoice::AlwaysAnsi => true,
            anstream::ColorChoice::Never => false,
            anstream::ColorChoice::Auto => {
                anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
            }
        }
    }

    fn write_out(&self, text: &str) -> Result<(), Error> {
        let stdout = io::stdout();
        let text = if self.colour() {
            std::borrow::Cow::Borrowed(text)
        } else {
            sanitize::strip_sgr(text)
        };
        let mut out = stdout.lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
            _ => Ok(()),
        }
    }

    /// Text for people, through the sanitiser's last guard.
    fn emit(&self, text: &str) -> Result<(), Error> {
        self.write_out(&sanitize::guard(text))
    }

    /// JSON, exact (serde escapes control characters).
    fn emit_json(&self, value: &impl Serialize) -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(value).expect("views serialize");
        text.push('\n');
        self.write_out(&text)
    }

    /// An error on standard error, one `tcptune: error:` line per problem.
    pub fn error(color: anstream::ColorChoice, message: &str) {
        Self::to_stderr(color, "error", BAD, message);
    }

    /// An error as a JSON document on standard output (`--format json`),
    /// so configuration management gets JSON whatever happened.
    pub fn json_error(command: &str, e: &Error) {
        let doc = serde_json::json!({ "schema": SCHEMA, "command": command, "error": e.to_json() });
        let mut text = serde_json::to_string_pretty(&doc).expect("errors serialize");
        text.push('\n');
        let _ = io::stdout().lock().write_all(text.as_bytes());
    }

    /// A note on standard error (what was done beside the view).
    pub fn note(color: anstream::ColorChoice, message: &str) {
        Self::to_stderr(color, "note", OK, message);
    }

    /// A warning on standard error (the command goes on).
    pub fn warning(color: anstream::ColorChoice, message: &str) {
        Self::to_stderr(color, "warning", CHANGE, message);
    }

    fn to_stderr(color: anstream::ColorChoice, label: &str, style: Style, message: &str) {
        let mut err = anstream::AutoStream::new(io::stderr().lock(), color);
        let mut text = String::new();
        for line in message.lines() {
            let _ = writeln!(
                text,
                "tcptune: {style}{label}{style:#}: {}",
                sanitize::clean(line)
            );
        }
        let _ = err.write_all(text.as_bytes());
    }

    pub fn list(&self, profiles: &[Listing]) -> Result<(), Error> {
        if self.format == Format::Json {
            return self.emit_json(
                &serde_json::json!({ "schema": SCHEMA, "command": "list", "profiles": profiles }),
            );
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
        // Long sources leave too narrow a column: descriptions then go on
        // lines of their own instead of one word per line.
        let indent = name_w + src_w + 4;
        let stacked = width().saturating_sub(indent) < 30;
        let mut t = if stacked {
            format!("{BOLD}{:name_w$}  SOURCE{BOLD:#}\n", "NAME")
        } else {
            format!(
                "{BOLD}{:name_w$}  {:src_w$}  DESCRIPTION{BOLD:#}\n",
                "NAME", "SOURCE"
            )
        };
        for p in profiles {
            let mut desc = sanitize::clean(&first_sentence(&p.description)).into_owned();
            if p.overrides_builtin {
                desc = format!("(replaces the built-in) {desc}");
            }
            if let Some(e) = &p.error {
                desc = format!(
                    "{BAD}invalid{BAD:#}: {}",
                    sanitize::clean(e.lines().next().unwrap_or_default())
                );
            }
            let head = format!(
                "{:name_w$}  {:src_w$}  ",
                sanitize::clean(&p.name),
                sanitize::clean(&src(p))
            );
            let wrapped = if stacked {
                format!("{}\n{}", head.trim_end(), wrap(&desc, 4, width()))
            } else {
                hang(&head, &desc, indent, width())
            };
            let _ = writeln!(t, "{wrapped}");
        }
        self.emit(&t)
    }

    /// `show`: in text, the resolved profile as a profile file of its own
    /// (lintable, with where each entry comes from in comments), to save
    /// and edit; in JSON, the same with its provenance as fields.
    pub fn show(&self, r: &Resolved) -> Result<(), Error> {
        let p = &r.profile;
        if self.format == Format::Json {
            return self.emit_json(&serde_json::json!({
                "schema": SCHEMA, "command": "show", "name": p.name, "source": p.source.describe(),
                "description": p.description, "extends": p.extends, "chain": r.chain,
                "sysctls": OrderedEntries(&p.entries),
            }));
        }
        // JSON strings are valid YAML double-quoted scalars, escapes included.
        let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
        let ancestry = if r.chain.len() > 1 {
            format!(", extends {}", r.chain[1..].join(" > "))
        } else {
            String::new()
        };
        let mut t = format!(
            "# {} ({}{}), resolved by tcptune: every entry of the chain, with the\n# profile it comes from. A profile of its own: save it, edit it, lint it.\ndescription: {}\nsysctls:\n",
            p.name,
            p.source.describe(),
            ancestry,
            quote(&p.description)
        );
        for e in &p.entries {
            let _ = writeln!(t, "  {}:  # from {}", e.key, e.origin);
            match &e.target {
                crate::profile::Target::Exact(crate::value::Value::Int(n)) => {
                    let _ = writeln!(t, "    value: {n}");
                }
                crate::profile::Target::Exact(v) => {
                    let _ = writeln!(t, "    value: {}", quote(&v.to_string()));
                }
                crate::profile::Target::Bounds { at_least, at_most } => {
                    if let Some(lo) = at_least {
                        let _ = writeln!(t, "    at_least: {lo}");
                    }
                    if let Some(hi) = at_most {
                        let _ = writeln!(t, "    at_most: {hi}");
                    }
                }
            }
            if e.outside_net {
                t.push_str("    allow_outside_net: true\n");
            }
            if let Some(why) = &e.why {
                let _ = writeln!(t, "    why: {}", quote(why));
            }
        }
        self.emit(&t)
    }

    /// The table of `diff` (and, with explanations, `diff --explain`).
    pub fn lint(&self, results: &[LintResult]) -> Result<(), Error> {
        if self.format == Format::Json {
            let files: Vec<_> = results
                .iter()
                .map(|(f, r)| match r {
                    Ok(notes) => {
                        serde_json::json!({"file": f, "valid": true, "notes": notes, "errors": []})
                    }
                    Err(e) => {
                        serde_json::json!({"file": f, "valid": false, "notes": [], "errors": e})
                    }
                })
                .collect();
            return self.emit_json(
                &serde_json::json!({"schema": SCHEMA, "command": "lint", "files": files}),
            );
        }
        let mut t = String::new();
        for (file, notes) in results
            .iter()
            .filter_map(|(f, r)| r.as_ref().ok().map(|n| (f, n)))
        {
            let _ = writeln!(t, "{}: {OK}ok{OK:#}", sanitize::clean(file));
            for n in notes {
                let _ = writeln!(
                    t,
                    "{}",
                    wrap(&sanitize::clean(&format!("note: {n}")), 2, width())
                );
            }
        }
        self.emit(&t)
    }

    /// The script registering tcptune's completion with `shell`: shell
    /// code, written as is.
    pub fn completions(&self, shell: clap_complete::Shell) -> Result<(), Error> {
        let script = crate::complete::registration(shell).map_err(Error::Output)?;
        self.write_out(&String::from_utf8_lossy(&script))
    }

    /// Asks on a terminal: `Some(yes)`; `None` without one (then nothing
    /// may change unconfirmed).
    pub fn confirm(&self, question: &str) -> Option<bool> {
        use std::io::IsTerminal;
        if !io::stdin().is_terminal() {
            return None;
        }
        let mut err = anstream::AutoStream::new(io::stderr().lock(), self.color);
        let _ = write!(err, "{question} [y/N] ");
        let _ = err.flush();
        let mut answer = String::new();
        let _ = io::stdin().read_line(&mut answer);
        Some(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
    }
}
