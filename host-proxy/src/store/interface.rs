//! The storage interface: the [`Store`] trait both backends implement and the records it
//! takes and gives (votes, outcomes, status, chain batches), with its one error type.

use async_trait::async_trait;
use fcc_core::action::{Action, ActionKind};
use fcc_core::admission::Requirement;
use fcc_core::hash::{H256, keccak256};
use fcc_core::instruction::InstructionData;
use fcc_core::op::OpName;
use fcc_core::policy::Address;
use fcc_core::result::SignedResult;
use fcc_core::verify::SignerHint;
use fcc_core::wire::Hello;
use serde::{Deserialize, Serialize};

/// A storage failure (the database, not the request): answered with 503 and retried by clients.
#[derive(Debug)]
pub struct StoreError(pub anyhow::Error);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage: {:#}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.into())
    }
}

impl From<postcard::Error> for StoreError {
    fn from(e: postcard::Error) -> Self {
        Self(anyhow::anyhow!("stored blob does not decode: {e}"))
    }
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// One provider's (or cosigner's) signature over an instruction, attributed by the proxy.
#[derive(Debug, Clone)]
pub struct NewVote {
    /// The instruction's fixed part.
    pub instruction: InstructionData,
    /// Its `hashFixed`.
    pub hash_fixed: H256,
    /// The recovered signer.
    pub signer: Address,
    /// The guest's hint: index in voters ‖ cosigners and the y of `R`.
    pub hint: SignerHint,
    /// The voter's weight (0 for a cosigner).
    pub weight: u32,
    /// Whether the signer is a listed cosigner (a voter can be one too).
    pub cosigner: bool,
    /// 65 bytes `r ‖ s ‖ v`.
    pub signature: [u8; 65],
    /// The signer's additional variable message.
    pub additional_variable_message: Vec<u8>,
    /// What the instruction needs under the cited policy (`fcc_core::admission`): its action is
    /// queued once the votes meet it.
    pub requirement: Requirement,
    /// Accept time, Unix milliseconds.
    pub now_ms: i64,
}

/// What happened to an accepted vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VoteOutcome {
    /// Position of the vote in the instruction's chain (0-based, as tee-proxy's).
    pub sequence: u64,
    /// The vote chain's hash after it.
    pub vote_hash: H256,
    /// Accept time of the vote (Unix seconds) — the first one for a repeated vote.
    pub timestamp: u64,
    /// Voters' weight collected so far.
    pub weight: u32,
    /// Whether this vote carried the instruction over the threshold (an action was queued).
    pub queued_now: bool,
    /// When the instruction's candidate got its first vote (Unix ms).
    pub opened_ms: i64,
    /// The signer had voted before: its first vote stands and is reported again.
    pub repeated: bool,
    /// keccak of the additional variable message of the vote this outcome is about (the first
    /// one for a repeated vote), for the receipt.
    pub avm_hash: H256,
    /// That vote's signature (the receipt echoes it).
    pub signature: Vec<u8>,
}

/// Why a vote was not accepted (a client error, not a storage failure).
///
/// Instructions are kept per (`instructionId`, `hashFixed`): votes for different data under one
/// id collect side by side, so nobody can pin an id to their own data by voting first; the
/// first to meet its requirement is queued and decides the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteRejection {
    /// The instruction id was decided with other data (its action is queued or answered).
    Conflict,
    /// A vote without voter weight (a cosigner's) for data no voter has signed yet: it may not
    /// open an instruction (anyone can list themselves as a cosigner). Retry after a voter.
    NoVoterYet,
    /// Too many open instructions: the proxy sheds load rather than grow without bound.
    QueueFull {
        /// The bound.
        max: u64,
    },
    /// The instruction (these data under this id) was closed by expiry.
    Expired,
    /// The data disagree with the instruction's announcement on chain.
    NotAsAnnounced {
        /// The first field that differs ([`ChainInstruction::mismatch`]).
        field: &'static str,
    },
    /// The signer has opened as many instructions as one signer may have open.
    SignerFull {
        /// The bound.
        max: u64,
    },
}

