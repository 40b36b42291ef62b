//! `--netns`: run a command inside another network namespace.
//!
//! /proc/sys/net and /proc/thread-self/net show the namespace of the
//! calling *thread*, so the whole command runs in a dedicated thread that
//! has joined the target namespace with setns(2); the main thread and the
//! process as a whole stay where they were.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A name under /run/netns (as `ip netns add` makes), or a path.
pub fn path_of(name: &str) -> PathBuf {
    if name.contains('/') {
        PathBuf::from(name)
    } else {
        Path::new("/run/netns").join(name)
    }
}

/// Runs `work` in a thread inside the network namespace `name`.
pub fn run_in<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let netns_error = |source| Error::Netns {
        name: name.to_string(),
        source,
    };
    let file = File::open(path_of(name)).map_err(netns_error)?;
    let handle = std::thread::spawn(move || {
        // SAFETY: a valid namespace file descriptor; setns affects only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(Err(std::io::Error::last_os_error()));
        }
        Ok(work())
    });
    match handle.join().expect("the --netns thread panicked") {
        Ok(result) => result,
        Err(Err(source)) => Err(netns_error(source)),
        Err(Ok(())) => unreachable!(),
    }
}
