//! `StartupArena`: the process's allocator. The first small allocations
//! come from a fixed static region by bumping a pointer, and are never
//! freed; large ones, and everything once the region is full, go to the
//! system allocator.
//!
//! A `diff` or `check` in a hook makes about a thousand small allocations
//! and exits within a millisecond. In a fresh process glibc's malloc serves
//! each of them the slow way (its per-size caches are still empty), and
//! that was a third of all the instructions of a `diff`. Bumping a pointer
//! costs a few instructions. The region is at most `SIZE` bytes of .bss:
//! pages the kernel maps only when touched (each first touch is a page
//! fault, so only small blocks come from it), and a long run (10,000
//! sysctl.d files) stops using it once it is full and costs at most `SIZE`
//! more memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Enough for every small allocation of a `diff` of a built-in profile.
const SIZE: usize = 256 * 1024;
/// Larger blocks (buffers, growing vectors) go to the system allocator,
/// which reuses them: from the region, every growth would touch new pages.
const SMALL: usize = 512;

pub struct StartupArena {
    region: UnsafeCell<[u8; SIZE]>,
    /// Bytes of `region` handed out so far.
    used: AtomicUsize,
}

// SAFETY: `used` is advanced atomically, so each byte of `region` is
// handed to one allocation only; the region itself is never read or
// written here.
unsafe impl Sync for StartupArena {}

impl StartupArena {
    pub const fn new() -> StartupArena {
        StartupArena {
            region: UnsafeCell::new([0; SIZE]),
            used: AtomicUsize::new(0),
        }
    }

    fn start(&self) -> usize {
        self.region.get() as usize
    }

    fn contains(&self, ptr: *mut u8) -> bool {
        (self.start()..self.start() + SIZE).contains(&(ptr as usize))
    }

    /// A block of `layout` from the region, or null when it does not fit.
    fn bump(&self, layout: Layout) -> *mut u8 {
        let start = self.start();
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            // Align the address, not the offset: the region is only
            // byte-aligned.
            let Some(at) = (start + used)
                .checked_next_multiple_of(layout.align())
                .and_then(|a| a.checked_sub(start))
            else {
                return std::ptr::null_mut();
            };
            let Some(end) = at.checked_add(layout.size()).filter(|&e| e <= SIZE) else {
                return std::ptr::null_mut();
            };
            match self
                .used
                .compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                // SAFETY: at + size <= SIZE, so the block is inside region.
                Ok(_) => return unsafe { (self.region.get() as *mut u8).add(at) },
                Err(now) => used = now,
            }
        }
    }
}

impl Default for StartupArena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block returned is either a fresh, unshared part of the
// region of the requested size and alignment, or the system allocator's;
// `dealloc` and `realloc` tell the two apart by address.
unsafe impl GlobalAlloc for StartupArena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = if layout.size() <= SMALL {
            self.bump(layout)
        } else {
            std::ptr::null_mut()
        };
        if ptr.is_null() {
            // SAFETY: forwarded with the caller's valid layout.
            unsafe { System.alloc(layout) }
        } else {
            ptr
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.contains(ptr) {
            // SAFETY: not from the region, so from System with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.contains(ptr) {
            // SAFETY: a System block, forwarded as the caller gave it.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees new_size is valid for the alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid non-zero layout (GlobalAlloc's contract).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size and do not
            // overlap (the new one is fresh).
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_disjoint_and_spill_to_the_system_allocator() {
        static ARENA: StartupArena = StartupArena::new();
        let arena = &ARENA;
        let mut blocks = Vec::new();
        for (size, align) in [
            (1, 1),
            (3, 8),
            (24, 8),
            (7, 64),
            (100, 16),
            (1, 4096),
            (SMALL, 8),
        ] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let p = unsafe { arena.alloc(layout) };
            assert!(arena.contains(p));
            assert_eq!(p as usize % align, 0);
            blocks.push((p as usize, size));
        }
        blocks.sort_unstable();
        assert!(blocks.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0));

        // Growing a block moves its contents; a large block comes from the
        // system and goes back to it.
        let large = Layout::from_size_align(SMALL + 1, 8).unwrap();
        let p = unsafe { arena.alloc(large) };
        assert!(!arena.contains(p));
        unsafe { arena.dealloc(p, large) };
        let layout = Layout::from_size_align(16, 8).unwrap();
        let p = unsafe { arena.alloc(layout) };
        unsafe { p.copy_from_nonoverlapping(b"sixteen bytes!!!".as_ptr(), 16) };
        let big = unsafe { arena.realloc(p, layout, SIZE) };
        assert!(!arena.contains(big));
        assert_eq!(
            unsafe { std::slice::from_raw_parts(big, 16) },
            b"sixteen bytes!!!"
        );
        let bigger =
            unsafe { arena.realloc(big, Layout::from_size_align(SIZE, 8).unwrap(), 2 * SIZE) };
        assert!(!arena.contains(bigger));
        assert_eq!(
            unsafe { std::slice::from_raw_parts(bigger, 16) },
            b"sixteen bytes!!!"
        );
        unsafe { arena.dealloc(bigger, Layout::from_size_align(2 * SIZE, 8).unwrap()) };
    }

    #[test]
    fn threads_never_share_a_block() {
        static ARENA: StartupArena = StartupArena::new();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    let layout = Layout::from_size_align(32, 8).unwrap();
                    (0..1000)
                        .map(|_| unsafe { ARENA.alloc(layout) } as usize)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<usize> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all.windows(2).all(|w| w[1] - w[0] >= 32));
    }
}
