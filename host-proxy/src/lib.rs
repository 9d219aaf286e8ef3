//! `fcc-proxy`: the host proxy of an FCC TEE machine. It is untrusted by design — the guest
//! re-verifies every signature and threshold — but it must never lose work: every vote it
//! acknowledges and every result it acks is committed to the database first.
//!
//! - [`http`] — Flare-compatible public API (`POST /instruction`, results, status, info, health,
//!   metrics, the OpenAPI document), body limits, per-client rate limits, JSON errors.
//! - [`aggregate`] — attributes each signature to a voter or cosigner of the cited policy and
//!   group-commits votes; an instruction is queued once its weight passes the threshold.
//! - [`link`] — the guest link: a TCP server speaking `fcc_core::wire` frames, leases with
//!   timeouts so the work of a guest that died is delivered again, one stored result per id.
//! - [`attestation`] — the optional check of each guest's boot-time attestation (`fcc-attest`).
//! - [`store`] — the storage trait with SQLite and PostgreSQL implementations.
//! - [`chain`] — following the relay's policies and the instruction sender's instructions
//!   (`fcc-chain`), with `UPDATE_POLICY` actions from `relay()` calldata.

pub mod aggregate;
pub mod attestation;
pub mod chain;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod link;
pub mod metrics;
pub mod receipt;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use fcc_core::action::Action;
use fcc_core::policy::{Address, SigningPolicy};
use fcc_core::wire::Hello;
use tokio::net::TcpListener;
use tokio::sync::{Notify, RwLock, watch};

pub use config::Config;
use store::Store;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// State shared by the HTTP API, the vote writer and the guest link.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// The receipt key.
    key: receipt::ProxyKey,
    /// Its address.
    pub proxy_address: Address,
    /// Decoded policies by epoch (a cache of the store's).
    policies: RwLock<HashMap<u32, Arc<SigningPolicy>>>,
    /// The TEE that last connected (a cache of the store's).
    tee: RwLock<Option<Hello>>,
    /// Woken whenever an action is queued.
    pub work: Notify,
    /// Guests connected now.
    pub guests: std::sync::atomic::AtomicUsize,
    /// Counters.
    pub metrics: metrics::Metrics,
    votes: aggregate::VoteWriter,
    /// Distinguishes this process's leases from other proxies' on a shared database.
    pub instance: String,
    /// The operator's trust root (`trust-root`): its policy bytes and INITIALIZE_POLICY action.
    trust_root: Option<(Vec<u8>, Action)>,
    /// The guests' attestation check (`attestation-manifest`), if on.
    attestation: Option<attestation::Checker>,
    /// The last check's outcome (for `GET /info`).
    attestation_outcome: RwLock<Option<attestation::Outcome>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("config", &self.config).field("instance", &self.instance).finish_non_exhaustive()
    }
}

impl Shared {
    /// Keeps `blob`, the sealed state of the TEE `tee` (opaque here), where the operator's next
    /// boot picks it up. Without a sealed-state file it is dropped, with a note.
    pub async fn keep_sealed(&self, tee: Address, blob: Vec<u8>) {
        let Some(path) = self.config.sealed_state.clone() else {
            tracing::info!(tee = %hex::encode(tee), "the guest sealed its state; not kept (no sealed-state file configured)");
            return;
        };
        match tokio::task::spawn_blocking(move || replace_file(&path, &blob).map(|()| path)).await {
            Ok(Ok(path)) => {
                self.metrics.sealed_states.inc();
                tracing::info!(tee = %hex::encode(tee), path = %path.display(), "sealed state kept");
            }
            // The guest keeps working; only its next boot would come back as a new TEE.
            Ok(Err(e)) => tracing::error!(tee = %hex::encode(tee), error = %e, "writing the sealed state failed"),
            Err(e) => tracing::error!(error = %e, "writing the sealed state panicked"),
        }
    }

    /// The policy of `epoch`, from the cache or the store.
    pub async fn policy(&self, epoch: u32) -> Result<Option<Arc<SigningPolicy>>, store::StoreError> {
        if let Some(p) = self.policies.read().await.get(&epoch) {
            return Ok(Some(p.clone()));
        }
        let Some(bytes) = self.store.policy(epoch).await? else { return Ok(None) };
        let policy = Arc::new(
            SigningPolicy::decode(&bytes)
                .map_err(|e| store::StoreError(anyhow::anyhow!("stored policy {epoch} does not decode: {e}")))?,
        );
        self.policies.write().await.insert(epoch, policy.clone());
        Ok(Some(policy))
    }

