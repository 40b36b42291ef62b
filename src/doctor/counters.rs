//! `Counters`: the kernel's TCP counters and socket totals for one network
//! namespace, read from /proc/thread-self/net (the calling thread's
//! namespace, see `netns`), and how they moved between two samples.
//!
//! /proc/net/netstat and /proc/net/snmp hold pairs of lines, a header of
//! names and a line of values with the same prefix (`TcpExt:`, `Tcp:`);
//! they are matched by name, never by position, since the set of columns
//! grows with the kernel. Names are kept as `TcpExt.ListenOverflows`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::root::Root;

/// One sample of every counter and total doctor reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// `Prefix.Name` → value, from netstat and snmp (Tcp, TcpExt, IpExt).
    pub counters: BTreeMap<String, i64>,
    /// sockstat's TCP line: inuse, orphan, tw, alloc, mem (pages), summed
    /// with sockstat6's inuse.
    pub sockstat: BTreeMap<String, i64>,
    /// Seconds since boot (/proc/uptime).
    pub uptime_s: f64,
    /// nf_conntrack_count and nf_conntrack_max, when conntrack is loaded.
    pub conntrack: Option<(i64, i64)>,
}

/// The prefixes doctor keeps (the files also carry Ip, Icmp, Udp, MPTcpExt...).
const KEPT: [&str; 3] = ["Tcp", "TcpExt", "IpExt"];

/// Parses netstat/snmp text: pairs of `Prefix: names...` / `Prefix: values...`.
pub fn parse_pairs(text: &str, into: &mut BTreeMap<String, i64>) {
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some((prefix, names)), Some((prefix2, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if prefix != prefix2 || !KEPT.contains(&prefix) {
            continue;
        }
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = value.parse::<i64>() {
                into.insert(format!("{prefix}.{name}"), v);
            }
        }
    }
}

/// Parses sockstat's `TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 243` line.
pub fn parse_sockstat(text: &str, into: &mut BTreeMap<String, i64>) {
    for line in text.lines() {
        let Some(rest) = line
            .strip_prefix("TCP: ")
            .or_else(|| line.strip_prefix("TCP6: "))
        else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        for pair in words.chunks(2) {
            if let [name, value] = pair
                && let Ok(v) = value.parse::<i64>()
            {
                *into.entry((*name).to_string()).or_insert(0) += v;
            }
        }
    }
}

impl Sample {
    /// Reads every source once. A missing file leaves its part empty (a
    /// kernel without IPv6 has no sockstat6).
    pub fn read(root: &Root) -> Sample {
        let dir = if root.meta(Path::new("/proc/thread-self/net"), true).is_ok() {
            "/proc/thread-self/net"
        } else {
            "/proc/net"
        };
        let read = |name: &str| {
            root.read_string(&Path::new(dir).join(name), 1 << 20)
                .unwrap_or_default()
        };
        let mut s = Sample::default();
        parse_pairs(&read("netstat"), &mut s.counters);
        parse_pairs(&read("snmp"), &mut s.counters);
        parse_sockstat(&read("sockstat"), &mut s.sockstat);
        // sockstat6 has only inuse: the tw and orphan counts are shared.
        let mut v6 = BTreeMap::new();
        parse_sockstat(&read("sockstat6"), &mut v6);
        if let Some(n) = v6.get("inuse") {
            *s.sockstat.entry("inuse".into()).or_insert(0) += n;
        }
        s.uptime_s = root
            .read_string(Path::new("/proc/uptime"), 4096)
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let int = |key: &str| {
            root.read_proc(&Path::new("/proc/sys/net/netfilter").join(key))
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
        };
        s.conntrack = int("nf_conntrack_count").zip(int("nf_conntrack_max"));
        s
    }

    pub fn get(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// A counter over the sampling interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Movement {
    pub total: i64,
    /// `None` with a single sample (`--interval 0`).
    pub delta: Option<i64>,
    pub per_s: Option<f64>,
}

/// Every counter of `after`, with its change since `before` over `seconds`.
pub fn movements(
    before: Option<&Sample>,
    after: &Sample,
    seconds: f64,
) -> BTreeMap<String, Movement> {
    after
        .counters
        .iter()
        .map(|(name, &total)| {
            let delta = before.map(|b| total - b.get(name));
            let per_s = delta.filter(|_| seconds > 0.0).map(|d| d as f64 / seconds);
            (
                name.clone(),
                Movement {
                    total,
                    delta,
                    per_s,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_matched_by_name_and_prefix() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 3 12 15\nIpExt: InNoRoutes\nIpExt: 7\nMPTcpExt: MPCapableSYNRX\nMPTcpExt: 1\n";
        let mut m = BTreeMap::new();
        parse_pairs(text, &mut m);
        assert_eq!(m["TcpExt.ListenOverflows"], 12);
        assert_eq!(m["TcpExt.ListenDrops"], 15);
        assert_eq!(m["IpExt.InNoRoutes"], 7);
        assert!(!m.contains_key("MPTcpExt.MPCapableSYNRX"));
        // A negative value (Tcp: MaxConn -1) is kept.
        parse_pairs("Tcp: RtoMin MaxConn\nTcp: 200 -1\n", &mut m);
        assert_eq!(m["Tcp.MaxConn"], -1);
    }

    #[test]
    fn sockstat_tcp_line() {
        let mut m = BTreeMap::new();
        parse_sockstat(
            "sockets: used 10\nTCP: inuse 1 orphan 2 tw 30 alloc 4 mem 243\nUDP: inuse 0 mem 0\n",
            &mut m,
        );
        assert_eq!(m["tw"], 30);
        assert_eq!(m["orphan"], 2);
        assert_eq!(m["mem"], 243);
        assert!(!m.contains_key("used"));
    }

    #[test]
    fn movements_need_two_samples_for_a_rate() {
        let mut a = Sample::default();
        a.counters.insert("TcpExt.ListenOverflows".into(), 10);
        let mut b = a.clone();
        b.counters.insert("TcpExt.ListenOverflows".into(), 40);
        let m = movements(Some(&a), &b, 5.0);
        let o = m["TcpExt.ListenOverflows"];
        assert_eq!((o.total, o.delta, o.per_s), (40, Some(30), Some(6.0)));
        let single = movements(None, &b, 0.0)["TcpExt.ListenOverflows"];
        assert_eq!((single.delta, single.per_s), (None, None));
    }
}
