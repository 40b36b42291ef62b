//! The kernel's TCP timing rules as pure functions, and `Duration` wording.
//!
//! Sources: net/ipv4/tcp_timer.c (`tcp_model_timeout`, `retransmits_timed_out`,
//! `tcp_write_timeout`, `tcp_orphan_retries`, the linear-SYN branch of
//! `tcp_retransmit_timer`, `tcp_keepalive_timer`), tcp.c (`tcp_close`,
//! `tcp_fin_time`) and inet_connection_sock.c (`reqsk_timer_handler`), as
//! of Linux 6.18. Times are in milliseconds. Every rule here is measured
//! against the running kernel by tests/measure.rs.
//!
//! Established connections and orphans are the subtle case: the kernel's
//! budget (`tcp_model_timeout`, "as if the RTO doubled from 200 ms") is
//! counted from the *first retransmission*, and checked only when a
//! retransmission timer expires, so the abort lands on the first expiry at
//! or after the budget. Expiries fall at multiples of the path's own RTO
//! (srtt + at least 200 ms), so the same setting aborts after 6.3 s on one
//! LAN and 3.2 s more on a path a few milliseconds slower. tcptune states
//! these as a range over RTOs of 200 to 400 ms.

/// Initial RTO of a SYN or SYN-ACK (`TCP_TIMEOUT_INIT`).
pub const TIMEOUT_INIT_MS: u64 = 1000;
/// Smallest RTO, the base of the established-connection budget.
pub const RTO_MIN_MS: u64 = 200;
/// Largest RTO (`TCP_RTO_MAX`), the default of `tcp_rto_max_ms`.
pub const RTO_MAX_MS: u64 = 120_000;
/// TIME_WAIT length, fixed in the kernel (`TCP_TIMEWAIT_LEN`).
pub const TIMEWAIT_MS: u64 = 60_000;

/// `tcp_model_timeout`: the time `n` doubling retransmissions starting at
/// `base` take, each wait capped at `rto_max`.
pub fn model_timeout(n: u64, base: u64, rto_max: u64) -> u64 {
    let mut total = 0;
    let mut rto = base;
    for _ in 0..=n {
        total += rto.min(rto_max);
        rto = rto.saturating_mul(2);
    }
    total
}

/// How long a half-open connection (SYN_RECV) lives with
/// `tcp_synack_retries` = `n`: n SYN-ACK retransmissions, then it is
/// dropped at the next expiry. The request timer uses the fixed 120 s cap.
pub fn synack_lifetime(n: u64) -> u64 {
    model_timeout(n, TIMEOUT_INIT_MS, RTO_MAX_MS)
}

/// When `connect()` to a silent peer fails with ETIMEDOUT, and how many
/// SYNs it retransmits first, for `tcp_syn_retries` = `n` and
/// `tcp_syn_linear_timeouts` = `linear` (0 before Linux 6.5).
pub fn syn_timeout(n: u64, linear: u64, rto_max: u64) -> (u64, u64) {
    let budget = model_timeout(n, TIMEOUT_INIT_MS, rto_max);
    let mut elapsed = 0;
    let mut expiry = 0;
    loop {
        expiry += 1;
        let rto = if expiry <= linear + 1 {
            TIMEOUT_INIT_MS
        } else {
            TIMEOUT_INIT_MS
                .saturating_mul(1 << (expiry - linear - 1).min(40))
                .min(rto_max)
        };
        elapsed += rto;
        // Give up when the retransmission count (expiry - 1) reaches n + linear,
        // or when the time budget is spent.
        if expiry > n + linear || elapsed >= budget {
            return (elapsed, expiry - 1);
        }
    }
}

/// Time budget before an established connection with unacknowledged data
/// is aborted, counted from the first RTO retransmission.
pub fn retries2_budget(n: u64, rto_max: u64) -> u64 {
    model_timeout(n, RTO_MIN_MS, rto_max)
}

/// `tcp_orphan_retries` budget; 0 means 8 while the peer looks alive.
pub fn orphan_budget(n: u64, rto_max: u64) -> u64 {
    model_timeout(if n == 0 { 8 } else { n }, RTO_MIN_MS, rto_max)
}

/// The RTOs over which abort times are stated: a LAN's 200 ms (srtt +
/// 200 ms, so a little more) to 400 ms (a long path).
pub const PATH_RTO_MS: std::ops::RangeInclusive<u64> = 200..=400;

