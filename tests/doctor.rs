//! `doctor` against problems made to happen: each scenario of
//! tests/doctor/scenario.py runs real sockets in the test's throwaway
//! network namespace (and a second one joined by a veth pair where replies
//! must vanish), keeps the load going while doctor samples, and doctor must
//! name the limit, the listener, the keys and the numbers, in text, JSON
//! and Prometheus, and write a profile that lint and diff accept.

mod common;

use common::{Outcome, repo, tcptune};

/// doctor with `args`, while scenario `name` runs in the sandbox.
fn under(name: &str, args: &[&str]) -> Outcome {
    under_then(name, args, "")
}

/// `under`, and `after` (a script; `$1` is tcptune) run in the same
/// sandbox while the scenario still runs; its output is `Outcome::after`.
fn under_then(name: &str, args: &[&str], after: &str) -> Outcome {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let script = repo().join("tests/doctor/scenario.py");
    tcptune(&all)
        .before(&format!(
            "python3 '{}' {name} > \"$TCPTUNE_SCRATCH/scenario.log\" 2>&1 &\n\
             SCENARIO=$!\n\
             until [ -e \"$TCPTUNE_SCRATCH/ready\" ]; do kill -0 $SCENARIO 2>/dev/null || {{ cat \"$TCPTUNE_SCRATCH/scenario.log\" >&2; exit 98; }}; sleep 0.05; done",
            script.display()
        ))
        .after(&format!("{after}\nkill $SCENARIO"))
        .run()
}

/// Debian's prometheus-node-exporter, unpacked (never installed) under
/// the target directory the first time.
fn node_exporter() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("node-exporter");
    let bin = dir.join("usr/bin/prometheus-node-exporter");
    if bin.exists() {
        return bin;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fetched = std::process::Command::new("apt-get")
        .args(["download", "-qq", "prometheus-node-exporter"])
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(fetched, "apt-get download prometheus-node-exporter failed");
    let deb = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .unwrap();
    let unpacked = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        unpacked && bin.exists(),
        "dpkg-deb -x {} failed",
        deb.display()
    );
    bin
}

fn finding<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id} finding in {doc:#}"))
}

fn listener<'a>(doc: &'a serde_json::Value, local: &str) -> &'a serde_json::Value {
    doc["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["local"] == local)
        .unwrap_or_else(|| panic!("no listener {local} in {doc:#}"))
}

/// An `after` script for `under_then`: `setup`, then doctor again with
/// `args` under strace tracing `calls`; it prints the trace, `=== ` and
/// doctor's output.
fn straced(setup: &str, calls: &str, args: &str) -> String {
    format!(
        "{setup}\n\
         strace -f -y -o \"$TCPTUNE_SCRATCH/trace\" -e trace={calls} \"$1\" doctor {args} > \"$TCPTUNE_SCRATCH/doc\"\n\
         cat \"$TCPTUNE_SCRATCH/trace\"; echo '=== '; cat \"$TCPTUNE_SCRATCH/doc\""
    )
}

/// The trace and doctor's JSON that a `straced` script printed.
fn trace_and_doc(out: &Outcome) -> (&str, serde_json::Value) {
    let (trace, doc) = out.after.split_once("=== ").unwrap();
    (trace, serde_json::from_str(doc.trim()).unwrap())
}

/// What a traced call returned (0 for an error).
fn returned(line: &str) -> usize {
    line.rsplit("= ")
        .next()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0)
}

