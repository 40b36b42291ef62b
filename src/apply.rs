//! `Change`: what `apply` or `revert` will do (live writes and the sysctl.d
//! file), built purely from a plan or the recorded `State`, and `execute`,
//! the one place that changes the system.
//!
//! Order of execution, under the lock: record the state for revert; write
//! each live value and read it back; then replace the file. Any failure
//! restores every live value already written (in reverse order) and writes
//! no file, so a host is never left half-changed.

use std::path::{Path, PathBuf};

use crate::boot::{BootConfig, Loader};
use crate::catalog;
use crate::error::Error;
use crate::kernel::Kernel;
use crate::plan::Plan;
use crate::state::{FileRecord, State};
use crate::sysctl_file::{self, Setting};
use crate::value::Value;

/// One live value to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveWrite {
    pub key: String,
    /// What the kernel holds now (kernel text), restored on rollback.
    pub previous: String,
    pub value: String,
}

/// The sysctl.d file before and after; `new: None` removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// As the system sees it.
    pub path: PathBuf,
    /// Where tcptune writes it (below `--root`).
    pub real: PathBuf,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl FileChange {
    pub fn changes(&self) -> bool {
        self.old != self.new
    }
}

#[derive(Debug, Clone, Default)]
pub struct Change {
    pub live: Vec<LiveWrite>,
    pub file: Option<FileChange>,
    /// Other files that set a key this change persists: (key, file:line, value).
    pub others: Vec<(String, String, String)>,
    /// Keys whose persisted value would lose at boot: (key, winning file:line).
    pub overridden: Vec<(String, String)>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.live.is_empty() && !self.file.as_ref().is_some_and(FileChange::changes)
    }

    /// What `apply` does for `plan`: `live` and `persist` select the halves.
    pub fn for_apply(
        plan: &Plan,
        root: &Path,
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
                });
            }
        }
        if do_persist {
            // An image or chroot without /proc/sys: persist every entry.
            let no_kernel = !root.join("proc/sys").is_dir();
            let settings = sysctl_file::settings(plan, no_kernel);
            let real = sysctl_file::under(root, file);
            let old = sysctl_file::read(&real).map_err(|e| Error::io(&real, e))?;
            let new = sysctl_file::render(&plan.profile, &plan.source, &plan.chain, &settings);
            change.check_conflicts(root, file, &new, &settings, loader);
            change.file = Some(FileChange {
                path: file.to_path_buf(),
                real,
                old,
                new: Some(new),
            });
        }
        Ok(change)
    }

    /// Which other files set the keys we persist, and whether ours would
    /// win at boot (the boot model read as if our file were written).
    fn check_conflicts(
        &mut self,
        root: &Path,
        file: &Path,
        content: &str,
        settings: &[Setting],
        loader: Loader,
    ) {
        // Read once, as if our file were written: other files are the same
        // either way, and this says whether ours wins.
        let after = BootConfig::read_with(root, loader, Some((file, content)));
        for s in settings {
            let prov = after.provenance(&s.key);
            for l in &prov.candidates {
                let at = after.file_of(l);
                if at != file {
                    self.others.push((
                        s.key.clone(),
                        format!("{}:{}", at.display(), l.line),
                        l.value.clone().unwrap_or_else(|| "(excluded)".into()),
                    ));
                }
            }
            match prov.winner {
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

    /// What `revert` does: put back the recorded live values and file.
    pub fn for_revert(state: &State, kernel: &dyn Kernel, root: &Path) -> Result<Change, Error> {
        let mut change = Change::default();
        for (key, previous) in &state.previous_live {
            let param = catalog::find(key);
            let Some(now) = kernel.read(key)? else {
                continue;
            };
            let (now_v, prev_v) = (
                Value::from_kernel(&now, param),
                Value::from_kernel(previous, param),
            );
            if now_v != prev_v {
                change.live.push(LiveWrite {
                    key: key.clone(),
                    previous: now.trim().to_string(),
                    value: previous.trim().to_string(),
                });
            }
        }
        if let Some(rec) = &state.file {
            let real = sysctl_file::under(root, &rec.path);
            let old = sysctl_file::read(&real).map_err(|e| Error::io(&real, e))?;
            change.file = Some(FileChange {
                path: rec.path.clone(),
                real,
                old,
                new: rec.previous.clone(),
            });
        }
        Ok(change)
    }

    /// The state `revert` needs to undo this change.
    pub fn state(&self, profile: &str) -> State {
        State {
            version: State::VERSION,
            profile: profile.to_string(),
            previous_live: self
                .live
                .iter()
                .map(|w| (w.key.clone(), w.previous.clone()))
                .collect(),
            file: self
                .file
                .as_ref()
                .filter(|f| f.changes())
                .map(|f| FileRecord {
                    path: f.path.clone(),
                    previous: f.old.clone(),
                }),
        }
    }
}

/// Carries out `change`: live values first (each read back), then the
/// file. On any failure, restores the live values already written.
pub fn execute(change: &Change, kernel: &dyn Kernel) -> Result<(), Error> {
    let mut done: Vec<&LiveWrite> = Vec::new();
    for w in &change.live {
        if let Err(failure) = write_and_verify(kernel, w) {
            return Err(rollback(kernel, &done, failure));
        }
        done.push(w);
    }
    if let Some(f) = change.file.as_ref().filter(|f| f.changes()) {
        let result = match &f.new {
            Some(content) => f
                .real
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| sysctl_file::write_atomic(&f.real, content)),
            None => sysctl_file::remove(&f.real),
        };
        if let Err(e) = result {
            return Err(rollback(
                kernel,
                &done,
                Error::Persist {
                    path: f.path.clone(),
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
    let param = catalog::find(&w.key);
    let got = kernel.read(&w.key)?.unwrap_or_default();
    if Value::from_kernel(&got, param) != Value::from_kernel(&w.value, param) {
        return Err(Error::ReadBack {
            key: w.key.clone(),
            wrote: w.value.clone(),
            got: got.trim().to_string(),
        });
    }
    Ok(())
}

fn rollback(kernel: &dyn Kernel, done: &[&LiveWrite], failure: Error) -> Error {
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
    Error::RolledBack {
        failure: Box::new(failure),
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
        fn read(&self, key: &str) -> Result<Option<String>, Error> {
            Ok(self.values.borrow().get(key).cloned())
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
        };
        let change = Change {
            live: vec![w("a", "1", "10"), w("b", "2", "20"), w("c", "3", "30")],
            ..Change::default()
        };
        let err = execute(&change, &k).unwrap_err();
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
