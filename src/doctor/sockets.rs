//! `Sockets`: the TCP sockets of the calling thread's network namespace,
//! as `ss` sees them, through sock_diag (netlink inet_diag): listeners with
//! their accept queue (Recv-Q) and its cap (Send-Q = min(backlog,
//! somaxconn)), half-open requests per listener, and established and
//! TIME_WAIT connections per remote address and port. One dump per address
//! family; no per-connection work beyond counting.
//!
//! Listeners are named after their process from /proc/PID/fd socket
//! inodes: only listeners, and the walk stops once all are found. Other
//! users' processes need root; the count of listeners left unnamed is kept
//! so the report can say so.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
};
use netlink_sys::{Socket, SocketAddr as NetlinkAddr, protocols::NETLINK_SOCK_DIAG};

const TCP_ESTABLISHED: u8 = 1;
const TCP_SYN_RECV: u8 = 3;
const TCP_TIME_WAIT: u8 = 6;
const TCP_LISTEN: u8 = 10;

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

/// Dumps LISTEN, SYN_RECV, ESTABLISHED and TIME_WAIT TCP sockets of one
/// family, calling `each` per socket.
fn dump(family: u8, mut each: impl FnMut(Entry)) -> io::Result<()> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;
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
            states: StateFlags::LISTEN
                | StateFlags::SYN_RECV
                | StateFlags::ESTABLISHED
                | StateFlags::TIME_WAIT,
            socket_id: id,
        })
        .into(),
    );
    packet.finalize();
    let mut request = vec![0; packet.buffer_len()];
    packet.serialize(&mut request[..]);
    socket.send(&request, 0)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = <NetlinkMessage<SockDiagMessage>>::deserialize(&buf[offset..size])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let h = r.header;
                    each(Entry {
                        state: h.state,
                        id: h.socket_id,
                        recv_queue: h.recv_queue,
                        send_queue: h.send_queue,
                        inode: h.inode,
                        uid: h.uid,
                    });
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(e.to_io());
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

impl Sockets {
    /// Reads the namespace's sockets. `ephemeral` is ip_local_port_range:
    /// connections whose local port falls in it count as outgoing.
    pub fn read(ephemeral: (u16, u16)) -> io::Result<Sockets> {
        let mut s = Sockets::default();
        let mut requests: HashMap<(IpAddr, u16), u32> = HashMap::new();
        for family in [AF_INET, AF_INET6] {
            let result = dump(family, |e| match e.state {
                TCP_LISTEN => s.listeners.push(Listener {
                    local: SocketAddr::new(e.id.source_address, e.id.source_port),
                    accept_queue: e.recv_queue,
                    accept_queue_max: e.send_queue,
                    syn_recv: 0,
                    inode: e.inode,
                    uid: e.uid,
                    process: None,
                }),
                TCP_SYN_RECV => {
                    *requests
                        .entry((e.id.source_address, e.id.source_port))
                        .or_insert(0) += 1;
                }
                TCP_ESTABLISHED | TCP_TIME_WAIT
                    if (ephemeral.0..=ephemeral.1).contains(&e.id.source_port) =>
                {
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
            });
            // A kernel built without IPv6 refuses the AF_INET6 dump.
            if let Err(err) = result
                && family == AF_INET
            {
                return Err(err);
            }
        }
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

    /// Finds each listener's process through /proc/PID/fd.
    fn name_listeners(&mut self) {
        let mut wanted: HashMap<u32, usize> = self
            .listeners
            .iter()
            .enumerate()
            .map(|(i, l)| (l.inode, i))
            .collect();
        wanted.remove(&0);
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                if wanted.is_empty() {
                    break;
                }
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
                    continue;
                };
                for fd in fds.flatten() {
                    if wanted.is_empty() {
                        break;
                    }
                    let Ok(target) = std::fs::read_link(fd.path()) else {
                        continue;
                    };
                    let Some(inode) = target
                        .to_str()
                        .and_then(|t| t.strip_prefix("socket:["))
                        .and_then(|t| t.strip_suffix(']'))
                        .and_then(|t| t.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    if let Some(i) = wanted.remove(&inode) {
                        let name = std::fs::read_to_string(entry.path().join("comm"))
                            .map(|c| c.trim_end().to_string())
                            .unwrap_or_default();
                        self.listeners[i].process = Some(Process { pid, name });
                    }
                }
            }
        }
        self.unnamed = self
            .listeners
            .iter()
            .filter(|l| l.process.is_none())
            .count();
    }
}
