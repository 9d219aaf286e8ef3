//! What the proxy's tasks share — the HTTP API, the vote writer, the guest links and the chain
//! follower: the configuration, the store, the receipt key, the policies votes are weighed
//! against (a cache of the store's), the guests' sessions, the vote writer's queue and the
//! wake-up for guests waiting for work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use fcc_core::action::Action;
use fcc_core::policy::{Address, SigningPolicy};
use fcc_flare_json::{Receipt, SignedReceipt};
use tokio::sync::{Notify, RwLock, mpsc, oneshot};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::receipt::ProxyKey;
use crate::session::Sessions;
use crate::store::{NewVote, Store, StoreError, VoteOutcome, VoteRejection};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Votes waiting for the writer at most (further requests wait for room: back-pressure).
pub const VOTE_QUEUE: usize = 4096;

/// How the vote writer answers one vote: its outcome, or the database's failure.
pub type VoteReply = oneshot::Sender<Result<Result<VoteOutcome, VoteRejection>, Arc<StoreError>>>;

/// The sending side of the vote writer's queue (`aggregate::run_writer` takes the other).
#[derive(Debug)]
pub struct VoteWriter(pub(crate) mpsc::Sender<(NewVote, VoteReply)>);

/// The receiving side of the vote writer's queue.
pub type VoteQueue = mpsc::Receiver<(NewVote, VoteReply)>;

impl VoteWriter {
    /// A writer and its queue.
    pub fn channel() -> (Self, VoteQueue) {
        let (tx, rx) = mpsc::channel(VOTE_QUEUE);
        (Self(tx), rx)
    }
}

/// State shared by the HTTP API, the vote writer, the guest links and the chain follower.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// The receipt key.
    pub(crate) key: ProxyKey,
    /// Its address.
    pub proxy_address: Address,
    /// Decoded policies by epoch (a cache of the store's).
    policies: RwLock<HashMap<u32, Arc<SigningPolicy>>>,
    /// The guests.
    pub sessions: Sessions,
    /// Woken whenever an action is queued.
    pub work: Notify,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The vote writer's queue.
    pub(crate) votes: VoteWriter,
    /// Distinguishes this process's leases from other proxies' on a shared database.
    pub instance: String,
    /// Slots for `GET /info?challenge=` asking the guest for fresh evidence (each costs it an
    /// attestation): at most [`TEE_INFO_IN_FLIGHT`] at once.
    pub(crate) tee_info_slots: tokio::sync::Semaphore,
    /// The last [`TEE_INFO_KEPT`] answers to `GET /info?challenge=`, newest last: served again
    /// for the same challenge without a new attestation, and kept only here (the store forgets
    /// them, so challenges cannot grow the database).
    pub(crate) tee_info_answers: std::sync::Mutex<std::collections::VecDeque<fcc_core::result::SignedResult>>,
    /// Voters' keys seen in signatures, offered to the guest with the next policy.
    pub voter_keys: crate::voter_keys::VoterKeys,
    /// The latest policy epoch and when it was read (see [`Shared::latest_epoch`]).
    latest_epoch: std::sync::Mutex<Option<(std::time::Instant, Option<u32>)>>,
    /// Extension data objects, if configured (`objects`).
    pub objects: Option<crate::objects::Objects>,
}

