//! Shell completion that knows the domain: profile names (built-in and in
//! /etc/tcptune/profiles), catalog keys and their aliases, network
//! namespaces under /run/netns. The shell calls tcptune back with
//! `COMPLETE=<shell>` set (clap_complete's dynamic engine); these
//! functions answer, reading only what a completion needs.

use std::ffi::OsStr;

use clap_complete::engine::{CompletionCandidate, PathCompleter, ValueCompleter};

use crate::catalog;
use crate::library::Library;
use crate::root::Root;

fn matching(current: &OsStr) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| name.starts_with(current.to_str().unwrap_or_default())
}

/// Profile names; a path once the word looks like one.
pub fn profiles(current: &OsStr) -> Vec<CompletionCandidate> {
    let text = current.to_string_lossy();
    if text.contains('/') || text.starts_with('.') || text.starts_with('~') {
        return PathCompleter::file().complete(current);
    }
    let Ok(root) = Root::open(std::path::Path::new("/")) else {
        return Vec::new();
    };
    let keep = matching(current);
    let listed = Library::new(&root).list().unwrap_or_default();
    let mut out: Vec<CompletionCandidate> = listed
        .into_iter()
        .filter(|l| keep(&l.name))
        .map(|l| CompletionCandidate::new(l.name).help(Some(l.description.into())))
        .collect();
    out.dedup_by(|a, b| a.get_value() == b.get_value());
    out
}

/// Catalog keys, full and short.
pub fn keys(current: &OsStr) -> Vec<CompletionCandidate> {
    let keep = matching(current);
    catalog::PARAMS
        .iter()
        .flat_map(|p| [p.key, p.alias])
        .filter(|n| keep(n))
        .map(|n| {
            let p = catalog::find(n).expect("a catalog name");
            CompletionCandidate::new(n).help(Some(p.summary.into()))
        })
        .collect()
}

/// `explain` takes a key or a profile.
pub fn topics(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut out = keys(current);
    out.extend(profiles(current));
    out
}

/// Network namespaces as `ip netns add` names them; a path once the word
/// looks like one.
pub fn netns(current: &OsStr) -> Vec<CompletionCandidate> {
    let text = current.to_string_lossy();
    if text.contains('/') {
        return PathCompleter::any().complete(current);
    }
    let keep = matching(current);
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| keep(n))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// The script that registers tcptune's completion with `shell` (what
/// `COMPLETE=<shell> tcptune` prints).
pub fn registration(shell: clap_complete::Shell) -> std::io::Result<Vec<u8>> {
    use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
    let completer: &dyn EnvCompleter = match shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Zsh => &Zsh,
        clap_complete::Shell::Fish => &Fish,
        clap_complete::Shell::Elvish => &Elvish,
        clap_complete::Shell::PowerShell => &Powershell,
        _ => &Bash,
    };
    let mut buf = Vec::new();
    completer.write_registration("COMPLETE", "tcptune", "tcptune", "tcptune", &mut buf)?;
    Ok(buf)
}
