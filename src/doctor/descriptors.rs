//! The order in which doctor tries a process's open descriptors when it
//! looks for a listener's owner (sockets.rs): the first `HEAD` as listed
//! (a server opens its listeners at start-up), then the rest from the
//! highest down (a listener opened on a reload comes after the
//! connections), without listing every descriptor of a process that holds
//! ten thousand connections.
//!
//! /proc/PID/fd lists descriptor N at directory offset N + 2, after `.`
//! and `..` (proc_readfd_common in the kernel's fs/proc/fd.c), so a seek
//! starts the listing at any descriptor. The highest is bracketed by a few
//! one-entry reads, and the rest is read in windows from there down.
//! Listing is what cost: the kernel makes a dentry for every descriptor it
//! lists, about half a microsecond each. A directory that does not read
//! the way that layout says is listed whole instead, as before.

use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::os::fd::BorrowedFd;

/// How many descriptors of a process are tried in the order listed.
pub const HEAD: usize = 64;
/// How many descriptors one read from the top covers.
const WINDOW: u32 = 256;

/// A process's descriptor directory.
pub trait Listing {
    /// Appends up to `max` descriptor numbers at or above `from`, in
    /// ascending order; `None` when the directory does not read that way.
    fn read_from(&mut self, from: u32, max: usize, out: &mut Vec<u32>) -> Option<()>;
    /// Appends every descriptor number, as listed.
    fn read_all(&mut self, out: &mut Vec<u32>);
}

/// /proc/PID/fd, opened.
pub struct ProcFd<'a> {
    dir: BorrowedFd<'a>,
    buf: Vec<MaybeUninit<u8>>,
}

impl<'a> ProcFd<'a> {
    pub fn new(dir: BorrowedFd<'a>) -> ProcFd<'a> {
        ProcFd {
            dir,
            buf: Vec::new(),
        }
    }
}

/// The largest directory record of a descriptor: a 19-byte header and a
/// name of up to 10 digits and its NUL, rounded up to 8 bytes.
const RECORD: usize = 32;

impl Listing for ProcFd<'_> {
    fn read_from(&mut self, from: u32, max: usize, out: &mut Vec<u32>) -> Option<()> {
        use rustix::fs::{RawDir, SeekFrom, seek};
        seek(self.dir, SeekFrom::Start(u64::from(from) + 2)).ok()?;
        // One getdents call returns `max` records when there are that many.
        self.buf.resize(max * RECORD, MaybeUninit::uninit());
        let mut records = RawDir::new(self.dir, &mut self.buf);
        let mut read = 0;
        while read < max {
            let Some(record) = records.next() else { break };
            let record = record.ok()?;
            // A name that is not a number (`.`), or a number below `from`:
            // the offset did not land where the layout says.
            let fd = std::str::from_utf8(record.file_name().to_bytes())
                .ok()?
                .parse::<u32>()
                .ok()
                .filter(|&fd| fd >= from)?;
            out.push(fd);
            read += 1;
        }
        Some(())
    }

    fn read_all(&mut self, out: &mut Vec<u32>) {
        // A second handle, with its own offset.
        let Ok(listing) = rustix::fs::Dir::read_from(self.dir) else {
            return;
        };
        out.extend(listing.filter_map(|entry| {
            std::str::from_utf8(entry.ok()?.file_name().to_bytes())
                .ok()?
                .parse::<u32>()
                .ok()
        }));
    }
}

/// Tries a process's descriptors until `probe` breaks (nothing is left to
/// find, or the process's descriptors are closed to us): the first `HEAD`
/// as listed, then the rest from the highest down.
pub fn try_in_order(dir: &mut impl Listing, mut probe: impl FnMut(u32) -> ControlFlow<()>) {
    let mut head = Vec::with_capacity(HEAD + 1);
    // One more than the head, to know whether there is a rest.
    if dir.read_from(0, HEAD + 1, &mut head).is_none() {
        head.clear();
        dir.read_all(&mut head);
        return try_listed(&head, &mut probe);
    }
    for &fd in head.iter().take(HEAD) {
        if probe(fd).is_break() {
            return;
        }
    }
    let Some(&floor) = head.get(HEAD) else {
        return;
    };
    if let Err(end) = try_from_the_top(dir, floor, &mut probe) {
        // Everything at or above `end` was tried; list the rest.
        let mut all = Vec::new();
        dir.read_all(&mut all);
        all.retain(|&fd| (floor..end).contains(&fd));
        all.sort_unstable();
        for &fd in all.iter().rev() {
            if probe(fd).is_break() {
                return;
            }
        }
    }
}

