//! The Ansible module (contrib/ansible/tcptune.py) and the README's own
//! Ansible, Puppet and Salt snippets, run with real Ansible (ansible-core
//! 2.19 from PyPI, installed on first use into cargo's test temp dir)
//! against localhost inside the sandbox. Ansible's home and temp dirs are
//! in the test's scratch dir, never this host's.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{repo, tcptune};

/// The venv's bin directory, installing ansible-core there the first time
/// (once per run: the tests run in parallel threads of this process).
fn ansible() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(install_ansible).clone()
}

fn install_ansible() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ansible-venv");
    let bin = venv.join("bin");
    if bin.join("ansible-playbook").exists() {
        return bin;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(bin.join("pip"))
            .args([
                "install",
                "--quiet",
                "--no-cache-dir",
                "ansible-core>=2.19,<2.20",
            ])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "could not install ansible-core into {} (needs python3 and PyPI)",
        venv.display()
    );
    bin
}

/// Shell that runs ansible-playbook in the sandbox: `play ARGS...`.
fn play_fn() -> String {
    format!(
        r#"
export HOME=$TCPTUNE_SCRATCH/home ANSIBLE_HOME=$TCPTUNE_SCRATCH/home/.ansible
export ANSIBLE_LOCAL_TEMP=$TCPTUNE_SCRATCH/ansible-tmp ANSIBLE_REMOTE_TEMP=$TCPTUNE_SCRATCH/ansible-tmp
export ANSIBLE_LIBRARY={lib} ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_DEPRECATION_WARNINGS=0
export ANSIBLE_PYTHON_INTERPRETER={bin}/python3
# Ansible refuses to start without a UTF-8 locale; CI runs with none set.
export LC_ALL=C.UTF-8
mkdir -p $HOME
# play BIN PLAYBOOK ARGS...: the module's results (decoded JSON, one per
# line), tcptune's refusal if any, the diff's changed lines, the recap.
play() {{
  bin=$1; shift
  {bin}/ansible-playbook -i localhost, -c local -e tcptune_bin=$bin -e ansible_become=false "$@" > $TCPTUNE_SCRATCH/play.out 2>&1
  sed -n 's/^ *"msg": "RESULT \(.*\)"$/\1/p' $TCPTUNE_SCRATCH/play.out | while read -r b; do echo "$b" | base64 -d; echo; done
  grep -q 'would not win at boot' $TCPTUNE_SCRATCH/play.out && echo 'FAILED: would not win at boot'
  grep -E '^[+-]net\.|^localhost *:' $TCPTUNE_SCRATCH/play.out
}}
"#,
        lib = repo().join("contrib/ansible").display(),
        bin = ansible().display()
    )
}

#[test]
fn the_module_applies_checks_diffs_and_reverts_with_real_ansible() {
    let pb = repo().join("tests/ansible/playbook.yml");
    let pb = pb.display();
    let out = tcptune(&["list"])
        .after(&play_fn())
        .after(&format!("echo '== first'; play $1 {pb}"))
        .after(&format!("echo '== second'; play $1 {pb}"))
        .after("echo 3 > /proc/sys/net/ipv4/tcp_synack_retries")
        .after(&format!("echo '== check'; play $1 {pb} --check; cat /proc/sys/net/ipv4/tcp_synack_retries"))
        .after(&format!("echo '== checked'; play $1 {pb} -e state=checked"))
        .after(&format!("echo '== revert'; play $1 {pb} -e state=reverted; cat /proc/sys/net/ipv4/tcp_synack_retries /proc/sys/net/core/somaxconn; ls /etc/sysctl.d | wc -l"))
        .after(&format!("echo '== diff'; play $1 {pb} --check --diff"))
        .after("echo 'net.ipv4.tcp_fin_timeout = 30' > /etc/sysctl.conf")
        .after(&format!("echo '== conflict'; play $1 {pb}; cat /proc/sys/net/ipv4/tcp_synack_retries"))
        .run();
    let section = |name: &str| -> String {
        out.after
            .split(&format!("== {name}\n"))
            .nth(1)
            .and_then(|s| s.split("\n== ").next())
            .unwrap_or_else(|| panic!("no {name} section: {}", out.after))
            .trim_end()
            .to_string()
    };
    let result = |name: &str| -> serde_json::Value {
        let line = section(name)
            .lines()
            .find(|l| l.starts_with('{'))
            .map(str::to_string);
        let line = line.unwrap_or_else(|| panic!("{name}: no module result: {}", out.after));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"))
    };
    // First run changes, second is unchanged (changed=0).
    assert!(section("first").contains("changed=1"), "{}", out.after);
    assert_eq!(result("first")["result"], "applied");
    assert!(section("second").contains("changed=0"), "{}", out.after);
    assert_eq!(result("second")["result"], "nothing-to-do");
    // --check on a drifted host: changed, the drift named, nothing touched.
    assert!(
        section("check").contains("changed=1") && section("check").ends_with("3"),
        "{}",
        out.after
    );
    let drift = &result("check")["drift"];
    assert_eq!(drift[0]["key"], "net.ipv4.tcp_synack_retries");
    assert_eq!(
        (drift[0]["live"].as_str(), drift[0]["target"].as_str()),
        (Some("3"), Some("2"))
    );
    // state=checked reports, never changes.
    assert!(
        section("checked").contains("changed=0") && section("checked").contains("failed=0"),
        "{}",
        out.after
    );
    assert_eq!(result("checked")["result"], "drift");
    // state=reverted: the originals (kernel defaults here), no file.
    assert!(
        section("revert").contains("changed=1") && section("revert").ends_with("5\n4096\n0"),
        "{}",
        out.after
    );
    // --diff shows the file tcptune would write, line by line.
    assert!(
        section("diff").contains("+net.ipv4.tcp_synack_retries = 2"),
        "{}",
        out.after
    );
    // A later file that would win at boot fails the task with tcptune's message.
    let conflict = section("conflict");
    assert!(
        conflict.contains("FAILED: would not win at boot")
            && conflict.contains("failed=1")
            && conflict.ends_with("5"),
        "{}",
        out.after
    );
}

