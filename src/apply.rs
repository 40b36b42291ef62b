//! `apply` and `revert`, the two commands that change the system, as one
//! transaction each:
//!
//! 1. check what may be done here (target file, `--netns`, a live kernel,
//!    privileges) before anything is shown;
//! 2. take the lock, plan, and show the plan;
//! 3. confirm: `--yes`, or a "y" on a terminal; without a terminal and
//!    without `--yes`, stop (exit 2): no host changes unconfirmed;
//! 4. record the originals and a journal in the state, durably;
//! 5. execute with SIGTERM/SIGINT/SIGHUP deferred (see `change::execute`);
//! 6. close the journal (or, after a clean rollback, put the state back).
//!
//! The contract with `check`: after `apply P` exits 0, `check P` exits 0
//! (for the halves applied). When apply cannot make that true (another
//! file wins at boot, the boot files cannot all be read), it exits 2 and
//! says why, every time, not only the first.

use std::path::{Path, PathBuf};

use crate::Context;
use crate::change::{self, Change};
use crate::error::Error;
use crate::exit_code::ExitCode;
use crate::kernel::{ProcSys, Visibility};
use crate::lock::{self, Lock};
use crate::plan::Status;
use crate::signals;
use crate::state::{Journal, Place, State};
use crate::sysctl_file;

pub struct ApplyOptions {
    pub yes: bool,
    pub dry_run: bool,
    pub force: bool,
    pub wait: bool,
    pub live_only: bool,
    pub persist_only: bool,
    pub file: Option<PathBuf>,
}

pub struct RevertOptions {
    pub yes: bool,
    pub dry_run: bool,
    pub wait: bool,
    pub last: bool,
}

/// Which halves a run may touch here: (live, persist).
fn halves(cx: &Context, live_only: bool, persist_only: bool) -> Result<(bool, bool), Error> {
    if cx.other_netns && persist_only {
        return Err(Error::NetnsPersist {
            what: "--persist-only",
        });
    }
    let persist = !live_only && !cx.other_netns;
    let live = !persist_only;
    match cx.visibility() {
        Visibility::Broken(why) => Err(Error::NoLiveKernel { why }),
        Visibility::Offline if live => Err(Error::NoLiveKernel {
            why: format!(
                "no live kernel under {} (no /proc/sys): pass --persist-only to write the image's sysctl.d file",
                cx.root.path().display()
            ),
        }),
        _ => Ok((live, persist)),
    }
}

/// The lock, unless this is a dry run; checked for permission first, so a
/// user who cannot apply learns it before any plan is shown.
fn lock_unless_dry(cx: &Context, dry_run: bool, wait: bool) -> Result<Option<Lock>, Error> {
    if dry_run {
        return Ok(None);
    }
    let dir = Path::new(lock::LOCK_DIR);
    if let Err(source) = cx.root.can_create_in(dir) {
        return Err(Error::NotPermitted {
            what: "taking the lock",
            path: cx.root.show(dir),
            source,
        });
    }
    Lock::acquire(cx.root, wait).map(Some)
}

/// Refuses, before the plan is shown, what this user could not do.
fn check_privileges(cx: &Context, change: &Change, place: &Place) -> Result<(), Error> {
    if let Some(w) = change.live.first() {
        let path = ProcSys::path(&w.key);
        if let Err(source) = cx.root.can_write(&path) {
            return Err(Error::NotPermitted {
                what: "setting live values",
                path: cx.root.show(&path),
                source,
            });
        }
    }
    let dirs = change
        .files
        .iter()
        .filter(|f| f.changes())
        .filter_map(|f| f.path.parent().map(Path::to_path_buf))
        .chain(std::iter::once(place.dir.clone()));
    for dir in dirs {
        if let Err(source) = cx.root.can_create_in(&dir) {
            return Err(Error::NotPermitted {
                what: "writing the sysctl.d file and the state",
                path: cx.root.show(&dir),
                source,
            });
        }
    }
    Ok(())
}

/// "y" on a terminal, or `--yes`; no terminal and no `--yes` is an error.
fn confirm(cx: &Context, yes: bool, command: &'static str, question: &str) -> Result<bool, Error> {
    if yes {
        return Ok(true);
    }
    cx.out
        .confirm(question)
        .ok_or(Error::NoTerminal { command })
}

/// A note for a journal left by a run that did not finish.
fn interrupted_note(journal: &Journal) -> String {
    format!(
        "an earlier {} ({}pid {}) did not finish; the original values it recorded are kept, and revert restores them",
        journal.command,
        journal
            .profile
            .as_ref()
            .map(|p| format!("profile {p}, "))
            .unwrap_or_default(),
        journal.pid
    )
}

