//! `Change`: what `apply` or `revert` will do (live writes and the sysctl.d
//! file), built purely from a plan or the recorded `State`, and `execute`,
//! the one place that changes the system.
//!
//! Order of execution, under the lock and with the state's journal already
//! on disk: write each live value and read it back; then replace the file.
//! Any failure, or SIGTERM/SIGINT/SIGHUP (see `signals`), restores every
//! live value already written (in reverse order) and writes no file, so a
//! host is never left half-changed.

use std::path::{Path, PathBuf};

use crate::boot::{BootConfig, Loader};
use crate::catalog;
use crate::error::Error;
use crate::kernel::{Kernel, Reading};
use crate::plan::Plan;
use crate::root::Root;
use crate::signals;
use crate::state::{self, Record, State};
use crate::sysctl_file::{self, Setting};
use crate::value::Value;

/// One live value to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveWrite {
    pub key: String,
    /// What the kernel holds now (kernel text), restored on rollback.
    pub previous: String,
    pub value: String,
    /// For revert: what tcptune last wrote, when someone changed it since.
    pub changed_since: Option<String>,
}

/// The sysctl.d file before and after; `new: None` removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// As the system sees it.
    pub path: PathBuf,
    pub old: Option<String>,
    pub new: Option<String>,
    /// For revert: the file was edited since tcptune wrote it.
    pub edited_since: bool,
}

impl FileChange {
    pub fn changes(&self) -> bool {
        self.old != self.new
    }
}

#[derive(Debug, Clone, Default)]
pub struct Change {
    pub live: Vec<LiveWrite>,
    /// One file for apply; revert restores every file tcptune wrote.
    pub files: Vec<FileChange>,
    /// Other files that set a key this change persists: (key, file:line, value).
    pub others: Vec<(String, String, String)>,
    /// Keys whose persisted value would lose at boot: (key, winning file:line).
    pub overridden: Vec<(String, String)>,
}

