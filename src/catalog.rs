//! The parameter catalog: every sysctl tcptune knows, as data.
//!
//! Each entry records what the kernel enforces (value shape and range, as
//! measured on Linux 6.18 inside a fresh network namespace), the built-in
//! default, whether the knob is per network namespace, version notes and a
//! plain-language explanation. Nothing here touches the system; the
//! `catalog_ranges` test checks every range against the live kernel.

/// The shape of a value, which decides parsing, comparison and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain integer.
    Int,
    /// Seconds, stored by the kernel as jiffies (`proc_dointvec_jiffies`).
    Seconds,
    /// Milliseconds.
    Millis,
    /// Two integers, "low high" (the kernel prints them with a tab).
    Pair,
}

/// Inclusive bounds the kernel's handler enforces (EINVAL outside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

impl Range {
    pub fn contains(&self, v: i64) -> bool {
        self.min <= v && v <= self.max
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.min, self.max)
    }
}

const INT: Range = Range {
    min: i32::MIN as i64,
    max: i32::MAX as i64,
};
const U8: Range = Range { min: 0, max: 255 };
/// `proc_dointvec_jiffies` rejects |v| > INT_MAX/HZ. HZ is a build option
/// (100..1000) userspace cannot read, so we use the bound that holds for
/// every HZ: INT_MAX/1000. Nobody needs a timeout above 24 days.
const SECONDS: Range = Range {
    min: -2_147_483,
    max: 2_147_483,
};

/// Whether a knob exists in every network namespace or only the initial one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    PerNetns,
    InitNetnsOnly,
}

/// The kernel's built-in default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    Fixed(&'static str),
    /// Computed at boot from the machine (e.g. the TCP hash table size).
    Derived(&'static str),
}

#[derive(Debug)]
pub struct Param {
    pub key: &'static str,
    pub alias: &'static str,
    pub kind: Kind,
    pub range: Range,
    pub default: Default,
    pub scope: Scope,
    pub unit: &'static str,
    pub versions: &'static str,
    /// One line: what the knob controls.
    pub summary: &'static str,
    /// The trade-off, and when to raise or lower it.
    pub detail: &'static str,
    /// Names for particular values (e.g. 2 = loopback only).
    pub meanings: &'static [(i64, &'static str)],
}

/// A key the kernel no longer has. A profile that sets it is an error.
#[derive(Debug)]
pub struct Removed {
    pub key: &'static str,
    pub alias: &'static str,
    pub since: &'static str,
    pub why: &'static str,
    pub instead: &'static str,
}

pub static REMOVED: &[Removed] = &[Removed {
    key: "net.ipv4.tcp_tw_recycle",
    alias: "tcp_tw_recycle",
    since: "Linux 4.12",
    why: "it dropped connections from clients behind NAT (their timestamps are not monotonic across hosts) and broke for every peer once per-connection timestamp offsets arrived in 4.10",
    instead: "use tcp_tw_reuse (outgoing connections only) and a wider ip_local_port_range; TIME_WAIT on the server side is harmless",
}];

