//! `Finding`: pure rules from evidence (counters, sockets, live sysctls)
//! to named limits, with the numbers behind them, the keys involved, what
//! to do, and, where a sysctl helps, target values for a profile.
//!
//! Severity: `critical` when a limit is being hit now and the evidence
//! agrees from two sides (a counter rising and a queue full); `warning`
//! when it is being hit now; `info` for history (counters since boot with
//! `--interval 0`, which cannot tell old drops from new ones) and for
//! settings that have no effect. Only warning and above make doctor exit 1.
//!
//! What increments each counter is in the kernel reference (measured on
//! 6.18): ListenOverflows counts accept-queue drops; ListenDrops counts
//! every listener drop (ListenOverflows and TCPReqQFullDrop included);
//! TCPReqQFullDoCookies counts the decision to answer with a cookie.

use std::collections::BTreeMap;

use super::counters::{Movement, Sample};
use super::sockets::{Listener, Sockets};
use crate::explain::thousands;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: String,
    /// The numbers, one fact per entry.
    pub evidence: Vec<String>,
    pub keys: Vec<&'static str>,
    /// Local addresses of the listeners involved.
    pub listeners: Vec<String>,
    /// What to do, sysctl or not.
    pub advice: Vec<String>,
    /// Values a profile could set (only where a sysctl helps).
    pub targets: BTreeMap<String, String>,
}

/// The live sysctls the rules read (a key the kernel lacks is absent).
pub type Sysctls = BTreeMap<&'static str, String>;

/// Keys doctor reads.
pub const KEYS: [&str; 14] = [
    "net.core.somaxconn",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_tw_reuse_delay",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_max_orphans",
    "net.ipv4.tcp_orphan_retries",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_rto_max_ms",
];

/// Everything the rules look at.
pub struct Evidence<'a> {
    /// 0 with a single sample.
    pub interval_s: f64,
    pub counters: &'a BTreeMap<String, Movement>,
    pub sample: &'a Sample,
    /// Sockets now, and at the first sample (`None` with one sample).
    pub sockets: &'a Sockets,
    pub sockets_before: Option<&'a Sockets>,
    pub sysctls: &'a Sysctls,
    /// Removed keys still set by boot files: (key, "FILE:LINE").
    pub removed_in_boot_files: Vec<(String, String)>,
}

impl Evidence<'_> {
    fn int(&self, key: &str) -> Option<i64> {
        self.sysctls
            .get(key)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    fn pair(&self, key: &str) -> Option<(i64, i64)> {
        let mut it = self.sysctls.get(key)?.split_whitespace();
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    }

    fn moved(&self, name: &str) -> Option<&Movement> {
        self.counters.get(name)
    }

    /// How much a counter rose over the interval (0 with one sample).
    fn rise(&self, name: &str) -> i64 {
        self.moved(name).and_then(|m| m.delta).unwrap_or(0).max(0)
    }

    fn total(&self, name: &str) -> i64 {
        self.moved(name).map_or(0, |m| m.total)
    }

    fn single(&self) -> bool {
        self.interval_s <= 0.0
    }

    /// "rose 1,234 in 5 s (246.8/s)" or "1,234 since boot (3 h 2 min ago)".
    fn counter_text(&self, name: &str) -> String {
        let short = name.split('.').next_back().unwrap_or(name);
        match self.moved(name) {
            Some(Movement {
                delta: Some(d),
                per_s: Some(r),
                ..
            }) => format!(
                "{short} rose {} in {} ({}/s)",
                thousands(*d),
                seconds(self.interval_s),
                rate(*r)
            ),
            Some(m) => format!(
                "{short} is {} in total (since boot, or since this network namespace was created)",
                thousands(m.total)
            ),
            None => format!("{short}: not reported by this kernel"),
        }
    }

    /// Severity of counter evidence: rising now, or only history.
    fn counter_severity(&self, names: &[&str]) -> Option<Severity> {
        if names.iter().any(|n| self.rise(n) > 0) {
            Some(Severity::Warning)
        } else if self.single() && names.iter().any(|n| self.total(n) > 0) {
            Some(Severity::Info)
        } else {
            None
        }
    }
}

