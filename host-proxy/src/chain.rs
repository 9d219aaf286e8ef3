//! Following the chain (`[chain]` in the configuration): the `fcc-chain` monitor reads the
//! relay's `SigningPolicyInitialized` and the instruction sender's `TeeInstructionsSent`, and
//! [`ChainSink`] turns each confirmed block range into one store transaction with the cursor
//! ([`Store::commit_chain`](crate::store::Store::commit_chain)):
//!
//! * a **policy** becomes known to aggregation (its epoch's voters, weights and threshold) and,
//!   when the transaction that emitted it was a `relay()` call, an `F_POLICY/UPDATE_POLICY`
//!   action carrying the signatures the relay checked (parsed from the calldata and checked
//!   here first as the guest will: against the policy the proxy already holds for the previous
//!   epoch — none known, none queued —, each voter once, over the threshold). A policy set by
//!   the relay owner's setter carries no signatures: it is logged and only weighed with — the
//!   first policy (the guest's trust root) is the operator's `INITIALIZE_POLICY`
//!   (`trust-root`). The action id is `keccak("UPDATE_POLICY" ‖ policy bytes)`, so a policy
//!   read twice (a rewind after a reorg, a restart) queues one action;
//! * an epoch's policy is **written once**: the trust root's is the operator's, any other the
//!   first the chain gave. A range that brings other bytes for a known epoch — a lying node,
//!   or a reorg deeper than `confirmations` — is not applied: the follower stops before it
//!   (`chain_conflicts`, an error each retry) until the chain agrees again, since the guest may
//!   already run on the first and the proxy cannot tell which node is honest;
//! * an **instruction** is recorded (id, epoch, block, transaction and the fields the event fixes:
//!   machines, operation, message, cosigners and their threshold): `GET /action/status` shows
//!   it, `/metrics` counts it, and from then on a vote whose data disagree is refused
//!   (`not_as_announced`) while a listed cosigner may open it. Votes still arrive by `POST
//!   /instruction`, and — as Flare's tee-proxy — votes for an instruction not (yet) seen on chain
//!   are accepted: the chain may lag the providers, and the guest checks the signatures, not
//!   the proxy's view of the chain.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::B256;
use alloy::providers::Provider;
use anyhow::{Context, Result};
use async_trait::async_trait;
use fcc_chain::relay::{PolicyRelay, parse_policy_relay, transaction_input};
use fcc_chain::{Cursor, Event, Sink};
use fcc_core::action::Action;
use fcc_core::hash::eip191_hash;
use fcc_core::light_client::UpdatePolicy;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy};
use fcc_core::verify::Vote;

use crate::state::Shared;
use crate::store::{Announced, ChainBatch, ChainInstruction};
use crate::voter_keys::VoterKeys;

/// The cursor's name in the store.
pub const CURSOR: &str = "chain";

/// Why a relayed policy's signatures are not handed to the guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyCheckError {
    /// The calldata's new policy is not the one the event carries.
    #[error("the relay() calldata carries another policy than the event")]
    NotTheEventsPolicy,
    /// A policy does not decode.
    #[error("{which} policy does not decode: {reason}")]
    Malformed {
        /// Which.
        which: &'static str,
        /// Why.
        reason: String,
    },
    /// The new policy is not for the epoch after the signing one.
    #[error("policy of epoch {new} signed by the policy of epoch {signing} (must be the one before)")]
    NotNextEpoch {
        /// Signing epoch.
        signing: u32,
        /// New epoch.
        new: u32,
    },
    /// The proxy holds no policy for the signing epoch: the signatures cannot be checked.
    #[error("no policy known for the signing epoch {0}: the signatures cannot be checked")]
    SigningPolicyUnknown(u32),
    /// The signing policy is not the one the proxy knows for its epoch.
    #[error("the signing policy of epoch {0} differs from the one known for that epoch")]
    UnknownSigningPolicy(u32),
    /// A signature does not recover to the voter at its index.
    #[error("signature {position} (voter index {index}): {reason}")]
    BadSignature {
        /// Position in the message.
        position: usize,
        /// Claimed voter index.
        index: u16,
        /// Why.
        reason: String,
    },
    /// The signers' weight does not exceed the threshold.
    #[error("signers' weight {weight} does not exceed the threshold {threshold}")]
    BelowThreshold {
        /// Weight.
        weight: u32,
        /// Threshold.
        threshold: u16,
    },
}

