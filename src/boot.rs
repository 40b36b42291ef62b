//! `BootConfig`: what the sysctl loaders will apply at the next boot, read
//! exactly as they read it, with the file and line behind every value.
//!
//! Two loaders are modelled (checked against systemd 252 and procps-ng
//! 4.0.2 by tests/boot_loaders.rs):
//!
//! - systemd-sysctl: `/etc/sysctl.d`, `/run/sysctl.d`,
//!   `/usr/local/lib/sysctl.d`, `/usr/lib/sysctl.d` (and `/lib/sysctl.d`
//!   where it is a separate directory). Names starting with `.` are
//!   ignored. A file replaces a same-named one in a later directory; an
//!   empty file or a link to /dev/null masks it; any entry with a `.conf`
//!   name claims it, a directory or a dangling link too. Surviving files
//!   apply in lexicographic order of their names. It keeps one entry per
//!   key: a new value replaces the old one and moves to the end; the same
//!   value keeps its place. It never reads /etc/sysctl.conf. A line ends
//!   at `\n`, `\r` or NUL (a run of different end characters counts once),
//!   and a line of 1 MiB or more stops the reading of that file.
//! - procps `sysctl --system`: the same directories and the same
//!   same-name rule, hidden names included, then `/etc/sysctl.conf` last
//!   if it is a regular file. Every line is applied in order. A line ends
//!   at `\n` only; a NUL ends what is read of it; a `\r` inside stays in
//!   the value (so the kernel refuses it). `- key` keeps the space (so the
//!   key is not found) where systemd trims it.
//!
//! Both: `key = value`, `#`/`;` comments, `.` or `/` separators (swapped
//! when the first is a dot), a leading `-` to ignore failures, globs
//! (`net.ipv4.conf.*.rp_filter`) that never override a key set explicitly
//! anywhere, and `-key` lines that exclude a key from globs. Neither strips
//! a byte order mark.
//!
//! Reading never fails: malformed lines become warnings, as the loaders log
//! and skip them. A file tcptune cannot know the effect of (unreadable
//! without root, a FIFO or device the loaders would block on, over
//! `FILE_CAP`) makes every boot value `unknown` rather than a guess.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustc_hash::{FxHashMap, FxHashSet};

use rustix::fs::FileType;

use crate::key;
use crate::root::{ReadError, Root};

/// The largest sysctl.d file tcptune reads. The loaders have no limit (a
/// 1 GiB file takes systemd-sysctl minutes); real files are a few KiB.
pub const FILE_CAP: u64 = 16 << 20;
/// systemd's LONG_LINE_MAX: a longer line stops systemd-sysctl reading the file.
pub const SYSTEMD_LINE_MAX: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Loader {
    Systemd,
    Procps,
}

impl Loader {
    /// The loader this system boots with: systemd-sysctl when systemd is
    /// running (`/run/systemd/system` exists), procps otherwise.
    pub fn detect(root: &Root) -> Loader {
        match root.meta(Path::new("/run/systemd/system"), true) {
            Ok(m) if m.kind == FileType::Directory => Loader::Systemd,
            _ => Loader::Procps,
        }
    }

    /// The loader's name in JSON.
    pub fn json_name(self) -> &'static str {
        match self {
            Loader::Systemd => "systemd",
            Loader::Procps => "procps",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Loader::Systemd => "systemd-sysctl",
            Loader::Procps => "sysctl --system",
        }
    }
}

/// sysctl.d directories, highest priority first.
pub const DIRS: [&str; 4] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
];
const LIB_DIR: &str = "/lib/sysctl.d";
pub const SYSCTL_CONF: &str = "/etc/sysctl.conf";

/// A shared, immutable text: one pointer wide (an `Rc<str>` is two), so a
/// `Line` of a hundred-thousand-line tree stays small.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Rc<Box<str>>);

impl Text {
    fn new(s: &str) -> Text {
        Text(Rc::new(Box::from(s)))
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

/// One assignment (or `-key` exclusion) as written in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Index into `BootConfig::files` (u32 and u32: a line of a large tree
    /// is 40 bytes, not 48).
    pub file: u32,
    pub line: u32,
    /// The key as written, without a leading `-`. Keys and values repeat
    /// across files: each distinct text is stored once (`Interner`).
    pub written: Text,
    /// Normalised to a path below /proc/sys (`net/ipv4/tcp_fin_timeout`).
    pub path: Text,
    /// `None` for a `-key` exclusion.
    pub value: Option<Text>,
    pub ignore_failure: bool,
    pub glob: bool,
}

/// One shared copy of each distinct key and value text: ten thousand
/// files setting the same ten keys hold ten keys, not a hundred thousand,
/// and each distinct key is normalised once.
#[derive(Debug, Clone, Default)]
struct Interner {
    texts: FxHashSet<Text>,
    /// A key as written → its normalised path.
    keys: FxHashMap<Text, Text>,
    scratch: String,
}

impl Interner {
    fn get(&mut self, text: &str) -> Text {
        if let Some(t) = self.texts.get(text) {
            return t.clone();
        }
        let t = Text::new(text);
        self.texts.insert(t.clone());
        t
    }