    /// Stores a signing policy (its bytes) so votes citing its epoch can be weighed. The guest
    /// learns policies separately (`F_POLICY` direct actions); the proxy's copy only decides
    /// when to queue.
    pub async fn add_policy(&self, bytes: &[u8]) -> Result<()> {
        let policy = SigningPolicy::decode(bytes).map_err(|e| anyhow::anyhow!("policy: {e}"))?;
        self.store.put_policy(policy.reward_epoch_id(), bytes).await?;
        Ok(())
    }

    /// Drops cached policies of `epochs` (a reorg replaced them in the store).
    pub async fn forget_policies(&self, epochs: &[u32]) {
        if !epochs.is_empty() {
            let mut cache = self.policies.write().await;
            for e in epochs {
                cache.remove(e);
            }
        }
    }

    /// Queues a direct action for the guest.
    pub async fn enqueue_direct(&self, action: &Action) -> Result<bool> {
        let new = self.store.enqueue_direct(action, now_ms()).await?;
        self.work.notify_waiters();
        Ok(new)
    }

    /// The policy actions a guest that connects without a trust root needs before its queue:
    /// the trust root's INITIALIZE_POLICY and the UPDATE_POLICY actions of the epochs after it,
    /// in order — but only those already answered (by an earlier boot, whose key is gone: a
    /// rebooted guest is a new TEE). Unanswered ones reach it through the queue as usual. Empty
    /// when the guest has a trust root or the proxy none.
    pub async fn bring_up(&self, hello: &Hello) -> Result<Vec<Action>> {
        let Some((root_bytes, init)) = &self.trust_root else { return Ok(Vec::new()) };
        if hello.initial_policy.is_some() || self.store.result(&init.instruction.instruction_id).await?.is_none() {
            return Ok(Vec::new());
        }
        let root = SigningPolicy::decode(root_bytes).map_err(|e| anyhow::anyhow!("trust root policy: {e}"))?;
        let mut actions = vec![init.clone()];
        // Bounded: a policy a week on Flare; the guest's own limit on one pull is far lower.
        for epoch in root.reward_epoch_id().saturating_add(1)..root.reward_epoch_id().saturating_add(1 + 1024) {
            let Some(bytes) = self.store.policy(epoch).await? else { break };
            let id = fcc_core::action::update_policy_id(&bytes);
            if self.store.result(&id).await?.is_none() {
                break;
            }
            match self.store.action(&id).await? {
                Some(action) => actions.push(action),
                None => break,
            }
        }
        Ok(actions)
    }

    /// Whether guests' attestations are checked.
    pub fn checks_attestation(&self) -> bool {
        self.attestation.is_some()
    }

    /// Checks a guest's Hello when the check is on (always passes when off) and records the
    /// outcome for `GET /info`.
    pub async fn check_attestation(&self, hello: &Hello) -> Result<(), attestation::Refusal> {
        let Some(checker) = &self.attestation else { return Ok(()) };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let (outcome, result) = match checker.check(hello, self.config.chain_id, now) {
            Ok(verdict) => {
                self.metrics.attestations_verified.inc();
                (attestation::Outcome::Accepted(hello.tee_id, Box::new(verdict)), Ok(()))
            }
            Err(refusal) => {
                self.metrics.attestations_refused.inc();
                (attestation::Outcome::Refused(hello.tee_id, refusal.to_string()), Err(refusal))
            }
        };
        *self.attestation_outcome.write().await = Some(outcome);
        result
    }

    /// The outcome of the last attestation check (None when off or no guest was checked yet).
    pub async fn attestation_outcome(&self) -> Option<attestation::Outcome> {
        self.attestation_outcome.read().await.clone()
    }

    /// The connected (or last connected) TEE.
    pub async fn tee(&self) -> Option<Hello> {
        self.tee.read().await.clone()
    }

    async fn set_tee(&self, hello: Hello) -> Result<(), store::StoreError> {
        self.store.put_tee(&hello).await?;
        *self.tee.write().await = Some(hello);
        Ok(())
    }

    /// Signs a receipt with the proxy's key.
    pub fn sign_receipt(&self, r: receipt::Receipt) -> receipt::SignedReceipt {
        r.sign(&self.key)
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct Running {
    /// Shared state (tests add policies and direct actions through it).
    pub shared: Arc<Shared>,
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// Where guests connect.
    pub link_addr: SocketAddr,
    stop: watch::Sender<bool>,
    /// The HTTP server, the guest link and the chain monitor: they end when `stop` turns true.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The vote writer: ends once the HTTP server has (no request can then wait for it).
    writer: tokio::task::JoinHandle<()>,
}

/// How long shutdown waits for open HTTP requests and guest links before cutting them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl Running {
    /// Stops accepting, closes guest links (their leases are given back) and lets open HTTP
    /// requests finish for up to [`SHUTDOWN_GRACE`]; then ends the tasks.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for mut t in self.tasks {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut t).await.is_err() {
                tracing::warn!("a task did not stop within {SHUTDOWN_GRACE:?}: aborted");
                t.abort();
                let _ = t.await;
            }
        }
        self.writer.abort();
        let _ = self.writer.await;
    }
}