pub static PARAMS: &[Param] = &[
    Param {
        key: "net.ipv4.tcp_max_syn_backlog",
        alias: "tcp_max_syn_backlog",
        kind: Kind::Int,
        range: INT,
        default: Default::Derived("max(128, TCP hash buckets / 128), 128..4096"),
        scope: Scope::PerNetns,
        unit: "requests",
        versions: "Not the SYN queue size since Linux 4.4 (the listen backlog is). Per netns since 4.11. Default was hash/256 (at most 2048) before 5.4.",
        summary: "With tcp_syncookies=0 only: keeps the last quarter of the SYN queue for peers TCP has seen before.",
        detail: "Much copied advice says this sizes the SYN (half-open) queue. Since Linux 4.4 the SYN queue is bounded by the listener's accept backlog, min(listen() backlog, somaxconn). This value is read only when tcp_syncookies is 0: a SYN from a peer with no TCP metrics entry is dropped once fewer than a quarter of max_syn_backlog slots remain. With syncookies on (the default) it has no effect. Raise it together with tcp_syncookies=0 only if you must avoid cookies.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_synack_retries",
        alias: "tcp_synack_retries",
        kind: Kind::Int,
        range: U8,
        default: Default::Fixed("5"),
        scope: Scope::PerNetns,
        unit: "retransmissions",
        versions: "Per netns since 4.6. u8 (0..255) since 5.13; a plain int before.",
        summary: "SYN-ACK retransmissions before a half-open connection is dropped.",
        detail: "Each retry doubles the wait (1, 2, 4, ... s, capped at 120 s), so the default 5 keeps a half-open entry for 63 s. Every entry occupies the SYN queue, so under a SYN flood or with clients that vanish mid-handshake, a lower value frees the queue sooner; 2 (7 s) still covers a lost packet or two. Raise it only for very lossy, high-latency links. A listener's TCP_SYNCNT overrides it, and the kernel lowers it toward 2 by itself when the queue is more than half full.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_syn_retries",
        alias: "tcp_syn_retries",
        kind: Kind::Int,
        range: Range { min: 1, max: 127 },
        default: Default::Fixed("6"),
        scope: Scope::PerNetns,
        unit: "retransmissions",
        versions: "Per netns since 4.6. Since 6.5, tcp_syn_linear_timeouts adds extra, linearly spaced SYNs first.",
        summary: "SYN retransmissions before connect() gives up with ETIMEDOUT.",
        detail: "Sets how long an outgoing connect() waits for an unreachable peer: 131 s at the default 6 on Linux 6.5 and later (127 s before). Clients that fail over between backends want a short value (2 or 3 gives 7 or 19 s) so a dead backend is noticed quickly; keep the default for links with heavy loss. A socket's TCP_SYNCNT overrides it.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_syncookies",
        alias: "tcp_syncookies",
        kind: Kind::Int,
        range: U8,
        default: Default::Fixed("1"),
        scope: Scope::PerNetns,
        unit: "",
        versions: "Needs CONFIG_SYN_COOKIES. Per netns since 4.6.",
        summary: "Answer SYNs with a cookie, storing nothing, when the SYN queue is full.",
        detail: "The defence against SYN floods: when a listener's SYN queue is full, the kernel encodes the connection in the SYN-ACK's sequence number instead of keeping state, so a flood cannot exhaust memory or lock out real clients. Cookies lose some TCP options on old kernels without timestamps. 1 (the default) sends cookies only on overflow; 2 sends them always; 0 drops SYNs when the queue is full. Keep 1 on anything exposed to the internet.",
        meanings: &[
            (0, "never send cookies: drop SYNs when the queue is full"),
            (1, "send cookies when the SYN queue overflows"),
            (2, "always send cookies"),
        ],
    },
    Param {
        key: "net.ipv4.tcp_abort_on_overflow",
        alias: "tcp_abort_on_overflow",
        kind: Kind::Int,
        range: U8,
        default: Default::Fixed("0"),
        scope: Scope::PerNetns,
        unit: "",
        versions: "Per netns since 4.15. u8 since 5.13.",
        summary: "Reset, rather than silently drop, a handshake whose accept queue is full.",
        detail: "Decides what happens when the final ACK of a handshake arrives and the listener's accept queue is full. 0 (default) drops the ACK and keeps retransmitting the SYN-ACK, so a brief overload resolves itself when the application catches up. Non-zero sends an RST at once: the client sees ECONNRESET on a connection it thought was established. Turn it on only when clients must fail fast and retry elsewhere and you are sure the overload is not a short burst.",
        meanings: &[
            (0, "drop the final ACK and retry"),
            (1, "send a reset to the client"),
        ],
    },
    Param {
        key: "net.core.somaxconn",
        alias: "somaxconn",
        kind: Kind::Int,
        range: Range {
            min: 0,
            max: i32::MAX as i64,
        },
        default: Default::Fixed("4096"),
        scope: Scope::PerNetns,
        unit: "connections",
        versions: "Default 4096 since Linux 5.4 (128 before). Values above 65535 wrap before 4.1. Visible in user-namespace containers since about 6.3.",
        summary: "Upper limit on a listen() backlog: the accept queue is min(backlog, somaxconn).",
        detail: "Caps the backlog an application passes to listen(); the accept queue (and, since 4.4, the SYN queue) of that listener is min(backlog, somaxconn). It is read only when listen() is called: listeners that are already open keep their old limit until the service restarts. Raising it helps only if the application asks for a larger backlog too (nginx 'listen ... backlog=', HAProxy 'backlog'). Look at ListenOverflows in /proc/net/netstat before raising it.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_fin_timeout",
        alias: "tcp_fin_timeout",
        kind: Kind::Seconds,
        range: SECONDS,
        default: Default::Fixed("60"),
        scope: Scope::PerNetns,
        unit: "s",
        versions: "Per netns since 4.6.",
        summary: "How long an orphaned socket waits in FIN_WAIT2 for the peer's FIN.",
        detail: "After the application closes a socket and the peer acknowledged our FIN but never sends its own, the socket sits in FIN_WAIT2 for this long. Lower it (15-30 s) on servers that see many half-dead peers. It does NOT shorten TIME_WAIT, which is fixed at 60 s in the kernel; most advice that lowers it to fight TIME_WAIT is mistaken. Values of 0 or below mean 3.5 retransmission timeouts. Above 60 it does not mean what it says: the kernel keeps the socket f - 60 s and then a timewait entry as long again, 2 x (f - 60) s in all (61 gives 2 s, 90 gives 60 s, 140 gives 160 s; measured).",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_tw_reuse",
        alias: "tcp_tw_reuse",
        kind: Kind::Int,
        range: Range { min: 0, max: 2 },
        default: Default::Fixed("2"),
        scope: Scope::PerNetns,
        unit: "",
        versions: "Value 2 and default 2 since 2018 (4.19 era); a boolean before. Per netns since 4.11.",
        summary: "Let connect() take over a TIME_WAIT port pair when timestamps make it safe.",
        detail: "Helps hosts that open many short outgoing connections to the same destination (proxies, API clients) and run out of ephemeral ports: a new connection may reuse a 4-tuple still in TIME_WAIT once it is older than tcp_tw_reuse_delay (1 s), provided TCP timestamps were seen. It never affects incoming connections, so it does nothing for a server's TIME_WAIT sockets. 0 = off, 1 = on for all traffic, 2 (default) = loopback only. Unlike the removed tcp_tw_recycle it is safe behind NAT.",
        meanings: &[
            (0, "off"),
            (1, "reuse for all outgoing connections"),
            (2, "reuse for loopback connections only"),
        ],
    },
    Param {
        key: "net.ipv4.tcp_tw_reuse_delay",
        alias: "tcp_tw_reuse_delay",
        kind: Kind::Millis,
        range: Range { min: 1, max: 60000 },
        default: Default::Fixed("1000"),
        scope: Scope::PerNetns,
        unit: "ms",
        versions: "New in about Linux 6.14; the delay was a fixed 1 s before.",
        summary: "Minimum age of a TIME_WAIT socket before tcp_tw_reuse may take it over.",
        detail: "Only matters with tcp_tw_reuse enabled. Lower values let a client that churns connections to one destination recycle ports faster; the protection against old duplicate segments comes from timestamps, so going below 1000 ms is reasonable on low-latency networks.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_max_tw_buckets",
        alias: "tcp_max_tw_buckets",
        kind: Kind::Int,
        range: INT,
        default: Default::Derived("TCP hash buckets / 2"),
        scope: Scope::PerNetns,
        unit: "sockets",
        versions: "Per netns since 4.11.",
        summary: "Most TIME_WAIT (and FIN_WAIT2) minisockets kept at once.",
        detail: "When the limit is hit, closing sockets skip TIME_WAIT entirely and TCPTimeWaitOverflow counts them; a late segment from the peer may then draw a reset. A TIME_WAIT minisocket costs a few hundred bytes, so the default is rarely the problem; lowering it to 'fix' TIME_WAIT trades correctness for nothing. 0 disables TIME_WAIT, a negative value means no limit.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_keepalive_time",
        alias: "tcp_keepalive_time",
        kind: Kind::Seconds,
        range: SECONDS,
        default: Default::Fixed("7200"),
        scope: Scope::PerNetns,
        unit: "s",
        versions: "Per netns since 4.6.",
        summary: "Idle time before the first keepalive probe (sockets with SO_KEEPALIVE).",
        detail: "Only sockets that enable SO_KEEPALIVE send probes, and a socket's TCP_KEEPIDLE overrides this. Set it below the idle timeout of any NAT, firewall or load balancer on the path (often 350 s to 900 s), or those devices forget the flow and the next packet is dropped or reset. Lower values also find dead peers sooner at the cost of a probe per idle connection per interval.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_keepalive_intvl",
        alias: "tcp_keepalive_intvl",
        kind: Kind::Seconds,
        range: SECONDS,
        default: Default::Fixed("75"),
        scope: Scope::PerNetns,
        unit: "s",
        versions: "Per netns since 4.6.",
        summary: "Gap between keepalive probes once probing has started.",
        detail: "Together with tcp_keepalive_time and tcp_keepalive_probes it decides when a silent peer is declared dead: time + probes x intvl. A socket's TCP_KEEPINTVL overrides it.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_keepalive_probes",
        alias: "tcp_keepalive_probes",
        kind: Kind::Int,
        range: U8,
        default: Default::Fixed("9"),
        scope: Scope::PerNetns,
        unit: "probes",
        versions: "Per netns since 4.6. u8 since 5.13.",
        summary: "Unanswered keepalive probes before the connection is reset.",
        detail: "Fewer probes detect a dead peer sooner; more tolerate loss of probe packets. A socket's TCP_KEEPCNT overrides it, and TCP_USER_TIMEOUT replaces the count.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.ip_local_port_range",
        alias: "ip_local_port_range",
        kind: Kind::Pair,
        range: Range { min: 1, max: 65535 },
        default: Default::Fixed("32768 60999"),
        scope: Scope::PerNetns,
        unit: "ports",
        versions: "Per netns since 3.13. The default was \"32768 61000\" on old kernels. The low end must be at least ip_unprivileged_port_start (1024) since 4.11.",
        summary: "Ephemeral ports used by connect() and automatic binds.",
        detail: "A host can hold one connection per (source port, destination address, destination port) at a time, and a connection this host closes first keeps its port in TIME_WAIT for 60 s (with tcp_tw_reuse, connect() may take it over after tcp_tw_reuse_delay, 1 s). Hosts making many short outgoing connections to few destinations (proxies, scrapers, database clients without pooling) run out: widen the range, and keep the low end above any port a local service listens on. Ports listed in ip_local_reserved_ports are skipped. Keep the ends of different parity (the kernel logs a warning otherwise).",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_retries1",
        alias: "tcp_retries1",
        kind: Kind::Int,
        range: U8,
        default: Default::Fixed("3"),
        scope: Scope::PerNetns,
        unit: "retransmissions",
        versions: "Per netns since 4.6.",
        summary: "Retransmission budget after which TCP asks the routing layer for a new route.",
        detail: "It does not abort the connection (tcp_retries2 does): after this budget of retransmissions TCP asks the routing layer for a fresh route (dst_negative_advice), and probes a smaller path MTU only if tcp_mtu_probing is 1 or 2 (the default 0 does not). Rarely worth changing.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_retries2",
        alias: "tcp_retries2",
        kind: Kind::Int,
        range: U8,
        default: Default::Fixed("15"),
        scope: Scope::PerNetns,
        unit: "retransmissions",
        versions: "Per netns since 4.6. u8 since 5.13.",
        summary: "Retransmission time budget before an established connection with unacknowledged data is aborted.",
        detail: "Despite the name it is a time budget, computed as if the timeout doubled from 200 ms up to tcp_rto_max_ms (120 s): the default 15 gives 924.6 s. The budget is counted from the first retransmission and checked only when a retransmission timer expires, so the abort comes at the first expiry after it: 15 min 26 s to 17 min 25 s after the data was sent, depending on the path's retransmission timeout. Lower it (5-8: 13 s to 3 min 25 s) when a quick failover matters more than riding out a long outage; TCP_USER_TIMEOUT does the same per socket.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_orphan_retries",
        alias: "tcp_orphan_retries",
        kind: Kind::Int,
        range: U8,
        default: Default::Fixed("0"),
        scope: Scope::PerNetns,
        unit: "retransmissions",
        versions: "Per netns since 4.6. u8 since 5.13.",
        summary: "Retransmission budget for sockets the application has already closed.",
        detail: "Applies to orphans, e.g. a closed socket still in FIN_WAIT1 with unacknowledged data. 0, the default, means 8 (1 min 43 s to 3 min 25 s) while the backed-off retransmission timeout is below tcp_rto_max_ms; once it reaches that cap (with a lowered tcp_rto_max_ms), 0 means 0 and the socket is gone at that expiry. Busy web servers that close many connections to vanished clients may lower it to free memory sooner.",
        meanings: &[(
            0,
            "8 while the retransmission timeout is below tcp_rto_max_ms",
        )],
    },
    Param {
        key: "net.ipv4.tcp_syn_linear_timeouts",
        alias: "tcp_syn_linear_timeouts",
        kind: Kind::Int,
        range: Range { min: 0, max: 127 },
        default: Default::Fixed("4"),
        scope: Scope::PerNetns,
        unit: "retransmissions",
        versions: "New in Linux 6.5.",
        summary: "Extra SYN retransmissions sent at a fixed 1 s interval before exponential backoff starts.",
        detail: "Makes connect() recover faster from a lost SYN without shortening the total timeout much: at the default 4, tcp_syn_retries=6 gives 131 s instead of 127 s. 0 restores the classic exponential schedule.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_rto_max_ms",
        alias: "tcp_rto_max_ms",
        kind: Kind::Millis,
        range: Range {
            min: 1000,
            max: 120000,
        },
        default: Default::Fixed("120000"),
        scope: Scope::PerNetns,
        unit: "ms",
        versions: "New in about Linux 6.15.",
        summary: "Largest retransmission timeout: the cap on exponential backoff.",
        detail: "Lowering it makes a connection retry more often during a long outage, so it recovers sooner once the path is back, and shortens the time budgets of tcp_retries2 and tcp_syn_retries.",
        meanings: &[],
    },
    Param {
        key: "net.core.netdev_max_backlog",
        alias: "netdev_max_backlog",
        kind: Kind::Int,
        range: INT,
        default: Default::Fixed("1000"),
        scope: Scope::InitNetnsOnly,
        unit: "packets",
        versions: "Global (initial network namespace only).",
        summary: "Per-CPU queue of received packets waiting for the network stack.",
        detail: "Packets beyond it are dropped (column 2 of /proc/net/softnet_stat counts them). Raise it on hosts with fast NICs and RPS/RFS, loopback-heavy or veth-heavy (container) traffic when those drops grow.",
        meanings: &[],
    },
    Param {
        key: "net.ipv4.tcp_max_orphans",
        alias: "tcp_max_orphans",
        kind: Kind::Int,
        range: INT,
        default: Default::Derived("TCP hash buckets / 2"),
        scope: Scope::InitNetnsOnly,
        unit: "sockets",
        versions: "Global (initial network namespace only).",
        summary: "System-wide limit on TCP sockets no longer attached to a process.",
        detail: "Beyond it, orphans are reset at once and the kernel logs 'too many orphaned sockets'. Each can hold up to about 64 KB of unsent data, so the default scales with memory. Raise it only if that message appears and memory allows.",
        meanings: &[],
    },
];

