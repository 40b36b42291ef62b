//! Signals during `apply` and `revert`: SIGTERM (what a configuration
//! management tool sends when its timeout expires), SIGINT and SIGHUP do
//! not kill tcptune between two live writes. While changes are being made
//! they only set a flag; `apply::execute` checks it before each step and,
//! when set, rolls back what it wrote and exits 128 + the signal number.
//! SIGKILL cannot be caught: the state's journal covers it (see `state`).

use std::sync::atomic::{AtomicI32, Ordering};

static CAUGHT: AtomicI32 = AtomicI32::new(0);

const DEFERRED: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

extern "C" fn remember(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    CAUGHT.store(signal, Ordering::SeqCst);
}

/// While alive, the three signals are deferred; dropping it restores the
/// previous handlers (a signal caught meanwhile stays reported by `caught`).
pub struct Deferral {
    previous: Vec<(i32, libc::sigaction)>,
}

impl Deferral {
    pub fn start() -> Deferral {
        let mut previous = Vec::new();
        for signal in DEFERRED {
            // SAFETY: installing a handler that only stores to an atomic.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = remember as *const () as usize;
                libc::sigemptyset(&mut action.sa_mask);
                action.sa_flags = libc::SA_RESTART;
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    previous.push((signal, old));
                }
            }
        }
        Deferral { previous }
    }
}

impl Drop for Deferral {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: restoring the handler we replaced.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
    }
}

/// The signal that arrived while deferred, if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