/// The descriptors at or above `floor`, from the highest down, read
/// window by window. `Err(end)`: the directory stopped reading as procfs
/// lays it out, and only descriptors at or above `end` were tried.
fn try_from_the_top(
    dir: &mut impl Listing,
    floor: u32,
    probe: &mut impl FnMut(u32) -> ControlFlow<()>,
) -> Result<(), u32> {
    // The first descriptor at or above `at`; Err: nothing was tried yet.
    fn first_from(dir: &mut impl Listing, at: u32) -> Result<Option<u32>, u32> {
        let mut one = Vec::with_capacity(1);
        dir.read_from(at, 1, &mut one).ok_or(u32::MAX)?;
        Ok(one.first().copied())
    }
    // Bracket the highest descriptor: `low` is open, nothing is open at or
    // above `high`. Doubling, then halving.
    let mut low = floor;
    let mut high = loop {
        let at = low.saturating_mul(2).max(low.saturating_add(WINDOW));
        match first_from(dir, at)? {
            Some(fd) if at < u32::MAX => low = fd,
            _ => break at,
        }
    };
    while high - low > WINDOW {
        let middle = low + (high - low) / 2;
        match first_from(dir, middle)? {
            Some(fd) => low = fd,
            None => high = middle,
        }
    }
    // Each window holds at most WINDOW descriptors, so one read covers it.
    let mut window = Vec::with_capacity(WINDOW as usize);
    let mut end = high;
    while end > floor {
        let start = end.saturating_sub(WINDOW).max(floor);
        window.clear();
        dir.read_from(start, WINDOW as usize, &mut window)
            .ok_or(end)?;
        for &fd in window.iter().rev().filter(|&&fd| fd < end) {
            if probe(fd).is_break() {
                return Ok(());
            }
        }
        end = start;
    }
    Ok(())
}

/// The old order, for a directory read whole: the first `HEAD` as listed,
/// then the rest from the highest down.
fn try_listed(listed: &[u32], probe: &mut impl FnMut(u32) -> ControlFlow<()>) {
    let (head, rest) = listed.split_at(listed.len().min(HEAD));
    let mut rest = rest.to_vec();
    rest.sort_unstable();
    for &fd in head.iter().chain(rest.iter().rev()) {
        if probe(fd).is_break() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor directory in memory, counting what it is asked.
    struct Fake {
        open: Vec<u32>,
        /// Reads from an offset stop working after this many.
        working_reads: usize,
        reads: usize,
        records: usize,
    }

    impl Fake {
        fn new(open: impl IntoIterator<Item = u32>) -> Fake {
            Fake {
                open: open.into_iter().collect(),
                working_reads: usize::MAX,
                reads: 0,
                records: 0,
            }
        }
    }

    impl Listing for Fake {
        fn read_from(&mut self, from: u32, max: usize, out: &mut Vec<u32>) -> Option<()> {
            self.reads += 1;
            if self.reads > self.working_reads {
                return None;
            }
            let got: Vec<u32> = self
                .open
                .iter()
                .copied()
                .filter(|&fd| fd >= from)
                .take(max)
                .collect();
            self.records += got.len();
            out.extend(got);
            Some(())
        }

        fn read_all(&mut self, out: &mut Vec<u32>) {
            self.records += self.open.len();
            out.extend(&self.open);
        }
    }

    /// The descriptors tried, in order, until `target`.
    fn tried(dir: &mut Fake, target: u32) -> Vec<u32> {
        let mut order = Vec::new();
        try_in_order(dir, |fd| {
            order.push(fd);
            if fd == target {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        order
    }

    #[test]
    fn an_early_listener_is_found_in_the_head() {
        let mut dir = Fake::new(0..10_000);
        assert_eq!(tried(&mut dir, 3), [0, 1, 2, 3]);
        assert_eq!(dir.reads, 1);
    }

    #[test]
    fn a_late_listener_is_found_from_the_top_without_listing_everything() {
        let mut dir = Fake::new(0..10_000);
        let order = tried(&mut dir, 9_998);
        assert_eq!(order.len(), HEAD + 2);
        assert_eq!(order[HEAD..], [9_999, 9_998]);
        assert!(dir.reads < 30, "{} reads", dir.reads);
        assert!(dir.records < 1_000, "{} records listed", dir.records);
    }

    #[test]
    fn every_descriptor_is_tried_once_when_none_is_the_one() {
        let sparse: Vec<u32> = (0..70)
            .chain(5_000..5_010)
            .chain([65_535, 1 << 20])
            .collect();
        for open in [
            (0..10_000).collect::<Vec<_>>(),
            (0..64).collect(),
            (0..65).collect(),
            sparse,
            Vec::new(),
        ] {
            let mut dir = Fake::new(open.clone());
            let order = tried(&mut dir, u32::MAX);
            // The head as listed, then the rest from the highest down.
            let head = open.len().min(HEAD);
            assert_eq!(order[..head], open[..head]);
            let mut rest = open[head..].to_vec();
            rest.reverse();
            assert_eq!(order[head..], rest);
        }
    }

    #[test]
    fn a_directory_that_stops_seeking_is_listed_and_nothing_is_missed() {
        for working_reads in [0, 1, 2, 5, 12] {
            let open: Vec<u32> = (0..3_000).collect();
            let mut dir = Fake::new(open.clone());
            dir.working_reads = working_reads;
            let mut order = tried(&mut dir, u32::MAX);
            order.sort_unstable();
            order.dedup();
            assert_eq!(order, open, "after {working_reads} reads");
        }
    }
}
