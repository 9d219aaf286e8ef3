//! Simulated Flare data providers: deterministic keys with uneven stakes, signing policies
//! normalised as Flare's VoterRegistry does, the actions a proxy delivers to the guest (trust
//! root, policy rotation, FDC2 proofs, info queries) and an independent check of result
//! signatures with libsecp256k1 (not fcc-core's own ECDSA code).
//!
//! Used by the demo (`cargo xtask demo`), the end-to-end tests and the host proxy's tests and
//! load generator. [`client`] posts signed votes to a proxy over HTTP and checks its receipts;
//! [`follow`] signs every instruction a chain emits; [`attest`] checks a TEE's attestation before
//! it is voted into production; the `sim-providers` binary drives them.

#[cfg(feature = "net")]
pub mod attest;
#[cfg(feature = "net")]
pub mod client;
#[cfg(feature = "net")]
pub mod follow;
pub mod wallet;

#[cfg(feature = "net")]
pub use client::vote_json;

use anyhow::Result;
use fcc_core::abi::{self, Token};
use fcc_core::action::{Action, ActionKind};
use fcc_core::hash::{H256, eip191_hash, keccak256};
use fcc_core::identity::TeeIdentity;
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::{InitializePolicy, PublicKey, UpdatePolicy};
use fcc_core::op;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy, Voter, flare_threshold};
use fcc_core::result::{SignedResult, SubmissionTag};
use fcc_core::verify::{SignerHint, Vote};

/// One data provider.
#[derive(Debug)]
pub struct Provider {
    /// Its signing key.
    pub key: TeeIdentity,
    /// Its stake (policy weights are normalised from it).
    pub stake: u64,
}

/// `n` providers with keys and uneven stakes derived from `label` (same label, same providers).
pub fn providers(label: &str, n: usize) -> Result<Vec<Provider>> {
    (0..n)
        .map(|i| {
            let secret = keccak256(format!("{label} {i}").as_bytes());
            let stake = 500 + u64::from(secret[0]) * 7 + u64::from(secret[1]);
            Ok(Provider { key: TeeIdentity::from_secret_for_tests(&secret)?, stake })
        })
        .collect()
}

/// The policy of `epoch` for `ps` (in that order): weights `stake · 65535 / Σ stake` and Flare's
/// threshold `ceil(total / 2)`.
pub fn policy(ps: &[Provider], epoch: u32) -> Result<SigningPolicy> {
    let sum: u64 = ps.iter().map(|p| p.stake).sum();
    let voters: Vec<Voter> =
        ps.iter().map(|p| Voter { address: p.key.address(), weight: (p.stake * 65_535 / sum) as u16 }).collect();
    let total: u32 = voters.iter().map(|v| u32::from(v.weight)).sum();
    let seed = keccak256(&epoch.to_be_bytes());
    Ok(SigningPolicy::new(epoch, 1_000 * epoch, flare_threshold(total) as u16, seed, voters)?)
}

/// The providers at `who` as `(voter index, key)`: the signers of a relay message or policy update.
pub fn signers<'a>(ps: &'a [Provider], who: &'a [usize]) -> impl Iterator<Item = (u16, &'a TeeIdentity)> + 'a {
    // A policy has at most 300 voters (`SigningPolicy::new`), so every index fits.
    who.iter().map(|&i| (u16::try_from(i).expect("a voter index fits in u16"), &ps[i].key))
}

/// Every provider's public key, in order (what the proxy sends with a policy).
pub fn public_keys(ps: &[Provider]) -> Vec<PublicKey> {
    ps.iter().map(|p| PublicKey(*p.key.public_key())).collect()
}

