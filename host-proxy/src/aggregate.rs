//! Aggregation as Flare's proxy does it: each `POST /instruction` carries one signature; the
//! proxy recovers its signer, finds it among the cited policy's voters (or the instruction's
//! cosigners), and records the vote. When the voters' weight first exceeds the threshold (and
//! enough cosigners signed), one action with every vote so far is queued for the guest.
//!
//! Votes from concurrent requests are group-committed: a single writer task takes whatever is
//! waiting (up to [`MAX_BATCH`]) and applies it in one transaction, so the fsync is shared.

use std::sync::Arc;

use alloy_primitives::B256;
use fcc_core::admission;
use fcc_core::ecdsa::ParsedSignature;
use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::limits::MAX_MESSAGE_LEN;
use fcc_core::ops::Registry;
use fcc_core::verify::SignerHint;
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::receipt::{Receipt, SignedReceipt};
use crate::store::{NewVote, StoreError, VoteOutcome, VoteRejection};
use crate::{Shared, now_ms};

/// Most votes per transaction.
pub const MAX_BATCH: usize = 256;
/// Votes waiting for the writer at most (further requests wait for room: back-pressure).
pub const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<Result<VoteOutcome, VoteRejection>, Arc<StoreError>>>;

/// The sending side of the writer's queue.
#[derive(Debug)]
pub struct VoteWriter(mpsc::Sender<(NewVote, Reply)>);

/// The receiving side, for [`run_writer`].
pub type VoteQueue = mpsc::Receiver<(NewVote, Reply)>;

impl VoteWriter {
    /// A writer and its queue.
    pub fn channel() -> (Self, VoteQueue) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self(tx), rx)
    }
}