/// Naming listeners walks /proc/PID/fd. A process whose descriptor links
/// are refused (the sandbox's user namespace sees the host's processes but
/// may not read their links) is left after one try, not tried fd by fd.
#[test]
fn listeners_are_named_without_retrying_refused_processes() {
    let out = under_then(
        "accept-backlog",
        &["--interval", "0", "--format", "json"],
        &straced("", "readlinkat", "--interval 0 --format json"),
    );
    let (trace, _) = trace_and_doc(&out);
    let doc = out.json();
    assert_eq!(
        listener(&doc, "127.0.0.1:9001")["process"]["name"],
        "python3"
    );
    let mut refused: std::collections::HashMap<&str, usize> = Default::default();
    for line in trace
        .lines()
        .filter(|l| l.contains("EACCES") || l.contains("EPERM"))
    {
        let dir = line
            .split_once("readlinkat(")
            .and_then(|(_, rest)| rest.split_once('>'))
            .map_or(line, |(dir, _)| dir);
        *refused.entry(dir).or_default() += 1;
    }
    for (dir, tries) in &refused {
        assert_eq!(*tries, 1, "{dir} tried {tries} times:\n{}", out.after);
    }
    if common::running_as_root() {
        // The host's own processes (pid 1 at least) are visible and refused.
        assert!(
            !refused.is_empty(),
            "no refused process seen:\n{}",
            out.after
        );
    }
}

/// A listener opened after 3,000 connections of its process is named
/// without listing all 3,000 descriptors (descriptors.rs reads them from
/// the top down, a window at a time).
#[test]
fn a_late_listener_is_named_without_listing_every_descriptor() {
    let out = under_then(
        "late-listener",
        &["--interval", "0", "--format", "json"],
        &straced("", "getdents64", "--interval 0 --format json"),
    );
    let (trace, _) = trace_and_doc(&out);
    let doc = out.json();
    assert_eq!(listener(&doc, "0.0.0.0:9011")["process"]["name"], "python3");
    // Bytes of directory records read from each /proc/PID/fd.
    let mut listed: std::collections::HashMap<&str, usize> = Default::default();
    for line in trace.lines() {
        let Some((_, rest)) = line.split_once("getdents64(") else {
            continue;
        };
        let Some((dir, _)) = rest.split_once('>') else {
            continue;
        };
        *listed.entry(dir).or_default() += returned(line);
    }
    let most = listed.values().max().copied().unwrap_or(0);
    // Listing all 3,000 descriptors takes 3,000 records of 24 bytes.
    assert!(most > 0, "no descriptor directory read:\n{}", out.after);
    assert!(
        most < 3_000 * 24 / 3,
        "{most} bytes listed from one fd directory"
    );
}

/// A dump request carrying a filter (the plain one is 76 bytes long).
fn filtered(line: &&str) -> bool {
    line.contains("sendto(") && !line.contains("nlmsg_len=76,")
}

/// Bytes that the socket dumps of a straced doctor run returned, and the
/// number of dump requests it sent.
fn dumped(trace: &str) -> (usize, usize) {
    let bytes = trace
        .lines()
        .filter(|l| l.contains("recvfrom("))
        .map(returned)
        .sum();
    (
        bytes,
        trace.lines().filter(|l| l.contains("sendto(")).count(),
    )
}

/// With the range narrowed so that the 3,000 connections of the scenario
/// must be looked at (3,000 ports: 2,400 make port-exhaustion), the kernel
/// sends only the outgoing ones whose port lies in the sample (the low
/// 900 ports): not the 3,000 connections accepted on the listener's port,
/// and no second dump, since no pair holds a tenth of the range there.
#[test]
fn only_a_sample_of_outgoing_connections_leaves_the_kernel() {
    let out = under_then(
        "late-listener",
        &["--interval", "0", "--format", "json"],
        &straced(
            "echo 32768 35767 > /proc/sys/net/ipv4/ip_local_port_range",
            "sendto,recvfrom",
            "--interval 0 --format json",
        ),
    );
    let (trace, doc) = trace_and_doc(&out);
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "port-exhaustion"),
        "{doc:#}"
    );
    let (bytes, requests) = dumped(trace);
    assert_eq!(requests, 2, "{trace}");
    assert!(
        trace.lines().any(|l| filtered(&l)),
        "no filtered request:\n{trace}"
    );
    // A connection takes about 124 bytes; the accepted ones alone would
    // take 370 KB.
    assert!(bytes < 60_000, "{bytes} bytes dumped");
}

