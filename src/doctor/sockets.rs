//! `Sockets`: the TCP sockets of the calling thread's network namespace,
//! as `ss` sees them, through sock_diag (netlink inet_diag): listeners with
//! their accept queue (Recv-Q) and its cap (Send-Q = min(backlog,
//! somaxconn)), half-open requests per listener, and established and
//! TIME_WAIT connections per local address and remote address and port.
//! One walk of the kernel's socket hash for both address families where
//! the kernel serves it, filtered in the kernel so that only the sockets
//! counted are copied out (a second walk only for a namespace near port
//! exhaustion); no per-connection work beyond counting.
//!
//! Listeners are named after their process from /proc/PID/fd socket
//! inodes: only listeners, each process's first descriptors and then its
//! last (where servers open listeners) tried first (descriptors.rs), and
//! the walk stops once all are found. A process whose descriptor links are
//! refused is left after one try. Other users' processes need root; the count of listeners
//! left unnamed is kept so the report can say so.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::os::fd::AsFd;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer, Parseable,
};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DIAG_BY_FAMILY},
    inet::{InetResponseHeader, SocketId, StateFlags},
};
use netlink_sys::{Socket, SocketAddr as NetlinkAddr, protocols::NETLINK_SOCK_DIAG};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::descriptors::{ProcFd, try_in_order};
use super::filter::{Condition, program};

/// The older inet_diag request type (include/uapi/linux/inet_diag.h);
/// its replies carry it too.
const TCPDIAG_GETSOCK: u16 = 18;
const TCP_ESTABLISHED: u8 = 1;
const TCP_SYN_RECV: u8 = 3;
const TCP_TIME_WAIT: u8 = 6;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Process {
    pub pid: u32,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub local: SocketAddr,
    /// Connections waiting for accept() (sk_ack_backlog).
    pub accept_queue: u32,
    /// Its cap, min(listen backlog, somaxconn) (sk_max_ack_backlog); the
    /// queue can hold one more.
    pub accept_queue_max: u32,
    /// Half-open requests (SYN_RECV) to this listener.
    pub syn_recv: u32,
    pub inode: u32,
    pub uid: u32,
    pub process: Option<Process>,
}

/// Outgoing connections from one local address to one remote address and
/// port: the kernel gives each such pair its own ephemeral ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remote {
    pub established: u32,
    pub time_wait: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sockets {
    pub listeners: Vec<Listener>,
    /// Outgoing connections (local port in the ephemeral range) by local
    /// address and remote: every pair that could be near exhaustion,
    /// counted exactly (see `read`).
    pub remotes: BTreeMap<(IpAddr, SocketAddr), Remote>,
    /// Listeners whose process could not be found (others' processes need root).
    pub unnamed: usize,
}

/// One socket of the dump, reduced to what doctor keeps.
struct Entry {
    state: u8,
    id: SocketId,
    recv_queue: u32,
    send_queue: u32,
    inode: u32,
    uid: u32,
}

/// INET_DIAG_REQ_BYTECODE, the request's attribute carrying a filter.
const REQ_BYTECODE: u16 = 1;