/// Two kernel texts of `key` mean the same value.
fn same(key: &str, a: &str, b: &str) -> bool {
    let p = catalog::find(key);
    Value::from_kernel(a, p) == Value::from_kernel(b, p)
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.live.is_empty() && !self.files.iter().any(FileChange::changes)
    }

    /// What `apply` does for `plan`: `live` and `persist` select the halves.
    pub fn for_apply(
        plan: &Plan,
        root: &Root,
        file: &Path,
        halves: (bool, bool),
        loader: Loader,
    ) -> Result<Change, Error> {
        let (do_live, do_persist) = halves;
        let mut change = Change::default();
        if do_live {
            for r in plan.changes() {
                let (Some(desired), Some(previous)) = (&r.desired, &r.live) else {
                    continue;
                };
                change.live.push(LiveWrite {
                    key: r.key.clone(),
                    previous: previous.to_kernel(),
                    value: desired.to_kernel(),
                    changed_since: None,
                });
            }
        }
        if do_persist {
            let settings = sysctl_file::settings(plan, plan.offline);
            let old = sysctl_file::read(root, file)?;
            let new = sysctl_file::render(&plan.profile, &plan.source, &plan.chain, &settings)?;
            change.check_conflicts(root, file, &new, &settings, loader);
            change.files.push(FileChange {
                path: file.to_path_buf(),
                old,
                new: Some(new),
                edited_since: false,
            });
        }
        Ok(change)
    }

    /// Which other files set the keys we persist, and whether ours would
    /// win at boot (the boot model read as if our file were written).
    fn check_conflicts(
        &mut self,
        root: &Root,
        file: &Path,
        content: &str,
        settings: &[Setting],
        loader: Loader,
    ) {
        let after = BootConfig::read_with(root, loader, Some((file, content)));
        for s in settings {
            let prov = after.provenance(&s.key);
            for l in &prov.candidates {
                let at = after.file_of(l);
                if at != file {
                    self.others.push((
                        s.key.clone(),
                        format!("{}:{}", at.display(), l.line),
                        l.value.as_deref().unwrap_or("(excluded)").to_string(),
                    ));
                }
            }
            match prov.winner {
                // Another file wins with the value we want: the boot
                // outcome is ours, and check calls it in sync, so it is
                // listed among the others, not a conflict.
                Some(w)
                    if after.file_of(w) != file
                        && w.value.as_deref().is_some_and(|v| {
                            let p = catalog::find(&s.key);
                            Value::from_kernel(v, p).as_ref() == Some(&s.value)
                        }) => {}
                Some(w) if after.file_of(w) != file => {
                    self.overridden.push((
                        s.key.clone(),
                        format!(
                            "{}:{} ({} = {})",
                            after.file_of(w).display(),
                            w.line,
                            w.written,
                            w.value.as_deref().unwrap_or_default()
                        ),
                    ));
                }
                Some(_) => {}
                None => self.overridden.push((
                    s.key.clone(),
                    format!(
                        "nowhere: {} does not read {}",
                        loader.name(),
                        file.display()
                    ),
                )),
            }
        }
    }

    /// What a full `revert` does: every key back to its value before
    /// tcptune first wrote it, every file back to what it held then.
    pub fn for_revert(
        state: &State,
        kernel: &dyn Kernel,
        root: &Root,
        live: bool,
    ) -> Result<Change, Error> {
        let mut change = Change::default();
        if live {
            for (key, o) in &state.originals {
                change.restore(kernel, key, &o.value, &o.wrote);
            }
        }
        for (path, o) in &state.files {
            change.restore_file(root, path, o.before.clone(), &o.wrote)?;
        }
        Ok(change)
    }

    /// What `revert --last` does: undo the newest apply only.
    pub fn for_revert_last(
        record: &Record,
        kernel: &dyn Kernel,
        root: &Root,
        live: bool,
    ) -> Result<Change, Error> {
        let mut change = Change::default();
        if live {
            for c in &record.live {
                change.restore(kernel, &c.key, &c.before, &c.after);
            }
        }
        if let Some(f) = &record.file {
            change.restore_file(root, &f.path, f.before.clone(), &f.after)?;
        }
        Ok(change)
    }

    fn restore(&mut self, kernel: &dyn Kernel, key: &str, to: &str, wrote: &str) {
        let Reading::Value(now) = kernel.read(key) else {
            return;
        };
        if !same(key, &now, to) {
            self.live.push(LiveWrite {
                key: key.to_string(),
                previous: now.trim().to_string(),
                value: to.trim().to_string(),
                changed_since: (!same(key, &now, wrote)).then(|| wrote.to_string()),
            });
        }
    }

    fn restore_file(
        &mut self,
        root: &Root,
        path: &Path,
        to: Option<String>,
        wrote: &Option<String>,
    ) -> Result<(), Error> {
        let old = sysctl_file::read(root, path)?;
        self.files.push(FileChange {
            path: path.to_path_buf(),
            edited_since: old != *wrote,
            old,
            new: to,
        });
        Ok(())
    }

    /// The history record of this change as apply number `seq`.
    pub fn record(&self, seq: u64, profile: &str) -> Record {
        Record {
            seq,
            profile: profile.to_string(),
            spec: None,
            scope: None,
            at: state::now(),
            live: self
                .live
                .iter()
                .map(|w| state::LiveChange {
                    key: w.key.clone(),
                    before: w.previous.clone(),
                    after: w.value.clone(),
                })
                .collect(),
            file: self
                .files
                .iter()
                .find(|f| f.changes())
                .map(|f| state::FileChange {
                    path: f.path.clone(),
                    before: f.old.clone(),
                    after: f.new.clone(),
                }),
        }
    }
}

/// Carries out `change`: live values first (each read back), then the
/// file. On any failure or a deferred signal, restores the live values
/// already written. A signal that arrives after the file is in place is
/// too late to undo anything: the change stands.
pub fn execute(change: &Change, kernel: &dyn Kernel, root: &Root) -> Result<(), Error> {
    let mut done: Vec<&LiveWrite> = Vec::new();
    for w in &change.live {
        if let Some(signal) = signals::caught() {
            return Err(interrupted(kernel, &done, signal));
        }
        if let Err(failure) = write_and_verify(kernel, w) {
            return Err(rollback(kernel, &done, failure));
        }
        done.push(w);
    }
    if let Some(signal) = signals::caught() {
        return Err(interrupted(kernel, &done, signal));
    }
    for f in change.files.iter().filter(|f| f.changes()) {
        sysctl_file::clean_stale_temps(root, &f.path);
        let result = match &f.new {
            Some(content) => sysctl_file::write(root, &f.path, content).and_then(|()| {
                // Read back what is on disk now: exactly what was reviewed,
                // or the old file goes back too.
                match sysctl_file::read(root, &f.path) {
                    Ok(Some(now)) if now == *content => Ok(()),
                    _ => {
                        let _ = match &f.old {
                            Some(old) => sysctl_file::write(root, &f.path, old),
                            None => sysctl_file::remove(root, &f.path),
                        };
                        Err(std::io::Error::other(
                            "the file read back differs from what was written; the old one is back",
                        ))
                    }
                }
            }),
            None => sysctl_file::remove(root, &f.path),
        };
        if let Err(e) = result {
            return Err(rollback(
                kernel,
                &done,
                Error::Persist {
                    path: root.show(&f.path),
                    source: e,
                },
            ));
        }
    }
    Ok(())
}

