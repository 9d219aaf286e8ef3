//! Prometheus counters (`GET /metrics`, text exposition format).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How long the gauges read from the database (`open_instructions`, `pending_actions`,
/// `chain_instructions_known`) are reused: scrapes come every 15 s or so, and a client
/// scraping in a loop must not turn into `COUNT(*)`s.
pub const DATABASE_GAUGES_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// The proxy's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// When the database gauges were last read (one scrape at a time reads them).
    pub(crate) gauges_read: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// HTTP responses by status code.
    pub responses: Family<Vec<(String, String)>, Counter>,
    /// Votes accepted (first time per signer).
    pub votes: Counter,
    /// Actions queued for the guest.
    pub queued: Counter,
    /// Actions handed to a guest (re-deliveries included).
    pub delivered: Counter,
    /// Results stored.
    pub results: Counter,
    /// Results received for an id that already had one (dropped).
    pub duplicate_results: Counter,
    /// Actions refused for now (a retryable refusal) and delivered again later.
    pub deferred: Counter,
    /// Extension data the guest asked for that this proxy does not have (its instruction waits).
    pub objects_missing: Counter,
    /// Bytes of extension data streamed to the guest.
    pub object_bytes: Counter,
    /// Open instructions closed by expiry.
    pub expired: Counter,
    /// Sealed states written to the sealed-state file.
    pub sealed_states: Counter,
    /// Guests whose attestation verified (`attestation-manifest` set).
    pub attestations_verified: Counter,
    /// Guests refused because their attestation did not verify.
    pub attestations_refused: Counter,
    /// Guest links refused: the Hello was not signed for the link's challenge by its TEE key.
    pub links_refused: Counter,
    /// Guest links closed, by reason (`link::LinkFault::label`, `error`, `ok`).
    pub links_closed: Family<Vec<(String, String)>, Counter>,
    /// 1, labelled with the proxy's version and the guest core version it speaks to.
    pub build_info: Family<Vec<(String, String)>, Gauge>,
    /// Guests connected now.
    pub guests: Gauge,
    /// Instructions open (set from the database when scraped).
    pub open: Gauge,
    /// Actions unanswered (set from the database when scraped).
    pub pending: Gauge,
    /// Instructions seen on chain since start (new ones only).
    pub chain_instructions: Counter,
    /// Instructions seen on chain, all time (set from the database when scraped).
    pub chain_instructions_known: Gauge,
    /// Policies read from the chain since start (new ones only).
    pub chain_policies: Counter,
    /// The chain monitor's cursor: the last block read.
    pub chain_block: Gauge,
    /// Ranges the chain follower refused because the chain contradicted a stored policy.
    pub chain_conflicts: Counter,
    /// Reorgs the chain follower walked back from.
    pub chain_reorgs: Counter,
    /// Accepting one vote, from its request to its receipt (the group commit included).
    pub vote_seconds: Histogram,
    /// An instruction's first vote to its action queued for the guest (the threshold reached).
    pub open_to_queued_seconds: Histogram,
    /// An action handed to the guest to its result back on the link (per result).
    pub guest_action_seconds: Histogram,
    /// An instruction's action queued (its threshold reached) to its result stored.
    pub queued_to_result_seconds: Histogram,
    /// When this process queued the actions not yet answered.
    pub(crate) queue_clock: QueueClock,
}

/// Most queued actions timed at once; beyond, new ones go untimed (the histogram is a sample,
/// the memory stays bounded).
pub const MAX_TIMED: usize = 65_536;
/// A timed action older than this is forgotten when the clock is full (its result was stored
/// by another proxy on the same database, or never will be).
pub const TIMED_AT_MOST: std::time::Duration = std::time::Duration::from_secs(3600);

/// When this process queued each action still unanswered (`queued_to_result_seconds`). Only
/// this process's: an action queued by another proxy on the same database, or before a
/// restart, is not timed.
#[derive(Debug, Default)]
pub(crate) struct QueueClock(std::sync::Mutex<std::collections::HashMap<[u8; 32], std::time::Instant>>);

impl QueueClock {
    /// `id`'s action was queued now.
    pub(crate) fn queued(&self, id: [u8; 32]) {
        let mut m = self.0.lock().expect("queue clock");
        if m.len() >= MAX_TIMED {
            m.retain(|_, at| at.elapsed() < TIMED_AT_MOST);
        }
        if m.len() < MAX_TIMED {
            m.insert(id, std::time::Instant::now());
        }
    }