    /// A written key and its normalised path, both shared.
    fn key(&mut self, written: &str) -> (Text, Text) {
        if let Some((w, p)) = self.keys.get_key_value(written) {
            return (w.clone(), p.clone());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        normalize_into(written, &mut scratch);
        let path = self.get(&scratch);
        self.scratch = scratch;
        let written = Text::new(written);
        self.keys.insert(written.clone(), path.clone());
        (written, path)
    }
}

/// Where to find lines fast: ten thousand files make a hundred thousand
/// lines, and every key's provenance would otherwise scan them all.
#[derive(Debug, Clone, Default)]
struct Index {
    /// Explicit (non-glob) lines by path, in file order.
    by_path: FxHashMap<Text, Vec<u32>>,
    /// Glob lines, in file order.
    globs: Vec<usize>,
    /// Line → its place in the load order (`u32::MAX`: not applied).
    position: Vec<u32>,
}

impl Index {
    fn build(lines: &[Line], order: &[usize]) -> Index {
        let mut index = Index {
            position: vec![u32::MAX; lines.len()],
            ..Index::default()
        };
        for (i, l) in lines.iter().enumerate() {
            if l.glob {
                index.globs.push(i);
            } else {
                index
                    .by_path
                    .entry(l.path.clone())
                    .or_default()
                    .push(i as u32);
            }
        }
        for (p, &i) in order.iter().enumerate() {
            index.position[i] = p as u32;
        }
        index
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Read,
    /// Empty, or a link to /dev/null: replaces same-named files, sets nothing.
    Masked,
    /// A link to nothing: it still replaces same-named files.
    Missing,
    /// A directory with a .conf name: claims the name, the loader reads nothing.
    Directory,
    /// tcptune cannot tell what the loader would take from it (why).
    Unknown(String),
}

impl FileState {
    /// The state's name in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            FileState::Read => "read",
            FileState::Masked => "masked",
            FileState::Missing => "missing",
            FileState::Directory => "directory",
            FileState::Unknown(_) => "unknown",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConfFile {
    /// The path as the booted system sees it (without `--root`).
    pub path: PathBuf,
    pub state: FileState,
    /// Same-named files in lower-priority directories that this one replaces.
    pub replaces: Vec<PathBuf>,
    /// The file read, as (device, inode): two entries with the same
    /// identity are one file reached twice (Debian's
    /// `/etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf`).
    pub identity: Option<(u64, u64)>,
    /// The entry is a symbolic link.
    pub is_link: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// The loader rejects the line's syntax and says so with its line.
    Malformed,
    /// `= value` with no key: the loader fails writing it.
    EmptyKey,
    /// About the whole file.
    File,
    /// Something the loaders do silently that a reader would not expect.
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub kind: WarningKind,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct BootConfig {
    pub loader: Loader,
    /// Files in the order the loader applies them.
    pub files: Vec<ConfFile>,
    /// Every assignment and exclusion, file by file, line by line (in a
    /// model made by `read_both_for`, only those its keys depend on).
    pub lines: Vec<Line>,
    /// Indices into `lines` in the order the loader applies them (systemd
    /// drops a repeated value and moves a changed one to the end).
    pub order: Vec<usize>,
    pub warnings: Vec<Warning>,
    /// A file read from memory instead of disk (see `read_with`).
    overlay: Option<(PathBuf, String)>,
    interner: Interner,
    index: Index,
    /// Where only some keys are modelled: the paths whose lines are kept
    /// (globs are always kept).
    only: Option<Rc<FxHashSet<String>>>,
}

/// What one key will be after boot, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance<'a> {
    /// Every line that would touch the key, in application order.
    pub candidates: Vec<&'a Line>,
    /// The line whose value the key ends with; `None` when no file sets it
    /// (the kernel default stays) or it is excluded.
    pub winner: Option<&'a Line>,
    /// Set when the winner writes another key and the kernel carries its
    /// value over to this one (`devconf`): how.
    pub carried: Option<&'static str>,
    /// A `conf.default` line that only interfaces created later copy.
    pub later_interfaces: Option<&'a Line>,
    /// The `-key` line that keeps a matching glob from setting the key.
    pub excluded_by: Option<&'a Line>,
}

/// A file as read for the boot model: its bytes and (device, inode).
type FileRead = Result<Rc<(Vec<u8>, (u64, u64))>, Rc<ReadError>>;

/// Files read for the boot model. A regular file is opened relative to
/// its directory (opened once, inside the root); a link through the root's
/// resolver. With `keep`, each path is read once for several loaders'
/// models (`why` builds both), and each directory listed once.
#[derive(Default)]
pub struct Reads {
    keep: bool,
    /// Keyed by the path's bytes: hashing a `Path` walks its components.
    files: FxHashMap<OsString, FileRead>,
    dirs: FxHashMap<OsString, Option<crate::root::Dir>>,
    /// Each directory's `*.conf` names in name order, with their types.
    listings: FxHashMap<&'static str, Rc<[(String, FileType)]>>,
}

impl Reads {
    /// `dir`'s `*.conf` entries, sorted by name (a missing directory lists
    /// nothing).
    fn listing(&mut self, root: &Root, dir: &'static str) -> Rc<[(String, FileType)]> {
        if let Some(done) = self.listings.get(dir) {
            return done.clone();
        }
        let mut names: Vec<(String, FileType)> = root
            .list(Path::new(dir))
            .unwrap_or_default()
            .into_iter()
            .map(|(n, t)| (n.to_string_lossy().into_owned(), t))
            .filter(|(n, _)| n.ends_with(".conf"))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Rc<[(String, FileType)]> = names.into();
        if self.keep {
            self.listings.insert(dir, names.clone());
        }
        names
    }

