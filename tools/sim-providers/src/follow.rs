//! Following a chain as Flare data providers do: every `TeeInstructionsSent` log (read by
//! `fcc_chain::Monitor`) becomes one instruction per addressed machine, which every simulated
//! provider signs and posts to the machine's proxy.
//!
//! The instruction's fields come from the log; `timestamp` is the timestamp of the block that
//! emitted it (the log carries none) and `additionalFixedMessage` is the one configured (empty
//! unless set: these providers fetch no external data). Posting is idempotent — the proxy
//! answers a repeated vote with its first receipt — so a range whose posting failed is simply
//! read and posted again from the cursor.
//!
//! A `F_WALLET/KEY_DATA_PROVIDER_RESTORE` is the exception, as in Flare's relay client: the
//! providers fetch the backup the message names, check it (its TEE and wallet-key signatures, its
//! id) and ask the configured [`RestoreCheck`] whether this key may be restored at all; then each
//! re-encrypts its own split to the restoring TEE in its vote, with the backup's metadata as the
//! additional fixed message. Without a check they vote on no restore.

use std::sync::Arc;

use alloy::primitives::{B256, U256};
use alloy::providers::Provider as RpcProvider;
use anyhow::{Context, Result, bail, ensure};
use async_trait::async_trait;
use fcc_chain::{Checkpoints, Cursor, Event, InstructionEvent, Sink};
use fcc_core::instruction::InstructionData;
use fcc_core::policy::Address;
use fcc_core::wallet::backup::WalletBackup;
use fcc_core::wallet::codec::KeyDataProviderRestore;

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
    /// Who decides whether a wallet key may be restored (none: no restore is voted on).
    pub restore_check: Option<Arc<dyn RestoreCheck>>,
}

/// Whether the providers help restore a wallet key: asked before they open their splits of
/// `backup` for a restore instruction of `extension_id`. Flare's providers act on what its
/// contracts emit; the devnet's ask `KeyBackupRegistry` (the wallet is in recovery, and the key
/// and backup are the ones it recorded).
#[async_trait]
pub trait RestoreCheck: Send + Sync + std::fmt::Debug {
    /// `Ok` to vote; the error says why not.
    async fn allow(&self, extension_id: U256, backup: &WalletBackup) -> Result<()>;
}

/// Largest backup JSON a provider fetches (a backup for 300 providers and 16 admins is ~1.1 MB
/// of Flare's JSON).
pub const MAX_BACKUP_JSON: usize = 4 << 20;

/// The backup a restore message names, fetched from its URL and checked: the TEE's and the wallet
/// key's signatures, and the id the message restores.
pub async fn fetch_backup(
    message: &KeyDataProviderRestore<'_>,
    chain_id: u64,
    timeout: std::time::Duration,
) -> Result<WalletBackup> {
    let url = std::str::from_utf8(message.backup_url).context("backup URL is not UTF-8")?;
    let mut r = reqwest::Client::builder()
        .timeout(timeout)
        .build()?
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching the backup at {url}"))?
        .error_for_status()?;
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await? {
        body.extend_from_slice(&chunk);
        ensure!(body.len() <= MAX_BACKUP_JSON, "the backup at {url} is over {MAX_BACKUP_JSON} bytes");
    }
    let backup = WalletBackup::from_response_json(&body, chain_id)
        .map_err(|e| anyhow::anyhow!("the backup at {url} does not verify: {e}"))?;
    ensure!(
        backup.metadata.backup_id.encode() == message.backup_id.encode(),
        "the backup at {url} is not the one the instruction restores"
    );
    Ok(backup)
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

    /// A restore's additional fixed message and each provider's variable one (its split, opened
    /// and encrypted to the restoring TEE; empty for one that holds none), or why not to vote.
    async fn restore_messages(&self, e: &InstructionEvent, tee: Address) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
        let Some(check) = &self.config.restore_check else { bail!("no restore check configured") };
        let message = fcc_core::wallet::codec::decode_restore(&e.message)
            .map_err(|err| anyhow::anyhow!("restore message: {err}"))?;
        ensure!(
            fcc_core::wallet::address_of_xy(&message.tee_public_key) == tee,
            "the restore is addressed to another TEE's key"
        );
        let backup = fetch_backup(&message, self.config.chain_id, self.config.timeout).await?;
        check.allow(e.extension_id, &backup).await?;
        let mut rng = rand::rng();
        let mut avms = Vec::with_capacity(self.providers.len());
        for p in &self.providers {
            let m = crate::wallet::restore_message(
                &backup,
                &p.key,
                &message.tee_public_key,
                self.config.chain_id,
                &mut rng,
            )?;
            avms.push(m.unwrap_or_default());
        }
        Ok((backup.metadata.to_json().into_bytes(), avms))
    }

    async fn post(&self, e: &InstructionEvent) -> Result<()> {
        let timestamp = self.block_timestamp(e.origin.block_hash).await?;
        let restore =
            (e.op_type.0, e.op_command.0) == (fcc_core::op::F_WALLET, fcc_core::op::KEY_DATA_PROVIDER_RESTORE);
        for m in &e.machines {
            let tee = m.tee_id.0.0;
            if self.config.tee_id.is_some_and(|t| t != tee) {
                continue;
            }
            let id = e.instruction_id;
            let (afm, avms) = if restore {
                match self.restore_messages(e, tee).await {
                    Ok(messages) => messages,
                    Err(err) => {
                        tracing::error!(instruction = %id, error = %format!("{err:#}"), "restore not voted on");
                        continue;
                    }
                }
            } else {
                (self.config.additional_fixed_message.clone(), Vec::new())
            };
            let url = self.config.proxy.clone().unwrap_or_else(|| m.url.clone());
            let client = ProxyClient::new(&url, self.config.chain_id, self.config.timeout)?;
            let d = instruction_of(e, tee, timestamp, &afm);
            let signers: Vec<usize> = if self.config.signers.is_empty() {
                (0..self.providers.len()).collect()
            } else {
                self.config.signers.clone()
            };
            let avm = |i: usize| avms.get(i).cloned().unwrap_or_default();
            let outcome = client
                .sign_all_with(&self.providers, &signers, &d, None, avm, |p| {
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