/// Half-open requests are counted when connections are dumped too, through
/// the filter that leaves connections out (here every socket must be
/// looked at: the range has one port).
#[test]
fn half_open_requests_pass_the_connections_filter() {
    let out = under_then(
        "syn-flood",
        &["--netns", "srv", "--interval", "0", "--format", "json"],
        &straced(
            "ip netns exec srv sh -c 'echo 40000 40000 > /proc/sys/net/ipv4/ip_local_port_range'",
            "sendto,recvfrom",
            "--netns srv --interval 0 --format json",
        ),
    );
    let (trace, doc) = trace_and_doc(&out);
    let l = listener(&doc, "10.9.0.2:9003");
    assert!(l["syn_recv"].as_u64().unwrap() >= 8, "{l}");
    // Listeners, then requests and connections with the filter, which the
    // kernel took (no second try).
    assert_eq!(dumped(trace).1, 2, "{trace}");
    assert!(
        trace.lines().any(|l| filtered(&l)),
        "no filtered request:\n{trace}"
    );
}

#[test]
fn a_listener_capped_by_its_backlog_overflows() {
    let out = under("accept-backlog", &["--interval", "1", "--format", "json"]);
    out.status(1);
    let doc = out.json();
    let f = finding(&doc, "accept-queue-overflow");
    assert_eq!(f["severity"], "critical", "{f:#}");
    assert_eq!(f["listeners"][0], "127.0.0.1:9001");
    assert_eq!(
        f["targets"],
        serde_json::json!({}),
        "a backlog cap has no sysctl fix"
    );
    let l = listener(&doc, "127.0.0.1:9001");
    assert_eq!(l["accept_queue_max"], 4);
    assert_eq!(l["accept_queue"], 5, "a full queue holds its cap plus one");
    assert_eq!(l["cap"], "backlog");
    assert_eq!(l["process"]["name"], "python3");
    let overflows = &doc["counters"]["TcpExt.ListenOverflows"];
    assert!(overflows["delta"].as_i64().unwrap() > 0, "{overflows}");
    // The same in words.
    let out = under("accept-backlog", &["--interval", "1"]);
    out.status(1);
    out.stdout_has("CRITICAL accept-queue-overflow:");
    out.stdout_has("capped at 4 by the backlog it passed to listen()");
    out.stdout_has("raising somaxconn does nothing for it");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("127.0.0.1:9001")
            && l.contains("backlog")
            && l.contains("python3")),
        "{}",
        out.stdout
    );
}

#[test]
fn a_listener_capped_by_somaxconn_gets_a_profile() {
    let out = under(
        "accept-somaxconn",
        &[
            "--interval",
            "1",
            "--format",
            "json",
            "--write-profile",
            "fix.yaml",
        ],
    );
    out.status(1);
    let doc = out.json();
    let l = listener(&doc, "127.0.0.1:9001");
    assert_eq!(l["accept_queue_max"], 16);
    assert_eq!(l["cap"], "somaxconn");
    let f = finding(&doc, "accept-queue-overflow");
    assert_eq!(f["targets"]["net.core.somaxconn"], "4096");
    let profile = std::fs::read_to_string(out.dir.path().join("fix.yaml")).unwrap();
    assert!(
        profile.contains("net.core.somaxconn:\n    value: 4096"),
        "{profile}"
    );
    assert!(profile.contains("ListenOverflows rose"), "{profile}");
    // The written profile goes through the usual review.
    let dir = out.dir.path().to_path_buf();
    tcptune(&["lint", "fix.yaml"])
        .file("fix.yaml", &profile)
        .run()
        .status(0);
    let diff = tcptune(&["diff", "./fix.yaml"])
        .file("fix.yaml", &profile)
        .preset("net.core.somaxconn", "16")
        .run();
    diff.status(0);
    assert!(
        diff.row("net.core.somaxconn").ends_with("change"),
        "{}",
        diff.stdout
    );
    // Never overwritten.
    let again = under(
        "accept-somaxconn",
        &[
            "--interval",
            "0",
            "--write-profile",
            &dir.join("fix.yaml").display().to_string(),
        ],
    );
    again.status(2).stderr_has("already exists");
}

