//! Behaviour of every read-only command, end to end through the binary.
//! Live runs happen inside `unshare -rn`, where TCP sysctls start from the
//! kernel's built-in defaults.

mod common;

use common::tcptune;

#[test]
fn diff_shows_changes_against_kernel_defaults_in_a_fresh_netns() {
    let out = tcptune(&["diff", "web-server", "--color", "never"])
        .netns()
        .run();
    out.status(0)
        .stdout_has("web-server (built-in, extends kernel-defaults) against the live kernel");
    let row = out.row("net.ipv4.tcp_synack_retries");
    assert!(
        row.split_whitespace()
            .collect::<Vec<_>>()
            .ends_with(&["5", "2", "change"]),
        "{row}"
    );
    out.stdout_has("why: a client that vanishes mid-handshake");
    assert!(out.row("net.ipv4.tcp_syncookies").ends_with("in sync"));
    assert!(
        out.row("net.core.netdev_max_backlog")
            .ends_with("not in this netns")
    );
    out.stdout_has("4 to change, 14 in sync, 1 not in this netns");
}

#[test]
fn diff_follows_the_live_value_and_the_boot_files() {
    // Set live only: nothing persists it, so the next boot loses it.
    let out = tcptune(&["diff", "web-server"])
        .preset("net.ipv4.tcp_synack_retries", "2")
        .run();
    assert!(
        out.row("net.ipv4.tcp_synack_retries")
            .ends_with("lost at reboot"),
        "{}",
        out.stdout
    );
    out.stdout_has("at boot: the kernel default (no file sets it)");
    // Persisted too: in sync.
    let out = tcptune(&["diff", "web-server"])
        .preset("net.ipv4.tcp_synack_retries", "2")
        .boot_file(
            "/etc/sysctl.d/60-web.conf",
            "net.ipv4.tcp_synack_retries = 2\n",
        )
        .run();
    assert!(
        out.row("net.ipv4.tcp_synack_retries").ends_with("in sync"),
        "{}",
        out.stdout
    );
    out.stdout_has("3 to change, 15 in sync");
    // Persisted but not live.
    let out = tcptune(&["diff", "web-server"])
        .boot_file(
            "/etc/sysctl.d/60-web.conf",
            "net.ipv4.tcp_synack_retries = 2\n",
        )
        .run();
    assert!(
        out.row("net.ipv4.tcp_synack_retries")
            .ends_with("not live yet"),
        "{}",
        out.stdout
    );
    out.stdout_has("at boot: 2 from /etc/sysctl.d/60-web.conf:1");
    // Live matches, but a stale file sets another value: the boot
    // overrides it, and the diff names the line (not "lost at reboot").
    let out = tcptune(&["diff", "web-server"])
        .preset("net.ipv4.tcp_synack_retries", "2")
        .boot_file(
            "/etc/sysctl.d/10-old.conf",
            "net.ipv4.tcp_synack_retries = 4\n",
        )
        .run();
    assert!(
        out.row("net.ipv4.tcp_synack_retries")
            .ends_with("overridden at boot"),
        "{}",
        out.stdout
    );
    out.stdout_has("at boot: 4 from /etc/sysctl.d/10-old.conf:1");
}

#[test]
fn bounds_raise_only_and_report_satisfied() {
    let out = tcptune(&["diff", "web-server"])
        .preset("net.core.somaxconn", "20000")
        .boot_file("/etc/sysctl.d/60-x.conf", "net.core.somaxconn = 20000\n")
        .run();
    assert!(
        out.row("net.core.somaxconn")
            .contains(">= 16384  bound satisfied"),
        "{}",
        out.stdout
    );
    let out = tcptune(&["diff", "web-server", "--format", "json"])
        .preset("net.core.somaxconn", "100")
        .run();
    let row = out.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "net.core.somaxconn")
        .cloned()
        .unwrap();
    assert_eq!(row["status"], "change");
    assert_eq!(row["desired"], "16384");
    assert_eq!(row["target"]["at_least"], "16384");
    assert_eq!(row["boot"]["satisfied"], false);
}

#[test]
fn diff_exit_code_only_when_asked() {
    tcptune(&["diff", "web-server", "--exit-code"])
        .netns()
        .run()
        .status(1);
    tcptune(&["diff", "kernel-defaults", "--exit-code"])
        .netns()
        .run()
        .status(0)
        .stdout_has("in sync");
}

