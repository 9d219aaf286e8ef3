//! Aggregation as Flare's proxy does it: each `POST /instruction` carries one signature; the
//! proxy recovers its signer, finds it among the cited policy's voters (or the instruction's
//! cosigners), and records the vote. When the voters' weight first exceeds the threshold (and
//! enough cosigners signed), one action with every vote so far is queued for the guest.
//!
//! Nobody can take an instruction id away from the genuine data: votes collect per
//! (`instructionId`, `hashFixed`), only a voter (or a listed cosigner of an instruction
//! announced on chain) opens a candidate, each signer may have only so many open, data that
//! disagree with the on-chain announcement are refused, and the first candidate to meet the
//! requirement decides the id (the store, [`crate::store::VoteRejection`]).
//!
//! Votes from concurrent requests are group-committed: a single writer task takes whatever is
//! waiting (up to [`MAX_BATCH`]) and applies it in one transaction, so the fsync is shared.

use std::sync::Arc;

use alloy_primitives::B256;
use fcc_core::admission;
use fcc_core::instruction::InstructionData;
use fcc_core::limits::MAX_MESSAGE_LEN;
use fcc_core::ops::Registry;
use fcc_core::policy::Address;
use fcc_flare_json::{Instruction, Receipt, RecoverError, SignedReceipt, recover_key, signer_hint};
use tokio::sync::oneshot;

use crate::state::{Shared, VoteQueue, VoteReply, now_ms};
use crate::store::{NewVote, OpenLimits, StoreError, VoteRejection};

/// Most votes per transaction.
pub const MAX_BATCH: usize = 256;

/// The operations any guest may serve: the system ones and every compute extension of the
/// workspace (`fcc-extensions`, all features), whose declared admission rules decide when an
/// instruction is queued. An image without an extension refuses its instructions itself.
pub fn operations() -> &'static Registry {
    static OPERATIONS: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    OPERATIONS.get_or_init(|| fcc_extensions::registry().expect("the workspace's extensions pass the core's checks"))
}