/// A dump request: the netlink header, the request `body` and, when given,
/// a filter program (filter.rs) as its one attribute.
fn request(kind: u16, body: &[u8], filter: Option<&[u8]>) -> Vec<u8> {
    let attribute = filter.map_or(0, |f| 4 + f.len());
    let len = 16 + body.len() + attribute;
    let mut request = Vec::with_capacity(len);
    request.extend_from_slice(&(len as u32).to_ne_bytes());
    request.extend_from_slice(&kind.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend_from_slice(&[0; 8]); // sequence number, port id
    request.extend_from_slice(body);
    if let Some(f) = filter {
        request.extend_from_slice(&(attribute as u16).to_ne_bytes());
        request.extend_from_slice(&REQ_BYTECODE.to_ne_bytes());
        request.extend_from_slice(f);
    }
    request
}

/// The inet_diag request of the sock_diag interface for one address
/// family: `struct inet_diag_req_v2` (include/uapi/linux/inet_diag.h):
/// family, protocol, extensions, padding, the states, a zeroed 48-byte
/// socket id (any socket).
fn family_request(family: u8, states: StateFlags, filter: Option<&[u8]>) -> Vec<u8> {
    let mut body = vec![family, IPPROTO_TCP, 0, 0];
    body.extend_from_slice(&states.bits().to_ne_bytes());
    body.extend_from_slice(&[0; 48]);
    request(SOCK_DIAG_BY_FAMILY, &body, filter)
}

/// The older TCPDIAG_GETSOCK request, still served by the same dump
/// (inet_diag_rcv_msg_compat, which takes a filter too): it asks with no
/// address family, so IPv4 and IPv6 come from one walk of the kernel's
/// socket hash instead of two. `struct inet_diag_req`: family (AF_UNSPEC),
/// two prefix lengths, extensions, a zeroed 48-byte socket id, the states
/// and an unused table mask.
fn both_families_request(states: StateFlags, filter: Option<&[u8]>) -> Vec<u8> {
    let mut body = vec![0; 4 + 48];
    body.extend_from_slice(&states.bits().to_ne_bytes());
    body.extend_from_slice(&[0; 4]);
    request(TCPDIAG_GETSOCK, &body, filter)
}

/// Sends one dump `request` and calls `each` per socket. Only the fixed
/// inet_diag_msg header is parsed (the attributes that follow are
/// skipped): tens of thousands of sockets cost one pass.
fn dump(request: &[u8], mut each: impl FnMut(Entry)) -> io::Result<()> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;
    socket.send(request, 0)?;
    let bad = |e: netlink_packet_core::DecodeError| {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = NetlinkBuffer::new_checked(&buf[offset..size]).map_err(bad)?;
            let length = message.length() as usize;
            match message.message_type() {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let payload = message.payload();
                    let code = payload
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    return Err(io::Error::from_raw_os_error(code.saturating_neg()));
                }
                // Replies carry the request's type.
                SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                    let h = InetResponseHeader::parse(message.payload()).map_err(bad)?;
                    each(Entry {
                        state: h.state,
                        id: h.socket_id,
                        recv_queue: h.recv_queue,
                        send_queue: h.send_queue,
                        inode: h.inode,
                        uid: h.uid,
                    });
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            // Messages are aligned to 4 bytes.
            offset += (length + 3) & !3;
        }
    }
}

/// Dumps IPv4 and IPv6 sockets in `states` that `filter` lets through: in
/// one walk where the kernel serves the older request (every kernel with
/// sock_diag so far), else one dump per family, where a kernel without
/// IPv6 refuses the second. A kernel that refuses the filter is asked
/// again without it (the caller counts only what it wants either way).
/// Only a refusal before any socket was reported is retried, so nothing
/// is counted twice.
fn dump_both(
    states: StateFlags,
    filter: Option<&[u8]>,
    mut each: impl FnMut(Entry),
) -> io::Result<()> {
    let reported = std::cell::Cell::new(false);
    let mut counted = |e| {
        reported.set(true);
        each(e)
    };
    let mut refused = io::Error::from(io::ErrorKind::Unsupported);
    let filters = if filter.is_some() {
        vec![filter, None]
    } else {
        vec![None]
    };
    for filter in filters {
        match dump(&both_families_request(states.clone(), filter), &mut counted) {
            Err(_) if !reported.get() => {}
            done => return done,
        }
        match dump(
            &family_request(AF_INET, states.clone(), filter),
            &mut counted,
        ) {
            Err(e) if !reported.get() => refused = e,
            Err(e) => return Err(e),
            Ok(()) => {
                let _ = dump(&family_request(AF_INET6, states, filter), &mut counted);
                return Ok(());
            }
        }
    }
    Err(refused)
}

/// The part of the ephemeral range whose outgoing sockets are read first
/// (`Sockets::read`): its low `width` ports, and the least number of them
/// that one pair must hold there to possibly hold `near` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    width: u32,
    least: u32,
}

impl Sample {
    /// Wide enough that a pair holding `near` of the range's `ports` holds
    /// at least a tenth of the range inside it: at most `ports - width` of
    /// its ports lie outside, so it holds `near - (ports - width)` inside.
    /// The whole range where that is no narrower.
    fn of(ports: u32, near: u32) -> Sample {
        let least = (ports / 10).max(1);
        let width = (ports.saturating_sub(near) + least).min(ports);
        Sample { width, least }
    }
}

