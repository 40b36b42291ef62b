//! Every file in tests/bad-profiles/ is a profile that must be rejected:
//! exit status 2, an error on stderr naming the file (and line, column and
//! key where the file's `# expect:` lines say so), and nothing on stdout.
//! `# mode: diff` files need the live kernel (run inside `unshare -rn`).

mod common;

use std::path::Path;

use common::{repo, tcptune};

/// Files that cannot carry a comment header.
const HEADERLESS: &[(&str, &str)] = &[
    ("zero-bytes.yaml", "the file is empty"),
    (
        "not-utf8.yaml",
        ":2:14: not valid UTF-8 (first bad byte at offset 22)",
    ),
];

fn expectations(path: &Path) -> (Vec<String>, bool) {
    let name = path.file_name().unwrap().to_str().unwrap();
    if let Some((_, e)) = HEADERLESS.iter().find(|(n, _)| *n == name) {
        return (vec![e.to_string()], false);
    }
    let text = std::fs::read_to_string(path).unwrap();
    let expects: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_string)
        .collect();
    assert!(!expects.is_empty(), "{name} has no `# expect:` line");
    (expects, text.contains("# mode: diff"))
}

fn check(out: &common::Outcome, shown_as: &str, expects: &[String]) {
    out.status(2).stdout_lacks(": ok");
    for e in expects {
        let full = if e.starts_with(':') {
            format!("{shown_as}{e}")
        } else {
            e.clone()
        };
        out.stderr_has(&full);
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn every_bad_profile_is_rejected_with_its_location() {
    let dir = repo().join("tests/bad-profiles");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "corpus shrank to {}", files.len());
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let (expects, live) = expectations(&path);
        let contents = std::fs::read(&path).unwrap();
        let shown_as = format!("./{name}");
        let t = tcptune(&[if live { "diff" } else { "lint" }, &shown_as]);
        std::fs::write(t.dir().join(&name), contents).unwrap();
        let out = if live { t.netns().run() } else { t.run() };
        check(&out, &shown_as, &expects);
        if !live {
            // The same file read through diff in a namespace fails the same way.
            let t = tcptune(&["diff", &shown_as]);
            std::fs::write(t.dir().join(&name), std::fs::read(&path).unwrap()).unwrap();
            check(&t.netns().run(), &shown_as, &expects);
        }
    }
}

#[test]
fn cyclic_extends_in_the_admin_directory() {
    let dir = repo().join("tests/bad-profiles/cycle");
    let t = tcptune(&["lint", "--root", ".", "etc/tcptune/profiles/a.yaml"]);
    let t = t.file(
        "etc/tcptune/profiles/a.yaml",
        &std::fs::read_to_string(dir.join("a.yaml")).unwrap(),
    );
    let t = t.file(
        "etc/tcptune/profiles/b.yaml",
        &std::fs::read_to_string(dir.join("b.yaml")).unwrap(),
    );
    let out = t.run();
    let (expects, _) = expectations(&dir.join("a.yaml"));
    // The cycle is found while loading b, the profile whose extends closes it.
    out.status(2)
        .stderr_has("extends forms a cycle: a -> b -> a");
    assert!(expects.iter().any(|e| e.contains("a -> b -> a")));
}

#[test]
fn lint_reports_each_file_and_fails_if_any_is_bad() {
    let out = tcptune(&["lint", "good.yaml", "bad.yaml"])
        .file(
            "good.yaml",
            "description: ok\nsysctls:\n  somaxconn: 1024\n",
        )
        .file("bad.yaml", "sysctls:\n  somaxconn: -1\n")
        .run();
    out.status(2).stdout_has("good.yaml: ok").stderr_has(
        "bad.yaml:2:3: somaxconn: -1 is outside the range the kernel accepts (0..2147483647)",
    );
    let j = tcptune(&["lint", "--format", "json", "bad.yaml"])
        .file("bad.yaml", "sysctls:\n  somaxconn: -1\n")
        .run()
        .json();
    assert_eq!(j["files"][0]["valid"], false);
}

#[test]
fn every_shipped_profile_lints_clean() {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("profiles"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    let mut args = vec!["lint"];
    args.extend(files.iter().map(String::as_str));
    tcptune(&args).run().status(0).stderr_empty();
}