/// How many instruction candidates may be open (collecting votes or queued) at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenLimits {
    /// In all.
    pub max_open: u64,
    /// Opened by one signer (a misbehaving voter fills at most this many).
    pub max_open_per_signer: u64,
}

/// An instruction's progress (`GET /action/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstructionStatus {
    /// `collecting`, `queued`, `delivered`, `done`, `superseded` (another candidate of the id
    /// was queued) or `expired` (it cited an epoch the guest no longer accepts, or collected
    /// for longer than the proxy keeps instructions open).
    pub state: &'static str,
    /// Accepted votes.
    pub votes: u64,
    /// Voters' weight.
    pub weight: u32,
    /// Signing cosigners.
    pub cosigners: u32,
    /// Different instruction data (`hashFixed`) voted for under this id.
    pub candidates: u32,
    /// The weight the voters' weight must exceed (the operation's threshold under the policy).
    pub threshold: u32,
    /// How often the action was handed to a guest.
    pub deliveries: u64,
}

/// Counters for `/metrics` and the pending-queue bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Instructions collecting votes or waiting for a result.
    pub open: u64,
    /// Actions not yet answered.
    pub pending_actions: u64,
    /// Stored results.
    pub results: u64,
}

/// Most actions [`Store::recent_actions`] returns.
pub const MAX_RECENT_ACTIONS: usize = 100;

/// A queued action as the status page shows it (times in Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentAction {
    /// The action's (instruction's) id.
    pub id: H256,
    /// Instruction (voted for) or direct (from the proxy).
    pub kind: ActionKind,
    /// Its operation.
    pub op_type: OpName,
    /// Its command.
    pub op_command: OpName,
    /// Times handed to a guest.
    pub deliveries: u64,
    /// Answered.
    pub done: bool,
    /// The stored result's status, once there is one.
    pub status: Option<u8>,
    /// An instruction's first vote (its first candidate opened); none for direct actions.
    pub opened_ms: Option<i64>,
    /// Queued (none for actions queued before this was recorded).
    pub queued_ms: Option<i64>,
    /// Its result stored.
    pub result_ms: Option<i64>,
}