    fn get(&mut self, root: &Root, path: &Path, regular: bool) -> FileRead {
        if let Some(done) = self.files.get(path.as_os_str()) {
            return done.clone();
        }
        let read = match (regular, path.parent(), path.file_name()) {
            (true, Some(parent), Some(name)) => {
                let dir = self
                    .dirs
                    .entry(parent.as_os_str().to_owned())
                    .or_insert_with(|| root.dir(parent).ok());
                match dir {
                    Some(d) => d.read_identified(name, FILE_CAP),
                    None => root.read_identified(path, FILE_CAP),
                }
            }
            _ => root.read_identified(path, FILE_CAP),
        };
        let read = read.map(Rc::new).map_err(Rc::new);
        if self.keep {
            self.files.insert(path.as_os_str().to_owned(), read.clone());
        }
        read
    }
}

impl BootConfig {
    pub fn read(root: &Root, loader: Loader) -> BootConfig {
        Self::read_with(root, loader, None)
    }

    /// Both loaders' models, every file read once, good only for the
    /// `provenance` of `keys` (what `why` shows): lines of other keys are
    /// left out (a key set by 10,000 files is found among 10,000 lines, not
    /// 100,000), except those the kernel carries into these keys
    /// (devconf.rs) and every glob.
    pub fn read_both_for(root: &Root, keys: &[String]) -> [BootConfig; 2] {
        let only: FxHashSet<String> = keys
            .iter()
            .flat_map(|k| crate::devconf::inputs(&normalize(k)))
            .collect();
        let only = Rc::new(only);
        let mut reads = Reads {
            keep: true,
            ..Reads::default()
        };
        [Loader::Systemd, Loader::Procps]
            .map(|l| Self::read_keyed(root, l, None, &mut reads, Some(only.clone())))
    }

    /// The boot model as if `overlay` (a system path and its content) were
    /// written: how `apply` checks that its file will win before writing it.
    pub fn read_with(root: &Root, loader: Loader, overlay: Option<(&Path, &str)>) -> BootConfig {
        Self::read_keyed(root, loader, overlay, &mut Reads::default(), None)
    }

    /// One loader's model; with `only`, of those paths' lines and globs.
    fn read_keyed(
        root: &Root,
        loader: Loader,
        overlay: Option<(&Path, &str)>,
        reads: &mut Reads,
        only: Option<Rc<FxHashSet<String>>>,
    ) -> BootConfig {
        let mut cfg = BootConfig {
            only,
            overlay: overlay.map(|(p, c)| (p.to_path_buf(), c.to_string())),
            loader,
            files: Vec::new(),
            lines: Vec::new(),
            order: Vec::new(),
            warnings: Vec::new(),
            interner: Interner::default(),
            index: Index::default(),
        };
        let mut dirs: Vec<&str> = DIRS.to_vec();
        // Where /lib is a link to /usr/lib (merged /usr), procps lists the
        // same files twice and keeps the first: nothing is replaced.
        if is_separate_dir(root, LIB_DIR, "/usr/lib/sysctl.d") {
            dirs.push(LIB_DIR);
        }
        // (path, where its name starts, kind, replaced paths, is a link),
        // one per file name; the name itself only in `by_name` (10,000
        // files: no second copy).
        let mut chosen: Vec<(PathBuf, usize, Kind, Vec<PathBuf>, bool)> = Vec::new();
        let mut by_name: FxHashMap<String, usize> = FxHashMap::default();
        for dir in dirs {
            // A missing directory lists nothing (the overlay may still go there).
            let listed = reads.listing(root, dir);
            let mut names: Vec<(String, Option<FileType>)> = listed
                .iter()
                .filter(|(n, _)| loader == Loader::Procps || !n.starts_with('.'))
                .map(|(n, t)| (n.clone(), Some(*t)))
                .collect();
            if let Some((o, _)) = &cfg.overlay
                && o.parent() == Some(Path::new(dir))
                && let Some(n) = o.file_name().map(|n| n.to_string_lossy().into_owned())
                && n.ends_with(".conf")
                && !names.iter().any(|(x, _)| *x == n)
            {
                names.push((n, None));
                names.sort_by(|a, b| a.0.cmp(&b.0));
            }
            for (name, file_type) in names {
                let mut joined = String::with_capacity(dir.len() + 1 + name.len());
                joined.push_str(dir);
                joined.push('/');
                joined.push_str(&name);
                let path = PathBuf::from(joined);
                if let Some(&i) = by_name.get(&name) {
                    chosen[i].3.push(path);
                    continue;
                }
                let is_overlay = cfg.overlay.as_ref().is_some_and(|(o, _)| *o == path);
                let kind = if is_overlay {
                    Kind::Regular
                } else {
                    entry_kind(root, &path, file_type)
                };
                by_name.insert(name, chosen.len());
                let is_link = file_type == Some(FileType::Symlink);
                chosen.push((path, dir.len() + 1, kind, Vec::new(), is_link));
            }
        }
        drop(by_name);
        // By file name, as the loaders order them (the path ends with it).
        fn name(c: &(PathBuf, usize, Kind, Vec<PathBuf>, bool)) -> &[u8] {
            &c.0.as_os_str().as_bytes()[c.1..]
        }
        chosen.sort_by(|a, b| name(a).cmp(name(b)));
        for (path, _, kind, replaces, is_link) in chosen {
            cfg.add_file(root, reads, path, kind, replaces, is_link);
        }
        let conf = Path::new(SYSCTL_CONF);
        let conf_overlaid = cfg.overlay.as_ref().is_some_and(|(o, _)| o == conf);
        if loader == Loader::Procps
            && (conf_overlaid
                || root
                    .meta(conf, true)
                    .is_ok_and(|m| m.kind == FileType::RegularFile))
        {
            let is_link = root
                .meta(conf, false)
                .is_ok_and(|m| m.kind == FileType::Symlink);
            cfg.add_file(
                root,
                reads,
                conf.to_path_buf(),
                Kind::Regular,
                Vec::new(),
                is_link,
            );
        }
        cfg.order = match loader {
            Loader::Systemd => systemd_order(&cfg.lines),
            Loader::Procps => (0..cfg.lines.len()).collect(),
        };
        cfg.index = Index::build(&cfg.lines, &cfg.order);
        // The texts are shared by the lines now; the tables are not needed.
        cfg.interner = Interner::default();
        cfg
    }

