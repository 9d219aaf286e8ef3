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
    // The URLs' secrets are known before anything is logged, and never printed (`redact`): those
    // given on the command line or in the environment, then those of the resolved configuration
    // (its file's included).
    for url in [&settings.database].into_iter().flatten().chain(settings.chain.rpc_url.as_ref()) {
        crate::redact::register_url(url);
    }
    let config = settings.resolve();
    if let Ok(c) = &config {
        crate::redact::register_url(&c.database);
        if let Some(chain) = &c.chain {
            crate::redact::register_url(&chain.rpc_url);
        }
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(crate::redact::Stderr);
    match config.as_ref().map_or(crate::config::LogFormat::Text, |c| c.log_format) {
        crate::config::LogFormat::Text => logs.init(),
        crate::config::LogFormat::Json => logs.json().init(),
    }
    config.and_then(serve).map_err(|e| anyhow::anyhow!("{}", crate::redact::scrub(&format!("{e:#}"))))
}

fn serve(config: crate::config::Config) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        tracing::info!("starting: {config}");
        let running = crate::start(config).await?;
        match running.metrics_addr {
            Some(m) => println!("LISTENING http={} link={} metrics={m}", running.http_addr, running.link_addr),
            None => println!("LISTENING http={} link={}", running.http_addr, running.link_addr),
        }
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
