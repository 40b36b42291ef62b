//! tcptune: tune the kernel's TCP connection handling from declarative
//! profiles.
//!
//! `run` maps a parsed command line to its work: load and validate a
//! profile (`library`, `profile`), read the live kernel once (`kernel`,
//! `plan::Snapshot`) and the boot files (`boot`), build a pure `plan::Plan`,
//! explain it (`explain`, `timing`) and hand the result to `render`, the
//! only module that prints. `apply` and `revert` are the only commands
//! that change anything. Every file is opened through `root`, the one
//! path gate.

pub mod apply;
pub mod arena;
pub mod audit;
pub mod boot;
pub mod catalog;
pub mod change;
pub mod cli;
pub mod complete;
pub mod config;
pub mod devconf;
pub mod doctor;
pub mod error;
pub mod exit_code;
pub mod explain;
pub mod kernel;
pub mod key;
pub mod library;
pub mod locator;
pub mod lock;
pub mod man;
pub mod netns;
pub mod plan;
pub mod profile;
pub mod render;
pub mod root;
pub mod signals;
pub mod state;
pub mod sysctl_file;
pub mod timing;
pub mod trust;
pub mod value;

use std::cell::OnceCell;

use boot::{BootConfig, Loader};
use cli::{Cli, Command};
use config::Config;
use error::Error;
use exit_code::ExitCode;
use explain::Facts;
use kernel::{Kernel, ProcSys, Visibility};
use library::Library;
use plan::{DriftScope, Plan, Snapshot};
use render::{Explanation, Renderer};
use root::Root;

pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.netns.clone() {
        Some(name) => netns::run_in(&name, move || run_here(cli)),
        None => run_here(cli),
    }
}

/// What every command works with: the root, the kernel below it, the
/// profiles, the renderer, and the namespace.
pub struct Context<'r> {
    pub config: &'r Config,
    pub root: &'r Root,
    pub kernel: ProcSys<'r>,
    pub library: Library<'r>,
    pub out: Renderer,
    /// The network namespace this thread works in.
    pub netns: state::NetnsId,
    /// `--netns` without `--root`: another namespace, whose boot files are
    /// not in this root (live values only; state kept in /run).
    pub other_netns: bool,
    boot: OnceCell<BootConfig>,
    visibility: OnceCell<Visibility>,
}

impl Context<'_> {
    pub fn visibility(&self) -> Visibility {
        self.visibility
            .get_or_init(|| self.kernel.visibility())
            .clone()
    }

    /// The boot model for the configured loader, read once.
    pub fn boot(&self) -> &BootConfig {
        self.boot
            .get_or_init(|| BootConfig::read(self.root, self.config.loader))
    }

    pub fn place(&self) -> state::Place {
        state::Place::for_run(self.other_netns, self.netns)
    }

    /// Loads `spec`, reads the live values it needs, and builds the plan
    /// (with explanations when asked). Offline roots get the boot view only.
    pub fn plan(
        &self,
        spec: &str,
        explain: bool,
    ) -> Result<(Plan, Option<Vec<Explanation>>), Error> {
        let visibility = self.visibility();
        if let Visibility::Broken(why) = &visibility {
            return Err(Error::NoLiveKernel { why: why.clone() });
        }
        let offline = visibility == Visibility::Offline;
        let has = |key: &str| offline || self.kernel.has(key);
        let resolved = self.library.resolve(spec, Some(&has))?;
        if offline {
            return Ok((Plan::offline(&resolved, self.boot()), None));
        }
        let keys = resolved.profile.entries.iter().map(|e| e.key.as_str());
        if !explain {
            let live = Snapshot::read(&self.kernel, keys);
            return Ok((Plan::new(&resolved, &live, Some(self.boot())), None));
        }
        let live = Snapshot::read(
            &self.kernel,
            keys.chain(explain::CONTEXT_KEYS.iter().copied()),
        );
        let plan = Plan::new(&resolved, &live, Some(self.boot()));
        let explained = explanations(&plan, &live, &self.facts());
        Ok((plan, Some(explained)))
    }

    fn facts(&self) -> Facts {
        Facts {
            listeners: kernel::listening_sockets(self.root),
            cpus: std::thread::available_parallelism().ok().map(usize::from),
        }
    }
}