/// When a connection with unacknowledged data is aborted, measured from
/// when the data was sent, on a path whose RTO is `rto`, after a tail loss
/// probe of `tlp` ms (0 without one; about 2 srtt + 200 ms with one
/// segment outstanding, which does not start the budget's clock): timers
/// expire after rto, 2 rto, 4 rto ... (capped at `rto_max`); at each, the
/// budget for `retries` (which may depend on the expired RTO, for orphans)
/// is compared with the time since the first retransmission.
pub fn abort_after(rto: u64, tlp: u64, rto_max: u64, retries: impl Fn(u64) -> u64) -> u64 {
    let mut t = tlp + rto; // the first expiry: the first retransmission
    let first = t;
    let mut interval = rto.min(rto_max);
    loop {
        interval = interval.saturating_mul(2).min(rto_max);
        t += interval;
        let budget = model_timeout(retries(interval), RTO_MIN_MS, rto_max);
        if t - first >= budget {
            return t;
        }
    }
}

/// `abort_after` over every RTO in `PATH_RTO_MS`, with and without a tail
/// loss probe first: (earliest, latest).
fn abort_range(rto_max: u64, retries: impl Fn(u64) -> u64 + Copy) -> (u64, u64) {
    PATH_RTO_MS
        .flat_map(|rto| {
            [
                abort_after(rto, 0, rto_max, retries),
                abort_after(rto, rto, rto_max, retries),
            ]
        })
        .fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)))
}

/// `tcp_retries2` = `n`: when an established connection whose peer stopped
/// acknowledging is aborted, as (earliest, latest) over path RTOs.
pub fn retries2_abort(n: u64, rto_max: u64) -> (u64, u64) {
    abort_range(rto_max, |_| n)
}

/// `tcp_orphan_retries` = `n`: when a closed socket whose peer stopped
/// acknowledging is given up. 0 means 8 while the RTO that just expired is
/// below `tcp_rto_max_ms` (the peer "looks alive"), and 0 once it reached
/// it: with the default 120 s cap that never happens within the budget,
/// with a lowered cap it ends the socket at the first capped expiry.
pub fn orphan_abort(n: u64, rto_max: u64) -> (u64, u64) {
    abort_range(rto_max, |expired| match n {
        0 if expired < rto_max => 8,
        n => n,
    })
}

/// How long an orphaned socket lives in FIN_WAIT2 with `tcp_fin_timeout`
/// = `f` seconds: `f` up to 60 (as a timewait minisocket); above 60, the
/// full socket waits f - 60 s in FIN_WAIT2 and then becomes a minisocket
/// for another f - 60 s (`tcp_keepalive_timer`), 2 (f - 60) in all. Zero or
/// less means 3.5 RTO (under a second on a LAN; not modelled here).
pub fn fin_wait2_lifetime(f: i64) -> Option<u64> {
    match f {
        ..=0 => None,
        1..=60 => Some(f as u64 * 1000),
        f => Some(2 * (f as u64 - 60) * 1000),
    }
}

/// When a silent peer is declared dead by keepalive: time + probes x intvl.
pub fn keepalive_detection(time_s: i64, intvl_s: i64, probes: i64) -> i64 {
    time_s.max(0) + probes.max(0) * intvl_s.max(0)
}

