//! Following a chain as Flare data providers do: every `TeeInstructionsSent` log (read by
//! `fcc_chain::Monitor`) becomes one instruction per addressed machine, which every simulated
//! provider signs and posts to the machine's proxy.
//!
//! The instruction's fields come from the log; `timestamp` is the timestamp of the block that
//! emitted it (the log carries none) and `additionalFixedMessage` is the one configured (empty
//! unless set: these providers fetch no external data). Posting is idempotent — the proxy
//! answers a repeated vote with its first receipt — so a range whose posting failed is simply
//! read and posted again from the cursor.

use alloy::primitives::B256;
use alloy::providers::Provider as RpcProvider;
use anyhow::{Context, Result};
use async_trait::async_trait;
use fcc_chain::{Checkpoints, Cursor, Event, InstructionEvent, Sink};
use fcc_core::instruction::InstructionData;
use fcc_core::policy::Address;

use crate::Provider;
use crate::client::{PostError, ProxyClient};

/// Where and how the providers post.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// Post here instead of the proxy URL the log names for each machine.
    pub proxy: Option<String>,
    /// Only instructions for this TEE (all machines when `None`).
    pub tee_id: Option<Address>,
    /// Chain id the providers sign for.
    pub chain_id: u64,
    /// The fixed additional message every provider adds.
    pub additional_fixed_message: Vec<u8>,
    /// Indices of the providers that sign (all when empty).
    pub signers: Vec<usize>,
    /// Per-request timeout.
    pub timeout: std::time::Duration,
}

/// The instruction a provider signs for `machine_tee` from an on-chain event.
pub fn instruction_of(e: &InstructionEvent, machine_tee: Address, timestamp: u64, afm: &[u8]) -> InstructionData {
    InstructionData {
        instruction_id: e.instruction_id.0,
        tee_id: machine_tee,
        timestamp,
        reward_epoch_id: e.reward_epoch_id,
        op_type: e.op_type.0,
        op_command: e.op_command.0,
        cosigners: e.cosigners.iter().map(|a| a.0.0).collect(),
        cosigners_threshold: e.cosigners_threshold,
        original_message: e.message.to_vec(),
        additional_fixed_message: afm.to_vec(),
    }
}

/// A [`Sink`] that signs and posts instead of storing: the cursor lives in memory (a restarted
/// provider starts from its configured block again and re-posts, which is harmless).
#[derive(Debug)]
pub struct SigningSink<P> {
    rpc: P,
    providers: Vec<Provider>,
    config: FollowConfig,
    checkpoints: std::sync::Mutex<Checkpoints>,
    /// Instructions posted (each with every signer's vote), for reports and tests.
    pub posted: std::sync::Mutex<Vec<InstructionData>>,
}

impl<P: RpcProvider> SigningSink<P> {
    /// Providers `providers` reading blocks through `rpc`.
    pub fn new(rpc: P, providers: Vec<Provider>, config: FollowConfig) -> Self {
        Self { rpc, providers, config, checkpoints: Default::default(), posted: Default::default() }
    }

    async fn block_timestamp(&self, hash: B256) -> Result<u64> {
        let block = self.rpc.get_block_by_hash(hash).await.context("eth_getBlockByHash")?;
        Ok(block.with_context(|| format!("block {hash} not found (reorg?)"))?.header.timestamp)
    }

    async fn post(&self, e: &InstructionEvent) -> Result<()> {
        let timestamp = self.block_timestamp(e.origin.block_hash).await?;
        for m in &e.machines {
            let tee = m.tee_id.0.0;
            if self.config.tee_id.is_some_and(|t| t != tee) {
                continue;
            }
            let url = self.config.proxy.clone().unwrap_or_else(|| m.url.clone());
            let client = ProxyClient::new(&url, self.config.chain_id, self.config.timeout)?;
            let d = instruction_of(e, tee, timestamp, &self.config.additional_fixed_message);
            let signers: Vec<usize> = if self.config.signers.is_empty() {
                (0..self.providers.len()).collect()
            } else {
                self.config.signers.clone()
            };
            let id = e.instruction_id;
            let outcome = client
                .sign_all(&self.providers, &signers, &d, None, |p| {
                    tracing::info!(
                        instruction = %id, provider = p.provider, sequence = p.receipt.receipt.sequence,
                        weight = p.status.weight, threshold = p.status.threshold, state = %p.status.state,
                        "vote accepted"
                    );
                })
                .await;
            match outcome {
                Ok(_) => self.posted.lock().expect("lock").push(d),
                // A refusal the proxy would repeat (not this TEE, an unknown signer...) is logged
                // and skipped; one that may pass later (no policy or TEE yet, overload) is retried.
                Err(PostError::Refused { status, ref body, .. })
                    if (400..500).contains(&status) && status != 429 && !body.contains("unknown_epoch") =>
                {
                    tracing::error!(instruction = %id, %url, status, %body, "proxy refused the vote: skipped");
                }
                Err(e) => return Err(e).with_context(|| format!("posting instruction {id} to {url}")),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl<P: RpcProvider> Sink for SigningSink<P> {
    async fn cursor(&self) -> Result<Option<Cursor>> {
        Ok(self.checkpoints.lock().expect("lock").latest())
    }

    async fn checkpoints(&self) -> Result<Vec<Cursor>> {
        Ok(self.checkpoints.lock().expect("lock").newest_first())
    }

    /// Votes already posted for orphaned blocks stay posted (the guest checks them; an
    /// instruction re-emitted on the new fork is posted again, idempotently).
    async fn rewind(&self, to: Option<Cursor>) -> Result<()> {
        self.checkpoints.lock().expect("lock").rewind(to);
        Ok(())
    }

    async fn commit(&self, events: Vec<Event>, cursor: Cursor, forget_below: u64) -> Result<()> {
        for e in &events {
            match e {
                Event::Instruction(i) => self.post(i).await?,
                Event::Policy(p) => tracing::info!(epoch = p.reward_epoch_id, "signing policy initialized on chain"),
            }
        }
        self.checkpoints.lock().expect("lock").push(cursor, forget_below);
        Ok(())
    }
}
