//! Simulated Flare data providers for the end-to-end tests: keys, a signing policy, the actions
//! a proxy delivers (trust root, FDC2 proof, info query) and an independent check of result
//! signatures with libsecp256k1 (the `secp256k1` crate), not fcc-core's own ECDSA code.

use anyhow::Result;
use fcc_core::abi::{self, Token};
use fcc_core::hash::{H256, keccak256};
use fcc_core::identity::TeeIdentity;
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::{InitializePolicy, PublicKey};
use fcc_core::op;
use fcc_core::policy::{SigningPolicy, Voter, flare_threshold};
use fcc_core::result::{SignedResult, SubmissionTag};
use fcc_core::verify::{SignerHint, Vote};
use fcc_core::wire::{Action, ActionKind};

/// The guest's default chain id (fw_cfg `opt/fcc/chain-id` absent).
pub const CHAIN_ID: u64 = fcc_layout::interface::DEFAULT_CHAIN_ID;
/// The reward epoch of the test policy.
pub const EPOCH: u32 = 200;

/// One data provider.
#[derive(Debug)]
pub struct Provider {
    /// Its signing key.
    pub key: TeeIdentity,
    /// Its stake (weights are normalised from it).
    pub stake: u64,
}

/// `n` providers with deterministic keys and uneven stakes.
pub fn providers(n: usize) -> Result<Vec<Provider>> {
    (0..n)
        .map(|i| {
            let secret = keccak256(format!("fcc e2e provider {i}").as_bytes());
            let stake = 500 + u64::from(secret[0]) * 7 + u64::from(secret[1]);
            Ok(Provider { key: TeeIdentity::from_secret_for_tests(&secret)?, stake })
        })
        .collect()
}

/// The policy for `EPOCH`: weights `stake · 65535 / Σ stake`, Flare's threshold.
pub fn policy(ps: &[Provider]) -> Result<SigningPolicy> {
    let sum: u64 = ps.iter().map(|p| p.stake).sum();
    let voters: Vec<Voter> =
        ps.iter().map(|p| Voter { address: p.key.address(), weight: (p.stake * 65_535 / sum) as u16 }).collect();
    let total: u32 = voters.iter().map(|v| u32::from(v.weight)).sum();
    Ok(SigningPolicy::new(EPOCH, 1_000 * EPOCH, flare_threshold(total) as u16, keccak256(b"e2e seed"), voters)?)
}

fn direct(op_type: op::OpName, op_command: op::OpName, id: &str, message: Vec<u8>) -> Action {
    Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            instruction_id: keccak256(id.as_bytes()),
            op_type,
            op_command,
            original_message: message,
            ..Default::default()
        },
        votes: vec![],
    }
}

/// `F_POLICY/INITIALIZE_POLICY` with the policy and every voter's public key.
pub fn initialize_policy(ps: &[Provider], policy: &SigningPolicy) -> Result<Action> {
    let init = InitializePolicy {
        policy: policy.encode(),
        public_keys: ps.iter().map(|p| PublicKey(*p.key.public_key())).collect(),
    };
    Ok(direct(op::F_POLICY, op::INITIALIZE_POLICY, "e2e init", postcard::to_allocvec(&init)?))
}

/// `F_GET/TEE_INFO`: needs no policy; shows the guest is serving.
pub fn tee_info(id: &str) -> Action {
    direct(op::F_GET, op::TEE_INFO, id, vec![])
}

/// `abi.encode(Fdc2AttestationRequest)` (see guest/core/src/ops/fdc2.rs).
fn fdc2_request() -> Vec<u8> {
    abi::encode_dynamic_struct(&[
        Token::Word(op::name("EVMTransaction")),
        Token::Word(op::name("testETH")),
        Token::Word(abi::uint(0)),
        Token::Word(abi::address(&[0xbb; 20])),
        Token::Bytes(b"transaction 0xabcd on chain testETH"),
    ])
}

/// An `F_FDC2/PROVE` instruction addressed to `tee_id`.
pub fn fdc2_instruction(tee_id: [u8; 20], id: &str) -> InstructionData {
    InstructionData {
        instruction_id: keccak256(id.as_bytes()),
        tee_id,
        timestamp: 1_760_000_000,
        reward_epoch_id: EPOCH,
        op_type: op::F_FDC2,
        op_command: op::PROVE,
        original_message: fdc2_request(),
        additional_fixed_message: b"response body: 12 confirmations".to_vec(),
        ..Default::default()
    }
}

/// A vote by the provider at `index` of the policy over `digest`, with its hint.
pub fn vote(p: &Provider, index: usize, digest: &H256) -> Result<Vote> {
    let signature = p.key.sign_digest(digest);
    Ok(Vote {
        signature,
        additional_variable_message: vec![],
        hint: Some(SignerHint::compute(&signature, index as u16)?),
    })
}

/// The instruction signed by the providers at `signers` (indices into the policy).
pub fn signed(ps: &[Provider], signers: &[usize], instruction: InstructionData) -> Result<Action> {
    let digest = instruction.signing_digest(CHAIN_ID, &[]);
    let votes = signers.iter().map(|&i| vote(&ps[i], i, &digest)).collect::<Result<Vec<_>>>()?;
    Ok(Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction, votes })
}

/// The lightest voters whose weight stays at or below the threshold, and that weight.
pub fn below_threshold(policy: &SigningPolicy) -> (Vec<usize>, u32) {
    let mut order: Vec<usize> = (0..policy.voters().len()).collect();
    order.sort_by_key(|&i| policy.voters()[i].weight);
    let (mut weight, mut chosen) = (0u32, Vec::new());
    for i in order {
        let w = u32::from(policy.voters()[i].weight);
        if weight + w > u32::from(policy.threshold()) {
            break;
        }
        weight += w;
        chosen.push(i);
    }
    (chosen, weight)
}

/// The address that signed `r` for [`CHAIN_ID`], recovered with libsecp256k1.
pub fn result_signer(r: &SignedResult) -> Result<[u8; 20]> {
    let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(r.signature[64]))?;
    let sig = secp256k1::ecdsa::RecoverableSignature::from_compact(&r.signature[..64], id)?;
    let msg = secp256k1::Message::from_digest(r.result.signing_digest(CHAIN_ID));
    let pk = sig.recover_ecdsa(msg)?;
    Ok(keccak256(&pk.serialize_uncompressed()[1..])[12..].try_into()?)
}