/// The `F_POLICY/UPDATE_POLICY` action for the policy a `relay()` call stored, after checking
/// its signatures as the guest's light client will: the new policy is the event's and for the
/// next epoch, each signature recovers to the voter at its index, and their weight exceeds the
/// signing policy's threshold, each voter counted once (a repeated one is refused, as the
/// guest refuses it). `known_signing` is the proxy's copy of the signing epoch's policy, which
/// the calldata's must equal: without one nothing is queued, since the calldata alone would
/// let the node choose whose signatures count. The signers' keys go to `keys`, and the new
/// policy's voters' keys known there are offered with it.
pub fn update_policy_action(
    event_bytes: &[u8],
    relay: &PolicyRelay,
    known_signing: Option<&SigningPolicy>,
    scheme: PolicyHashScheme,
    keys: &VoterKeys,
) -> Result<Action, PolicyCheckError> {
    if relay.new_policy.as_ref() != event_bytes {
        return Err(PolicyCheckError::NotTheEventsPolicy);
    }
    let decode = |which, b: &[u8]| {
        SigningPolicy::decode(b).map_err(|e| PolicyCheckError::Malformed { which, reason: e.to_string() })
    };
    let signing = decode("signing", &relay.policy)?;
    let new = decode("new", &relay.new_policy)?;
    if new.reward_epoch_id() != signing.reward_epoch_id() + 1 {
        return Err(PolicyCheckError::NotNextEpoch { signing: signing.reward_epoch_id(), new: new.reward_epoch_id() });
    }
    let Some(known) = known_signing else {
        return Err(PolicyCheckError::SigningPolicyUnknown(signing.reward_epoch_id()));
    };
    if known.encode() != relay.policy.as_ref() {
        return Err(PolicyCheckError::UnknownSigningPolicy(signing.reward_epoch_id()));
    }
    let digest = eip191_hash(&new.hash(scheme));
    let mut weight = 0u32;
    let mut seen = vec![false; signing.voters().len()];
    let mut signatures = Vec::with_capacity(relay.signatures.len());
    for (position, s) in relay.signatures.iter().enumerate() {
        let bad = |reason: String| PolicyCheckError::BadSignature { position, index: s.index, reason };
        let voter = signing.voters().get(usize::from(s.index)).ok_or_else(|| bad("no such voter".into()))?;
        if std::mem::replace(&mut seen[usize::from(s.index)], true) {
            return Err(bad("the voter signed already".into()));
        }
        let (signer, key) = fcc_flare_json::recover_key(&s.signature, &digest).map_err(|e| bad(e.to_string()))?;
        if signer != voter.address {
            return Err(bad(format!("recovers to 0x{}, not the voter", hex::encode(signer))));
        }
        keys.note(signer, key);
        weight += u32::from(voter.weight);
        let hint = fcc_flare_json::signer_hint(&s.signature, s.index).map_err(|e| bad(e.to_string()))?;
        signatures.push(Vote { signature: s.signature, additional_variable_message: vec![], hint: Some(hint) });
    }
    if !signing.is_satisfied_by(weight) {
        return Err(PolicyCheckError::BelowThreshold { weight, threshold: signing.threshold() });
    }
    // The keys known of the new voters: the guest builds their tables as it installs the policy
    // (and learns the others from their first signatures).
    let public_keys = keys.offer(&new);
    Ok(Action::update_policy(&UpdatePolicy { policy: relay.new_policy.to_vec(), signatures, public_keys }))
}

/// The proxy's [`Sink`]: the store, plus the RPC handle to read the policy transactions.
pub struct ChainSink<P> {
    shared: Arc<Shared>,
    rpc: P,
    scheme: PolicyHashScheme,
    request_timeout: Duration,
}

impl<P> std::fmt::Debug for ChainSink<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainSink").field("scheme", &self.scheme).finish_non_exhaustive()
    }
}

