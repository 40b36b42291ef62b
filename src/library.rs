//! `Library`: where profiles are found, by name or path, and how `extends`
//! chains are resolved into one profile.
//!
//! Names are looked up first in the admin's directory
//! (`/etc/tcptune/profiles/NAME.yaml` below the root), which wins over a
//! built-in of the same name, then among the built-ins compiled from
//! `profiles/`; `builtin:NAME` always names the built-in (also in
//! `extends`). An argument containing '/' or ending in .yaml is a path.
//!
//! Run as root, a profile file is used only if no one but root could have
//! written it (see `trust`). Every file is read bounded and non-blocking.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Diagnostic, Error, Location, Problem};
use crate::profile::{self, KeyCheck, Profile, Source};
use crate::root::{ReadError, Root};
use crate::trust;

pub const ADMIN_DIR: &str = "/etc/tcptune/profiles";
/// Prefix that names a built-in profile even when a local one shadows it.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// The shipped profiles, compiled in. `tests/profiles.rs` checks this list
/// matches the files in `profiles/`.
pub static BUILTIN: &[(&str, &str)] = &[
    (
        "kernel-defaults",
        include_str!("../profiles/kernel-defaults.yaml"),
    ),
    ("web-server", include_str!("../profiles/web-server.yaml")),
    ("syn-flood", include_str!("../profiles/syn-flood.yaml")),
    (
        "behind-load-balancer",
        include_str!("../profiles/behind-load-balancer.yaml"),
    ),
    (
        "outbound-client",
        include_str!("../profiles/outbound-client.yaml"),
    ),
    (
        "fast-failover",
        include_str!("../profiles/fast-failover.yaml"),
    ),
];

/// A profile with its `extends` chain merged in.
#[derive(Debug)]
pub struct Resolved {
    pub profile: Profile,
    /// The profile and its ancestors, the profile first.
    pub chain: Vec<String>,
}

/// One line of `tcptune list`.
#[derive(Debug, serde::Serialize)]
pub struct Listing {
    pub name: String,
    pub source: String,
    pub description: String,
    /// An admin profile that replaces a built-in of the same name.
    pub overrides_builtin: bool,
    /// Why the file cannot be used, if it cannot.
    pub error: Option<String>,
}

pub struct Library<'r> {
    root: &'r Root,
    /// Check file ownership (run as root, for profiles that can be applied).
    check_trust: bool,
}

/// Reads a profile file: bounded, never blocking, regular files only.
fn read_profile(read: Result<Vec<u8>, ReadError>, shown: &Path) -> Result<Vec<u8>, Error> {
    match read {
        Ok(b) => Ok(b),
        Err(ReadError::Io(e)) => Err(Error::io(shown, e)),
        Err(ReadError::TooLarge { .. }) => Err(Error::Invalid(vec![Diagnostic {
            at: Location {
                file: shown.display().to_string(),
                ..Location::default()
            },
            problem: Problem::TooLarge {
                limit: profile::MAX_BYTES,
            },
        }])),
        Err(e) => Err(Error::io(shown, std::io::Error::other(e.to_string()))),
    }
}