    /// Files whose effect tcptune cannot know: while there are any, no boot
    /// value is certain.
    pub fn unknown(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.files.iter().filter_map(|f| match &f.state {
            FileState::Unknown(why) => Some((f.path.as_path(), why.as_str())),
            _ => None,
        })
    }

    fn warn(&mut self, path: &Path, line: Option<usize>, kind: WarningKind, message: String) {
        self.warnings.push(Warning {
            path: path.to_path_buf(),
            line,
            kind,
            message,
        });
    }

    fn add_file(
        &mut self,
        root: &Root,
        reads: &mut Reads,
        path: PathBuf,
        kind: Kind,
        replaces: Vec<PathBuf>,
        is_link: bool,
    ) {
        let index = self.files.len();
        let mut identity = None;
        let state = match kind {
            Kind::Masked => FileState::Masked,
            Kind::Missing => {
                let message = "a link to a file that does not exist; the loader reads nothing from it, and same-named files in other directories are not read either";
                self.warn(&path, None, WarningKind::File, message.into());
                FileState::Missing
            }
            Kind::Directory => {
                self.warn(&path, None, WarningKind::File, "a directory; the loader reads nothing from it, and same-named files in other directories are not read either".into());
                FileState::Directory
            }
            Kind::Blocks(what) => {
                let why = format!(
                    "a {what}: systemd-sysctl 252 and procps 4.0.2 block reading it at boot, so the settings after it (under systemd-sysctl, all of them) never load; tcptune does not read it"
                );
                self.warn(&path, None, WarningKind::File, why.clone());
                FileState::Unknown(why)
            }
            Kind::Regular => {
                let read = match &self.overlay {
                    Some((o, content)) if *o == path => {
                        Ok(Rc::new((content.clone().into_bytes(), (0, 0))))
                    }
                    _ => reads.get(root, &path, !is_link),
                };
                match read {
                    // An empty file is a mask (it still replaces same-named files).
                    Ok(file) if file.0.is_empty() => FileState::Masked,
                    Ok(file) => {
                        self.parse(index, &path, &file.0);
                        identity = Some(file.1).filter(|id| *id != (0, 0));
                        FileState::Read
                    }
                    Err(e) => {
                        let why = match &*e {
                            ReadError::Io(io) if io.raw_os_error() == Some(libc::EACCES) => {
                                "cannot read it (permission denied); the loader, running as root at boot, can: run tcptune as root".to_string()
                            }
                            ReadError::NotRegular(kind) => {
                                format!("a {kind}: the loaders would block reading it at boot")
                            }
                            _ => format!("cannot read it: {e}"),
                        };
                        self.warn(&path, None, WarningKind::File, why.clone());
                        FileState::Unknown(why)
                    }
                }
            }
        };
        let is_link = is_link && state == FileState::Read;
        self.files.push(ConfFile {
            path,
            state,
            replaces,
            identity,
            is_link,
        });
    }

