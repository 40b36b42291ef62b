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

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(match code {
            ExitCode::Success => 0,
            ExitCode::Drift => 1,
            ExitCode::Error => 2,
            ExitCode::Interrupted(signal) => u8::try_from(128 + signal).unwrap_or(2),
        })
    }
}
