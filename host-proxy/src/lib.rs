//! `fcc-proxy`: the host proxy of an FCC TEE machine. It is untrusted by design — the guest
//! re-verifies every signature and threshold — but it must never lose work: every vote it
//! acknowledges and every result it acks is committed to the database first.
//!
//! This file is the composition root: [`start`] / [`start_with`] assemble the parts and
//! [`Running`] stops them. The parts:
//!
//! - [`http`] — Flare-compatible public API (`POST /instruction`, results, status, info, health,
//!   metrics, the OpenAPI document), body limits, per-client rate limits, JSON errors.
//! - [`aggregate`] — attributes each signature to a voter or cosigner of the cited policy and
//!   group-commits votes; an instruction is queued once it meets the guest's admission rule.
//! - [`link`] — one guest connection: `fcc_core::wire` frames, leases with timeouts so the work of
//!   a guest that died is delivered again, one stored result per id.
//! - [`session`] — the guests beyond one connection: the served TEE, the attestation check
//!   ([`attestation`]), the policy bring-up of a rebooted guest, its sealed state.
//! - [`trust_root`] — the operator's first policy and its `INITIALIZE_POLICY`.
//! - [`store`] — the storage trait with SQLite and PostgreSQL implementations.
//! - [`chain`] — following the relay's policies and the instruction sender's instructions
//!   (`fcc-chain`), with `UPDATE_POLICY` actions from `relay()` calldata.
//! - [`peer`] — who a peer is (IPv4 address, IPv6 /64, or what a trusted reverse proxy says) and
//!   the per-peer connection caps of the API and the guest link.
//! - [`state`] — what the tasks share; [`receipt`] — the proxy's key; [`shutdown`] — stopping.

pub mod aggregate;
pub mod attestation;
pub mod chain;
pub mod cli;
pub mod config;
pub mod http;
pub mod link;
pub mod metrics;
pub mod objects;
pub mod peer;
pub mod receipt;
pub mod redact;
pub mod session;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod trust_root;
pub mod voter_keys;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;
pub use state::Shared;
use store::Store;

/// A running proxy.
#[derive(Debug)]
pub struct Running {
    /// Shared state (tests add policies and direct actions through it).
    pub shared: Arc<Shared>,
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// Where guests connect.
    pub link_addr: SocketAddr,
    /// Where `GET /metrics` is served, when on a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    /// The HTTP server, the guest link and the chain monitor: they end when `stop` turns true.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The vote writer: ends once the HTTP server has (no request can then wait for it).
    writer: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, closes guest links (their leases are given back) and lets open HTTP
    /// requests finish for up to [`shutdown::SHUTDOWN_GRACE`]; then ends the tasks.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for mut t in self.tasks {
            if tokio::time::timeout(shutdown::SHUTDOWN_GRACE, &mut t).await.is_err() {
                tracing::warn!("a task did not stop within {:?}: aborted", shutdown::SHUTDOWN_GRACE);
                t.abort();
                let _ = t.await;
            }
        }
        self.writer.abort();
        let _ = self.writer.await;
    }
}

/// The receipt key: the configured one, or one drawn for this run (with a warning).
fn signing_key(config: &Config) -> Result<receipt::ProxyKey> {
    match &config.key {
        Some(secret) => {
            let hex_key = secret.expose().trim().trim_start_matches("0x");
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_key, &mut bytes).context("the proxy key must be 32 bytes of hex")?;
            receipt::ProxyKey::from_bytes(&bytes)
        }
        None => {
            tracing::warn!("no proxy key configured: receipts are signed with a key drawn for this run");
            Ok(receipt::ProxyKey::random())
        }
    }
}

/// Opens the store, binds both listeners and serves until shut down.
pub async fn start(config: Config) -> Result<Running> {
    let store = store::open(&config.database).await.context("opening the database")?;
    let http = TcpListener::bind(config.http).await.with_context(|| format!("binding {}", config.http))?;
    let link = TcpListener::bind(config.link).await.with_context(|| format!("binding {}", config.link))?;
    start_with(config, store, http, link).await
}

/// Serves on given listeners and store (tests bind port 0).
pub async fn start_with(
    config: Config,
    store: Arc<dyn Store>,
    http_listener: TcpListener,
    link_listener: TcpListener,
) -> Result<Running> {
    let key = signing_key(&config)?;
    let trust_root = config.trust_root.as_deref().map(trust_root::TrustRoot::load).transpose()?;
    let checker = config.attestation.as_ref().map(attestation::Checker::load).transpose()?;
    let metrics = Arc::new(metrics::Metrics::new());
    let sessions =
        session::Sessions::new(store.clone(), metrics.clone(), trust_root, config.sealed_state.clone(), checker)
            .await?;
    let objects = config.objects.as_deref().map(objects::Objects::open).transpose()?;
    let (votes, writer_rx) = state::VoteWriter::channel();
    let shared = Arc::new(Shared::new(config, store, key, sessions, metrics, votes, objects));
    // The TEE of an earlier run is shown in `GET /info` until a guest connects: check it too.
    if let Some(hello) = shared.sessions.tee().await
        && let Err(e) = shared.sessions.check_attestation(&hello, shared.config.chain_id).await
    {
        tracing::warn!(tee = %hex::encode(hello.tee_id), reason = %e, "the stored TEE's attestation does not verify");
    }
    if let Some(root) = shared.sessions.trust_root() {
        shared.add_policy(&root.policy).await.context(
            "the trust root's epoch has another policy in the database (one database serves one trust root: give this \
             one its own database, or configure the matching trust-root)",
        )?;
        if shared.enqueue_direct(&root.action).await? {
            tracing::info!(action = %hex::encode(root.action.instruction.instruction_id), "INITIALIZE_POLICY queued from the trust root");
        }
    }
    let (stop, stopped) = watch::channel(false);
    let http_addr = http_listener.local_addr()?;
    let link_addr = link_listener.local_addr()?;
    let metrics_listener = match shared.config.metrics {
        Some(a) => Some(TcpListener::bind(a).await.with_context(|| format!("binding the metrics listener {a}"))?),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().map(TcpListener::local_addr).transpose()?;
    tracing::info!(%http_addr, %link_addr, proxy = %hex::encode(shared.proxy_address), "fcc-proxy serving");
    let writer = tokio::spawn(aggregate::run_writer(shared.clone(), writer_rx));
    let mut tasks = vec![
        tokio::spawn(http::serve(shared.clone(), http_listener, stopped.clone())),
        tokio::spawn(link::serve(shared.clone(), link_listener, stopped.clone())),
        tokio::spawn(aggregate::expire_stale(shared.clone(), stopped.clone())),
    ];
    if let Some(listener) = metrics_listener {
        tasks.push(tokio::spawn(http::serve_metrics(shared.clone(), listener, stopped.clone())));
    }
    if shared.config.chain.is_some() {
        tasks.push(tokio::spawn(chain::run(shared.clone(), stopped)));
    }
    Ok(Running { shared, http_addr, link_addr, metrics_addr, stop, tasks, writer })
}