/// Looks a parameter up by full key or short alias.
pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.key == name || p.alias == name)
}

/// Looks a removed key up by full key or short alias.
pub fn find_removed(name: &str) -> Option<&'static Removed> {
    REMOVED.iter().find(|r| r.key == name || r.alias == name)
}

/// The catalog name closest to `name`, when it is close enough to be a typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    let names = PARAMS.iter().flat_map(|p| [p.key, p.alias]);
    names
        .map(|n| (edit_distance(name, n), n))
        .filter(|(d, n)| *d <= 3.max(n.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| find(n).map_or(n, |p| p.key))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_aliases_are_unique_and_consistent() {
        let mut seen = std::collections::HashSet::new();
        for p in PARAMS {
            assert!(seen.insert(p.key), "{} twice", p.key);
            assert!(
                seen.insert(p.alias) || p.alias == p.key,
                "{} twice",
                p.alias
            );
            assert!(p.key.ends_with(p.alias), "{} alias {}", p.key, p.alias);
            if let Default::Fixed(d) = p.default {
                for part in d.split_whitespace() {
                    let v: i64 = part.parse().unwrap();
                    assert!(
                        p.range.contains(v),
                        "{} default {d} outside {}",
                        p.key,
                        p.range
                    );
                }
            }
        }
    }

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(
            suggest("tcp_synack_retry"),
            Some("net.ipv4.tcp_synack_retries")
        );
        assert_eq!(suggest("net.core.somaxcon"), Some("net.core.somaxconn"));
        assert_eq!(suggest("vm.swappiness"), None);
    }
}
