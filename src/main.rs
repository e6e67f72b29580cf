//! `vpipe`: command-line entry point. Each subcommand lives in `src/cli/<name>.rs` and only turns
//! flags into calls of the library.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
