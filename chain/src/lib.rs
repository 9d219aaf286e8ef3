//! `fcc-chain`: follows the two logs an FCC machine acts on — the Relay's
//! `SigningPolicyInitialized` (a new signing policy) and the instruction sender's
//! `TeeInstructionsSent` (an instruction for TEE machines) — with a durable block cursor.
//!
//! The RPC node is not trusted further than it must be. How the monitor stays correct on a live
//! chain behind a node that may be slow, stale or lying:
//! * only blocks at least `confirmations` below the head are read, so a reorg shallower than that
//!   never reaches the sink;
//! * every request has a deadline (`request_timeout`), and [`Monitor::run`] stops at once when
//!   told to, even mid-request (a commit, once begun, is never cut);
//! * the sink keeps **checkpoints** — the last block (number and hash) of each committed range —
//!   for `reorg_depth` blocks below its cursor. Each step first checks that the chain still has
//!   the cursor's hash there; if not, the monitor finds the newest checkpoint the chain still
//!   has (a binary search: one block request per halving) and [`Sink::rewind`]s to it, which
//!   forgets what was read above it; reading resumes after it. A reorg deeper than every kept
//!   checkpoint stops the monitor (an error each step) rather than guess. A node whose head is
//!   below the cursor is behind, not reorganised: the step waits;
//! * the events of a block range and the cursor after it are handed to the sink together
//!   ([`Sink::commit`]), so a crash between them cannot skip or half-apply a range; the sink must
//!   treat events idempotently (policies by epoch, instructions by id), since a rewind reads
//!   blocks again;
//! * a log is checked against itself before it reaches the sink: a `SigningPolicyInitialized`
//!   whose fields (epoch, threshold, voters, weights, seed, start round) disagree with its own
//!   policy bytes, a log outside the range asked for, or a block whose number is not the one
//!   asked for stops the step: the watched contracts are trusted, so such an answer is the
//!   node's (or a misconfiguration), and it is never skipped. What a node can still do is keep
//!   logs back or invent a consistent chain; the sink's rules (a policy per epoch is written
//!   once; the guest checks every signature) bound what that buys.
//!
//! RPC failures are retried with backoff from the stored cursor (the HTTP transport is
//! stateless, so a "reconnect" is the next request).
//!
//! Event definitions are Flare's (flare-smart-contracts-v2 `IRelay`, and the FCC instruction
//! sender's `TeeInstructionsSent` field list); contracts/ emits the same events.

use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol;
use alloy::sol_types::SolEvent;
use anyhow::{Context, Result, bail, ensure};
use async_trait::async_trait;
use fcc_core::policy::SigningPolicy;

pub mod http;
pub mod relay;
#[cfg(feature = "testing")]
pub mod testing;

sol! {
    /// Flare's Relay: a signing policy was stored.
    #[derive(Debug)]
    event SigningPolicyInitialized(
        uint24 indexed rewardEpochId,
        uint32 startVotingRoundId,
        uint16 threshold,
        uint256 seed,
        address[] voters,
        uint16[] weights,
        bytes signingPolicyBytes,
        uint64 timestamp
    );

    /// A machine an instruction addresses.
    #[derive(Debug)]
    struct TeeMachine {
        address teeId;
        address teeProxyId;
        string url;
    }

    /// An instruction for TEE machines.
    #[derive(Debug)]
    event TeeInstructionsSent(
        uint256 indexed extensionId,
        bytes32 indexed instructionId,
        uint32 indexed rewardEpochId,
        TeeMachine[] teeMachines,
        bytes32 opType,
        bytes32 opCommand,
        bytes message,
        address[] cosigners,
        uint64 cosignersThreshold,
        address claimBackAddress,
        uint256 fee
    );
}

/// Where a log came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Block number.
    pub block: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Transaction hash.
    pub tx: B256,
    /// Index of the log in its block.
    pub log_index: u64,
}

/// A new signing policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEvent {
    /// Its reward epoch.
    pub reward_epoch_id: u32,
    /// The policy bytes (Flare's encoding).
    pub bytes: Bytes,
    /// Where.
    pub origin: Origin,
}

/// A machine an instruction addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// The TEE's id.
    pub tee_id: Address,
    /// Its proxy's id.
    pub proxy_id: Address,
    /// Its proxy's URL.
    pub url: String,
}

