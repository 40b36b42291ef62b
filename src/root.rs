//! `Root`: the one gate through which tcptune opens any file.
//!
//! Every path tcptune reads or writes (sysctl.d files, profiles, the state,
//! the lock, the file `apply` writes, /proc/sys itself) is a path as the
//! system under `--root` sees it, and is resolved *inside* that root:
//! absolute symlinks and `..` stop at the root, as systemd's `chase()` and
//! the loaders' own `--root` options do. So an image whose
//! `etc/sysctl.d/50.conf` links to `/etc/shadow` reads the image's shadow,
//! never the host's. The kernel resolves (openat2 with RESOLVE_IN_ROOT,
//! Linux 5.6 and later); on older kernels a component walk does the same.
//!
//! Reads never block and never run away: files are opened O_NONBLOCK and
//! O_NOCTTY, must be regular files (fstat), and are read up to a cap. All
//! writes go through a `Dir`, a directory handle resolved inside the root,
//! whose entries are opened without following links.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};

/// Names of temporary files: hidden, and without `.conf`, so no loader
/// reads one that a killed run left behind.
pub const TEMP_PREFIX: &str = ".tcptune-";

/// How many symlinks one resolution may follow (Linux's own limit).
const MAX_LINKS: usize = 40;

pub struct Root {
    fd: OwnedFd,
    /// As given on the command line, for messages.
    path: PathBuf,
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// A FIFO, device, socket or directory: never read.
    NotRegular(&'static str),
    TooLarge {
        cap: u64,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => f.write_str(&crate::error::io_meaning(e)),
            ReadError::NotRegular(kind) => write!(f, "it is a {kind}, not a regular file"),
            ReadError::TooLarge { cap } => {
                write!(f, "it is larger than {} MiB", cap / (1024 * 1024))
            }
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if is_absent(e))
    }
}

/// ENOENT, or a path through something that is not a directory.
pub fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// What a directory entry is, without following a final link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: FileType,
    pub uid: u32,
    pub mode: u32,
    pub len: u64,
    pub dev: u64,
    pub ino: u64,
}

impl Meta {
    fn from_stat(st: &rfs::Stat) -> Meta {
        Meta {
            kind: FileType::from_raw_mode(st.st_mode),
            uid: st.st_uid,
            mode: st.st_mode & 0o7777,
            len: u64::try_from(st.st_size).unwrap_or(0),
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }

    /// "FIFO", "directory"...: how messages name a non-regular file.
    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind)
    }
}

pub fn kind_name(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The relative components of a system path ("/etc/sysctl.d" -> etc, sysctl.d).
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
        .collect()
}

