//! Hostile inputs: what a sysadmin reviews is exactly what tcptune writes,
//! and nothing outside tcptune's own place is touched.
//!
//! Every case runs in the strict sandbox (tests/sandbox.sh with
//! TCPTUNE_STRICT: read-only /, private /dev, empty tmpfs /etc, /run and
//! /var/lib), so even a regression cannot reach this host. Injections aim
//! at a *net* key (tcp_syn_retries = 1), which the sandbox lets the real
//! loaders write, so "the loaders set nothing unplanned" is observable.

mod common;

use common::tcptune;

const FILE: &str = "/etc/sysctl.d/99-zz-tcptune.conf";
/// What each real loader leaves in tcp_syn_retries after loading FILE in
/// a fresh namespace (6 unless something smuggled a line in).
const LOAD_BOTH: &str = "for l in '/lib/systemd/systemd-sysctl /etc/sysctl.d/99-zz-tcptune.conf' 'sysctl -q -p /etc/sysctl.d/99-zz-tcptune.conf'; do unshare -n sh -c \"$l >/dev/null 2>&1; cat /proc/sys/net/ipv4/tcp_syn_retries /proc/sys/net/ipv4/tcp_synack_retries\"; done";

/// A profile whose `why` (and name) try to end the comment line.
fn smuggling_profile(why: &str) -> String {
    format!(
        "description: \"looks harmless\"\nsysctls:\n  tcp_synack_retries:\n    value: 2\n    why: \"{why}\"\n"
    )
}

#[test]
fn free_text_cannot_smuggle_a_line_into_the_file() {
    // YAML escapes: \r, \0, \n, NEL, and a CR LF pair.
    for why in [
        "ok\\rnet.ipv4.tcp_syn_retries = 1",
        "ok\\0net.ipv4.tcp_syn_retries = 1",
        "ok\\nnet.ipv4.tcp_syn_retries = 1",
        "ok\\r\\nnet.ipv4.tcp_syn_retries = 1",
        "ok\\Nnet.ipv4.tcp_syn_retries = 1",
    ] {
        let out = tcptune(&["apply", "./p.yaml", "--yes"])
            .strict()
            .file("p.yaml", &smuggling_profile(why))
            .after(&format!(
                "grep -c 'tcp_syn_retries' {FILE}; od -c {FILE} | grep -c '\\\\r\\|\\\\0' "
            ))
            .after(LOAD_BOTH)
            .run();
        out.status(0);
        // The only mention is inside the escaped comment; no CR or NUL byte;
        // both loaders set synack to 2 and leave syn_retries at 6.
        assert_eq!(out.after, "1\n0\n6\n2\n6\n2\n", "{why}: {}", out.after);
    }
}

#[test]
fn a_file_name_with_a_newline_stays_in_the_comment() {
    let name = "x\nnet.ipv4.tcp_syn_retries = 1\n.yaml";
    let out = tcptune(&["apply", &format!("./{name}"), "--yes"])
        .strict()
        .file(name, &smuggling_profile("fine"))
        .after(LOAD_BOTH)
        .run();
    out.status(0);
    assert_eq!(out.after, "6\n2\n6\n2\n", "{}", out.after);
}

#[test]
fn control_characters_in_keys_and_values_are_refused_before_anything_is_written() {
    for (entry, expect) in [
        (
            "net.ipv4.tcp_fastopen: \"1\\rnet.ipv4.tcp_syn_retries = 1\"",
            "holds a control character",
        ),
        (
            "net.ipv4.tcp_fastopen: \"1\\0\"",
            "holds a control character",
        ),
        ("\"net.ipv4.tcp_fastopen\\r\": 1", "not a sysctl key"),
    ] {
        let out = tcptune(&["apply", "./p.yaml", "--yes"])
            .strict()
            .file("p.yaml", &format!("sysctls:\n  {entry}\n"))
            .after(&format!(
                "ls {FILE} /var/lib/tcptune 2>&1 | grep -c 'No such'"
            ))
            .run();
        out.status(2).stderr_has("./p.yaml:2:3").stderr_has(expect);
        out.after_is("2\n");
    }
}

