//! tcptune: tune the kernel's TCP connection handling from declarative
//! profiles.
//!
//! `run` maps a parsed command line to its work: load and validate a
//! profile (`library`, `profile`), read the live kernel once (`kernel`,
//! `plan::Snapshot`), build a pure `plan::Plan`, explain it (`explain`,
//! `timing`) and hand the result to `render`, the only module that prints.

pub mod apply;
pub mod boot;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod exit_code;
pub mod explain;
pub mod kernel;
pub mod library;
pub mod locator;
pub mod lock;
pub mod man;
pub mod netns;
pub mod plan;
pub mod profile;
pub mod render;
pub mod state;
pub mod sysctl_file;
pub mod timing;
pub mod value;

use boot::{BootConfig, Loader};
use cli::{Cli, Command};
use config::Config;
use error::Error;
use exit_code::ExitCode;
use explain::Facts;
use kernel::{Kernel, ProcSys};
use library::Library;
use plan::{DriftScope, Plan, Snapshot};
use render::{Explanation, Renderer};

pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.netns.clone() {
        Some(name) => netns::run_in(&name, move || run_here(cli)),
        None => run_here(cli),
    }
}

fn run_here(cli: Cli) -> Result<ExitCode, Error> {
    let config = Config::from_cli(&cli);
    let out = Renderer::new(config.format, config.color);
    let library = Library::new(&config.root);
    let kernel = ProcSys::new(&config.root);
    match cli.command {
        Command::List => out.list(&library.list()?).map(|()| ExitCode::Success),
        Command::Show { profile } => out
            .show(&library.resolve(&profile, None)?)
            .map(|()| ExitCode::Success),
        Command::Diff {
            profile,
            explain,
            exit_code,
        } => {
            let (plan, explained) = plan(&config, &library, &kernel, &profile, explain)?;
            out.diff(&plan, explained.as_deref())?;
            Ok(if exit_code && plan.has_changes() {
                ExitCode::Drift
            } else {
                ExitCode::Success
            })
        }
        Command::Check {
            profile,
            live_only,
            boot_only,
        } => {
            let scope = match (live_only, boot_only) {
                (true, _) => DriftScope::Live,
                (_, true) => DriftScope::Boot,
                _ => DriftScope::Both,
            };
            let (plan, _) = plan(&config, &library, &kernel, &profile, false)?;
            out.check(&plan, scope)?;
            Ok(if plan.drifted(scope).next().is_some() {
                ExitCode::Drift
            } else {
                ExitCode::Success
            })
        }
        Command::Why { keys } => why(&config, &kernel, &out, &keys),
        Command::Apply {
            profile,
            yes,
            dry_run,
            file,
            persist_only,
            live_only,
            force,
            wait,
        } => {
            let opts = ApplyOptions {
                yes,
                dry_run,
                force,
                wait,
                live: !persist_only,
                persist: !live_only,
            };
            apply(&config, &library, &kernel, &out, &profile, file, opts)
        }
        Command::Revert { yes, dry_run, wait } => {
            revert(&config, &kernel, &out, yes, dry_run, wait)
        }
        Command::Files => out
            .files(
                &BootConfig::read(&config.root, config.loader),
                Loader::detect(&config.root),
            )
            .map(|()| ExitCode::Success),
        Command::Explain { topic } => explain_topic(&config, &library, &kernel, &out, &topic),
        Command::Lint { files } => lint(&library, &out, &files, config.color),
        Command::Completions { shell } => out.completions(shell).map(|()| ExitCode::Success),
    }
}

/// Loads `spec`, reads the live values it needs, and builds the plan (with
/// explanations when asked).
fn plan(
    config: &Config,
    library: &Library,
    kernel: &ProcSys,
    spec: &str,
    explain: bool,
) -> Result<(Plan, Option<Vec<Explanation>>), Error> {
    let has = |key: &str| kernel.has(key);
    let resolved = library.resolve(spec, Some(&has))?;
    let keys = resolved.profile.entries.iter().map(|e| e.key.as_str());
    let boot = BootConfig::read(&config.root, config.loader);
    if !explain {
        let live = Snapshot::read(kernel, keys)?;
        return Ok((Plan::new(&resolved, &live, Some(&boot)), None));
    }
    let live = Snapshot::read(kernel, keys.chain(explain::CONTEXT_KEYS.iter().copied()))?;
    let plan = Plan::new(&resolved, &live, Some(&boot));
    let explained = explanations(&plan, &live, &facts(config));
    Ok((plan, Some(explained)))
}

