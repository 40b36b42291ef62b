//! The command line as clap sees it: raw flags and their help text. Turning
//! them into a resolved configuration happens in `config.rs`; the man page
//! and shell completions are generated from `command()`.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

use crate::complete;

const ABOUT: &str = "Tune the kernel's TCP connection handling from declarative profiles";

const LONG_ABOUT: &str = "\
Tune the kernel's TCP connection-handling sysctls (SYN and accept queues, \
SYN-ACK retries, syncookies, keepalive, TIME_WAIT, ephemeral ports) from \
declarative YAML profiles.

tcptune compares a profile with the live kernel (/proc/sys), explains what \
every change means in numbers on this machine, and tells configuration \
management through its exit status whether anything drifted, live or at the next \
boot: it reads every sysctl.d file as systemd-sysctl or procps `sysctl --system` \
would, and shows which file and line decides each value.

Only apply and revert change anything; they show the plan first, verify every \
write, and roll back on failure.";

const AFTER_HELP: &str = "\
Examples:
  tcptune list                         Profiles, built-in and in /etc/tcptune/profiles
  tcptune diff web-server              What web-server would change, key by key
  tcptune diff web-server --explain    ... and what each change means here, in numbers
  tcptune explain tcp_synack_retries   One parameter: what it does, its live value
  tcptune apply web-server --dry-run   The plan and the sysctl.d file diff, changing nothing
  tcptune apply web-server             Set the live values and write /etc/sysctl.d/99-zz-tcptune.conf
  tcptune revert                       Undo the last apply
  tcptune check web-server             Exit 0 in sync, 1 drift, 2 error (for Ansible, Puppet, Salt)
  tcptune why tcp_fin_timeout          Which sysctl.d file sets a key, and which one wins at boot
  tcptune files                        Every sysctl.d file in load order, with dead assignments
  tcptune lint ./my-profile.yaml       Validate a profile without reading the system

Exit status: 0 in sync or done; 1 drift found or changes pending (check, diff --exit-code); 2 error.
See tcptune-profile(5) for the profile format.";

/// `tcptune --version`: the release, the commit, and the kernel the
/// catalog's numbers were measured on.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TCPTUNE_COMMIT"),
    "; catalog measured on Linux 6.18)"
);

/// Where the global options sort in each command's help and completions:
/// after the command's own options (which count up from 0), before -h.
/// Without it the two lists interleave by position.
const GLOBAL_OPTIONS: usize = 900;