#[test]
fn a_syn_flood_is_answered_with_cookies() {
    let out = under(
        "syn-flood",
        &["--netns", "srv", "--interval", "1", "--format", "json"],
    );
    out.status(1);
    let doc = out.json();
    let f = finding(&doc, "syn-flood");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["targets"]["net.ipv4.tcp_synack_retries"], "2");
    assert!(
        f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("TCPReqQFullDoCookies rose")),
        "{f:#}"
    );
    let l = listener(&doc, "10.9.0.2:9003");
    assert!(l["syn_recv"].as_u64().unwrap() >= 8, "{l}");
    assert_eq!(doc["netns"], "srv");
}

#[test]
fn syns_dropped_without_cookies() {
    let out = under(
        "syn-queue-overflow",
        &["--netns", "srv", "--interval", "1", "--format", "json"],
    );
    out.status(1);
    let doc = out.json();
    let f = finding(&doc, "syn-queue-overflow");
    assert_eq!(f["targets"]["net.ipv4.tcp_syncookies"], "1");
    assert!(
        doc["counters"]["TcpExt.TCPReqQFullDrop"]["delta"]
            .as_i64()
            .unwrap()
            > 0,
        "{doc:#}"
    );
}

#[test]
fn ports_held_in_time_wait_run_out() {
    let out = under("ports", &["--interval", "0", "--format", "json"]);
    out.status(1);
    let doc = out.json();
    let f = finding(&doc, "port-exhaustion");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["targets"]["net.ipv4.tcp_tw_reuse"], "1");
    assert_eq!(f["targets"]["net.ipv4.ip_local_port_range"], "10240 65535");
    let evidence = f["evidence"][0].as_str().unwrap();
    assert!(
        evidence.starts_with("from 127.0.0.1 to 127.0.0.1:9002: ")
            && evidence.contains("of 10 ports"),
        "{evidence}"
    );
}

/// IPv6 listeners and connections are seen as IPv4 ones are (doctor reads
/// both families in one walk where the kernel allows it).
#[test]
fn ipv6_listeners_and_connections_count_too() {
    let out = under("ports-v6", &["--interval", "0", "--format", "json"]);
    out.status(1);
    let doc = out.json();
    let l = listener(&doc, "[::1]:9006");
    assert_eq!(l["process"]["name"], "python3", "{l:#}");
    let f = finding(&doc, "port-exhaustion");
    let evidence = f["evidence"][0].as_str().unwrap();
    assert!(
        evidence.starts_with("from ::1 to [::1]:9006: ") && evidence.contains("of 10 ports"),
        "{evidence}"
    );
}

/// Where the kernel refuses the one-walk request (strace makes its send
/// fail: first the listeners', then the connections'), doctor dumps each
/// address family apart; where it refuses the connections' filter too
/// (the next send), it asks again without; and sees the same listeners
/// and the same exhaustion every time.
#[test]
fn per_family_dumps_see_what_one_walk_sees() {
    let mut after = String::new();
    for when in ["1", "2", "2..3"] {
        after.push_str(&format!(
            "strace -f -o \"$TCPTUNE_SCRATCH/trace{when}\" -e trace=sendto -e inject=sendto:error=EINVAL:when={when} \
             \"$1\" doctor --interval 0 --format json\n\
             echo \"=== $(grep -c sendto \"$TCPTUNE_SCRATCH/trace{when}\") sends\"\n"
        ));
    }
    let out = under_then("ports-v6", &["--interval", "0", "--format", "json"], &after);
    let summary = |doc: &serde_json::Value| {
        let listeners: Vec<String> = doc["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| format!("{} {}", l["local"], l["process"]["name"]))
            .collect();
        let exhausted = finding(doc, "port-exhaustion")["evidence"][0]
            .as_str()
            .unwrap()
            .split(": ")
            .next()
            .unwrap()
            .to_string();
        (listeners, exhausted)
    };
    let one_walk = summary(&out.json());
    assert_eq!(one_walk.1, "from ::1 to [::1]:9006", "{one_walk:?}");
    let parts: Vec<&str> = out.after.split("=== ").collect();
    assert_eq!(parts.len(), 4, "{}", out.after);
    for (i, part) in parts[..3].iter().enumerate() {
        let json = part.rsplit_once("sends\n").map_or(*part, |(_, j)| j);
        let doc: serde_json::Value =
            serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}:\n{}", out.after));
        assert_eq!(summary(&doc), one_walk, "fallback {}", i + 1);
    }
    // Three dumps (listeners; requests and a sample of the range; all of
    // the range, since the sample shows the exhaustion), each asked for
    // once, and two more sends: the refused request(s), then IPv4 and IPv6
    // apart or, for the refused filter, the one walk without it.
    for part in &parts[1..] {
        assert!(part.starts_with("5 sends"), "{}", out.after);
    }
}

