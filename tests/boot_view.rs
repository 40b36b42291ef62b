//! The at-boot view as users see it: diff and check statuses, `why` and
//! `files`, on sysctl.d layouts staged into the test sandbox.

mod common;

use common::tcptune;

const WEB: &str = "/etc/sysctl.d/60-web.conf";
const VENDOR: &str = "/usr/lib/sysctl.d/90-vendor.conf";

#[test]
fn a_later_file_overriding_the_profile_is_reported_with_both_lines() {
    let out = tcptune(&["--loader", "systemd", "diff", "web-server"])
        .preset("net.ipv4.tcp_fin_timeout", "15")
        .boot_file(WEB, "net.ipv4.tcp_fin_timeout = 15\n")
        .boot_file(VENDOR, "net.ipv4.tcp_fin_timeout = 30\n")
        .run();
    assert!(
        out.row("net.ipv4.tcp_fin_timeout")
            .ends_with("overridden at boot"),
        "{}",
        out.stdout
    );
    out.stdout_has("at boot: 30 from /usr/lib/sysctl.d/90-vendor.conf:1, overriding /etc/sysctl.d/60-web.conf:1");
    out.stdout_has("against the live kernel and the boot files (systemd-sysctl)");
}

#[test]
fn sysctl_conf_counts_only_for_procps() {
    let t = || {
        tcptune(&["diff", "web-server", "--format", "json"])
            .preset("net.ipv4.tcp_fin_timeout", "15")
            .boot_file(WEB, "net.ipv4.tcp_fin_timeout = 15\n")
            .boot_file("/etc/sysctl.conf", "net.ipv4.tcp_fin_timeout = 45\n")
    };
    let entry = |j: serde_json::Value| {
        j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == "net.ipv4.tcp_fin_timeout")
            .cloned()
            .unwrap()
    };
    let procps = entry(t().run().json());
    assert_eq!(procps["status"], "overridden-at-boot");
    assert_eq!(procps["boot"]["file"], "/etc/sysctl.conf");
    let systemd = entry(
        tcptune(&[
            "--loader",
            "systemd",
            "diff",
            "web-server",
            "--format",
            "json",
        ])
        .preset("net.ipv4.tcp_fin_timeout", "15")
        .boot_file(WEB, "net.ipv4.tcp_fin_timeout = 15\n")
        .boot_file("/etc/sysctl.conf", "net.ipv4.tcp_fin_timeout = 45\n")
        .run()
        .json(),
    );
    assert_eq!(systemd["status"], "in-sync");
    assert_eq!(systemd["boot"]["line"], 1);
}

#[test]
fn check_scopes_split_live_and_boot_drift() {
    // Live matches; nothing persists it.
    let lost = || {
        tcptune(&["check", "outbound-client"])
            .preset("net.ipv4.ip_local_port_range", "10240 65535")
            .preset("net.ipv4.tcp_tw_reuse", "1")
            .preset("net.ipv4.tcp_syn_retries", "3")
    };
    lost().run().status(1).stdout_has("drift at boot: net.ipv4.tcp_tw_reuse will load the kernel default (no file sets it), outbound-client wants 1");
    let mut args = vec!["check", "outbound-client", "--live-only"];
    let live = tcptune(&args)
        .preset("net.ipv4.ip_local_port_range", "10240 65535")
        .preset("net.ipv4.tcp_tw_reuse", "1")
        .preset("net.ipv4.tcp_syn_retries", "3")
        .run();
    live.status(0).stdout_empty();
    args[2] = "--boot-only";
    // Persisted but not live: boot-only passes, live-only fails.
    let files = "net.ipv4.ip_local_port_range = 10240 65535\nnet.ipv4.tcp_tw_reuse = 1\nnet.ipv4.tcp_syn_retries = 3\n";
    tcptune(&args)
        .boot_file(WEB, files)
        .run()
        .status(0)
        .stdout_empty();
    tcptune(&["check", "outbound-client", "--live-only"])
        .boot_file(WEB, files)
        .run()
        .status(1)
        .stdout_has("drift: net.ipv4.tcp_tw_reuse is 2, outbound-client wants 1");
    tcptune(&["check", "outbound-client", "--live-only", "--boot-only"])
        .run()
        .status(2)
        .stderr_has("cannot be used with");
}

#[test]
fn why_shows_every_line_and_the_winner_under_each_loader() {
    let out = tcptune(&["why", "tcp_fin_timeout"])
        .preset("net.ipv4.tcp_fin_timeout", "15")
        .boot_file(WEB, "net.ipv4.tcp_fin_timeout = 15\n")
        .boot_file(VENDOR, "net.ipv4.tcp_fin_timeout = 30\n")
        .boot_file(
            "/etc/sysctl.conf",
            "# local\nnet.ipv4.tcp_fin_timeout = 45\n",
        )
        .run();
    out.status(0).stdout_has("live 15");
    out.stdout_has("boot systemd-sysctl: 30 from /usr/lib/sysctl.d/90-vendor.conf:1");
    out.stdout_has("boot sysctl --system (this system's loader): 45 from /etc/sysctl.conf:2");
    out.stdout_has("/etc/sysctl.d/60-web.conf:1 net.ipv4.tcp_fin_timeout = 15\n");
    out.stdout_has("/etc/sysctl.conf:2 net.ipv4.tcp_fin_timeout = 45 [wins under sysctl --system; systemd-sysctl does not read this file]");
    let j = tcptune(&["why", "net.ipv4.tcp_keepalive_time", "--format", "json"])
        .boot_file(WEB, "net.ipv4.tcp_keepalive_* = 100\n")
        .run()
        .json();
    let k = &j["keys"][0];
    assert_eq!(k["boot"]["systemd"]["value"], "100");
    assert_eq!(k["assignments"][0]["glob"], true);
    assert_eq!(
        k["assignments"][0]["wins"],
        serde_json::json!(["systemd", "procps"])
    );
}

