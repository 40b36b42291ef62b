//! apply and revert against the real kernel, inside the test sandbox
//! (tests/sandbox.sh): a fresh user, network and mount namespace whose
//! /etc, /run and /var/lib are empty tmpfs and whose /proc/sys is writable
//! only for the namespace's own net/ keys. Never this host's settings.

mod common;

use common::tcptune;

const FILE: &str = "/etc/sysctl.d/99-zz-tcptune.conf";
const SYSTEMD_SYSCTL: &str = "/lib/systemd/systemd-sysctl";

/// Prints the given keys' live values, one per line.
fn show(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("cat /proc/sys/{}\n", k.replace('.', "/")))
        .collect()
}

const WEB_KEYS: [&str; 4] = [
    "net.core.somaxconn",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_max_syn_backlog",
];

#[test]
fn apply_sets_live_values_and_writes_a_file_the_real_loaders_accept() {
    let out = tcptune(&["apply", "web-server", "--yes"])
        .after(&show(&WEB_KEYS))
        .after(&format!("stat -c %a {FILE}"))
        // A fresh namespace loads the file with each real loader.
        .after(&format!(
            "unshare -n sh -c '{SYSTEMD_SYSCTL} {FILE} && {}'",
            show(&WEB_KEYS).replace('\n', ";")
        ))
        .after(&format!(
            "unshare -n sh -c 'sysctl -q -p {FILE} && {}'",
            show(&WEB_KEYS).replace('\n', ";")
        ))
        .run();
    out.status(0)
        .stdout_has("4 live values written and read back; wrote /etc/sysctl.d/99-zz-tcptune.conf.");
    out.after_is("16384\n2\n15\n16384\n644\n16384\n2\n15\n16384\n16384\n2\n15\n16384\n");
}

#[test]
fn a_second_apply_changes_nothing_not_even_the_mtime() {
    let out = tcptune(&["apply", "web-server", "--yes"])
        .before(&format!("$1 apply web-server --yes >/dev/null && stat -c %Y.%y {FILE} > $TCPTUNE_SCRATCH/mtime1 && cp {FILE} $TCPTUNE_SCRATCH/content1"))
        .after(&format!("stat -c %Y.%y {FILE} | cmp - $TCPTUNE_SCRATCH/mtime1 && cmp {FILE} $TCPTUNE_SCRATCH/content1 && echo unchanged"))
        .run();
    out.status(0)
        .stdout_has("Nothing to do: the live values and the file are already in place.")
        .after_is("unchanged\n");
}

#[test]
fn dry_run_shows_the_plan_and_the_file_diff_and_changes_nothing() {
    let out = tcptune(&["apply", "outbound-client", "--dry-run"])
        .after(&show(&["net.ipv4.ip_local_port_range"]))
        .after(&format!("ls {FILE} /var/lib/tcptune 2>&1 | wc -l"))
        .run();
    out.status(0)
        .stdout_has("--- /dev/null")
        .stdout_has("+++ /etc/sysctl.d/99-zz-tcptune.conf (after)");
    out.stdout_has("+net.ipv4.ip_local_port_range = 10240 65535")
        .stdout_has("Dry run: nothing was changed.");
    out.after_is("32768\t60999\n2\n");
}

#[test]
fn revert_restores_the_kernel_defaults_and_removes_the_file() {
    let out = tcptune(&["revert", "--yes"])
        .before("$1 apply web-server --yes >/dev/null")
        .after(&show(&WEB_KEYS))
        .after(&format!(
            "test -e {FILE} && echo file-left || echo file-gone"
        ))
        .after("$1 revert --yes; echo \"second revert: $?\"")
        .run();
    out.status(0).stdout_has("Reverted everything tcptune changed: 4 live values written and read back; removed /etc/sysctl.d/99-zz-tcptune.conf.");
    assert!(
        out.after.starts_with("4096\n5\n60\n2048\nfile-gone\n"),
        "{}",
        out.after
    );
    // A second revert has nothing to undo: it says so and succeeds (CM runs it again).
    assert!(
        out.after
            .contains("Nothing to revert: tcptune has not changed anything here")
            && out.after.ends_with("second revert: 0\n"),
        "{}",
        out.after
    );
}

#[test]
fn revert_puts_back_a_file_that_existed_before() {
    let old = "# the admin's own\nnet.ipv4.tcp_fin_timeout = 20\n";
    let out = tcptune(&["revert", "--yes"])
        .boot_file(FILE, old)
        .before("$1 apply web-server --yes >/dev/null")
        .after(&format!("cat {FILE}"))
        .run();
    out.status(0).after_is(old);
}

