//! The Debian package: `cargo deb` builds it (cargo-deb is installed under
//! the target directory the first time if it is not on the PATH), it holds
//! what it must, and it installs, keeps an admin's files, and removes
//! cleanly in a throwaway dpkg root inside the strict sandbox, never on
//! this host.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{repo, tcptune};

/// `cargo deb` as a command: the PATH's, else one installed under the
/// target directory.
fn cargo_deb() -> Command {
    let on_path = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut c = if on_path {
        Command::new("cargo")
    } else {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cargo-deb");
        let bin = root.join("bin/cargo-deb");
        if !bin.exists() {
            let ok = Command::new("cargo")
                .args(["install", "--locked", "--quiet", "cargo-deb", "--root"])
                .arg(&root)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "could not install cargo-deb (needs crates.io)");
        }
        Command::new(bin)
    };
    c.arg("deb");
    c
}

/// Builds the package once per test run.
fn package() -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tcptune.deb");
    // The README's command: the repository builds for an explicit target
    // (.cargo/config.toml), and cargo-deb must be told which.
    let host = Command::new("rustc")
        .args(["--print", "host-tuple"])
        .output()
        .unwrap();
    let host = String::from_utf8(host.stdout).unwrap();
    let status = cargo_deb()
        .args(["--target", host.trim()])
        .args(["--quiet", "--output"])
        .arg(&out)
        .current_dir(repo())
        // A target directory of its own: the test's cargo holds the other.
        .env(
            "CARGO_TARGET_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deb-target"),
        )
        .status()
        .unwrap();
    assert!(status.success(), "cargo deb failed");
    out
}

#[test]
fn the_package_installs_keeps_admin_files_and_removes_cleanly() {
    let deb = package();
    let listing = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for path in [
        "./usr/bin/tcptune",
        "./usr/share/man/man8/tcptune.8.gz",
        "./usr/share/man/man5/tcptune-profile.5.gz",
        "./usr/share/bash-completion/completions/tcptune",
        "./usr/share/zsh/vendor-completions/_tcptune",
        "./usr/share/fish/vendor_completions.d/tcptune.fish",
        "./usr/lib/systemd/system/tcptune-verify.service",
        "./usr/lib/systemd/system/tcptune-verify.timer",
        "./etc/tcptune/profiles/README",
        "./usr/share/doc/tcptune/copyright",
    ] {
        assert!(
            listing.contains(path),
            "the package lacks {path}:\n{listing}"
        );
    }
    let info = Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("conffiles"), "{info}");
    assert!(
        !info.contains("postinst") && !info.contains("prerm"),
        "no maintainer scripts: {info}"
    );
    let synopsis = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Description: "))
        .unwrap();
    assert!(
        synopsis.len() < 80,
        "Debian wants a synopsis under 80 characters: {synopsis}"
    );

    // Install, edit, reinstall, remove and purge in a throwaway root.
    let script = format!(
        "set -e\n\
         R=$TCPTUNE_SCRATCH/root\n\
         mkdir -p $R/var/lib/dpkg/info $R/var/lib/dpkg/updates $R/var/lib/dpkg/triggers\n\
         touch $R/var/lib/dpkg/status $R/var/lib/dpkg/available\n\
         dpkg --root=$R --force-depends --force-script-chrootless -i '{deb}' > /dev/null 2>&1\n\
         $R/usr/bin/tcptune --version\n\
         echo '# my notes' >> $R/etc/tcptune/profiles/README\n\
         printf 'description: mine\\nsysctls:\\n  tcp_fin_timeout: 30\\n' > $R/etc/tcptune/profiles/mine.yaml\n\
         dpkg --root=$R --force-depends --force-script-chrootless --force-confold -i '{deb}' > /dev/null 2>&1\n\
         tail -1 $R/etc/tcptune/profiles/README\n\
         dpkg --root=$R --force-script-chrootless -r tcptune > /dev/null 2>&1\n\
         echo removed: $(ls $R/usr/bin 2>/dev/null | wc -l) binaries, $(ls $R/etc/tcptune/profiles)\n\
         dpkg --root=$R --force-script-chrootless -P tcptune > /dev/null 2>&1\n\
         echo purged: $(ls $R/etc/tcptune/profiles)\n\
         dpkg --root=$R -l tcptune 2>&1 | tail -1\n",
        deb = deb.display()
    );
    let out = tcptune(&["list"]).strict().after(&script).run();
    let lines: Vec<&str> = out.after.lines().collect();
    assert!(
        lines[0].starts_with("tcptune 0.1.0 (commit "),
        "{}",
        out.after
    );
    assert_eq!(
        lines[1], "# my notes",
        "an admin's edit of the conffile survives a reinstall"
    );
    assert_eq!(
        lines[2], "removed: 0 binaries, README mine.yaml",
        "remove keeps conffiles and never touches an admin's profile"
    );
    assert_eq!(
        lines[3], "purged: mine.yaml",
        "purge removes only the package's README"
    );
    assert!(
        lines[4].contains("no packages found") || !lines[4].starts_with("ii"),
        "{}",
        out.after
    );
}
