//! The `fcc-proxy` command line: serves the HTTP API and the guest link until SIGINT/SIGTERM.
//! A library function so that other executables (the devnet's `fcc-devnet proxy`) run the very
//! same proxy process without a second build of this crate.

use std::ffi::OsString;

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::config::Settings;

/// Parses `args` (the first is the program name) as `fcc-proxy`'s flags and serves until
/// SIGINT or SIGTERM. Prints `LISTENING http=<addr> link=<addr>` on stdout once both
/// listeners are bound, for supervisors and tests that bind port 0.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<()> {
    let settings = Settings::parse_from(args);
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let config = settings.resolve()?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        tracing::info!(?config, "starting");
        let running = crate::start(config).await?;
        println!("LISTENING http={} link={}", running.http_addr, running.link_addr);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        running.shutdown().await;
        Ok(())
    })
}
