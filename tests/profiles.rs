//! The shipped profiles, and the parser's robustness on arbitrary input.

mod common;

use tcptune::library::{BUILTIN, Library};
use tcptune::profile::{Profile, Source};

#[test]
fn builtin_list_matches_the_profiles_directory() {
    let mut on_disk: Vec<String> = std::fs::read_dir(common::repo().join("profiles"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let mut compiled: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
    compiled.sort();
    assert_eq!(on_disk, compiled, "profiles/ and library::BUILTIN disagree");
    assert!(compiled.len() >= 5);
}

#[test]
fn every_shipped_value_carries_a_why_and_a_description() {
    // An empty root: only the built-ins can be found.
    let empty = tempfile::tempdir().unwrap();
    let root = tcptune::root::Root::open(empty.path()).unwrap();
    let lib = Library::new(&root);
    for (name, _) in BUILTIN {
        let r = lib
            .resolve(name, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            r.profile.description.len() > 20,
            "{name} needs a description"
        );
        for e in &r.profile.entries {
            let why = e.why.as_deref().unwrap_or_default();
            assert!(
                why.len() >= 20,
                "{name}: {} has no real why ({why:?})",
                e.key
            );
            assert!(e.param.is_some(), "{name}: {} is not in the catalog", e.key);
        }
    }
}

/// A tiny deterministic generator: no crate, the same inputs every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn the_parser_never_panics_on_mangled_profiles() {
    let seeds: Vec<&str> = BUILTIN.iter().map(|(_, t)| *t).collect();
    let pieces: [&[u8]; 16] = [
        b":",
        b"\n",
        b"  ",
        b"{",
        b"}",
        b"[",
        b"]",
        b"- ",
        b"\"",
        b"'",
        b"#",
        b"&a",
        b"*a",
        b"0x",
        b"\xff",
        b"!!binary ",
    ];
    let mut rng = Lcg(42);
    let known = |k: &str| k.len().is_multiple_of(2);
    for round in 0..3000 {
        let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
        for _ in 0..(1 + rng.next() % 6) {
            let at = (rng.next() as usize) % (bytes.len() + 1);
            match rng.next() % 3 {
                0 => {
                    let p = pieces[(rng.next() as usize) % pieces.len()];
                    bytes.splice(at..at, p.iter().copied());
                }
                1 => {
                    let end = (at + (rng.next() as usize) % 12).min(bytes.len());
                    bytes.drain(at..end);
                }
                _ => {
                    if at < bytes.len() {
                        bytes[at] = (rng.next() % 256) as u8;
                    }
                }
            }
        }
        let check: Option<&dyn Fn(&str) -> bool> = if round % 2 == 0 { Some(&known) } else { None };
        let _ = Profile::parse("fuzz", Source::File("fuzz.yaml".into()), &bytes, check);
    }
}