/// A profile spec that still finds the same profile from another working
/// directory (the verify service's): a path made absolute.
fn lasting_spec(spec: &str) -> String {
    if !crate::library::Library::is_path(spec) {
        return spec.to_string();
    }
    std::path::absolute(spec)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| spec.to_string())
}

pub fn apply(cx: &Context, spec: &str, o: ApplyOptions) -> Result<ExitCode, Error> {
    let file = o
        .file
        .clone()
        .unwrap_or_else(|| sysctl_file::DEFAULT_PATH.into());
    sysctl_file::check_target(&file)?;
    let (live, persist) = halves(cx, o.live_only, o.persist_only)?;
    // Hold the lock from planning to the end, so the plan is still true
    // when it is carried out.
    let _lock = lock_unless_dry(cx, o.dry_run, o.wait)?;
    let (plan, _) = cx.plan(spec, false)?;
    if persist {
        // A link, FIFO or device in the target's place: refused first.
        sysctl_file::read(cx.root, &file)?;
    }
    if let Some(r) = plan.rows.iter().find(|r| r.status == Status::Unreadable) {
        return Err(Error::Unreadable {
            key: r.key.clone(),
            why: r.unreadable.clone().unwrap_or_default(),
        });
    }
    if persist && plan.boot_unknown() {
        return Err(Error::BootUnknown {
            files: cx
                .boot()
                .unknown()
                .map(|(p, w)| (cx.root.show(p), w.to_string()))
                .collect(),
        });
    }
    let change = Change::for_apply(&plan, cx.root, &file, (live, persist), cx.config.loader)?;
    let place = cx.place();
    if !o.dry_run {
        check_privileges(cx, &change, &place)?;
    }
    let earlier = State::load(cx.root, &place, cx.netns)?;
    let mut notes: Vec<String> = earlier
        .as_ref()
        .and_then(|s| s.journal.as_ref())
        .map(interrupted_note)
        .into_iter()
        .collect();
    if cx.other_netns && !o.live_only {
        notes.push("--netns without --root changes live values only: another namespace's boot files live in its own root".into());
    }
    cx.out.change_plan(Some(&plan), &change, &notes)?;
    if !change.overridden.is_empty() && !o.force {
        return Err(Error::Overridden {
            file,
            by: change.overridden.clone(),
        });
    }
    if change.is_empty() {
        if let Some(mut s) = earlier.filter(|s| s.journal.is_some()) {
            s.journal = None;
            s.save(cx.root, &place)?;
        }
        cx.out.outcome(
            "apply",
            Some(&plan),
            &change,
            &notes,
            "nothing-to-do",
            "Nothing to do: the live values and the file are already in place.",
        )?;
        return Ok(ExitCode::Success);
    }
    if o.dry_run {
        cx.out.outcome(
            "apply",
            Some(&plan),
            &change,
            &notes,
            "dry-run",
            "Dry run: nothing was changed.",
        )?;
        return Ok(ExitCode::Success);
    }
    if !confirm(cx, o.yes, "apply", "Apply these changes?")? {
        cx.out.outcome(
            "apply",
            Some(&plan),
            &change,
            &notes,
            "declined",
            "Nothing was changed.",
        )?;
        return Ok(ExitCode::Drift);
    }
    let before = earlier.unwrap_or_else(|| State::new(cx.netns));
    let mut state = before.clone();
    let mut record = change.record(state.next_seq(), &plan.profile);
    record.spec = Some(lasting_spec(spec));
    record.scope = Some(
        match (live, persist) {
            (true, true) => "both",
            (true, false) => "live",
            _ => "boot",
        }
        .to_string(),
    );
    state.begin(&record, "apply");
    state.save(cx.root, &place)?;
    let deferral = signals::Deferral::start();
    if let Err(e) = change::execute(&change, &cx.kernel, cx.root) {
        drop(deferral);
        settle_failure(cx, &place, before, state, &e);
        return Err(e);
    }
    drop(deferral);
    state.finish(record);
    state.save(cx.root, &place)?;
    log_change(cx, "apply", Some(&plan.profile), &change);
    cx.out.outcome(
        "apply",
        Some(&plan),
        &change,
        &notes,
        "applied",
        &done_text(&change),
    )?;
    Ok(ExitCode::Success)
}

/// After a failed run: a clean rollback changed nothing, so the state goes
/// back to what it was; otherwise the originals stay recorded for revert.
fn settle_failure(cx: &Context, place: &Place, before: State, mut begun: State, e: &Error) {
    let clean = matches!(e,
        Error::RolledBack { not_restored, .. } | Error::Interrupted { not_restored, .. } if not_restored.is_empty());
    let result = if clean {
        if before.is_empty() && before.journal.is_none() {
            State::remove(cx.root, place)
        } else {
            let mut s = before;
            s.journal = None;
            s.save(cx.root, place)
        }
    } else {
        begun.journal = None;
        begun.save(cx.root, place)
    };
    if let Err(save) = result {
        crate::render::Renderer::warning(
            cx.config.color,
            &format!("could not update the state after the failure: {save}"),
        );
    }
}