fn facts(config: &Config) -> Facts {
    Facts {
        listeners: kernel::listening_sockets(&config.root),
        cpus: std::thread::available_parallelism().ok().map(usize::from),
    }
}

/// One `Explanation` per plan row (empty for rows that do not change).
fn explanations(plan: &Plan, before: &Snapshot, facts: &Facts) -> Vec<Explanation> {
    let after = plan.after(before);
    let mut groups_done: Vec<(&str, &str)> = Vec::new();
    plan.rows
        .iter()
        .map(|row| {
            if !row.status.live_drift() {
                return Explanation::default();
            }
            let Some(param) = row.param else {
                return Explanation {
                    notes: vec!["not in tcptune's catalog: no explanation available".into()],
                    ..Explanation::default()
                };
            };
            let (now, was) = (
                explain::effect(&row.key, &after, facts),
                explain::effect(&row.key, before, facts),
            );
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
            Explanation {
                effect,
                notes: now.and_then(|e| e.note).into_iter().collect(),
                detail: Some(param.detail),
            }
        })
        .collect()
}

fn explain_topic(
    config: &Config,
    library: &Library,
    kernel: &ProcSys,
    out: &Renderer,
    topic: &str,
) -> Result<ExitCode, Error> {
    if let Some(p) = catalog::find(topic) {
        let live = Snapshot::read(
            kernel,
            std::iter::once(p.key).chain(explain::CONTEXT_KEYS.iter().copied()),
        )?;
        let now = explain::effect(p.key, &live, &facts(config));
        out.explain_param(p, live.get(p.key), now.as_ref())?;
        return Ok(ExitCode::Success);
    }
    if let Some(r) = catalog::find_removed(topic) {
        out.explain_removed(r)?;
        return Ok(ExitCode::Success);
    }
    if topic.contains('.')
        && !Library::is_path(topic)
        && kernel::is_valid_key(topic)
        && kernel.has(topic)
    {
        let live = Snapshot::read(kernel, [topic])?;
        out.explain_uncatalogued(topic, live.get(topic))?;
        return Ok(ExitCode::Success);
    }
    match plan(config, library, kernel, topic, true) {
        Ok((plan, explained)) => out
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

struct ApplyOptions {
    yes: bool,
    dry_run: bool,
    force: bool,
    wait: bool,
    live: bool,
    persist: bool,
}

/// `apply`: plan, show, check the file will win at boot, confirm, lock,
/// record state, execute.
fn apply(
    config: &Config,
    library: &Library,
    kernel: &ProcSys,
    out: &Renderer,
    spec: &str,
    file: Option<std::path::PathBuf>,
    o: ApplyOptions,
) -> Result<ExitCode, Error> {
    // Hold the lock from planning to the end, so the plan is still true
    // when it is carried out.
    let _lock = if o.dry_run {
        None
    } else {
        Some(lock::Lock::acquire(&config.root, o.wait)?)
    };
    let (plan, _) = plan(config, library, kernel, spec, false)?;
    let file = file.unwrap_or_else(|| sysctl_file::DEFAULT_PATH.into());
    let change = apply::Change::for_apply(
        &plan,
        &config.root,
        &file,
        (o.live, o.persist),
        config.loader,
    )?;
    out.change_plan(Some(&plan), &change)?;
    if !change.overridden.is_empty()
        && !o.force
        && change.file.as_ref().is_some_and(apply::FileChange::changes)
    {
        return Err(Error::Overridden {
            file,
            by: change.overridden.clone(),
        });
    }
    if change.is_empty() {
        out.outcome(
            "apply",
            &change,
            "nothing-to-do",
            "Nothing to do: the live values and the file are already in place.",
        )?;
        return Ok(ExitCode::Success);
    }
    if o.dry_run {
        out.outcome("apply", &change, "dry-run", "Dry run: nothing was changed.")?;
        return Ok(ExitCode::Success);
    }
    if !(o.yes || out.confirm("Apply these changes?")) {
        out.outcome("apply", &change, "declined", "Nothing was changed.")?;
        return Ok(ExitCode::Drift);
    }
    if let Some(f) = &change.file {
        sysctl_file::clean_stale_temps(f.real.parent().unwrap_or(std::path::Path::new(".")));
    }
    let earlier = state::State::load(&config.root).ok().flatten();
    change.state(&plan.profile).save(&config.root)?;
    if let Err(e) = apply::execute(&change, kernel) {
        // Rolled back cleanly: nothing changed, so the record of the apply
        // before this one is still the one revert should undo.
        if matches!(&e, Error::RolledBack { not_restored, .. } if not_restored.is_empty()) {
            let _ = match earlier {
                Some(s) => s.save(&config.root),
                None => state::State::remove(&config.root),
            };
        }
        return Err(e);
    }
    out.outcome("apply", &change, "applied", &applied_text(&change))?;
    Ok(ExitCode::Success)
}

/// `revert`: undo what the recorded state says the last apply did.
fn revert(
    config: &Config,
    kernel: &ProcSys,
    out: &Renderer,
    yes: bool,
    dry_run: bool,
    wait: bool,
) -> Result<ExitCode, Error> {
    let _lock = if dry_run {
        None
    } else {
        Some(lock::Lock::acquire(&config.root, wait)?)
    };
    let state = state::State::load(&config.root)?.ok_or_else(|| Error::NothingToRevert {
        path: state::State::path(&config.root),
    })?;
    let change = apply::Change::for_revert(&state, kernel, &config.root)?;
    out.change_plan(None, &change)?;
    if dry_run {
        out.outcome(
            "revert",
            &change,
            "dry-run",
            "Dry run: nothing was changed.",
        )?;
        return Ok(ExitCode::Success);
    }
    if !(change.is_empty() || yes || out.confirm("Revert these changes?")) {
        out.outcome("revert", &change, "declined", "Nothing was changed.")?;
        return Ok(ExitCode::Drift);
    }
    apply::execute(&change, kernel)?;
    state::State::remove(&config.root)?;
    let text = if change.is_empty() {
        format!(
            "Nothing to restore: already as before {} was applied.",
            state.profile
        )
    } else {
        format!("Reverted {}: {}", state.profile, applied_text(&change))
    };
    out.outcome("revert", &change, "reverted", &text)?;
    Ok(ExitCode::Success)
}

fn applied_text(change: &apply::Change) -> String {
    let mut parts = Vec::new();
    if !change.live.is_empty() {
        parts.push(format!(
            "{} live value(s) written and read back",
            change.live.len()
        ));
    }
    if let Some(f) = change.file.as_ref().filter(|f| f.changes()) {
        parts.push(match f.new {
            Some(_) => format!("wrote {}", f.path.display()),
            None => format!("removed {}", f.path.display()),
        });
    }
    format!("{}.", parts.join("; "))
}

/// `why KEY...`: live value and provenance under both loaders.
fn why(
    config: &Config,
    kernel: &ProcSys,
    out: &Renderer,
    keys: &[String],
) -> Result<ExitCode, Error> {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| catalog::find(k).map_or_else(|| k.clone(), |p| p.key.to_string()))
        .collect();
    if let Some(bad) = keys.iter().find(|k| !kernel::is_valid_key(k)) {
        return Err(Error::UnknownTopic {
            name: bad.clone(),
            suggestion: catalog::suggest(bad),
        });
    }
    let live = Snapshot::read(kernel, keys.iter().map(String::as_str))?;
    let systemd = BootConfig::read(&config.root, Loader::Systemd);
    let procps = BootConfig::read(&config.root, Loader::Procps);
    out.why(&keys, &live, [&systemd, &procps], config.loader)?;
    Ok(ExitCode::Success)
}

fn lint(
    library: &Library,
    out: &Renderer,
    files: &[std::path::PathBuf],
    color: anstream::ColorChoice,
) -> Result<ExitCode, Error> {
    let mut results = Vec::new();
    for file in files {
        let spec = file.to_string_lossy();
        // A bare file name is still a file here, not a profile name.
        let spec = if Library::is_path(&spec) {
            spec.into_owned()
        } else {
            format!("./{spec}")
        };
        let result = library.resolve(&spec, None).map(|r| {
            r.profile
                .entries
                .iter()
                .filter(|e| e.param.is_none())
                .map(|e| format!("{} is not in tcptune's catalog; diff and check accept it only if the kernel has it", e.key))
                .collect::<Vec<_>>()
        });
        if let Err(e) = &result {
            Renderer::error(color, &e.to_string());
        }
        results.push((
            file.display().to_string(),
            result.map_err(|e| e.to_string()),
        ));
    }
    out.lint(&results)?;
    Ok(if results.iter().all(|(_, r)| r.is_ok()) {
        ExitCode::Success
    } else {
        ExitCode::Error
    })
}