/// An instruction sent on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionEvent {
    /// The extension.
    pub extension_id: U256,
    /// The instruction's id.
    pub instruction_id: B256,
    /// The reward epoch whose policy signs it.
    pub reward_epoch_id: u32,
    /// The machines it is for.
    pub machines: Vec<Machine>,
    /// Operation type.
    pub op_type: FixedBytes<32>,
    /// Operation command.
    pub op_command: FixedBytes<32>,
    /// The message.
    pub message: Bytes,
    /// Cosigners.
    pub cosigners: Vec<Address>,
    /// How many cosigners must sign.
    pub cosigners_threshold: u64,
    /// Fee paid.
    pub fee: U256,
    /// Where.
    pub origin: Origin,
}

/// What the monitor hands the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new signing policy.
    Policy(PolicyEvent),
    /// An instruction.
    Instruction(Box<InstructionEvent>),
}

impl Event {
    /// Where it came from.
    pub fn origin(&self) -> Origin {
        match self {
            Event::Policy(p) => p.origin,
            Event::Instruction(i) => i.origin,
        }
    }
}

/// The last processed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Its number.
    pub block: u64,
    /// Its hash.
    pub hash: B256,
}

/// Where events go; durable.
#[async_trait]
pub trait Sink: Send + Sync {
    /// The stored cursor, if any.
    async fn cursor(&self) -> Result<Option<Cursor>>;
    /// The kept checkpoints (the last block of each committed range, the cursor included),
    /// newest first.
    async fn checkpoints(&self) -> Result<Vec<Cursor>>;
    /// Applies `events` (in chain order), stores `cursor` and keeps it as a checkpoint,
    /// atomically: after a crash either all happened or nothing. Checkpoints below
    /// `forget_below` may be dropped, except the newest of them (so one always lies at least
    /// the reorg depth below the cursor).
    async fn commit(&self, events: Vec<Event>, cursor: Cursor, forget_below: u64) -> Result<()>;
    /// A reorg orphaned what was read above `to` (a checkpoint still on the chain; `None`:
    /// everything, reading starts again at the first block): forget it — the events of those
    /// blocks and the checkpoints — and move the cursor back to `to`, atomically.
    async fn rewind(&self, to: Option<Cursor>) -> Result<()>;
}

/// Checkpoints in memory, oldest first, with the sinks' retention rule ([`Sink::commit`]); for
/// sinks that need no durability.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints(Vec<Cursor>);

impl Checkpoints {
    /// Keeps `cursor` (dropping any at or above its block: they were rewound) and forgets those
    /// below `forget_below` but the newest of them.
    pub fn push(&mut self, cursor: Cursor, forget_below: u64) {
        self.0.retain(|c| c.block < cursor.block);
        self.0.push(cursor);
        let below = self.0.iter().filter(|c| c.block < forget_below).count();
        self.0.drain(..below.saturating_sub(1));
    }

    /// Forgets the checkpoints above `to` (all of them for `None`).
    pub fn rewind(&mut self, to: Option<Cursor>) {
        self.0.retain(|c| to.is_some_and(|t| c.block <= t.block));
    }

    /// Newest first.
    pub fn newest_first(&self) -> Vec<Cursor> {
        self.0.iter().rev().copied().collect()
    }

    /// The newest.
    pub fn latest(&self) -> Option<Cursor> {
        self.0.last().copied()
    }
}

/// A sink that keeps everything in memory (tests, tools, and the simulated providers, which
/// need no durability): commits are atomic under its lock.
#[derive(Debug, Default)]
pub struct MemorySink {
    state: std::sync::Mutex<(Checkpoints, Vec<Event>)>,
}

impl MemorySink {
    /// A sink that starts at `cursor`.
    pub fn at(cursor: Cursor) -> Self {
        let mut checkpoints = Checkpoints::default();
        checkpoints.push(cursor, 0);
        Self { state: std::sync::Mutex::new((checkpoints, Vec::new())) }
    }

    /// Every event committed and not rewound, in order.
    pub fn events(&self) -> Vec<Event> {
        self.state.lock().expect("sink lock").1.clone()
    }
}

#[async_trait]
impl Sink for MemorySink {
    async fn cursor(&self) -> Result<Option<Cursor>> {
        Ok(self.state.lock().expect("sink lock").0.latest())
    }

    async fn checkpoints(&self) -> Result<Vec<Cursor>> {
        Ok(self.state.lock().expect("sink lock").0.newest_first())
    }

    async fn commit(&self, events: Vec<Event>, cursor: Cursor, forget_below: u64) -> Result<()> {
        let mut state = self.state.lock().expect("sink lock");
        state.1.extend(events);
        state.0.push(cursor, forget_below);
        Ok(())
    }