/// A direct action (tag `submit`) carrying `message`.
pub fn direct(op_type: op::OpName, op_command: op::OpName, id: &str, message: Vec<u8>) -> Action {
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

/// The trust root as the proxy's `trust-root` file holds it (`fcc_proxy::trust_root`):
/// `{"policy": "0x…", "publicKeys": ["0x…", …]}`, every voter's key in policy order.
pub fn trust_root_json(ps: &[Provider], policy: &SigningPolicy) -> serde_json::Value {
    let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
    let keys: Vec<String> = public_keys(ps).iter().map(|k| hex0x(&k.0)).collect();
    serde_json::json!({ "policy": hex0x(&policy.encode()), "publicKeys": keys })
}

/// `F_POLICY/INITIALIZE_POLICY` with the policy and every voter's public key.
pub fn initialize_policy(ps: &[Provider], policy: &SigningPolicy) -> Result<Action> {
    Ok(Action::initialize_policy(&InitializePolicy { policy: policy.encode(), public_keys: public_keys(ps) }))
}

/// `F_POLICY/UPDATE_POLICY` to `next` (whose voters are `next_ps`), signed by the current voters
/// `current` (in the current policy's order) over the policy hash under `scheme`.
pub fn update_policy(
    current: &[Provider],
    next_ps: &[Provider],
    next: &SigningPolicy,
    scheme: PolicyHashScheme,
) -> Result<Action> {
    let digest = eip191_hash(&next.hash(scheme));
    let signatures = current.iter().enumerate().map(|(i, p)| vote(p, i, &digest)).collect::<Result<Vec<_>>>()?;
    Ok(Action::update_policy(&UpdatePolicy { policy: next.encode(), signatures, public_keys: public_keys(next_ps) }))
}

/// `F_GET/TEE_INFO` without a challenge.
pub fn tee_info(id: &str) -> Action {
    direct(op::F_GET, op::TEE_INFO, id, vec![])
}

/// `abi.encode(Fdc2AttestationRequest)` of an example EVM-transaction request (layout in
/// `fcc_core::ops::fdc2`).
pub fn fdc2_request() -> Vec<u8> {
    abi::encode_dynamic_struct(&[
        Token::Word(op::name("EVMTransaction")),
        Token::Word(op::name("testETH")),
        Token::Word(abi::uint(0)),
        Token::Word(abi::address(&[0xbb; 20])),
        Token::Bytes(b"transaction 0xabcd on chain testETH"),
    ])
}

/// An `F_FDC2/PROVE` instruction for `tee_id` citing `epoch`, its id derived from `id`.
pub fn fdc2_instruction(tee_id: [u8; 20], id: &str, epoch: u32) -> InstructionData {
    InstructionData {
        instruction_id: keccak256(id.as_bytes()),
        tee_id,
        timestamp: 1_760_000_000,
        reward_epoch_id: epoch,
        op_type: op::F_FDC2,
        op_command: op::PROVE,
        original_message: fdc2_request(),
        additional_fixed_message: b"response body: 12 confirmations".to_vec(),
        ..Default::default()
    }
}

/// A `F_WALLET/KEY_GENERATE` instruction (`id` names it) asking `tee_id` for an EVM key `key_id`
/// of wallet `wallet_id`, administered by `admins` (`admins_threshold` of them rebuild its
/// admin part) with no cosigners.
pub fn key_generate_instruction(
    tee_id: [u8; 20],
    id: &str,
    epoch: u32,
    (wallet_id, key_id): (H256, u64),
    admins: &[[u8; 64]],
    admins_threshold: u64,
) -> InstructionData {
    use fcc_core::wallet::{ConfigConstants, EVM_SIGN_ALGO, KEY_TYPE_EVM, KeyIdPair, codec::KeyGenerate};
    let msg = KeyGenerate {
        tee_id,
        id: KeyIdPair { wallet_id, key_id },
        key_type: KEY_TYPE_EVM,
        signing_algo: EVM_SIGN_ALGO,
        config: ConfigConstants {
            admins: admins.to_vec(),
            admins_threshold,
            cosigners: vec![],
            cosigners_threshold: 0,
        },
    };
    InstructionData {
        instruction_id: keccak256(id.as_bytes()),
        tee_id,
        timestamp: 1_760_000_000,
        reward_epoch_id: epoch,
        op_type: op::F_WALLET,
        op_command: op::KEY_GENERATE,
        original_message: msg.encode(),
        ..Default::default()
    }
}

/// Flare's `abi.encode(TeeAttestation)`: the `F_REG/TEE_ATTESTATION` message the machine registry
/// sends (`((address teeId, address initialTeeId, string url, bytes32 codeHash, bytes32 platform),
/// bytes32 challenge)`, docs/PROTOCOL.md §8.3), with no initial TEE.
pub fn attestation_request(tee_id: [u8; 20], url: &str, code_hash: H256, platform: H256, challenge: H256) -> Vec<u8> {
    let machine = [
        Token::Word(abi::address(&tee_id)),
        Token::Word([0; 32]),
        Token::Bytes(url.as_bytes()),
        Token::Word(code_hash),
        Token::Word(platform),
    ];
    abi::encode_dynamic_struct(&[Token::Tuple(&machine), Token::Word(challenge)])
}

/// The registry's `F_REG/TEE_ATTESTATION` instruction `id` for `tee_id` with `message` (as
/// [`attestation_request`] makes it).
pub fn attestation_instruction(tee_id: [u8; 20], id: &str, epoch: u32, message: Vec<u8>) -> InstructionData {
    InstructionData {
        instruction_id: keccak256(id.as_bytes()),
        tee_id,
        timestamp: 1_760_000_000,
        reward_epoch_id: epoch,
        op_type: op::F_REG,
        op_command: op::TEE_ATTESTATION,
        original_message: message,
        ..Default::default()
    }
}

/// A vote of the provider at `index` of the policy over `digest`, with the hint a proxy adds.
pub fn vote(p: &Provider, index: usize, digest: &H256) -> Result<Vote> {
    let signature = p.key.sign_digest(digest);
    Ok(Vote {
        signature,
        additional_variable_message: vec![],
        hint: Some(SignerHint::compute(&signature, index as u16)?),
    })
}

/// `instruction` signed for `chain_id` by the providers at `signers` (indices into the policy).
pub fn signed(ps: &[Provider], signers: &[usize], instruction: InstructionData, chain_id: u64) -> Result<Action> {
    let digest = instruction.signing_digest(chain_id, &[]);
    let votes = signers.iter().map(|&i| vote(&ps[i], i, &digest)).collect::<Result<Vec<_>>>()?;
    Ok(Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction, votes })
}