#[test]
fn only_net_keys_unless_the_profile_opts_in_visibly() {
    for key in [
        "kernel.core_pattern",
        "/kernel/core_pattern",
        ".kernel.core_pattern",
        "kernel/core_pattern",
    ] {
        let out = tcptune(&["diff", "./p.yaml"])
            .strict()
            .file("p.yaml", &format!("sysctls:\n  {key}: \"|/tmp/x %p\"\n"))
            .run();
        out.status(2).stdout_empty();
        assert!(
            out.stderr.contains("is outside net.*") || out.stderr.contains("not a sysctl key"),
            "{key}: {}",
            out.stderr
        );
    }
    // Opted in: allowed, and marked for the reviewer in diff and JSON.
    let p = "sysctls:\n  kernel.pid_max: {value: 4194304, allow_outside_net: true, why: containers need more pids}\n";
    let out = tcptune(&["diff", "./p.yaml"])
        .strict()
        .file("p.yaml", p)
        .run();
    out.status(0)
        .stdout_has("! outside net.*: the profile opted in with allow_outside_net");
    let out = tcptune(&["diff", "./p.yaml", "--format", "json"])
        .strict()
        .file("p.yaml", p)
        .run();
    assert_eq!(out.json()["entries"][0]["outside_net"], true);
}

#[test]
fn escapes_from_a_profile_are_shown_never_interpreted() {
    let p = "description: \"\\e]8;;http://evil\\aclick\\e]8;;\\a list\"\nsysctls:\n  tcp_synack_retries: {value: 2, why: \"hidden\\e[3F\\e[2K\\rrow\"}\n";
    for color in ["never", "always"] {
        for args in [
            vec!["diff", "./p.yaml"],
            vec!["apply", "./p.yaml", "--dry-run"],
        ] {
            let mut args = args.clone();
            args.extend(["--color", color]);
            let out = tcptune(&args).strict().file("p.yaml", p).run();
            out.status(0).stdout_has("hidden\\x1b[3F\\x1b[2K\\rrow");
            let injected = ["\x1b[3F", "\x1b[2K", "\r", "\x1b]8"];
            assert!(
                !injected.iter().any(|s| out.stdout.contains(s)),
                "{args:?}: {:?}",
                out.stdout
            );
        }
    }
    let out = tcptune(&["list", "--root", "."])
        .strict()
        .file("etc/tcptune/profiles/evil.yaml", p)
        .run();
    out.status(0).stdout_has("\\x1b]8;;http://evil\\x07click");
    assert!(
        !out.stdout.contains('\x1b') && !out.stdout.contains('\x07'),
        "{:?}",
        out.stdout
    );
    // JSON stays exact: serde escapes.
    let out = tcptune(&["diff", "./p.yaml", "--format", "json"])
        .strict()
        .file("p.yaml", p)
        .run();
    assert_eq!(out.json()["entries"][0]["why"], "hidden\x1b[3F\x1b[2K\rrow");
}

/// An image under $TCPTUNE_SCRATCH/img with links that point out of it.
const IMAGE: &str = r#"
img=$TCPTUNE_SCRATCH/img
mkdir -p $img/etc/sysctl.d $img/etc/static/sysctl.d $img/proc
echo 'net.ipv4.tcp_fin_timeout = 77 # HOST SECRET' > $TCPTUNE_SCRATCH/secret
ln -s $TCPTUNE_SCRATCH/secret $img/etc/sysctl.d/50-host.conf
ln -s ../../../../../../$TCPTUNE_SCRATCH/secret $img/etc/sysctl.d/51-dotdot.conf
echo 'net.ipv4.tcp_keepalive_time = 600' > $img/etc/static/sysctl.d/60-nixos.conf
ln -s /etc/static/sysctl.d/60-nixos.conf $img/etc/sysctl.d/60-nixos.conf
echo 'net.ipv4.tcp_keepalive_intvl = 30' > $img/etc/sysctl.conf
ln -s ../sysctl.conf $img/etc/sysctl.d/99-sysctl.conf
"#;

#[test]
fn root_resolves_links_inside_the_image() {
    let out = tcptune(&["list"])
        .strict()
        .after(IMAGE)
        .after("$1 --root $img --loader systemd files")
        .run();
    // Absolute and relative links resolve inside the image: NixOS's and
    // Debian's links read, the host's secret never.
    assert!(
        !out.after.contains("HOST SECRET") && !out.after.contains("= 77"),
        "{}",
        out.after
    );
    assert!(
        out.after.contains("net.ipv4.tcp_keepalive_time = 600"),
        "{}",
        out.after
    );
    assert!(
        out.after.contains("net.ipv4.tcp_keepalive_intvl = 30"),
        "{}",
        out.after
    );
    assert!(
        out.after
            .contains("/etc/sysctl.d/50-host.conf  dangling link"),
        "{}",
        out.after
    );
}

