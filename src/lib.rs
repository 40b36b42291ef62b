//! tcptune: tune the kernel's TCP connection handling from declarative
//! profiles.
//!
//! `run` maps a parsed command line to its work: load and validate a
//! profile (`library`, `profile`), read the live kernel once (`kernel`,
//! `plan::Snapshot`), build a pure `plan::Plan`, explain it (`explain`,
//! `timing`) and hand the result to `render`, the only module that prints.

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
pub mod man;
pub mod plan;
pub mod profile;
pub mod render;
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