fn run_here(cli: Cli) -> Result<ExitCode, Error> {
    let config = Config::from_cli(&cli);
    let root = Root::open(&config.root).map_err(|e| Error::io(&config.root, e))?;
    let lint_only = matches!(cli.command, Command::Lint { .. });
    let cx = Context {
        config: &config,
        root: &root,
        kernel: ProcSys::new(&root),
        library: if lint_only {
            Library::for_lint(&root)
        } else {
            Library::new(&root)
        },
        out: Renderer::new(config.format, config.color),
        netns: netns::current(),
        other_netns: cli.netns.is_some() && root.is_host(),
        boot: OnceCell::new(),
        visibility: OnceCell::new(),
    };
    if config.format == cli::Format::Prometheus && !matches!(cli.command, Command::Doctor { .. }) {
        return Err(Error::FormatNotFor {
            format: "prometheus",
            only: "doctor",
            command: cli.command.name(),
        });
    }
    match cli.command {
        Command::Doctor {
            interval,
            profile,
            write_profile,
        } => doctor(&cx, interval, profile, write_profile, cli.netns.clone()),
        Command::List => cx.out.list(&cx.library.list()?).map(|()| ExitCode::Success),
        Command::Show { profile } => cx
            .out
            .show(&cx.library.resolve(&profile, None)?)
            .map(|()| ExitCode::Success),
        Command::Diff {
            profile,
            explain,
            exit_code,
        } => {
            let (plan, explained) = cx.plan(&profile, explain)?;
            cx.out.diff(&plan, explained.as_deref())?;
            Ok(if exit_code && plan.has_changes() {
                ExitCode::Drift
            } else {
                ExitCode::Success
            })
        }
        Command::Check {
            profile: Some(profile),
            live_only,
            boot_only,
            ..
        } => check(&cx, &profile, live_only, boot_only),
        Command::Check {
            profile: None,
            live_only,
            boot_only,
            ..
        } => check_applied(&cx, live_only, boot_only),
        Command::Why { keys } => why(&cx, &keys),
        Command::Apply {
            profile,
            yes,
            dry_run,
            file,
            persist_only,
            live_only,
            force,
            wait,
        } => apply::apply(
            &cx,
            &profile,
            apply::ApplyOptions {
                yes,
                dry_run,
                force,
                wait,
                live_only,
                persist_only,
                file,
            },
        ),
        Command::Revert {
            yes,
            dry_run,
            wait,
            last,
        } => apply::revert(
            &cx,
            apply::RevertOptions {
                yes,
                dry_run,
                wait,
                last,
            },
        ),
        Command::Files => cx
            .out
            .files(cx.boot(), Loader::detect(&root))
            .map(|()| ExitCode::Success),
        Command::Explain { topic } => explain_topic(&cx, &topic),
        Command::Lint { files } => lint(&cx, &files),
        Command::Completions { shell } => cx.out.completions(shell).map(|()| ExitCode::Success),
    }
}

/// `check`: 0 in sync, 1 drift, 2 when drift cannot be judged (no live
/// kernel, an unreadable key, boot files tcptune cannot read).
fn check(cx: &Context, profile: &str, live_only: bool, boot_only: bool) -> Result<ExitCode, Error> {
    let scope = match (live_only, boot_only) {
        (true, _) => DriftScope::Live,
        (_, true) => DriftScope::Boot,
        _ => DriftScope::Both,
    };
    if cx.visibility() == Visibility::Offline && scope != DriftScope::Boot {
        return Err(Error::NoLiveKernel {
            why: format!(
                "no live kernel under {} (no /proc/sys): only what loads at boot can be checked; pass --boot-only",
                cx.root.path().display()
            ),
        });
    }
    let (plan, _) = cx.plan(profile, false)?;
    if let Some(r) = plan
        .rows
        .iter()
        .find(|r| r.status == plan::Status::Unreadable)
    {
        return Err(Error::Unreadable {
            key: r.key.clone(),
            why: r.unreadable.clone().unwrap_or_default(),
        });
    }
    if scope != DriftScope::Live && plan.boot_unknown() {
        return Err(Error::BootUnknown {
            files: cx
                .boot()
                .unknown()
                .map(|(p, w)| (cx.root.show(p), w.to_string()))
                .collect(),
        });
    }
    cx.out.check(&plan, scope)?;
    Ok(if plan.drifted(scope).next().is_some() {
        ExitCode::Drift
    } else {
        ExitCode::Success
    })
}

