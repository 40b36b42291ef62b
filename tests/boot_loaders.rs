//! tcptune's boot model against the real loaders.
//!
//! Every layout in tests/boot-layouts/ (a tree of sysctl.d files, masks,
//! globs, /etc/sysctl.conf...) is staged into a sandbox (tests/sandbox.sh:
//! fresh user, network and mount namespace, empty sysctl directories,
//! /proc/sys read-only outside this namespace's net/). There tcptune
//! predicts each key's boot value, then the real systemd-sysctl or procps
//! `sysctl --system` runs, and the values it left in /proc/sys must be
//! exactly the predicted ones (the kernel default where tcptune says no
//! file sets the key). File order is compared with
//! `systemd-sysctl --cat-config`, and the lines tcptune warns about with
//! the lines the loader rejected.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use tcptune::catalog;
use tcptune::value::Value;

const SYSTEMD_SYSCTL: &str = "/lib/systemd/systemd-sysctl";

const SCRIPT: &str = r#"
# First the tree as an image under --root (read only), before the sandbox
# stages it at / (so a link wrongly resolved on the host finds nothing).
"$BIN" --root "$TCPTUNE_STAGE" --loader "$LOADER" why --format json $KEYS > "$OUT/why-root.json"
. "$REPO/tests/sandbox.sh"
paths=$(for k in $KEYS; do echo "/proc/sys/$(echo "$k" | tr . /)"; done)
cat $paths > "$OUT/before"
"$BIN" --loader "$LOADER" why --format json $KEYS > "$OUT/why.json"
"$BIN" --loader "$LOADER" files --format json > "$OUT/files.json"
if [ "$LOADER" = systemd ]; then
  # Colours mark the file headers apart from file lines that look like
  # them (Debian's /etc/sysctl.conf opens with one).
  SYSTEMD_COLORS=1 SYSTEMD_URLIFY=0 "$SYSTEMD_SYSCTL" --cat-config --no-pager > "$OUT/cat-config" 2>/dev/null
  "$SYSTEMD_SYSCTL" 2> "$OUT/loader.err"
else
  sysctl --system > /dev/null 2> "$OUT/loader.err"
fi
cat $paths > "$OUT/after"
"#;

struct Run {
    keys: Vec<String>,
    before: Vec<String>,
    after: Vec<String>,
    why: serde_json::Value,
    why_root: serde_json::Value,
    files: serde_json::Value,
    cat_config: String,
    loader_err: String,
}

fn run(layout: &Path, loader: &str) -> Run {
    let keys: Vec<String> = std::fs::read_to_string(layout.join("keys"))
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("unshare")
        .args(["-rnm", "sh", "-c", SCRIPT])
        .env("REPO", common::repo())
        .env("TCPTUNE_STAGE", layout.join("root"))
        .env("TCPTUNE_HOST_NETNS", common::host_netns())
        .env("KEYS", keys.join(" "))
        .env("LOADER", loader)
        .env("BIN", common::BIN)
        .env("OUT", out.path())
        .env("TCPTUNE_SCRATCH", out.path())
        .env("SYSTEMD_SYSCTL", SYSTEMD_SYSCTL)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{}: sandbox script failed",
        layout.display()
    );
    // Lossy: the layouts hold invalid UTF-8 on purpose.
    let read = |f: &str| {
        String::from_utf8_lossy(&std::fs::read(out.path().join(f)).unwrap_or_default()).into_owned()
    };
    Run {
        before: read("before").lines().map(str::to_string).collect(),
        after: read("after").lines().map(str::to_string).collect(),
        why: serde_json::from_str(&read("why.json")).unwrap(),
        why_root: serde_json::from_str(&read("why-root.json")).unwrap(),
        files: serde_json::from_str(&read("files.json")).unwrap(),
        cat_config: read("cat-config"),
        loader_err: read("loader.err"),
        keys,
    }
}

