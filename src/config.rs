//! `Config`: the command line resolved into what the program needs: the
//! root every path hangs from, the output format, whether to colour, and
//! which boot-time loader to model.

use std::path::PathBuf;

use crate::boot::Loader;
use crate::cli::{Cli, ColorWhen, Format, LoaderArg};

#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub format: Format,
    pub color: anstream::ColorChoice,
    /// The boot-time loader to model.
    pub loader: Loader,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Config {
        let color = match cli.color {
            // anstream's Auto honours NO_COLOR, CLICOLOR_FORCE and whether
            // the stream is a terminal.
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        };
        let loader = match cli.loader {
            Some(LoaderArg::Systemd) => Loader::Systemd,
            Some(LoaderArg::Procps) => Loader::Procps,
            None => {
                crate::root::Root::open(&cli.root).map_or(Loader::Procps, |r| Loader::detect(&r))
            }
        };
        Config {
            root: cli.root.clone(),
            format: cli.format,
            color,
            loader,
        }
    }
}
