//! The in-process end-to-end demo: what the devnet will do with a real guest, proxy and chain,
//! done here with the core alone. Every step is checked; a failure is an error, not a message.

use std::time::Instant;

use anyhow::{Result, bail, ensure};
use fcc_core::abi::{self, Token};
use fcc_core::hash::{H256, eip191_hash, keccak256};
use fcc_core::identity::TeeIdentity;
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::{InitializePolicy, PublicKey, UpdatePolicy};
use fcc_core::ops::Registry;
use fcc_core::platform::Simulated;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy, Voter, flare_threshold};
use fcc_core::result::{SignedResult, SubmissionTag, status};
use fcc_core::verify::{SignerHint, Vote};
use fcc_core::wire::{Action, ActionKind};
use fcc_core::{Config, Tee, op};

const CHAIN_ID: u64 = 14;

struct Provider {
    key: TeeIdentity,
    stake: u64,
}

fn providers(n: usize) -> Result<Vec<Provider>> {
    (0..n)
        .map(|i| {
            let secret = keccak256(format!("fcc demo provider {i}").as_bytes());
            let stake = 1_000 + (u64::from(secret[0]) << 8 | u64::from(secret[1]));
            Ok(Provider { key: TeeIdentity::from_secret_for_tests(&secret)?, stake })
        })
        .collect()
}

/// A policy for `epoch` with Flare's normalisation: w_i = stake_i · 65535 / Σ stake.
fn policy(ps: &[Provider], epoch: u32) -> Result<SigningPolicy> {
    let sum: u64 = ps.iter().map(|p| p.stake).sum();
    let voters: Vec<Voter> =
        ps.iter().map(|p| Voter { address: p.key.address(), weight: (p.stake * 65_535 / sum) as u16 }).collect();
    let total: u32 = voters.iter().map(|v| u32::from(v.weight)).sum();
    Ok(SigningPolicy::new(
        epoch,
        1_000 * epoch,
        flare_threshold(total) as u16,
        keccak256(&epoch.to_be_bytes()),
        voters,
    )?)
}

fn direct(op_command: op::OpName, id: &str, message: Vec<u8>) -> Action {
    Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            instruction_id: keccak256(id.as_bytes()),
            op_type: op::F_POLICY,
            op_command,
            original_message: message,
            ..Default::default()
        },
        votes: vec![],
    }
}

fn vote(p: &Provider, index: usize, digest: &H256) -> Result<Vote> {
    let signature = p.key.sign_digest(digest);
    Ok(Vote {
        signature,
        additional_variable_message: vec![],
        hint: Some(SignerHint::compute(&signature, index as u16)?),
    })
}

/// Recovers a result's signer with libsecp256k1 — independent of the core's own code.
fn result_signer(r: &SignedResult) -> Result<[u8; 20]> {
    let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(r.signature[64]))?;
    let sig = secp256k1::ecdsa::RecoverableSignature::from_compact(&r.signature[..64], id)?;
    let msg = secp256k1::Message::from_digest(r.result.signing_digest(CHAIN_ID));
    let pk = sig.recover_ecdsa(msg)?;
    Ok(keccak256(&pk.serialize_uncompressed()[1..])[12..].try_into()?)
}

fn fdc2_request() -> Vec<u8> {
    abi::encode_dynamic_struct(&[
        Token::Word(op::name("EVMTransaction")),
        Token::Word(op::name("testETH")),
        Token::Word(abi::uint(0)),
        Token::Word(abi::address(&[0xaa; 20])),
        Token::Bytes(b"transaction 0x1234 on chain testETH"),
    ])
}

fn ms(t: Instant) -> String {
    format!("{:8.2} ms", t.elapsed().as_secs_f64() * 1e3)
}

