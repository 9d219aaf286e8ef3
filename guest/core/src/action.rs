//! Actions: the unit of work the proxy hands the guest — a Flare instruction with its votes, or
//! a direct action — and the one place the policy actions (`F_POLICY`: the trust root and each
//! rotation) and their ids are built, for the proxy, the chain follower, the simulated providers
//! and the tests alike.

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hash::{H256, keccak256_concat};
use crate::instruction::InstructionData;
use crate::light_client::{InitializePolicy, UpdatePolicy};
use crate::limits::MAX_SIGNATURES;
use crate::op;
use crate::result::SubmissionTag;
use crate::verify::Vote;

/// How an action is authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionKind {
    /// A Flare instruction: needs data-provider signatures over the policy threshold.
    Instruction,
    /// A direct action from the proxy (policy management, queries): proves itself or is harmless.
    Direct,
}

/// One unit of work for the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Instruction or direct.
    pub kind: ActionKind,
    /// The stage (`threshold` for instructions, `submit` for direct actions).
    pub submission_tag: SubmissionTag,
    /// The instruction (for direct actions only id, op type/command and message matter).
    pub instruction: InstructionData,
    /// The providers' and cosigners' signatures.
    pub votes: Vec<Vote>,
}

impl Action {
    /// Checks every bound.
    pub fn validate(&self) -> Result<(), Error> {
        self.instruction.validate()?;
        if self.votes.len() > MAX_SIGNATURES {
            return Err(Error::TooMany { what: "signatures", count: self.votes.len(), max: MAX_SIGNATURES });
        }
        self.votes.iter().try_for_each(Vote::validate)
    }
}

/// The id of the `INITIALIZE_POLICY` action for the policy `policy_bytes`:
/// `keccak256("INITIALIZE_POLICY" ‖ policy bytes)` — one action per trust root, however often
/// the proxy restarts.
pub fn initialize_policy_id(policy_bytes: &[u8]) -> H256 {
    keccak256_concat(&[b"INITIALIZE_POLICY".as_slice(), policy_bytes])
}

/// The id of the `UPDATE_POLICY` action to the policy `policy_bytes`:
/// `keccak256("UPDATE_POLICY" ‖ policy bytes)` — one action per policy, however often the chain
/// follower reads it.
pub fn update_policy_id(policy_bytes: &[u8]) -> H256 {
    keccak256_concat(&[b"UPDATE_POLICY".as_slice(), policy_bytes])
}

/// The id of the `TEE_INFO` action asking `tee` for its statement for `challenge`:
/// `keccak256("TEE_INFO" ‖ tee ‖ challenge)` — one answer per TEE and challenge.
pub fn tee_info_id(tee: &crate::policy::Address, challenge: &H256) -> H256 {
    keccak256_concat(&[b"TEE_INFO".as_slice(), tee, challenge])
}

/// The id of the `TEE_BACKUP` action asking `tee` for a backup of `key`: `keccak256("TEE_BACKUP"
/// ‖ tee ‖ walletId ‖ uint64 keyId ‖ nonce)`, `nonce` fresh per request (each backup is a new
/// one, with its own random nonce and shares).
pub fn tee_backup_id(tee: &crate::policy::Address, key: &crate::wallet::KeyIdPair, nonce: &H256) -> H256 {
    keccak256_concat(&[b"TEE_BACKUP".as_slice(), tee, &key.wallet_id, &key.key_id.to_be_bytes(), nonce])
}

/// A direct `F_POLICY` action: `command` with the postcard encoding of `message`.
fn policy_action(id: H256, command: op::OpName, message: Vec<u8>) -> Action {
    Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            instruction_id: id,
            op_type: op::F_POLICY,
            op_command: command,
            original_message: message,
            ..Default::default()
        },
        votes: Vec::new(),
    }
}

impl Action {
    /// The `F_POLICY/INITIALIZE_POLICY` action that sets `init` as the trust root.
    pub fn initialize_policy(init: &InitializePolicy) -> Self {
        let message = postcard::to_allocvec(init).expect("serialising to a Vec cannot fail");
        policy_action(initialize_policy_id(&init.policy), op::INITIALIZE_POLICY, message)
    }

    /// The direct `F_GET/TEE_INFO` action asking `tee` (only it may take it) for its statement
    /// for `challenge` (`ops::info`).
    pub fn tee_info(tee: &crate::policy::Address, challenge: &H256) -> Self {
        Action {
            kind: ActionKind::Direct,
            submission_tag: SubmissionTag::Submit,
            instruction: InstructionData {
                instruction_id: tee_info_id(tee, challenge),
                tee_id: *tee,
                op_type: op::F_GET,
                op_command: op::TEE_INFO,
                original_message: challenge.to_vec(),
                ..Default::default()
            },
            votes: Vec::new(),
        }
    }