#[test]
fn root_writes_stay_inside_the_image() {
    // The image's sysctl.d links to /etc, and its /run/tcptune to the
    // sandbox's /etc: writes must land in the image's own directories.
    let out = tcptune(&["list"])
        .strict()
        .after("img=$TCPTUNE_SCRATCH/img; mkdir -p $img/etc $img/run $img/var/lib; ln -s /etc $img/etc/sysctl.d; ln -s /etc $img/run/tcptune")
        .after("$1 --root $img apply outbound-client --persist-only --yes >/dev/null; echo \"apply: $?\"")
        .after("ls -A /etc; echo --; ls -A $img/etc")
        .run();
    // The sandbox's /etc holds only what the sandbox put there; the file
    // and the lock (through the image's /run/tcptune -> /etc) are in the
    // image's /etc.
    out.after_is("apply: 0\nld.so.cache\n--\n99-zz-tcptune.conf\nlock\nsysctl.d\n");
}

#[test]
fn netns_changes_only_that_namespace_and_keeps_its_own_state() {
    let out = tcptune(&["list"])
        .strict()
        .before("unshare -n sleep 30 & sleep 0.2; echo $! > $TCPTUNE_SCRATCH/pid")
        .after("ns=/proc/$(cat $TCPTUNE_SCRATCH/pid)/ns/net")
        // Without --live-only: live only, said so; no file, no host state.
        .after("$1 --netns $ns apply syn-flood --yes | grep -c 'changes live values only'; echo \"apply: $?\"")
        .after("ls /etc/sysctl.d /var/lib/tcptune 2>&1 | grep -c 'No such'; ls /run/tcptune | grep -c '^netns-[0-9]*.json$'")
        .after("nsenter --net=$ns cat /proc/sys/net/ipv4/tcp_synack_retries; cat /proc/sys/net/ipv4/tcp_synack_retries")
        // A plain revert has nothing of the other namespace to undo.
        .after("$1 revert --yes | tail -1; nsenter --net=$ns cat /proc/sys/net/ipv4/tcp_synack_retries")
        .after("$1 --netns $ns apply syn-flood --persist-only --yes; echo \"persist: $?\"")
        .after("$1 --netns $ns revert --yes >/dev/null; nsenter --net=$ns cat /proc/sys/net/ipv4/tcp_synack_retries")
        .after("kill $(cat $TCPTUNE_SCRATCH/pid)")
        .run();
    assert!(
        out.after
            .starts_with("1\napply: 0\n2\n1\n1\n5\nNothing to revert"),
        "{}",
        out.after
    );
    assert!(
        out.after
            .contains("--persist-only conflicts with --netns without --root"),
        "{}",
        out.after
    );
    assert!(out.after.ends_with("persist: 2\n5\n"), "{}", out.after);
}

#[test]
fn a_world_writable_profile_is_not_applied_by_root() {
    let out = tcptune(&["--root", ".", "diff", "mine"])
        .strict()
        .file(
            "etc/tcptune/profiles/mine.yaml",
            "sysctls:\n  tcp_synack_retries: 2\n",
        )
        .mode("etc/tcptune/profiles/mine.yaml", 0o666)
        .run();
    out.status(2)
        .stderr_has("etc/tcptune/profiles/mine.yaml: writable by others (mode 0666)")
        .stderr_has("Fix: chmod go-w");
    let out = tcptune(&["apply", "./p.yaml", "--yes"])
        .strict()
        .file("p.yaml", "sysctls:\n  tcp_synack_retries: 2\n")
        .mode(".", 0o775)
        .after("cat /proc/sys/net/ipv4/tcp_synack_retries")
        .run();
    out.status(2)
        .stderr_has("writable by its group (mode 0775)");
    out.after_is("5\n");
}

