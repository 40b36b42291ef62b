//! The audit trail: apply and revert send one record per live key and a
//! summary to /dev/log (the sandbox's, bound by the test harness), nothing
//! for dry runs and no-ops, and a missing log never fails the change.

mod common;

use common::tcptune;

/// The record text after `<PRI>Mmm dd hh:mm:ss tcptune[PID]: `.
fn message(record: &str) -> &str {
    assert!(record.starts_with("<85>"), "authpriv.notice: {record}");
    let (head, msg) = record.split_once("]: ").unwrap();
    assert!(head.contains(" tcptune["), "{record}");
    msg
}

#[test]
fn apply_and_revert_log_every_key_and_a_summary() {
    let out = tcptune(&["apply", "outbound-client", "--yes"]).run();
    out.status(0);
    let msgs: Vec<&str> = out.syslog.iter().map(|r| message(r)).collect();
    assert!(
        msgs.contains(&"apply: profile=outbound-client key=net.ipv4.ip_local_port_range from=\"32768 60999\" to=\"10240 65535\" file=/etc/sysctl.d/99-zz-tcptune.conf uid=0"),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter().any(|m| m
            .starts_with("apply: profile=outbound-client key=net.ipv4.tcp_tw_reuse from=2 to=1 ")),
        "{msgs:#?}"
    );
    let summary = msgs.last().unwrap();
    assert!(
        summary.starts_with("apply: profile=outbound-client summary: 3 live values changed, 1 file written file=/etc/sysctl.d/99-zz-tcptune.conf"),
        "{summary}"
    );
    assert_eq!(msgs.len(), 4, "{msgs:#?}");

    // A second apply changes nothing: no record. A dry run: none either.
    let again = tcptune(&["apply", "outbound-client", "--yes"])
        .before("\"$1\" apply outbound-client --yes > /dev/null")
        .run();
    again.status(0);
    assert_eq!(
        again.syslog.len(),
        4,
        "only the first apply logs: {:#?}",
        again.syslog
    );
    let dry = tcptune(&["apply", "outbound-client", "--dry-run"]).run();
    dry.status(0);
    assert!(dry.syslog.is_empty(), "{:#?}", dry.syslog);

    // Revert logs what it put back.
    let rev = tcptune(&["revert", "--yes"])
        .before("\"$1\" apply outbound-client --yes > /dev/null")
        .run();
    rev.status(0);
    let msgs: Vec<&str> = rev.syslog.iter().map(|r| message(r)).collect();
    assert!(
        msgs.iter().any(|m| m.starts_with(
            "revert: key=net.ipv4.ip_local_port_range from=\"10240 65535\" to=\"32768 60999\""
        )),
        "{msgs:#?}"
    );
    assert!(
        msgs.last()
            .unwrap()
            .starts_with("revert: summary: 3 live values changed, 1 file written")
    );
}

#[test]
fn a_missing_system_log_is_a_warning_not_a_failure() {
    let out = tcptune(&["apply", "outbound-client", "--yes"])
        .before("umount /dev/log && rm /dev/log")
        .run();
    out.status(0)
        .stderr_has("the change is done, but it could not be logged to /dev/log");
}

/// A system log that stopped reading (its queue full) holds a change up
/// for at most the 2 s budget, then it is a warning: apply holds the lock,
/// and a hook must not hang on journald.
#[test]
fn a_stalled_system_log_delays_a_change_by_at_most_two_seconds() {
    let stall = r#"
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setblocking(False)
try:
    while True:
        s.sendto(b"filler", sys.argv[1])
except BlockingIOError:
    pass
open(sys.argv[1] + ".full", "w").close()
time.sleep(30)
"#;
    let out = tcptune(&["apply", "outbound-client", "--yes"])
        .file("stall.py", stall)
        .before(
            "sock=$TCPTUNE_SCRATCH/stalled.sock
python3 stall.py $sock </dev/null >/dev/null 2>&1 & echo $! > $TCPTUNE_SCRATCH/stall.pid
while [ ! -e $sock.full ]; do sleep 0.05; done
umount /dev/log && mount --bind $sock /dev/log
date +%s%N > $TCPTUNE_SCRATCH/start",
        )
        .after(
            "echo $(( ($(date +%s%N) - $(cat $TCPTUNE_SCRATCH/start)) / 1000000 ))
kill $(cat $TCPTUNE_SCRATCH/stall.pid)
cat /proc/sys/net/ipv4/tcp_tw_reuse",
        )
        .run();
    out.status(0).stderr_has(
        "the change is done, but it could not be logged to /dev/log: the system log stopped accepting records (4 of 4 not sent within 2 s)",
    );
    let mut lines = out.after.lines();
    let ms: u64 = lines.next().unwrap().parse().unwrap();
    assert!((1900..3000).contains(&ms), "took {ms} ms");
    assert_eq!(lines.next(), Some("1"), "the change itself is done");
}