impl Sockets {
    /// Reads the namespace's sockets. `ephemeral` is ip_local_port_range:
    /// connections whose local port falls in it count as outgoing, and
    /// their ports are counted per pair of local address and remote.
    /// `connections` is how many TCP sockets and TIME_WAIT entries the
    /// namespace holds (sockstat), and `near` how many ports one pair must
    /// hold for port-exhaustion.
    ///
    /// Copying a socket out of the kernel costs more than walking past it
    /// (about 1 µs for a connection, a third of that for a TIME_WAIT entry,
    /// measured on 6.18), so each dump is filtered in the kernel
    /// (filter.rs), and at most three are made:
    /// 1. listeners, from the listening hash alone (cheap);
    /// 2. half-open requests, and, when `connections` reach `near`,
    ///    established and TIME_WAIT sockets whose port lies in a `Sample`
    ///    of the range (connections accepted on a listener's port are left
    ///    out);
    /// 3. when the sample is not the whole range and some pair holds enough
    ///    of it to possibly hold `near` ports, every outgoing socket, so
    ///    that the pairs are counted exactly.
    ///
    /// `remotes` thus holds every pair that could hold `near` ports,
    /// counted exactly, and nothing else unless the whole range was read.
    pub fn read(ephemeral: (u16, u16), connections: i64, near: i64) -> io::Result<Sockets> {
        let mut s = Sockets::default();
        dump_both(StateFlags::LISTEN, None, |e| {
            s.listeners.push(Listener {
                local: SocketAddr::new(e.id.source_address, e.id.source_port),
                accept_queue: e.recv_queue,
                accept_queue_max: e.send_queue,
                syn_recv: 0,
                inode: e.inode,
                uid: e.uid,
                process: None,
            })
        })?;
        let mut requests: HashMap<(IpAddr, u16), u32> = HashMap::new();
        let (lo, hi) = ephemeral;
        let ports = u32::from(hi.saturating_sub(lo)) + 1;
        let sample = Sample::of(ports, u32::try_from(near.max(0)).unwrap_or(u32::MAX));
        let sampled = lo..=lo.saturating_add((sample.width - 1) as u16);
        let (states, filter) = if connections >= near {
            let outgoing = StateFlags::ESTABLISHED | StateFlags::TIME_WAIT;
            (
                StateFlags::SYN_RECV | outgoing,
                Some(s.requests_and_sample(ephemeral, &sampled)),
            )
        } else {
            (StateFlags::SYN_RECV, None)
        };
        dump_both(states, filter.as_deref(), |e| match e.state {
            TCP_SYN_RECV => {
                *requests
                    .entry((e.id.source_address, e.id.source_port))
                    .or_insert(0) += 1;
            }
            TCP_ESTABLISHED | TCP_TIME_WAIT if sampled.contains(&e.id.source_port) => s.count(&e),
            _ => {}
        })?;
        if filter.is_some() && sample.width < ports {
            let least = sample.least;
            let possible = s
                .remotes
                .values()
                .any(|r| r.established + r.time_wait >= least);
            s.remotes.clear();
            if possible {
                let outgoing = program(&[[Condition::LocalPortIn(lo, hi)]]);
                let states = StateFlags::ESTABLISHED | StateFlags::TIME_WAIT;
                dump_both(states, Some(&outgoing), |e| {
                    if (lo..=hi).contains(&e.id.source_port) {
                        s.count(&e)
                    }
                })?;
            }
        }
        s.attach_requests(requests);
        s.listeners.sort_by_key(|l| (l.local.port(), l.local.ip()));
        s.name_listeners();
        Ok(s)
    }

    /// The filter of the second dump: half-open requests (not full
    /// sockets) on any listener's port, and every socket whose port is in
    /// `sampled`. Requests are told from TIME_WAIT entries by their port
    /// only, so the TIME_WAIT entries of listener ports are sent too, and,
    /// past 16 listener ports in the rest of the range, all of its
    /// TIME_WAIT entries (cheap to send; not counted).
    fn requests_and_sample(
        &self,
        (lo, hi): (u16, u16),
        sampled: &std::ops::RangeInclusive<u16>,
    ) -> Vec<u8> {
        use Condition::{LocalPortIn, NotFull};
        let mut clauses = vec![vec![LocalPortIn(*sampled.start(), *sampled.end())]];
        if lo > 0 {
            clauses.push(vec![NotFull, LocalPortIn(0, lo - 1)]);
        }
        if hi < u16::MAX {
            clauses.push(vec![NotFull, LocalPortIn(hi + 1, u16::MAX)]);
        }
        let mut inside: Vec<u16> = self
            .listeners
            .iter()
            .map(|l| l.local.port())
            .filter(|p| (lo..=hi).contains(p) && !sampled.contains(p))
            .collect();
        inside.sort_unstable();
        inside.dedup();
        if inside.len() > 16 {
            clauses.push(vec![NotFull, LocalPortIn(sampled.end() + 1, hi)]);
        } else {
            clauses.extend(inside.into_iter().map(|p| vec![NotFull, LocalPortIn(p, p)]));
        }
        program(&clauses)
    }