/// Reads the operator's trust root file (`{"policy": "0x…", "publicKeys": [...]}`) and returns
/// the policy bytes and the `F_POLICY/INITIALIZE_POLICY` action, whose id is
/// `keccak("INITIALIZE_POLICY" ‖ policy bytes)`.
pub fn trust_root_action(path: &std::path::Path) -> Result<(Vec<u8>, Action)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct TrustRoot {
        policy: alloy_primitives::Bytes,
        #[serde(default)]
        public_keys: Vec<alloy_primitives::Bytes>,
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let root: TrustRoot = serde_json::from_str(&text).with_context(|| format!("trust root {}", path.display()))?;
    let policy = SigningPolicy::decode(&root.policy).map_err(|e| anyhow::anyhow!("trust root policy: {e}"))?;
    let public_keys = root
        .public_keys
        .iter()
        .map(|k| {
            let k: [u8; 64] = k.as_ref().try_into().context("trust root public keys must be 64 bytes (x ‖ y)")?;
            Ok(fcc_core::light_client::PublicKey(k))
        })
        .collect::<Result<Vec<_>>>()?;
    anyhow::ensure!(
        public_keys.is_empty() || public_keys.len() == policy.voters().len(),
        "trust root: {} public keys for {} voters (give none or one per voter)",
        public_keys.len(),
        policy.voters().len()
    );
    let action = Action::initialize_policy(&fcc_core::light_client::InitializePolicy {
        policy: root.policy.to_vec(),
        public_keys,
    });
    Ok((root.policy.to_vec(), action))
}

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

/// Resolves once `stop` holds true (or its sender is gone).
pub async fn until_stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Makes sure the sealed-state file exists (QEMU's `-fw_cfg …,file=` refuses a missing file; the
/// guest takes an empty one as "no sealed state") and that its directory is writable.
fn prepare_sealed_state(path: &std::path::Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("sealed-state file {}", path.display()))?;
    Ok(())
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old or the new contents,
/// never a mix: a temporary file beside it, synced, renamed over it, the directory synced.
fn replace_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
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
    let proxy_address = key.address();
    let trust_root = config.trust_root.as_deref().map(trust_root_action).transpose()?;
    if let Some(path) = &config.sealed_state {
        prepare_sealed_state(path)?;
    }
    let tee = store.tee().await?;
    let checker = config.attestation.as_ref().map(attestation::Checker::load).transpose()?;
    let (votes, writer_rx) = aggregate::VoteWriter::channel();
    let mut instance = [0u8; 8];
    rand::fill(&mut instance);
    let shared = Arc::new(Shared {
        metrics: metrics::Metrics::new(),
        config,
        store,
        key,
        proxy_address,
        policies: RwLock::new(HashMap::new()),
        tee: RwLock::new(tee),
        work: Notify::new(),
        guests: Default::default(),
        votes,
        instance: hex::encode(instance),
        trust_root,
        attestation: checker,
        attestation_outcome: RwLock::new(None),
    });
    // The TEE of an earlier run is shown in `GET /info` until a guest connects: check it too.
    if let Some(hello) = shared.tee().await
        && let Err(e) = shared.check_attestation(&hello).await
    {
        tracing::warn!(tee = %hex::encode(hello.tee_id), reason = %e, "the stored TEE's attestation does not verify");
    }
    if let Some((policy, action)) = &shared.trust_root {
        shared.add_policy(policy).await?;
        if shared.enqueue_direct(action).await? {
            tracing::info!(action = %hex::encode(action.instruction.instruction_id), "INITIALIZE_POLICY queued from the trust root");
        }
    }
    let (stop, stopped) = watch::channel(false);
    let http_addr = http_listener.local_addr()?;
    let link_addr = link_listener.local_addr()?;
    tracing::info!(%http_addr, %link_addr, proxy = %hex::encode(proxy_address), "fcc-proxy serving");
    let writer = tokio::spawn(aggregate::run_writer(shared.clone(), writer_rx));
    let mut tasks = vec![
        tokio::spawn(http::serve(shared.clone(), http_listener, stopped.clone())),
        tokio::spawn(link::serve(shared.clone(), link_listener, stopped.clone())),
    ];
    if shared.config.chain.is_some() {
        tasks.push(tokio::spawn(chain::run(shared.clone(), stopped)));
    }
    Ok(Running { shared, http_addr, link_addr, stop, tasks, writer })
}