fn rate(r: f64) -> String {
    if r >= 10.0 {
        thousands(r.round() as i64)
    } else {
        format!("{r:.1}")
    }
}

fn seconds(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// "0.0.0.0:443 (nginx, pid 812)".
pub fn listener_name(l: &Listener) -> String {
    match &l.process {
        Some(p) => format!("{} ({}, pid {})", l.local, p.name, p.pid),
        None => l.local.to_string(),
    }
}

/// The accept queue is full: the kernel refuses the next connection once
/// it holds more than its cap (sk_acceptq_is_full).
pub fn is_full(l: &Listener) -> bool {
    l.accept_queue > l.accept_queue_max
}

/// What caps a listener's accept queue: "somaxconn" or "backlog".
pub fn cap(l: &Listener, somaxconn: Option<i64>) -> &'static str {
    match somaxconn {
        Some(s) if i64::from(l.accept_queue_max) >= s => "somaxconn",
        _ => "backlog",
    }
}

/// Every rule, in a stable order.
pub fn diagnose(e: &Evidence) -> Vec<Finding> {
    let mut out: Vec<Finding> = [
        accept_queue_overflow(e),
        syn_queue_overflow(e),
        syn_flood(e),
        port_exhaustion(e),
        time_wait_overflow(e),
        orphan_pressure(e),
        conntrack_full(e),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.extend(inert_settings(e));
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

fn finding(id: &'static str, severity: Severity, summary: String) -> Finding {
    Finding {
        id,
        severity,
        summary,
        evidence: Vec::new(),
        keys: Vec::new(),
        listeners: Vec::new(),
        advice: Vec::new(),
        targets: BTreeMap::new(),
    }
}

fn accept_queue_overflow(e: &Evidence) -> Option<Finding> {
    let somaxconn = e.int("net.core.somaxconn");
    let full: Vec<&Listener> = e.sockets.listeners.iter().filter(|l| is_full(l)).collect();
    let counter = e.counter_severity(&["TcpExt.ListenOverflows"]);
    if full.is_empty() && counter.is_none() {
        return None;
    }
    let severity = match (counter, full.is_empty()) {
        (Some(Severity::Warning), false) => Severity::Critical,
        (Some(s), true) => s,
        _ => Severity::Warning,
    };
    let mut f = finding(
        "accept-queue-overflow",
        severity,
        "connections are dropped because a listener's accept queue is full".into(),
    );
    f.keys = vec!["net.core.somaxconn", "net.ipv4.tcp_abort_on_overflow"];
    if counter.is_some() {
        f.evidence.push(e.counter_text("TcpExt.ListenOverflows"));
    }
    for l in &full {
        let why = match cap(l, somaxconn) {
            "somaxconn" => format!("capped at {} by somaxconn", l.accept_queue_max),
            _ => format!(
                "capped at {} by the backlog it passed to listen() (somaxconn is {})",
                l.accept_queue_max,
                somaxconn.map_or("unknown".into(), |s| s.to_string())
            ),
        };
        f.evidence.push(format!(
            "listener {} holds {} connections waiting for accept(), {why}",
            listener_name(l),
            l.accept_queue
        ));
        f.listeners.push(l.local.to_string());
    }
    // Full in both samples: the application does not keep up at all.
    let stuck: Vec<&&Listener> = full
        .iter()
        .filter(|l| {
            e.sockets_before
                .is_some_and(|b| b.listeners.iter().any(|x| x.local == l.local && is_full(x)))
        })
        .collect();
    for l in &stuck {
        f.advice.push(format!(
            "{} stayed full for the whole {}: its process does not call accept() fast enough, and a longer queue only delays the drops; look at the application (workers, event loop) first",
            l.local,
            seconds(e.interval_s)
        ));
    }
    let by_somaxconn: Vec<&&Listener> = full
        .iter()
        .filter(|l| cap(l, somaxconn) == "somaxconn")
        .collect();
    let by_backlog: Vec<&&Listener> = full
        .iter()
        .filter(|l| cap(l, somaxconn) == "backlog")
        .collect();
    if let Some(s) = somaxconn
        && (!by_somaxconn.is_empty() || (full.is_empty() && severity >= Severity::Warning))
    {
        let target = (s.max(1) * 4).clamp(4096, 65535);
        let target = if target > s { target } else { s };
        if target > s {
            f.targets
                .insert("net.core.somaxconn".into(), target.to_string());
            f.advice.push(format!(
                "raise net.core.somaxconn from {s} to {target}; a listener gets the new cap only when it calls listen() again (restart it), and only if it asks for a backlog that large"
            ));
        }
    }
    for l in &by_backlog {
        f.advice.push(format!(
            "{} is capped by its own listen() backlog ({}): raising somaxconn does nothing for it; raise the backlog in the application's configuration (nginx: `listen ... backlog=N`; HAProxy: `backlog`; others: the listen() call)",
            listener_name(l),
            l.accept_queue_max
        ));
    }
    f.advice.push(match e.int("net.ipv4.tcp_abort_on_overflow") {
        Some(1) => "with tcp_abort_on_overflow=1 the server answers an overflowing handshake with a reset: clients see \"connection reset by peer\" at once".into(),
        _ => "with tcp_abort_on_overflow=0 the server drops the client's final ACK (or its SYN) and retries: clients see connect() succeed and then wait, or a slow connect, not an error".into(),
    });
    Some(f)
}

fn syn_queue_overflow(e: &Evidence) -> Option<Finding> {
    // ListenDrops counts every drop; what is left after accept-queue
    // overflows is SYNs dropped (queue full without cookies, the
    // tcp_max_syn_backlog quarter rule, memory).
    let rising_other = (e.rise("TcpExt.ListenDrops")
        - e.rise("TcpExt.ListenOverflows")
        - e.rise("TcpExt.TCPReqQFullDrop"))
    .max(0);
    let total_other = (e.total("TcpExt.ListenDrops")
        - e.total("TcpExt.ListenOverflows")
        - e.total("TcpExt.TCPReqQFullDrop"))
    .max(0);
    let reqfull = e.counter_severity(&["TcpExt.TCPReqQFullDrop"]);
    let severity = if e.rise("TcpExt.TCPReqQFullDrop") > 0 || rising_other > 0 {
        Severity::Warning
    } else if e.single() && (e.total("TcpExt.TCPReqQFullDrop") > 0 || total_other > 0) {
        Severity::Info
    } else {
        return None;
    };
    let mut f = finding(
        "syn-queue-overflow",
        severity,
        "SYNs are dropped before a handshake starts".into(),
    );
    f.keys = vec![
        "net.ipv4.tcp_syncookies",
        "net.ipv4.tcp_max_syn_backlog",
        "net.core.somaxconn",
    ];
    if reqfull.is_some() {
        f.evidence.push(format!(
            "{} (SYN queue full and tcp_syncookies=0)",
            e.counter_text("TcpExt.TCPReqQFullDrop")
        ));
    }
    let other_n = if e.single() {
        total_other
    } else {
        rising_other
    };
    if other_n > 0 {
        f.evidence.push(format!(
            "{} more listener drops than accept-queue overflows and full SYN queues ({}): SYNs refused by the tcp_max_syn_backlog rule (only with syncookies off) or for lack of memory",
            thousands(other_n),
            if e.single() { "since boot" } else { "in the interval" }
        ));
    }
    add_half_open_listeners(e, &mut f);
    match e.int("net.ipv4.tcp_syncookies") {
        Some(0) => {
            f.targets.insert("net.ipv4.tcp_syncookies".into(), "1".into());
            f.advice.push("turn tcp_syncookies on (1): when the SYN queue is full the kernel answers with a cookie instead of dropping the SYN".into());
            if let Some(m) = e.int("net.ipv4.tcp_max_syn_backlog") {
                let target = (m * 4).clamp(4096, 262_144);
                if target > m {
                    f.targets
                        .insert("net.ipv4.tcp_max_syn_backlog".into(), target.to_string());
                    f.advice.push(format!("raise tcp_max_syn_backlog from {m} to {target}: with cookies off, SYNs are refused once fewer than a quarter of it is free"));
                }
            }
        }
        _ => f.advice.push("tcp_syncookies is on, so a full SYN queue is answered with cookies: these drops have another cause (memory, routes); see the listeners' SYN_RECV counts".into()),
    }
    Some(f)
}

fn add_half_open_listeners(e: &Evidence, f: &mut Finding) {
    let mut busy: Vec<&Listener> = e
        .sockets
        .listeners
        .iter()
        .filter(|l| l.syn_recv > 0 && l.syn_recv * 2 >= l.accept_queue_max.max(1))
        .collect();
    busy.sort_by_key(|l| std::cmp::Reverse(l.syn_recv));
    for l in busy.into_iter().take(5) {
        f.evidence.push(format!(
            "listener {} has {} half-open (SYN_RECV) requests for a queue of {}",
            listener_name(l),
            l.syn_recv,
            l.accept_queue_max
        ));
        f.listeners.push(l.local.to_string());
    }
}

fn syn_flood(e: &Evidence) -> Option<Finding> {
    let names = [
        "TcpExt.TCPReqQFullDoCookies",
        "TcpExt.SyncookiesSent",
        "TcpExt.SyncookiesFailed",
    ];
    let severity = e.counter_severity(&names)?;
    let mut f = finding(
        "syn-flood",
        severity,
        "SYN queues overflow and the kernel answers with SYN cookies (a flood, or a burst larger than the queue)".into(),
    );
    f.keys = vec!["net.ipv4.tcp_syncookies", "net.ipv4.tcp_synack_retries"];
    for n in names {
        if e.total(n) > 0 {
            f.evidence.push(e.counter_text(n));
        }
    }
    add_half_open_listeners(e, &mut f);
    if let Some(r) = e.int("net.ipv4.tcp_synack_retries")
        && r > 2
    {
        let (now, then) = (
            crate::timing::synack_lifetime(r.unsigned_abs()),
            crate::timing::synack_lifetime(2),
        );
        f.targets
            .insert("net.ipv4.tcp_synack_retries".into(), "2".into());
        f.advice.push(format!(
            "lower tcp_synack_retries from {r} to 2: a half-open entry whose client never answers is freed after {} instead of {}",
            crate::timing::words(then),
            crate::timing::words(now)
        ));
    }
    if e.int("net.ipv4.tcp_syncookies") == Some(0) {
        f.targets
            .insert("net.ipv4.tcp_syncookies".into(), "1".into());
    }
    f.advice.push("cookies keep legitimate clients connecting during a flood, at the cost of TCP options the cookie cannot carry; SyncookiesFailed counts ACKs with invalid cookies (forged, or too late)".into());
    Some(f)
}

/// Usable ports for one destination, and whether TIME_WAIT reuse applies
/// to `remote`.
fn reuse_applies(e: &Evidence, remote: &std::net::SocketAddr) -> bool {
    let timestamps = e.int("net.ipv4.tcp_timestamps").unwrap_or(1) != 0;
    match e.int("net.ipv4.tcp_tw_reuse") {
        Some(1) => timestamps,
        Some(2) => timestamps && remote.ip().is_loopback(),
        _ => false,
    }
}

/// Ports held for one destination from which port-exhaustion is reported
/// (80% of the range).
pub fn port_threshold(usable: i64) -> i64 {
    (usable * 80 + 99) / 100
}

fn port_exhaustion(e: &Evidence) -> Option<Finding> {
    let (lo, hi) = e.pair("net.ipv4.ip_local_port_range")?;
    let usable = (hi - lo + 1).max(1);
    let mut worst: Vec<_> = e
        .sockets
        .remotes
        .iter()
        .map(|(pair, c)| {
            let reuse = reuse_applies(e, &pair.1);
            // With reuse, TIME_WAIT ports come back after tcp_tw_reuse_delay.
            let busy = i64::from(c.established) + if reuse { 0 } else { i64::from(c.time_wait) };
            (
                pair,
                busy,
                i64::from(c.established),
                i64::from(c.time_wait),
                reuse,
            )
        })
        .filter(|(_, busy, ..)| *busy >= port_threshold(usable))
        .collect();
    if worst.is_empty() {
        return None;
    }
    worst.sort_by_key(|w| std::cmp::Reverse(w.1));
    let fullest = worst[0].1;
    let severity = if fullest * 100 >= usable * 95 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut f = finding(
        "port-exhaustion",
        severity,
        "outgoing connections to one destination are running out of ephemeral ports".into(),
    );
    f.keys = vec!["net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse"];
    for ((local, remote), busy, est, tw, reuse) in worst.iter().take(5) {
        f.evidence.push(format!(
            "from {local} to {remote}: {est} established and {tw} in TIME_WAIT{}, {busy} of {usable} ports in ip_local_port_range ({lo} {hi}) held ({}%)",
            if *reuse { " (reusable: tcp_tw_reuse applies)" } else { "" },
            busy * 100 / usable
        ));
    }
    let any_tw_blocking = worst.iter().any(|w| !w.4 && w.3 > 0);
    let timestamps = e.int("net.ipv4.tcp_timestamps").unwrap_or(1) != 0;
    if any_tw_blocking && timestamps {
        f.targets.insert("net.ipv4.tcp_tw_reuse".into(), "1".into());
        let delay = e.int("net.ipv4.tcp_tw_reuse_delay").unwrap_or(1000);
        f.advice.push(format!(
            "set tcp_tw_reuse=1: connect() may then take over a TIME_WAIT port after {} (tcp_tw_reuse_delay) when timestamps prove it safe",
            crate::timing::words(delay.unsigned_abs())
        ));
    } else if any_tw_blocking {
        f.advice
            .push("tcp_tw_reuse needs TCP timestamps, which are off (tcp_timestamps=0)".into());
    }
    if usable < 55296 {
        f.targets
            .insert("net.ipv4.ip_local_port_range".into(), "10240 65535".into());
        f.advice.push(format!(
            "widen ip_local_port_range from {lo} {hi} ({usable} ports) to 10240 65535 (55,296); keep local services listening below 10240 or list them in ip_local_reserved_ports"
        ));
    }
    f.advice.push("reusing connections in the application (keep-alive, pooling) removes the need: each new connection to the same destination costs a port for 60 s after this side closes it".into());
    Some(f)
}

fn time_wait_overflow(e: &Evidence) -> Option<Finding> {
    let severity = e.counter_severity(&["TcpExt.TCPTimeWaitOverflow"])?;
    let mut f = finding(
        "time-wait-overflow",
        severity,
        "closed connections skip TIME_WAIT because tcp_max_tw_buckets is reached".into(),
    );
    f.keys = vec!["net.ipv4.tcp_max_tw_buckets"];
    f.evidence
        .push(e.counter_text("TcpExt.TCPTimeWaitOverflow"));
    let tw = e.sample.sockstat.get("tw").copied().unwrap_or(0);
    if let Some(max) = e.int("net.ipv4.tcp_max_tw_buckets") {
        f.evidence.push(format!(
            "{} TIME_WAIT (and FIN_WAIT2) entries now; tcp_max_tw_buckets is {}",
            thousands(tw),
            thousands(max)
        ));
        if max >= 0 {
            let target = (max.max(tw) * 2).max(4096);
            f.targets
                .insert("net.ipv4.tcp_max_tw_buckets".into(), target.to_string());
            f.advice.push(format!("raise tcp_max_tw_buckets from {max} to {target} (each entry costs a few hundred bytes): a connection closed without TIME_WAIT can answer a late segment from its peer with a reset"));
        }
    }
    Some(f)
}

fn orphan_pressure(e: &Evidence) -> Option<Finding> {
    let orphans = e.sample.sockstat.get("orphan").copied().unwrap_or(0);
    let max = e.int("net.ipv4.tcp_max_orphans");
    let near = max.is_some_and(|m| m > 0 && orphans * 100 >= m * 80);
    let counter = e.counter_severity(&["TcpExt.TCPAbortOnMemory"]);
    let severity = match (near, counter) {
        (true, Some(Severity::Warning)) => Severity::Critical,
        (true, _) => Severity::Warning,
        (false, Some(s)) => s,
        (false, None) => return None,
    };
    let mut f = finding(
        "orphan-pressure",
        severity,
        "closed connections still sending (orphans) are near the kernel's limit, or are killed for memory".into(),
    );
    f.keys = vec![
        "net.ipv4.tcp_max_orphans",
        "net.ipv4.tcp_orphan_retries",
        "net.ipv4.tcp_fin_timeout",
    ];
    if let Some(m) = max {
        f.evidence.push(format!(
            "{} orphaned sockets (all namespaces); tcp_max_orphans is {}",
            thousands(orphans),
            thousands(m)
        ));
        if near {
            f.targets
                .insert("net.ipv4.tcp_max_orphans".into(), (m * 2).to_string());
            f.advice.push(format!("raise tcp_max_orphans from {m} to {} if memory allows (each orphan can hold up to its send buffer)", m * 2));
        }
    }
    if counter.is_some() {
        f.evidence.push(e.counter_text("TcpExt.TCPAbortOnMemory"));
    }
    f.advice
        .push("lowering tcp_orphan_retries or tcp_fin_timeout frees orphans sooner".into());
    Some(f)
}

fn conntrack_full(e: &Evidence) -> Option<Finding> {
    let (count, max) = e.sample.conntrack?;
    if max <= 0 || count * 100 < max * 90 {
        return None;
    }
    let severity = if count >= max {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut f = finding(
        "conntrack-full",
        severity,
        "the connection-tracking table is (nearly) full: netfilter drops new connections, which clients see exactly as a listen drop".into(),
    );
    f.keys = vec!["net.netfilter.nf_conntrack_max"];
    f.evidence.push(format!(
        "nf_conntrack_count {} of nf_conntrack_max {} ({}%)",
        thousands(count),
        thousands(max),
        count * 100 / max
    ));
    f.advice.push("no TCP setting helps: raise net.netfilter.nf_conntrack_max (and the hash size) if memory allows, or exempt this traffic from tracking (a NOTRACK / notrack rule)".into());
    Some(f)
}

fn inert_settings(e: &Evidence) -> Vec<Finding> {
    let mut out = Vec::new();
    if let (Some(cookies), Some(backlog)) = (
        e.int("net.ipv4.tcp_syncookies"),
        e.int("net.ipv4.tcp_max_syn_backlog"),
    ) && cookies != 0
        && backlog > 4096
    {
        let mut f = finding(
            "inert-setting",
            Severity::Info,
            "tcp_max_syn_backlog is raised, but with tcp_syncookies on it is never consulted"
                .into(),
        );
        f.keys = vec!["net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies"];
        f.evidence.push(format!(
            "tcp_max_syn_backlog is {backlog} and tcp_syncookies is {cookies}: the SYN queue is bounded by each listener's backlog (min(backlog, somaxconn)), and the tcp_max_syn_backlog rule applies only with cookies off"
        ));
        out.push(f);
    }
    if let Some(s) = e.int("net.core.somaxconn")
        && s > 4096
    {
        let listeners = &e.sockets.listeners;
        let old: Vec<&Listener> = listeners
            .iter()
            .filter(|l| l.accept_queue_max == 4096)
            .collect();
        if !old.is_empty() && listeners.iter().all(|l| l.accept_queue_max <= 4096) {
            let mut f = finding(
                "inert-setting",
                Severity::Info,
                format!("somaxconn is {s}, but no listener uses more than 4096"),
            );
            f.keys = vec!["net.core.somaxconn"];
            for l in old.iter().take(5) {
                f.evidence.push(format!(
                    "listener {} is capped at 4096: it called listen() before somaxconn was raised, or asks for 4096; it gets the new cap only when it calls listen() again",
                    listener_name(l)
                ));
                f.listeners.push(l.local.to_string());
            }
            out.push(f);
        }
    }
    for (key, at) in &e.removed_in_boot_files {
        let mut f = finding(
            "inert-setting",
            Severity::Info,
            format!("{key} is set at boot, but this kernel no longer has it"),
        );
        f.evidence.push(format!(
            "{at} sets {key}; the loader's write fails at every boot"
        ));
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::counters::movements;
    use crate::doctor::sockets::Remote;

    fn listener(addr: &str, q: u32, max: u32, syn: u32) -> Listener {
        Listener {
            local: addr.parse().unwrap(),
            accept_queue: q,
            accept_queue_max: max,
            syn_recv: syn,
            inode: 1,
            uid: 0,
            process: None,
        }
    }

    struct Case {
        before: Sample,
        after: Sample,
        sockets: Sockets,
        sysctls: Sysctls,
        interval: f64,
    }

    impl Case {
        fn new() -> Case {
            let mut sysctls = Sysctls::new();
            for (k, v) in [
                ("net.core.somaxconn", "4096"),
                ("net.ipv4.tcp_syncookies", "1"),
                ("net.ipv4.tcp_max_syn_backlog", "2048"),
                ("net.ipv4.tcp_synack_retries", "5"),
                ("net.ipv4.ip_local_port_range", "32768 60999"),
                ("net.ipv4.tcp_tw_reuse", "2"),
                ("net.ipv4.tcp_timestamps", "1"),
                ("net.ipv4.tcp_max_tw_buckets", "131072"),
                ("net.ipv4.tcp_max_orphans", "131072"),
                ("net.ipv4.tcp_abort_on_overflow", "0"),
            ] {
                sysctls.insert(k, v.to_string());
            }
            Case {
                before: Sample::default(),
                after: Sample::default(),
                sockets: Sockets::default(),
                sysctls,
                interval: 5.0,
            }
        }
        fn counter(mut self, name: &str, before: i64, after: i64) -> Case {
            self.before.counters.insert(name.into(), before);
            self.after.counters.insert(name.into(), after);
            self
        }
        fn run(&self) -> Vec<Finding> {
            let m = movements(
                (self.interval > 0.0).then_some(&self.before),
                &self.after,
                self.interval,
            );
            diagnose(&Evidence {
                interval_s: self.interval,
                counters: &m,
                sample: &self.after,
                sockets: &self.sockets,
                sockets_before: None,
                sysctls: &self.sysctls,
                removed_in_boot_files: Vec::new(),
            })
        }
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id).collect()
    }

    #[test]
    fn a_quiet_host_has_no_findings() {
        let mut c = Case::new().counter("TcpExt.ListenOverflows", 3, 3);
        c.sockets.listeners.push(listener("0.0.0.0:80", 0, 4096, 0));
        assert!(c.run().is_empty());
    }

    #[test]
    fn a_full_listener_capped_by_somaxconn_gets_a_target() {
        let mut c = Case::new().counter("TcpExt.ListenOverflows", 0, 120);
        c.sysctls.insert("net.core.somaxconn", "128".into());
        c.sockets
            .listeners
            .push(listener("0.0.0.0:443", 129, 128, 0));
        let f = c.run();
        assert_eq!(ids(&f), ["accept-queue-overflow"]);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].targets["net.core.somaxconn"], "4096");
        assert!(
            f[0].evidence[0].contains("ListenOverflows rose 120 in 5 s (24/s)"),
            "{:?}",
            f[0].evidence
        );
        assert!(f[0].evidence[1].contains("capped at 128 by somaxconn"));
    }

    #[test]
    fn a_full_listener_capped_by_its_backlog_gets_no_sysctl() {
        let mut c = Case::new();
        c.sockets
            .listeners
            .push(listener("127.0.0.1:8080", 5, 4, 0));
        let f = c.run();
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].targets.is_empty());
        assert!(
            f[0].advice
                .iter()
                .any(|a| a.contains("raising somaxconn does nothing"))
        );
    }

    #[test]
    fn counters_since_boot_are_history() {
        let mut c = Case::new().counter("TcpExt.TCPReqQFullDoCookies", 0, 40);
        c.interval = 0.0;
        let f = c.run();
        assert_eq!(ids(&f), ["syn-flood"]);
        assert_eq!(f[0].severity, Severity::Info);
    }

    #[test]
    fn syn_drops_without_cookies_suggest_cookies() {
        let mut c = Case::new()
            .counter("TcpExt.TCPReqQFullDrop", 0, 50)
            .counter("TcpExt.ListenDrops", 0, 50);
        c.sysctls.insert("net.ipv4.tcp_syncookies", "0".into());
        let f = c.run();
        assert_eq!(ids(&f), ["syn-queue-overflow"]);
        assert_eq!(f[0].targets["net.ipv4.tcp_syncookies"], "1");
        assert_eq!(f[0].targets["net.ipv4.tcp_max_syn_backlog"], "8192");
    }

    #[test]
    fn ports_held_by_time_wait_count_unless_reuse_applies() {
        let mut c = Case::new();
        c.sysctls
            .insert("net.ipv4.ip_local_port_range", "40000 40009".into());
        c.sockets.remotes.insert(
            ("10.0.0.1".parse().unwrap(), "10.0.0.2:80".parse().unwrap()),
            Remote {
                established: 1,
                time_wait: 9,
            },
        );
        let f = c.run();
        assert_eq!(ids(&f), ["port-exhaustion"]);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].targets["net.ipv4.tcp_tw_reuse"], "1");
        // With reuse on, the TIME_WAIT ports come back: no finding.
        c.sysctls.insert("net.ipv4.tcp_tw_reuse", "1".into());
        assert!(c.run().is_empty());
    }

    #[test]
    fn conntrack_near_full_has_no_tcp_target() {
        let mut c = Case::new();
        c.after.conntrack = Some((65000, 65536));
        let f = c.run();
        assert_eq!(ids(&f), ["conntrack-full"]);
        assert!(f[0].targets.is_empty());
    }

    #[test]
    fn orphans_near_the_limit() {
        let mut c = Case::new().counter("TcpExt.TCPAbortOnMemory", 0, 3);
        c.after.sockstat.insert("orphan".into(), 120_000);
        let f = c.run();
        assert_eq!(ids(&f), ["orphan-pressure"]);
        assert_eq!(f[0].severity, Severity::Critical);
    }

    #[test]
    fn raised_syn_backlog_with_cookies_is_inert() {
        let mut c = Case::new();
        c.sysctls
            .insert("net.ipv4.tcp_max_syn_backlog", "65536".into());
        let f = c.run();
        assert_eq!(ids(&f), ["inert-setting"]);
        assert_eq!(f[0].severity, Severity::Info);
    }

    #[test]
    fn time_wait_overflow_targets_twice_the_entries() {
        let mut c = Case::new().counter("TcpExt.TCPTimeWaitOverflow", 10, 30);
        c.sysctls
            .insert("net.ipv4.tcp_max_tw_buckets", "5000".into());
        c.after.sockstat.insert("tw".into(), 5000);
        let f = c.run();
        assert_eq!(f[0].targets["net.ipv4.tcp_max_tw_buckets"], "10000");
    }
}
