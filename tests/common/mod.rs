//! A small builder that runs the tcptune binary and checks what it did.
//!
//! Live-kernel runs go through `unshare -rnm` (a throwaway user, network and
//! mount namespace) and tests/sandbox.sh, which leaves /proc/sys writable
//! only for the new network namespace and puts empty sysctl.d directories
//! in place, filled only with what the test stages. So no test reads this
//! host's boot files or writes to its kernel.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_tcptune");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Tcptune {
    args: Vec<String>,
    netns: bool,
    presets: Vec<(String, String)>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    staged: bool,
    strict: bool,
    before: String,
    after: String,
}

pub fn tcptune(args: &[&str]) -> Tcptune {
    Tcptune {
        args: args.iter().map(|s| s.to_string()).collect(),
        // Every run is sandboxed: a test can never change this host.
        netns: true,
        presets: Vec::new(),
        dir: tempfile::tempdir().expect("temp dir"),
        env: Vec::new(),
        staged: false,
        strict: false,
        before: String::new(),
        after: String::new(),
    }
}

pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The inode of this host's network namespace, which the sandbox refuses.
pub fn host_netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .display()
        .to_string()
}

impl Tcptune {
    /// Run inside the sandbox (the default; kept for readability).
    pub fn netns(mut self) -> Self {
        self.netns = true;
        self
    }

    /// The strict sandbox (read-only /, private /dev): for tests that try
    /// to make tcptune write outside its place. Only $TCPTUNE_SCRATCH and
    /// the sandbox's tmpfs mounts (/etc, /run, /var/lib, ...) are writable.
    pub fn strict(mut self) -> Self {
        self.netns = true;
        self.strict = true;
        self
    }

    /// Set a sysctl inside the namespace before tcptune runs.
    pub fn preset(mut self, key: &str, value: &str) -> Self {
        self.netns = true;
        self.presets
            .push((key.replace('.', "/"), value.to_string()));
        self
    }

    /// Write a file below the test's temp dir (a profile, or a fake root).
    pub fn file(self, rel: &str, contents: &str) -> Self {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// Where a file at an absolute sandbox path is staged (created parents).
    fn stage(&mut self, path: &str) -> std::path::PathBuf {
        self.netns = true;
        self.staged = true;
        let at = self
            .dir
            .path()
            .join("stage")
            .join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        at
    }

    /// Put a file at an absolute path inside the sandbox (e.g.
    /// "/etc/sysctl.d/99-x.conf"), for tcptune and the real loaders to find.
    pub fn boot_file(mut self, path: &str, contents: &str) -> Self {
        std::fs::write(self.stage(path), contents).unwrap();
        self
    }

    /// A symlink inside the sandbox, e.g. a mask to /dev/null.
    pub fn boot_link(mut self, path: &str, target: &str) -> Self {
        std::os::unix::fs::symlink(target, self.stage(path)).unwrap();
        self
    }

    /// Shell commands run in the sandbox before tcptune (to break things:
    /// make /proc/sys read-only, fill a file system, hold the lock...).
    pub fn before(mut self, script: &str) -> Self {
        self.netns = true;
        self.before.push_str(script);
        self.before.push('\n');
        self
    }

    /// Shell commands run in the same sandbox after tcptune; what they print
    /// is `Outcome::after`.
    pub fn after(mut self, script: &str) -> Self {
        self.netns = true;
        self.after.push_str(script);
        self.after.push('\n');
        self
    }

    /// Set the mode of a file written with `file` (before the sandbox,
    /// whose / may be read-only).
    pub fn mode(self, rel: &str, mode: u32) -> Self {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.dir.path().join(rel),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(self) -> Outcome {
        assert!(
            self.netns || !self.args.iter().any(|a| a == "apply" || a == "revert"),
            "refusing to run apply or revert outside the sandbox"
        );
        let mut log = None;
        let mut cmd = if self.netns {
            let mut script = format!(". '{}'\n", repo().join("tests/sandbox.sh").display());
            for (i, _) in self.presets.iter().enumerate() {
                script.push_str(&format!(
                    "printf '%s' \"$P{i}V\" > \"/proc/sys/$P{i}K\" || exit 99\n"
                ));
            }
            script.push_str(&self.before);
            script.push_str("\"$@\" </dev/null; rc=$?\n{\n");
            script.push_str(&self.after);
            script.push_str("true\n} > \"$TCPTUNE_AFTER\" 2>&1\nexit $rc\n");
            let mut c = Command::new("unshare");
            if running_as_root() {
                // Map uids and gids 0-65535 (written by `run` below), so
                // that a test can become a real unprivileged user (1000)
                // inside; the shell waits until the map is in place.
                // (procfs files report size 0: read them.)
                let wait = "until read m < /proc/self/gid_map && [ -n \"$m\" ]; do :; done\n";
                c.args(["--user", "--net", "--mount", "sh", "-c"]);
                c.arg(format!("{wait}{script}")).args(["sh", BIN]);
            } else {
                c.args(["-rnm", "sh", "-c", &script, "sh", BIN]);
            }
            c.env("TCPTUNE_HOST_NETNS", host_netns());
            // Scratch space for test scripts and the sandbox's own mounts,
            // inside this test's temp dir (never the host's /tmp); the one
            // place the strict sandbox leaves writable.
            let scratch = self.dir.path().join("scratch");
            std::fs::create_dir_all(&scratch).unwrap();
            // The sandbox's /dev/log: audit records land here, not in the
            // host's log.
            let log_path = scratch.join("log.sock");
            let socket = std::os::unix::net::UnixDatagram::bind(&log_path).unwrap();
            log = Some(LogReader::start(socket));
            c.env("TCPTUNE_LOG_SOCKET", &log_path);
            c.env("TCPTUNE_AFTER", scratch.join("after.out"));
            c.env("TCPTUNE_SCRATCH", scratch);
            if self.staged {
                c.env("TCPTUNE_STAGE", self.dir.path().join("stage"));
            }
            if self.strict {
                c.env("TCPTUNE_STRICT", "1");
            }
            for (i, (k, v)) in self.presets.iter().enumerate() {
                c.env(format!("P{i}K"), k).env(format!("P{i}V"), v);
            }
            c
        } else {
            Command::new(BIN)
        };
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .env_remove("NO_COLOR")
            .env_remove("COLUMNS")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out: Output = if self.netns && running_as_root() {
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let child = cmd.spawn().expect("run unshare");
            // unshare execs the shell in the new user namespace (same pid);
            // the maps can be written once it is there.
            let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
            let theirs = format!("/proc/{}/ns/user", child.id());
            while std::fs::read_link(&theirs).is_ok_and(|ns| ns == ours) {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            for map in ["uid_map", "gid_map"] {
                std::fs::write(format!("/proc/{}/{map}", child.id()), "0 0 65536\n")
                    .unwrap_or_else(|e| panic!("cannot map ids into the sandbox: {e}"));
            }
            child.wait_with_output().expect("run tcptune")
        } else {
            cmd.output().expect("run tcptune")
        };
        let status = out.status.code().unwrap_or(-1);
        assert_ne!(
            status,
            99,
            "presetting a sysctl in the namespace failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let syslog = log.map(LogReader::finish).unwrap_or_default();
        Outcome {
            status,
            syslog,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            after: std::fs::read_to_string(self.dir.path().join("scratch/after.out"))
                .unwrap_or_default(),
            dir: self.dir,
        }
    }
}

/// What is wrong with `doc` against man/tcptune.schema.json.
pub fn schema_errors(doc: &serde_json::Value) -> Vec<String> {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("man/tcptune.schema.json")).unwrap();
        jsonschema::validator_for(&serde_json::from_str(&text).unwrap())
            .expect("the schema compiles")
    });
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub struct Outcome {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    /// What the `after` script printed.
    pub after: String,
    /// Records sent to the sandbox's /dev/log, in order.
    pub syslog: Vec<String>,
    pub dir: tempfile::TempDir,
}

impl Outcome {
    fn context(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}--- after\n{}",
            self.status, self.stdout, self.stderr, self.after
        )
    }

