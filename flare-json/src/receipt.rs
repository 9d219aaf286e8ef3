//! Vote receipts and the proxy's other signatures, as Flare's tee-proxy makes them
//! (`pkg/instruction/voting`, `internal/server/external.go`; docs/PROTOCOL.md §15). A receipt
//! carries a hash chain over the votes of one instruction, so a provider can later prove its
//! vote was accepted as the n-th one (0-based, as tee-proxy's vote box counts).
//!
//! ```text
//! initial  = keccak(abi.encode(VoteSequenceInit{instructionId, instructionHash, rewardEpochId, teeId}))
//! voteHash = keccak(abi.encode(VoteSequenceNext{previous, sequence, signature, keccak(avm), timestamp}))
//! receipt  = keccak(abi.encode(VoteReceipt{instructionHash, uint64 sequence, bytes signature,
//!                                          avmHash, uint64 timestamp, voteHash}))
//! signed   = EIP-191(Payload{PROXY_VOTE_RECEIPT, chainId, receipt})
//! result   = EIP-191(Payload{PROXY_ACTION_RESULT, chainId, ActionResult.hash()})
//! teeInfo  = EIP-191(Payload{PROXY_TEE_INFO, statement.chainId, keccak(abi.encode(Attestation))})
//! ```

use alloy_primitives::{B256, Bytes};
use fcc_core::abi::{self, Token};
use fcc_core::hash::{H256, eip191_hash, keccak256};
use fcc_core::instruction::payload_hash;
use fcc_core::op;
use fcc_core::policy::Address;
use fcc_core::result::ActionResult;
use fcc_core::statement::Statement;
use serde::{Deserialize, Serialize};

use crate::recover::{RecoverError, recover_signer};

/// `bytes32("PROXY_VOTE_RECEIPT")`.
pub const PREFIX_PROXY_VOTE_RECEIPT: H256 = op::name("PROXY_VOTE_RECEIPT");
/// `bytes32("PROXY_ACTION_RESULT")`.
pub const PREFIX_PROXY_ACTION_RESULT: H256 = op::name("PROXY_ACTION_RESULT");
/// `bytes32("PROXY_TEE_INFO")`.
pub const PREFIX_PROXY_TEE_INFO: H256 = op::name("PROXY_TEE_INFO");

/// What a proxy signs to vouch for a result it serves on `chain_id`:
/// `EIP-191(Payload{PROXY_ACTION_RESULT, chainId, result.hash()})`.
pub fn proxy_result_digest(result: &ActionResult, chain_id: u64) -> H256 {
    eip191_hash(&payload_hash(&PREFIX_PROXY_ACTION_RESULT, chain_id, &result.hash()))
}

/// What a proxy signs to vouch for a TEE's statement it serves:
/// `EIP-191(Payload{PROXY_TEE_INFO, statement.chainId, statement.hash()})`.
pub fn proxy_tee_info_digest(statement: &Statement) -> H256 {
    eip191_hash(&payload_hash(&PREFIX_PROXY_TEE_INFO, statement.chain_id, &statement.hash()))
}

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
    /// 0 for the first accepted vote of the instruction, then 1, 2, …
    pub sequence: u64,
    /// The vote's signature, echoed.
    pub signature: Bytes,
    /// keccak of the vote's additional variable message.
    pub additional_variable_message_hash: B256,
    /// When the proxy accepted the vote (Unix seconds).
    pub timestamp: u64,
    /// The vote chain's hash after this vote.
    pub vote_hash: B256,
}

impl Receipt {
    /// `keccak(abi.encode(VoteReceipt{bytes32 instructionHash, uint64 sequence, bytes signature,
    /// bytes32 additionalVariableMessageHash, uint64 timestamp, bytes32 voteHash}))` (a dynamic
    /// struct: its offset first).
    pub fn hash(&self) -> H256 {
        keccak256(&abi::encode_dynamic_struct(&[
            Token::Word(self.instruction_hash.0),
            Token::Word(abi::uint(self.sequence)),
            Token::Bytes(&self.signature),
            Token::Word(self.additional_variable_message_hash.0),
            Token::Word(abi::uint(self.timestamp)),
            Token::Word(self.vote_hash.0),
        ]))
    }

