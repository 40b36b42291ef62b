//! Every number tcptune states about the kernel, measured on the running
//! kernel. Each test sets small values in throwaway namespaces (the
//! sandbox's, the client; and a "srv" namespace joined by a veth pair, see
//! tests/measure/kernel.py), asks tcptune what they mean (`explain KEY
//! --format json`: the same numbers `diff --explain` prints), makes it
//! happen with real sockets and a silent peer, and compares.
//!
//! Tolerance: kernel timers fire late, never early (timer slack, jiffies,
//! a busy machine), so a measurement may exceed the claim by 20% plus
//! 300 ms and may fall short of it by at most 50 ms (clock reads). Claims
//! stated as a range (the retransmission budgets, which depend on the
//! path's RTO) must contain the measurement, with the same slack.
//!
//! `cargo test` runs these with small values (a few seconds each); the
//! kernel defaults (63 s, 131 s...) run with `cargo test -- --ignored`.

mod common;

use common::{repo, tcptune};

type Sysctls<'a> = &'a [(&'a str, &'a str)];

/// tcptune's claim for `key` with `values` set: (low, high) seconds (equal
/// unless a range) and its sentence.
fn claim(key: &str, values: Sysctls) -> (f64, f64, String) {
    let mut t = tcptune(&["explain", key, "--format", "json"]);
    for (k, v) in values {
        t = t.preset(k, v);
    }
    let j = t.run().json();
    let e = &j["effect"];
    let hi = e["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("{key}: no number in {j}"));
    (
        e["low"].as_f64().unwrap_or(hi),
        hi,
        e["text"].as_str().unwrap().to_string(),
    )
}

/// Runs measurement `what` of tests/measure/kernel.py with these values
/// in the client's and the server's namespace.
fn measure(what: &str, client: Sysctls, server: Sysctls) -> serde_json::Value {
    let join = |v: Sysctls| {
        v.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    };
    let script = repo().join("tests/measure/kernel.py");
    let out = tcptune(&["list"])
        .env("CLIENT_SYSCTLS", &join(client))
        .env("SERVER_SYSCTLS", &join(server))
        .after(&format!("python3 {} {what}", script.display()))
        .run();
    let line = out
        .after
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("{what}: {}", out.after));
    serde_json::from_str(line).unwrap()
}

fn seconds(what: &str, client: Sysctls, server: Sysctls) -> f64 {
    measure(what, client, server)["seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no measurement (timed out?)"))
}

fn assert_within(what: &str, measured: f64, (lo, hi, text): (f64, f64, String)) {
    assert!(
        measured >= lo - 0.05 && measured <= hi * 1.2 + 0.3,
        "{what}: measured {measured:.2} s, tcptune says {lo}..{hi} s: {text}"
    );
    eprintln!("{what}: tcptune {lo}..{hi} s, kernel {measured:.2} s");
}

#[test]
fn connect_timeout_follows_syn_retries_and_the_linear_rule() {
    for (retries, linear) in [("1", "4"), ("2", "0"), ("2", "4")] {
        let v = [
            ("net.ipv4.tcp_syn_retries", retries),
            ("net.ipv4.tcp_syn_linear_timeouts", linear),
        ];
        let name = format!("syn_retries={retries} linear={linear}");
        assert_within(
            &name,
            seconds("connect", &v, &[]),
            claim("tcp_syn_retries", &v),
        );
    }
}

#[test]
fn half_open_connections_live_as_synack_retries_says() {
    for n in ["0", "1", "2"] {
        let v = [("net.ipv4.tcp_synack_retries", n)];
        assert_within(
            &format!("synack_retries={n}"),
            seconds("synack", &[], &v),
            claim("tcp_synack_retries", &v),
        );
    }
}

#[test]
fn keepalive_detects_a_vanished_peer_when_it_says() {
    let v = [
        ("net.ipv4.tcp_keepalive_time", "1"),
        ("net.ipv4.tcp_keepalive_intvl", "1"),
        ("net.ipv4.tcp_keepalive_probes", "2"),
    ];
    assert_within(
        "keepalive 1/1/2",
        seconds("keepalive", &v, &[]),
        claim("tcp_keepalive_time", &v),
    );
}

#[test]
fn established_connections_abort_within_the_stated_range() {
    for n in ["1", "2", "3"] {
        let v = [("net.ipv4.tcp_retries2", n)];
        assert_within(
            &format!("retries2={n}"),
            seconds("data", &v, &[]),
            claim("tcp_retries2", &v),
        );
    }
}

#[test]
fn retries1_triggers_mtu_probing_within_the_stated_range() {
    // What tcp_retries1 triggers can be seen only with tcp_mtu_probing on:
    // the retransmission at that timeout goes out in smaller segments.
    for n in ["1", "2", "3"] {
        let values = [
            ("net.ipv4.tcp_retries1", n),
            ("net.ipv4.tcp_mtu_probing", "1"),
        ];
        let (lo, hi, text) = claim("tcp_retries1", &values);
        assert!(text.contains("probes a smaller path MTU"), "{text}");
        let measured = seconds("smaller-segments", &values, &[]);
        assert_within(&format!("retries1={n}"), measured, (lo, hi, text));
    }
}

