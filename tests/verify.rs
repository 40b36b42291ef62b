//! The check at boot and on a timer: `check --applied` checks the last
//! apply's profile over what it set, and the systemd units that run it
//! pass `systemd-analyze verify`.

mod common;

use common::{repo, tcptune};

#[test]
fn check_applied_follows_the_last_apply() {
    // Nothing applied: nothing to check, exit 0.
    tcptune(&["check", "--applied"])
        .run()
        .status(0)
        .stderr_has("tcptune has applied nothing here");
    let doc = tcptune(&["check", "--applied", "--format", "json"])
        .run()
        .json();
    assert_eq!(doc["nothing_applied"], true);
    // In sync after an apply; drift when a value moves; a profile given
    // by path is found again from another directory.
    let profile = "description: x\nsysctls:\n  net.ipv4.tcp_fin_timeout: 30\n";
    tcptune(&["check", "--applied"])
        .file("p.yaml", profile)
        .before("\"$1\" apply ./p.yaml --yes >/dev/null && cd /")
        .run()
        .status(0);
    let out = tcptune(&["check", "--applied"])
        .file("p.yaml", profile)
        .before("\"$1\" apply ./p.yaml --yes >/dev/null && echo 45 > /proc/sys/net/ipv4/tcp_fin_timeout")
        .run();
    out.status(1)
        .stdout_has("drift: net.ipv4.tcp_fin_timeout is 45, p wants 30");
    // An apply of the live values only is checked over the live values only:
    // no file sets the key, and that is not drift here.
    tcptune(&["check", "--applied"])
        .before("\"$1\" apply outbound-client --yes --live-only >/dev/null")
        .run()
        .status(0);
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for unit in ["tcptune-verify.service", "tcptune-verify.timer"] {
        let text = std::fs::read_to_string(repo().join("contrib/systemd").join(unit)).unwrap();
        // The unit names the installed binary; this build stands in for it.
        let text = text.replace("/usr/bin/tcptune", common::BIN);
        assert!(unit.ends_with(".timer") || text.contains(common::BIN));
        let path = dir.path().join(unit);
        std::fs::write(&path, text).unwrap();
        units.push(path);
    }
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .expect("systemd-analyze (systemd) is installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}