impl<P: Provider> ChainSink<P> {
    /// A sink writing to `shared`'s store; each RPC request it makes waits at most
    /// `request_timeout`.
    pub fn new(shared: Arc<Shared>, rpc: P, scheme: PolicyHashScheme, request_timeout: Duration) -> Self {
        Self { shared, rpc, scheme, request_timeout }
    }

    /// The policy of `epoch` as this range leaves it: a policy earlier in the same batch, else
    /// the store's.
    async fn signing_policy(&self, batch: &ChainBatch, epoch: u32) -> Result<Option<SigningPolicy>> {
        if let Some((_, b)) = batch.policies.iter().rev().find(|(e, _)| *e == epoch) {
            return Ok(SigningPolicy::decode(b).ok());
        }
        Ok(self.shared.store.policy(epoch).await?.and_then(|b| SigningPolicy::decode(&b).ok()))
    }

    /// The configured trust root's epoch, if there is one.
    fn trust_root_epoch(&self) -> Option<u32> {
        let root = self.shared.sessions.trust_root()?.signing_policy().ok()?;
        Some(root.reward_epoch_id())
    }

    async fn policy(&self, batch: &mut ChainBatch, epoch: u32, bytes: &[u8], tx: B256) -> Result<()> {
        SigningPolicy::decode(bytes)
            .map_err(|e| anyhow::anyhow!("the relay's policy of epoch {epoch} does not decode: {e}"))?;
        let input = tokio::time::timeout(self.request_timeout, transaction_input(&self.rpc, tx))
            .await
            .map_err(|_| anyhow::anyhow!("eth_getTransactionByHash {tx}: no answer within {:?}", self.request_timeout))?
            .with_context(|| format!("eth_getTransactionByHash {tx}"))?
            .with_context(|| format!("transaction {tx} of the policy of epoch {epoch} not found"))?;
        match parse_policy_relay(&input) {
            Ok(None) => tracing::info!(
                epoch, %tx,
                "policy set through the relay owner's setter, not relay(): no signatures to hand the guest \
                 (a first policy is the guest's trust root: configure it as trust-root for INITIALIZE_POLICY)"
            ),
            Err(e) => tracing::error!(epoch, %tx, "relay() calldata does not parse ({e}): no UPDATE_POLICY queued"),
            // A guest started from the trust root is past this epoch already and would refuse
            // the update ("only the next epoch may follow"); a guest behind the root gets the
            // root itself.
            Ok(Some(_)) if self.trust_root_epoch().is_some_and(|root| epoch <= root) => {
                tracing::info!(epoch, %tx, "relayed policy at or below the trust root's epoch: no UPDATE_POLICY queued")
            }
            Ok(Some(relay)) => {
                let known = match epoch.checked_sub(1) {
                    Some(e) => self.signing_policy(batch, e).await?,
                    None => None,
                };
                match update_policy_action(bytes, &relay, known.as_ref(), self.scheme, &self.shared.voter_keys) {
                    Ok(action) => {
                        tracing::info!(epoch, %tx, signatures = relay.signatures.len(), "UPDATE_POLICY from relay()");
                        batch.actions.push(action);
                    }
                    Err(e) => tracing::error!(epoch, %tx, "relayed policy refused: {e}; no UPDATE_POLICY queued"),
                }
            }
        }
        batch.policies.push((epoch, bytes.to_vec()));
        Ok(())
    }
}

#[async_trait]
impl<P: Provider> Sink for ChainSink<P> {
    async fn cursor(&self) -> Result<Option<Cursor>> {
        // A cursor stored before hashes were cannot be checked against the chain: read from
        // the first block again (the sink is idempotent).
        Ok(self
            .shared
            .store
            .cursor(CURSOR)
            .await?
            .and_then(|(block, hash)| Some(Cursor { block, hash: B256::from(hash?) })))
    }

    async fn checkpoints(&self) -> Result<Vec<Cursor>> {
        let kept = self.shared.store.checkpoints(CURSOR).await?;
        Ok(kept.into_iter().map(|(block, hash)| Cursor { block, hash: B256::from(hash) }).collect())
    }