pub fn revert(cx: &Context, o: RevertOptions) -> Result<ExitCode, Error> {
    let (live, _) = halves(cx, false, !matches!(cx.visibility(), Visibility::Live))?;
    let _lock = lock_unless_dry(cx, o.dry_run, o.wait)?;
    let place = cx.place();
    let Some(mut state) = State::load(cx.root, &place, cx.netns)?.filter(|s| !s.is_empty()) else {
        let change = Change::default();
        cx.out.outcome("revert", None, &change, &[], "nothing-to-do", "Nothing to revert: tcptune has not changed anything here (or a revert already undid it).")?;
        return Ok(ExitCode::Success);
    };
    let notes: Vec<String> = state
        .journal
        .as_ref()
        .map(interrupted_note)
        .into_iter()
        .collect();
    let change = match (o.last, state.applies.last()) {
        (true, Some(record)) => Change::for_revert_last(record, &cx.kernel, cx.root, live)?,
        (true, None) => Change::default(),
        (false, _) => Change::for_revert(&state, &cx.kernel, cx.root, live)?,
    };
    if !o.dry_run {
        check_privileges(cx, &change, &place)?;
    }
    cx.out.change_plan(None, &change, &notes)?;
    if o.dry_run {
        cx.out.outcome(
            "revert",
            None,
            &change,
            &notes,
            "dry-run",
            "Dry run: nothing was changed.",
        )?;
        return Ok(ExitCode::Success);
    }
    if !change.is_empty() && !confirm(cx, o.yes, "revert", "Revert these changes?")? {
        cx.out.outcome(
            "revert",
            None,
            &change,
            &notes,
            "declined",
            "Nothing was changed.",
        )?;
        return Ok(ExitCode::Drift);
    }
    let before = state.clone();
    state.journal = Some(Journal {
        command: if o.last { "revert --last" } else { "revert" }.into(),
        profile: None,
        pid: std::process::id(),
        at: crate::state::now(),
    });
    state.save(cx.root, &place)?;
    let deferral = signals::Deferral::start();
    if let Err(e) = change::execute(&change, &cx.kernel, cx.root) {
        drop(deferral);
        settle_failure(cx, &place, before, state, &e);
        return Err(e);
    }
    drop(deferral);
    if o.last {
        state.pop_last();
    }
    if !o.last || state.is_empty() {
        State::remove(cx.root, &place)?;
    } else {
        state.save(cx.root, &place)?;
    }
    log_change(
        cx,
        if o.last { "revert --last" } else { "revert" },
        None,
        &change,
    );
    let what = if o.last {
        "the last apply"
    } else {
        "everything tcptune changed"
    };
    let text = if change.is_empty() {
        format!("Nothing to restore: {what} is already as it was; the record is cleared.")
    } else {
        format!("Reverted {what}: {}", done_text(&change))
    };
    cx.out
        .outcome("revert", None, &change, &notes, "reverted", &text)?;
    Ok(ExitCode::Success)
}

/// The audit trail: records to the system log when something changed; a
/// failure to log is a warning, never a failed change.
fn log_change(cx: &Context, command: &str, profile: Option<&str>, change: &Change) {
    if change.live.is_empty() && !change.files.iter().any(|f| f.changes()) {
        return;
    }
    let actor = crate::audit::Actor::current(cx.other_netns.then_some(cx.netns));
    let records = crate::audit::records(command, profile, change, &actor);
    if let Err(e) = crate::audit::send(&records) {
        crate::render::Renderer::warning(
            cx.config.color,
            &format!(
                "the change is done, but it could not be logged to {}: {}",
                crate::audit::SOCKET,
                crate::error::io_meaning(&e)
            ),
        );
    }
}

/// "4 live values written and read back; wrote /etc/sysctl.d/x.conf."
fn done_text(change: &Change) -> String {
    let mut parts = Vec::new();
    match change.live.len() {
        0 => {}
        1 => parts.push("1 live value written and read back".to_string()),
        n => parts.push(format!("{n} live values written and read back")),
    }
    for f in change.files.iter().filter(|f| f.changes()) {
        parts.push(match f.new {
            Some(_) => format!("wrote {}", f.path.display()),
            None => format!("removed {}", f.path.display()),
        });
    }
    format!("{}.", parts.join("; "))
}