/// Applies queued votes in batches until the senders are gone.
pub async fn run_writer(shared: Arc<Shared>, mut rx: VoteQueue) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (votes, replies): (Vec<NewVote>, Vec<Reply>) = batch.drain(..).unzip();
        match shared.store.add_votes(&votes, shared.config.max_open).await {
            Ok(outcomes) => {
                let mut queued = false;
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    if let Ok(o) = &outcome {
                        queued |= o.queued_now;
                        if !o.repeated {
                            shared.metrics.votes.inc();
                        }
                        if o.queued_now {
                            shared.metrics.queued.inc();
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

/// Flare's instruction `Data` JSON (go-flare-common `instruction.Data`): the fixed part and the
/// signer's additional variable message. Hex strings with `0x`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataJson {
    /// bytes32.
    pub instruction_id: B256,
    /// address.
    pub tee_id: alloy_primitives::Address,
    /// Block timestamp.
    pub timestamp: u64,
    /// The epoch whose policy must sign.
    pub reward_epoch_id: u32,
    /// bytes32 (ASCII, right-padded).
    pub op_type: B256,
    /// bytes32 (ASCII, right-padded).
    pub op_command: B256,
    /// Cosigner addresses.
    #[serde(default)]
    pub cosigners: Vec<alloy_primitives::Address>,
    /// How many cosigners must sign.
    #[serde(default)]
    pub cosigners_threshold: u64,
    /// The contract call's message.
    #[serde(default)]
    pub original_message: alloy_primitives::Bytes,
    /// Data every provider adds identically.
    #[serde(default)]
    pub additional_fixed_message: alloy_primitives::Bytes,
    /// This signer's own data.
    #[serde(default)]
    pub additional_variable_message: alloy_primitives::Bytes,
}

/// `POST /instruction` body: Flare's `instruction.Instruction`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstructionRequest {
    /// The signed data.
    pub data: DataJson,
    /// 65 bytes `r ‖ s ‖ v`.
    pub signature: alloy_primitives::Bytes,
}

impl DataJson {
    /// The fixed part as fcc-core's type.
    pub fn fixed(&self) -> InstructionData {
        InstructionData {
            instruction_id: self.instruction_id.0,
            tee_id: self.tee_id.0.0,
            timestamp: self.timestamp,
            reward_epoch_id: self.reward_epoch_id,
            op_type: self.op_type.0,
            op_command: self.op_command.0,
            cosigners: self.cosigners.iter().map(|a| a.0.0).collect(),
            cosigners_threshold: self.cosigners_threshold,
            original_message: self.original_message.to_vec(),
            additional_fixed_message: self.additional_fixed_message.to_vec(),
        }
    }
}

/// Checks, attributes and records one signature; answers with the signed receipt.
pub async fn accept(shared: &Shared, req: InstructionRequest) -> Result<SignedReceipt, ApiError> {
    let d = req.data.fixed();
    d.validate().map_err(|e| ApiError::BadRequest("invalid_instruction", e.to_string()))?;
    // The guest's own admission rule (operation threshold, cosigners): an instruction no weight
    // can authorise is refused here, and the others are queued exactly when the guest will
    // accept them.
    let rule = admission::rule(&Registry::system(), &d).map_err(|e| {
        ApiError::BadRequest("inadmissible_instruction", format!("the TEE would refuse it at any weight: {e}"))
    })?;
    let avm = req.data.additional_variable_message.to_vec();
    if avm.len() > MAX_MESSAGE_LEN {
        return Err(ApiError::BadRequest(
            "invalid_instruction",
            format!("additionalVariableMessage is {} bytes, at most {MAX_MESSAGE_LEN}", avm.len()),
        ));
    }
    let signature: [u8; 65] = req.signature.as_ref().try_into().map_err(|_| {
        ApiError::BadRequest("invalid_signature", format!("signature is {} bytes, not 65", req.signature.len()))
    })?;
    let Some(tee) = shared.tee().await else {
        return Err(ApiError::Unavailable("no_tee", "no TEE has connected to this proxy yet".into()));
    };
    if d.tee_id != tee.tee_id {
        return Err(ApiError::BadRequest(
            "wrong_tee",
            format!("teeId is not this TEE (0x{})", hex::encode(tee.tee_id)),
        ));
    }
    let policy = shared.policy(d.reward_epoch_id).await?.ok_or_else(|| {
        ApiError::BadRequest(
            "unknown_epoch",
            format!("no signing policy known for rewardEpochId {}", d.reward_epoch_id),
        )
    })?;
    let hash_fixed = d.hash_fixed();
    let digest = InstructionData::signing_digest_from(&hash_fixed, shared.config.chain_id, &avm);
    let signer = recover_signer(&signature, &digest)?;
    let voters = policy.voters();
    let (index, weight, cosigner) = match policy.voter_index(&signer) {
        Some(i) => (i, u32::from(voters[usize::from(i)].weight), false),
        None => match d.cosigners.iter().position(|c| *c == signer) {
            Some(j) => ((voters.len() + j) as u16, 0, true),
            None => {
                return Err(ApiError::Forbidden(
                    "unknown_signer",
                    format!(
                        "signer 0x{} is neither a voter of epoch {} nor a cosigner",
                        hex::encode(signer),
                        d.reward_epoch_id
                    ),
                ));
            }
        },
    };
    let hint = SignerHint::compute(&signature, index)
        .map_err(|e| ApiError::BadRequest("invalid_signature", format!("signature: {e}")))?;
    let vote = NewVote {
        instruction: d,
        hash_fixed,
        signer,
        hint,
        weight,
        cosigner,
        signature,
        additional_variable_message: avm,
        requirement: rule.requirement(policy.total_weight()),
        now_ms: now_ms(),
    };
    let avm_hash = keccak256(&vote.additional_variable_message);
    let (tx, rx) = oneshot::channel();
    shared
        .votes
        .0
        .send((vote, tx))
        .await
        .map_err(|_| ApiError::Unavailable("shutting_down", "the proxy is shutting down".into()))?;
    let outcome = rx
        .await
        .map_err(|_| ApiError::Unavailable("shutting_down", "the proxy is shutting down".into()))?
        .map_err(|e| ApiError::from(StoreError(anyhow::anyhow!("{e}"))))?;
    let outcome = match outcome {
        Ok(o) => o,
        Err(VoteRejection::Conflict) => {
            return Err(ApiError::Conflict("this instructionId is known with different instruction data".into()));
        }
        Err(VoteRejection::QueueFull { max }) => {
            return Err(ApiError::Unavailable("queue_full", format!("{max} instructions are open; retry later")));
        }
    };
    let receipt = Receipt {
        instruction_hash: B256::from(hash_fixed),
        sequence: outcome.sequence,
        additional_variable_message_hash: B256::from(avm_hash),
        timestamp: outcome.timestamp,
        vote_hash: B256::from(outcome.vote_hash),
    };
    Ok(shared.sign_receipt(receipt))
}

/// The address that signed `digest`. The signature is checked with fcc-core's rules first (low
/// S, v ∈ {0, 1, 27, 28}) so the proxy never counts a vote the guest would refuse; the recovery
/// itself is libsecp256k1's, the fastest available, since it is the proxy's main cost per vote.
pub fn recover_signer(signature: &[u8; 65], digest: &[u8; 32]) -> Result<[u8; 20], ApiError> {
    let bad = |e: String| ApiError::BadRequest("invalid_signature", format!("signature: {e}"));
    ParsedSignature::parse(signature, 0).map_err(|e| bad(e.to_string()))?;
    let v = signature[64];
    let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(if v >= 27 { v - 27 } else { v }))
        .map_err(|e| bad(e.to_string()))?;
    let sig =
        secp256k1::ecdsa::RecoverableSignature::from_compact(&signature[..64], id).map_err(|e| bad(e.to_string()))?;
    let key = sig.recover_ecdsa(secp256k1::Message::from_digest(*digest)).map_err(|e| bad(e.to_string()))?;
    Ok(keccak256(&key.serialize_uncompressed()[1..])[12..].try_into().expect("20 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_core::identity::TeeIdentity;

    #[test]
    fn recovery_agrees_with_fcc_core_and_refuses_what_the_guest_refuses() {
        let key = TeeIdentity::from_secret_for_tests(&[5; 32]).unwrap();
        let digest = keccak256(b"vote");
        let mut sig = key.sign_digest(&digest);
        assert_eq!(recover_signer(&sig, &digest).unwrap(), key.address());
        assert_eq!(fcc_core::ecdsa::recover_address(&sig, &digest).unwrap(), key.address());
        sig[64] += 27;
        assert_eq!(recover_signer(&sig, &digest).unwrap(), key.address());
        // High S (n - s, v flipped) recovers the same key elsewhere but the guest refuses it.
        let n = alloy_primitives::U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap();
        let s = alloy_primitives::U256::from_be_slice(&sig[32..64]);
        let mut high = sig;
        high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        high[64] = 27 + (1 - (sig[64] - 27));
        assert!(recover_signer(&high, &digest).is_err());
        assert!(fcc_core::ecdsa::recover_address(&high, &digest).is_err());
        sig[64] = 5;
        assert!(recover_signer(&sig, &digest).is_err());
    }
}
