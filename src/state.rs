//! `State`: what the last `apply` changed, kept so `revert` can undo it:
//! the previous live value of every key it wrote, and the previous content
//! of the sysctl.d file (or that there was none). Stored as JSON in
//! /var/lib/tcptune/state.json (below `--root`), written atomically before
//! anything is changed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

pub const STATE_PATH: &str = "/var/lib/tcptune/state.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Bumped if the shape changes; older files are refused, not guessed.
    pub version: u32,
    pub profile: String,
    /// Live values before apply, in the order apply wrote them.
    pub previous_live: Vec<(String, String)>,
    /// The sysctl.d file apply wrote, if it wrote one.
    pub file: Option<FileRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// As the system sees it (without `--root`).
    pub path: PathBuf,
    /// The content before apply; `None` when the file did not exist.
    pub previous: Option<String>,
}

impl State {
    pub const VERSION: u32 = 1;

    pub fn path(root: &Path) -> PathBuf {
        crate::sysctl_file::under(root, Path::new(STATE_PATH))
    }

    /// Writes the state durably (temp file, fsync, rename).
    pub fn save(&self, root: &Path) -> Result<(), Error> {
        let path = Self::path(root);
        let dir = path.parent().expect("state path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| Error::Persist {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let text = serde_json::to_string_pretty(self).expect("state serializes");
        crate::sysctl_file::write_atomic(&path, &text)
            .map_err(|e| Error::Persist { path, source: e })
    }

    /// The recorded state, or `None` when apply never ran (or revert did).
    pub fn load(root: &Path) -> Result<Option<State>, Error> {
        let path = Self::path(root);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| Error::BadState {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if state.version != Self::VERSION {
            return Err(Error::BadState {
                path,
                why: format!(
                    "version {} (this tcptune reads {})",
                    state.version,
                    Self::VERSION
                ),
            });
        }
        Ok(Some(state))
    }

    pub fn remove(root: &Path) -> Result<(), Error> {
        let path = Self::path(root);
        crate::sysctl_file::remove(&path).map_err(|e| Error::Persist { path, source: e })
    }
}