    async fn rewind(&self, to: Option<Cursor>) -> Result<()> {
        let mut state = self.state.lock().expect("sink lock");
        state.0.rewind(to);
        state.1.retain(|e| to.is_some_and(|t| e.origin().block <= t.block));
        Ok(())
    }
}

/// Monitor settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Relay (or DevRelay).
    pub relay: Address,
    /// The instruction sender.
    pub instruction_sender: Address,
    /// Blocks below the head before a block is read.
    pub confirmations: u64,
    /// The first block to read when there is no cursor.
    pub start_block: u64,
    /// Most blocks per `eth_getLogs`.
    pub max_range: u64,
    /// How deep a reorg the monitor can follow: checkpoints are kept this many blocks below the
    /// cursor. A deeper one stops it.
    pub reorg_depth: u64,
    /// Longest wait for one RPC answer.
    pub request_timeout: Duration,
    /// Pause between polls when caught up.
    pub poll_interval: Duration,
    /// Longest pause between retries after errors.
    pub max_backoff: Duration,
}

impl Config {
    /// Defaults for the two contracts: 2 confirmations, 1000-block queries, reorgs followed
    /// 4096 blocks deep, 10 s per request, 1 s polls.
    pub fn new(relay: Address, instruction_sender: Address) -> Self {
        Self {
            relay,
            instruction_sender,
            confirmations: 2,
            start_block: 0,
            max_range: 1000,
            reorg_depth: 4096,
            request_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing new is confirmed yet (or the node is behind the cursor).
    Idle,
    /// Read blocks `from..=to` and committed `events` events.
    Read {
        /// First block read.
        from: u64,
        /// Last block read (the new cursor).
        to: u64,
        /// Events committed.
        events: usize,
    },
    /// The cursor's block is no longer on the chain: the sink was rewound to `ancestor`, the
    /// newest checkpoint the chain still has (`None`: before the first block read).
    Reorg {
        /// The orphaned cursor.
        orphaned: Cursor,
        /// Where reading resumes after.
        ancestor: Option<Cursor>,
    },
}

/// What a read found, before anything is written.
enum Plan {
    Idle,
    Range { from: u64, to: u64, events: Vec<Event>, cursor: Cursor },
    Rewind { orphaned: Cursor, ancestor: Option<Cursor> },
}

/// The monitor.
#[derive(Debug, Clone)]
pub struct Monitor<P> {
    provider: P,
    config: Config,
}

fn origin(log: &Log) -> Result<Origin> {
    Ok(Origin {
        block: log.block_number.context("log without a block number (pending?)")?,
        block_hash: log.block_hash.context("log without a block hash")?,
        tx: log.transaction_hash.unwrap_or_default(),
        log_index: log.log_index.unwrap_or_default(),
    })
}

/// Checks a `SigningPolicyInitialized` against its own policy bytes: the event's epoch and
/// fields are the Relay's reading of those bytes, so any difference is the node's invention.
fn check_policy_event(d: &SigningPolicyInitialized) -> Result<()> {
    let epoch = d.rewardEpochId.to::<u32>();
    let p = SigningPolicy::decode(&d.signingPolicyBytes).map_err(|e| {
        anyhow::anyhow!("SigningPolicyInitialized of epoch {epoch}: its policy bytes do not decode: {e}")
    })?;
    let voters: Vec<Address> = p.voters().iter().map(|v| Address::from(v.address)).collect();
    let weights: Vec<u16> = p.voters().iter().map(|v| v.weight).collect();
    let differs = if p.reward_epoch_id() != epoch {
        Some(format!("the bytes are the policy of epoch {}", p.reward_epoch_id()))
    } else if p.start_voting_round_id() != d.startVotingRoundId {
        Some("startVotingRoundId".into())
    } else if p.threshold() != d.threshold {
        Some("threshold".into())
    } else if U256::from_be_bytes(*p.seed()) != d.seed {
        Some("seed".into())
    } else if voters != d.voters {
        Some("voters".into())
    } else if weights != d.weights {
        Some("weights".into())
    } else {
        None
    };
    match differs {
        Some(what) => bail!("SigningPolicyInitialized of epoch {epoch} disagrees with its own policy bytes ({what})"),
        None => Ok(()),
    }
}

/// Decodes one log of the watched contracts.
pub fn decode(log: &Log, config: &Config) -> Result<Option<Event>> {
    let topic0 = log.topic0().copied();
    let address = log.address();
    if address == config.relay && topic0 == Some(SigningPolicyInitialized::SIGNATURE_HASH) {
        let e = log.log_decode::<SigningPolicyInitialized>().context("decoding SigningPolicyInitialized")?;
        let d = e.inner.data;
        check_policy_event(&d)?;
        return Ok(Some(Event::Policy(PolicyEvent {
            reward_epoch_id: d.rewardEpochId.to::<u32>(),
            bytes: d.signingPolicyBytes,
            origin: origin(log)?,
        })));
    }
    if address == config.instruction_sender && topic0 == Some(TeeInstructionsSent::SIGNATURE_HASH) {
        let e = log.log_decode::<TeeInstructionsSent>().context("decoding TeeInstructionsSent")?;
        let d = e.inner.data;
        return Ok(Some(Event::Instruction(Box::new(InstructionEvent {
            extension_id: d.extensionId,
            instruction_id: d.instructionId,
            reward_epoch_id: d.rewardEpochId,
            machines: d
                .teeMachines
                .into_iter()
                .map(|m| Machine { tee_id: m.teeId, proxy_id: m.teeProxyId, url: m.url })
                .collect(),
            op_type: d.opType,
            op_command: d.opCommand,
            message: d.message,
            cosigners: d.cosigners,
            cosigners_threshold: d.cosignersThreshold,
            fee: d.fee,
            origin: origin(log)?,
        }))));
    }
    Ok(None)
}

impl<P: Provider> Monitor<P> {
    /// A monitor reading through `provider`.
    pub fn new(provider: P, config: Config) -> Self {
        Self { provider, config }
    }

    /// One request, within `request_timeout`.
    async fn rpc<T, E>(&self, what: impl Fn() -> String, request: impl IntoFuture<Output = Result<T, E>>) -> Result<T>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        match tokio::time::timeout(self.config.request_timeout, request.into_future()).await {
            Ok(answer) => answer.with_context(what),
            Err(_) => bail!("{}: no answer within {:?}", what(), self.config.request_timeout),
        }
    }

    /// The hash of the chain's block `block` (`None`: the node has none there).
    async fn hash_at(&self, block: u64) -> Result<Option<B256>> {
        let b = self
            .rpc(
                || format!("eth_getBlockByNumber {block}"),
                self.provider.get_block_by_number(BlockNumberOrTag::Number(block)),
            )
            .await?;
        let Some(b) = b else { return Ok(None) };
        ensure!(b.header.number == block, "asked for block {block}, the node answered block {}", b.header.number);
        Ok(Some(b.header.hash))
    }

    /// The newest checkpoint below `orphaned` that the chain still has. Whether a checkpoint is
    /// still on the chain is monotone in its height (below the fork point all are, above none
    /// is), so a binary search over the newest-first list finds it.
    async fn common_ancestor(&self, sink: &dyn Sink, orphaned: Cursor) -> Result<Option<Cursor>> {
        let kept: Vec<Cursor> = sink
            .checkpoints()
            .await
            .context("reading the checkpoints")?
            .into_iter()
            .filter(|c| c.block < orphaned.block)
            .collect();
        let (mut lo, mut hi) = (0, kept.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.hash_at(kept[mid].block).await? == Some(kept[mid].hash) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        if let Some(c) = kept.get(lo) {
            return Ok(Some(*c));
        }
        // Nothing kept is on the chain. Reading again from the first block is always safe (the
        // sink is idempotent) and, with the orphaned cursor within the reorg depth of it, no
        // more than that depth: do it. Beyond, the reorg is deeper than this monitor follows.
        if orphaned.block < self.config.start_block.saturating_add(self.config.reorg_depth) {
            return Ok(None);
        }
        bail!(
            "a reorg deeper than reorg-depth ({} blocks): the chain has none of the {} checkpoints kept below block \
             {} (the oldest is block {}); not following a chain that disagrees with what was read — check the RPC \
             node",
            self.config.reorg_depth,
            kept.len(),
            orphaned.block,
            kept.last().map_or(orphaned.block, |c| c.block)
        )
    }

    /// Reads what the next step will write: nothing, a range, or a rewind. Cancel-safe: it
    /// writes nothing.
    async fn read(&self, sink: &dyn Sink) -> Result<Plan> {
        let head = self.rpc(|| "eth_blockNumber".into(), self.provider.get_block_number()).await?;
        let cursor = sink.cursor().await.context("reading the cursor")?;
        let from = match cursor {
            // A node behind the cursor (a lagging replica) has not reorganised: wait for it.
            Some(c) if head < c.block => return Ok(Plan::Idle),
            Some(c) => {
                if self.hash_at(c.block).await? != Some(c.hash) {
                    let ancestor = self.common_ancestor(sink, c).await?;
                    return Ok(Plan::Rewind { orphaned: c, ancestor });
                }
                c.block + 1
            }
            None => self.config.start_block,
        };
        let Some(safe) = head.checked_sub(self.config.confirmations) else { return Ok(Plan::Idle) };
        if from > safe {
            return Ok(Plan::Idle);
        }
        let to = safe.min(from + self.config.max_range.max(1) - 1);
        let filter = Filter::new()
            .address(vec![self.config.relay, self.config.instruction_sender])
            .event_signature(vec![SigningPolicyInitialized::SIGNATURE_HASH, TeeInstructionsSent::SIGNATURE_HASH])
            .from_block(from)
            .to_block(to);
        let logs = self.rpc(|| format!("eth_getLogs {from}..={to}"), self.provider.get_logs(&filter)).await?;
        let mut events = Vec::with_capacity(logs.len());
        for log in &logs {
            if log.removed {
                continue;
            }
            if let Some(e) = decode(log, &self.config)? {
                let o = e.origin();
                ensure!((from..=to).contains(&o.block), "log of block {} outside {from}..={to}", o.block);
                events.push(e);
            }
        }
        events.sort_by_key(|e| (e.origin().block, e.origin().log_index));
        let hash = self.hash_at(to).await?.with_context(|| format!("block {to} vanished"))?;
        // A log whose block hash is not the chain's block at that height came from a fork the
        // node has since left: read the range again rather than commit a mix.
        for e in &events {
            let o = e.origin();
            if o.block == to && o.block_hash != hash {
                bail!("block {to} changed while reading it (reorg in progress); retrying");
            }
        }
        Ok(Plan::Range { from, to, events, cursor: Cursor { block: to, hash } })
    }

    /// Writes what [`Self::read`] found.
    async fn apply(&self, sink: &dyn Sink, plan: Plan) -> Result<Step> {
        match plan {
            Plan::Idle => Ok(Step::Idle),
            Plan::Rewind { orphaned, ancestor } => {
                tracing::warn!(
                    block = orphaned.block, hash = %orphaned.hash, ancestor = ?ancestor.map(|a| a.block),
                    "cursor block orphaned by a reorg: rewinding to the newest checkpoint still on the chain"
                );
                sink.rewind(ancestor).await.context("rewinding")?;
                Ok(Step::Reorg { orphaned, ancestor })
            }
            Plan::Range { from, to, events, cursor } => {
                let n = events.len();
                let forget_below = to.saturating_sub(self.config.reorg_depth);
                sink.commit(events, cursor, forget_below).await.context("committing events")?;
                Ok(Step::Read { from, to, events: n })
            }
        }
    }

    /// One poll: checks the cursor is still on the chain (rewinding if not), then reads and
    /// commits the next confirmed range.
    pub async fn step(&mut self, sink: &dyn Sink) -> Result<Step> {
        let plan = self.read(sink).await?;
        self.apply(sink, plan).await
    }

    /// Polls until `stop` resolves: steps back to back while behind, sleeps `poll_interval`
    /// when caught up, and backs off (doubling up to `max_backoff`) after errors. `stop` cuts a
    /// read short (a stalled node cannot hold up a shutdown) but never a write.
    pub async fn run(&mut self, sink: &dyn Sink, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = self.config.poll_interval;
        loop {
            let plan = tokio::select! {
                _ = &mut stop => return,
                plan = self.read(sink) => plan,
            };
            let pause = match plan {
                Ok(plan) => match self.apply(sink, plan).await {
                    Ok(Step::Read { to, events, .. }) => {
                        tracing::debug!(to, events, "chain range committed");
                        backoff = self.config.poll_interval;
                        Duration::ZERO
                    }
                    Ok(Step::Reorg { .. }) => Duration::ZERO,
                    Ok(Step::Idle) => {
                        backoff = self.config.poll_interval;
                        self.config.poll_interval
                    }
                    Err(e) => Self::failed(e, &mut backoff, self.config.max_backoff),
                },
                Err(e) => Self::failed(e, &mut backoff, self.config.max_backoff),
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Logs a failed step; the pause before the next (doubling up to `max`).
    fn failed(e: anyhow::Error, backoff: &mut Duration, max: Duration) -> Duration {
        tracing::warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, "chain monitor");
        let pause = *backoff;
        *backoff = (*backoff * 2).min(max);
        pause
    }
}
