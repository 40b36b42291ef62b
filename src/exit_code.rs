//! `ExitCode`: what tcptune's exit status means, in one place.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// In sync, or done.
    Success,
    /// Drift found or changes pending (`check`, `diff --exit-code`).
    Drift,
    /// Bad input or a failure; nothing was changed. clap's usage errors use 2 too.
    Error,
    /// apply or revert was interrupted by this signal and rolled back:
    /// 128 + the signal number, as a shell reports a death by signal.
    Interrupted(i32),
}

impl ExitCode {
    /// The process's exit status.
    pub fn status(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Drift => 1,
            ExitCode::Error => 2,
            ExitCode::Interrupted(signal) if (1..128).contains(&signal) => 128 + signal,
            ExitCode::Interrupted(_) => 2,
        }
    }
}
