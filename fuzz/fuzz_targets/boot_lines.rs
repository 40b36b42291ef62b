//! The sysctl.d line parser as each loader splits lines, and the boot
//! model's glob matching over what it yields: never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcptune::boot::{self, Loader};

fuzz_target!(|data: &[u8]| {
    for loader in [Loader::Systemd, Loader::Procps] {
        let (lines, _) = boot::assignments(data, loader);
        for (written, _) in lines.iter().take(64) {
            let path = boot::normalize(written);
            boot::glob_match(&path, "net/ipv4/tcp_fin_timeout");
            boot::glob_match(&path, "net/ipv4/conf/eth0.100/rp_filter");
        }
    }
});