#[test]
fn orphans_are_given_up_within_the_stated_range() {
    let v = [("net.ipv4.tcp_orphan_retries", "1")];
    assert_within(
        "orphan_retries=1",
        seconds("orphan", &v, &[]),
        claim("tcp_orphan_retries", &v),
    );
    // 0 "counts as 8" only until the RTO reaches tcp_rto_max_ms: lowered
    // to 1 s, 0 means 0 after a few seconds.
    let v = [
        ("net.ipv4.tcp_orphan_retries", "0"),
        ("net.ipv4.tcp_rto_max_ms", "1000"),
    ];
    assert_within(
        "orphan_retries=0 rto_max_ms=1000",
        seconds("orphan", &v, &[]),
        claim("tcp_orphan_retries", &v),
    );
}

#[test]
fn fin_wait2_lasts_fin_timeout_and_twice_the_excess_above_sixty() {
    for f in ["3", "62"] {
        let v = [("net.ipv4.tcp_fin_timeout", f)];
        assert_within(
            &format!("fin_timeout={f}"),
            seconds("finwait2", &v, &[]),
            claim("tcp_fin_timeout", &v),
        );
    }
}

#[test]
fn a_listener_holds_min_backlog_somaxconn_plus_one() {
    // listen(100) under somaxconn 3: the cap is somaxconn, and the queue
    // holds one more than it (the kernel's `>` in sk_acceptq_is_full).
    let v = [("net.core.somaxconn", "3")];
    let (_, cap, text) = claim("somaxconn", &v);
    assert!(text.contains("min(backlog, somaxconn) + 1"), "{text}");
    let m = measure("queue 100", &[], &v);
    assert_eq!(
        m["count"].as_f64(),
        Some(cap + 1.0),
        "listen(100), somaxconn 3: {m}"
    );
    // listen(4) under the default somaxconn: 5.
    let m = measure("queue 4", &[], &[]);
    assert_eq!(m["count"], 5, "listen(4): {m}");
}

#[test]
fn port_exhaustion_rate_follows_the_range_and_tw_reuse() {
    // 20 ports. Without reuse (tcp_tw_reuse=2, loopback only, and this is
    // not loopback) each port is held 60 s: after 20 connections the next
    // fails at once, and 2 seconds see no more than the 20.
    let off = [
        ("net.ipv4.ip_local_port_range", "40000 40019"),
        ("net.ipv4.tcp_tw_reuse", "2"),
    ];
    let (_, rate, text) = claim("ip_local_port_range", &off);
    assert!(text.contains("20 ephemeral ports") && rate < 1.0, "{text}");
    let m = measure("ports 2", &off, &[]);
    assert_eq!(m["count"], 20, "{m}");
    assert_eq!(m["first_failure_after"], 20, "{m}");
    // With tcp_tw_reuse=1 and a 100 ms delay: 200 a second, sustained.
    let on = [
        ("net.ipv4.ip_local_port_range", "40000 40019"),
        ("net.ipv4.tcp_tw_reuse", "1"),
        ("net.ipv4.tcp_tw_reuse_delay", "100"),
    ];
    let (_, rate, text) = claim("ip_local_port_range", &on);
    let m = measure("ports 2", &on, &[]);
    let measured = m["rate"].as_f64().unwrap();
    assert!(
        measured > rate * 0.6 && measured < rate * 1.2 + 10.0,
        "tcptune says {rate}/s ({text}); measured {measured}/s: {m}"
    );
    eprintln!("port rate with reuse: tcptune {rate}/s, kernel {measured:.0}/s");
    // tcp_tw_reuse=1 without timestamps: the kernel cannot reuse (no
    // timestamp was seen on the old connection), so back to 60 s a port.
    let no_ts = [
        ("net.ipv4.ip_local_port_range", "40000 40019"),
        ("net.ipv4.tcp_tw_reuse", "1"),
        ("net.ipv4.tcp_tw_reuse_delay", "100"),
        ("net.ipv4.tcp_timestamps", "0"),
    ];
    let (_, rate, text) = claim("ip_local_port_range", &no_ts);
    assert!(
        text.contains("needs TCP timestamps, which are off") && rate < 1.0,
        "{text}"
    );
    let m = measure("ports 2", &no_ts, &[]);
    assert_eq!(m["count"], 20, "{m}");
}

/// The kernel defaults, minutes long: `cargo test --test measure -- --ignored`.
#[test]
#[ignore = "takes several minutes: the kernel defaults (63 s, 131 s, 2 min 7 s)"]
fn the_defaults_as_measured() {
    let v = [("net.ipv4.tcp_synack_retries", "5")];
    assert_within(
        "synack_retries=5",
        seconds("synack", &[], &v),
        claim("tcp_synack_retries", &v),
    );
    let v = [
        ("net.ipv4.tcp_syn_retries", "6"),
        ("net.ipv4.tcp_syn_linear_timeouts", "4"),
    ];
    assert_within(
        "syn_retries=6 linear=4",
        seconds("connect", &v, &[]),
        claim("tcp_syn_retries", &v),
    );
    let v = [
        ("net.ipv4.tcp_syn_retries", "6"),
        ("net.ipv4.tcp_syn_linear_timeouts", "0"),
    ];
    assert_within(
        "syn_retries=6 linear=0",
        seconds("connect", &v, &[]),
        claim("tcp_syn_retries", &v),
    );
    let v = [("net.ipv4.tcp_retries2", "6")];
    assert_within(
        "retries2=6",
        seconds("data", &v, &[]),
        claim("tcp_retries2", &v),
    );
}
