//! The profile parser and validator, with and without a kernel to ask:
//! never a panic, and (libFuzzer's -timeout) never a slow path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcptune::profile::{Profile, Source};

fuzz_target!(|data: &[u8]| {
    let none = Profile::parse("f", Source::File("f.yaml".into()), data, None);
    let has = |key: &str| key.starts_with("net.");
    let kernel = Profile::parse("f", Source::File("f.yaml".into()), data, Some(&has));
    // Every accepted entry has a canonical key, net.* unless opted in.
    for p in [none, kernel].into_iter().flatten() {
        for e in &p.entries {
            assert_eq!(tcptune::key::canonical(&e.key).as_deref(), Ok(e.key.as_str()));
            assert!(e.key.starts_with("net.") || e.outside_net);
        }
    }
});
