//! The instruction a data provider signs and posts (`POST /instruction`): go-flare-common's
//! instruction `Data` — the fixed part every provider signs alike (`fcc_core::instruction`) and
//! the signer's own additional variable message — and `Instruction`, `Data` with the 65-byte
//! signature. JSON as go-flare-common writes it: camelCase names, `0x` hex for byte strings,
//! numbers for integers; a missing optional field is its zero value (Go's rule), an unknown one is
//! refused.

use alloy_primitives::{Address, B256, Bytes};
use fcc_core::hash::H256;
use fcc_core::instruction::InstructionData;
use serde::{Deserialize, Serialize};

use crate::recover::{RecoverError, recover_signer};

/// go-flare-common's `instruction.Data`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Data {
    /// bytes32.
    pub instruction_id: B256,
    /// The addressed TEE.
    pub tee_id: Address,
    /// Block timestamp of the instruction's event.
    pub timestamp: u64,
    /// The epoch whose policy must sign.
    pub reward_epoch_id: u32,
    /// bytes32 (ASCII, right-padded).
    pub op_type: B256,
    /// bytes32 (ASCII, right-padded).
    pub op_command: B256,
    /// Cosigner addresses.
    #[serde(default)]
    pub cosigners: Vec<Address>,
    /// How many cosigners must sign.
    #[serde(default)]
    pub cosigners_threshold: u64,
    /// The contract call's message.
    #[serde(default)]
    pub original_message: Bytes,
    /// Data every provider adds identically.
    #[serde(default)]
    pub additional_fixed_message: Bytes,
    /// This signer's own data.
    #[serde(default)]
    pub additional_variable_message: Bytes,
}

impl Data {
    /// `d` with the signer's additional variable message `avm`.
    pub fn new(d: &InstructionData, avm: &[u8]) -> Self {
        Self {
            instruction_id: B256::from(d.instruction_id),
            tee_id: Address::from(d.tee_id),
            timestamp: d.timestamp,
            reward_epoch_id: d.reward_epoch_id,
            op_type: B256::from(d.op_type),
            op_command: B256::from(d.op_command),
            cosigners: d.cosigners.iter().map(|c| Address::from(*c)).collect(),
            cosigners_threshold: d.cosigners_threshold,
            original_message: Bytes::copy_from_slice(&d.original_message),
            additional_fixed_message: Bytes::copy_from_slice(&d.additional_fixed_message),
            additional_variable_message: Bytes::copy_from_slice(avm),
        }
    }

    /// The fixed part, as fcc-core hashes it (not validated here: `InstructionData::validate`).
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

    /// The digest a provider signs for `chain_id` (`InstructionData::signing_digest`).
    pub fn signing_digest(&self, chain_id: u64) -> H256 {
        self.fixed().signing_digest(chain_id, &self.additional_variable_message)
    }
}

/// go-flare-common's `instruction.Instruction`: one provider's vote, the body of
/// `POST /instruction`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Instruction {
    /// What was signed.
    pub data: Data,
    /// 65 bytes `r ‖ s ‖ v`.
    pub signature: Bytes,
}

impl Instruction {
    /// `d` with `avm`, signed with `signature` (over [`Data::signing_digest`]).
    pub fn new(d: &InstructionData, avm: &[u8], signature: &[u8; 65]) -> Self {
        Self { data: Data::new(d, avm), signature: Bytes::copy_from_slice(signature) }
    }

    /// Who signed it for `chain_id`.
    pub fn signer(&self, chain_id: u64) -> Result<fcc_core::policy::Address, RecoverError> {
        recover_signer(&self.signature, &self.data.signing_digest(chain_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_core::identity::TeeIdentity;
    use fcc_core::op;

    fn instruction() -> InstructionData {
        InstructionData {
            instruction_id: [0x11; 32],
            tee_id: [0x22; 20],
            timestamp: 1_750_000_000,
            reward_epoch_id: 7,
            op_type: op::F_FDC2,
            op_command: op::PROVE,
            cosigners: vec![[0x33; 20]],
            cosigners_threshold: 1,
            original_message: vec![1, 2, 3],
            additional_fixed_message: vec![0xaa; 4],
        }
    }

    /// The JSON go-flare-common writes, byte for byte through a round trip.
    #[test]
    fn flare_json_round_trips() {
        let key = TeeIdentity::from_secret_for_tests(&[9; 32]).unwrap();
        let d = instruction();
        let signature = key.sign_digest(&d.signing_digest(14, b"mine"));
        let vote = Instruction::new(&d, b"mine", &signature);
        let json = serde_json::to_value(&vote).unwrap();
        assert_eq!(json["data"]["instructionId"], format!("0x{}", "11".repeat(32)));
        assert_eq!(json["data"]["opType"], format!("0x{}{}", hex::encode("F_FDC2"), "00".repeat(26)));
        assert_eq!(json["data"]["cosignersThreshold"], 1);
        assert_eq!(json["data"]["additionalVariableMessage"], "0x6d696e65");
        let back: Instruction = serde_json::from_value(json).unwrap();
        assert_eq!(back, vote);
        assert_eq!(back.data.fixed(), d);
        assert_eq!(back.signer(14).unwrap(), key.address());
        assert_ne!(back.signer(15).unwrap(), key.address());
    }

    #[test]
    fn unknown_fields_are_refused_and_missing_optional_ones_are_zero() {
        let mut json = serde_json::to_value(Data::new(&instruction(), b"")).unwrap();
        json["cosignerThreshold"] = 1.into();
        assert!(serde_json::from_value::<Data>(json.clone()).unwrap_err().to_string().contains("unknown field"));
        let o = json.as_object_mut().unwrap();
        for k in ["cosignerThreshold", "cosigners", "cosignersThreshold", "originalMessage"] {
            o.remove(k);
        }
        let d: Data = serde_json::from_value(json).unwrap();
        assert!(d.cosigners.is_empty() && d.cosigners_threshold == 0 && d.original_message.is_empty());
    }
}