#[test]
fn check_is_quiet_in_sync_and_names_drift() {
    tcptune(&["check", "kernel-defaults"])
        .netns()
        .run()
        .status(0)
        .stdout_empty()
        .stderr_empty();
    let out = tcptune(&["check", "kernel-defaults"])
        .preset("net.ipv4.tcp_fin_timeout", "30")
        .run();
    out.status(1)
        .stdout_has("drift: net.ipv4.tcp_fin_timeout is 30, kernel-defaults wants 60");
    assert_eq!(out.stdout.lines().count(), 1);
}

#[test]
fn check_json_for_configuration_management() {
    let out = tcptune(&["check", "outbound-client", "--format", "json"])
        .netns()
        .run();
    out.status(1);
    let j = out.json();
    assert_eq!(j["schema"], 2);
    assert_eq!(j["command"], "check");
    assert_eq!(j["changes_pending"], true);
    assert_eq!(j["summary"]["change"], 3);
    assert_eq!(
        j["profile"]["chain"],
        serde_json::json!(["outbound-client", "kernel-defaults"])
    );
    let range = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["alias"] == "ip_local_port_range")
        .cloned()
        .unwrap();
    assert_eq!(range["live"], "32768 60999");
    assert_eq!(range["desired"], "10240 65535");
}

#[test]
fn pair_values_compare_despite_the_kernels_tab() {
    let out = tcptune(&["check", "outbound-client", "--live-only"])
        .preset("net.ipv4.ip_local_port_range", "10240 65535")
        .run();
    out.stdout_lacks("ip_local_port_range");
    let out = tcptune(&["check", "outbound-client", "--boot-only"])
        .preset("net.ipv4.ip_local_port_range", "10240 65535")
        .boot_file(
            "/etc/sysctl.d/60-p.conf",
            "net.ipv4.ip_local_port_range = 10240\t65535\n",
        )
        .run();
    out.stdout_lacks("ip_local_port_range");
}

#[test]
fn explain_key_gives_numbers_for_this_machine() {
    let out = tcptune(&["explain", "tcp_synack_retries"]).netns().run();
    out.status(0)
        .stdout_has("net.ipv4.tcp_synack_retries (tcp_synack_retries)")
        .stdout_has("live     5 retransmissions");
    out.stdout_has("is dropped after 63 s (5 SYN-ACK retransmissions; each SYN a client retransmits resends the SYN-ACK and restarts the wait)");
    let out = tcptune(&["explain", "net.ipv4.tcp_synack_retries"])
        .preset("net.ipv4.tcp_synack_retries", "2")
        .run();
    out.stdout_has("dropped after 7 s");
}

#[test]
fn explain_profile_says_after_and_instead_of() {
    let out = tcptune(&["explain", "web-server"]).netns().run();
    out.status(0)
        .stdout_has("net.ipv4.tcp_synack_retries: 5 -> 2")
        .stdout_has("a half-open connection whose client sends no more SYNs (a spoofed SYN, a vanished client) is dropped after 7 s instead of 63 s");
    let out = tcptune(&["explain", "behind-load-balancer"]).netns().run();
    out.stdout_has("detected after 7 min 30 s instead of 2 h 11 min 15 s");
    out.stdout_has("combined with net.ipv4.tcp_keepalive_time, above");
    let out = tcptune(&["diff", "outbound-client", "--explain"])
        .netns()
        .run();
    out.stdout_has("connect() to an unreachable peer fails after 19 s instead of 2 min 11 s");
    out.stdout_has("about 55,296 instead of about 471 new connections per second");
}

#[test]
fn explain_keepalive_from_the_issue_example() {
    let profile = "description: k\nsysctls:\n  tcp_keepalive_time: 600\n  tcp_keepalive_intvl: 30\n  tcp_keepalive_probes: 5\n";
    let out = tcptune(&["explain", "./k.yaml"])
        .file("k.yaml", profile)
        .netns()
        .run();
    out.status(0).stdout_has(
        "an idle peer that vanished is detected after 12 min 30 s instead of 2 h 11 min 15 s",
    );
}

#[test]
fn explain_somaxconn_mentions_listen_time_and_counts_listeners() {
    let out = tcptune(&["explain", "somaxconn"]).netns().run();
    out.stdout_has("listen() backlogs above 4096 are cut to it")
        .stdout_has("listeners that are already open keep their old limit");
    out.stdout_has("(0 listening sockets are open in this network namespace now)");
}