/// Milliseconds in words: "7 s", "63 s", "12 min 30 s", "2 h 11 min 15 s",
/// "15 min 24.6 s". Under 100 s, seconds read best.
pub fn words(ms: u64) -> String {
    if ms < 100_000 {
        return seconds(ms);
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let secs = seconds(rest);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if rest > 0 || parts.is_empty() {
        parts.push(secs);
    }
    parts.join(" ")
}

fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0).replace(".0 s", " s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synack_matches_measured_schedule() {
        assert_eq!(synack_lifetime(0), 1000);
        assert_eq!(synack_lifetime(2), 7000);
        assert_eq!(synack_lifetime(5), 63_000);
    }

    #[test]
    fn syn_timeout_classic_and_linear() {
        let classic: Vec<_> = [1, 2, 3, 6, 8]
            .iter()
            .map(|&n| syn_timeout(n, 0, RTO_MAX_MS))
            .collect();
        assert_eq!(
            classic,
            [
                (3000, 1),
                (7000, 2),
                (15_000, 3),
                (127_000, 6),
                (367_000, 8)
            ]
        );
        let linear: Vec<_> = [1, 2, 3, 4, 5, 6, 8]
            .iter()
            .map(|&n| syn_timeout(n, 4, RTO_MAX_MS))
            .collect();
        assert_eq!(
            linear,
            [
                (3000, 2),
                (7000, 5),
                (19_000, 7),
                (35_000, 8),
                (67_000, 9),
                (131_000, 10),
                (371_000, 12)
            ]
        );
    }

    #[test]
    fn established_and_orphan_budgets() {
        assert_eq!(retries2_budget(15, RTO_MAX_MS), 924_600);
        assert_eq!(retries2_budget(5, RTO_MAX_MS), 12_600);
        assert_eq!(orphan_budget(0, RTO_MAX_MS), 102_200);
    }

    #[test]
    fn aborts_land_on_the_first_expiry_after_the_budget() {
        // The reference's measurements on 6.18 (veth, RTO about 204 ms):
        // retries2=3 aborted after 6.85 s, 5 after 13.52 s, 1 after 1.67 s
        // (a tail loss probe adds a few hundred ms before the first RTO).
        // With a probe of about one RTO first: 6.53 s, 13.06 s, 1.64 s.
        assert_eq!(abort_after(204, 204, RTO_MAX_MS, |_| 3), 32 * 204);
        assert_eq!(abort_after(204, 204, RTO_MAX_MS, |_| 5), 64 * 204);
        assert_eq!(abort_after(204, 204, RTO_MAX_MS, |_| 1), 8 * 204);
        // The measurement: RTO 320 ms, retries2=6 took 39.7 s.
        assert_eq!(abort_after(320, 0, RTO_MAX_MS, |_| 6), 127 * 320);
        // At exactly 200 ms the expiry before lands just short of the budget.
        assert_eq!(abort_after(200, 0, RTO_MAX_MS, |_| 5), 127 * 200);
        let (lo, hi) = retries2_abort(3, RTO_MAX_MS);
        assert!(lo >= 3_000 + 200 && hi <= 2 * 3_000 + 4 * 400, "{lo} {hi}");
        // The default: 15 min 24.6 s of budget, after the first RTO.
        let (lo, hi) = retries2_abort(15, RTO_MAX_MS);
        assert!(lo > 924_600 && hi < 924_600 + 120_000 + 400, "{lo} {hi}");
    }

    #[test]
    fn orphans_count_eight_only_while_the_rto_is_below_its_cap() {
        // Default cap: 0 behaves as 8 (108 s measured; 104 s at 204 ms).
        assert_eq!(
            abort_after(204, 0, RTO_MAX_MS, |e| if e < RTO_MAX_MS { 8 } else { 0 }),
            511 * 204
        );
        // tcp_rto_max_ms = 1000: the 4th expiry has RTO 1 s = the cap, so
        // 0 really means 0 there: 2.4 s at 200 ms (2.5 s measured).
        let (lo, hi) = orphan_abort(0, 1000);
        assert_eq!(
            abort_after(200, 0, 1000, |e| if e < 1000 { 8 } else { 0 }),
            2_400
        );
        assert!(lo <= 2_400 && hi < 5_000, "{lo} {hi}");
    }

    #[test]
    fn fin_wait2_above_sixty_seconds_is_twice_the_excess() {
        // Measured on 6.18: 62 -> 4.0 s, 65 -> 10.3 s, 140 -> 163.7 s.
        assert_eq!(fin_wait2_lifetime(3), Some(3_000));
        assert_eq!(fin_wait2_lifetime(60), Some(60_000));
        assert_eq!(fin_wait2_lifetime(62), Some(4_000));
        assert_eq!(fin_wait2_lifetime(140), Some(160_000));
        assert_eq!(fin_wait2_lifetime(0), None);
    }

    #[test]
    fn keepalive_and_words() {
        assert_eq!(
            words(keepalive_detection(7200, 75, 9) as u64 * 1000),
            "2 h 11 min 15 s"
        );
        assert_eq!(
            words(keepalive_detection(600, 30, 5) as u64 * 1000),
            "12 min 30 s"
        );
        assert_eq!(words(924_600), "15 min 24.6 s");
        assert_eq!(words(7000), "7 s");
        assert_eq!(words(63_000), "63 s");
        assert_eq!(words(131_000), "2 min 11 s");
        assert_eq!(words(0), "0 s");
        assert_eq!(words(3_600_000), "1 h");
    }
}
