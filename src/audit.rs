//! `audit`: what apply and revert changed, to the system log. One record
//! per live key (command, profile, key, from, to, file, user, namespace)
//! and one summary, through the standard /dev/log datagram socket that
//! journald and rsyslog both read, as facility authpriv (where sudo's
//! records go). Nothing is logged for dry runs or runs that changed
//! nothing. Logging never fails a change: a failure is returned for the
//! caller to report as a warning.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::change::Change;
use crate::state::NetnsId;

/// The system log socket (on the host, whatever `--root` says: the actor
/// is on the host).
pub const SOCKET: &str = "/dev/log";

/// LOG_AUTHPRIV (10 << 3) | LOG_NOTICE (5).
const PRIORITY: u8 = 85;

/// Who ran the change, for the records.
pub struct Actor {
    pub uid: u32,
    pub user: Option<String>,
    pub netns: Option<NetnsId>,
}

impl Actor {
    pub fn current(netns: Option<NetnsId>) -> Actor {
        let uid = rustix::process::getuid().as_raw();
        Actor {
            uid,
            user: user_name(uid),
            netns,
        }
    }

    fn fields(&self) -> String {
        let mut t = format!("uid={}", self.uid);
        if let Some(u) = &self.user {
            t.push_str(&format!(" user={}", quote(u)));
        }
        if let Some(n) = &self.netns {
            t.push_str(&format!(" netns={}", n.inode));
        }
        t
    }
}

/// The login name of `uid`, from /etc/passwd (no NSS: a best effort).
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

/// A value as `key=value`: quoted when it holds a space, quote or backslash.
fn quote(v: &str) -> String {
    // The kernel separates pairs with a tab: one space, as written.
    let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
    let safe: String = v
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if safe.is_empty() || safe.contains([' ', '"', '\\', '=']) {
        format!("\"{}\"", safe.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        safe
    }
}

/// The records for one change: one per live key, then a summary.
pub fn records(
    command: &str,
    profile: Option<&str>,
    change: &Change,
    actor: &Actor,
) -> Vec<String> {
    let profile = profile
        .map(|p| format!(" profile={}", quote(p)))
        .unwrap_or_default();
    let file = change
        .files
        .iter()
        .find(|f| f.changes())
        .map(|f| format!(" file={}", quote(&f.path.display().to_string())));
    let who = actor.fields();
    let mut out: Vec<String> = change
        .live
        .iter()
        .map(|w| {
            format!(
                "{command}:{profile} key={} from={} to={}{} {who}",
                quote(&w.key),
                quote(w.previous.trim()),
                quote(w.value.trim()),
                file.clone().unwrap_or_default()
            )
        })
        .collect();
    let files = change.files.iter().filter(|f| f.changes()).count();
    out.push(format!(
        "{command}:{profile} summary: {} live {} changed, {} {} written{} {who}",
        change.live.len(),
        if change.live.len() == 1 {
            "value"
        } else {
            "values"
        },
        files,
        if files == 1 { "file" } else { "files" },
        file.unwrap_or_default()
    ));
    out
}

/// How long a stalled system log may hold up a change, over all records:
/// apply and revert hold the lock, and a configuration-management hook
/// must not hang because journald or rsyslog stopped reading.
const SEND_BUDGET: Duration = Duration::from_secs(2);

/// Sends `records` to the system log; the first failure is returned (the
/// rest are still tried while the time budget lasts).
pub fn send(records: &[String]) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    let pid = std::process::id();
    let stamp = timestamp();
    let deadline = Instant::now() + SEND_BUDGET;
    let mut first_error = None;
    for (i, r) in records.iter().enumerate() {
        let line = format!("<{PRIORITY}>{stamp} tcptune[{pid}]: {r}");
        // A datagram socket blocks while the reader's queue is full;
        // SO_SNDTIMEO bounds that wait (zero would mean "forever").
        let left = deadline.saturating_duration_since(Instant::now());
        let sent = socket
            .set_write_timeout(Some(left.max(Duration::from_millis(1))))
            .and_then(|()| socket.send_to(line.as_bytes(), SOCKET));
        match sent {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "the system log stopped accepting records ({} of {} not sent within {} s)",
                        records.len() - i,
                        records.len(),
                        SEND_BUDGET.as_secs()
                    ),
                ));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// RFC 3164's "Mmm dd hh:mm:ss", local time.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time(NULL) and localtime_r with valid pointers.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::new();
        }
        format!(
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[tm.tm_mon.clamp(0, 11) as usize],
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_named_from_passwd() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(4_000_000_000), None);
    }

    #[test]
    fn values_with_spaces_are_quoted() {
        assert_eq!(quote("10240 65535"), "\"10240 65535\"");
        assert_eq!(quote("4096"), "4096");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote("10240\t65535"), "\"10240 65535\"");
        assert_eq!(quote("x\u{7}y"), "x?y");
    }
}