#[test]
fn time_wait_overflow_is_counted() {
    let out = under(
        "time-wait-overflow",
        &["--interval", "1", "--format", "json"],
    );
    out.status(1);
    let doc = out.json();
    let f = finding(&doc, "time-wait-overflow");
    assert_eq!(f["targets"]["net.ipv4.tcp_max_tw_buckets"], "4096");
}

#[test]
fn an_idle_namespace_has_no_findings() {
    let out = under("idle", &["--interval", "0.2"]);
    out.status(0).stdout_has("no findings");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("127.0.0.1:9005")),
        "{}",
        out.stdout
    );
    let doc = under("idle", &["--interval", "0", "--format", "json"]).json();
    assert_eq!(doc["findings"], serde_json::json!([]));
    assert_eq!(doc["interval_s"], 0.0);
}

#[test]
fn an_inert_setting_is_information_only() {
    let out = under("inert", &["--interval", "0", "--format", "json"]);
    out.status(0);
    let doc = out.json();
    let f = finding(&doc, "inert-setting");
    assert_eq!(f["severity"], "info");
}

#[test]
fn prometheus_output_is_read_by_node_exporter() {
    let exporter = node_exporter();
    let out = under(
        "accept-backlog",
        &["--interval", "1", "--format", "prometheus"],
    );
    out.status(1);
    assert!(
        out.stdout.contains(
            "tcptune_listener_accept_queue_max{local=\"127.0.0.1:9001\",process=\"python3\"} 4"
        ),
        "{}",
        out.stdout
    );
    // node_exporter's textfile collector scrapes it without errors.
    let scrape = "import time, urllib.request\n\
        for _ in range(100):\n    \
            try:\n        \
                print(urllib.request.urlopen('http://127.0.0.1:9100/metrics').read().decode())\n        \
                break\n    \
            except OSError:\n        \
                time.sleep(0.1)\n";
    let scraped = tcptune(&["list"])
        .file("textfile/tcptune.prom", &out.stdout)
        .file("scrape.py", scrape)
        .before("ip link set lo up")
        .after(&format!(
            "'{}' --web.listen-address=127.0.0.1:9100 --collector.disable-defaults --collector.textfile \
             --collector.textfile.directory=\"$PWD/textfile\" > \"$TCPTUNE_SCRATCH/exporter.log\" 2>&1 &\n\
             E=$!\n\
             python3 scrape.py\n\
             kill $E",
            exporter.display()
        ))
        .run();
    assert!(
        scraped.after.contains("node_textfile_scrape_error 0"),
        "{}",
        scraped.after
    );
    assert!(
        scraped
            .after
            .contains("tcptune_finding{id=\"accept-queue-overflow\",severity=\"critical\"} 1"),
        "{}",
        scraped.after
    );
}

#[test]
fn other_formats_and_bad_intervals_are_refused() {
    tcptune(&["list", "--format", "prometheus"])
        .run()
        .status(2)
        .stderr_has("--format prometheus is only for doctor");
    tcptune(&["doctor", "--interval=-1"])
        .run()
        .status(2)
        .stderr_has("between 0 and 3600");
}