    /// The digest the proxy of `chain_id` signs: `EIP-191(Payload{PROXY_VOTE_RECEIPT, chainId,
    /// hash})`.
    pub fn signing_digest(&self, chain_id: u64) -> H256 {
        eip191_hash(&payload_hash(&PREFIX_PROXY_VOTE_RECEIPT, chain_id, &self.hash()))
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
    /// The address that signed the receipt for `chain_id` (the proxy's, if genuine).
    pub fn signer(&self, chain_id: u64) -> Result<Address, RecoverError> {
        recover_signer(&self.signature, &self.receipt.signing_digest(chain_id))
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
            signature: Bytes::from(vec![0x22; 65]),
            additional_variable_message_hash: B256::from(keccak256(b"")),
            timestamp: 1_760_000_000,
            vote_hash: B256::repeat_byte(2),
        };
        let signature = Bytes::from(key.sign_digest(&receipt.signing_digest(14)).to_vec());
        let signed = SignedReceipt { receipt, signature };
        let json = serde_json::to_string(&signed).unwrap();
        assert!(json.contains(r#""additionalVariableMessageHash":"0xc5d2"#), "{json}");
        let back: SignedReceipt = serde_json::from_str(&json).unwrap();
        assert_eq!(back.signer(14).unwrap(), key.address());
        assert_ne!(back.signer(15).unwrap(), key.address(), "bound to the chain");
    }

    /// The receipt hash is alloy's `keccak(abi.encode(VoteReceipt))` (go-flare-common's
    /// `TeeStructs.VoteReceipt`), and the signed digests are the Payload hashes alloy builds.
    #[test]
    fn receipt_and_proxy_digests_equal_alloy() {
        alloy_sol_types::sol! {
            struct VoteReceipt {
                bytes32 instructionHash; uint64 sequence; bytes signature;
                bytes32 additionalVariableMessageHash; uint64 timestamp; bytes32 voteHash;
            }
            struct Payload { bytes32 prefix; uint256 chainId; bytes32 dataHash; }
        }
        use alloy_sol_types::SolValue;
        let r = Receipt {
            instruction_hash: B256::repeat_byte(0x11),
            sequence: 3,
            signature: Bytes::from(vec![0x22; 65]),
            additional_variable_message_hash: B256::from(keccak256(&[1, 2, 3])),
            timestamp: 1_700_000_000,
            vote_hash: B256::repeat_byte(0x33),
        };
        let alloy = VoteReceipt {
            instructionHash: r.instruction_hash,
            sequence: r.sequence,
            signature: r.signature.clone(),
            additionalVariableMessageHash: r.additional_variable_message_hash,
            timestamp: r.timestamp,
            voteHash: r.vote_hash,
        };
        assert_eq!(r.hash(), keccak256(&alloy.abi_encode()));
        let payload = |prefix: &str, chain: u64, data: H256| {
            let p = Payload {
                prefix: B256::from(op::name(prefix)),
                chainId: alloy_primitives::U256::from(chain),
                dataHash: B256::from(data),
            };
            alloy_primitives::eip191_hash_message(keccak256(&p.abi_encode())).0
        };
        assert_eq!(r.signing_digest(14), payload("PROXY_VOTE_RECEIPT", 14, r.hash()));
        // A third judge: values computed with a separate (Python) keccak and ABI layout.
        assert_eq!(hex::encode(r.hash()), "1f11f91804c4bf7a01e5f6353982a0c47fb7ed34be6aca6bc0eabe189b23bc61");
        assert_eq!(
            hex::encode(r.signing_digest(14)),
            "c1b2369fdad49504c4ed82a0945fb4fab610c0b18c16d8688433f60bbbddd7de"
        );
        let mut id = [0u8; 32];
        id[31] = 1;
        let result = ActionResult {
            id,
            submission_tag: fcc_core::result::SubmissionTag::Threshold,
            status: 1,
            log: String::new(),
            op_type: [0; 32],
            op_command: [0; 32],
            additional_result_status: vec![],
            version: String::new(),
            data: br#"{"success":true}"#.to_vec(),
        };
        assert_eq!(proxy_result_digest(&result, 14), payload("PROXY_ACTION_RESULT", 14, result.hash()));
        let state = fcc_core::statement::FccState {
            platform: fcc_core::attester::PlatformKind::Tdx,
            policy_hash: fcc_core::policy::PolicyHashScheme::ChainBound { chain_id: 19 },
            version: "v".into(),
        };
        let statement = Statement::new(19, [5; 32], [6; 64], None, Some((3, [7; 32])), &state, 0);
        assert_eq!(proxy_tee_info_digest(&statement), payload("PROXY_TEE_INFO", 19, statement.hash()));
        assert_eq!(hex::encode(result.hash()), "e8ef22cd4df8567a20cff8346624bd74fcc09e2a5d2075673d55e96ab8bb0444");
        assert_eq!(
            hex::encode(proxy_result_digest(&result, 14)),
            "74e6534fbd1c09e8f374258094dc6f383d24584377bf9092a852cc55fe1267ab"
        );
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
