//! The binary edge: parse the command line, run, and map the outcome to an
//! exit status (0 in sync or done, 1 drift, 2 error).

use clap::Parser;
use tcptune::cli::Cli;
use tcptune::config::Config;
use tcptune::exit_code::ExitCode;
use tcptune::render::Renderer;

fn main() -> std::process::ExitCode {
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
    let cli = Cli::parse();
    let color = Config::from_cli(&cli).color;
    let json = cli.format == tcptune::cli::Format::Json;
    let command = cli.command.name();
    match tcptune::run(cli) {
        Ok(code) => code.into(),
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
            code.into()
        }
    }
}