    fn count(&mut self, e: &Entry) {
        let id = &e.id;
        let remote = SocketAddr::new(id.destination_address, id.destination_port);
        let pair = self.remotes.entry((id.source_address, remote)).or_default();
        if e.state == TCP_TIME_WAIT {
            pair.time_wait += 1;
        } else {
            pair.established += 1;
        }
    }

    /// A request belongs to the listener on its port and address, or to
    /// the wildcard listener on its port.
    fn attach_requests(&mut self, requests: HashMap<(IpAddr, u16), u32>) {
        for ((addr, port), n) in requests {
            let exact = self
                .listeners
                .iter()
                .position(|l| l.local.port() == port && l.local.ip() == addr);
            let wildcard = || {
                self.listeners
                    .iter()
                    .position(|l| l.local.port() == port && l.local.ip().is_unspecified())
            };
            if let Some(i) = exact.or_else(wildcard) {
                self.listeners[i].syn_recv += n;
            }
        }
    }

    /// Finds each listener's process through /proc/PID/fd: one readlinkat
    /// per descriptor tried, stopping once every listener is named.
    fn name_listeners(&mut self) {
        let mut wanted: HashMap<u32, usize> = self
            .listeners
            .iter()
            .enumerate()
            .map(|(i, l)| (l.inode, i))
            .collect();
        wanted.remove(&0);
        let mut link = Vec::with_capacity(64);
        let mut fd_name = String::new();
        if let Ok(proc_dir) = rustix::fs::open(
            "/proc",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) && let Ok(mut pids) = rustix::fs::Dir::read_from(&proc_dir)
        {
            while let Some(Ok(entry)) = pids.next() {
                if wanted.is_empty() {
                    break;
                }
                let Some(pid) = std::str::from_utf8(entry.file_name().to_bytes())
                    .ok()
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                let Ok(fd_dir) = rustix::fs::openat(
                    &proc_dir,
                    format!("{pid}/fd"),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                ) else {
                    continue;
                };
                try_in_order(&mut ProcFd::new(fd_dir.as_fd()), |fd| {
                    fd_name.clear();
                    let _ = write!(fd_name, "{fd}");
                    link.clear();
                    let target = match rustix::fs::readlinkat(
                        &fd_dir,
                        fd_name.as_str(),
                        std::mem::take(&mut link),
                    ) {
                        Ok(target) => target,
                        // The fd directory can be listed while its links
                        // stay closed (ptrace access: a process of the
                        // host seen from a user namespace, or one that
                        // changed credentials). Every other descriptor of
                        // the process would be refused the same way.
                        Err(Errno::ACCESS | Errno::PERM) => return ControlFlow::Break(()),
                        // Closed since the listing.
                        Err(_) => return ControlFlow::Continue(()),
                    };
                    let inode = target
                        .to_bytes()
                        .strip_prefix(b"socket:[")
                        .and_then(|t| t.strip_suffix(b"]"))
                        .and_then(|t| std::str::from_utf8(t).ok())
                        .and_then(|t| t.parse::<u32>().ok());
                    link = target.into_bytes();
                    if let Some(i) = inode.and_then(|n| wanted.remove(&n)) {
                        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                            .map(|c| c.trim_end().to_string())
                            .unwrap_or_default();
                        self.listeners[i].process = Some(Process { pid, name });
                    }
                    if wanted.is_empty() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
            }
        }
        self.unnamed = self
            .listeners
            .iter()
            .filter(|l| l.process.is_none())
            .count();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::findings::port_threshold;

    #[test]
    fn a_pair_that_could_be_near_exhaustion_shows_in_the_sample() {
        for ports in [1u32, 2, 3, 9, 10, 11, 99, 100, 1000, 28232, 55296, 65535] {
            let near = port_threshold(i64::from(ports)) as u32;
            let s = Sample::of(ports, near);
            assert!((1..=ports).contains(&s.width), "{ports}: {s:?}");
            if s.width < ports {
                // Holding `near` ports with as few inside as possible: all
                // `ports - width` outside are held.
                assert!(
                    s.least >= 1 && near - (ports - s.width) >= s.least,
                    "{ports}: {s:?}"
                );
            }
        }
        // The default range: the low 30% read first.
        assert_eq!(
            Sample::of(28232, 22586),
            Sample {
                width: 8469,
                least: 2823
            }
        );
    }
}