fn openat2_works() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let how = rfs::openat2(
            rfs::CWD,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        );
        !matches!(how, Err(e) if e == rustix::io::Errno::NOSYS)
    })
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The root as given (`/` for the running system).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_host(&self) -> bool {
        self.path == Path::new("/")
    }

    /// Where `sys` (a system path) is on this machine, for messages only:
    /// "/etc/x" on the running system, "IMAGE/etc/x" under `--root IMAGE`.
    pub fn show(&self, sys: &Path) -> PathBuf {
        if self.is_host() {
            sys.to_path_buf()
        } else {
            self.path.join(relative(sys))
        }
    }

    /// Opens `sys` with `flags`, every component resolved inside the root.
    /// `follow`: whether a link in the last component is followed.
    fn open_in(&self, sys: &Path, flags: OFlags, mode: Mode, follow: bool) -> io::Result<OwnedFd> {
        let flags = flags
            | OFlags::CLOEXEC
            | if follow {
                OFlags::empty()
            } else {
                OFlags::NOFOLLOW
            };
        if openat2_works() {
            // RESOLVE_IN_ROOT reads an absolute path from the root too.
            let path = if sys.as_os_str().is_empty() {
                Path::new(".")
            } else {
                sys
            };
            for _ in 0..8 {
                let r = rfs::openat2(
                    &self.fd,
                    path,
                    flags,
                    mode,
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                );
                match r {
                    // EAGAIN: a concurrent rename raced the resolution; retry.
                    Err(e) if e == rustix::io::Errno::AGAIN => continue,
                    other => return other.map_err(errno),
                }
            }
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        let (parent, name) = walk(&self.fd, &relative(sys), follow)?;
        match name {
            None => rfs::openat(&parent, ".", flags, mode).map_err(errno),
            Some(name) => rfs::openat(&parent, name.as_os_str(), flags, mode).map_err(errno),
        }
    }

    /// Reads a regular file, at most `cap` bytes; FIFOs and devices are
    /// refused without blocking on them.
    pub fn read(&self, sys: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
        read_regular(self.open_to_read(sys)?, cap)
    }

    /// Opens `sys` (links followed inside the root) for reading without
    /// blocking: a FIFO or device opens but is never waited on.
    fn open_to_read(&self, sys: &Path) -> io::Result<OwnedFd> {
        self.open_in(
            sys,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
            true,
        )
    }

    /// `read`, with the (device, inode) of the file read: a link and its
    /// target are one file.
    pub fn read_identified(
        &self,
        sys: &Path,
        cap: u64,
    ) -> Result<(Vec<u8>, (u64, u64)), ReadError> {
        read_regular_identified(self.open_to_read(sys)?, cap)
    }

    /// `read`, as text (invalid UTF-8 replaced).
    pub fn read_string(&self, sys: &Path, cap: u64) -> Result<String, ReadError> {
        self.read(sys, cap)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// A /proc/sys value. No fstat: procfs files are what they say, and
    /// O_NONBLOCK plus the cap keep a fake root's FIFO or device harmless.
    pub fn read_proc(&self, sys: &Path) -> io::Result<String> {
        let fd = self.open_to_read(sys)?;
        let mut buf = Vec::with_capacity(64);
        std::fs::File::from(fd)
            .take(64 * 1024)
            .read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Writes `value` to a /proc/sys file in one write(2).
    pub fn write_proc(&self, sys: &Path, value: &str) -> io::Result<()> {
        let fd = self.open_in(sys, OFlags::WRONLY | OFlags::NOCTTY, Mode::empty(), true)?;
        std::fs::File::from(fd).write_all(format!("{value}\n").as_bytes())
    }

    /// Whether the effective user may write `sys` (the kernel's own check).
    pub fn can_write(&self, sys: &Path) -> io::Result<()> {
        let (Some(dir), Some(name)) = (sys.parent(), sys.file_name()) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let fd = self.open_in(dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty(), true)?;
        rfs::accessat(&fd, name, rfs::Access::WRITE_OK, AtFlags::EACCESS).map_err(errno)
    }

    /// Whether the effective user could create entries in directory `sys`
    /// (or, where it does not exist yet, in the nearest directory above).
    pub fn can_create_in(&self, sys: &Path) -> io::Result<()> {
        let mut at = Some(sys);
        while let Some(dir) = at {
            match self.open_in(dir, OFlags::PATH, Mode::empty(), true) {
                Ok(fd) => {
                    return rfs::accessat(
                        &fd,
                        ".",
                        rfs::Access::WRITE_OK | rfs::Access::EXEC_OK,
                        AtFlags::EACCESS,
                    )
                    .map_err(errno);
                }
                Err(e) if is_absent(&e) => at = dir.parent(),
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::from(io::ErrorKind::NotFound))
    }

    /// Metadata of `sys`; `follow` decides for a link in the last component.
    pub fn meta(&self, sys: &Path, follow: bool) -> io::Result<Meta> {
        let fd = self.open_in(sys, OFlags::PATH, Mode::empty(), follow)?;
        rfs::fstat(&fd)
            .map(|st| Meta::from_stat(&st))
            .map_err(errno)
    }

    /// The target of the link `sys`, as written.
    pub fn read_link(&self, sys: &Path) -> io::Result<PathBuf> {
        let dir = self.dir(sys.parent().unwrap_or(Path::new("/")))?;
        let name = sys
            .file_name()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        rfs::readlinkat(&dir.fd, name, Vec::new())
            .map(|c| PathBuf::from(OsStr::from_bytes(c.as_bytes())))
            .map_err(errno)
    }

    /// The names in directory `sys` with their entry types (links not followed).
    pub fn list(&self, sys: &Path) -> io::Result<Vec<(OsString, FileType)>> {
        let fd = self.open_in(
            sys,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK,
            Mode::empty(),
            true,
        )?;
        let mut out = Vec::new();
        for entry in rfs::Dir::read_from(&fd).map_err(errno)? {
            let entry = entry.map_err(errno)?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            out.push((OsStr::from_bytes(name).to_os_string(), entry.file_type()));
        }
        Ok(out)
    }

    /// A handle on directory `sys`, resolved inside the root.
    pub fn dir(&self, sys: &Path) -> io::Result<Dir> {
        let fd = self.open_in(sys, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty(), true)?;
        Ok(Dir {
            fd,
            sys: sys.to_path_buf(),
        })
    }

    /// Like `dir`, creating missing directories (with `mode`) on the way.
    pub fn make_dir(&self, sys: &Path, mode: u32) -> io::Result<Dir> {
        match self.dir(sys) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let parent = sys.parent().filter(|p| *p != sys).unwrap_or(Path::new("/"));
        let name = sys
            .file_name()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let up = self.make_dir(parent, 0o755)?;
        match rfs::mkdirat(&up.fd, name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(errno(e)),
        }
        let fd = rfs::openat(
            &up.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        Ok(Dir {
            fd,
            sys: sys.to_path_buf(),
        })
    }

    /// `sys` and each directory above it up to the root, with metadata,
    /// for ownership checks.
    pub fn chain(&self, sys: &Path) -> io::Result<Vec<(PathBuf, Meta)>> {
        let mut out = vec![(sys.to_path_buf(), self.meta(sys, true)?)];
        let mut p = sys.parent();
        while let Some(dir) = p {
            out.push((dir.to_path_buf(), self.meta(dir, true)?));
            p = dir.parent();
        }
        Ok(out)
    }

    /// The file system type of `sys` (statfs f_type).
    pub fn fs_type(&self, sys: &Path) -> io::Result<i64> {
        let fd = self.open_in(sys, OFlags::PATH, Mode::empty(), true)?;
        // f_type's width differs between architectures.
        #[allow(clippy::unnecessary_cast)]
        rfs::fstatfs(&fd).map(|s| s.f_type as i64).map_err(errno)
    }
}

/// Reads a file named on the command line (a host path, relative to the
/// working directory), bounded and non-blocking like every other read.
pub fn read_host(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let fd = rfs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)?;
    read_regular(fd, cap)
}

/// Reads an open file if it is a regular file, at most `cap` bytes.
fn read_regular(fd: OwnedFd, cap: u64) -> Result<Vec<u8>, ReadError> {
    read_regular_identified(fd, cap).map(|(bytes, _)| bytes)
}

/// `read_regular`, with the file's (device, inode) from the same fstat.
fn read_regular_identified(fd: OwnedFd, cap: u64) -> Result<(Vec<u8>, (u64, u64)), ReadError> {
    let st = rfs::fstat(&fd).map_err(errno)?;
    #[allow(clippy::unnecessary_cast)]
    let identity = (st.st_dev as u64, st.st_ino as u64);
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        return Err(ReadError::NotRegular(kind_name(kind)));
    }
    let len = u64::try_from(st.st_size).unwrap_or(0);
    if len > cap {
        return Err(ReadError::TooLarge { cap });
    }
    // One read of the size fstat gave, plus a byte: shorter means the end
    // (no second read(2) just to see 0); longer, the file grew: read on.
    let mut buf = vec![0; len as usize + 1];
    let mut file = std::fs::File::from(fd);
    let n = loop {
        match file.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?,
        }
    };
    buf.truncate(n);
    if n as u64 > len {
        (&mut file).take(cap + 1 - n as u64).read_to_end(&mut buf)?;
    }
    if buf.len() as u64 > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok((buf, identity))
}

/// A directory resolved inside the root. Its entries are opened relative
/// to it and never through a link: replacing an entry replaces the entry,
/// whatever it pointed at.
pub struct Dir {
    fd: OwnedFd,
    sys: PathBuf,
}

impl Dir {
    /// The directory as the system sees it.
    pub fn path(&self) -> &Path {
        &self.sys
    }

    /// The entry `name` itself (a link is not followed); `None` when absent.
    pub fn entry(&self, name: &OsStr) -> io::Result<Option<Meta>> {
        match rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::from_stat(&st))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(errno(e)),
        }
    }

    /// Reads the regular file `name` (not through a link), at most `cap` bytes.
    pub fn read(&self, name: &OsStr, cap: u64) -> Result<Vec<u8>, ReadError> {
        self.read_identified(name, cap).map(|(bytes, _)| bytes)
    }

    /// `read`, with the file's (device, inode). One open relative to this
    /// directory: cheaper than resolving a whole path under the root, for
    /// the ten thousand files of a big sysctl.d tree.
    pub fn read_identified(
        &self,
        name: &OsStr,
        cap: u64,
    ) -> Result<(Vec<u8>, (u64, u64)), ReadError> {
        let fd = rfs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => ReadError::NotRegular("symbolic link"),
            e => ReadError::Io(errno(e)),
        })?;
        read_regular_identified(fd, cap)
    }

    /// Replaces `name` with `content` atomically: a nameless O_TMPFILE in
    /// this directory, written and fsynced, linked under a hidden temporary
    /// name, renamed over `name`, and the directory fsynced. A reader sees
    /// the old file or the new one, never a partial one.
    pub fn replace(&self, name: &OsStr, content: &[u8], mode: u32) -> io::Result<()> {
        let tmp = format!(
            "{TEMP_PREFIX}{}.{}",
            name.to_string_lossy(),
            std::process::id()
        );
        let (fd, named) = match rfs::openat(
            &self.fd,
            ".",
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        ) {
            Ok(fd) => (fd, false),
            Err(_) => {
                let _ = rfs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
                let fd = rfs::openat(
                    &self.fd,
                    tmp.as_str(),
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(mode),
                )
                .map_err(errno)?;
                (fd, true)
            }
        };
        let cleanup = |e: io::Error| {
            if named {
                let _ = rfs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
            }
            e
        };
        rfs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(errno)
            .map_err(cleanup)?;
        let mut file = std::fs::File::from(fd);
        file.write_all(content).map_err(cleanup)?;
        file.sync_all().map_err(cleanup)?;
        if !named {
            let proc_fd = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
            rfs::linkat(
                rfs::CWD,
                proc_fd.as_str(),
                &self.fd,
                tmp.as_str(),
                AtFlags::SYMLINK_FOLLOW,
            )
            .map_err(errno)?;
        }
        if let Err(e) = rfs::renameat(&self.fd, tmp.as_str(), &self.fd, name) {
            let _ = rfs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
            return Err(errno(e));
        }
        rfs::fsync(&self.fd).map_err(errno)
    }

    /// Removes `name` (a file, or a link itself), durably; absent is fine.
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        match rfs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(errno(e)),
        }
        rfs::fsync(&self.fd).map_err(errno)
    }

    /// Opens (creating, mode 0600) the lock file `name`, never through a link.
    pub fn open_lock(&self, name: &OsStr) -> io::Result<std::fs::File> {
        let fd = rfs::openat(
            &self.fd,
            name,
            OFlags::RDWR
                | OFlags::CREATE
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::NOCTTY
                | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(errno)?;
        let st = rfs::fstat(&fd).map_err(errno)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io::Error::other(format!(
                "it is a {}, not a regular file",
                kind_name(FileType::from_raw_mode(st.st_mode))
            )));
        }
        Ok(std::fs::File::from(fd))
    }

    /// Removes temporary files a killed run may have left (between linking
    /// and renaming). Called under the lock.
    pub fn clean_temps(&self) {
        let Ok(dir) = rfs::Dir::read_from(&self.fd) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            if name.to_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
                let _ = rfs::unlinkat(&self.fd, name, AtFlags::empty());
            }
        }
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Resolves `rel` inside `root` by walking components, as openat2's
/// RESOLVE_IN_ROOT does: `..` stops at the root, absolute links restart
/// from it. Returns the directory that holds the last component, and its
/// name (`None` when the path is the root itself or ends in `..`).
fn walk(root: &OwnedFd, rel: &Path, follow_last: bool) -> io::Result<(OwnedFd, Option<OsString>)> {
    let dup = |fd: &OwnedFd| fd.try_clone();
    let mut stack: Vec<OwnedFd> = vec![dup(root)?];
    let mut todo: Vec<OsString> = rel
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(name) = todo.pop() {
        let last = todo.is_empty();
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            if last {
                return Ok((stack.pop().expect("stack is never empty"), None));
            }
            continue;
        }
        let cur = stack.last().expect("stack is never empty");
        let st = match rfs::statat(cur, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(rustix::io::Errno::NOENT) if last => None,
            Err(e) => return Err(errno(e)),
        };
        let is_link = st.is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
        if is_link && (!last || follow_last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = rfs::readlinkat(cur, name.as_os_str(), Vec::new()).map_err(errno)?;
            let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
            if target.is_absolute() {
                stack.truncate(1);
            }
            for c in target.components().rev() {
                match c {
                    Component::Normal(n) => todo.push(n.to_os_string()),
                    Component::ParentDir => todo.push("..".into()),
                    _ => {}
                }
            }
            if todo.is_empty() {
                return Ok((stack.pop().expect("stack is never empty"), None));
            }
            continue;
        }
        if last {
            return Ok((stack.pop().expect("stack is never empty"), Some(name)));
        }
        let next = rfs::openat(
            cur,
            name.as_os_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        stack.push(next);
    }
    Ok((stack.pop().expect("stack is never empty"), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// An image with absolute and relative links, `..`, and a link out.
    fn image() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("etc/sysctl.d")).unwrap();
        std::fs::create_dir_all(p.join("etc/static/sysctl.d")).unwrap();
        std::fs::write(p.join("etc/static/sysctl.d/60-nixos.conf"), "a = 1\n").unwrap();
        std::fs::write(p.join("etc/sysctl.conf"), "b = 2\n").unwrap();
        std::fs::write(p.join("etc/shadow"), "image shadow\n").unwrap();
        symlink(
            "/etc/static/sysctl.d/60-nixos.conf",
            p.join("etc/sysctl.d/60-nixos.conf"),
        )
        .unwrap();
        symlink("../sysctl.conf", p.join("etc/sysctl.d/99-sysctl.conf")).unwrap();
        symlink("/etc/shadow", p.join("etc/sysctl.d/50-shadow.conf")).unwrap();
        symlink(
            "../../../../../../../../etc/shadow",
            p.join("etc/sysctl.d/51-dotdot.conf"),
        )
        .unwrap();
        d
    }

    fn both_resolvers(check: impl Fn(&dyn Fn(&Path) -> String)) {
        let d = image();
        let root = Root::open(d.path()).unwrap();
        check(&|p: &Path| String::from_utf8(root.read(p, 1 << 20).unwrap()).unwrap());
        check(&|p: &Path| {
            let (dir, name) = walk(&root.fd, &relative(p), true).unwrap();
            let fd = rfs::openat(
                &dir,
                name.unwrap().as_os_str(),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            let mut s = String::new();
            std::fs::File::from(fd).read_to_string(&mut s).unwrap();
            s
        });
    }

    #[test]
    fn links_resolve_inside_the_root_with_either_resolver() {
        both_resolvers(|read| {
            assert_eq!(read(Path::new("/etc/sysctl.d/60-nixos.conf")), "a = 1\n");
            assert_eq!(read(Path::new("/etc/sysctl.d/99-sysctl.conf")), "b = 2\n");
            assert_eq!(
                read(Path::new("/etc/sysctl.d/50-shadow.conf")),
                "image shadow\n"
            );
            assert_eq!(
                read(Path::new("/etc/sysctl.d/51-dotdot.conf")),
                "image shadow\n"
            );
            assert_eq!(read(Path::new("/../../etc/shadow")), "image shadow\n");
        });
    }

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let d = image();
        let fifo = d.path().join("etc/sysctl.d/70-fifo.conf");
        rustix::fs::mknodat(
            rfs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        symlink("/dev/zero", d.path().join("etc/sysctl.d/71-zero.conf")).unwrap();
        let root = Root::open(d.path()).unwrap();
        assert!(matches!(
            root.read(Path::new("/etc/sysctl.d/70-fifo.conf"), 1 << 20),
            Err(ReadError::NotRegular("FIFO"))
        ));
        // Inside the image, /dev/zero does not exist.
        assert!(
            root.read(Path::new("/etc/sysctl.d/71-zero.conf"), 1 << 20)
                .unwrap_err()
                .is_not_found()
        );
        let host = Root::open(Path::new("/")).unwrap();
        assert!(matches!(
            host.read(Path::new("/dev/zero"), 1 << 20),
            Err(ReadError::NotRegular("character device"))
        ));
    }

    #[test]
    fn reads_are_capped() {
        let d = image();
        std::fs::write(d.path().join("big"), vec![b'x'; 5000]).unwrap();
        let root = Root::open(d.path()).unwrap();
        assert!(matches!(
            root.read(Path::new("/big"), 4096),
            Err(ReadError::TooLarge { .. })
        ));
        assert_eq!(root.read(Path::new("/big"), 5000).unwrap().len(), 5000);
    }

    #[test]
    fn writes_stay_inside_and_replace_links_not_their_targets() {
        let d = image();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "keep\n").unwrap();
        symlink(&victim, d.path().join("etc/sysctl.d/99-zz-tcptune.conf")).unwrap();
        symlink("/etc", d.path().join("etc/sysctl.d/sub")).unwrap();
        let root = Root::open(d.path()).unwrap();
        let dir = root.dir(Path::new("/etc/sysctl.d")).unwrap();
        dir.replace(OsStr::new("99-zz-tcptune.conf"), b"x = 1\n", 0o644)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
        let meta = dir
            .entry(OsStr::new("99-zz-tcptune.conf"))
            .unwrap()
            .unwrap();
        assert_eq!((meta.kind, meta.mode), (FileType::RegularFile, 0o644));
        // A directory reached through an absolute link is the image's.
        let sub = root
            .make_dir(Path::new("/etc/sysctl.d/sub/new"), 0o700)
            .unwrap();
        sub.replace(OsStr::new("f"), b"y", 0o600).unwrap();
        assert!(d.path().join("etc/new/f").exists());
        assert_eq!(
            std::fs::read_dir(d.path().join("etc/sysctl.d"))
                .unwrap()
                .filter(|e| e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(TEMP_PREFIX))
                .count(),
            0
        );
    }
}
