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