#[test]
fn a_value_the_kernel_rejects_mid_plan_rolls_everything_back() {
    // 1000 is within 1..65535, but below ip_unprivileged_port_start (1024):
    // only the kernel knows, and it says EINVAL after two keys were written.
    let profile = "description: x\nsysctls:\n  tcp_synack_retries: 2\n  tcp_fin_timeout: 15\n  ip_local_port_range: \"1000 2000\"\n  tcp_syn_retries: 3\n";
    let out = tcptune(&["apply", "./bad.yaml", "--yes"])
        .file("bad.yaml", profile)
        .after(&show(&["net.ipv4.tcp_synack_retries", "net.ipv4.tcp_fin_timeout", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syn_retries"]))
        .after(&format!("ls -A /etc/sysctl.d /var/lib/tcptune 2>&1 | grep -c conf; ls {FILE} 2>&1 | grep -c 'No such'"))
        .run();
    out.status(2).stderr_has("cannot write 1000 2000 to net.ipv4.ip_local_port_range: Invalid argument (the kernel rejected the value)");
    out.stderr_has("Rolled back: 2 live values restored; no file was written.");
    out.after_is("5\n60\n32768\t60999\n6\n0\n1\n");
}

#[test]
fn read_only_proc_sys_changes_nothing() {
    let out = tcptune(&["apply", "web-server", "--yes"])
        .before("mount -o remount,bind,ro /proc/sys/net")
        .after(&show(&WEB_KEYS))
        .after(&format!("test -e {FILE} && echo file || echo no-file; test -e /var/lib/tcptune/state.json && echo state || echo no-state"))
        .run();
    // Refused before the plan is carried out, with the kernel's own reason.
    out.status(2).stderr_has("setting live values: cannot write /proc/sys/net/core/somaxconn: Read-only file system (the file system is read-only; inside a container /proc/sys is often mounted read-only); nothing was changed");
    out.after_is("4096\n5\n60\n2048\nno-file\nno-state\n");
}

#[test]
fn read_only_sysctl_d_rolls_back_the_live_values() {
    let out = tcptune(&["apply", "web-server", "--yes"])
        .before("mkdir -p /etc/sysctl.d && mount -t tmpfs -o ro tmpfs /etc/sysctl.d")
        .after(&show(&WEB_KEYS))
        .run();
    out.status(2).stderr_has(
        "writing the sysctl.d file and the state: cannot write /etc/sysctl.d: Read-only file system",
    );
    out.after_is("4096\n5\n60\n2048\n");
}

#[test]
fn a_full_file_system_keeps_the_old_file_and_the_old_values() {
    let old = "net.ipv4.tcp_fin_timeout = 20\n";
    let out = tcptune(&["apply", "web-server", "--yes"])
        .before("mkdir -p /etc/sysctl.d && mount -t tmpfs -o size=8k tmpfs /etc/sysctl.d")
        .before(&format!("printf '{}' > {FILE}", old.replace('\n', "\\n")))
        .before("printf 20 > /proc/sys/net/ipv4/tcp_fin_timeout")
        .before("dd if=/dev/zero of=/etc/sysctl.d/.fill bs=1k count=64 2>/dev/null; true")
        .after(&show(&WEB_KEYS))
        .after(&format!("cat {FILE}; ls -A /etc/sysctl.d"))
        .run();
    out.status(2)
        .stderr_has("No space left on device")
        .stderr_has("Rolled back: 4 live values restored");
    out.after_is(&format!(
        "4096\n5\n20\n2048\n{old}.fill\n99-zz-tcptune.conf\n"
    ));
}

#[test]
fn a_concurrent_apply_fails_at_once_or_waits() {
    let out = tcptune(&["apply", "web-server", "--yes"])
        .before("mkdir -p /run/tcptune && flock /run/tcptune/lock sleep 2 & sleep 0.3")
        .after(&show(&["net.ipv4.tcp_synack_retries"]))
        .run();
    out.status(2)
        .stderr_has("another tcptune apply or revert is running (it holds /run/tcptune/lock: pid");
    out.stderr_has("try again when it ends, or pass --wait");
    out.after_is("5\n");
    let out = tcptune(&["apply", "web-server", "--yes", "--wait"])
        .before("mkdir -p /run/tcptune && flock /run/tcptune/lock sleep 1 & sleep 0.3")
        .after(&show(&["net.ipv4.tcp_synack_retries"]))
        .run();
    out.status(0).after_is("2\n");
}

#[test]
fn a_file_that_would_be_overridden_at_boot_is_refused_unless_forced() {
    let vendor = "/usr/lib/sysctl.d/zz-vendor.conf";
    let out = tcptune(&["--loader", "systemd", "apply", "web-server", "--yes"])
        .boot_file(vendor, "net.ipv4.tcp_fin_timeout = 30\n")
        .after(&show(&["net.ipv4.tcp_fin_timeout"]))
        .run();
    out.status(2)
        .stderr_has("/etc/sysctl.d/99-zz-tcptune.conf would not win at boot:");
    out.stderr_has("net.ipv4.tcp_fin_timeout would load from /usr/lib/sysctl.d/zz-vendor.conf:1 (net.ipv4.tcp_fin_timeout = 30)");
    out.stderr_has(
        "Remove those lines, or write to a file that sorts later (--file), or pass --force",
    );
    out.stdout_has("Other files that set these keys:")
        .stdout_has("/usr/lib/sysctl.d/zz-vendor.conf:1 net.ipv4.tcp_fin_timeout = 30");
    out.after_is("60\n");
    let out = tcptune(&[
        "--loader",
        "systemd",
        "apply",
        "web-server",
        "--yes",
        "--file",
        "/etc/sysctl.d/zzz-tcptune.conf",
    ])
    .boot_file(vendor, "net.ipv4.tcp_fin_timeout = 30\n")
    .run();
    out.status(0)
        .stdout_has("wrote /etc/sysctl.d/zzz-tcptune.conf");
    tcptune(&[
        "--loader",
        "systemd",
        "apply",
        "web-server",
        "--yes",
        "--force",
    ])
    .boot_file(vendor, "net.ipv4.tcp_fin_timeout = 30\n")
    .run()
    .status(0);
}

#[test]
fn persist_only_and_live_only_touch_one_half() {
    let out = tcptune(&["apply", "web-server", "--yes", "--persist-only"])
        .after(&show(&["net.ipv4.tcp_synack_retries"]))
        .after(&format!("grep -c synack {FILE}"))
        .run();
    out.status(0).after_is("5\n1\n");
    let out = tcptune(&["apply", "web-server", "--yes", "--live-only"])
        .after(&show(&["net.ipv4.tcp_synack_retries"]))
        .after(&format!("test -e {FILE} || echo no-file"))
        .run();
    out.status(0).after_is("2\nno-file\n");
}

#[test]
fn persist_only_into_an_image_without_proc() {
    // --root at a directory tree (an image being built): no /proc/sys there.
    let out = tcptune(&[
        "--root",
        "image",
        "apply",
        "outbound-client",
        "--persist-only",
        "--yes",
    ])
    .file("image/etc/sysctl.d/README", "x")
    .run();
    out.status(0)
        .stdout_has("wrote /etc/sysctl.d/99-zz-tcptune.conf");
    let written =
        std::fs::read_to_string(out.dir.path().join("image/etc/sysctl.d/99-zz-tcptune.conf"))
            .unwrap();
    assert!(
        written.contains("net.ipv4.ip_local_port_range = 10240 65535\n"),
        "{written}"
    );
    assert!(
        out.dir
            .path()
            .join("image/var/lib/tcptune/state.json")
            .exists()
    );
}

#[test]
fn json_outcome_for_configuration_management() {
    let out = tcptune(&["apply", "outbound-client", "--yes", "--format", "json"]).run();
    let j = out.json();
    assert_eq!(j["result"], "applied");
    assert_eq!(j["live"].as_array().unwrap().len(), 3);
    assert_eq!(j["files"][0]["changed"], true);
    assert_eq!(j["files"][0]["before"], serde_json::Value::Null);
    assert!(
        j["files"][0]["after"]
            .as_str()
            .unwrap()
            .contains("net.ipv4.ip_local_port_range = 10240 65535\n")
    );
    let out = tcptune(&["apply", "outbound-client", "--yes", "--format", "json"])
        .before("$1 apply outbound-client --yes >/dev/null")
        .run();
    assert_eq!(out.json()["result"], "nothing-to-do");
}

#[test]
fn netns_applies_inside_another_namespace_only() {
    let out = tcptune(&["diff", "web-server"])
        .before("unshare -n sleep 30 & sleep 0.2; echo $! > $TCPTUNE_SCRATCH/pid")
        .before("printf 3 > /proc/sys/net/ipv4/tcp_synack_retries")
        .after("ns=/proc/$(cat $TCPTUNE_SCRATCH/pid)/ns/net")
        .after("$1 --netns $ns apply web-server --yes --live-only >/dev/null; echo \"apply: $?\"")
        .after("nsenter --net=$ns cat /proc/sys/net/ipv4/tcp_synack_retries")
        .after("cat /proc/sys/net/ipv4/tcp_synack_retries")
        .after("$1 --netns $ns check web-server --live-only; echo \"check: $?\"")
        .after("$1 --netns /nonexistent diff web-server; echo \"missing: $?\"")
        .after("kill $(cat $TCPTUNE_SCRATCH/pid)")
        .run();
    out.status(0);
    assert!(
        out.row("net.ipv4.tcp_synack_retries").contains("3"),
        "{}",
        out.stdout
    );
    assert!(
        out.after.starts_with("apply: 0\n2\n3\ncheck: 0\n"),
        "{}",
        out.after
    );
    assert!(
        out.after
            .contains("--netns /nonexistent: No such file or directory"),
        "{}",
        out.after
    );
}

#[test]
fn netns_by_name_under_run_netns() {
    let out = tcptune(&[
        "--netns",
        "blue",
        "apply",
        "syn-flood",
        "--yes",
        "--live-only",
    ])
    .before("mkdir -p /run/netns && ip netns add blue")
    .after("ip netns exec blue cat /proc/sys/net/ipv4/tcp_synack_retries")
    .after("cat /proc/sys/net/ipv4/tcp_synack_retries")
    .run();
    out.status(0)
        .stdout_has("2 live values written and read back.")
        .after_is("1\n5\n");
}

#[test]
fn killed_at_random_moments_the_file_is_old_or_new_never_partial() {
    // 50 applies alternating two profiles, each killed (SIGKILL) after a
    // random 0-10 ms (an apply takes about 8 ms here); after each, the file
    // must be exactly one of the two. (The script runs under sh: no $RANDOM.)
    let script = format!(
        r#"
f={FILE}
$1 apply web-server --yes >/dev/null && cp $f $TCPTUNE_SCRATCH/a
$1 apply outbound-client --yes >/dev/null && cp $f $TCPTUNE_SCRATCH/b
partial=0; temps=0; kills=0
for i in $(seq 1 50); do
  p=web-server; [ $((i % 2)) = 0 ] && p=outbound-client
  us=$(( $(od -An -N2 -tu2 /dev/urandom) % 10000 ))
  timeout -s KILL 0.$(printf %06d $us) $1 apply $p --yes >/dev/null 2>&1 || kills=$((kills + 1))
  cmp -s $f $TCPTUNE_SCRATCH/a || cmp -s $f $TCPTUNE_SCRATCH/b || partial=$((partial + 1))
  ls -A /etc/sysctl.d | grep -q '^\.tcptune-' && temps=$((temps + 1))
done
$1 apply web-server --yes >/dev/null
echo "partial=$partial"
echo "left-after-final=$(ls -A /etc/sysctl.d | grep -c '^\.tcptune-')"
echo "kills=$kills temps-seen=$temps" >&2
"#
    );
    let out = tcptune(&["list"]).after(&script).run();
    assert!(
        out.after.contains("partial=0\nleft-after-final=0\n"),
        "{}",
        out.after
    );
    // How many runs the kill actually cut short, and temp files seen then.
    eprintln!("{}", out.after.trim_end());
    let kills: usize = out
        .after
        .split("kills=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        kills >= 10,
        "only {kills} of 50 runs were killed: the test no longer kills mid-apply"
    );
}

#[test]
fn on_a_terminal_apply_asks_first() {
    // `script` gives tcptune a pseudo-terminal; the answer comes on stdin.
    let ask = |answer: &str| {
        format!(
            "printf '{answer}\\n' | script -qec \"$1 apply web-server\" /dev/null > $TCPTUNE_SCRATCH/tty.out; echo \"rc=$?\"; grep -c 'Apply these changes? \\[y/N\\]' $TCPTUNE_SCRATCH/tty.out; cat /proc/sys/net/ipv4/tcp_synack_retries"
        )
    };
    tcptune(&["list"])
        .after(&ask("n"))
        .run()
        .after_is("rc=1\n1\n5\n");
    tcptune(&["list"])
        .after(&ask("y"))
        .run()
        .after_is("rc=0\n1\n2\n");
}