#[test]
fn explain_max_syn_backlog_is_inert_with_syncookies() {
    tcptune(&["explain", "tcp_max_syn_backlog"])
        .netns()
        .run()
        .stdout_has("no effect while tcp_syncookies=1");
    tcptune(&["explain", "tcp_max_syn_backlog"])
        .preset("net.ipv4.tcp_syncookies", "0")
        .run()
        .stdout_has("fewer than 512 of 2048 request slots remain");
}

#[test]
fn explain_syn_retries_on_an_older_kernel_uses_the_classic_rule() {
    // A fake root: a pre-6.5 kernel has no tcp_syn_linear_timeouts.
    let out = tcptune(&["explain", "tcp_syn_retries", "--root", "."])
        .file("proc/sys/net/ipv4/tcp_syn_retries", "6\n")
        .run();
    out.status(0).stdout_has("fails after 2 min 7 s (6 SYN retransmissions; tcp_syn_retries=6; this kernel has no tcp_syn_linear_timeouts");
    let out = tcptune(&["explain", "tcp_syn_retries"]).netns().run();
    out.stdout_has("fails after 2 min 11 s (10 SYN retransmissions; tcp_syn_retries=6 with tcp_syn_linear_timeouts=4)");
}

#[test]
fn explain_removed_and_unknown_topics() {
    tcptune(&["explain", "tcp_tw_recycle"])
        .run()
        .status(0)
        .stdout_has("removed in Linux 4.12")
        .stdout_has("behind NAT");
    tcptune(&["explain", "tcp_synack_retry"])
        .netns()
        .run()
        .status(2)
        .stderr_has("did you mean `net.ipv4.tcp_synack_retries`?");
    tcptune(&["explain", "net.ipv4.tcp_fastopen"])
        .netns()
        .run()
        .status(0)
        .stdout_has("catalog has no explanation");
}

#[test]
fn missing_keys_on_an_older_kernel_are_a_status_not_an_error() {
    // A fake root standing for a pre-5.4 kernel: somaxconn defaults to 128
    // there, so an unpersisted 4096 target is a change, not "not live yet".
    let out = tcptune(&["diff", "kernel-defaults", "--root", "."])
        .file("proc/sys/net/ipv4/tcp_synack_retries", "5\n")
        .file("proc/sys/net/core/somaxconn", "128\n")
        .run();
    out.status(0);
    assert!(
        out.row("net.ipv4.tcp_tw_reuse_delay")
            .ends_with("not on this kernel")
    );
    assert!(
        out.row("net.core.somaxconn").ends_with("change"),
        "{}",
        out.stdout
    );
    assert!(
        out.row("net.ipv4.tcp_synack_retries").ends_with("in sync"),
        "{}",
        out.stdout
    );
}

#[test]
fn uncatalogued_key_is_allowed_when_the_kernel_has_it() {
    let p = "description: x\nsysctls:\n  net.ipv4.tcp_fastopen: 3\n  net.ipv4.tcp_rmem: \"4096  131072\t6291456\"\n";
    let out = tcptune(&["diff", "./x.yaml"])
        .file("x.yaml", p)
        .preset("net.ipv4.tcp_rmem", "4096 131072 6291456")
        .run();
    out.status(0);
    assert!(
        out.row("net.ipv4.tcp_fastopen").ends_with("change"),
        "{}",
        out.stdout
    );
    out.stdout_has(
        "net.ipv4.tcp_fastopen 1 3 change note: not in tcptune's catalog; no explanation",
    );
    // In sync live; nothing persists it, and an uncatalogued key has no known default.
    assert!(
        out.row("net.ipv4.tcp_rmem").ends_with("lost at reboot"),
        "{}",
        out.stdout
    );
    tcptune(&["lint", "x.yaml"])
        .file("x.yaml", p)
        .run()
        .status(0)
        .stdout_has("note: net.ipv4.tcp_fastopen is not in tcptune's catalog");
}