/// The storage trait.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Remembers a signing policy (its bytes) for weighing votes.
    async fn put_policy(&self, reward_epoch_id: u32, bytes: &[u8]) -> StoreResult<()>;
    /// The policy of `reward_epoch_id`, if known.
    async fn policy(&self, reward_epoch_id: u32) -> StoreResult<Option<Vec<u8>>>;
    /// Records the greeting of the connected (authenticated) TEE: the served one from now on,
    /// and one of the TEEs votes may be for.
    async fn put_tee(&self, hello: &Hello, now_ms: i64) -> StoreResult<()>;
    /// The last TEE that connected.
    async fn tee(&self) -> StoreResult<Option<Hello>>;
    /// Whether `tee_id` ever connected here (authenticated, and accepted where attestation is
    /// checked).
    async fn known_tee(&self, tee_id: &Address) -> StoreResult<bool>;
    /// Applies votes in one transaction (group commit), each independently accepted or
    /// rejected; queues an instruction's action when its votes first pass the threshold.
    /// Where the instruction was announced on chain the data must be what it announced (and a
    /// listed cosigner may then open it). `limits` bound the candidates that may be open at
    /// once (see [`VoteRejection`]).
    async fn add_votes(
        &self,
        votes: &[NewVote],
        limits: OpenLimits,
    ) -> StoreResult<Vec<Result<VoteOutcome, VoteRejection>>>;
    /// Queues a direct action (policy initialisation, queries); false if its id is known.
    async fn enqueue_direct(&self, action: &Action, now_ms: i64) -> StoreResult<bool>;
    /// Leases up to `max` unanswered actions for `tee` (addressed to it, or to no TEE in
    /// particular) whose lease expired (oldest first) to `owner` until `now_ms + lease_ms`.
    async fn lease(
        &self,
        owner: &str,
        tee: &Address,
        max: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<Vec<Action>>;
    /// Gives back `owner`'s leases on these (unanswered) actions: deliverable again at once.
    async fn release(&self, owner: &str, ids: &[H256]) -> StoreResult<()>;
    /// Keeps `owner`'s unanswered action `id` from delivery until `until_ms`, if it has been
    /// delivered fewer than `max_deliveries` times: the guest refused it for now (a retryable
    /// refusal). False if not (the refusal is then kept as its result).
    async fn defer(&self, owner: &str, id: &H256, until_ms: i64, max_deliveries: u64) -> StoreResult<bool>;
    /// Stores results; the first result for an id wins, later ones are dropped. Returns, per
    /// result, whether it was the one stored. Answered actions leave the queue.
    async fn store_results(&self, results: &[SignedResult], now_ms: i64) -> StoreResult<Vec<bool>>;
    /// Deletes the action `id` and its result: a direct action whose answer nobody keeps (the
    /// guest's `TEE_INFO` for a verifier's challenge, served once and cached in memory), so
    /// challenges cannot grow the database.
    async fn forget(&self, id: &H256) -> StoreResult<()>;
    /// The stored result for `id`.
    async fn result(&self, id: &H256) -> StoreResult<Option<SignedResult>>;
    /// The queued action `id`, answered or not (a rebooted guest's policy bring-up replays
    /// answered policy actions).
    async fn action(&self, id: &H256) -> StoreResult<Option<Action>>;
    /// When the result for `id` was stored (Unix ms).
    async fn result_stored_at(&self, id: &H256) -> StoreResult<Option<i64>>;
    /// An instruction's progress.
    async fn status(&self, reward_epoch_id: u32, id: &H256) -> StoreResult<Option<InstructionStatus>>;
    /// Counters.
    async fn counts(&self) -> StoreResult<Counts>;
    /// The last `max` (at most [`MAX_RECENT_ACTIONS`]) queued actions, newest first.
    async fn recent_actions(&self, max: usize) -> StoreResult<Vec<RecentAction>>;
    /// Closes the candidates still collecting votes that cite an epoch below `epoch_below` or
    /// were opened before `opened_before_ms`; returns how many. Queued ones are never touched.
    async fn expire(&self, epoch_below: u32, opened_before_ms: i64) -> StoreResult<u64>;
    /// The latest epoch whose policy the store knows.
    async fn latest_epoch(&self) -> StoreResult<Option<u32>>;
    /// A named block cursor (the chain monitor's progress): the last processed block and its
    /// hash (`None` for a cursor stored before hashes were: the monitor then rewinds).
    async fn cursor(&self, name: &str) -> StoreResult<Option<(u64, Option<H256>)>>;
    /// Moves a named block cursor (a checkpoint too).
    async fn set_cursor(&self, name: &str, block: u64, hash: &H256) -> StoreResult<()>;
    /// The checkpoints of a named cursor (the last block of each committed range), newest first.
    async fn checkpoints(&self, name: &str) -> StoreResult<Vec<(u64, H256)>>;
    /// Applies what a block range brought, moves the cursor to its last block and keeps that as
    /// a checkpoint (dropping those below `forget_below` but the newest of them), in one
    /// transaction: after a crash either all of it happened or none. Idempotent: a policy with
    /// the same bytes, an action or an instruction seen before changes nothing. An epoch's
    /// policy is written once: other bytes for a known epoch apply nothing of the range and
    /// come back as the conflict.
    async fn commit_chain(
        &self,
        name: &str,
        batch: &ChainBatch,
        block: u64,
        hash: &H256,
        forget_below: u64,
    ) -> StoreResult<Result<ChainApplied, PolicyConflict>>;
    /// A reorg orphaned the blocks above `to` (`None`: all): forgets the instructions announced
    /// there and the checkpoints above it, and moves the cursor back to it (removes it for
    /// `None`), in one transaction. Policies stay.
    async fn rewind_chain(&self, name: &str, to: Option<(u64, H256)>) -> StoreResult<()>;
    /// Where an instruction was announced on chain, if it was.
    async fn chain_instruction(&self, id: &H256) -> StoreResult<Option<ChainInstruction>>;
    /// Instructions seen on chain.
    async fn chain_instruction_count(&self) -> StoreResult<u64>;
}

