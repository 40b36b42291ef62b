//! Build script: records the git commit the binary was built from, for
//! `tcptune --version` (TCPTUNE_COMMIT overrides it, e.g. when building
//! from a release tarball; "unknown" when neither is available), and
//! turns the built-in profiles' YAML into JSON documents.
//!
//! Why JSON: YAML parsing was half of `diff`'s user-space instructions,
//! and every command that names a profile pays it. The JSON is the same
//! document tree (parsed here by the same YAML library), so the run time
//! deserialises it into the same raw form and validates it exactly as it
//! would the YAML; a built-in that does not parse fails the build.

use std::path::Path;
use std::process::Command;

fn main() {
    builtin_profiles();
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
        && dir.join(branch).exists()
    {
        println!("cargo:rerun-if-changed={}", dir.join(branch).display());
    }
    // Only files that exist: cargo reruns the script every build for a
    // missing one.
    let packed = dir.join("packed-refs");
    if packed.exists() {
        println!("cargo:rerun-if-changed={}", packed.display());
    }
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

/// `$OUT_DIR/builtin_profiles.rs`: `PRECOMPILED`, (file stem, JSON) for
/// every `profiles/*.yaml`.
fn builtin_profiles() {
    let dir = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("profiles");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = String::from("pub static PRECOMPILED: &[(&str, &str)] = &[\n");
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("built-in profile {}: {e}", path.display()));
        let json = serde_json::to_string(&doc)
            .unwrap_or_else(|e| panic!("built-in profile {}: {e}", path.display()));
        let stem = path.file_stem().unwrap().to_str().unwrap();
        out.push_str(&format!("    ({stem:?}, {json:?}),\n"));
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var_os("OUT_DIR").unwrap()).join("builtin_profiles.rs");
    std::fs::write(&target, out).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
}
