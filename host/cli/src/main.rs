//! The `redial` binary: logging setup and the CLI; everything else is in the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// jemalloc rather than glibc's allocator: a request frees many small blocks (sled's nodes,
/// JSON) and then allocates large ones (a wasmtime store per decision), and glibc merges its
/// fast bins on every such large request (`malloc_consolidate`). BENCHMARKS.md lists what
/// it is worth; mimalloc was slower.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match redial::cli::run(redial::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
