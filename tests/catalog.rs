//! The catalog's facts checked against the running kernel, inside a
//! throwaway network namespace (`unshare -rn`): every range is probed just
//! inside (accepted) and just outside (EINVAL), and every fixed default is
//! what a fresh namespace starts with. Keys that exist only in the initial
//! namespace cannot be written from a child one and are skipped.

use std::process::Command;

use tcptune::catalog::{self, Default, Kind, Scope};
use tcptune::key::to_path as key_to_path;

/// One write to try: (key, value, whether the kernel must accept it).
type Case = (&'static str, String, bool);

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for p in catalog::PARAMS
        .iter()
        .filter(|p| p.scope == Scope::PerNetns)
    {
        let r = p.range;
        match p.kind {
            Kind::Pair => {
                cases.push((p.key, format!("{} {}", r.min, r.max), true));
                cases.push((p.key, format!("{} {}", r.max, r.max), true));
                cases.push((p.key, format!("{} 100", r.min - 1), false));
                cases.push((p.key, format!("{} {}", r.min, r.max + 1), false));
                cases.push((p.key, "2000 1999".to_string(), false));
            }
            // The kernel's limit is INT_MAX/HZ (HZ = 100..1000); the catalog
            // uses INT_MAX/1000, valid for every HZ. INT_MAX/100 + 1 is out
            // of range whatever HZ this kernel was built with.
            Kind::Seconds => {
                cases.push((p.key, r.min.to_string(), true));
                cases.push((p.key, r.max.to_string(), true));
                cases.push((p.key, (i64::from(i32::MAX) / 100 + 1).to_string(), false));
                cases.push((p.key, (-(i64::from(i32::MAX) / 100) - 1).to_string(), false));
            }
            Kind::Int | Kind::Millis => {
                cases.push((p.key, r.min.to_string(), true));
                cases.push((p.key, r.max.to_string(), true));
                cases.push((p.key, (r.min - 1).to_string(), false));
                cases.push((p.key, (r.max + 1).to_string(), false));
            }
        }
    }
    cases
}

/// Runs every case in one namespace; returns tee's verdict per case.
fn probe(cases: &[Case]) -> Vec<String> {
    // ip_local_port_range's low end must be >= ip_unprivileged_port_start.
    let mut script =
        String::from("echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start || exit 99\n");
    for (key, value, _) in cases {
        let path = format!("/proc/sys/{}", key_to_path(key));
        script.push_str(&format!("if [ -e {path} ]; then r=$(printf '%s' '{value}' | tee {path} 2>&1 >/dev/null) && echo ok || echo \"$r\"; else echo absent; fi\n"));
    }
    let out = Command::new("unshare")
        .args(["-rn", "sh", "-c", &script])
        .output()
        .expect("unshare");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn catalog_ranges_match_the_kernel() {
    let cases = cases();
    let verdicts = probe(&cases);
    assert_eq!(verdicts.len(), cases.len());
    let mut checked = 0;
    for ((key, value, accept), verdict) in cases.iter().zip(&verdicts) {
        if verdict == "absent" {
            eprintln!("skipped: {key} is not on this kernel");
            continue;
        }
        checked += 1;
        if *accept {
            assert_eq!(verdict, "ok", "{key} = {value} must be accepted");
        } else {
            assert!(
                verdict.ends_with("Invalid argument"),
                "{key} = {value} must be rejected with EINVAL, got {verdict:?}"
            );
        }
    }
    assert!(checked >= 60, "only {checked} cases ran");
}

#[test]
fn fixed_defaults_are_what_a_fresh_netns_starts_with() {
    let params: Vec<_> = catalog::PARAMS
        .iter()
        .filter(|p| p.scope == Scope::PerNetns)
        .filter_map(|p| match p.default {
            Default::Fixed(v) => Some((p, v)),
            Default::Derived(_) => None,
        })
        .collect();
    let script: String = params
        .iter()
        .map(|(p, _)| {
            format!(
                "cat /proc/sys/{} 2>/dev/null || echo absent\n",
                key_to_path(p.key)
            )
        })
        .collect();
    let out = Command::new("unshare")
        .args(["-rn", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let text = String::from_utf8(out.stdout).unwrap();
    for ((p, default), live) in params.iter().zip(text.lines()) {
        if live == "absent" {
            continue;
        }
        assert_eq!(
            live.split_whitespace().collect::<Vec<_>>(),
            default.split_whitespace().collect::<Vec<_>>(),
            "{}",
            p.key
        );
    }
}

#[test]
fn init_netns_only_keys_are_absent_in_a_child_netns() {
    for p in catalog::PARAMS
        .iter()
        .filter(|p| p.scope == Scope::InitNetnsOnly)
    {
        let path = format!("/proc/sys/{}", key_to_path(p.key));
        let out = Command::new("unshare")
            .args(["-rn", "test", "-e", &path])
            .status()
            .unwrap();
        assert!(!out.success(), "{} exists in a child netns", p.key);
    }
}