#[test]
fn list_shows_builtins_and_admin_profiles_that_replace_them() {
    let out = tcptune(&["list", "--root", "."])
        .file(
            "etc/tcptune/profiles/web-server.yaml",
            "description: Our own web tuning.\nsysctls:\n  somaxconn: 1024\n",
        )
        .run();
    out.status(0);
    for name in [
        "kernel-defaults",
        "syn-flood",
        "behind-load-balancer",
        "outbound-client",
        "fast-failover",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains("built-in")),
            "{name}\n{}",
            out.stdout
        );
    }
    assert!(
        out.row("web-server")
            .contains("/etc/tcptune/profiles/web-server.yaml")
    );
    out.stdout_has(
        "/etc/tcptune/profiles/web-server.yaml (replaces the built-in) Our own web tuning.",
    );
    let j = tcptune(&["list", "--format", "json"]).run().json();
    assert_eq!(j["profiles"].as_array().unwrap().len(), 6);
}

#[test]
fn admin_profile_wins_and_can_extend_a_builtin() {
    let out = tcptune(&["show", "mine", "--root", "."]).file("etc/tcptune/profiles/mine.yaml", "description: d\nextends: web-server\nsysctls:\n  tcp_synack_retries: {value: 3, why: our clients are slow}\n").run();
    out.status(0)
        .stdout_has("# mine (./etc/tcptune/profiles/mine.yaml, extends web-server > kernel-defaults), resolved by tcptune");
    out.stdout_has("  net.ipv4.tcp_synack_retries:  # from mine\n    value: 3\n    why: \"our clients are slow\"");
    out.stdout_has("  net.ipv4.tcp_fin_timeout:  # from web-server\n    value: 15");
    // builtin:NAME still reaches the built-in that the admin's profile shadows.
    let out = tcptune(&["show", "builtin:web-server", "--root", "."]).file("etc/tcptune/profiles/web-server.yaml", "description: mine\nextends: builtin:web-server\nsysctls:\n  tcp_synack_retries: {value: 3, why: our clients are slow}\n").run();
    out.status(0)
        .stdout_has("  net.ipv4.tcp_synack_retries:  # from web-server\n    value: 2");
    let out = tcptune(&["show", "web-server", "--root", "."]).file("etc/tcptune/profiles/web-server.yaml", "description: mine\nextends: builtin:web-server\nsysctls:\n  tcp_synack_retries: {value: 3, why: our clients are slow}\n").run();
    out.status(0)
        .stdout_has("extends builtin:web-server > kernel-defaults")
        .stdout_has("value: 3");
}

#[test]
fn show_prints_a_profile_you_can_start_from() {
    // show > file; lint file; diff file: the same plan as the built-in.
    for name in [
        "kernel-defaults",
        "web-server",
        "fast-failover",
        "outbound-client",
    ] {
        let out = tcptune(&["lint", "mine.yaml"])
            .before(&format!("$1 show {name} > mine.yaml"))
            .after(&format!("$1 diff ./mine.yaml --format json > a.json; $1 diff {name} --format json > b.json; cmp -s a.json b.json && echo same || diff a.json b.json | head"))
            .run();
        out.status(0).stdout_has("mine.yaml: ok");
        // Only the profile's name and chain differ.
        assert!(!out.after.contains("\"status\""), "{name}: {}", out.after);
    }
}

#[test]
fn show_json_is_the_resolved_profile() {
    let j = tcptune(&["show", "fast-failover", "--format", "json"])
        .run()
        .json();
    assert_eq!(
        j["chain"],
        serde_json::json!(["fast-failover", "behind-load-balancer", "kernel-defaults"])
    );
    assert_eq!(j["sysctls"]["net.ipv4.tcp_keepalive_time"]["value"], "60");
    assert_eq!(
        j["sysctls"]["net.ipv4.tcp_keepalive_time"]["from"],
        "fast-failover"
    );
    assert_eq!(
        j["sysctls"]["net.ipv4.ip_local_port_range"]["value"],
        "32768 60999"
    );
}

#[test]
fn unknown_profile_names_where_it_looked() {
    tcptune(&["diff", "no-such"])
        .netns()
        .run()
        .status(2)
        .stderr_has("no profile named `no-such` (looked in /etc/tcptune/profiles");
    tcptune(&["show", ".."])
        .run()
        .status(2)
        .stderr_has("`..` is not a profile name");
    tcptune(&["show", "../x"])
        .run()
        .status(2)
        .stderr_has("cannot read ../x: No such file or directory");
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let plain = tcptune(&["diff", "web-server"]).netns().run();
    assert!(!plain.stdout.contains('\x1b'), "no colour on a pipe");
    let forced = tcptune(&["diff", "web-server", "--color", "always"])
        .netns()
        .run();
    assert!(forced.stdout.contains("\x1b["), "colour when forced");
    let env = tcptune(&["diff", "web-server"])
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .netns()
        .run();
    assert!(!env.stdout.contains('\x1b'), "NO_COLOR wins over auto");
}