/// Applies queued votes in batches until the senders are gone.
pub async fn run_writer(shared: Arc<Shared>, mut rx: VoteQueue) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (votes, replies): (Vec<NewVote>, Vec<VoteReply>) = batch.drain(..).unzip();
        let limits =
            OpenLimits { max_open: shared.config.max_open, max_open_per_signer: shared.config.max_open_per_signer };
        match shared.store.add_votes(&votes, limits).await {
            Ok(outcomes) => {
                let mut queued = false;
                for ((outcome, reply), vote) in outcomes.into_iter().zip(replies).zip(&votes) {
                    if let Ok(o) = &outcome {
                        queued |= o.queued_now;
                        if !o.repeated {
                            shared.metrics.votes.inc();
                        }
                        if o.queued_now {
                            shared.metrics.queued.inc();
                            let open = now_ms().saturating_sub(o.opened_ms).max(0);
                            shared.metrics.open_to_queued_seconds.observe(open as f64 / 1e3);
                            shared.metrics.queue_clock.queued(vote.instruction.instruction_id);
                        }
                    }
                    let _ = reply.send(Ok(outcome));
                }
                if queued {
                    shared.work.notify_waiters();
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// How often open instructions are checked for expiry at most (less often for a long TTL).
const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// Closes, until `stop` turns true, the instructions that can no longer be executed or have
/// collected votes too long: those citing an epoch before the previous one of the latest
/// policy known (the guest accepts the active and the previous epoch only) and those opened
/// more than `open-ttl-ms` ago. Only collecting ones: a queued instruction is the guest's.
pub async fn expire_stale(shared: Arc<Shared>, stop: tokio::sync::watch::Receiver<bool>) {
    let ttl = shared.config.open_ttl_ms;
    let every = EXPIRY_SWEEP.min(std::time::Duration::from_millis(ttl / 4).max(std::time::Duration::from_millis(25)));
    let stopped = crate::shutdown::until_stopped(stop);
    tokio::pin!(stopped);
    loop {
        let latest = shared.store.latest_epoch().await.ok().flatten().unwrap_or(0);
        let before = now_ms().saturating_sub(i64::try_from(ttl).unwrap_or(i64::MAX));
        match shared.store.expire(latest.saturating_sub(1), before).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(closed = n, "open instructions expired (an old epoch, or open too long)");
                shared.metrics.expired.inc_by(n);
            }
            Err(e) => tracing::warn!("expiring open instructions: {e}"),
        }
        tokio::select! {
            _ = &mut stopped => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Why a vote was not accepted. The HTTP layer maps each to a status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum VoteError {
    /// The instruction breaks a bound or is malformed.
    #[error("{0}")]
    InvalidInstruction(fcc_core::Error),
    /// No weight can authorise it: the guest's admission rule refuses the instruction itself.
    #[error("the TEE would refuse it at any weight: {0}")]
    Inadmissible(fcc_core::Error),
    /// The additional variable message is over the bound.
    #[error("additionalVariableMessage is {len} bytes, at most {MAX_MESSAGE_LEN}")]
    VariableMessageTooLong {
        /// Its length.
        len: usize,
    },
    /// The signature names no signer.
    #[error("signature: {0}")]
    BadSignature(String),
    /// No TEE has connected yet.
    #[error("no TEE has connected to this proxy yet")]
    NoTee,
    /// The instruction is for another TEE.
    #[error("teeId is not this TEE (0x{})", hex::encode(.0))]
    WrongTee(Address),
    /// The cited epoch's policy is unknown here.
    #[error("no signing policy known for rewardEpochId {0}")]
    UnknownEpoch(u32),
    /// The cited epoch is before the previous one of the latest policy: the guest accepts the
    /// active and the previous epoch only.
    #[error("rewardEpochId {got} is too old: the latest policy is epoch {latest}")]
    StaleEpoch {
        /// The cited epoch.
        got: u32,
        /// The latest epoch known.
        latest: u32,
    },
    /// These data under this id were closed by expiry.
    #[error("this instruction expired (open longer than open-ttl-ms, or its epoch became too old)")]
    Expired,
    /// The signer is neither a voter of the cited policy nor a listed cosigner.
    #[error("signer 0x{} is neither a voter of epoch {epoch} nor a cosigner", hex::encode(.signer))]
    UnknownSigner {
        /// The recovered signer.
        signer: Address,
        /// The cited epoch.
        epoch: u32,
    },
    /// The id was decided with different instruction data.
    #[error("this instructionId was decided with different instruction data")]
    Conflict,
    /// The data disagree with the instruction's announcement on chain.
    #[error("{field} differs from the instruction's announcement on chain")]
    NotAsAnnounced {
        /// The first field that differs.
        field: &'static str,
    },
    /// A cosigner's vote for data no voter has signed yet (and not announced on chain).
    #[error("no voter has signed this instruction yet; a cosigner's vote cannot open it (retry later)")]
    NoVoterYet,
    /// Too many instructions are open.
    #[error("{max} instructions are open; retry later")]
    QueueFull {
        /// The bound.
        max: u64,
    },
    /// The signer has opened too many instructions that are still open.
    #[error("this signer has {max} instructions open; retry when some are answered")]
    SignerFull {
        /// The bound.
        max: u64,
    },
    /// The proxy is shutting down.
    #[error("the proxy is shutting down")]
    ShuttingDown,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] Arc<StoreError>),
}

/// Checks, attributes and records one signature; answers with the signed receipt.
pub async fn accept(shared: &Shared, req: Instruction) -> Result<SignedReceipt, VoteError> {
    let started = std::time::Instant::now();
    let receipt = accept_vote(shared, req).await?;
    shared.metrics.vote_seconds.observe(started.elapsed().as_secs_f64());
    Ok(receipt)
}

/// [`accept`] without the timing.
async fn accept_vote(shared: &Shared, req: Instruction) -> Result<SignedReceipt, VoteError> {
    let d = req.data.fixed();
    d.validate().map_err(VoteError::InvalidInstruction)?;
    // The guest's own admission rule (operation threshold, cosigners): an instruction no weight
    // can authorise is refused here, and the others are queued exactly when the guest will
    // accept them.
    let rule = admission::rule(operations(), &d).map_err(VoteError::Inadmissible)?;
    let avm = req.data.additional_variable_message.to_vec();
    if avm.len() > MAX_MESSAGE_LEN {
        return Err(VoteError::VariableMessageTooLong { len: avm.len() });
    }
    let signature: [u8; 65] = req
        .signature
        .as_ref()
        .try_into()
        .map_err(|_| VoteError::BadSignature(RecoverError::Length(req.signature.len()).to_string()))?;
    // For the pinned TEE, or one that connected here authenticated (and attested where that is
    // checked): a guest with another key connecting later does not take the served TEE's
    // instructions away.
    let tee = shared.sessions.tee().await.ok_or(VoteError::NoTee)?;
    let for_us = match shared.config.tee_id {
        Some(pin) => d.tee_id == pin,
        None => {
            d.tee_id == tee.tee_id
                || shared.store.known_tee(&d.tee_id).await.map_err(|e| VoteError::Store(Arc::new(e)))?
        }
    };
    if !for_us {
        return Err(VoteError::WrongTee(shared.config.tee_id.unwrap_or(tee.tee_id)));
    }
    let policy = shared
        .policy(d.reward_epoch_id)
        .await
        .map_err(|e| VoteError::Store(Arc::new(e)))?
        .ok_or(VoteError::UnknownEpoch(d.reward_epoch_id))?;
    let latest = shared.latest_epoch().await.map_err(|e| VoteError::Store(Arc::new(e)))?.unwrap_or(0);
    if d.reward_epoch_id.saturating_add(1) < latest {
        return Err(VoteError::StaleEpoch { got: d.reward_epoch_id, latest });
    }
    let hash_fixed = d.hash_fixed();
    let digest = InstructionData::signing_digest_from(&hash_fixed, shared.config.chain_id, &avm);
    let (signer, key) = recover_key(&signature, &digest).map_err(|e| VoteError::BadSignature(e.to_string()))?;
    let voters = policy.voters();
    // As the guest counts (fcc_core::verify): a voter's weight, and a listed cosigner once more
    // towards the cosigner threshold even when it is a voter too.
    let listed = d.cosigners.iter().position(|c| *c == signer);
    let (index, weight) = match (policy.voter_index(&signer), listed) {
        (Some(i), _) => {
            shared.voter_keys.note(signer, key);
            (i, u32::from(voters[usize::from(i)].weight))
        }
        (None, Some(j)) => ((voters.len() + j) as u16, 0),
        (None, None) => return Err(VoteError::UnknownSigner { signer, epoch: d.reward_epoch_id }),
    };
    let hint = signer_hint(&signature, index).map_err(|e| VoteError::BadSignature(e.to_string()))?;
    let vote = NewVote {
        instruction: d,
        hash_fixed,
        signer,
        hint,
        weight,
        cosigner: listed.is_some(),
        signature,
        additional_variable_message: avm,
        requirement: rule.requirement(policy.total_weight()),
        now_ms: now_ms(),
    };
    let (tx, rx) = oneshot::channel();
    shared.votes.0.send((vote, tx)).await.map_err(|_| VoteError::ShuttingDown)?;
    let outcome = rx.await.map_err(|_| VoteError::ShuttingDown)??.map_err(|rejection| match rejection {
        VoteRejection::Conflict => VoteError::Conflict,
        VoteRejection::NoVoterYet => VoteError::NoVoterYet,
        VoteRejection::Expired => VoteError::Expired,
        VoteRejection::QueueFull { max } => VoteError::QueueFull { max },
        VoteRejection::SignerFull { max } => VoteError::SignerFull { max },
        VoteRejection::NotAsAnnounced { field } => VoteError::NotAsAnnounced { field },
    })?;
    let receipt = Receipt {
        instruction_hash: B256::from(hash_fixed),
        sequence: outcome.sequence,
        // The first vote's, for a repeated one: the receipt is that vote's.
        signature: outcome.signature.into(),
        additional_variable_message_hash: B256::from(outcome.avm_hash),
        timestamp: outcome.timestamp,
        vote_hash: B256::from(outcome.vote_hash),
    };
    Ok(shared.sign_receipt(receipt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_errors_say_what_is_wrong() {
        let e = VoteError::UnknownSigner { signer: [0xab; 20], epoch: 7 };
        assert_eq!(e.to_string(), format!("signer 0x{} is neither a voter of epoch 7 nor a cosigner", "ab".repeat(20)));
        assert_eq!(VoteError::WrongTee([1; 20]).to_string(), format!("teeId is not this TEE (0x{})", "01".repeat(20)));
    }
}