/// How long the latest policy epoch read from the store is used before it is read again.
pub const LATEST_EPOCH_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /info?challenge=` answers kept in memory.
pub const TEE_INFO_KEPT: usize = 64;

/// Fresh `TEE_INFO`s waiting for the guest at most.
pub const TEE_INFO_IN_FLIGHT: usize = 4;

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("config", &self.config).field("instance", &self.instance).finish_non_exhaustive()
    }
}

impl Shared {
    /// Receipt nonces precomputed so far and those dropped unused (for the load bench). The key
    /// itself stays inside the crate: nothing outside signs with it.
    pub fn receipt_nonce_counts(&self) -> (u64, u64) {
        self.key.nonce_counts()
    }

    /// Assembles the state (see `start_with`).
    pub(crate) fn new(
        config: Config,
        store: Arc<dyn Store>,
        key: ProxyKey,
        sessions: Sessions,
        metrics: Arc<Metrics>,
        votes: VoteWriter,
        objects: Option<crate::objects::Objects>,
    ) -> Self {
        let mut instance = [0u8; 8];
        rand::fill(&mut instance);
        Self {
            config,
            store,
            proxy_address: key.address(),
            key,
            policies: RwLock::new(HashMap::new()),
            sessions,
            work: Notify::new(),
            metrics,
            votes,
            instance: hex::encode(instance),
            tee_info_slots: tokio::sync::Semaphore::new(TEE_INFO_IN_FLIGHT),
            tee_info_answers: std::sync::Mutex::new(std::collections::VecDeque::with_capacity(TEE_INFO_KEPT)),
            voter_keys: Default::default(),
            latest_epoch: std::sync::Mutex::new(None),
            objects,
        }
    }

    /// The policy of `epoch`, from the cache or the store.
    pub async fn policy(&self, epoch: u32) -> Result<Option<Arc<SigningPolicy>>, StoreError> {
        if let Some(p) = self.policies.read().await.get(&epoch) {
            return Ok(Some(p.clone()));
        }
        let Some(bytes) = self.store.policy(epoch).await? else { return Ok(None) };
        let policy = Arc::new(
            SigningPolicy::decode(&bytes)
                .map_err(|e| StoreError(anyhow::anyhow!("stored policy {epoch} does not decode: {e}")))?,
        );
        self.policies.write().await.insert(epoch, policy.clone());
        Ok(Some(policy))
    }

    /// The latest policy epoch the store knows, which every vote is checked against: read again
    /// at most every [`LATEST_EPOCH_TTL`] (other proxies on a shared database, and the chain
    /// follower, add policies; a policy added here is seen at once). Saves a query per vote.
    pub async fn latest_epoch(&self) -> Result<Option<u32>, StoreError> {
        if let Some((at, epoch)) = *self.latest_epoch.lock().expect("latest epoch")
            && at.elapsed() < LATEST_EPOCH_TTL
        {
            return Ok(epoch);
        }
        let epoch = self.store.latest_epoch().await?;
        *self.latest_epoch.lock().expect("latest epoch") = Some((std::time::Instant::now(), epoch));
        Ok(epoch)
    }

    /// Makes the next [`Shared::latest_epoch`] read the store.
    pub fn forget_latest_epoch(&self) {
        *self.latest_epoch.lock().expect("latest epoch") = None;
    }

    /// Stores a signing policy (its bytes) so votes citing its epoch can be weighed. The guest
    /// learns policies separately (`F_POLICY` direct actions); the proxy's copy only decides
    /// when to queue. An epoch's policy is written once (the cache never needs dropping): a
    /// policy for an epoch stored with other bytes is refused.
    pub async fn add_policy(&self, bytes: &[u8]) -> Result<()> {
        let policy = SigningPolicy::decode(bytes).map_err(|e| anyhow::anyhow!("policy: {e}"))?;
        let epoch = policy.reward_epoch_id();
        self.store.put_policy(epoch, bytes).await?;
        self.forget_latest_epoch();
        match self.store.policy(epoch).await? {
            Some(stored) if stored != bytes => {
                Err(crate::store::PolicyConflict { epoch, stored, offered: bytes.to_vec() }.into())
            }
            _ => Ok(()),
        }
    }

    /// Queues a direct action for the guest; false if its id is known.
    pub async fn enqueue_direct(&self, action: &Action) -> Result<bool> {
        let new = self.store.enqueue_direct(action, now_ms()).await?;
        self.work.notify_waiters();
        Ok(new)
    }

    /// Signs a receipt with the proxy's key, for its chain.
    pub fn sign_receipt(&self, r: Receipt) -> SignedReceipt {
        self.key.sign_receipt(r, self.config.chain_id)
    }
}
