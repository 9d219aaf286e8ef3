//! Flare TEE instructions: the `DataFixed` struct, its ABI encoding and hash, and the digest each
//! data provider or cosigner signs.
//!
//! ```text
//! hashFixed      = keccak(abi.encode(Instruction))            // leading 0x20 offset word
//! dataHash       = keccak(hashFixed ‖ keccak(additionalVariableMessage))
//! hashForSigning = keccak(bytes32("TEE_INSTRUCTION") ‖ uint256 chainId ‖ dataHash)
//! signed digest  = keccak("\x19Ethereum Signed Message:\n32" ‖ hashForSigning)
//! ```

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::abi::{self, Token};
use crate::error::Error;
use crate::hash::{H256, eip191_hash, keccak256, keccak256_concat};
use crate::limits::{MAX_COSIGNERS, MAX_MESSAGE_LEN};
use crate::op::{self, OpName};
use crate::policy::Address;

/// Domain prefix of instruction signatures.
pub const PREFIX_TEE_INSTRUCTION: [u8; 32] = op::name("TEE_INSTRUCTION");
/// Domain prefix of result signatures.
pub const PREFIX_TEE_ACTION_RESULT: [u8; 32] = op::name("TEE_ACTION_RESULT");
/// Domain prefix of refusal signatures (`SubmissionTag::Refused`): a refusal's signature never
/// verifies as a result's.
pub const PREFIX_TEE_ACTION_REFUSAL: [u8; 32] = op::name("TEE_ACTION_REFUSAL");
/// Domain prefix of FDC2 attestation signatures.
pub const PREFIX_FDC2: [u8; 32] = op::name("FDC2");

/// Flare's signing payload `keccak(abi.encode(bytes32 prefix, uint256 chainId, bytes32 dataHash))`
/// (three static words, so no offset word).
pub fn payload_hash(prefix: &[u8; 32], chain_id: u64, data_hash: &H256) -> H256 {
    keccak256_concat(&[prefix, &abi::uint(chain_id), data_hash])
}

/// The fixed part of an instruction (`TeeStructs.Instruction` / go-flare-common `DataFixed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InstructionData {
    /// Unique id assigned on chain.
    pub instruction_id: H256,
    /// The TEE the instruction is for.
    pub tee_id: Address,
    /// Timestamp of the emitting block.
    pub timestamp: u64,
    /// The reward epoch whose signing policy must sign it.
    pub reward_epoch_id: u32,
    /// Right-padded operation type, e.g. `F_FDC2`.
    pub op_type: OpName,
    /// Right-padded operation command, e.g. `PROVE`.
    pub op_command: OpName,
    /// Addresses whose signatures count as cosignatures.
    pub cosigners: Vec<Address>,
    /// How many listed cosigners must sign.
    pub cosigners_threshold: u64,
    /// The message from the contract call.
    pub original_message: Vec<u8>,
    /// Data every provider adds identically (e.g. an FDC2 response body).
    pub additional_fixed_message: Vec<u8>,
}

impl InstructionData {
    /// Checks the size bounds and the cosigner list (distinct, threshold not above its length).
    pub fn validate(&self) -> Result<(), Error> {
        if self.cosigners.len() > MAX_COSIGNERS {
            return Err(Error::TooMany { what: "cosigners", count: self.cosigners.len(), max: MAX_COSIGNERS });
        }
        for (what, m) in
            [("originalMessage", &self.original_message), ("additionalFixedMessage", &self.additional_fixed_message)]
        {
            if m.len() > MAX_MESSAGE_LEN {
                return Err(Error::TooLarge { what, len: m.len(), max: MAX_MESSAGE_LEN });
            }
        }
        if self.cosigners_threshold > self.cosigners.len() as u64 {
            return Err(Error::BadCosignerList);
        }
        for (i, c) in self.cosigners.iter().enumerate() {
            if self.cosigners[..i].contains(c) {
                return Err(Error::BadCosignerList);
            }
        }
        Ok(())
    }

    /// `abi.encode(Instruction)`.
    pub fn abi_encode(&self) -> Vec<u8> {
        abi::encode_dynamic_struct(&[
            Token::Word(self.instruction_id),
            Token::Word(abi::address(&self.tee_id)),
            Token::Word(abi::uint(self.timestamp)),
            Token::Word(abi::uint(u64::from(self.reward_epoch_id))),
            Token::Word(self.op_type),
            Token::Word(self.op_command),
            Token::Addresses(&self.cosigners),
            Token::Word(abi::uint(self.cosigners_threshold)),
            Token::Bytes(&self.original_message),
            Token::Bytes(&self.additional_fixed_message),
        ])
    }

    /// `hashFixed`: the instruction hash shared by every signer.
    pub fn hash_fixed(&self) -> H256 {
        keccak256(&self.abi_encode())
    }

    /// The digest a signer with this additional variable message signs, given `hashFixed`.
    pub fn signing_digest_from(hash_fixed: &H256, chain_id: u64, additional_variable_message: &[u8]) -> H256 {
        let data_hash = keccak256_concat(&[hash_fixed, &keccak256(additional_variable_message)]);
        eip191_hash(&payload_hash(&PREFIX_TEE_INSTRUCTION, chain_id, &data_hash))
    }

    /// The digest a signer signs (recomputes `hashFixed`).
    pub fn signing_digest(&self, chain_id: u64, additional_variable_message: &[u8]) -> H256 {
        Self::signing_digest_from(&self.hash_fixed(), chain_id, additional_variable_message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flare_shaped_all_zero_instruction() {
        // go-flare-common's TestHash shape: zero fields, originalMessage = additionalFixedMessage = 0x01.
        let d = InstructionData {
            original_message: alloc::vec![1],
            additional_fixed_message: alloc::vec![1],
            ..Default::default()
        };
        let enc = d.abi_encode();
        assert_eq!(enc.len(), 512);
        assert_eq!(enc[31], 0x20);
        // Head offsets of cosigners, originalMessage, additionalFixedMessage (relative to the tuple).
        let word = |i: usize| u16::from_be_bytes([enc[32 + 32 * i + 30], enc[32 + 32 * i + 31]]);
        assert_eq!(word(6), 0x140);
        assert_eq!(word(8), 0x160);
        assert_eq!(word(9), 0x1a0);
    }

    #[test]
    fn validate_bounds() {
        let mut d = InstructionData::default();
        d.validate().unwrap();
        d.cosigners = alloc::vec![[1; 20], [1; 20]];
        assert_eq!(d.validate(), Err(Error::BadCosignerList));
        d.cosigners = alloc::vec![[1; 20]];
        d.cosigners_threshold = 2;
        assert_eq!(d.validate(), Err(Error::BadCosignerList));
        d.cosigners_threshold = 1;
        d.original_message = alloc::vec![0; MAX_MESSAGE_LEN + 1];
        assert!(matches!(d.validate(), Err(Error::TooLarge { .. })));
    }
}