#[test]
fn why_names_links_exclusions_repeats_and_what_the_kernel_carries() {
    let out = tcptune(&[
        "why",
        "tcp_keepalive_time",
        "tcp_fin_timeout",
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.lo.log_martians",
        "net.ipv4.conf.lo.forwarding",
        "net.ipv4.conf.lo.route_localnet",
        "net.ipv4.conf.eth9.rp_filter",
        "net.core.netdev_max_backlog",
        "net.ipv4.no_such_key",
    ])
    .boot_file("/etc/sysctl.conf", "net.ipv4.tcp_keepalive_time = 600\n")
    .boot_link("/etc/sysctl.d/99-sysctl.conf", "../sysctl.conf")
    .boot_file(
        "/etc/sysctl.d/10-a.conf",
        "net.ipv4.tcp_fin_timeout = 30\nnet.ipv4.conf.*.rp_filter = 2\n",
    )
    .boot_file(
        "/etc/sysctl.d/20-b.conf",
        "net.ipv4.tcp_fin_timeout = 30\n-net.ipv4.conf.all.rp_filter\n\
         net.ipv4.conf.default.log_martians = 1\nnet.ipv4.ip_forward = 1\n\
         net.ipv4.conf.default.route_localnet = 1\n",
    )
    .run();
    out.status(0);
    // A link and its target are one file, read by both loaders.
    out.stdout_has("boot both loaders: 600 from /etc/sysctl.conf:1");
    out.stdout_has("/etc/sysctl.conf:1 net.ipv4.tcp_keepalive_time = 600 [wins under both; also read as /etc/sysctl.d/99-sysctl.conf]");
    // The same value again is a repeat, not an override.
    out.stdout_has("[wins under sysctl --system; repeats the value of /etc/sysctl.d/10-a.conf:1]");
    // The exclusion that stops the glob is named.
    out.stdout_has("no file sets it (a glob matches, but /etc/sysctl.d/20-b.conf:2 excludes net.ipv4.conf.all.rp_filter): the kernel default stays");
    // Keys the kernel changes because another key is written.
    out.stdout_has("boot both loaders: 1 from /etc/sysctl.d/20-b.conf:3 (written to net.ipv4.conf.default.log_martians; the kernel copies conf.default to every interface whose own value was never written)");
    out.stdout_has("1 from /etc/sysctl.d/20-b.conf:4 (written to net.ipv4.ip_forward; a change of IPv4 forwarding reaches default and every interface)");
    out.stdout_has("interfaces present when the loader runs keep the kernel default; interfaces created later copy 1 from /etc/sysctl.d/20-b.conf:5");
    // Why a key is absent.
    out.stdout_has("live (no interface eth9 in this network namespace)");
    out.stdout_has("live (only the initial network namespace has it; this is another)");
    out.stdout_has("live (not on this kernel, or its module is not loaded)");
    let j = tcptune(&["why", "net.ipv4.conf.lo.forwarding", "--format", "json"])
        .boot_file("/etc/sysctl.d/20-b.conf", "net.ipv4.ip_forward = 1\n")
        .run()
        .json();
    let k = &j["keys"][0];
    assert_eq!(k["boot"]["procps"]["value"], "1");
    assert_eq!(
        k["boot"]["procps"]["carried"],
        "a change of IPv4 forwarding reaches default and every interface"
    );
    assert_eq!(k["assignments"][0]["written"], "net.ipv4.ip_forward");
    assert_eq!(k["absent"], serde_json::Value::Null);
}

#[test]
fn files_lists_load_order_masks_dead_lines_and_warnings() {
    let out = tcptune(&["--loader", "systemd", "files"])
        .boot_file(
            "/usr/lib/sysctl.d/50-a.conf",
            "net.ipv4.tcp_fin_timeout = 11\n",
        )
        .boot_link("/etc/sysctl.d/50-a.conf", "/dev/null")
        .boot_file(
            "/etc/sysctl.d/10-b.conf",
            "net.ipv4.tcp_syn_retries = 3\nbogus\n",
        )
        .boot_file(VENDOR, "net.ipv4.tcp_syn_retries = 4\n")
        .run();
    out.status(0);
    let order: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with('/')).collect();
    assert_eq!(
        order,
        [
            "/etc/sysctl.d/10-b.conf",
            "/etc/sysctl.d/50-a.conf  masked (empty or /dev/null)",
            "/usr/lib/sysctl.d/90-vendor.conf"
        ]
    );
    out.stdout_has("replaces /usr/lib/sysctl.d/50-a.conf");
    out.stdout_has(
        "1 net.ipv4.tcp_syn_retries = 3 (dead: overridden by /usr/lib/sysctl.d/90-vendor.conf:1)",
    );
    out.stdout_has("/etc/sysctl.d/10-b.conf:2: not an assignment, the loader ignores it: bogus");
}

#[test]
fn root_applies_to_the_boot_files_too() {
    let out = tcptune(&[
        "--root",
        ".",
        "--loader",
        "procps",
        "why",
        "tcp_fin_timeout",
    ])
    .file("etc/sysctl.d/70-x.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    .file("proc/sys/net/ipv4/tcp_fin_timeout", "20\n")
    .run();
    out.status(0)
        .stdout_has("boot both loaders: 20 from /etc/sysctl.d/70-x.conf:1");
}