#[derive(Debug, PartialEq, Parser)]
#[command(name = "tcptune", version = VERSION, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    /// Read every path (/proc/sys, /etc/tcptune, ...) below DIR: for tests and
    /// for inspecting a mounted image
    #[arg(long, global = true, value_name = "DIR", default_value = "/", display_order = GLOBAL_OPTIONS + 0)]
    pub root: PathBuf,

    /// Output format; json has a stable schema (see tcptune(8), JSON OUTPUT)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text, display_order = GLOBAL_OPTIONS + 1)]
    pub format: Format,

    /// When to colour text output; NO_COLOR in the environment means never for auto
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto, display_order = GLOBAL_OPTIONS + 2)]
    pub color: ColorWhen,

    /// Which boot-time loader to model: systemd-sysctl or procps `sysctl --system`
    /// [default: systemd when /run/systemd/system exists, else procps]
    #[arg(long, global = true, value_enum, value_name = "LOADER", display_order = GLOBAL_OPTIONS + 3)]
    pub loader: Option<LoaderArg>,

    /// Work inside another network namespace: a name under /run/netns, or a
    /// path such as /proc/PID/ns/net (a container's TCP settings, from the host)
    #[arg(long, global = true, value_name = "NAME|PATH", add = ArgValueCompleter::new(complete::netns), display_order = GLOBAL_OPTIONS + 4)]
    pub netns: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoaderArg {
    Systemd,
    Procps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// Prometheus text exposition (doctor only), for node_exporter's textfile collector
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

// Each subcommand's own arguments are built only when it is the one being
// parsed (or when help, man page or completions build the whole tree): a
// `diff` need not construct fourteen commands' options at every run.
#[derive(Debug, PartialEq, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// List profiles: name, where each comes from, description
    #[command(
        long_about = "List every profile a name can find: those in /etc/tcptune/profiles (which \
win over a built-in of the same name) and the built-ins compiled into tcptune."
    )]
    List,

    /// Print a profile after resolving `extends`, as YAML
    #[command(
        long_about = "Print a profile after resolving its `extends` chain: every key in full form, \
its target, the author's reason and the profile it comes from. Output is YAML (or JSON with --format json)."
    )]
    Show {
        /// Profile name, or a path to a profile file (anything containing '/')
        #[arg(add = ArgValueCompleter::new(complete::profiles))]
        profile: String,
    },

    /// Compare a profile with the live kernel
    #[command(
        long_about = "Compare a profile with the live kernel. For every key: the live value, the \
target, and a status: change, in sync, bound satisfied (an at_least/at_most the live value already \
meets), not on this kernel, or not in this netns (a key only the initial network namespace has). Each \
change carries a one-line reason."
    )]
    Diff {
        /// Profile name, or a path to a profile file (anything containing '/')
        #[arg(add = ArgValueCompleter::new(complete::profiles))]
        profile: String,
        /// Also explain each change: what the parameter does, and the consequence in numbers
        #[arg(long)]
        explain: bool,
        /// Exit 1 when anything would change (like `git diff --exit-code`)
        #[arg(long)]
        exit_code: bool,
    },

    /// Explain a parameter, or every change a profile would make
    #[command(
        long_about = "Explain a parameter (full key or short alias, e.g. tcp_synack_retries): what it \
controls, the trade-off, its range and default, its live value and what that value means in numbers on \
this machine. Given a profile instead, explain every change the profile would make, as 'after X instead of Y'."
    )]
    Explain {
        /// A parameter (net.ipv4.tcp_synack_retries or tcp_synack_retries) or a profile
        #[arg(add = ArgValueCompleter::new(complete::topics))]
        topic: String,
    },

    /// Exit 0 when the kernel matches a profile, 1 on drift, 2 on error
    #[command(
        long_about = "Check the live kernel against a profile, for configuration management. \
Prints nothing when in sync and one line per drifted key otherwise (or JSON with --format json). \
Exit status: 0 in sync, 1 drift, 2 error."
    )]
    Check {
        /// Profile name, or a path to a profile file (anything containing '/')
        #[arg(add = ArgValueCompleter::new(complete::profiles), required_unless_present = "applied")]
        profile: Option<String>,
        /// Check the profile of the last apply here, over what it set (live,
        /// boot or both); exit 0 when tcptune applied nothing
        #[arg(long, conflicts_with = "profile")]
        applied: bool,
        /// Only live values count as drift
        #[arg(long, conflicts_with = "boot_only")]
        live_only: bool,
        /// Only what loads at boot counts as drift
        #[arg(long)]
        boot_only: bool,
    },

    /// Make a profile real: set the live values and write an /etc/sysctl.d file
    #[command(
        long_about = "Make a profile real, now and after reboot. Shows the plan first (the diff table \
and a unified diff of the sysctl.d file), asks on a terminal, then: records what it will change for \
`revert` (/var/lib/tcptune/state.json), writes each live value under /proc/sys and reads it back, and \
replaces the file atomically (mode 0644). If any write fails or reads back differently, every value \
already written is restored and no file is written; if the file cannot be written, the live values \
are restored too. The default file is /etc/sysctl.d/99-zz-tcptune.conf, which systemd-sysctl applies \
after the files distributions ship; apply refuses, unless --force, when another file would still \
override it at boot. Running it again when everything is in place changes nothing."
    )]
    Apply {
        /// Profile name, or a path to a profile file (anything containing '/')
        #[arg(add = ArgValueCompleter::new(complete::profiles))]
        profile: String,
        /// Do not ask (without a terminal tcptune never asks)
        #[arg(long, short = 'y')]
        yes: bool,
        /// Show the plan and the file diff; change nothing
        #[arg(long)]
        dry_run: bool,
        /// The sysctl.d file to write [default: /etc/sysctl.d/99-zz-tcptune.conf]
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Write the file only, not the live kernel (image builds, chroots with --root)
        #[arg(long, conflicts_with = "live_only")]
        persist_only: bool,
        /// Set the live kernel only, not the file (lost at the next boot)
        #[arg(long)]
        live_only: bool,
        /// Write the file even though another file would override it at boot
        #[arg(long)]
        force: bool,
        /// If another apply or revert is running, wait for it instead of failing
        #[arg(long)]
        wait: bool,
    },

    /// Put back what the host had before tcptune: live values and files
    #[command(
        long_about = "Put the host back as it was before tcptune's first apply (since the last full \
revert): every live value tcptune wrote returns to its original value, and every sysctl.d file it wrote \
to what it held (or is removed, if tcptune created it), however many applies, repairs or interrupted \
runs came in between. Values someone else changed since tcptune set them are marked in the plan. With \
--last, only the most recent apply is undone. Same plan, confirmation, dry run, read-back and rollback \
as apply. With nothing to undo it says so and exits 0."
    )]
    Revert {
        /// Undo only the most recent apply, not everything since the first
        #[arg(long)]
        last: bool,
        /// Do not ask (without a terminal tcptune never asks)
        #[arg(long, short = 'y')]
        yes: bool,
        /// Show what would be restored; change nothing
        #[arg(long)]
        dry_run: bool,
        /// If another apply or revert is running, wait for it instead of failing
        #[arg(long)]
        wait: bool,
    },

    /// Show where a key's value comes from: live, and every file that sets it
    #[command(
        long_about = "Show the provenance of one or more keys: the live value, every sysctl.d file \
and line that sets it (globs included) in the order the loader applies them, and which assignment wins \
under systemd-sysctl and under procps `sysctl --system` (which also reads /etc/sysctl.conf, last)."
    )]
    Why {
        /// Keys (full or catalog alias), e.g. net.ipv4.tcp_fin_timeout
        #[arg(required = true, value_name = "KEY", add = ArgValueCompleter::new(complete::keys))]
        keys: Vec<String>,
    },

    /// List every sysctl.d file in the order the loader applies it
    #[command(
        long_about = "List every sysctl configuration file in the order the loader applies it, like \
`systemd-sysctl --cat-config`, annotated: files that replace or mask same-named ones, each assignment \
with its line, and assignments that are dead because a later line sets the same key. Malformed lines \
are reported with file and line."
    )]
    Files,

    /// Find which connection-handling limit this host is hitting, from its own counters and sockets
    #[command(
        long_about = "Find which connection-handling limit this network namespace is hitting: \
samples the kernel's TCP counters (/proc/net/netstat, snmp, sockstat) and sockets (sock_diag, as ss \
does: every listener's accept queue and its cap, half-open requests, outgoing connections per \
destination) twice, --interval apart, and names each limit with the numbers behind it: \
accept-queue-overflow, syn-queue-overflow, syn-flood, port-exhaustion, time-wait-overflow, \
orphan-pressure, conntrack-full, inert-setting. Each finding says what to do; where a sysctl helps, \
--write-profile turns the evidence into a profile for `tcptune diff` and `apply`. With --interval 0 \
it samples once: counters are totals since boot, reported as history (info). Needs no root, except to \
name other users' listening processes. Exit status: 0 no finding at warning or above, 1 findings, 2 error."
    )]
    Doctor {
        /// Seconds between the two samples; 0 samples once (totals since boot)
        #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = interval)]
        interval: f64,
        /// The profile --write-profile extends [default: kernel-defaults]
        #[arg(long, value_name = "PROFILE", add = ArgValueCompleter::new(complete::profiles))]
        profile: Option<String>,
        /// Write the changes the evidence supports as a new profile file (never overwrites)
        #[arg(long, value_name = "FILE")]
        write_profile: Option<PathBuf>,
    },

    /// Validate profile files without reading the live system
    #[command(
        long_about = "Validate profile files: YAML syntax, fields, keys (with suggestions for typos), \
value types and the ranges the kernel enforces, bounds, and `extends`. Keys outside tcptune's catalog \
cannot be checked without the live kernel and are reported as notes. Exit 0 when every file is valid, 2 otherwise."
    )]
    Lint {
        /// Profile files to check
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },

    /// Print a shell completion script
    #[command(
        long_about = "Print a completion script for SHELL on standard output, e.g.\n  tcptune completions bash > /etc/bash_completion.d/tcptune"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// The subcommand's name, as JSON documents carry it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::List => "list",
            Command::Show { .. } => "show",
            Command::Diff { .. } => "diff",
            Command::Explain { .. } => "explain",
            Command::Check { .. } => "check",
            Command::Apply { .. } => "apply",
            Command::Revert { .. } => "revert",
            Command::Why { .. } => "why",
            Command::Files => "files",
            Command::Lint { .. } => "lint",
            Command::Doctor { .. } => "doctor",
            Command::Completions { .. } => "completions",
        }
    }
}

