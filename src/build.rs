//! Build script: records the git commit the binary was built from, for
//! `tcptune --version` (TCPTUNE_COMMIT overrides it, e.g. when building
//! from a release tarball; "unknown" when neither is available).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=TCPTUNE_COMMIT");
    let commit = std::env::var("TCPTUNE_COMMIT").ok().or_else(git_commit);
    println!(
        "cargo:rustc-env=TCPTUNE_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}

fn git_commit() -> Option<String> {
    let dir = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR")?).join(".git");
    // Rebuild when HEAD moves: HEAD itself, and the branch it points to.
    println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
    if let Ok(head) = std::fs::read_to_string(dir.join("HEAD"))
        && let Some(branch) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed={}", dir.join(branch).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("packed-refs").display()
    );
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(dir.parent()?)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|c| !c.is_empty())
}