/// `check --applied`: the profile and scope of the last apply recorded
/// here; 0 when tcptune applied nothing.
fn check_applied(cx: &Context, live_only: bool, boot_only: bool) -> Result<ExitCode, Error> {
    let state = state::State::load(cx.root, &cx.place(), cx.netns)?;
    let Some(last) = state.as_ref().and_then(|s| s.applies.last()) else {
        if cx.config.format == cli::Format::Json {
            cx.out.nothing_applied()?;
        } else {
            Renderer::note(
                cx.config.color,
                "tcptune has applied nothing here: nothing to check",
            );
        }
        return Ok(ExitCode::Success);
    };
    let spec = last.spec.clone().unwrap_or_else(|| last.profile.clone());
    let (live_only, boot_only) = match last.scope.as_deref() {
        Some("live") => (true, false),
        Some("boot") => (false, true),
        _ => (live_only, boot_only),
    };
    check(cx, &spec, live_only, boot_only)
}

/// One `Explanation` per plan row (empty for rows that do not change).
fn explanations(plan: &Plan, before: &Snapshot, facts: &Facts) -> Vec<Explanation> {
    let after = plan.after(before);
    let mut groups_done: Vec<(&str, &str)> = Vec::new();
    plan.rows
        .iter()
        .map(|row| {
            let Some(param) = row.param else {
                if !row.status.live_drift() {
                    return Explanation::default();
                }
                return Explanation {
                    notes: vec!["not in tcptune's catalog: no explanation available".into()],
                    ..Explanation::default()
                };
            };
            let (now, was) = (
                explain::effect(&row.key, &after, facts),
                explain::effect(&row.key, before, facts),
            );
            // A key in sync can still change its consequence when other
            // keys of the plan enter its formula (tcp_rto_max_ms, say).
            let by_others = !row.status.live_drift()
                && now.as_ref().map(explain::Effect::state)
                    != was.as_ref().map(explain::Effect::state);
            if !row.status.live_drift() && !by_others {
                return Explanation::default();
            }
            let effect = match (&now, &was, now.as_ref().and_then(|e| e.group)) {
                (Some(_), _, Some(g)) if groups_done.iter().any(|(done, _)| *done == g) => {
                    let first = groups_done
                        .iter()
                        .find(|(done, _)| *done == g)
                        .map_or("", |(_, k)| *k);
                    Some(format!("combined with {first}, above"))
                }
                (Some(n), Some(w), group) => {
                    if let Some(g) = group {
                        groups_done.push((g, row.key.as_str()));
                    }
                    Some(n.change_from(w))
                }
                (Some(n), None, _) => Some(n.state()),
                _ => None,
            };
            let unit = now.as_ref().and_then(|e| e.quantity).map(|(_, u)| u);
            let effect = effect.map(|e| {
                if by_others {
                    format!("in sync, but the other changes make it: {e}")
                } else {
                    e
                }
            });
            Explanation {
                changed_by_others: by_others,
                low: now.as_ref().and_then(|e| e.low),
                effect,
                value: now.as_ref().and_then(|e| e.quantity).map(|(v, _)| v),
                before: was.as_ref().and_then(|e| e.quantity).map(|(v, _)| v),
                unit,
                notes: now.and_then(|e| e.note).into_iter().collect(),
                detail: Some(param.detail),
            }
        })
        .collect()
}

fn explain_topic(cx: &Context, topic: &str) -> Result<ExitCode, Error> {
    if let Some(p) = catalog::find(topic) {
        let live = Snapshot::read(
            &cx.kernel,
            std::iter::once(p.key).chain(explain::CONTEXT_KEYS.iter().copied()),
        );
        let now = explain::effect(p.key, &live, &cx.facts());
        cx.out.explain_param(p, live.get(p.key), now.as_ref())?;
        return Ok(ExitCode::Success);
    }
    if let Some(r) = catalog::find_removed(topic) {
        cx.out.explain_removed(r)?;
        return Ok(ExitCode::Success);
    }
    if topic.contains('.')
        && !Library::is_path(topic)
        && let Ok(key) = key::canonical(topic)
        && cx.kernel.has(&key)
    {
        let live = Snapshot::read(&cx.kernel, [key.as_str()]);
        cx.out.explain_uncatalogued(&key, live.get(&key))?;
        return Ok(ExitCode::Success);
    }
    match cx.plan(topic, true) {
        Ok((plan, explained)) => cx
            .out
            .explain_plan(&plan, &explained.unwrap_or_default())
            .map(|()| ExitCode::Success),
        Err(Error::ProfileNotFound { .. } | Error::BadProfileName { .. }) => {
            Err(Error::UnknownTopic {
                name: topic.to_string(),
                suggestion: catalog::suggest(topic),
            })
        }
        Err(e) => Err(e),
    }
}

