//! `--netns`: run a command inside another network namespace.
//!
//! /proc/sys/net and /proc/thread-self/net show the namespace of the
//! calling *thread*, so the whole command runs in a dedicated thread that
//! has joined the target namespace with setns(2); the main thread and the
//! process as a whole stay where they were.
//!
//! The namespace file is opened without blocking (a FIFO in its place
//! cannot hang tcptune) and must be a network namespace (nsfs).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::error::Error;
use crate::state::NetnsId;

/// statfs f_type of nsfs (NSFS_MAGIC).
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// A name under /run/netns (as `ip netns add` makes), or a path.
pub fn path_of(name: &str) -> PathBuf {
    if name.contains('/') {
        PathBuf::from(name)
    } else {
        Path::new("/run/netns").join(name)
    }
}

fn open(name: &str) -> Result<OwnedFd, Error> {
    let netns_error = |source| Error::Netns {
        name: name.to_string(),
        source,
    };
    if !name.contains('/') && (name.is_empty() || name == "." || name == "..") {
        return Err(netns_error(std::io::Error::from_raw_os_error(libc::EINVAL)));
    }
    let fd = rustix::fs::open(
        path_of(name),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| netns_error(std::io::Error::from_raw_os_error(e.raw_os_error())))?;
    let fs = rustix::fs::fstatfs(&fd)
        .map_err(|e| netns_error(std::io::Error::from_raw_os_error(e.raw_os_error())))?;
    #[allow(clippy::unnecessary_cast)]
    let f_type = fs.f_type as i64;
    if f_type != NSFS_MAGIC {
        return Err(Error::NotANetns {
            name: name.to_string(),
        });
    }
    Ok(fd)
}

/// Runs `work` in a thread inside the network namespace `name`.
pub fn run_in<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let fd = open(name)?;
    let owned = name.to_string();
    let handle = std::thread::spawn(move || {
        // SAFETY: a valid namespace file descriptor; setns affects only this thread.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EINVAL) {
                Error::NotANetns { name: owned }
            } else {
                Error::Netns {
                    name: owned,
                    source: e,
                }
            });
        }
        work()
    });
    handle.join().expect("the --netns thread panicked")
}

/// The network namespace of the calling thread.
pub fn current() -> NetnsId {
    let inode = std::fs::metadata("/proc/thread-self/ns/net").map_or(0, |m| m.ino());
    NetnsId {
        inode,
        cookie: cookie(),
    }
}

/// SO_NETNS_COOKIE of a socket made in this thread's namespace (5.14+).
/// Its number is 71 except on the architectures with their own socket.h.
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
fn cookie() -> Option<u64> {
    // SAFETY: plain socket and getsockopt calls on a descriptor we own.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let mut value: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        const SO_NETNS_COOKIE: libc::c_int = 71;
        let r = libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut value as *mut u64).cast(),
            &mut len,
        );
        libc::close(fd);
        (r == 0).then_some(value)
    }
}

#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
fn cookie() -> Option<u64> {
    None
}
