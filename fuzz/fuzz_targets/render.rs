//! The sysctl.d renderer. Oracle: whatever the profile's text, a rendered
//! file parses, under both loaders, to exactly the planned assignments,
//! and holds no byte a loader could end a line at inside a comment.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tcptune::boot::{self, Loader};
use tcptune::sysctl_file::{Setting, render};
use tcptune::value::Value;

#[derive(Arbitrary, Debug)]
struct Input {
    profile: String,
    source: String,
    chain: Vec<String>,
    settings: Vec<(String, String, Option<String>)>,
}

fuzz_target!(|input: Input| {
    let settings: Vec<Setting> = input
        .settings
        .into_iter()
        .take(16)
        .map(|(key, value, why)| Setting {
            key,
            value: Value::Text(value),
            summary: None,
            why,
        })
        .collect();
    let mut chain = vec![input.profile.clone()];
    chain.extend(input.chain.into_iter().take(4));
    if let Ok(text) = render(&input.profile, &input.source, &chain, &settings) {
        let want: Vec<(String, Option<String>)> = settings
            .iter()
            .map(|s| (s.key.clone(), Some(s.value.to_kernel())))
            .collect();
        for loader in [Loader::Systemd, Loader::Procps] {
            assert_eq!(boot::assignments(text.as_bytes(), loader).0, want);
        }
        assert!(!text.contains(['\r', '\0']));
    }
});
