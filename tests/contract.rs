//! The contract configuration management relies on: check, apply and
//! revert agree; exit codes mean one thing; every JSON document (errors
//! included) matches the published schema, man/tcptune.schema.json.

mod common;

use common::{schema_errors, tcptune};

#[test]
fn every_json_document_matches_the_schema() {
    let profile = "description: d\nsysctls:\n  tcp_synack_retries: {value: 2, why: fast}\n  net.ipv4.tcp_fastopen: 3\n";
    let docs: Vec<(Vec<&str>, i32)> = vec![
        (vec!["list"], 0),
        (vec!["show", "web-server"], 0),
        (vec!["diff", "web-server", "--explain"], 0),
        (vec!["diff", "outbound-client", "--explain"], 0),
        (vec!["check", "web-server"], 1),
        (vec!["check", "kernel-defaults", "--live-only"], 0),
        (vec!["explain", "tcp_synack_retries"], 0),
        (vec!["explain", "ip_local_port_range"], 0),
        (vec!["explain", "tcp_tw_recycle"], 0),
        (vec!["explain", "net.ipv4.tcp_fastopen"], 0),
        (vec!["explain", "fast-failover"], 0),
        (vec!["why", "tcp_fin_timeout", "net.ipv4.route.flush"], 0),
        (vec!["files"], 0),
        (vec!["lint", "p.yaml", "bad.yaml"], 2),
        (vec!["apply", "./p.yaml", "--dry-run"], 0),
        (vec!["apply", "./p.yaml", "--yes"], 0),
        (vec!["revert", "--yes"], 0),
        (vec!["check", "no-such-profile"], 2),
        (vec!["apply", "web-server"], 2),
    ];
    for (args, status) in docs {
        let mut args = args.clone();
        args.extend(["--format", "json"]);
        let out = tcptune(&args)
            .file("p.yaml", profile)
            .file("bad.yaml", "sysctls:\n  tcp_synack_retries: 300\n")
            .boot_file(
                "/etc/sysctl.d/50-x.conf",
                "net.ipv4.tcp_fin_timeout = 30\n-net.ipv4.conf.*.rp_filter\nbogus line\n",
            )
            .run();
        out.status(status);
        let doc = out.json();
        assert_eq!(doc["command"], args[0], "{args:?}");
        if status == 2 {
            assert!(
                doc["error"]["kind"].is_string() || args[0] == "lint",
                "{args:?}: {doc}"
            );
        }
    }
}

#[test]
fn the_schema_is_not_vacuous() {
    let out = tcptune(&["check", "web-server", "--format", "json"]).run();
    let good = out.json();
    for (pointer, bad) in [
        ("/schema", serde_json::json!(1)),
        ("/entries/0/live", serde_json::json!(4096)),
        ("/entries/0/status", serde_json::json!("drifted")),
        ("/entries/0/drift", serde_json::json!(true)),
        ("/summary/change", serde_json::json!("4")),
    ] {
        let mut doc = good.clone();
        *doc.pointer_mut(pointer).unwrap() = bad;
        assert!(!schema_errors(&doc).is_empty(), "{pointer} accepted");
    }
    let mut doc = good.clone();
    doc.as_object_mut()
        .unwrap()
        .insert("surprise".into(), serde_json::json!(1));
    assert!(
        !schema_errors(&doc).is_empty(),
        "an unknown field was accepted"
    );
}

