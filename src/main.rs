//! The binary edge: parse the command line, run, and map the outcome to an
//! exit status (0 in sync or done, 1 drift, 2 error).
//!
//! `main` is the C entry point (`#![no_main]`), not std's. std's runtime
//! start-up finds the main thread's stack for its overflow message by
//! reading /proc/self/maps and the CPU affinity (pthread_getattr_np), and
//! installs an alternate signal stack: a dozen system calls and about a
//! sixth of the instructions of a whole `tcptune diff` run in hooks every
//! few minutes. tcptune keeps the two parts of that start-up that matter
//! for a tool run as root (`prepare_process`); a stack overflow still
//! stops the process (SIGSEGV at the kernel's guard gap), only without
//! std's message. Arguments still reach `std::env::args_os`: std takes
//! them from glibc's constructor call, not from `main`.

#![no_main]

use clap::FromArgMatches;
use tcptune::cli::Cli;
use tcptune::config::Config;
use tcptune::exit_code::ExitCode;
use tcptune::render::Renderer;

#[global_allocator]
static ALLOCATOR: tcptune::arena::StartupArena = tcptune::arena::StartupArena::new();

/// The process entry point, called by the C runtime.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    prepare_process();
    // A panic is a bug; in a release build it aborts (panic = "abort").
    // Elsewhere, say so with std's status for it rather than unwinding out
    // of a C function.
    let code = std::panic::catch_unwind(run).unwrap_or(101);
    // std::process::exit flushes standard output, as std's own start-up
    // would after `main`.
    std::process::exit(code)
}

/// What std's start-up does that tcptune relies on:
/// - file descriptors 0, 1 and 2 are open (on /dev/null if they were
///   closed), so a file tcptune opens, such as a sysctl.d file it is about
///   to write, can never become its standard output;
/// - SIGPIPE is ignored, so a closed pipe (`tcptune files | head`) is an
///   EPIPE the renderer handles, not a silent death mid-apply.
fn prepare_process() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: fds is a valid array of three pollfd for the call's duration.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for pollfd in fds {
        // Without poll's answer (EINTR, ENOMEM), ask each descriptor.
        // SAFETY: F_GETFD on any integer only reads the descriptor table.
        let closed = if polled < 0 {
            (unsafe { libc::fcntl(pollfd.fd, libc::F_GETFD) }) < 0
        } else {
            pollfd.revents & libc::POLLNVAL != 0
        };
        // open() takes the lowest free descriptor: this one, as 0..2 are
        // filled in order.
        // SAFETY: a constant NUL-terminated path.
        if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != pollfd.fd {
            std::process::abort();
        }
    }
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler to
    // be unsafe about.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// `Cli::parse()`, except that the plainest `diff` and `check` skip clap
/// (`cli::plain`), and that the parser's tree of every subcommand's
/// arguments is left to the process's exit instead of being freed one
/// allocation at a time (a twentieth of a `diff`'s instructions).
fn parse_command_line() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(cli) = tcptune::cli::plain(&args) {
        return cli;
    }
    let mut command = tcptune::cli::command();
    let parsed = command
        .try_get_matches_from_mut(args)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
    match parsed {
        Ok(cli) => {
            std::mem::forget(command);
            cli
        }
        Err(e) => e.format(&mut command).exit(),
    }
}

fn run() -> i32 {
    // CLICOLOR_FORCE=0 means "do not force" (bixense.com/clicolors); the
    // colour crate forces on any non-empty value.
    if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| v == "0") {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::remove_var("CLICOLOR_FORCE") };
    }
    // The shell asking for completions (COMPLETE=bash tcptune -- ...):
    // answer and exit before anything else.
    clap_complete::CompleteEnv::with_factory(tcptune::cli::command)
        .completer("tcptune")
        .complete();
    let cli = parse_command_line();
    let color = Config::from_cli(&cli).color;
    let json = cli.format == tcptune::cli::Format::Json;
    let command = cli.command.name();
    match tcptune::run(cli) {
        Ok(code) => code.status(),
        Err(e) => {
            let code = match &e {
                tcptune::error::Error::Interrupted { signal, .. } => ExitCode::Interrupted(*signal),
                _ => ExitCode::Error,
            };
            if json {
                // The document says what failed; the status says it failed.
                Renderer::json_error(command, &e);
            }
            // Our messages already word the cause (and the errno, once):
            // print the outermost, not anyhow's chain of sources.
            Renderer::error(color, &anyhow::Error::from(e).to_string());
            code.status()
        }
    }
}