    /// The `after` output must be exactly `text`.
    pub fn after_is(&self, text: &str) -> &Self {
        assert_eq!(self.after, text, "{}", self.context());
        self
    }

    pub fn status(&self, code: i32) -> &Self {
        assert_eq!(self.status, code, "{}", self.context());
        self
    }

    /// Whether stdout says `text`, wherever the 80-column wrapping broke
    /// its lines (runs of white space compare equal).
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            squash(&self.stdout).contains(&squash(text)),
            "stdout lacks {text:?}\n{}",
            self.context()
        );
        self
    }

    pub fn stdout_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text),
            "stdout has {text:?}\n{}",
            self.context()
        );
        self
    }

    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            squash(&self.stderr).contains(&squash(text)),
            "stderr lacks {text:?}\n{}",
            self.context()
        );
        self
    }

    pub fn stdout_empty(&self) -> &Self {
        assert!(
            self.stdout.is_empty(),
            "stdout not empty\n{}",
            self.context()
        );
        self
    }

    pub fn stderr_empty(&self) -> &Self {
        assert!(
            self.stderr.is_empty(),
            "stderr not empty\n{}",
            self.context()
        );
        self
    }

    /// stdout as JSON, validated against the published schema
    /// (man/tcptune.schema.json): every JSON document a test reads is checked.
    pub fn json(&self) -> serde_json::Value {
        let doc: serde_json::Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.context()));
        let errors = schema_errors(&doc);
        assert!(
            errors.is_empty(),
            "JSON breaks man/tcptune.schema.json:\n{}\n{}",
            errors.join("\n"),
            self.context()
        );
        doc
    }

    /// The row of `key` in a diff table.
    pub fn row(&self, key: &str) -> String {
        let prefix = format!("{key} ");
        self.stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no row for {key}\n{}", self.context()))
            .to_string()
    }
}

/// Reads the sandbox's /dev/log while the command runs, as journald
/// would: a reader that waited for the end would let the socket's queue
/// (net.unix.max_dgram_qlen, 10) fill and stall the sender.
struct LogReader {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl LogReader {
    fn start(socket: std::os::unix::net::UnixDatagram) -> LogReader {
        use std::sync::atomic::Ordering;
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(20)))
            .unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let mut records = Vec::new();
            let mut buf = vec![0u8; 65536];
            loop {
                // Checked before the read: once set, one more timed-out
                // read proves the queue is empty.
                let last = stop.load(Ordering::SeqCst);
                match socket.recv(&mut buf) {
                    Ok(n) => records.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(_) if last => return records,
                    Err(_) => {}
                }
            }
        });
        LogReader { done, thread }
    }

    fn finish(self) -> Vec<String> {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}
