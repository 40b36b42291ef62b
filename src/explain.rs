//! `Effect`: what a parameter's value means in numbers on this machine
//! ("a half-open connection is dropped after 63 s"), and the sentence for a
//! change ("after 7 s instead of 63 s").
//!
//! Effects read other live values where the kernel's rules combine them
//! (keepalive's three knobs, `tcp_syn_linear_timeouts` for connect(),
//! `tcp_rto_max_ms` for every retransmission budget). Pure: the values and
//! `Facts` come in from the caller.

use crate::catalog::{self, Param};
use crate::plan::Snapshot;
use crate::timing;
use crate::value::Value;

/// Keys whose live values the effects below read besides the profile's.
pub const CONTEXT_KEYS: &[&str] = &[
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_mtu_probing",
    "net.ipv4.tcp_tw_reuse_delay",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_syn_linear_timeouts",
    "net.ipv4.tcp_rto_max_ms",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.ip_unprivileged_port_start",
];

/// Facts about this machine that are not sysctls.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// TCP sockets in LISTEN state in this network namespace.
    pub listeners: Option<usize>,
    pub cpus: Option<usize>,
}

/// The consequence of one value: `sentence` with `{}` standing for
/// `amount`. Keys that combine (keepalive) share a `group`.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub sentence: String,
    pub amount: String,
    /// The amount as a number and its unit ("s", "connections/s"...), for
    /// JSON; for a range, its upper end.
    pub quantity: Option<(f64, &'static str)>,
    /// A range's lower end, in the same unit.
    pub low: Option<f64>,
    pub group: Option<&'static str>,
    pub note: Option<String>,
}

impl Effect {
    fn new(sentence: impl Into<String>, amount: impl Into<String>) -> Effect {
        Effect {
            sentence: sentence.into(),
            amount: amount.into(),
            quantity: None,
            low: None,
            group: None,
            note: None,
        }
    }

    /// A duration that depends on the path: "3.2 s to 6.6 s".
    fn duration_range(sentence: impl Into<String>, (lo, hi): (u64, u64)) -> Effect {
        let amount = if timing::words(lo) == timing::words(hi) {
            timing::words(hi)
        } else {
            format!("{} to {}", timing::words(lo), timing::words(hi))
        };
        let mut e = Effect::new(sentence, amount).with(hi as f64 / 1000.0, "s");
        e.low = Some(lo as f64 / 1000.0);
        e
    }

    /// A duration in milliseconds, worded and as seconds.
    fn duration(sentence: impl Into<String>, ms: u64) -> Effect {
        Effect::new(sentence, timing::words(ms)).with(ms as f64 / 1000.0, "s")
    }

    fn with(mut self, value: f64, unit: &'static str) -> Effect {
        self.quantity = Some((value, unit));
        self
    }

    fn note(mut self, note: impl Into<String>) -> Effect {
        self.note = Some(note.into());
        self
    }

    /// The state in one sentence: "a half-open connection is dropped after 63 s".
    pub fn state(&self) -> String {
        self.sentence.replace("{}", &self.amount)
    }

    /// The change from `before` to `self`: "... after 7 s instead of 63 s".
    pub fn change_from(&self, before: &Effect) -> String {
        if before.amount == self.amount {
            return self.state();
        }
        self.sentence.replace(
            "{}",
            &format!("{} instead of {}", self.amount, before.amount),
        )
    }
}

/// An integer key's live value. Context keys outside the catalog
/// (tcp_timestamps, tcp_mtu_probing...) are read as text.
fn int(values: &Snapshot, key: &str) -> Option<i64> {
    match values.get(key)? {
        Value::Text(t) => t.trim().parse().ok(),
        v => v.as_int(),
    }
}

fn ms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn secs(v: i64) -> String {
    timing::words(ms(v).saturating_mul(1000))
}