impl<'r> Library<'r> {
    pub fn new(root: &'r Root) -> Library<'r> {
        Library {
            root,
            check_trust: true,
        }
    }

    /// A library for `lint`: validating a file trusts nothing to it.
    pub fn for_lint(root: &'r Root) -> Library<'r> {
        Library {
            root,
            check_trust: false,
        }
    }

    fn admin_dir(&self) -> PathBuf {
        PathBuf::from(ADMIN_DIR)
    }

    /// Whether `spec` names a profile (as opposed to a file path).
    pub fn is_path(spec: &str) -> bool {
        !spec.starts_with(BUILTIN_PREFIX)
            && (spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml"))
    }

    /// Loads `spec` (a name or a path) and its ancestors, merged: a child's
    /// entry replaces its parent's for the same key, in the parent's place.
    pub fn resolve(&self, spec: &str, known: KeyCheck) -> Result<Resolved, Error> {
        let profile = if Self::is_path(spec) {
            self.load_file(Path::new(spec), known)?
        } else {
            self.load_named(spec, known)?
        };
        self.resolve_profile(profile, known)
    }

    /// Loads a profile file (a bare file name is a file here, not a name)
    /// and its ancestors, merged.
    pub fn resolve_file(&self, path: &Path, known: KeyCheck) -> Result<Resolved, Error> {
        let profile = self.load_file(path, known)?;
        self.resolve_profile(profile, known)
    }

    fn resolve_profile(&self, mut profile: Profile, known: KeyCheck) -> Result<Resolved, Error> {
        let mut chain = vec![profile.name.clone()];
        let mut lineage = vec![profile.clone()];
        while let Some(parent) = lineage.last().and_then(|p| p.extends.clone()) {
            let child = lineage.last().expect("lineage is never empty");
            let at = |problem| {
                let (line, column) = child.extends_at.unzip();
                let at = Location {
                    file: child.source.label(&child.name),
                    line,
                    column,
                    key: Some("extends".into()),
                };
                Error::Invalid(vec![Diagnostic { at, problem }])
            };
            if chain.contains(&parent) {
                chain.push(parent);
                return Err(at(Problem::ExtendsCycle { chain }));
            }
            let loaded = match self.load_named(&parent, known) {
                Err(Error::ProfileNotFound { name, .. }) => {
                    return Err(at(Problem::UnknownExtends { name }));
                }
                other => other?,
            };
            chain.push(parent);
            lineage.push(loaded);
        }
        let mut entries: Vec<profile::Entry> = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        for p in lineage.iter().rev() {
            for e in &p.entries {
                match slot_of.get(&e.key) {
                    Some(&i) => entries[i] = e.clone(),
                    None => {
                        slot_of.insert(e.key.clone(), entries.len());
                        entries.push(e.clone());
                    }
                }
            }
        }
        profile.entries = entries;
        Ok(Resolved { profile, chain })
    }

    fn load_file(&self, path: &Path, known: KeyCheck) -> Result<Profile, Error> {
        let bytes = read_profile(
            crate::root::read_host(path, profile::MAX_BYTES as u64),
            path,
        )?;
        if self.check_trust {
            trust::check_host(path, "profile")?;
        }
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        Profile::parse(&name, Source::File(path.to_path_buf()), &bytes, known)
    }

    fn load_named(&self, name: &str, known: KeyCheck) -> Result<Profile, Error> {
        let builtin = |n: &str| BUILTIN.iter().find(|(b, _)| *b == n);
        if let Some(n) = name.strip_prefix(BUILTIN_PREFIX) {
            return match builtin(n) {
                Some((n, text)) => Profile::parse_builtin(n, text, known),
                None => Err(Error::ProfileNotFound {
                    name: name.to_string(),
                    searched: PathBuf::from("(the built-ins only)"),
                }),
            };
        }
        if !profile::is_valid_name(name) {
            return Err(Error::BadProfileName {
                name: name.to_string(),
            });
        }
        for ext in ["yaml", "yml"] {
            let path = self.admin_dir().join(format!("{name}.{ext}"));
            let shown = self.root.show(&path);
            match self.root.read(&path, profile::MAX_BYTES as u64) {
                Err(e) if e.is_not_found() => continue,
                read => {
                    let bytes = read_profile(read, &shown)?;
                    if self.check_trust {
                        trust::check(self.root, &path, "profile")?;
                    }
                    return Profile::parse(name, Source::File(shown), &bytes, known);
                }
            }
        }
        match builtin(name) {
            Some((n, text)) => Profile::parse_builtin(n, text, known),
            None => Err(Error::ProfileNotFound {
                name: name.to_string(),
                searched: self.root.show(&self.admin_dir()),
            }),
        }
    }

    /// Every profile that a name would find: the admin's and the built-ins.
    pub fn list(&self) -> Result<Vec<Listing>, Error> {
        let mut out = Vec::new();
        let mut admin_names = Vec::new();
        match self.root.list(&self.admin_dir()) {
            Ok(dir) => {
                let mut paths: Vec<PathBuf> = dir
                    .into_iter()
                    .map(|(n, _)| self.admin_dir().join(n))
                    .collect();
                paths.sort();
                for path in paths {
                    let (Some(stem), Some(ext)) = (path.file_stem(), path.extension()) else {
                        continue;
                    };
                    let name = stem.to_string_lossy().into_owned();
                    if !matches!(ext.to_str(), Some("yaml" | "yml"))
                        || !profile::is_valid_name(&name)
                        || admin_names.contains(&name)
                    {
                        continue;
                    }
                    let shown = self.root.show(&path);
                    let parsed =
                        read_profile(self.root.read(&path, profile::MAX_BYTES as u64), &shown)
                            .and_then(|b| {
                                Profile::parse(&name, Source::File(shown.clone()), &b, None)
                            });
                    out.push(Listing {
                        overrides_builtin: BUILTIN.iter().any(|(n, _)| *n == name),
                        source: shown.display().to_string(),
                        description: parsed
                            .as_ref()
                            .map(|p| p.description.clone())
                            .unwrap_or_default(),
                        error: parsed.err().map(|e| e.to_string()),
                        name: name.clone(),
                    });
                    admin_names.push(name);
                }
            }
            Err(e) if crate::root::is_absent(&e) => {}
            Err(e) => return Err(Error::io(self.root.show(&self.admin_dir()), e)),
        }
        for (name, text) in BUILTIN {
            if admin_names.iter().any(|n| n == name) {
                continue;
            }
            let parsed = Profile::parse_builtin(name, text, None);
            out.push(Listing {
                name: name.to_string(),
                source: "built-in".into(),
                description: parsed
                    .as_ref()
                    .map(|p| p.description.clone())
                    .unwrap_or_default(),
                overrides_builtin: false,
                error: parsed.err().map(|e| e.to_string()),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