/// The README's snippets marked "(tested)": its Ansible playbooks, and
/// the shell form of Puppet's and Salt's `unless` pattern.
#[test]
fn the_readme_snippets_work() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks: Vec<(String, String)> = readme
        .split("```")
        .collect::<Vec<_>>()
        .chunks(2)
        .filter_map(|c| c.get(1))
        .filter_map(|b| {
            b.split_once('\n')
                .map(|(lang, body)| (lang.trim().to_string(), body.to_string()))
        })
        .filter(|(_, body)| body.lines().next().is_some_and(|l| l.contains("(tested")))
        .collect();
    let yaml: Vec<&String> = blocks
        .iter()
        .filter(|(l, _)| l == "yaml")
        .map(|(_, b)| b)
        .collect();
    let sh: Vec<&String> = blocks
        .iter()
        .filter(|(l, _)| l == "sh")
        .map(|(_, b)| b)
        .collect();
    assert!(
        yaml.len() >= 2 && !sh.is_empty(),
        "the README lost its tested snippets"
    );
    let mut t = tcptune(&["list"]).after(&play_fn()).after("mkdir -p $TCPTUNE_SCRATCH/bin && ln -sf $1 $TCPTUNE_SCRATCH/bin/tcptune; export PATH=$TCPTUNE_SCRATCH/bin:$PATH");
    for (i, body) in yaml.iter().enumerate() {
        let file = format!("readme-{i}.yml");
        t = t.file(&file, body).after(&format!(
            "echo '== yaml {i} run'; play $1 {file}; echo '== yaml {i} again'; play $1 {file}; echo '== yaml {i} check'; echo 3 > /proc/sys/net/ipv4/tcp_synack_retries; play $1 {file} --check; cat /proc/sys/net/ipv4/tcp_synack_retries; $1 revert --yes >/dev/null"
        ));
    }
    for (i, body) in sh.iter().enumerate() {
        let file = format!("readme-{i}.sh");
        t = t.file(&file, body).after(&format!(
            "echo '== sh {i}'; sh {file} >/dev/null; echo \"first: $?\"; tcptune check web-server; echo \"check: $?\"; sh {file} | wc -l; $1 revert --yes >/dev/null"
        ));
    }
    let out = t.run();
    for i in 0..yaml.len() {
        let part = |what: &str| {
            out.after
                .split(&format!("== yaml {i} {what}\n"))
                .nth(1)
                .unwrap_or("")
                .split("\n== ")
                .next()
                .unwrap_or("")
                .trim_end()
                .to_string()
        };
        // The first run changes the host (the command form also reports
        // the drift its check task found as a change).
        assert!(
            part("run").contains("failed=0") && !part("run").contains("changed=0"),
            "README yaml {i}: {}",
            out.after
        );
        assert!(
            part("again").contains("changed=0") && part("again").contains("failed=0"),
            "README yaml {i}: {}",
            out.after
        );
        // Under --check on a drifted host: reported as changed, nothing touched.
        assert!(
            part("check").contains("changed=1") && part("check").ends_with("3"),
            "README yaml {i} --check: {}",
            out.after
        );
    }
    for i in 0..sh.len() {
        assert!(
            out.after
                .contains(&format!("== sh {i}\nfirst: 0\ncheck: 0\n0\n")),
            "README sh {i}: {}",
            out.after
        );
    }
}
