//! The doctor views: findings and a listeners table for people, JSON for
//! machines, and the Prometheus text exposition format for
//! node_exporter's textfile collector.

use std::fmt::Write as _;

use serde::Serialize;

use super::sanitize::clean;
use super::text::{hang, wrap};
use super::{BAD, BOLD, CHANGE, DIM, OK, Renderer, SCHEMA, width};
use crate::cli::Format;
use crate::doctor::Report;
use crate::doctor::counters::Movement;
use crate::doctor::findings::{Finding, Severity, cap, is_full};
use crate::doctor::sockets::{Listener, Process};
use crate::error::Error;
use crate::trust::running_as_root;

#[derive(Serialize)]
struct ListenerJson<'a> {
    local: String,
    accept_queue: u32,
    accept_queue_max: u32,
    cap: &'static str,
    syn_recv: u32,
    process: Option<&'a Process>,
}

#[derive(Serialize)]
struct DoctorJson<'a> {
    schema: u32,
    command: &'static str,
    interval_s: f64,
    netns: Option<&'a str>,
    uptime_s: f64,
    listeners: Vec<ListenerJson<'a>>,
    /// Listeners whose process is unknown (others' processes need root).
    unnamed_listeners: usize,
    counters: &'a std::collections::BTreeMap<String, Movement>,
    sockstat: &'a std::collections::BTreeMap<String, i64>,
    findings: &'a [Finding],
}

fn somaxconn(r: &Report) -> Option<i64> {
    r.sysctls.get("net.core.somaxconn")?.parse().ok()
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

impl Renderer {
    pub fn doctor(&self, r: &Report) -> Result<(), Error> {
        match self.format {
            Format::Json => self.emit_json(&doctor_json(r)),
            Format::Prometheus => self.write_out(&prometheus(r)),
            Format::Text => self.emit(&doctor_text(r)),
        }
    }
}

fn doctor_json(r: &Report) -> DoctorJson<'_> {
    let s = somaxconn(r);
    DoctorJson {
        schema: SCHEMA,
        command: "doctor",
        interval_s: r.interval_s,
        netns: r.netns.as_deref(),
        uptime_s: r.sample.uptime_s,
        listeners: r
            .sockets
            .listeners
            .iter()
            .map(|l| ListenerJson {
                local: l.local.to_string(),
                accept_queue: l.accept_queue,
                accept_queue_max: l.accept_queue_max,
                cap: cap(l, s),
                syn_recv: l.syn_recv,
                process: l.process.as_ref(),
            })
            .collect(),
        unnamed_listeners: r.sockets.unnamed,
        counters: &r.counters,
        sockstat: &r.sample.sockstat,
        findings: &r.findings,
    }
}

fn doctor_text(r: &Report) -> String {
    let mut t = String::new();
    let place = match &r.netns {
        Some(n) => format!("network namespace {n}"),
        None => "this network namespace".to_string(),
    };
    let how = if r.interval_s > 0.0 {
        format!("two samples {} s apart", trim_float(r.interval_s))
    } else {
        "one sample; counters are totals since boot (or since the namespace was created)"
            .to_string()
    };
    let _ = writeln!(
        t,
        "{}",
        wrap(&format!("tcptune doctor: {place}, {how}"), 0, width())
    );
    for f in &r.findings {
        let style = match f.severity {
            Severity::Critical => BAD,
            Severity::Warning => CHANGE,
            Severity::Info => DIM,
        };
        let _ = writeln!(
            t,
            "\n{}",
            hang(
                &format!(
                    "{style}{}{style:#} {BOLD}{}{BOLD:#}: ",
                    severity_word(f.severity).to_uppercase(),
                    f.id
                ),
                &clean(&f.summary),
                2,
                width()
            )
        );
        for e in &f.evidence {
            let _ = writeln!(t, "{}", hang("  - ", &clean(e), 4, width()));
        }
        for a in &f.advice {
            let _ = writeln!(t, "{}", hang("  do: ", &clean(a), 6, width()));
        }
        if !f.keys.is_empty() {
            let _ = writeln!(t, "{}", hang("  keys: ", &f.keys.join(", "), 8, width()));
        }
    }
    if r.findings.is_empty() {
        let _ = writeln!(t, "\n{OK}no findings{OK:#}");
    }
    t.push('\n');
    t.push_str(&listeners_table(r));
    if r.sockets.unnamed > 0 && !running_as_root() {
        let _ = writeln!(
            t,
            "{}",
            wrap(
                &format!(
                    "{} of other users' processes cannot be named without root.",
                    plural(
                        r.sockets.unnamed,
                        "listener's process",
                        "listeners' processes"
                    )
                ),
                0,
                width()
            )
        );
    }
    let counts = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    if !r.findings.is_empty() {
        let parts: Vec<String> = [Severity::Critical, Severity::Warning, Severity::Info]
            .into_iter()
            .filter(|s| counts(*s) > 0)
            .map(|s| format!("{} {}", counts(s), severity_word(s)))
            .collect();
        let _ = writeln!(
            t,
            "\n{} ({}).",
            plural(r.findings.len(), "finding", "findings"),
            parts.join(", ")
        );
        if !r.writing_profile && r.findings.iter().any(|f| !f.targets.is_empty()) {
            t.push_str("Turn the sysctl changes into a profile to review: tcptune doctor --write-profile FILE\n");
        }
    }
    t
}

