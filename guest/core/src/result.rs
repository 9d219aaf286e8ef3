//! Action results and the TEE's signature over them.
//!
//! ```text
//! resultHash = keccak(keccak(data) ‖ id ‖ keccak(submissionTag) ‖ uint8 status)
//! signed     = EIP-191( keccak(bytes32("TEE_ACTION_RESULT") ‖ uint256 chainId ‖ resultHash) )
//! ```
//! A *refusal* — the TEE did nothing with the action: not authorised, malformed, replayed — is
//! tagged `refused` and signed under `TEE_ACTION_REFUSAL` instead, so it can never pass for the
//! instruction's result (which a later, genuine delivery may still produce).
//! Signatures are 65 bytes `r ‖ s ‖ v` with v ∈ {0, 1} as Flare's Go code produces; Solidity's
//! `ecrecover` wants v + 27 (our contracts normalise both).

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::ecdsa::{ParsedSignature, SIGNATURE_LEN, address_of};
use crate::error::Error;
use crate::hash::{H256, eip191_hash, keccak256, keccak256_concat};
use crate::instruction::{PREFIX_TEE_ACTION_REFUSAL, PREFIX_TEE_ACTION_RESULT, payload_hash};
use crate::limits::{MAX_REASON_LEN, max_result_data_len};
use crate::op::OpName;
use crate::policy::Address;

/// Which stage of an instruction's life a result is for (Flare's `submissionTag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubmissionTag {
    /// The threshold was reached: execute.
    Threshold,
    /// Voting ended (rewarding data).
    End,
    /// A direct submission.
    Submit,
    /// Not a result: the TEE refused the action and nothing was executed (signed under
    /// `PREFIX_TEE_ACTION_REFUSAL`).
    Refused,
    /// A wallet key's backup heartbeat for `KeyBackupRegistry` (`F_GET/KEY_BACKUP_HEARTBEAT`
    /// only): the registry accepts no other tag, so no other result can stand in for one.
    KeyBackup,
}

impl SubmissionTag {
    /// The tag's string, hashed into the result.
    pub const fn as_str(self) -> &'static str {
        match self {
            SubmissionTag::Threshold => "threshold",
            SubmissionTag::End => "end",
            SubmissionTag::Submit => "submit",
            SubmissionTag::Refused => "refused",
            SubmissionTag::KeyBackup => "key-backup",
        }
    }
}

/// Result status codes (Flare's `status`).
pub mod status {
    /// The action was refused or failed; `log` says why, `additionalResultStatus` holds the
    /// error code (u16, big-endian).
    pub const ERROR: u8 = 0;
    /// The action succeeded.
    pub const SUCCESS: u8 = 1;
}

/// What an operation produced: the result's data and its additional status (Flare's
/// `additionalResultStatus`: operation-specific detail, unsigned; at most `MAX_REASON_LEN`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// The result data.
    pub data: Vec<u8>,
    /// The additional status.
    pub status: Vec<u8>,
}

impl From<Vec<u8>> for Output {
    fn from(data: Vec<u8>) -> Self {
        Self { data, status: Vec::new() }
    }
}

/// A result, as Flare's `ActionResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The instruction (or direct action) id.
    pub id: H256,
    /// The stage.
    pub submission_tag: SubmissionTag,
    /// `status::SUCCESS` or `status::ERROR`.
    pub status: u8,
    /// Human-readable log, e.g. the rejection reason (not signed).
    pub log: String,
    /// The operation type.
    pub op_type: OpName,
    /// The operation command.
    pub op_command: OpName,
    /// Machine-readable status detail (not signed).
    pub additional_result_status: Vec<u8>,
    /// The version of the code that produced it (not signed).
    pub version: String,
    /// The operation's output.
    pub data: Vec<u8>,
}

impl ActionResult {
    /// Checks the size bounds (the proxy decodes results from the guest with this).
    pub fn validate(&self) -> Result<(), Error> {
        let max = max_result_data_len(&self.op_type, &self.op_command);
        if self.data.len() > max {
            return Err(Error::TooLarge { what: "result data", len: self.data.len(), max });
        }
        for (what, len) in [
            ("result log", self.log.len()),
            ("result version", self.version.len()),
            ("additional result status", self.additional_result_status.len()),
        ] {
            if len > MAX_REASON_LEN {
                return Err(Error::TooLarge { what, len, max: MAX_REASON_LEN });
            }
        }
        Ok(())
    }

    /// `keccak(keccak(data) ‖ id ‖ keccak(submissionTag) ‖ status)`.
    pub fn hash(&self) -> H256 {
        keccak256_concat(&[
            &keccak256(&self.data),
            &self.id,
            &keccak256(self.submission_tag.as_str().as_bytes()),
            &[self.status],
        ])
    }

    /// Whether this is a refusal, not a result (`SubmissionTag::Refused`).
    pub fn is_refusal(&self) -> bool {
        self.submission_tag == SubmissionTag::Refused
    }

    /// The digest the TEE signs for `chain_id`: under `TEE_ACTION_RESULT`, or under
    /// `TEE_ACTION_REFUSAL` for a refusal.
    pub fn signing_digest(&self, chain_id: u64) -> H256 {
        let prefix = if self.is_refusal() { &PREFIX_TEE_ACTION_REFUSAL } else { &PREFIX_TEE_ACTION_RESULT };
        eip191_hash(&payload_hash(prefix, chain_id, &self.hash()))
    }
}

/// A result with the TEE's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedResult {
    /// The result.
    pub result: ActionResult,
    /// The TEE's signature over `result.signing_digest(chain_id)`.
    #[serde(with = "crate::serde_fixed")]
    pub signature: [u8; SIGNATURE_LEN],
}

impl SignedResult {
    /// The address that signed this result for `chain_id` (what a contract's `ecrecover` yields).
    pub fn signer(&self, chain_id: u64) -> Result<Address, Error> {
        let sig = ParsedSignature::parse(&self.signature, 0)?;
        Ok(address_of(sig.recover(&self.result.signing_digest(chain_id), 0)?.as_affine()))
    }
}

/// Truncates `s` to at most `MAX_REASON_LEN` bytes on a character boundary.
pub fn bounded_log(mut s: String) -> String {
    if s.len() > MAX_REASON_LEN {
        let mut end = MAX_REASON_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_strings() {
        assert_eq!(SubmissionTag::Threshold.as_str(), "threshold");
        assert_eq!(SubmissionTag::End.as_str(), "end");
    }

    #[test]
    fn log_is_bounded_on_char_boundary() {
        let s: String = core::iter::repeat_n('é', 200).collect();
        let b = bounded_log(s);
        assert!(b.len() <= MAX_REASON_LEN);
        assert!(b.chars().all(|c| c == 'é'));
    }
}
