//! `devconf`: per-interface IP settings (`net.ipv4.conf.*`,
//! `net.ipv6.conf.*`, `net.ipv4.ip_forward`) that the kernel changes by
//! itself when the loaders write another key. The boot model asks here so
//! that it never says "the kernel default stays" for a key a loaded line
//! changes anyway.
//!
//! The rules, measured on Linux 6.18 in fresh network namespaces (and
//! read in net/ipv4/devinet.c, net/ipv6/addrconf.c); tests/boot_loaders.rs
//! compares the result with the real loaders:
//!
//! - IPv4 `ip_forward` is `conf.all.forwarding`. A write that *changes*
//!   it sets `forwarding` on `default` and on every interface
//!   (`inet_forward_change`); writing the value it already has does
//!   nothing more.
//! - IPv4 `conf.default.X` is copied to every interface whose X was never
//!   written (`devinet_copy_dflt_conf`), except for the keys in
//!   `V4_NOT_COPIED` (their handlers do not copy).
//! - IPv6 `conf.all.X` for the keys in `V6_TO_EVERY_INTERFACE` is set on
//!   `default` and every interface on every write, changed or not.
//! - An interface created later copies all of `conf.default` (both
//!   families): a key that only such interfaces inherit gets a note, not a
//!   value, since which interfaces exist when the loader runs is not known.
//!
//! `conf.all.accept_redirects` also flips when IPv4 forwarding changes;
//! that is not modelled.

use crate::boot::{BootConfig, Line, Loader};

/// IPv4 `conf.default` keys whose write is not copied to existing
/// interfaces (measured: every other writable key is).
const V4_NOT_COPIED: [&str; 6] = [
    "forwarding",
    "promote_secondaries",
    "route_localnet",
    "disable_policy",
    "disable_xfrm",
    "drop_unicast_in_l2_multicast",
];

/// IPv6 `conf.all` keys a write to which reaches `default` and every
/// interface.
const V6_TO_EVERY_INTERFACE: [&str; 4] = [
    "forwarding",
    "disable_ipv6",
    "addr_gen_mode",
    "ignore_routes_with_linkdown",
];

/// How a line that writes another key decides (or may decide) this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The key ends with `line`'s value, carried by the kernel (`rule`).
    Decides { line: usize, rule: &'static str },
    /// Interfaces created after the loader runs copy `line`'s value;
    /// interfaces already present keep theirs.
    LaterInterfaces { line: usize },
}

/// A per-interface key, split: `net/ipv4/conf/eth0/rp_filter`.
#[derive(Clone, Copy)]
struct DevKey<'a> {
    v6: bool,
    iface: &'a str,
    attr: &'a str,
}

fn split(path: &str) -> Option<DevKey<'_>> {
    if path == "net/ipv4/ip_forward" {
        return Some(DevKey {
            v6: false,
            iface: "all",
            attr: "forwarding",
        });
    }
    let mut parts = path.split('/');
    let (Some("net"), Some(family), Some("conf"), Some(iface), Some(attr), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let v6 = match family {
        "ipv4" => false,
        "ipv6" => true,
        _ => return None,
    };
    Some(DevKey { v6, iface, attr })
}

/// The first number of a written value, as the kernel reads it; `None`
/// when the kernel refuses the write.
fn number(value: &str) -> Option<i64> {
    let first = value.split_ascii_whitespace().next()?;
    crate::value::parse_int(first).ok()
}

/// The value a key has when the loaders start: the kernel's built-in
/// `ipv4_devconf`/`ipv4_devconf_dflt` (net/ipv4/devinet.c; an interface
/// starts as a copy of `default`), and 0 for the IPv6 keys modelled here.
fn initial(k: &DevKey) -> i64 {
    if k.v6 {
        return 0;
    }
    match k.attr {
        "accept_redirects"
        | "send_redirects"
        | "secure_redirects"
        | "shared_media"
        | "arp_evict_nocarrier" => 1,
        "accept_source_route" if k.iface != "all" => 1,
        "igmpv2_unsolicited_report_interval" => 10000,
        "igmpv3_unsolicited_report_interval" => 1000,
        _ => 0,
    }
}

/// The keys whose lines `effect` reads for `path` (normalised), `path`
/// included: a model of only these (boot.rs `read_both_for`) gives the
/// same provenance for `path` as a model of every line.
pub fn inputs(path: &str) -> Vec<String> {
    let mut keys = vec![path.to_string()];
    if let Some(k) = split(path) {
        let family = if k.v6 { "ipv6" } else { "ipv4" };
        keys.push(format!("net/{family}/conf/all/{}", k.attr));
        keys.push(format!("net/{family}/conf/default/{}", k.attr));
        if !k.v6 && k.attr == "forwarding" {
            keys.push("net/ipv4/ip_forward".to_string());
        }
    }
    keys
}