pub fn run(n: usize) -> Result<()> {
    ensure!((3..=300).contains(&n), "--voters must be in 3..=300");
    println!("fcc-unikernel demo: the verify-and-sign core in-process (no guest VM, proxy or chain yet)");
    println!("platform: simulated (plain); chain id {CHAIN_ID}; policy hash: chain-bound Relay");
    let ps = providers(n)?;
    let mut platform = Simulated;
    let t = Instant::now();
    let config = Config { chain_id: CHAIN_ID, policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN_ID } };
    let mut tee = Tee::new(config, &mut rand::rng(), Registry::system())?;
    let tee_id = tee.state().identity.address();
    println!("{}  TEE booted: id 0x{}", ms(t), hex::encode(tee_id));

    // 1. Trust root.
    let p1 = policy(&ps, 100)?;
    let keys: Vec<PublicKey> = ps.iter().map(|p| PublicKey(*p.key.public_key())).collect();
    let t = Instant::now();
    let init = InitializePolicy { policy: p1.encode(), public_keys: keys.clone() };
    let r = tee.handle(&direct(op::INITIALIZE_POLICY, "init", postcard::to_stdvec(&init)?), &mut platform);
    ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
    println!(
        "{}  policy epoch 100 trusted: {n} voters, total weight {}, threshold {} (keys cached)",
        ms(t),
        p1.total_weight(),
        p1.threshold()
    );

    // 2. An FDC2 proof signed by every provider.
    let mut instruction = InstructionData {
        instruction_id: keccak256(b"fdc2 #1"),
        tee_id,
        timestamp: 1_760_000_000,
        reward_epoch_id: 100,
        op_type: op::F_FDC2,
        op_command: op::PROVE,
        original_message: fdc2_request(),
        additional_fixed_message: b"response body: 21 confirmations".to_vec(),
        ..Default::default()
    };
    println!(
        "          event: TeeInstructionsSent F_FDC2/PROVE id 0x{}",
        hex::encode(&instruction.instruction_id[..8])
    );
    let t = Instant::now();
    let digest = instruction.signing_digest(CHAIN_ID, &[]);
    let votes = ps.iter().enumerate().map(|(i, p)| vote(p, i, &digest)).collect::<Result<Vec<_>>>()?;
    println!("{}  {n} provider signatures made (weight {} > threshold {})", ms(t), p1.total_weight(), p1.threshold());
    let action = Action {
        kind: ActionKind::Instruction,
        submission_tag: SubmissionTag::Threshold,
        instruction: instruction.clone(),
        votes,
    };
    let t = Instant::now();
    let r = tee.handle(&action, &mut platform);
    ensure!(r.result.status == status::SUCCESS, "PROVE refused: {}", r.result.log);
    println!("{}  guest verified {n} signatures and signed the result", ms(t));
    ensure!(result_signer(&r)? == tee_id, "result signature does not recover to the TEE");
    println!("          result signature recovers to the TEE id (checked with libsecp256k1)");

    // 3. The proxy delivers the same instruction again (as after a lost link): the guest answers
    // with the very same signed result and executes nothing twice.
    let again = tee.handle(&action, &mut platform);
    ensure!(again == r, "a re-delivered instruction produced a different result");
    ensure!(tee.authorise(&action, 5000) == Err(fcc_core::Error::Replayed), "instruction id not recorded as executed");
    println!("          re-delivered instruction: same signed result, not executed again");

    // 4. Policy rotation signed by the current voters.
    let mut next = providers(n)?;
    next.rotate_left(1);
    let p2 = policy(&next, 101)?;
    let t = Instant::now();
    let hash = eip191_hash(&p2.hash(config.policy_hash));
    let votes = ps.iter().enumerate().map(|(i, p)| vote(p, i, &hash)).collect::<Result<Vec<_>>>()?;
    let update = UpdatePolicy {
        policy: p2.encode(),
        signatures: votes,
        public_keys: next.iter().map(|p| PublicKey(*p.key.public_key())).collect(),
    };
    let r = tee.handle(&direct(op::UPDATE_POLICY, "update 101", postcard::to_stdvec(&update)?), &mut platform);
    ensure!(r.result.status == status::SUCCESS, "UPDATE_POLICY refused: {}", r.result.log);
    println!("{}  policy rotated to epoch 101 (signed by epoch 100's voters)", ms(t));

    // 5. Below the threshold: the lightest voters, just not enough weight.
    instruction.instruction_id = keccak256(b"fdc2 #2");
    instruction.reward_epoch_id = 101;
    let digest = instruction.signing_digest(CHAIN_ID, &[]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| p2.voters()[i].weight);
    let (mut weight, mut votes) = (0u32, Vec::new());
    for i in order {
        let w = u32::from(p2.voters()[i].weight);
        if weight + w > u32::from(p2.threshold()) {
            break;
        }
        weight += w;
        votes.push(vote(&next[i], i, &digest)?);
    }
    let action = Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction, votes };
    let r = tee.handle(&action, &mut platform);
    if r.result.status != status::ERROR {
        bail!("below-threshold instruction was executed");
    }
    ensure!(result_signer(&r)? == tee_id, "refusal is not signed by the TEE");
    println!("          below-threshold instruction (weight {weight}) refused: {}", r.result.log);
    println!("demo passed");
    Ok(())
}