fn write_and_verify(kernel: &dyn Kernel, w: &LiveWrite) -> Result<(), Error> {
    kernel
        .write(&w.key, &w.value)
        .map_err(|source| Error::Write {
            key: w.key.clone(),
            value: w.value.clone(),
            source,
        })?;
    let got = match kernel.read(&w.key) {
        Reading::Value(v) => v,
        _ => String::new(),
    };
    if !same(&w.key, &got, &w.value) {
        return Err(Error::ReadBack {
            key: w.key.clone(),
            wrote: w.value.clone(),
            got: got.trim().to_string(),
        });
    }
    Ok(())
}

/// Restores `done` in reverse; (restored count, what could not be).
fn undo(kernel: &dyn Kernel, done: &[&LiveWrite]) -> (usize, Vec<String>) {
    let mut restored = 0;
    let mut not_restored = Vec::new();
    for w in done.iter().rev() {
        match kernel.write(&w.key, &w.previous) {
            Ok(()) => restored += 1,
            Err(e) => not_restored.push(format!(
                "{} (to {}: {})",
                w.key,
                w.previous,
                crate::error::io_meaning(&e)
            )),
        }
    }
    (restored, not_restored)
}

fn rollback(kernel: &dyn Kernel, done: &[&LiveWrite], failure: Error) -> Error {
    let (restored, not_restored) = undo(kernel, done);
    Error::RolledBack {
        failure: Box::new(failure),
        restored,
        not_restored,
    }
}

fn interrupted(kernel: &dyn Kernel, done: &[&LiveWrite], signal: i32) -> Error {
    let (restored, not_restored) = undo(kernel, done);
    Error::Interrupted {
        signal,
        restored,
        not_restored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::io;

    /// A kernel in memory that refuses one key.
    struct FakeKernel {
        values: RefCell<HashMap<String, String>>,
        refuse: &'static str,
    }

    impl Kernel for FakeKernel {
        fn read(&self, key: &str) -> Reading {
            self.values
                .borrow()
                .get(key)
                .cloned()
                .map_or(Reading::Absent, Reading::Value)
        }
        fn has(&self, key: &str) -> bool {
            self.values.borrow().contains_key(key)
        }
        fn write(&self, key: &str, value: &str) -> io::Result<()> {
            if key == self.refuse {
                return Err(io::Error::from_raw_os_error(22));
            }
            self.values.borrow_mut().insert(key.into(), value.into());
            Ok(())
        }
    }

    #[test]
    fn a_refused_write_restores_everything_already_written() {
        let k = FakeKernel {
            values: RefCell::new(
                [("a", "1"), ("b", "2"), ("c", "3")]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
            ),
            refuse: "c",
        };
        let w = |key: &str, previous: &str, value: &str| LiveWrite {
            key: key.into(),
            previous: previous.into(),
            value: value.into(),
            changed_since: None,
        };
        let change = Change {
            live: vec![w("a", "1", "10"), w("b", "2", "20"), w("c", "3", "30")],
            ..Change::default()
        };
        let root = Root::open(Path::new("/")).unwrap();
        let err = execute(&change, &k, &root).unwrap_err();
        assert!(
            matches!(&err, Error::RolledBack { restored: 2, not_restored, .. } if not_restored.is_empty()),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("cannot write 30 to c: Invalid argument"),
            "{err}"
        );
        assert_eq!(k.values.borrow()["a"], "1");
        assert_eq!(k.values.borrow()["b"], "2");
    }
}