#[test]
fn errors_are_json_on_stdout_with_the_status_unchanged() {
    let out = tcptune(&["diff", "./bad.yaml", "--format", "json"])
        .file("bad.yaml", "sysctls:\n  tcp_synack_retries: 300\n")
        .run();
    out.status(2);
    let j = out.json();
    assert_eq!(j["error"]["kind"], "invalid-profile");
    assert_eq!(
        (j["error"]["line"].as_u64(), j["error"]["column"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(j["error"]["key"], "tcp_synack_retries");
    assert_eq!(j["error"]["file"], "./bad.yaml");
    let out = tcptune(&["lint", "bad.yaml", "--format", "json"])
        .file(
            "bad.yaml",
            "sysctls:\n  tcp_synack_retries: 300\n  tcp_fin_timeout: \"010\"\n",
        )
        .run();
    out.status(2);
    let errors = &out.json()["files"][0]["errors"];
    assert_eq!(errors.as_array().unwrap().len(), 2);
    assert_eq!(errors[1]["line"], 3);
}

#[test]
fn check_carries_its_scope_and_per_entry_drift() {
    // Live in sync (preset), nothing persists it: live-only says in sync,
    // and the JSON agrees with the exit status.
    let out = tcptune(&["check", "syn-flood", "--live-only", "--format", "json"])
        .preset("net.ipv4.tcp_synack_retries", "1")
        .preset("net.core.somaxconn", "16384")
        .run();
    out.status(0);
    let j = out.json();
    assert_eq!(
        (j["scope"].as_str(), j["changes_pending"].as_bool()),
        (Some("live"), Some(false))
    );
    let row = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "net.ipv4.tcp_synack_retries")
        .unwrap()
        .clone();
    assert_eq!(
        (
            row["drift"]["live"].as_bool(),
            row["drift"]["boot"].as_bool()
        ),
        (Some(false), Some(true))
    );
    tcptune(&["check", "syn-flood", "--format", "json"])
        .preset("net.ipv4.tcp_synack_retries", "1")
        .preset("net.core.somaxconn", "16384")
        .run()
        .status(1);
}

/// Random layouts: a file that sets a profile key before or after
/// tcptune's, under /etc/sysctl.conf or /usr/lib/sysctl.d, with either
/// loader, and random profiles. The contract: apply exits 0 and then check
/// exits 0 (and a second apply has nothing to do), or apply exits 2 saying
/// its file would lose; check exits 1 only when apply --dry-run has
/// something to do or refuses; dry-run and check name the same drifted keys.
#[test]
fn apply_and_check_agree_on_random_layouts() {
    let script = r#"
keys="tcp_fin_timeout tcp_synack_retries tcp_keepalive_time tcp_syn_retries"
profiles="web-server syn-flood behind-load-balancer outbound-client fast-failover kernel-defaults"
bad=0; cases=0; refused=0
for seed in $(seq 1 40); do
  RANDOM=$seed
  rm -rf /etc/sysctl.d/* /usr/lib/sysctl.d/* /etc/sysctl.conf /var/lib/tcptune /run/tcptune
  mkdir -p /etc/sysctl.d /usr/lib/sysctl.d
  for k in $keys; do
    v=$(( RANDOM % 50 + 2 ))
    case $(( RANDOM % 5 )) in
      0) echo "net.ipv4.$k = $v" >> /etc/sysctl.d/10-early.conf ;;
      1) echo "net.ipv4.$k = $v" >> /usr/lib/sysctl.d/$(echo 60 zz | cut -d' ' -f$(( RANDOM % 2 + 1 )))-vendor.conf ;;
      2) echo "net.ipv4.$k = $v" >> /etc/sysctl.conf ;;
      *) ;;
    esac
  done
  loader=$(echo systemd procps | cut -d' ' -f$(( RANDOM % 2 + 1 )))
  p=$(echo $profiles | cut -d' ' -f$(( RANDOM % 6 + 1 )))
  T="$1 --loader $loader"
  $T check $p --format json > c.json; crc=$?
  $T apply $p --dry-run --format json > d.json; drc=$?
  # check's drifted keys, and dry-run's (its plan), must be the same set.
  python3 -c "
import json,sys
c=json.load(open('c.json')); d=json.load(open('d.json'))
ck=sorted(e['key'] for e in c['entries'] if e['drift']['live'] or e['drift']['boot'])
dk=sorted(e['key'] for e in d.get('plan',{}).get('entries',[]) if e['drift']['live'] or e['drift']['boot']) if 'plan' in d else None
if dk is not None and ck != dk: print('seed $seed: check', ck, 'dry-run', dk); sys.exit(1)
" || bad=$((bad + 1))
  if [ $crc = 1 ] && [ $drc = 0 ] && [ "$(python3 -c "import json;print(json.load(open('d.json')).get('result'))")" = nothing-to-do ]; then
    echo "seed $seed: check says drift but apply --dry-run has nothing to do"; bad=$((bad + 1))
  fi
  $T apply $p --yes > /dev/null 2>&1; arc=$?
  if [ $arc = 0 ]; then
    $T check $p > out.txt 2>&1; rc=$?
    [ $rc = 0 ] || { echo "seed $seed ($loader $p): apply 0 but check $rc:"; cat out.txt; bad=$((bad + 1)); }
    $T apply $p --yes --format json | python3 -c "import json,sys; r=json.load(sys.stdin)['result']; sys.exit(r != 'nothing-to-do')" || { echo "seed $seed: second apply not a no-op"; bad=$((bad + 1)); }
  elif [ $arc = 2 ]; then
    refused=$((refused + 1))
    [ $crc = 1 ] || { echo "seed $seed: apply refused but check said $crc"; bad=$((bad + 1)); }
    $T apply $p --yes 2>&1 | grep -q 'would not win at boot' || { echo "seed $seed: refused for another reason"; bad=$((bad + 1)); }
  else
    echo "seed $seed: apply exited $arc"; bad=$((bad + 1))
  fi
  cases=$((cases + 1))
done
echo "bad=$bad"
echo "cases=$cases refused=$refused" >&2
"#;
    let out = tcptune(&["list"])
        .after(&format!(
            "cd $TCPTUNE_SCRATCH && bash -c '{}' bash $1",
            script.replace('\'', "'\\''")
        ))
        .run();
    assert!(out.after.contains("bad=0\n"), "{}", out.after);
    eprintln!("{}", out.after.lines().last().unwrap_or_default());
    let refused: usize = out
        .after
        .split("refused=")
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let cases: usize = out
        .after
        .split("cases=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        refused >= 3 && cases - refused >= 10,
        "the layouts no longer exercise both outcomes: {}",
        out.after
    );
}

#[test]
fn a_later_file_makes_apply_refuse_every_time_not_only_the_first() {
    let conf = "net.ipv4.tcp_fin_timeout = 30\n";
    let out = tcptune(&["--loader", "procps", "apply", "web-server", "--yes", "--force"])
        .boot_file("/etc/sysctl.conf", conf)
        .after("$1 --loader procps apply web-server --yes; echo \"again: $?\"; $1 --loader procps check web-server; echo \"check: $?\"")
        .run();
    out.status(0);
    assert!(
        out.after.contains("would not win at boot") && out.after.contains("again: 2\n"),
        "{}",
        out.after
    );
    assert!(
        out.after.contains(
            "drift at boot: net.ipv4.tcp_fin_timeout will load 30 from /etc/sysctl.conf:1"
        ) && out.after.ends_with("check: 1\n"),
        "{}",
        out.after
    );
}

/// A later file that sets a key to the value the profile wants is no
/// conflict: the boot outcome is the profile's, check says in sync, and
/// apply must agree (found by the random layouts above, seed 17 on CI).
#[test]
fn a_later_file_with_the_same_value_is_not_a_conflict() {
    let out = tcptune(&["list"])
        .boot_file("/etc/sysctl.conf", "net.ipv4.tcp_synack_retries = 2\n")
        .after("T=\"$1 --loader procps\"; echo 2 > /proc/sys/net/ipv4/tcp_synack_retries")
        .after("$T check web-server >/dev/null; echo \"check: $?\"")
        .after("$T apply web-server --yes >/dev/null; echo \"apply: $?\"; $T check web-server; echo \"after: $?\"")
        .after("$T apply web-server --yes --dry-run | tail -1")
        .run();
    assert!(
        out.after.contains("check: 1\napply: 0\nafter: 0\n")
            && out
                .after
                .ends_with("Nothing to do: the live values and the file are already in place.\n"),
        "{}",
        out.after
    );
}

#[test]
fn no_change_without_a_terminal_or_yes() {
    let out = tcptune(&["list"])
        .after("echo n | $1 apply web-server; echo \"rc=$?\"; cat /proc/sys/net/ipv4/tcp_synack_retries; ls /etc/sysctl.d 2>&1 | grep -c 'No such'")
        .after("$1 apply web-server --yes >/dev/null; echo n | $1 revert; echo \"rc=$?\"; cat /proc/sys/net/ipv4/tcp_synack_retries")
        .run();
    assert!(
        out.after
            .contains("no terminal to confirm on: pass --yes to apply"),
        "{}",
        out.after
    );
    assert!(out.after.contains("rc=2\n5\n1\n"), "{}", out.after);
    assert!(
        out.after.contains("pass --yes to revert") && out.after.ends_with("rc=2\n2\n"),
        "{}",
        out.after
    );
}

#[test]
fn a_user_who_cannot_apply_learns_it_before_any_plan() {
    let out = tcptune(&["list"])
        .after("cd $TCPTUNE_SCRATCH && setpriv --reuid=1000 --regid=1000 --clear-groups $1 apply web-server --yes > out 2> err; echo \"rc=$?\"; wc -c < out; cat err")
        .run();
    assert!(out.after.starts_with("rc=2\n0\n"), "{}", out.after);
    assert!(out.after.contains("taking the lock: cannot write /run/tcptune: Permission denied (run as root, or check the file's permissions); nothing was changed\n"), "{}", out.after);
}

#[test]
fn revert_means_back_to_before_tcptune_across_repairs() {
    // apply; someone drifts a key; a repairing apply; revert: every key is
    // back to its value before tcptune, the file gone; a second revert is
    // a no-op that succeeds.
    let out = tcptune(&["list"])
        .after("echo 40 > /proc/sys/net/ipv4/tcp_fin_timeout")
        .after("$1 apply web-server --yes >/dev/null; echo 20 > /proc/sys/net/ipv4/tcp_fin_timeout; $1 apply web-server --yes >/dev/null")
        .after("$1 apply outbound-client --yes >/dev/null")
        // outbound-client (extends kernel-defaults) last wrote 60.
        .after("$1 revert --dry-run | grep -c 'tcp_fin_timeout: 60 -> 40'")
        .after("$1 revert --yes >/dev/null; echo \"rc=$?\"")
        .after("cat /proc/sys/net/ipv4/tcp_fin_timeout /proc/sys/net/ipv4/tcp_synack_retries /proc/sys/net/ipv4/ip_local_port_range; ls -A /etc/sysctl.d | wc -l")
        .after("$1 revert --yes; echo \"again: $?\"")
        .run();
    out.after_is("1\nrc=0\n40\n5\n32768\t60999\n0\nNothing to revert: tcptune has not changed anything here (or a revert already undid it).\nagain: 0\n");
    // revert --last undoes the newest apply only; someone's later change is shown.
    let out = tcptune(&["list"])
        .after("$1 apply web-server --yes >/dev/null; $1 apply outbound-client --yes >/dev/null; echo 7 > /proc/sys/net/ipv4/tcp_syn_retries")
        .after("$1 revert --last --yes | grep -c 'changed by someone else since tcptune set 3'")
        .after("cat /proc/sys/net/ipv4/tcp_syn_retries /proc/sys/net/ipv4/tcp_synack_retries /proc/sys/net/ipv4/ip_local_port_range")
        .run();
    out.after_is("1\n6\n2\n32768\t60999\n");
}

#[test]
fn why_suggests_the_key_you_meant() {
    tcptune(&["why", "tcp_fin_timout"])
        .run()
        .status(2)
        .stderr_has("did you mean `net.ipv4.tcp_fin_timeout`?");
}