    /// The direct `F_GET/TEE_BACKUP` action asking `tee` (only it may take it) for a backup of
    /// `key` (`ops::wallet`), `nonce` making the request unique.
    pub fn tee_backup(tee: &crate::policy::Address, key: &crate::wallet::KeyIdPair, nonce: &H256) -> Self {
        let mut message = alloc::string::String::from("{\"walletId\":");
        crate::wallet::json::hex(&mut message, &key.wallet_id);
        message.push_str(",\"keyId\":");
        crate::wallet::json::uint(&mut message, key.key_id);
        message.push('}');
        Action {
            kind: ActionKind::Direct,
            submission_tag: SubmissionTag::Submit,
            instruction: InstructionData {
                instruction_id: tee_backup_id(tee, key, nonce),
                tee_id: *tee,
                op_type: op::F_GET,
                op_command: op::TEE_BACKUP,
                original_message: message.into_bytes(),
                ..Default::default()
            },
            votes: Vec::new(),
        }
    }

    /// The direct `F_GET/KEY_BACKUP_HEARTBEAT` action asking `tee` for the heartbeat `h`
    /// (`wallet::heartbeat`), under the registry's `backupId` and the `key-backup` tag.
    pub fn key_backup_heartbeat(
        tee: &crate::policy::Address,
        h: &crate::wallet::heartbeat::Heartbeat,
        chain_id: u64,
    ) -> Self {
        Action {
            kind: ActionKind::Direct,
            submission_tag: SubmissionTag::KeyBackup,
            instruction: InstructionData {
                instruction_id: h.backup_id(chain_id),
                tee_id: *tee,
                op_type: op::F_GET,
                op_command: op::KEY_BACKUP_HEARTBEAT,
                original_message: h.request_json().into_bytes(),
                ..Default::default()
            },
            votes: Vec::new(),
        }
    }

    /// The direct `F_GOVERNANCE/SET_MACHINE_PATH_LIST` action giving `tee` the governance's signed
    /// `request` (Flare's JSON, `wallet::direct`); id `keccak256("SET_MACHINE_PATH_LIST" ‖ tee ‖
    /// keccak256(request))`.
    pub fn set_machine_path_list(tee: &crate::policy::Address, request: &[u8]) -> Self {
        Action {
            kind: ActionKind::Direct,
            submission_tag: SubmissionTag::Submit,
            instruction: InstructionData {
                instruction_id: keccak256_concat(&[
                    b"SET_MACHINE_PATH_LIST".as_slice(),
                    tee,
                    &crate::hash::keccak256(request),
                ]),
                tee_id: *tee,
                op_type: op::F_GOVERNANCE,
                op_command: op::SET_MACHINE_PATH_LIST,
                original_message: request.to_vec(),
                ..Default::default()
            },
            votes: Vec::new(),
        }
    }

    /// The `F_POLICY/UPDATE_POLICY` action that moves to `update`'s policy.
    pub fn update_policy(update: &UpdatePolicy) -> Self {
        let message = postcard::to_allocvec(update).expect("serialising to a Vec cannot fail");
        policy_action(update_policy_id(&update.policy), op::UPDATE_POLICY, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;

    #[test]
    fn policy_action_ids_hash_the_command_and_the_policy() {
        let bytes = [7u8; 65];
        let mut pre = b"UPDATE_POLICY".to_vec();
        pre.extend_from_slice(&bytes);
        assert_eq!(update_policy_id(&bytes), keccak256(&pre));
        let init = InitializePolicy { policy: bytes.to_vec(), public_keys: Vec::new() };
        let a = Action::initialize_policy(&init);
        assert_eq!(a.instruction.instruction_id, initialize_policy_id(&bytes));
        assert_ne!(a.instruction.instruction_id, update_policy_id(&bytes));
        assert_eq!((a.kind, a.submission_tag), (ActionKind::Direct, SubmissionTag::Submit));
        assert_eq!((a.instruction.op_type, a.instruction.op_command), (op::F_POLICY, op::INITIALIZE_POLICY));
        assert_eq!(postcard::from_bytes::<InitializePolicy>(&a.instruction.original_message).unwrap(), init);
        a.validate().unwrap();
    }
}
