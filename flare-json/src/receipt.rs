//! Vote receipts: what a proxy answers to `POST /instruction`, signed by its key. The layout
//! mirrors Flare's tee-proxy (`voting.Receipt`): a hash chain over the votes of one
//! instruction, so a provider can later prove its vote was accepted as the n-th one
//! (docs/PROTOCOL.md §15).
//!
//! ```text
//! initial  = keccak(abi.encode(VoteSequenceInit{instructionId, instructionHash, rewardEpochId, teeId}))
//! voteHash = keccak(abi.encode(VoteSequenceNext{previous, sequence, signature, keccak(avm), timestamp}))
//! receipt  = keccak(instructionHash ‖ u64 sequence ‖ avmHash ‖ u64 timestamp ‖ voteHash)   (big-endian)
//! signed   = EIP-191(receipt)
//! ```

use alloy_primitives::{B256, Bytes};
use fcc_core::abi::{self, Token};
use fcc_core::hash::{H256, eip191_hash, keccak256, keccak256_concat};
use fcc_core::policy::Address;
use serde::{Deserialize, Serialize};

use crate::recover::{RecoverError, recover_signer};

/// The first vote hash of an instruction: keccak of
/// `abi.encode(VoteSequenceInit{bytes32 instructionId, bytes32 instructionHash, uint32
/// rewardEpochId, address teeId})` (a static struct: four words).
pub fn initial_vote_hash(instruction_id: &H256, hash_fixed: &H256, reward_epoch_id: u32, tee_id: &Address) -> H256 {
    keccak256(&abi::encode_tuple(&[
        Token::Word(*instruction_id),
        Token::Word(*hash_fixed),
        Token::Word(abi::uint(u64::from(reward_epoch_id))),
        Token::Word(abi::address(tee_id)),
    ]))
}

/// The vote hash after `previous` for the `sequence`-th vote: keccak of
/// `abi.encode(VoteSequenceNext{bytes32 voteHash, uint64 sequence, bytes signature, bytes32
/// additionalVariableMessageHash, uint64 timestamp})` (a dynamic struct: its offset first).
pub fn next_vote_hash(previous: &H256, sequence: u64, signature: &[u8], avm_hash: &H256, timestamp: u64) -> H256 {
    keccak256(&abi::encode_dynamic_struct(&[
        Token::Word(*previous),
        Token::Word(abi::uint(sequence)),
        Token::Bytes(signature),
        Token::Word(*avm_hash),
        Token::Word(abi::uint(timestamp)),
    ]))
}

/// tee-proxy's `Receipt`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
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

    /// The digest the proxy signs: `EIP-191(hash)`.
    pub fn signing_digest(&self) -> H256 {
        eip191_hash(&self.hash())
    }
}

/// A receipt with the proxy's signature (tee-proxy's `SignedReceipt`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// 65 bytes `r ‖ s ‖ v` over [`Receipt::signing_digest`].
    pub signature: Bytes,
}

impl SignedReceipt {
    /// The address that signed the receipt (the proxy's, if genuine).
    pub fn signer(&self) -> Result<Address, RecoverError> {
        recover_signer(&self.signature, &self.receipt.signing_digest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_core::identity::TeeIdentity;

    #[test]
    fn a_signed_receipt_recovers_to_its_signer_through_json() {
        let key = TeeIdentity::from_secret_for_tests(&[7u8; 32]).unwrap();
        let receipt = Receipt {
            instruction_hash: B256::repeat_byte(1),
            sequence: 3,
            additional_variable_message_hash: B256::from(keccak256(b"")),
            timestamp: 1_760_000_000,
            vote_hash: B256::repeat_byte(2),
        };
        let signature = Bytes::from(key.sign_digest(&receipt.signing_digest()).to_vec());
        let signed = SignedReceipt { receipt, signature };
        let json = serde_json::to_string(&signed).unwrap();
        assert!(json.contains("\"additionalVariableMessageHash\":\"0xc5d2"), "{json}");
        let back: SignedReceipt = serde_json::from_str(&json).unwrap();
        assert_eq!(back.signer().unwrap(), key.address());
    }

    #[test]
    fn the_vote_chain_depends_on_every_input() {
        let init = initial_vote_hash(&[1; 32], &[2; 32], 5, &[3; 20]);
        assert_ne!(init, initial_vote_hash(&[1; 32], &[2; 32], 6, &[3; 20]));
        let a = next_vote_hash(&init, 1, &[9; 65], &[4; 32], 10);
        assert_ne!(a, next_vote_hash(&init, 2, &[9; 65], &[4; 32], 10));
        assert_ne!(a, next_vote_hash(&init, 1, &[8; 65], &[4; 32], 10));
        // alloy's abi.encode of the same structs (an independent encoder) hashes the same.
        alloy_sol_types::sol! {
            struct VoteSequenceInit { bytes32 instructionId; bytes32 instructionHash; uint32 rewardEpochId; address teeId; }
            struct VoteSequenceNext {
                bytes32 voteHash; uint64 sequence; bytes signature; bytes32 additionalVariableMessageHash; uint64 timestamp;
            }
        }
        use alloy_sol_types::SolValue;
        let alloy_init = VoteSequenceInit {
            instructionId: B256::repeat_byte(1),
            instructionHash: B256::repeat_byte(2),
            rewardEpochId: 5,
            teeId: alloy_primitives::Address::repeat_byte(3),
        };
        assert_eq!(keccak256(&alloy_init.abi_encode()), init);
        let alloy_next = VoteSequenceNext {
            voteHash: B256::from(init),
            sequence: 1,
            signature: Bytes::from(vec![9; 65]),
            additionalVariableMessageHash: B256::repeat_byte(4),
            timestamp: 10,
        };
        assert_eq!(keccak256(&alloy_next.abi_encode()), a);
    }
}
