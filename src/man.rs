//! The tcptune(8) man page, generated from the clap definition so that it
//! never disagrees with `--help`. `tests/man.rs` fails when the committed
//! `man/tcptune.8` is stale and rewrites it with `TCPTUNE_BLESS=1`.

use clap_mangen::Man;

const EXTRA: &str = include_str!("man_extra.roff");

/// The whole page: clap's sections, each subcommand's options, then the
/// hand-written sections (exit status, files, JSON output, examples).
pub fn render() -> Vec<u8> {
    // The release only: the committed page must not name the commit it
    // is committed in (`--version` does).
    let mut cmd = crate::cli::command().version(env!("CARGO_PKG_VERSION"));
    cmd.build();
    let man = Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .source(format!("tcptune {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out).expect("render to memory");
    man.render_name_section(&mut out).expect("render to memory");
    out.extend_from_slice(format!(".SH SYNOPSIS\n{}\n", synopsis(&cmd, "tcptune")).as_bytes());
    man.render_description_section(&mut out)
        .expect("render to memory");
    man.render_options_section(&mut out)
        .expect("render to memory");
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub = sub.clone().bin_name(format!("tcptune {}", sub.get_name()));
        let page = Man::new(sub.clone());
        out.extend_from_slice(format!(".SS \"{}\"\n", sub.get_name()).as_bytes());
        out.extend_from_slice(
            format!(
                ".PP\n{}\n",
                synopsis(&sub, &format!("tcptune {}", sub.get_name()))
            )
            .as_bytes(),
        );
        let mut desc = Vec::new();
        page.render_description_section(&mut desc)
            .expect("render to memory");
        out.extend(strip_heading(&desc));
        let mut opts = Vec::new();
        page.render_options_section(&mut opts)
            .expect("render to memory");
        out.extend(strip_heading(&opts));
    }
    out.extend_from_slice(EXTRA.as_bytes());
    man.render_version_section(&mut out)
        .expect("render to memory");
    out
}

/// Drops the `.SH` line clap_mangen starts each section with, so a
/// subcommand's sections nest under its `.SS`.
fn strip_heading(section: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(section);
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with(".SH") && !l.starts_with(".TH"))
        .map(|l| format!("{l}\n"))
        .collect();
    format!(".PP\n{body}").into_bytes()
}

/// roff for one synopsis: the command in bold, every option with its
/// placeholder (`--root DIR`), positionals with `...` when they repeat.
fn synopsis(cmd: &clap::Command, name: &str) -> String {
    let roff = |t: &str| t.replace('-', "\\-");
    let mut parts = vec![format!("\\fB{}\\fR", roff(name))];
    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        // The global options are in the page's own synopsis.
        .filter(|a| cmd.get_name() == "tcptune" || !a.is_global_set())
        .collect();
    for a in args.iter().filter(|a| !a.is_positional()) {
        let flag = match (a.get_short(), a.get_long()) {
            (Some(s), Some(l)) => format!("\\fB\\-{s}\\fR|\\fB\\-\\-{}\\fR", roff(l)),
            (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", roff(l)),
            (Some(s), None) => format!("\\fB\\-{s}\\fR"),
            (None, None) => continue,
        };
        let value = if a.get_action().takes_values() {
            let names = a
                .get_value_names()
                .map(|n| n.join(" "))
                .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
            format!(" \\fI{}\\fR", roff(&names))
        } else {
            String::new()
        };
        parts.push(format!("[{flag}{value}]"));
    }
    for a in args.iter().filter(|a| a.is_positional()) {
        let value = a
            .get_value_names()
            .map(|n| n.join(" "))
            .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
        let many = a.get_num_args().is_some_and(|n| n.max_values() > 1);
        let text = format!("\\fI{}\\fR{}", roff(&value), if many { "..." } else { "" });
        parts.push(if a.is_required_set() {
            text
        } else {
            format!("[{text}]")
        });
    }
    if cmd.has_subcommands() {
        parts.push("\\fICOMMAND\\fR".to_string());
    }
    parts.join(" ")
}