fn layouts() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::repo().join("tests/boot-layouts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The value the kernel holds after `text` was written to `key`.
fn as_kernel(key: &str, text: &str) -> Option<Value> {
    Value::from_write(text, catalog::find(key))
}

fn check_values(layout: &Path, loader: &str, r: &Run) {
    let name = layout.file_name().unwrap().to_string_lossy();
    check_same_under_root(&name, r);
    for (i, key) in r.keys.iter().enumerate() {
        let entry = r.why["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == key.as_str())
            .unwrap();
        let predicted = &entry["boot"][loader];
        // A value the kernel refuses leaves the one before it.
        let expected = match predicted["value"].as_str() {
            Some(v) => as_kernel(key, v).or_else(|| as_kernel(key, &r.before[i])),
            None => as_kernel(key, &r.before[i]),
        };
        let actual = Value::from_kernel(&r.after[i], catalog::find(key));
        if catalog::find(key).is_none() {
            check_uncatalogued(&name, loader, key, predicted, &r.before[i], &r.after[i]);
            continue;
        }
        assert_eq!(
            actual, expected,
            "{name} under {loader}: {key} is {} after the real loader, tcptune predicted {predicted} (before: {})\nloader stderr:\n{}",
            r.after[i], r.before[i], r.loader_err
        );
    }
}

/// Read as an image (`--root LAYOUT/root`, no live kernel), the layout
/// gives the same boot values, files and lines as on the booted system:
/// absolute links (NixOS's /etc/static) and relative ones (Debian's
/// 99-sysctl.conf) resolve inside the root.
fn check_same_under_root(name: &str, r: &Run) {
    let pick = |why: &serde_json::Value| -> Vec<serde_json::Value> {
        why["keys"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|k| {
                ["systemd", "procps"].map(|l| {
                    let b = &k["boot"][l];
                    serde_json::json!([k["key"], l, b["file"], b["line"], b["carried"]])
                })
            })
            .collect()
    };
    assert_eq!(
        pick(&r.why_root),
        pick(&r.why),
        "{name}: --root gives other boot values than the booted system"
    );
}

/// tcptune does not know the type of a key outside its catalog, so it
/// shows the boot value as the file spells it. The kernel keeps a prefix
/// of that text's words: an integer key reads its numbers and ignores
/// the rest (`1  # comment` leaves 1).
fn check_uncatalogued(
    name: &str,
    loader: &str,
    key: &str,
    predicted: &serde_json::Value,
    before: &str,
    after: &str,
) {
    let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let kept = words(after);
    let ok = match predicted["value"].as_str() {
        // An integer the kernel takes; other text it may refuse (leaving
        // the value before).
        Some(v) => {
            let written = words(v);
            let integer = written.first().is_some_and(|w| w.parse::<i64>().is_ok());
            (!kept.is_empty() && written.starts_with(&kept)) || (!integer && kept == words(before))
        }
        None => kept == words(before),
    };
    assert!(
        ok,
        "{name} under {loader}: {key} is {after:?} after the real loader, tcptune predicted {predicted} (before: {before:?})"
    );
}

/// (file, line) pairs the real loader complained about as malformed.
fn rejected_lines(loader: &str, stderr: &str) -> BTreeSet<(String, usize)> {
    let mut out = BTreeSet::new();
    for l in stderr.lines() {
        let parsed = if loader == "systemd" {
            // "/etc/sysctl.d/50-a.conf:1: Line is not an assignment, ignoring: ..."
            l.contains("Line is not an assignment")
                .then(|| l.splitn(3, ':').collect::<Vec<_>>())
                .and_then(|p| Some((p[0].to_string(), p[1].parse().ok()?)))
        } else {
            // "sysctl: /etc/sysctl.d/50-a.conf(1): invalid syntax, continuing..."
            l.contains("invalid syntax")
                .then(|| l.trim_start_matches("sysctl: "))
                .and_then(|t| {
                    let (file, rest) = t.split_once('(')?;
                    Some((file.to_string(), rest.split(')').next()?.parse().ok()?))
                })
        };
        out.extend(parsed);
    }
    out
}

/// Lines tcptune flags as malformed. A line with no key before '=' is not
/// a syntax error to the loaders: they fail writing it, and say so without
/// a line number, so it is checked apart (`empty_key_failures`).
fn warned_lines(files: &serde_json::Value) -> BTreeSet<(String, usize)> {
    files["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == "malformed")
        .filter_map(|w| {
            Some((
                w["path"].as_str()?.to_string(),
                w["line"].as_u64()? as usize,
            ))
        })
        .collect()
}

fn is_empty_key(w: &serde_json::Value) -> bool {
    w["kind"] == "empty-key"
}

/// tcptune warns about exactly the lines the loader rejected.
fn check_rejections(layout: &Path, loader: &str, r: &Run) {
    assert_eq!(
        warned_lines(&r.files),
        rejected_lines(loader, &r.loader_err),
        "{}: malformed lines differ under {loader}\n{}",
        layout.display(),
        r.loader_err
    );
    check_empty_keys(layout, loader, r);
}

fn check_empty_keys(layout: &Path, loader: &str, r: &Run) {
    let ours = r.files["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| is_empty_key(w))
        .count();
    let theirs = r
        .loader_err
        .lines()
        .filter(|l| {
            if loader == "systemd" {
                l.contains("to '':")
            } else {
                l.contains("Path is not under /proc/sys/: /proc/sys/")
            }
        })
        .count();
    assert_eq!(
        ours,
        theirs,
        "{}: empty keys under {loader}\n{}",
        layout.display(),
        r.loader_err
    );
}

#[test]
fn boot_values_match_procps_sysctl_system() {
    let layouts = layouts();
    assert!(layouts.len() >= 12);
    for layout in layouts {
        let r = run(&layout, "procps");
        check_values(&layout, "procps", &r);
        check_rejections(&layout, "procps", &r);
    }
}

#[test]
fn boot_values_and_file_order_match_systemd_sysctl() {
    if !Path::new(SYSTEMD_SYSCTL).exists() {
        panic!("{SYSTEMD_SYSCTL} is missing: install systemd (.ci/run does)");
    }
    for layout in layouts() {
        let r = run(&layout, "systemd");
        check_values(&layout, "systemd", &r);
        // --cat-config silently leaves out a dangling link (which still
        // replaces same-named files; the value check above covers that).
        let ours: Vec<&str> = r.files["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["state"] != "missing")
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        let theirs: Vec<&str> = r
            .cat_config
            .lines()
            .filter_map(|l| l.strip_prefix("\x1b[0;1;34m# ")?.strip_suffix("\x1b[0m"))
            .collect();
        // --cat-config stops listing at a file with a line of 1 MiB or more
        // (loading goes on; the value check above covers that).
        let long_line = |f: &str| {
            r.files["warnings"].as_array().unwrap().iter().any(|w| {
                w["path"] == f
                    && w["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("1 MiB or more"))
            })
        };
        let cut = theirs.last().is_some_and(|f| long_line(f)) && ours.starts_with(&theirs);
        assert!(
            ours == theirs || cut,
            "{}: file order differs from systemd-sysctl --cat-config\nours:   {ours:?}\ntheirs: {theirs:?}",
            layout.display()
        );
        check_rejections(&layout, "systemd", &r);
    }
}

#[test]
fn the_loaders_really_differ_where_tcptune_says_they_do() {
    // Guards the corpus: these layouts exist to show a difference.
    for (layout, key) in [
        ("sysctl-conf-present", "net.ipv4.tcp_fin_timeout"),
        ("dash-prefix", "net.ipv4.tcp_syn_retries"),
        ("exclusion-after-assignment", "net.ipv4.tcp_fin_timeout"),
        // systemd-sysctl skips hidden names; procps reads them.
        ("hidden-files", "net.ipv4.tcp_fin_timeout"),
        // systemd ends a line at CR; procps hands the CR to the kernel.
        ("carriage-return-and-nul", "net.ipv4.tcp_keepalive_time"),
    ] {
        let dir = common::repo().join("tests/boot-layouts").join(layout);
        let (s, p) = (run(&dir, "systemd"), run(&dir, "procps"));
        let i = s.keys.iter().position(|k| k == key).unwrap();
        assert_ne!(
            s.after[i], p.after[i],
            "{layout}: systemd-sysctl and sysctl --system agree on {key}"
        );
    }
}
