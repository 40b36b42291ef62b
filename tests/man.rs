//! The committed man/tcptune.8 must be what the clap definition generates
//! today. Regenerate with `TCPTUNE_BLESS=1 cargo test --test man`.

mod common;

#[test]
fn committed_man_page_is_current() {
    let path = common::repo().join("man/tcptune.8");
    let fresh = tcptune::man::render();
    if std::env::var_os("TCPTUNE_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "man/tcptune.8 is stale: run `TCPTUNE_BLESS=1 cargo test --test man` and commit it"
    );
}

/// The completion files the package installs are what `tcptune
/// completions SHELL` prints today (same blessing).
#[test]
fn committed_completion_scripts_are_current() {
    for (shell, file) in [
        (clap_complete::Shell::Bash, "tcptune.bash"),
        (clap_complete::Shell::Zsh, "_tcptune"),
        (clap_complete::Shell::Fish, "tcptune.fish"),
    ] {
        let path = common::repo().join("contrib/completions").join(file);
        let fresh = tcptune::complete::registration(shell).unwrap();
        if std::env::var_os("TCPTUNE_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        assert!(
            std::fs::read(&path).unwrap_or_default() == fresh,
            "{} is stale: run `TCPTUNE_BLESS=1 cargo test --test man` and commit it",
            path.display()
        );
    }
}

#[test]
fn man_page_documents_every_command_and_exit_status() {
    let page = String::from_utf8(tcptune::man::render()).unwrap();
    for needle in [
        "tcptune list",
        "tcptune diff",
        "tcptune check",
        "tcptune explain",
        "tcptune lint",
        "tcptune show",
        "tcptune completions",
        "EXIT STATUS",
        "JSON OUTPUT",
        "\\-\\-exit\\-code",
    ] {
        assert!(page.contains(needle), "man page lacks {needle}");
    }
}

#[test]
fn profile_format_page_covers_every_field() {
    let page = std::fs::read_to_string(common::repo().join("man/tcptune-profile.5"))
        .unwrap()
        .replace("\\-", "-");
    for field in [
        "description",
        "extends",
        "sysctls",
        "value",
        "at_least",
        "at_most",
        "why",
        "/etc/tcptune/profiles",
    ] {
        assert!(page.contains(field), "tcptune-profile(5) lacks {field}");
    }
    for p in tcptune::library::BUILTIN {
        assert!(
            page.contains(p.0),
            "tcptune-profile(5) does not mention built-in {}",
            p.0
        );
    }
}

/// The profiles in tcptune-profile(5)'s EXAMPLES are valid.
#[test]
fn profile_page_examples_pass_lint() {
    let page = std::fs::read_to_string(common::repo().join("man/tcptune-profile.5")).unwrap();
    let examples = page
        .split(".SH EXAMPLES")
        .nth(1)
        .expect("an EXAMPLES section");
    let mut files = Vec::new();
    for block in examples.split(".nf\n").skip(1) {
        let body = block.split(".fi").next().unwrap();
        let text: String = body
            .lines()
            .filter(|l| !l.starts_with(".RS") && !l.starts_with(".RE"))
            .map(|l| format!("{}\n", l.replace("\\-", "-")))
            .collect();
        if text.starts_with("description:") {
            files.push(text);
        }
    }
    assert_eq!(files.len(), 2, "{examples}");
    let mut t = common::tcptune(&["lint", "a.yaml", "b.yaml"]);
    t = t.file("a.yaml", &files[0]).file("b.yaml", &files[1]);
    t.run()
        .status(0)
        .stdout_has("a.yaml: ok")
        .stdout_has("b.yaml: ok");
}
