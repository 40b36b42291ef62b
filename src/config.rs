//! `Config`: the command line resolved into what the program needs: the
//! root every path hangs from, the output format and whether to colour.

use std::path::PathBuf;

use crate::cli::{Cli, ColorWhen, Format};

#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub format: Format,
    pub color: anstream::ColorChoice,
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
        Config {
            root: cli.root.clone(),
            format: cli.format,
            color,
        }
    }
}
