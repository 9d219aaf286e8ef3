//! `fcc-proxy`: serves the HTTP API and the guest link until SIGINT/SIGTERM.

use anyhow::Result;
use clap::Parser;
use fcc_proxy::config::Settings;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let config = Settings::parse().resolve()?;
    tracing::info!(?config, "starting");
    let running = fcc_proxy::start(config).await?;
    // Printed for supervisors and tests that bind port 0.
    println!("LISTENING http={} link={}", running.http_addr, running.link_addr);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