    /// Parses one file's bytes line by line, as this loader splits them.
    fn parse(&mut self, index: usize, path: &Path, bytes: &[u8]) {
        if bytes.starts_with(b"\xef\xbb\xbf") {
            self.warn(path, Some(1), WarningKind::Note, "starts with a byte order mark, which neither loader strips: the first line's key is not found".into());
        }
        let mut lines = Vec::new();
        let (complete, long_at) = match self.loader {
            Loader::Systemd => split_systemd(bytes, &mut lines),
            Loader::Procps => (split_procps(bytes, &mut lines), None),
        };
        if let Some(n) = long_at {
            self.warn(path, Some(n), WarningKind::File, "a line of 1 MiB or more: systemd-sysctl stops reading the file there (\"No buffer space available\") and ignores the rest".into());
        }
        let _ = complete;
        // Almost every file is valid UTF-8 as a whole: checked once, its
        // lines (cut at ASCII bytes) are slices of it; otherwise each line
        // is checked, and repaired where it must be.
        let whole = std::str::from_utf8(bytes).ok();
        for (n, raw) in lines {
            let text = match whole {
                Some(all) => {
                    let at = raw.as_ptr() as usize - bytes.as_ptr() as usize;
                    std::borrow::Cow::Borrowed(&all[at..at + raw.len()])
                }
                None => String::from_utf8_lossy(raw),
            };
            match parse_line(&text, self.loader) {
                Parsed::Nothing => {}
                Parsed::Malformed(kind, message) => self.warn(path, Some(n), kind, message),
                Parsed::Line {
                    written,
                    value,
                    ignore_failure,
                } => {
                    if self.loader == Loader::Procps && value.is_some_and(|v| v.contains('\r')) {
                        self.warn(path, Some(n), WarningKind::Note, "a carriage return inside the value: procps passes it to the kernel, which refuses the value".into());
                    }
                    let glob = written.contains(['*', '?', '[']);
                    let (written, path) = self.interner.key(written);
                    if !glob && self.only.as_ref().is_some_and(|o| !o.contains(&*path)) {
                        continue;
                    }
                    self.lines.push(Line {
                        file: index as u32,
                        line: n as u32,
                        path,
                        written,
                        value: value.map(|v| self.interner.get(v)),
                        ignore_failure,
                        glob,
                    });
                }
            }
        }
    }
    /// Where `key` (any spelling) gets its boot value.
    pub fn provenance(&self, key: &str) -> Provenance<'_> {
        let path = normalize(key);
        let no_lines = Vec::new();
        let own = self.index.by_path.get(path.as_str()).unwrap_or(&no_lines);
        let pos = &self.index.position;
        // The explicit lines the loader applies, in load order.
        let mut explicit: Vec<&Line> = own
            .iter()
            .filter(|&&i| pos[i as usize] != u32::MAX)
            .map(|&i| &self.lines[i as usize])
            .collect();
        explicit.sort_by_key(|l| pos[self.line_index(l)]);
        let matching_globs = || {
            self.index
                .globs
                .iter()
                .map(|&i| &self.lines[i])
                .filter(|l| l.value.is_some() && glob_match(&l.path, &path))
        };
        let winner = if explicit.is_empty() {
            matching_globs()
                .filter(|l| pos[self.line_index(l)] != u32::MAX)
                .max_by_key(|l| pos[self.line_index(l)])
        } else {
            match self.loader {
                // One entry per key: the last one, an exclusion included
                // (if the kernel refuses its value, the default stays).
                Loader::Systemd => explicit.last().copied().filter(|l| l.value.is_some()),
                // Every assignment is written in turn; a refused write
                // leaves the value before it, and an exclusion only stops
                // globs. So the last value the kernel accepts wins.
                Loader::Procps => {
                    let param = crate::catalog::find(&key::canonical(key).unwrap_or_default());
                    explicit
                        .iter()
                        .rev()
                        .find(|l| {
                            l.value.as_deref().is_some_and(|v| {
                                crate::value::Value::from_write(v, param).is_some()
                            })
                        })
                        .copied()
                }
            }
        };
        let mut candidates: Vec<&Line> = own.iter().map(|&i| &self.lines[i as usize]).collect();
        candidates.extend(matching_globs());
        let excluded_by = match winner {
            None if candidates.iter().any(|l| l.glob) => candidates
                .iter()
                .rev()
                .find(|l| !l.glob && l.value.is_none())
                .copied(),
            _ => None,
        };
        let (mut winner, mut carried, mut later_interfaces) = (winner, None, None);
        match crate::devconf::effect(self, &path) {
            Some(crate::devconf::Effect::Decides { line, rule }) => {
                winner = Some(&self.lines[line]);
                carried = Some(rule);
            }
            Some(crate::devconf::Effect::LaterInterfaces { line }) => {
                later_interfaces = Some(&self.lines[line]);
            }
            None => {}
        }
        for extra in winner.into_iter().chain(later_interfaces) {
            if !candidates.iter().any(|c| std::ptr::eq(*c, extra)) {
                candidates.push(extra);
            }
        }
        // File order: lines are stored file by file, line by line.
        candidates.sort_by_key(|l| (l.file, l.line));
        Provenance {
            candidates,
            winner,
            carried,
            later_interfaces,
            excluded_by,
        }
    }

    /// For every key set explicitly, the index of the line that decides it
    /// (`None` when an exclusion is last under systemd). Globs are not
    /// expanded: they depend on which keys the running kernel has.
    pub fn explicit_winners(&self) -> HashMap<&str, Option<usize>> {
        let mut out: HashMap<&str, Option<usize>> = HashMap::new();
        for &i in &self.order {
            let l = &self.lines[i];
            if l.glob {
                continue;
            }
            match (self.loader, &l.value) {
                (Loader::Procps, None) => {
                    out.entry(&l.path).or_insert(None);
                }
                (Loader::Systemd, None) => {
                    out.insert(&l.path, None);
                }
                (_, Some(_)) => {
                    out.insert(&l.path, Some(i));
                }
            }
        }
        out
    }

    pub fn file_of(&self, line: &Line) -> &Path {
        &self.files[line.file as usize].path
    }

