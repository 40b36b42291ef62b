//! The kernel's TCP timing rules as pure functions, and `Duration` wording.
//!
//! Sources: net/ipv4/tcp_timer.c (`tcp_model_timeout`, `retransmits_timed_out`,
//! the linear-SYN branch of `tcp_retransmit_timer`) and
//! inet_connection_sock.c (`reqsk_timer_handler`), as of Linux 6.18. Times
//! are in milliseconds.

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