#[test]
fn the_lock_is_roots_alone_and_never_followed() {
    let out = tcptune(&["apply", "syn-flood", "--yes"])
        .strict()
        .after("stat -c '%a %n' /run/tcptune /run/tcptune/lock")
        .run();
    out.status(0)
        .after_is("700 /run/tcptune\n600 /run/tcptune/lock\n");
    let out = tcptune(&["apply", "syn-flood", "--yes"])
        .strict()
        .before("mkdir -p /run/tcptune && ln -s /etc/nologin /run/tcptune/lock")
        .after(
            "ls /etc/nologin 2>&1 | grep -c 'No such'; cat /proc/sys/net/ipv4/tcp_synack_retries",
        )
        .run();
    out.status(2).stderr_has("/run/tcptune/lock");
    out.after_is("1\n5\n");
}

#[test]
fn file_is_confined_whatever_force_says() {
    for (file, expect) in [
        ("etc/sysctl.d/x.conf", "not an absolute path"),
        ("/dev/null", "tcptune writes only directly into"),
        ("/etc/passwd", "tcptune writes only directly into"),
        (
            "/etc/sysctl.d/../passwd.conf",
            "tcptune writes only directly into",
        ),
        (
            "/etc/sysctl.d/.hidden.conf",
            "ignores names starting with '.'",
        ),
        ("/etc/sysctl.d/x.txt", "names ending in .conf"),
    ] {
        let out = tcptune(&["apply", "syn-flood", "--yes", "--force", "--file", file])
            .strict()
            .after("stat -c %F /dev/null; cat /proc/sys/net/ipv4/tcp_synack_retries")
            .run();
        out.status(2).stderr_has(expect);
        out.after_is("character special file\n5\n");
    }
    // A link, FIFO or directory in the target's place is never replaced.
    for setup in [
        "ln -s /etc/passwd /etc/sysctl.d/99-zz-tcptune.conf",
        "mkfifo /etc/sysctl.d/99-zz-tcptune.conf",
        "mkdir /etc/sysctl.d/99-zz-tcptune.conf",
    ] {
        let out = tcptune(&["apply", "syn-flood", "--yes", "--force"])
            .strict()
            .before(&format!("mkdir -p /etc/sysctl.d && echo root:x:0:0 > /etc/passwd && {setup}"))
            .after("cat /etc/passwd; stat -c %F /etc/sysctl.d/99-zz-tcptune.conf; cat /proc/sys/net/ipv4/tcp_synack_retries")
            .run();
        out.status(2)
            .stderr_has("tcptune replaces only regular files");
        assert!(
            out.after.starts_with("root:x:0:0\n") && out.after.ends_with("5\n"),
            "{setup}: {}",
            out.after
        );
    }
}

#[test]
fn a_tampered_state_is_an_error_not_an_instruction() {
    let state = |key: &str, path: &str| {
        format!(
            r#"{{"version":2,"netns":{{"inode":0,"cookie":null}},"originals":{{"{key}":{{"value":"1","wrote":"5","since":1}}}},"files":{{"{path}":{{"before":null,"wrote":"x","since":1}}}},"applies":[],"journal":null,"seq":1}}"#
        )
    };
    for (key, path, expect) in [
        (
            "net/../../../etc/x",
            "/etc/sysctl.d/99-zz-tcptune.conf",
            "key net/../../../etc/x",
        ),
        (
            "net.ipv4.tcp_synack_retries",
            "/etc/sysctl.d/../../tmp/x.conf",
            "tcptune writes only directly into",
        ),
        (
            "net.ipv4.tcp_synack_retries",
            "/etc/shadow",
            "tcptune writes only directly into",
        ),
    ] {
        let out = tcptune(&["revert", "--yes"])
            .strict()
            .before(&format!(
                "mkdir -p /var/lib/tcptune && cat > /var/lib/tcptune/state.json <<'EOF'\n{}\nEOF",
                state(key, path)
            ))
            .after("cat /proc/sys/net/ipv4/tcp_synack_retries")
            .run();
        out.status(2).stderr_has(expect);
        out.after_is("5\n");
    }
    // A state others could have rewritten is refused.
    let out = tcptune(&["revert", "--yes"])
        .strict()
        .before("$1 apply syn-flood --yes >/dev/null && chmod 666 /var/lib/tcptune/state.json")
        .after("cat /proc/sys/net/ipv4/tcp_synack_retries")
        .run();
    out.status(2)
        .stderr_has("state.json: writable by others (mode 0666)");
    out.after_is("1\n");
}
