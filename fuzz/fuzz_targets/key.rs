//! Key normalisation and path mapping. Oracle: an accepted key maps to
//! one path strictly below /proc/sys (no empty, `.` or `..` segment), and
//! its canonical form is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(k) = tcptune::key::canonical(text) {
        let path = tcptune::key::to_path(&k);
        assert!(!path.is_empty());
        for seg in path.split('/') {
            assert!(!seg.is_empty() && seg != "." && seg != "..", "{text:?} -> {path:?}");
        }
        assert_eq!(tcptune::key::canonical(&k).as_deref(), Ok(k.as_str()));
        assert_eq!(tcptune::key::to_path(text), path, "{text:?}");
        assert!(!k.chars().any(|c| c.is_control() || c.is_whitespace()));
    }
});