/// `--interval`: 0 to 3600 seconds.
fn interval(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(0.0..=3600.0).contains(&v) {
        return Err("must be between 0 and 3600 seconds".into());
    }
    Ok(v)
}

/// The clap command, for the man page and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// `tcptune diff NAME` and `tcptune check NAME`, alone or with `--format
/// json|text` before or after them: the forms hooks run on every host
/// every few minutes, parsed without building clap's parser (a twentieth
/// of their time, and 30 of their 100 page faults). Anything else is
/// `None` and goes to clap. A test checks that whatever this takes, clap
/// parses the same.
pub fn plain(args: &[std::ffi::OsString]) -> Option<Cli> {
    let mut format = None;
    let mut words = Vec::with_capacity(2);
    let mut rest = args.get(1..)?.iter();
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        let value = match arg.strip_prefix("--format") {
            Some("") => rest.next()?.to_str()?,
            Some(v) => v.strip_prefix('=')?,
            None if arg.is_empty() || arg.starts_with('-') => return None,
            None => {
                words.push(arg);
                continue;
            }
        };
        let value = match value {
            "text" => Format::Text,
            "json" => Format::Json,
            _ => return None,
        };
        if format.replace(value).is_some() {
            return None;
        }
    }
    let [command, profile] = words[..] else {
        return None;
    };
    let profile = profile.to_string();
    let command = match command {
        "diff" => Command::Diff {
            profile,
            explain: false,
            exit_code: false,
        },
        "check" => Command::Check {
            profile: Some(profile),
            applied: false,
            live_only: false,
            boot_only: false,
        },
        _ => return None,
    };
    Some(Cli {
        root: PathBuf::from("/"),
        format: format.unwrap_or(Format::Text),
        color: ColorWhen::Auto,
        loader: None,
        netns: None,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    /// Every command line of up to `len` of `words`.
    fn lines(words: &[&str], len: usize) -> Vec<Vec<OsString>> {
        let mut all: Vec<Vec<OsString>> = vec![vec![OsString::from("tcptune")]];
        let mut last = all.clone();
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|a| {
                    words.iter().map(move |w| {
                        let mut b = a.clone();
                        b.push(OsString::from(w));
                        b
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    /// How many of `argvs` `plain` takes; each must parse the same in clap.
    fn taken_and_checked(argvs: &[Vec<OsString>]) -> usize {
        let mut taken = 0;
        for argv in argvs {
            if let Some(fast) = plain(argv) {
                taken += 1;
                let clap = Cli::try_parse_from(argv)
                    .unwrap_or_else(|e| panic!("{argv:?}: plain took it, clap says {e}"));
                assert_eq!(fast, clap, "{argv:?}");
            }
        }
        taken
    }

    #[test]
    fn what_the_plain_parser_takes_clap_parses_the_same() {
        let words = [
            "diff",
            "check",
            "apply",
            "why",
            "files",
            "help",
            "web-server",
            "a/b.yaml",
            "-",
            "--",
            "-x",
            "--root",
            "/",
            "--explain",
            "--exit-code",
            "--applied",
            "-h",
            "--help",
            "",
            " ",
            "é",
            "web=1",
            "--format=json",
        ];
        let mut argvs = lines(&words, 3);
        argvs.push(vec![
            "tcptune".into(),
            "diff".into(),
            OsString::from_vec(vec![0xff]),
        ]);
        // diff and check, each with the 12 non-empty words that are not
        // options: alone, and with --format=json first, between or last.
        assert_eq!(taken_and_checked(&argvs), 2 * 12 * 4);
        let words = [
            "diff",
            "check",
            "web-server",
            "--format",
            "json",
            "text",
            "prometheus",
            "--format=",
            "--format=text",
            "--formats",
            "-x",
            "--",
        ];
        let argvs = lines(&words, 5);
        let taken = taken_and_checked(&argvs);
        assert!(taken > 100, "{taken} of {} taken", argvs.len());
        for argv in [
            &["tcptune", "diff", "web-server"][..],
            &["tcptune", "check", "a/b.yaml", "--format", "json"],
            &["tcptune", "--format=json", "check", "web-server"],
        ] {
            let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
            assert!(plain(&argv).is_some(), "{argv:?}");
        }
    }
}