    /// The index in `lines` of a line borrowed from it.
    fn line_index(&self, line: &Line) -> usize {
        // SAFETY-free pointer arithmetic: `line` is an element of `lines`.
        (line as *const Line as usize - self.lines.as_ptr() as usize) / std::mem::size_of::<Line>()
    }

    /// Where line `i` comes in the load order (`usize::MAX`: never applied).
    pub fn position(&self, i: usize) -> usize {
        match self.index.position[i] {
            u32::MAX => usize::MAX,
            p => p as usize,
        }
    }

    /// Explicit (non-glob) lines for `path`, in file order.
    pub fn explicit_lines(&self, path: &str) -> &[u32] {
        self.index.by_path.get(path).map_or(&[], Vec::as_slice)
    }

    /// Glob lines, in file order.
    pub fn glob_lines(&self) -> &[usize] {
        &self.index.globs
    }
}

enum Kind {
    Regular,
    Masked,
    Missing,
    Directory,
    /// A FIFO, socket or device: the loaders block on it.
    Blocks(&'static str),
}

/// What a directory entry is, with system calls only for links (an empty
/// regular file is found to be a mask when it is read).
fn entry_kind(root: &Root, path: &Path, file_type: Option<FileType>) -> Kind {
    match file_type {
        Some(FileType::RegularFile) => return Kind::Regular,
        Some(FileType::Directory) => return Kind::Directory,
        Some(FileType::Symlink) | None => {}
        Some(other) => return Kind::Blocks(crate::root::kind_name(other)),
    }
    if root
        .read_link(path)
        .is_ok_and(|t| t == Path::new("/dev/null"))
    {
        return Kind::Masked;
    }
    match root.meta(path, true) {
        Ok(m) if m.kind == FileType::RegularFile && m.len == 0 => Kind::Masked,
        Ok(m) if m.kind == FileType::RegularFile => Kind::Regular,
        Ok(m) if m.kind == FileType::Directory => Kind::Directory,
        Ok(m) => Kind::Blocks(m.kind_name()),
        Err(_) => Kind::Missing,
    }
}

/// The assignments (key as written, value) that `bytes` yields as one
/// file under `loader`, and how many lines the loader would reject or not
/// read: how the sysctl.d renderer checks its own output.
pub fn assignments(bytes: &[u8], loader: Loader) -> (Vec<(String, Option<String>)>, usize) {
    let mut cfg = BootConfig {
        loader,
        files: Vec::new(),
        lines: Vec::new(),
        order: Vec::new(),
        warnings: Vec::new(),
        overlay: None,
        interner: Interner::default(),
        index: Index::default(),
        only: None,
    };
    cfg.parse(0, Path::new("-"), bytes);
    let problems = cfg
        .warnings
        .iter()
        .filter(|w| w.kind != WarningKind::Note)
        .count();
    (
        cfg.lines
            .into_iter()
            .map(|l| (l.written.to_string(), l.value.map(|v| v.to_string())))
            .collect(),
        problems,
    )
}

/// Whether `a` exists and is not the same directory as `b` (on merged-/usr
/// systems /lib is a link to /usr/lib).
fn is_separate_dir(root: &Root, a: &str, b: &str) -> bool {
    match (root.meta(Path::new(a), true), root.meta(Path::new(b), true)) {
        (Ok(x), Ok(y)) => (x.dev, x.ino) != (y.dev, y.ino),
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

/// Splits as systemd's read_line(): a line ends at `\n`, `\r` or NUL; a
/// run of end characters counts once as long as no kind repeats, and a NUL
/// ends the run. Returns whether the whole file was read, and the number of
/// a line at or over LONG_LINE_MAX where reading stopped.
fn split_systemd<'a>(bytes: &'a [u8], out: &mut Vec<(usize, &'a [u8])>) -> (bool, Option<usize>) {
    let mut i = 0;
    let mut n = 0;
    while i < bytes.len() {
        n += 1;
        let start = i;
        while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r' | 0) {
            i += 1;
            if i - start >= SYSTEMD_LINE_MAX {
                return (false, Some(n));
            }
        }
        out.push((n, &bytes[start..i]));
        // The end-of-line run: each kind at most once, NUL last.
        let mut seen = 0u8;
        while i < bytes.len() {
            let kind = match bytes[i] {
                b'\n' => 1,
                b'\r' => 2,
                0 => 4,
                _ => break,
            };
            if seen & kind != 0 || seen & 4 != 0 {
                break;
            }
            seen |= kind;
            i += 1;
        }
    }
    (true, None)
}

/// Splits as procps' getline(): at `\n` only; C strings end at a NUL.
fn split_procps<'a>(bytes: &'a [u8], out: &mut Vec<(usize, &'a [u8])>) -> bool {
    for (k, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = line.split(|b| *b == 0).next().unwrap_or_default();
        out.push((k + 1, line));
    }
    if bytes.ends_with(b"\n") {
        out.pop();
    }
    true
}

/// The order systemd applies `lines` in: one entry per key in insertion
/// order; a different value removes the old entry and appends, the same
/// value keeps the old place.
fn systemd_order(lines: &[Line]) -> Vec<usize> {
    let mut order: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    let mut at: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, line) in lines.iter().enumerate() {
        if let Some(&slot) = at.get(&*line.path) {
            let kept = order[slot].expect("slots in `at` are live");
            if lines[kept].value == line.value {
                continue;
            }
            order[slot] = None;
        }
        at.insert(&line.path, order.len());
        order.push(Some(i));
    }
    order.into_iter().flatten().collect()
}

enum Parsed<'a> {
    Nothing,
    Malformed(WarningKind, String),
    Line {
        written: &'a str,
        value: Option<&'a str>,
        ignore_failure: bool,
    },
}

/// The white space each loader strips: systemd's WHITESPACE, C's isspace().
fn is_space(loader: Loader, c: char) -> bool {
    match loader {
        Loader::Systemd => matches!(c, ' ' | '\t' | '\n' | '\r'),
        Loader::Procps => matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'),
    }
}

/// `s` without the loader's white space at either end. Every such
/// character is ASCII, and no byte of a multi-byte character is, so the
/// bytes can be compared directly (this runs for every line, twice).
fn trim_for(loader: Loader, s: &str) -> &str {
    let space = |b: &u8| b.is_ascii() && is_space(loader, char::from(*b));
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|b| !space(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn parse_line(raw: &str, loader: Loader) -> Parsed<'_> {
    let trim = |s| trim_for(loader, s);
    let line = trim(raw);
    if line.is_empty() || line.starts_with(['#', ';']) {
        return Parsed::Nothing;
    }
    // Only a malformed line is quoted back, so only then is it cleaned.
    let shown = || crate::render::sanitize::clean(line).into_owned();
    match line.split_once('=') {
        None => match line.strip_prefix('-') {
            Some(key) if !trim(key).is_empty() => {
                // procps keeps the space in "- key", as for assignments.
                let key = if loader == Loader::Procps {
                    key
                } else {
                    trim(key)
                };
                Parsed::Line {
                    written: key,
                    value: None,
                    ignore_failure: true,
                }
            }
            _ => Parsed::Malformed(
                WarningKind::Malformed,
                format!("not an assignment, the loader ignores it: {}", shown()),
            ),
        },
        Some((key, value)) => {
            let key = trim(key);
            let (key, ignore_failure) = match key.strip_prefix('-') {
                // procps keeps the space in "- key"; the key then matches nothing.
                Some(k) if loader == Loader::Procps => (k, true),
                Some(k) => (trim(k), true),
                None => (key, false),
            };
            if key.is_empty() {
                // Both loaders try to write it to /proc/sys/ itself and fail.
                return Parsed::Malformed(
                    WarningKind::EmptyKey,
                    format!("no key before '=', the write fails: {}", shown()),
                );
            }
            Parsed::Line {
                written: key,
                value: Some(trim(value)),
                ignore_failure,
            }
        }
    }
}

/// A key in either spelling as a path below /proc/sys, `//` collapsed:
/// `key::to_path` and the collapsing in one pass, one allocation (it runs
/// for every line of every file).
pub fn normalize(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    normalize_into(key, &mut out);
    out
}

/// `normalize` into a buffer the caller reuses.
fn normalize_into(key: &str, out: &mut String) {
    out.clear();
    let key = key.trim_start_matches(['.', '/']);
    let swap = key
        .find(['.', '/'])
        .is_some_and(|i| key.as_bytes()[i] == b'.');
    if key.is_ascii() {
        // Bytes, not chars: keys are ASCII in practice.
        let mut bytes = Vec::with_capacity(key.len());
        for &b in key.as_bytes() {
            let b = match (swap, b) {
                (true, b'.') => b'/',
                (true, b'/') => b'.',
                (_, b) => b,
            };
            if b == b'/' && bytes.last().is_none_or(|&l| l == b'/') {
                continue;
            }
            bytes.push(b);
        }
        if bytes.last() == Some(&b'/') {
            bytes.pop();
        }
        out.push_str(std::str::from_utf8(&bytes).expect("ASCII in, ASCII out"));
        return;
    }
    for c in key.chars() {
        let c = match (swap, c) {
            (true, '.') => '/',
            (true, '/') => '.',
            (_, c) => c,
        };
        if c == '/' && (out.is_empty() || out.ends_with('/')) {
            continue;
        }
        out.push(c);
    }
    if out.ends_with('/') {
        out.pop();
    }
}

/// glob(3) matching of one /proc/sys path, component by component: `*`,
/// `?` and `[...]` never match '/'. Linear in pattern times path (no
/// backtracking blow-up, whatever the number of stars).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (mut p, mut s) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(pc), Some(sc)) => {
                let (pc, sc): (Vec<char>, Vec<char>) = (pc.chars().collect(), sc.chars().collect());
                if !match_component(&pc, &sc) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// `[...]` at the start of `p` against `c`: (matched, length of the class),
/// or `None` when the bracket is not closed (then it is a literal '[').
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() && (p[i] != ']' || first) {
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
        first = false;
    }
    (i < p.len()).then_some((hit != negate, i + 1))
}

/// One component: the classic two-pointer match that remembers only the
/// last star, O(len(p) x len(s)).
fn match_component(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                '[' => match class(&p[pi..], s[si]) {
                    Some((true, len)) => {
                        pi += len;
                        si += 1;
                        continue;
                    }
                    None if s[si] == '[' => {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                    _ => {}
                },
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod normalize_tests {
    use super::normalize;

    #[test]
    fn both_spellings_and_stray_separators() {
        assert_eq!(
            normalize("net.ipv4.tcp_fin_timeout"),
            "net/ipv4/tcp_fin_timeout"
        );
        assert_eq!(
            normalize("net/ipv4/conf/eth0.100/rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            normalize("net.ipv4.conf.eth0/100.rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(normalize("//net//ipv4/"), "net/ipv4");
        assert_eq!(normalize("..net..ipv4."), "net/ipv4");
        assert_eq!(normalize(""), "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_by_bytes_equals_trimming_by_characters() {
        let pieces = [
            " ", "\t", "\r", "\n", "\x0b", "\x0c", "\u{a0}", "\u{2003}", "é", "k", "=", "",
        ];
        for loader in [Loader::Systemd, Loader::Procps] {
            for a in pieces {
                for b in pieces {
                    for c in pieces {
                        let s = format!("{a}{b}x{c}{a}{b}");
                        let by_chars = s.trim_matches(|ch| is_space(loader, ch));
                        assert_eq!(trim_for(loader, &s), by_chars, "{s:?} {loader:?}");
                        let s = format!("{a}{b}{c}");
                        let by_chars = s.trim_matches(|ch| is_space(loader, ch));
                        assert_eq!(trim_for(loader, &s), by_chars, "{s:?} {loader:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn globs_match_one_component() {
        assert!(glob_match(
            "net/ipv4/conf/*/rp_filter",
            "net/ipv4/conf/eth0.100/rp_filter"
        ));
        assert!(!glob_match("net/ipv4/*", "net/ipv4/conf/all/rp_filter"));
        assert!(glob_match(
            "net/ipv4/tcp_keepalive_*",
            "net/ipv4/tcp_keepalive_time"
        ));
        assert!(glob_match("net/ipv4/tcp_[fk]*", "net/ipv4/tcp_fin_timeout"));
        assert!(!glob_match(
            "net/ipv4/tcp_[!fk]*",
            "net/ipv4/tcp_fin_timeout"
        ));
        assert!(glob_match("net/ipv?/tcp_x", "net/ipv4/tcp_x"));
        assert!(glob_match("net/ipv4/a[b", "net/ipv4/a[b"));
        assert!(glob_match("net/ipv4/*a*b*", "net/ipv4/xaxxbx"));
        assert!(!glob_match("net/ipv4/*a*b", "net/ipv4/xaxxbx"));
    }

    #[test]
    fn many_stars_take_linear_time() {
        let pattern = format!("net/ipv4/{}a", "*".repeat(5000));
        let start = std::time::Instant::now();
        assert!(!glob_match(
            &pattern,
            "net/ipv4/tcp_fin_timeout_without_the_letter_x"
        ));
        assert!(glob_match(&pattern, "net/ipv4/tcp_fin_timeouta"));
        assert!(
            start.elapsed() < std::time::Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
    }

    fn lines(bytes: &[u8], loader: Loader) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        match loader {
            Loader::Systemd => {
                split_systemd(bytes, &mut out);
            }
            Loader::Procps => {
                split_procps(bytes, &mut out);
            }
        }
        out.into_iter()
            .map(|(n, l)| (n, String::from_utf8_lossy(l).into_owned()))
            .collect()
    }

    #[test]
    fn lines_end_where_each_loader_ends_them() {
        // Measured with systemd 252 and procps 4.0.2 (see the module doc).
        let text = b"a = 1\n# c\rb\r\nc\n\0d\n";
        assert_eq!(
            lines(text, Loader::Systemd),
            [(1, "a = 1"), (2, "# c"), (3, "b"), (4, "c"), (5, "d")]
                .map(|(n, s)| (n, s.to_string()))
        );
        assert_eq!(
            lines(text, Loader::Procps),
            [(1, "a = 1"), (2, "# c\rb\r"), (3, "c"), (4, "")].map(|(n, s)| (n, s.to_string()))
        );
        let mut long = b"a = 1\n".to_vec();
        long.extend(vec![b'x'; SYSTEMD_LINE_MAX]);
        long.extend(b"\nb = 2\n");
        let mut out = Vec::new();
        assert_eq!(split_systemd(&long, &mut out), (false, Some(2)));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn lines_as_the_loaders_read_them() {
        assert!(matches!(
            parse_line("  # c", Loader::Systemd),
            Parsed::Nothing
        ));
        assert!(matches!(parse_line("; c", Loader::Procps), Parsed::Nothing));
        assert!(matches!(
            parse_line("bogus", Loader::Systemd),
            Parsed::Malformed(..)
        ));
        match parse_line(" -net.ipv4.x = 1 # not a comment", Loader::Systemd) {
            Parsed::Line {
                written,
                value,
                ignore_failure,
            } => {
                assert_eq!(
                    (written, value, ignore_failure),
                    ("net.ipv4.x", Some("1 # not a comment"), true)
                );
            }
            _ => panic!(),
        }
        assert!(matches!(
            parse_line("-net.ipv4.conf.lo.rp_filter", Loader::Procps),
            Parsed::Line { value: None, .. }
        ));
        assert_eq!(
            normalize("net/ipv4//conf/eth0.100/rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            normalize("net.ipv4.conf.eth0/100.rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
    }
}