fn meaning(p: &Param, v: i64) -> String {
    match p.meanings.iter().find(|(n, _)| *n == v) {
        Some((_, m)) => format!("{v} ({m})"),
        None if p.meanings.is_empty() => v.to_string(),
        None => format!(
            "{v} (same as {})",
            p.meanings
                .iter()
                .rfind(|(n, _)| *n != 0)
                .map_or(1, |(n, _)| *n)
        ),
    }
}

/// The effect of `key`'s value in `values`, if tcptune can word one.
pub fn effect(key: &str, values: &Snapshot, facts: &Facts) -> Option<Effect> {
    let p = catalog::find(key)?;
    let rto_max = int(values, "net.ipv4.tcp_rto_max_ms").map_or(timing::RTO_MAX_MS, ms);
    let v = values.get(key)?;
    if p.alias == "ip_local_port_range" {
        let Value::Pair(lo, hi) = v else { return None };
        let reuse = Reuse {
            mode: int(values, "net.ipv4.tcp_tw_reuse").unwrap_or(2),
            delay_ms: int(values, "net.ipv4.tcp_tw_reuse_delay").map_or(1000, ms),
            timestamps: int(values, "net.ipv4.tcp_timestamps").unwrap_or(1) != 0,
        };
        return Some(port_range(
            *lo,
            *hi,
            int(values, "net.ipv4.ip_unprivileged_port_start"),
            reuse,
        ));
    }
    let n = v.as_int()?;
    let e = match p.alias {
        "tcp_synack_retries" => {
            let e = Effect::duration(
                format!(
                    "a half-open connection whose client sends no more SYNs (a spoofed SYN, a vanished client) is dropped after {{}} ({n} SYN-ACK {}; each SYN a client retransmits resends the SYN-ACK and restarts the wait)",
                    plural(n, "retransmission")
                ),
                timing::synack_lifetime(ms(n)),
            );
            if n > 2 {
                e.note(format!(
                    "while a listener's SYN queue is more than half full, the kernel itself drops older half-open entries after as few as 2 retransmissions ({}), so under a flood the difference is smaller",
                    timing::words(timing::synack_lifetime(2))
                ))
            } else {
                e
            }
        }
        "tcp_syn_retries" | "tcp_syn_linear_timeouts" => {
            let retries = int(values, "net.ipv4.tcp_syn_retries")?;
            let linear = int(values, "net.ipv4.tcp_syn_linear_timeouts");
            let (t, sent) = timing::syn_timeout(ms(retries), linear.map_or(0, ms), rto_max);
            let rule = match linear {
                Some(l) => format!("tcp_syn_retries={retries} with tcp_syn_linear_timeouts={l}"),
                None => format!(
                    "tcp_syn_retries={retries}; this kernel has no tcp_syn_linear_timeouts (before 6.5)"
                ),
            };
            Effect::duration(
                format!(
                    "connect() to an unreachable peer fails after {{}} ({sent} SYN retransmissions; {rule})"
                ),
                t,
            )
        }
        "tcp_keepalive_time" | "tcp_keepalive_intvl" | "tcp_keepalive_probes" => {
            let (t, i, c) = (
                int(values, "net.ipv4.tcp_keepalive_time")?,
                int(values, "net.ipv4.tcp_keepalive_intvl")?,
                int(values, "net.ipv4.tcp_keepalive_probes")?,
            );
            let mut e = Effect::new(
                format!(
                    "an idle peer that vanished is detected after {{}} on sockets with SO_KEEPALIVE ({t} s idle + {c} probes x {i} s)"
                ),
                secs(timing::keepalive_detection(t, i, c)),
            )
            .with(timing::keepalive_detection(t, i, c) as f64, "s");
            e.group = Some("keepalive");
            e
        }
        "tcp_retries2" => Effect::duration_range(
            "an established connection whose peer stops acknowledging data is aborted {} after the data was sent",
            timing::retries2_abort(ms(n), rto_max),
        )
        .note(budget_note(timing::retries2_budget(ms(n), rto_max))),
        "tcp_retries1" => {
            let probing = int(values, "net.ipv4.tcp_mtu_probing").unwrap_or(0);
            let mtu = if probing >= 1 {
                format!("and, with tcp_mtu_probing={probing}, probes a smaller path MTU")
            } else {
                "(path MTU probing only with tcp_mtu_probing >= 1; it is 0 here)".to_string()
            };
            Effect::duration_range(
                format!("TCP asks the routing layer for a new route {{}} after unacknowledged data was sent {mtu}; the connection goes on"),
                timing::retries2_abort(ms(n), rto_max),
            )
        }
        "tcp_orphan_retries" => {
            let zero = match n {
                0 if rto_max >= timing::RTO_MAX_MS => " (0 counts as 8 while the retransmission timeout is below tcp_rto_max_ms)",
                0 => " (0 counts as 8 only until the retransmission timeout reaches tcp_rto_max_ms, lowered here, and then as 0)",
                _ => "",
            };
            Effect::duration_range(
                format!("a closed socket whose peer stopped acknowledging is given up {{}} after its last data was sent{zero}"),
                timing::orphan_abort(ms(n), rto_max),
            )
        }
        "tcp_fin_timeout" if n <= 0 => Effect::new(
            "an orphaned connection waits in FIN_WAIT2 for {}; TIME_WAIT stays 60 s",
            "3.5 retransmission timeouts (under a second on a LAN)",
        ),
        "tcp_fin_timeout" if n > 60 => {
            let life = timing::fin_wait2_lifetime(n).unwrap_or(0);
            Effect::duration(
                format!("an orphaned connection waits in FIN_WAIT2 for {{}}: above 60 s the kernel keeps the socket {} and then a timewait entry as long again, 2 x ({n} - 60) s in all; TIME_WAIT stays 60 s", secs(n - 60)),
                life,
            )
        }
        "tcp_fin_timeout" => Effect::new(
            "an orphaned connection waits in FIN_WAIT2 for at most {}; TIME_WAIT stays 60 s whatever this is",
            secs(n),
        )
        .with(n as f64, "s"),
        "somaxconn" => {
            let e = Effect::new(
                "listen() backlogs above {} are cut to it: a listener's accept queue (and SYN queue) holds min(backlog, somaxconn) + 1 connections",
                n.to_string(),
            )
            .with(n as f64, "connections");
            let open = facts.listeners.map_or_else(String::new, |l| {
                if l == 1 {
                    " (1 listening socket is open in this network namespace now)".to_string()
                } else {
                    format!(" ({l} listening sockets are open in this network namespace now)")
                }
            });
            e.note(format!("read at listen() time: listeners that are already open keep their old limit until their service calls listen() again, usually on restart{open}"))
        }
        "tcp_max_syn_backlog" => match int(values, "net.ipv4.tcp_syncookies") {
            Some(c) if c != 0 => Effect::new(
                "{}",
                format!(
                    "no effect while tcp_syncookies={c}: it is read only when syncookies are off; the SYN queue is sized by the listen backlog"
                ),
            ),
            _ => Effect::new(
                "with syncookies off, SYNs from peers TCP has not seen before are dropped once fewer than {} request slots remain",
                format!("{} of {n}", n / 4),
            ),
        },
        "tcp_abort_on_overflow" if n != 0 => {
            let e = Effect::new("{}", meaning(p, n));
            match int(values, "net.ipv4.tcp_syncookies") {
                Some(2) => e.note("with tcp_syncookies=2 every handshake is completed by a SYN cookie, which keeps no state: a full accept queue then drops the final ACK whatever this says (no reset)"),
                _ => e.note("not for handshakes completed by a SYN cookie (tcp_syncookies sends them when the SYN queue overflows): those keep no state, so a full accept queue drops their final ACK without a reset"),
            }
        }
        "tcp_syncookies" | "tcp_abort_on_overflow" | "tcp_tw_reuse" => {
            Effect::new("{}", meaning(p, n))
        }
        "tcp_tw_reuse_delay" => match int(values, "net.ipv4.tcp_tw_reuse") {
            Some(0) => Effect::new("{}", "no effect while tcp_tw_reuse=0"),
            _ => Effect::duration(
                "connect() may take over a TIME_WAIT port pair once it is {} old",
                ms(n),
            ),
        },
        "tcp_max_tw_buckets" if n == 0 => Effect::new(
            "{}",
            "no TIME_WAIT at all: every closed connection skips it",
        ),
        "tcp_max_tw_buckets" if n < 0 => Effect::new("{}", "no limit on TIME_WAIT sockets"),
        "tcp_max_tw_buckets" => Effect::new(
            "at most {} sockets are held in TIME_WAIT; beyond that, closing connections skip it (TCPTimeWaitOverflow)",
            n.to_string(),
        )
        .with(n as f64, "sockets"),
        "tcp_rto_max_ms" => Effect::duration("retransmission waits are capped at {}", ms(n)),
        "netdev_max_backlog" => match facts.cpus {
            Some(c) => Effect::new(
                format!(
                    "up to {{}} received packets wait per CPU ({} on this machine's {c} CPUs)",
                    n.saturating_mul(c as i64)
                ),
                n.to_string(),
            ),
            None => Effect::new("up to {} received packets wait per CPU", n.to_string()),
        },
        "tcp_max_orphans" => Effect::new(
            "at most {} orphaned sockets before they are reset at once",
            n.to_string(),
        )
        .with(n as f64, "sockets"),
        _ => return None,
    };
    Some(e)
}

