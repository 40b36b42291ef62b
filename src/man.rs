//! The tcptune(8) man page, generated from the clap definition so that it
//! never disagrees with `--help`. `tests/man.rs` fails when the committed
//! `man/tcptune.8` is stale and rewrites it with `TCPTUNE_BLESS=1`.

use clap_mangen::Man;

const EXTRA: &str = include_str!("man_extra.roff");

/// The whole page: clap's sections, each subcommand's options, then the
/// hand-written sections (exit status, files, JSON output, examples).
pub fn render() -> Vec<u8> {
    let cmd = crate::cli::command();
    let man = Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .source(format!("tcptune {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out).expect("render to memory");
    man.render_name_section(&mut out).expect("render to memory");
    man.render_synopsis_section(&mut out)
        .expect("render to memory");
    man.render_description_section(&mut out)
        .expect("render to memory");
    man.render_options_section(&mut out)
        .expect("render to memory");
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub = sub.clone().bin_name(format!("tcptune {}", sub.get_name()));
        let page = Man::new(sub.clone());
        out.extend_from_slice(format!(".SS \"{}\"\n", sub.get_name()).as_bytes());
        let mut synopsis = Vec::new();
        page.render_synopsis_section(&mut synopsis)
            .expect("render to memory");
        out.extend(strip_heading(&synopsis));
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