/// An instruction announced on chain (`TeeInstructionsSent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInstruction {
    /// Its id.
    pub id: H256,
    /// Its reward epoch.
    pub epoch: u32,
    /// The block that emitted it.
    pub block: u64,
    /// The transaction.
    pub tx: H256,
    /// What the announcement fixes of the instruction (`None` for a row stored before these
    /// were kept).
    pub announced: Option<Announced>,
}

/// The fields of an instruction its on-chain announcement fixes: votes for data that disagree
/// are refused, and a listed cosigner may open the instruction once it is announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announced {
    /// The machines it is for.
    pub tee_ids: Vec<Address>,
    /// Operation type.
    pub op_type: H256,
    /// Operation command.
    pub op_command: H256,
    /// The message (`originalMessage`).
    pub message: Vec<u8>,
    /// Cosigners.
    pub cosigners: Vec<Address>,
    /// How many cosigners must sign.
    pub cosigners_threshold: u64,
}

impl ChainInstruction {
    /// The first field of `d` that disagrees with this announcement, if any (nothing can be
    /// checked against a row stored without its fields but the epoch).
    pub fn mismatch(&self, d: &InstructionData) -> Option<&'static str> {
        if d.reward_epoch_id != self.epoch {
            return Some("rewardEpochId");
        }
        let a = self.announced.as_ref()?;
        if !a.tee_ids.contains(&d.tee_id) {
            Some("teeId")
        } else if d.op_type != a.op_type {
            Some("opType")
        } else if d.op_command != a.op_command {
            Some("opCommand")
        } else if d.original_message != a.message {
            Some("originalMessage")
        } else if d.cosigners != a.cosigners {
            Some("cosigners")
        } else if d.cosigners_threshold != a.cosigners_threshold {
            Some("cosignersThreshold")
        } else {
            None
        }
    }
}

/// What one block range of the chain brings the store.
#[derive(Debug, Clone, Default)]
pub struct ChainBatch {
    /// Signing policies (epoch, bytes) for weighing votes.
    pub policies: Vec<(u32, Vec<u8>)>,
    /// Direct actions for the guest (`UPDATE_POLICY`), queued once per id.
    pub actions: Vec<Action>,
    /// Instructions announced.
    pub instructions: Vec<ChainInstruction>,
    /// When the range was read (Unix ms): its actions' queue time.
    pub now_ms: i64,
}

/// What a [`Store::commit_chain`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainApplied {
    /// Policies of epochs not known before.
    pub policies_new: usize,
    /// Actions queued (not seen before).
    pub actions_queued: usize,
    /// Instructions not seen before.
    pub instructions_new: usize,
}

/// Other bytes for an epoch whose policy the store holds — from the chain: a lying node, or a
/// reorg deeper than the confirmation depth (nothing of that range is applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a policy of epoch {epoch} (keccak 0x{}) is not the one stored for it (keccak 0x{})",
    hex::encode(keccak256(offered)),
    hex::encode(keccak256(stored))
)]
pub struct PolicyConflict {
    /// The epoch.
    pub epoch: u32,
    /// The stored bytes (the first word, or the trust root).
    pub stored: Vec<u8>,
    /// The other bytes (the chain's).
    pub offered: Vec<u8>,
}
