use clap::Parser;

fn main() {
    let cli = labprov::cli::Cli::parse();
    std::process::exit(labprov::run(cli));
}