    async fn commit(&self, events: Vec<Event>, cursor: Cursor, forget_below: u64) -> Result<()> {
        let mut batch = ChainBatch { now_ms: crate::state::now_ms(), ..ChainBatch::default() };
        for e in &events {
            match e {
                Event::Policy(p) => self.policy(&mut batch, p.reward_epoch_id, &p.bytes, p.origin.tx).await?,
                Event::Instruction(i) => batch.instructions.push(ChainInstruction {
                    id: i.instruction_id.0,
                    epoch: i.reward_epoch_id,
                    block: i.origin.block,
                    tx: i.origin.tx.0,
                    announced: Some(Announced {
                        tee_ids: i.machines.iter().map(|m| m.tee_id.0.0).collect(),
                        op_type: i.op_type.0,
                        op_command: i.op_command.0,
                        message: i.message.to_vec(),
                        cosigners: i.cosigners.iter().map(|c| c.0.0).collect(),
                        cosigners_threshold: i.cosigners_threshold,
                    }),
                }),
            }
        }
        let m = &self.shared.metrics;
        let store = &self.shared.store;
        let applied = match store.commit_chain(CURSOR, &batch, cursor.block, &cursor.hash.0, forget_below).await? {
            Ok(applied) => applied,
            Err(conflict) => {
                m.chain_conflicts.inc();
                tracing::error!(
                    epoch = conflict.epoch,
                    block = cursor.block,
                    "{conflict}: the range is not applied and the follower stops before it until the chain agrees \
                     (a lying RPC node, or a reorg deeper than chain-confirmations: check the node against another)"
                );
                return Err(conflict.into());
            }
        };
        if applied.policies_new > 0 {
            self.shared.forget_latest_epoch();
        }
        m.chain_block.set(i64::try_from(cursor.block).unwrap_or(i64::MAX));
        m.chain_instructions.inc_by(applied.instructions_new as u64);
        m.chain_policies.inc_by(applied.policies_new as u64);
        m.queued.inc_by(applied.actions_queued as u64);
        if applied.actions_queued > 0 {
            self.shared.work.notify_waiters();
        }
        Ok(())
    }

    async fn rewind(&self, to: Option<Cursor>) -> Result<()> {
        self.shared.metrics.chain_reorgs.inc();
        self.shared.store.rewind_chain(CURSOR, to.map(|c| (c.block, c.hash.0))).await?;
        if let Some(c) = to {
            self.shared.metrics.chain_block.set(i64::try_from(c.block).unwrap_or(i64::MAX));
        }
        Ok(())
    }
}

/// Runs the monitor until `stop` (spawned by [`crate::start_with`] when `[chain]` is set).
pub async fn run(shared: Arc<Shared>, stop: tokio::sync::watch::Receiver<bool>) {
    let Some(c) = shared.config.chain.clone() else { return };
    let url = match c.rpc_url.parse() {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(
                "chain rpc-url {} is not a URL: {e}; not following the chain",
                crate::redact::url(&c.rpc_url)
            );
            return;
        }
    };
    let rpc = match fcc_chain::http::client(c.rpc_ca_file.as_deref()) {
        Ok(client) => fcc_chain::http::provider(url, client),
        Err(e) => {
            tracing::error!("{e:#}; not following the chain");
            return;
        }
    };
    let mut config = fcc_chain::Config::new(c.relay.into(), c.instruction_sender.into());
    config.confirmations = c.confirmations;
    config.start_block = c.start_block;
    config.poll_interval = Duration::from_millis(c.poll_ms);
    config.request_timeout = Duration::from_millis(c.rpc_timeout_ms);
    config.reorg_depth = c.reorg_depth;
    tracing::info!(rpc = %crate::redact::url(&c.rpc_url), relay = %config.relay, sender = %config.instruction_sender, "following the chain");
    let sink = ChainSink::new(shared, rpc.clone(), c.policy_hash, config.request_timeout);
    fcc_chain::Monitor::new(rpc, config).run(&sink, crate::shutdown::until_stopped(stop)).await;
}