fn listeners_table(r: &Report) -> String {
    let s = somaxconn(r);
    let mut t = String::new();
    if r.sockets.listeners.is_empty() {
        t.push_str("No TCP listeners.\n");
        return t;
    }
    let rows: Vec<[String; 7]> = r
        .sockets
        .listeners
        .iter()
        .map(|l| {
            [
                l.local.to_string(),
                l.accept_queue.to_string(),
                l.accept_queue_max.to_string(),
                fill(l),
                cap(l, s).to_string(),
                l.syn_recv.to_string(),
                l.process.as_ref().map_or("-".to_string(), |p| {
                    format!("{} ({})", clean(&p.name), p.pid)
                }),
            ]
        })
        .collect();
    let head = [
        "LISTENER", "QUEUE", "MAX", "FILL", "CAP", "SYN-RECV", "PROCESS",
    ];
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String], full: bool| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let right = (1..=3).contains(&i) || i == 5;
            let cell = if right {
                format!("{c:>w$}")
            } else if i + 1 == cells.len() {
                c.clone()
            } else {
                format!("{c:<w$}")
            };
            if full && i == 3 {
                let _ = write!(l, "{BAD}{cell}{BAD:#}  ");
            } else {
                let _ = write!(l, "{cell}  ");
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(t, "{}", line(&head.map(String::from), false));
    for (row, l) in rows.iter().zip(&r.sockets.listeners) {
        let _ = writeln!(t, "{}", line(row, is_full(l)));
    }
    t
}

/// "100%" of the cap; a full queue holds one more than its cap.
fn fill(l: &Listener) -> String {
    if l.accept_queue_max == 0 {
        return "-".into();
    }
    format!(
        "{}%",
        u64::from(l.accept_queue) * 100 / u64::from(l.accept_queue_max)
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition format (version 0.0.4), for node_exporter's
/// textfile collector: listeners, findings, counters and their rates.
fn prometheus(r: &Report) -> String {
    let mut t = String::new();
    let metric = |t: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(
            t,
            "# HELP tcptune_{name} {help}\n# TYPE tcptune_{name} {kind}"
        );
    };
    let listener_labels = |l: &Listener| {
        let process = l.process.as_ref().map_or(String::new(), |p| p.name.clone());
        format!(
            "local=\"{}\",process=\"{}\"",
            label(&l.local.to_string()),
            label(&process)
        )
    };
    type Gauge = (&'static str, &'static str, fn(&Listener) -> u32);
    let gauges: [Gauge; 3] = [
        (
            "listener_accept_queue",
            "Connections waiting for accept() (ss Recv-Q).",
            |l| l.accept_queue,
        ),
        (
            "listener_accept_queue_max",
            "The accept queue's cap, min(listen backlog, somaxconn) (ss Send-Q).",
            |l| l.accept_queue_max,
        ),
        (
            "listener_syn_recv",
            "Half-open (SYN_RECV) requests to the listener.",
            |l| l.syn_recv,
        ),
    ];
    for (name, help, value) in gauges {
        metric(&mut t, name, "gauge", help);
        for l in &r.sockets.listeners {
            let _ = writeln!(t, "tcptune_{name}{{{}}} {}", listener_labels(l), value(l));
        }
    }
    metric(
        &mut t,
        "finding",
        "gauge",
        "1 for each finding doctor reports (id, severity).",
    );
    let mut seen = std::collections::BTreeSet::new();
    for f in &r.findings {
        if seen.insert((f.id, f.severity)) {
            let _ = writeln!(
                t,
                "tcptune_finding{{id=\"{}\",severity=\"{}\"}} 1",
                f.id,
                severity_word(f.severity)
            );
        }
    }
    metric(
        &mut t,
        "counter_total",
        "counter",
        "A kernel TCP counter from /proc/net/netstat or snmp (name: Prefix.Name).",
    );
    // Tcp's RtoMin, MaxConn, CurrEstab... are constants or gauges, not counters.
    let gauge_like = |name: &str| {
        matches!(
            name,
            "Tcp.RtoAlgorithm" | "Tcp.RtoMin" | "Tcp.RtoMax" | "Tcp.MaxConn" | "Tcp.CurrEstab"
        )
    };
    for (name, m) in r.counters.iter().filter(|(n, _)| !gauge_like(n)) {
        let _ = writeln!(
            t,
            "tcptune_counter_total{{name=\"{}\"}} {}",
            label(name),
            m.total
        );
    }
    if r.interval_s > 0.0 {
        metric(
            &mut t,
            "counter_per_second",
            "gauge",
            "The counter's rate over doctor's sampling interval.",
        );
        for (name, m) in r.counters.iter().filter(|(n, _)| !gauge_like(n)) {
            if let Some(rate) = m.per_s {
                let _ = writeln!(
                    t,
                    "tcptune_counter_per_second{{name=\"{}\"}} {rate}",
                    label(name)
                );
            }
        }
    }
    metric(
        &mut t,
        "tcp_curr_estab",
        "gauge",
        "Connections in ESTABLISHED or CLOSE_WAIT (Tcp CurrEstab).",
    );
    let _ = writeln!(
        t,
        "tcptune_tcp_curr_estab {}",
        r.counters.get("Tcp.CurrEstab").map_or(0, |m| m.total)
    );
    metric(
        &mut t,
        "sockstat",
        "gauge",
        "The TCP line of /proc/net/sockstat (inuse, orphan, tw, alloc, mem in pages).",
    );
    for (field, v) in &r.sample.sockstat {
        let _ = writeln!(t, "tcptune_sockstat{{field=\"{}\"}} {v}", label(field));
    }
    metric(
        &mut t,
        "doctor_interval_seconds",
        "gauge",
        "Seconds between doctor's two samples (0: one sample).",
    );
    let _ = writeln!(t, "tcptune_doctor_interval_seconds {}", r.interval_s);
    t
}
