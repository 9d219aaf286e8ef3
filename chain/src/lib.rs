//! `fcc-chain`: follows the two logs an FCC machine acts on — the Relay's
//! `SigningPolicyInitialized` (a new signing policy) and the instruction sender's
//! `TeeInstructionsSent` (an instruction for TEE machines) — with a durable block cursor.
//!
//! How it stays correct on a live chain:
//! * only blocks at least `confirmations` below the head are read, so a reorg shallower than that
//!   never reaches the sink;
//! * the cursor is the last processed block's number *and hash*; each step first checks that the
//!   chain still has that hash there. If not (a reorg deeper than the confirmation depth), it
//!   rewinds `reorg_rewind` blocks and reads them again, so the sink must treat events
//!   idempotently (policies by epoch, instructions by id) and flag a same-key event with
//!   different contents as a conflict;
//! * the events of a block range and the cursor after it are handed to the sink together
//!   ([`Sink::commit`]), so a crash between them cannot skip or half-apply a range;
//! * RPC failures are retried with backoff from the stored cursor (the HTTP transport is
//!   stateless, so a "reconnect" is the next request). A log from a watched contract that does
//!   not decode stops the monitor rather than be skipped: those contracts are trusted, so it is a
//!   configuration error.
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

pub mod relay;

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
    /// Applies `events` (in chain order) and stores `cursor`, atomically: after a crash either
    /// both happened or neither.
    async fn commit(&self, events: Vec<Event>, cursor: Cursor) -> Result<()>;
}

/// A sink that keeps everything in memory (tests, tools, and the simulated providers, which
/// need no durability): commits are atomic under its lock.
#[derive(Debug, Default)]
pub struct MemorySink {
    state: std::sync::Mutex<(Option<Cursor>, Vec<Event>)>,
}

impl MemorySink {
    /// A sink that starts at `cursor`.
    pub fn at(cursor: Cursor) -> Self {
        Self { state: std::sync::Mutex::new((Some(cursor), Vec::new())) }
    }

    /// Every event committed so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.state.lock().expect("sink lock").1.clone()
    }
}

#[async_trait]
impl Sink for MemorySink {
    async fn cursor(&self) -> Result<Option<Cursor>> {
        Ok(self.state.lock().expect("sink lock").0)
    }

    async fn commit(&self, events: Vec<Event>, cursor: Cursor) -> Result<()> {
        let mut state = self.state.lock().expect("sink lock");
        state.1.extend(events);
        state.0 = Some(cursor);
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
    /// Blocks to read again after a reorg below the cursor.
    pub reorg_rewind: u64,
    /// Pause between polls when caught up.
    pub poll_interval: Duration,
    /// Longest pause between retries after errors.
    pub max_backoff: Duration,
}

impl Config {
    /// Defaults for the two contracts: 2 confirmations, 1000-block queries, 64-block rewind,
    /// 1 s polls.
    pub fn new(relay: Address, instruction_sender: Address) -> Self {
        Self {
            relay,
            instruction_sender,
            confirmations: 2,
            start_block: 0,
            max_range: 1000,
            reorg_rewind: 64,
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing new is confirmed yet.
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
    /// The cursor's block is no longer on the chain: the next step reads from `from` again.
    Reorg {
        /// The orphaned cursor.
        orphaned: Cursor,
        /// Where reading resumes.
        from: u64,
    },
}

/// The monitor.
#[derive(Debug, Clone)]
pub struct Monitor<P> {
    provider: P,
    config: Config,
    /// After a reorg: the block to read from next (the sink's cursor is behind the rewind).
    rewound_to: Option<u64>,
}

fn origin(log: &Log) -> Result<Origin> {
    Ok(Origin {
        block: log.block_number.context("log without a block number (pending?)")?,
        block_hash: log.block_hash.context("log without a block hash")?,
        tx: log.transaction_hash.unwrap_or_default(),
        log_index: log.log_index.unwrap_or_default(),
    })
}

/// Decodes one log of the watched contracts.
pub fn decode(log: &Log, config: &Config) -> Result<Option<Event>> {
    let topic0 = log.topic0().copied();
    let address = log.address();
    if address == config.relay && topic0 == Some(SigningPolicyInitialized::SIGNATURE_HASH) {
        let e = log.log_decode::<SigningPolicyInitialized>().context("decoding SigningPolicyInitialized")?;
        let d = e.inner.data;
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
        Self { provider, config, rewound_to: None }
    }

    async fn hash_at(&self, block: u64) -> Result<Option<B256>> {
        let b = self.provider.get_block_by_number(BlockNumberOrTag::Number(block)).await?;
        Ok(b.map(|b| b.header.hash))
    }

    /// One poll: checks the cursor is still on the chain, then reads and commits the next
    /// confirmed range.
    pub async fn step(&mut self, sink: &dyn Sink) -> Result<Step> {
        let head = self.provider.get_block_number().await.context("eth_blockNumber")?;
        let Some(safe) = head.checked_sub(self.config.confirmations) else { return Ok(Step::Idle) };
        let cursor = sink.cursor().await.context("reading the cursor")?;
        let from = match (self.rewound_to, cursor) {
            (Some(from), _) => from,
            (None, Some(c)) => {
                // Is the last processed block still the chain's?
                if self.hash_at(c.block).await?.is_none_or(|h| h != c.hash) {
                    let from = c.block.saturating_sub(self.config.reorg_rewind).max(self.config.start_block);
                    tracing::warn!(block = c.block, %c.hash, from, "cursor block orphaned by a reorg: reading again");
                    self.rewound_to = Some(from);
                    return Ok(Step::Reorg { orphaned: c, from });
                }
                c.block + 1
            }
            (None, None) => self.config.start_block,
        };
        if from > safe {
            return Ok(Step::Idle);
        }
        let to = safe.min(from + self.config.max_range.max(1) - 1);
        let filter = Filter::new()
            .address(vec![self.config.relay, self.config.instruction_sender])
            .event_signature(vec![SigningPolicyInitialized::SIGNATURE_HASH, TeeInstructionsSent::SIGNATURE_HASH])
            .from_block(from)
            .to_block(to);
        let logs = self.provider.get_logs(&filter).await.with_context(|| format!("eth_getLogs {from}..={to}"))?;
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
        let n = events.len();
        sink.commit(events, Cursor { block: to, hash }).await.context("committing events")?;
        self.rewound_to = None;
        Ok(Step::Read { from, to, events: n })
    }

    /// Polls until `stop` resolves: steps back to back while behind, sleeps `poll_interval`
    /// when caught up, and backs off (doubling up to `max_backoff`) after errors.
    pub async fn run(&mut self, sink: &dyn Sink, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = self.config.poll_interval;
        loop {
            let pause = match self.step(sink).await {
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
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, "chain monitor");
                    let pause = backoff;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    pause
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}
