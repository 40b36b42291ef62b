//! Completion in a real interactive bash on a pseudo-terminal
//! (tests/shell/complete.py), registered the way the package installs it:
//! profile names, catalog keys and network namespaces complete, inside
//! the sandbox (its /etc/tcptune/profiles and /run/netns).

mod common;

use common::{repo, tcptune};

fn typed(lines: &[&str]) -> String {
    let bin_dir = std::path::Path::new(common::BIN).parent().unwrap();
    let script = repo().join("tests/shell/complete.py");
    let quoted: Vec<String> = lines.iter().map(|l| format!("'{l}'")).collect();
    let out = tcptune(&["list"])
        .file("etc-profiles/cache-front.yaml", "description: A profile of the admin's.\nsysctls:\n  net.ipv4.tcp_fin_timeout: 30\n")
        .before("mkdir -p /etc/tcptune/profiles /run/netns && cp etc-profiles/cache-front.yaml /etc/tcptune/profiles/ && touch /run/netns/blue /run/netns/green")
        .after(&format!(
            "PATH='{}':$PATH python3 '{}' {}",
            bin_dir.display(),
            script.display(),
            quoted.join(" ")
        ))
        .run();
    out.after.replace('\r', "")
}

#[test]
fn bash_completes_profiles_keys_and_namespaces() {
    let screen = typed(&[
        "tcptune diff web\\t",
        "tcptune check cache\\t",
        "tcptune explain tcp_syn\\t\\t",
        "tcptune why net.ipv4.tcp_keepalive_t\\t",
        "tcptune --netns gr\\t",
        "tcptune doctor --profile outb\\t",
    ]);
    let lines: Vec<&str> = screen.split("--- line done").collect();
    assert!(lines[0].contains("tcptune diff web-server "), "{screen}");
    assert!(lines[1].contains("tcptune check cache-front "), "{screen}");
    for key in [
        "tcp_synack_retries",
        "tcp_syn_retries",
        "tcp_syncookies",
        "tcp_syn_linear_timeouts",
    ] {
        assert!(lines[2].contains(key), "{key} not offered:\n{screen}");
    }
    assert!(
        lines[3].contains("tcptune why net.ipv4.tcp_keepalive_time "),
        "{screen}"
    );
    assert!(lines[4].contains("tcptune --netns green "), "{screen}");
    assert!(
        lines[5].contains("tcptune doctor --profile outbound-client "),
        "{screen}"
    );
    // No stray '-' after a subcommand (the static script offered options).
    assert!(!lines[0].contains("web-server -"), "{screen}");
}

#[test]
fn every_shell_gets_a_registration_script() {
    for (shell, marker) in [
        ("bash", "complete -o nospace -o bashdefault"),
        ("zsh", "#compdef tcptune"),
        (
            "fish",
            "complete --keep-order --exclusive --command tcptune",
        ),
    ] {
        let out = tcptune(&["completions", shell]).run();
        out.status(0);
        assert!(out.stdout.contains(marker), "{shell}:\n{}", out.stdout);
        assert!(out.stdout.contains("COMPLETE="), "{shell}:\n{}", out.stdout);
    }
}

/// Long options in the order `tcptune SUB --help` lists them.
fn help_order(sub: &str) -> Vec<String> {
    let out = tcptune(&[sub, "--help"]).run();
    out.status(0);
    out.stdout
        .lines()
        .filter_map(|line| {
            let option = line.trim_start();
            // "-y, --yes": the long name is what completion offers after "--".
            let option = option.split_once(", ").map_or(option, |(_, long)| long);
            let name = option.strip_prefix("--")?.split([' ', '=']).next()?;
            line.starts_with("  ").then(|| format!("--{name}"))
        })
        .collect()
}

#[test]
fn options_complete_in_the_order_help_lists_them_own_before_global() {
    let globals = ["--root", "--format", "--color", "--loader", "--netns"];
    for sub in [
        "diff", "check", "apply", "revert", "explain", "why", "files", "doctor", "lint", "show",
    ] {
        let help = help_order(sub);
        let out = tcptune(&["--", "tcptune", sub, "--"])
            .env("COMPLETE", "fish")
            .run();
        out.status(0);
        let offered: Vec<String> = out
            .stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        assert_eq!(offered, help, "{sub}: completion order differs from help");
        // The command's own options first, then the global ones, then --help.
        let first_global = help.iter().position(|o| o == "--root").unwrap();
        assert_eq!(
            help[first_global..first_global + 5],
            globals,
            "{sub}: {help:?}"
        );
        assert_eq!(help.last().map(String::as_str), Some("--help"), "{sub}");
        assert!(
            help[..first_global]
                .iter()
                .all(|o| !globals.contains(&o.as_str())),
            "{sub}: {help:?}"
        );
    }
}