/// What the kernel does to `path` (normalised) because of lines that write
/// other keys: replays, in load order, every write to the key, to its
/// family's `all` and `default`, and (IPv4 forwarding) to `ip_forward`.
pub fn effect(cfg: &BootConfig, path: &str) -> Option<Effect> {
    let k = split(path)?;
    let family = if k.v6 { "ipv6" } else { "ipv4" };
    let all = format!("net/{family}/conf/all/{}", k.attr);
    let dflt = format!("net/{family}/conf/default/{}", k.attr);
    let (is_all, is_default) = (k.iface == "all", k.iface == "default");
    let v4_forwarding = !k.v6 && k.attr == "forwarding";
    let own = if is_all {
        Vec::new()
    } else {
        cfg.writes_to(path)
    };
    let mut to_all = cfg.writes_to(&all);
    if v4_forwarding {
        to_all.extend(cfg.writes_to("net/ipv4/ip_forward"));
    }
    let to_default = if is_default {
        Vec::new()
    } else {
        cfg.writes_to(&dflt)
    };
    let reaches_every = if k.v6 {
        V6_TO_EVERY_INTERFACE.contains(&k.attr)
    } else {
        v4_forwarding
    };
    let copied = !k.v6 && !V4_NOT_COPIED.contains(&k.attr);

    let mut events: Vec<usize> = own
        .iter()
        .chain(&to_all)
        .chain(&to_default)
        .copied()
        .collect();
    events.sort_by_key(|&i| cfg.position(i));
    events.dedup();
    let start = initial(&k);
    let (mut v_all, mut v_default, mut v_key) = (
        initial(&DevKey { iface: "all", ..k }),
        initial(&DevKey {
            iface: "default",
            ..k
        }),
        start,
    );
    let mut written = false;
    let mut cause: Option<usize> = None;
    for i in events {
        let text = cfg.lines[i].value.as_deref().unwrap_or_default();
        let value = number(text);
        // systemd-sysctl skips a write whose text the file already shows.
        let skipped = |current: i64| cfg.loader == Loader::Systemd && text == current.to_string();
        // A glob writes "all", then "default", then interfaces (name order).
        if to_all.contains(&i) && !skipped(v_all) {
            if let Some(v) = value {
                let changed = v != v_all;
                v_all = v;
                if reaches_every && (k.v6 || changed) {
                    v_default = v;
                    v_key = v;
                    cause = Some(i);
                }
            }
            if is_all {
                cause = Some(i);
                v_key = v_all;
            }
        }
        if to_default.contains(&i)
            && !skipped(v_default)
            && let Some(v) = value
        {
            v_default = v;
            if copied && !written && !is_all {
                v_key = v;
                cause = Some(i);
            }
        }
        if own.contains(&i) && !skipped(v_key) {
            // The kernel marks the key written even when it refuses the value.
            written = true;
            if let Some(v) = value {
                v_key = v;
                cause = Some(i);
            }
        }
    }
    match cause {
        Some(line) if own.contains(&line) => None,
        Some(line) => {
            let rule = if is_all {
                "net.ipv4.ip_forward and conf.all.forwarding are one setting"
            } else if to_all.contains(&line) && k.v6 {
                "a write to conf.all of this key reaches default and every interface"
            } else if to_all.contains(&line) {
                "a change of IPv4 forwarding reaches default and every interface"
            } else {
                "the kernel copies conf.default to every interface whose own value was never written"
            };
            // ip_forward and conf.all.forwarding: only the other one's
            // line is news (the key's own lines are its normal winner).
            if is_all && cfg.writes_to(path).contains(&line) {
                return None;
            }
            Some(Effect::Decides { line, rule })
        }
        None if own.is_empty() && !is_default && !is_all => to_default
            .iter()
            .copied()
            .rfind(|&i| cfg.lines[i].value.as_deref().and_then(number).is_some())
            .map(|line| Effect::LaterInterfaces { line }),
        None => None,
    }
}

impl BootConfig {
    /// Indices of the lines this loader writes to `path` (normalised), in
    /// load order: its explicit lines (systemd: the one it keeps), else
    /// every glob that matches it.
    pub fn writes_to(&self, path: &str) -> Vec<usize> {
        let own = self.explicit_lines(path);
        if !own.is_empty() {
            let mut valued: Vec<usize> = own
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| self.position(i) != usize::MAX && self.lines[i].value.is_some())
                .collect();
            valued.sort_by_key(|&i| self.position(i));
            return match self.loader {
                Loader::Systemd => valued.last().copied().into_iter().collect(),
                Loader::Procps => valued,
            };
        }
        let mut globs: Vec<usize> = self
            .glob_lines()
            .iter()
            .copied()
            .filter(|&i| {
                let l: &Line = &self.lines[i];
                self.position(i) != usize::MAX
                    && l.value.is_some()
                    && crate::boot::glob_match(&l.path, path)
            })
            .collect();
        globs.sort_by_key(|&i| self.position(i));
        globs
    }
}
