//! Vote receipts: what `POST /instruction` answers, signed by the proxy's key. The layout mirrors
//! Flare's tee-proxy (`voting.Receipt`): a hash chain over the votes of one instruction, so a
//! provider can later prove its vote was accepted as the n-th one.
//!
//! ```text
//! initial  = keccak(abi.encode(VoteSequenceInit{instructionId, instructionHash, rewardEpochId, teeId}))
//! voteHash = keccak(abi.encode(VoteSequenceNext{previous, sequence, signature, keccak(avm), timestamp}))
//! receipt  = keccak(instructionHash ‖ u64 sequence ‖ avmHash ‖ u64 timestamp ‖ voteHash)   (big-endian)
//! signed   = EIP-191(receipt)
//! ```

use alloy_primitives::{Address as AlloyAddress, B256, Bytes};
use alloy_sol_types::{SolValue, sol};
use fcc_core::hash::{H256, eip191_hash, keccak256, keccak256_concat};
use fcc_core::policy::Address;
use serde::Serialize;

sol! {
    /// Start of an instruction's vote chain.
    struct VoteSequenceInit {
        bytes32 instructionId;
        bytes32 instructionHash;
        uint32 rewardEpochId;
        address teeId;
    }
    /// One link of the vote chain.
    struct VoteSequenceNext {
        bytes32 voteHash;
        uint64 sequence;
        bytes signature;
        bytes32 additionalVariableMessageHash;
        uint64 timestamp;
    }
}

/// The first vote hash of an instruction.
pub fn initial_vote_hash(instruction_id: &H256, hash_fixed: &H256, reward_epoch_id: u32, tee_id: &Address) -> H256 {
    let init = VoteSequenceInit {
        instructionId: B256::from(*instruction_id),
        instructionHash: B256::from(*hash_fixed),
        rewardEpochId: reward_epoch_id,
        teeId: AlloyAddress::from(*tee_id),
    };
    keccak256(&init.abi_encode())
}

/// The vote hash after `previous` for the `sequence`-th vote.
pub fn next_vote_hash(previous: &H256, sequence: u64, signature: &[u8], avm_hash: &H256, timestamp: u64) -> H256 {
    let next = VoteSequenceNext {
        voteHash: B256::from(*previous),
        sequence,
        signature: Bytes::copy_from_slice(signature),
        additionalVariableMessageHash: B256::from(*avm_hash),
        timestamp,
    };
    keccak256(&next.abi_encode())
}

/// Flare's `Receipt` (JSON field names as tee-proxy's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// `hashFixed` of the instruction.
    pub instruction_hash: B256,
    /// 1 for the first accepted vote of the instruction, then 2, 3, …
    pub sequence: u64,
    /// keccak of the vote's additional variable message.
    pub additional_variable_message_hash: B256,
    /// When the proxy accepted the vote (Unix seconds).
    pub timestamp: u64,
    /// The vote chain's hash after this vote.
    pub vote_hash: B256,
}

impl Receipt {
    /// `keccak(instructionHash ‖ sequence ‖ avmHash ‖ timestamp ‖ voteHash)`.
    pub fn hash(&self) -> H256 {
        keccak256_concat(&[
            self.instruction_hash.as_slice(),
            &self.sequence.to_be_bytes(),
            self.additional_variable_message_hash.as_slice(),
            &self.timestamp.to_be_bytes(),
            self.vote_hash.as_slice(),
        ])
    }

    /// Signs `EIP-191(hash)` with the proxy's key: 65 bytes `r ‖ s ‖ v`, v ∈ {0, 1}.
    pub fn sign(self, key: &ProxyKey) -> SignedReceipt {
        let signature = key.sign_digest(&eip191_hash(&self.hash()));
        SignedReceipt { receipt: self, signature: Bytes::from(signature.to_vec()) }
    }
}

/// A receipt with the proxy's signature (tee-proxy's `SignedReceipt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The proxy's signature over it.
    pub signature: Bytes,
}

/// The proxy's secp256k1 key (receipts, served results). libsecp256k1 signs: a receipt is signed
/// per vote, so this is on the proxy's hot path. `Debug` shows the address only.
#[derive(Clone)]
pub struct ProxyKey(secp256k1::SecretKey);

impl std::fmt::Debug for ProxyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyKey(0x{})", hex::encode(self.address()))
    }
}

impl ProxyKey {
    /// From 32 secret bytes (must be a valid scalar).
    pub fn from_bytes(bytes: &[u8; 32]) -> anyhow::Result<Self> {
        Ok(Self(
            secp256k1::SecretKey::from_secret_bytes(*bytes)
                .map_err(|_| anyhow::anyhow!("not a valid secp256k1 key"))?,
        ))
    }

    /// A fresh random key.
    pub fn random() -> Self {
        loop {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            if let Ok(k) = Self::from_bytes(&bytes) {
                return k;
            }
        }
    }

    /// The Ethereum address.
    pub fn address(&self) -> Address {
        let public = secp256k1::PublicKey::from_secret_key(&self.0);
        keccak256(&public.serialize_uncompressed()[1..])[12..].try_into().expect("20 bytes")
    }

    /// Signs a 32-byte digest: `r ‖ s ‖ v`, low S, v ∈ {0, 1}, deterministic (RFC 6979).
    pub fn sign_digest(&self, digest: &H256) -> [u8; 65] {
        let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
            secp256k1::Message::from_digest(*digest),
            &self.0,
        );
        let (id, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = u8::from(id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_core::ecdsa::recover_address;

    #[test]
    fn a_signed_receipt_recovers_to_the_proxy_address() {
        let key = ProxyKey::from_bytes(&[7u8; 32]).unwrap();
        let r = Receipt {
            instruction_hash: B256::repeat_byte(1),
            sequence: 3,
            additional_variable_message_hash: B256::from(keccak256(b"")),
            timestamp: 1_760_000_000,
            vote_hash: B256::repeat_byte(2),
        };
        let digest = eip191_hash(&r.hash());
        let signed = r.sign(&key);
        let sig: [u8; 65] = signed.signature.as_ref().try_into().unwrap();
        assert_eq!(recover_address(&sig, &digest).unwrap(), key.address());
        assert!(!format!("{key:?}").contains(&hex::encode([7u8; 32])));
    }

    #[test]
    fn the_vote_chain_depends_on_every_input() {
        let init = initial_vote_hash(&[1; 32], &[2; 32], 5, &[3; 20]);
        assert_ne!(init, initial_vote_hash(&[1; 32], &[2; 32], 6, &[3; 20]));
        let a = next_vote_hash(&init, 1, &[9; 65], &[4; 32], 10);
        assert_ne!(a, next_vote_hash(&init, 2, &[9; 65], &[4; 32], 10));
        assert_ne!(a, next_vote_hash(&init, 1, &[8; 65], &[4; 32], 10));
        // abi.encode of a dynamic struct starts with the 0x20 offset word.
        let enc = VoteSequenceNext {
            voteHash: B256::ZERO,
            sequence: 1,
            signature: Bytes::new(),
            additionalVariableMessageHash: B256::ZERO,
            timestamp: 0,
        }
        .abi_encode();
        assert_eq!(enc[31], 0x20);
    }
}
