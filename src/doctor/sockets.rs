//! `Sockets`: the TCP sockets of the calling thread's network namespace,
//! as `ss` sees them, through sock_diag (netlink inet_diag): listeners with
//! their accept queue (Recv-Q) and its cap (Send-Q = min(backlog,
//! somaxconn)), half-open requests per listener, and established and
//! TIME_WAIT connections per remote address and port. One walk of the
//! kernel's socket hash for both address families where the kernel serves
//! it; no per-connection work beyond counting.
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
    NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, Parseable,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DIAG_BY_FAMILY},
    inet::{ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags},
};
use netlink_sys::{Socket, SocketAddr as NetlinkAddr, protocols::NETLINK_SOCK_DIAG};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::descriptors::{ProcFd, try_in_order};

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

/// Connections to one remote address and port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remote {
    pub established: u32,
    pub time_wait: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sockets {
    pub listeners: Vec<Listener>,
    /// Outgoing connections (local port in the ephemeral range) by remote.
    pub remotes: BTreeMap<SocketAddr, Remote>,
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

/// The inet_diag request of the sock_diag interface: one address family.
fn family_request(family: u8, states: StateFlags) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states,
            socket_id: id,
        })
        .into(),
    );
    packet.finalize();
    let mut request = vec![0; packet.buffer_len()];
    packet.serialize(&mut request[..]);
    request
}

/// The older TCPDIAG_GETSOCK request, still served by the same dump
/// (inet_diag_rcv_msg_compat): it asks with no address family, so IPv4
/// and IPv6 come from one walk of the kernel's socket hash instead of two.
/// The sock_diag crates do not build it: a netlink header, then
/// `struct inet_diag_req` (include/uapi/linux/inet_diag.h): family, two
/// prefix lengths, extensions, a zeroed 48-byte socket id, the states and
/// an unused table mask.
fn both_families_request(states: StateFlags) -> Vec<u8> {
    const BODY: usize = 4 + 48 + 4 + 4;
    let mut request = Vec::with_capacity(16 + BODY);
    request.extend_from_slice(&((16 + BODY) as u32).to_ne_bytes());
    request.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend_from_slice(&[0; 8]); // sequence number, port id
    request.extend_from_slice(&[0; 4 + 48]); // AF_UNSPEC, lengths, no extensions, any socket
    request.extend_from_slice(&states.bits().to_ne_bytes());
    request.extend_from_slice(&[0; 4]);
    request
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

/// Dumps IPv4 and IPv6 sockets in `states`: in one walk where the kernel
/// serves the older request (every kernel with sock_diag so far), else one
/// dump per family, where a kernel without IPv6 refuses the second. Only a
/// refusal before any socket was reported falls back, so nothing is
/// counted twice.
fn dump_both(states: StateFlags, mut each: impl FnMut(Entry)) -> io::Result<()> {
    let mut reported = false;
    let one_walk = dump(&both_families_request(states.clone()), |e| {
        reported = true;
        each(e)
    });
    if one_walk.is_ok() || reported {
        return one_walk;
    }
    dump(&family_request(AF_INET, states.clone()), &mut each)?;
    let _ = dump(&family_request(AF_INET6, states), &mut each);
    Ok(())
}

impl Sockets {
    /// Reads the namespace's sockets. `ephemeral` is ip_local_port_range:
    /// connections whose local port falls in it count as outgoing.
    /// `connections` is how many TCP sockets and TIME_WAIT entries the
    /// namespace holds (sockstat): no destination can hold more, so when
    /// that is below `near` ports the connections are not dumped at all.
    pub fn read(ephemeral: (u16, u16), connections: i64, near: i64) -> io::Result<Sockets> {
        let mut s = Sockets::default();
        let mut requests: HashMap<(IpAddr, u16), u32> = HashMap::new();
        // Listeners come from the listening hash alone (cheap); requests and
        // connections from one walk of the established hash per family.
        dump_both(StateFlags::LISTEN, |e| {
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
        let with_connections = connections >= near;
        let states = if with_connections {
            StateFlags::SYN_RECV | StateFlags::ESTABLISHED | StateFlags::TIME_WAIT
        } else {
            StateFlags::SYN_RECV
        };
        let outgoing = ephemeral.0..=ephemeral.1;
        dump_both(states, |e| match e.state {
            TCP_SYN_RECV => {
                *requests
                    .entry((e.id.source_address, e.id.source_port))
                    .or_insert(0) += 1;
            }
            TCP_ESTABLISHED | TCP_TIME_WAIT if outgoing.contains(&e.id.source_port) => {
                let remote = s
                    .remotes
                    .entry(SocketAddr::new(
                        e.id.destination_address,
                        e.id.destination_port,
                    ))
                    .or_default();
                if e.state == TCP_TIME_WAIT {
                    remote.time_wait += 1;
                } else {
                    remote.established += 1;
                }
            }
            _ => {}
        })?;
        for ((addr, port), n) in requests {
            // A request belongs to the listener on its port and address, or
            // to the wildcard listener on its port.
            let exact = s
                .listeners
                .iter()
                .position(|l| l.local.port() == port && l.local.ip() == addr);
            let wildcard = || {
                s.listeners
                    .iter()
                    .position(|l| l.local.port() == port && l.local.ip().is_unspecified())
            };
            if let Some(i) = exact.or_else(wildcard) {
                s.listeners[i].syn_recv += n;
            }
        }
        s.listeners.sort_by_key(|l| (l.local.port(), l.local.ip()));
        s.name_listeners();
        Ok(s)
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