#[test]
fn text_output_fits_80_columns() {
    for args in [
        &["diff", "web-server", "--explain"][..],
        &["explain", "ip_local_port_range"],
        &["list"],
        &["explain", "outbound-client"],
    ] {
        let out = tcptune(args).netns().run();
        out.status(0);
        for line in out.stdout.lines() {
            assert!(
                line.chars().count() <= 80,
                "{args:?}: {line:?} is {} columns",
                line.chars().count()
            );
        }
    }
}

#[test]
fn completions_and_usage_errors() {
    tcptune(&["completions", "bash"])
        .run()
        .status(0)
        .stdout_has("_tcptune()");
    tcptune(&["completions", "zsh"])
        .run()
        .status(0)
        .stdout_has("#compdef tcptune");
    tcptune(&["frobnicate"])
        .run()
        .status(2)
        .stderr_has("unrecognized subcommand");
    tcptune(&["diff"]).run().status(2).stderr_has("<PROFILE>");
}

#[test]
fn help_teaches_with_examples_and_exit_codes() {
    let out = tcptune(&["--help"]).run();
    out.status(0)
        .stdout_has("tcptune diff web-server --explain")
        .stdout_has("Exit status: 0 in sync or done; 1 drift");
    tcptune(&["diff", "--help"])
        .run()
        .status(0)
        .stdout_has("--exit-code")
        .stdout_has("bound satisfied");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "'{}' completions bash | head -c1 >/dev/null; echo ${{PIPESTATUS:-0}}",
                common::BIN
            ),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn errors_quote_little_and_hint_what_fits() {
    // A file that is not a profile is quoted by its start, not in full.
    let long = "root:x:0:0:root:/root:/bin/bash\n".repeat(40);
    let out = tcptune(&["diff", "./passwd"]).file("passwd", &long).run();
    out.status(2).stderr_has(
        "this file holds text of 1279 characters (\"root:x:0:0:root:/root:/bin/bash root:x:0...\")",
    );
    assert!(out.stderr.len() < 400, "{}", out.stderr);
    // A namespace that does not exist is named as such.
    tcptune(&["--netns", "nosuch", "diff", "web-server"])
        .run()
        .status(2)
        .stderr_has("no network namespace named nosuch under /run/netns");
}

#[test]
fn colour_and_width_follow_the_environment() {
    // CLICOLOR_FORCE=0 does not force colour on a pipe; 1 does.
    let plain = tcptune(&["list"]).env("CLICOLOR_FORCE", "0").run();
    assert!(!plain.stdout.contains('\x1b'), "{}", plain.stdout);
    let forced = tcptune(&["list"]).env("CLICOLOR_FORCE", "1").run();
    assert!(forced.stdout.contains("\x1b[1m"), "{}", forced.stdout);
    // COLUMNS widens the wrapping.
    let wide = tcptune(&["explain", "tcp_synack_retries"])
        .env("COLUMNS", "140")
        .run();
    assert!(
        wide.stdout.lines().any(|l| l.len() > 100),
        "{}",
        wide.stdout
    );
    let narrow = tcptune(&["explain", "tcp_synack_retries"]).run();
    assert!(
        narrow.stdout.lines().all(|l| l.chars().count() <= 80),
        "{}",
        narrow.stdout
    );
    // Long profile sources: descriptions on lines of their own.
    let name = "a-rather-long-profile-name-for-the-front-caches";
    let out = tcptune(&["--root", ".", "list"])
        .file(
            &format!("etc/tcptune/profiles/{name}.yaml"),
            "description: Front caches that answer from memory and must never queue a handshake for long.\nsysctls:\n  net.ipv4.tcp_fin_timeout: 30\n",
        )
        .run();
    out.status(0);
    assert!(
        out.stdout
            .contains("\n    Front caches that answer from memory and must never queue a handshake for\n    long.\n"),
        "{}",
        out.stdout
    );
}