    /// How long ago `id`'s action was queued, if timed (forgotten then).
    pub(crate) fn answered(&self, id: &[u8; 32]) -> Option<std::time::Duration> {
        self.0.lock().expect("queue clock").remove(id).map(|at| at.elapsed())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("fcc_proxy");
        let m = Self {
            gauges_read: tokio::sync::Mutex::new(None),
            responses: Family::default(),
            votes: Counter::default(),
            queued: Counter::default(),
            delivered: Counter::default(),
            results: Counter::default(),
            duplicate_results: Counter::default(),
            deferred: Counter::default(),
            objects_missing: Counter::default(),
            object_bytes: Counter::default(),
            expired: Counter::default(),
            sealed_states: Counter::default(),
            attestations_verified: Counter::default(),
            attestations_refused: Counter::default(),
            links_refused: Counter::default(),
            links_closed: Family::default(),
            build_info: Family::default(),
            guests: Gauge::default(),
            open: Gauge::default(),
            pending: Gauge::default(),
            chain_instructions: Counter::default(),
            chain_instructions_known: Gauge::default(),
            chain_policies: Counter::default(),
            chain_block: Gauge::default(),
            chain_conflicts: Counter::default(),
            chain_reorgs: Counter::default(),
            // 0.5 ms … 16 s: a commit, a guest's action.
            vote_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            guest_action_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            // 10 ms … 22 min: providers vote over seconds to minutes.
            open_to_queued_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 18)),
            queued_to_result_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            queue_clock: QueueClock::default(),
            registry: Registry::default(),
        };
        let build = vec![
            ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("core".to_string(), fcc_core::config::VERSION.to_string()),
            ("link_protocol".to_string(), fcc_core::wire::PROTOCOL_VERSION.to_string()),
        ];
        m.build_info.get_or_create(&build).set(1);
        registry.register(
            "build_info",
            "The proxy's version, its fcc-core and link protocol (always 1)",
            m.build_info.clone(),
        );
        registry.register("http_responses", "HTTP responses by status", m.responses.clone());
        registry.register("votes_accepted", "Votes accepted", m.votes.clone());
        registry.register(
            "vote_seconds",
            "Accepting one vote: from its request to its receipt, the commit included",
            m.vote_seconds.clone(),
        );
        registry.register(
            "open_to_queued_seconds",
            "An instruction's first vote to its action queued for the guest",
            m.open_to_queued_seconds.clone(),
        );
        registry.register(
            "queued_to_result_seconds",
            "An instruction's action queued to its result stored (by this process)",
            m.queued_to_result_seconds.clone(),
        );
        registry.register(
            "guest_action_seconds",
            "An action handed to the guest to its result on the link",
            m.guest_action_seconds.clone(),
        );
        registry.register("actions_queued", "Actions queued for the guest", m.queued.clone());
        registry.register("actions_delivered", "Actions handed to a guest", m.delivered.clone());
        registry.register("results_stored", "Results stored", m.results.clone());
        registry.register("results_duplicate", "Results dropped: the id already had one", m.duplicate_results.clone());
        registry.register(
            "instructions_expired",
            "Open instructions closed: an epoch the guest no longer accepts, or open too long",
            m.expired.clone(),
        );
        registry.register(
            "actions_deferred",
            "Refusals for now (retryable): the action is delivered again later",
            m.deferred.clone(),
        );
        registry.register(
            "objects_missing",
            "Extension data the guest asked for that is not in the objects directory (the instruction waits)",
            m.objects_missing.clone(),
        );
        registry.register("object_bytes", "Bytes of extension data streamed to the guest", m.object_bytes.clone());
        registry.register(
            "sealed_states",
            "Sealed guest states written to the sealed-state file",
            m.sealed_states.clone(),
        );
        registry.register(
            "attestations_verified",
            "Guests whose boot-time attestation verified",
            m.attestations_verified.clone(),
        );
        registry.register(
            "attestations_refused",
            "Guest links refused: the attestation did not verify",
            m.attestations_refused.clone(),
        );
        registry.register(
            "links_refused",
            "Guest links refused: the Hello was not signed for the link's challenge by its TEE key",
            m.links_refused.clone(),
        );
        registry.register(
            "links_closed",
            "Guest links closed, by reason: bad_frame, guest_closed, protocol, foreign_result, wrong_signer, \
             timeout, refused, shutdown, error",
            m.links_closed.clone(),
        );
        registry.register("guests_connected", "Guests connected now", m.guests.clone());
        registry.register("open_instructions", "Instructions collecting votes or awaiting a result", m.open.clone());
        registry.register("pending_actions", "Actions not answered yet", m.pending.clone());
        registry.register(
            "chain_instructions",
            "Instructions seen on chain (TeeInstructionsSent)",
            m.chain_instructions.clone(),
        );
        registry.register(
            "chain_instructions_known",
            "Instructions seen on chain, all time",
            m.chain_instructions_known.clone(),
        );
        registry.register("chain_policies", "Signing policies read from the relay", m.chain_policies.clone());
        registry.register("chain_block", "Last block the chain monitor read", m.chain_block.clone());
        registry.register(
            "chain_conflicts",
            "Block ranges refused: the chain contradicted a stored policy (the follower stops there)",
            m.chain_conflicts.clone(),
        );
        registry.register("chain_reorgs", "Reorgs the chain monitor walked back from", m.chain_reorgs.clone());
        Self { registry, ..m }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