/// `why KEY...`: live value and provenance under both loaders.
fn why(cx: &Context, keys: &[String]) -> Result<ExitCode, Error> {
    let mut canonical = Vec::new();
    for k in keys {
        let key = match catalog::find(k) {
            Some(p) => p.key.to_string(),
            None => key::canonical(k).map_err(|_| Error::UnknownKey {
                name: k.clone(),
                suggestion: catalog::suggest(k),
            })?,
        };
        canonical.push(key);
    }
    let live = Snapshot::read(&cx.kernel, canonical.iter().map(String::as_str));
    // A key neither the catalog nor this kernel knows is most likely a typo.
    if cx.visibility() == Visibility::Live
        && let Some(k) = canonical
            .iter()
            .find(|k| catalog::find(k).is_none() && !cx.kernel.has(k))
        && let Some(s) = catalog::suggest(k)
    {
        return Err(Error::UnknownKey {
            name: k.clone(),
            suggestion: Some(s),
        });
    }
    let [systemd, procps] = BootConfig::read_both_for(cx.root, &canonical);
    let absent = |key: &str| absence(&cx.kernel, cx.visibility(), key);
    cx.out.why(
        &canonical,
        &live,
        &absent,
        [&systemd, &procps],
        cx.config.loader,
    )?;
    Ok(ExitCode::Success)
}

/// `doctor`: 0 when nothing at warning or above, 1 with findings.
fn doctor(
    cx: &Context,
    interval: f64,
    profile: Option<String>,
    write_profile: Option<std::path::PathBuf>,
    netns: Option<String>,
) -> Result<ExitCode, Error> {
    let base = profile.unwrap_or_else(|| "kernel-defaults".to_string());
    if write_profile.is_some() {
        // The base must resolve before minutes of sampling, not after.
        cx.library.resolve(&base, None)?;
    }
    let mut report = doctor::examine(cx, interval, netns)?;
    report.writing_profile = write_profile.is_some();
    cx.out.doctor(&report)?;
    if let Some(path) = write_profile {
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        match doctor::profile_text(&report, &base, &host) {
            Some(text) => {
                doctor::write_new(&path, &text)?;
                // A bare name would be read as a profile name, not a file.
                let shown = path.display().to_string();
                let as_file = if shown.contains('/') {
                    shown.clone()
                } else {
                    format!("./{shown}")
                };
                Renderer::note(
                    cx.config.color,
                    &format!("wrote {shown}; review it with `tcptune diff {as_file}`"),
                );
            }
            None => Renderer::note(
                cx.config.color,
                "no profile written: no finding has a sysctl change to propose",
            ),
        }
    }
    Ok(if report.alarming() {
        ExitCode::Drift
    } else {
        ExitCode::Success
    })
}

/// Why this kernel shows no `key`, in words.
fn absence(kernel: &ProcSys, visibility: Visibility, key: &str) -> String {
    if visibility != Visibility::Live {
        return "no live kernel here".to_string();
    }
    let path = key::to_path(key);
    let parts: Vec<&str> = path.split('/').collect();
    // net.ipv4.conf.eth0.rp_filter, net.ipv6.neigh.eth0.…: per interface.
    if parts.len() == 5
        && parts[0] == "net"
        && matches!(parts[2], "conf" | "neigh")
        && !kernel.has(&key::from_path(&parts[..4].join("/")))
    {
        return format!("no interface {} in this network namespace", parts[3]);
    }
    match catalog::find(key).map(|p| p.scope) {
        Some(catalog::Scope::InitNetnsOnly) => {
            "only the initial network namespace has it; this is another".to_string()
        }
        _ => "not on this kernel, or its module is not loaded".to_string(),
    }
}

fn lint(cx: &Context, files: &[std::path::PathBuf]) -> Result<ExitCode, Error> {
    let mut results = Vec::new();
    for file in files {
        let result = cx.library.resolve_file(file, None).map(|r| {
            r.profile
                .entries
                .iter()
                .filter(|e| e.param.is_none())
                .map(|e| format!("{} is not in tcptune's catalog; diff and check accept it only if the kernel has it", e.key))
                .collect::<Vec<_>>()
        });
        if let Err(e) = &result {
            Renderer::error(cx.config.color, &e.to_string());
        }
        results.push((
            file.display().to_string(),
            result.map_err(|e| e.diagnostics_json()),
        ));
    }
    cx.out.lint(&results)?;
    Ok(if results.iter().all(|(_, r)| r.is_ok()) {
        ExitCode::Success
    } else {
        ExitCode::Error
    })
}
