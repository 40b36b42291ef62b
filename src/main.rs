//! The binary edge: parse the command line, run, and map the outcome to an
//! exit status (0 in sync or done, 1 drift, 2 error).

use clap::Parser;
use tcptune::cli::Cli;
use tcptune::config::Config;
use tcptune::exit_code::ExitCode;
use tcptune::render::Renderer;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let color = Config::from_cli(&cli).color;
    match tcptune::run(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            let code = match &e {
                tcptune::error::Error::Interrupted { signal, .. } => ExitCode::Interrupted(*signal),
                _ => ExitCode::Error,
            };
            Renderer::error(color, &format!("{:#}", anyhow::Error::from(e)));
            code.into()
        }
    }
}