/// What tcp_tw_reuse lets connect() do with this host's TIME_WAIT ports.
#[derive(Debug, Clone, Copy)]
pub struct Reuse {
    /// tcp_tw_reuse: 0 off, 1 all destinations, 2 loopback only.
    pub mode: i64,
    pub delay_ms: u64,
    pub timestamps: bool,
}

/// "about 471", "0.5", "about 55,296": a rate in words.
fn rate_words(rate: f64) -> String {
    if rate < 1.0 {
        return format!("fewer than one ({:.0} a minute)", rate * 60.0);
    }
    if rate >= 10.0 {
        format!("about {}", thousands(rate.round() as i64))
    } else {
        format!("about {:.1}", rate).replace(".0", "")
    }
}

/// "55,296": digits grouped by thousands (doctor uses it too).
pub(crate) fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn plural(n: i64, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

fn budget_note(budget_ms: u64) -> String {
    format!(
        "the kernel's budget is {} of retransmissions counted from the first one, checked at each retransmission timeout; where the abort lands in this range depends on the path's timeout (200 ms and up: srtt + 200 ms)",
        timing::words(budget_ms)
    )
}

fn port_range(lo: i64, hi: i64, unprivileged: Option<i64>, reuse: Reuse) -> Effect {
    let ports = (hi - lo + 1).max(0);
    let tw = timing::TIMEWAIT_MS as f64 / 1000.0;
    let delay = reuse.delay_ms.max(1) as f64 / 1000.0;
    let held = "a connection this host closes first keeps its port in TIME_WAIT for 60 s";
    let (rate, how) = match (reuse.mode, reuse.timestamps) {
        (1, true) => (
            ports as f64 / delay,
            format!(
                "{held}, but tcp_tw_reuse=1 lets connect() take it over after {} (tcp_tw_reuse_delay)",
                timing::words(reuse.delay_ms)
            ),
        ),
        (2, true) => (
            ports as f64 / tw,
            format!(
                "{held}; tcp_tw_reuse=2 shortens that to {} for loopback destinations only ({} per second there)",
                timing::words(reuse.delay_ms),
                rate_words(ports as f64 / delay)
            ),
        ),
        (m, false) if m != 0 => (
            ports as f64 / tw,
            format!("{held}; tcp_tw_reuse needs TCP timestamps, which are off"),
        ),
        _ => (ports as f64 / tw, held.to_string()),
    };
    let mut e = Effect::new(
        format!("one destination address and port can take {{}} new connections per second, sustained, before the {} ephemeral ports run out: {how}", thousands(ports.abs())),
        rate_words(rate),
    )
    .with(rate, "connections/s");
    let mut notes = Vec::new();
    if let Some(start) = unprivileged.filter(|s| lo < *s) {
        notes.push(format!(
            "the kernel refuses a low end below ip_unprivileged_port_start ({start})"
        ));
    }
    if lo % 2 == hi % 2 {
        notes.push("both ends have the same parity; the kernel prefers different parity and logs a warning".to_string());
    }
    if !notes.is_empty() {
        e = e.note(notes.join("; "));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(pairs: &[(&str, i64)]) -> Snapshot {
        Snapshot::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Some(Value::Int(*v)))),
        )
    }

    #[test]
    fn synack_change_in_seconds() {
        let key = "net.ipv4.tcp_synack_retries";
        let before = effect(key, &snap(&[(key, 5)]), &Facts::default()).unwrap();
        let after = effect(key, &snap(&[(key, 2)]), &Facts::default()).unwrap();
        assert!(
            after
                .change_from(&before)
                .starts_with("a half-open connection whose client sends no more SYNs (a spoofed SYN, a vanished client) is dropped after 7 s instead of 63 s"),
            "{}",
            after.change_from(&before)
        );
    }

    #[test]
    fn keepalive_combines_three_knobs() {
        let k = |t, i, p| {
            snap(&[
                ("net.ipv4.tcp_keepalive_time", t),
                ("net.ipv4.tcp_keepalive_intvl", i),
                ("net.ipv4.tcp_keepalive_probes", p),
            ])
        };
        let before = effect(
            "net.ipv4.tcp_keepalive_probes",
            &k(7200, 75, 9),
            &Facts::default(),
        )
        .unwrap();
        let after = effect(
            "net.ipv4.tcp_keepalive_probes",
            &k(600, 30, 5),
            &Facts::default(),
        )
        .unwrap();
        assert!(
            after
                .change_from(&before)
                .contains("after 12 min 30 s instead of 2 h 11 min 15 s")
        );
    }

    #[test]
    fn syn_retries_uses_linear_rule_only_where_the_kernel_has_it() {
        let with = snap(&[
            ("net.ipv4.tcp_syn_retries", 6),
            ("net.ipv4.tcp_syn_linear_timeouts", 4),
        ]);
        let without = snap(&[("net.ipv4.tcp_syn_retries", 6)]);
        assert_eq!(
            effect("net.ipv4.tcp_syn_retries", &with, &Facts::default())
                .unwrap()
                .amount,
            "2 min 11 s"
        );
        assert_eq!(
            effect("net.ipv4.tcp_syn_retries", &without, &Facts::default())
                .unwrap()
                .amount,
            "2 min 7 s"
        );
    }

    #[test]
    fn port_range_in_connections_per_second() {
        let off = Reuse {
            mode: 0,
            delay_ms: 1000,
            timestamps: true,
        };
        let e = port_range(32768, 60999, Some(1024), off);
        assert_eq!(e.amount, "about 471");
        assert!(e.note.is_none());
        assert!(
            port_range(1000, 2000, Some(1024), off)
                .note
                .unwrap()
                .contains("ip_unprivileged_port_start (1024)")
        );
        // tcp_tw_reuse=1: ports come back after the delay, not 60 s.
        let all = Reuse {
            mode: 1,
            delay_ms: 1000,
            timestamps: true,
        };
        assert_eq!(port_range(40000, 40119, None, all).amount, "about 120");
        // The default, loopback only: 60 s to others.
        let lo = Reuse {
            mode: 2,
            delay_ms: 1000,
            timestamps: true,
        };
        assert!(
            port_range(40000, 40119, None, lo)
                .state()
                .contains("about 2 new connections per second")
        );
        assert_eq!(
            port_range(40000, 40001, None, off).amount,
            "fewer than one (2 a minute)"
        );
    }
}