/// The lightest voters whose weight stays at or below the threshold, and that weight: a set
/// that must be refused although the next-lightest voter would carry it over the threshold.
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

/// The address that signed `r` for `chain_id`, recovered with libsecp256k1
/// (`fcc_flare_json::recover_signer`).
pub fn result_signer(r: &SignedResult, chain_id: u64) -> Result<[u8; 20]> {
    Ok(fcc_flare_json::recover_signer(&r.signature, &r.result.signing_digest(chain_id))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_threshold_is_the_largest_refused_set() {
        let ps = providers("t", 30).unwrap();
        let p = policy(&ps, 5).unwrap();
        let (chosen, weight) = below_threshold(&p);
        assert!(!p.is_satisfied_by(weight));
        let lightest_left =
            (0..30).filter(|i| !chosen.contains(i)).map(|i| u32::from(p.voters()[i].weight)).min().unwrap();
        assert!(p.is_satisfied_by(weight + lightest_left));
    }

    #[test]
    fn providers_are_deterministic_per_label() {
        let a = providers("x", 3).unwrap();
        let b = providers("x", 3).unwrap();
        let c = providers("y", 3).unwrap();
        assert_eq!(a[2].key.address(), b[2].key.address());
        assert_ne!(a[2].key.address(), c[2].key.address());
    }
}
