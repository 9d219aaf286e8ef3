//! Verifying one instruction signed by all 100 voters of a 100-voter policy, against the
//! baseline Flare's Go node pays: one libsecp256k1 `ecrecover` (+ address hash) per signature.
//!
//! Both run side by side in one process, interleaved, and the medians and their ratio are
//! printed. `cargo bench -p fcc-core`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::policy::{SigningPolicy, Voter};
use fcc_core::verify::{Candidates, SignerHint, Verifier, Vote, tally};
use k256::ecdsa::SigningKey;

const VOTERS: usize = 100;
const CHAIN_ID: u64 = 14;

struct Fixture {
    policy: SigningPolicy,
    instruction: InstructionData,
    votes: Vec<Vote>,
    votes_no_hint: Vec<Vote>,
    digest: [u8; 32],
}

fn fixture() -> Fixture {
    let keys: Vec<SigningKey> =
        (0..VOTERS).map(|i| SigningKey::from_bytes(&keccak256(&(i as u64).to_be_bytes()).into()).unwrap()).collect();
    let voters: Vec<Voter> = keys
        .iter()
        .map(|k| Voter { address: fcc_core::ecdsa::address_of(k.verifying_key().as_affine()), weight: 655 })
        .collect();
    let total: u32 = voters.iter().map(|v| u32::from(v.weight)).sum();
    let policy = SigningPolicy::new(7, 1000, fcc_core::policy::flare_threshold(total) as u16, [3; 32], voters).unwrap();
    let instruction = InstructionData {
        instruction_id: keccak256(b"bench"),
        tee_id: [0x7e; 20],
        timestamp: 1_700_000_000,
        reward_epoch_id: 7,
        op_type: fcc_core::op::F_FDC2,
        op_command: fcc_core::op::PROVE,
        original_message: vec![0xab; 256],
        additional_fixed_message: vec![0xcd; 512],
        ..Default::default()
    };
    let digest = instruction.signing_digest(CHAIN_ID, &[]);
    let votes: Vec<Vote> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let (sig, recid) = k.sign_prehash_recoverable(&digest);
            let mut raw = [0u8; 65];
            raw[..64].copy_from_slice(&sig.to_bytes());
            raw[64] = recid.to_byte();
            // The proxy's hint: the signer's index and R's y, from its own recovery.
            let hint = Some(SignerHint::compute(&raw, i as u16).unwrap());
            Vote { signature: raw, additional_variable_message: vec![], hint }
        })
        .collect();
    let votes_no_hint = votes.iter().map(|v| Vote { hint: None, ..v.clone() }).collect();
    Fixture { policy, instruction, votes, votes_no_hint, digest }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let f = fixture();
    let libsecp_sigs: Vec<secp256k1::ecdsa::RecoverableSignature> = f
        .votes
        .iter()
        .map(|v| {
            let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(v.signature[64])).unwrap();
            secp256k1::ecdsa::RecoverableSignature::from_compact(&v.signature[..64], id).unwrap()
        })
        .collect();

    let fresh = |secret: u8| {
        let mut v = Verifier::new([secret; 32]);
        // As the TEE does when it installs a policy: its voters' keys stay cached (unpinned
        // keys are capped at one instruction's cosigners and would be relearned every time).
        v.pin(f.policy.voters().iter().map(|v| v.address));
        v
    };
    let hash_fixed = f.instruction.hash_fixed();
    let candidates = Candidates { policy: &f.policy, cosigners: &[] };
    let digest_of = |avm: &[u8]| InstructionData::signing_digest_from(&hash_fixed, CHAIN_ID, avm);
    // The first instruction of an epoch when no key was offered: every voter key recovered and
    // its tables built. Each of these one-off costs is the median of a few fresh verifiers, and
    // includes this host's page faults on the tables' fresh 2 MiB (which glibc hands back to the
    // kernel when a verifier is dropped); the guest's heap is mapped once at boot.
    let once = 7;
    let mut verifier = fresh(0x42);
    let signers = verifier.signers(&f.votes_no_hint, candidates, digest_of).unwrap();
    assert!(f.policy.is_satisfied_by(tally(&signers, candidates).unwrap().weight));
    let cold = median(
        (0..once)
            .map(|i| {
                let mut v = fresh(i);
                let t = Instant::now();
                black_box(v.signers(&f.votes_no_hint, candidates, digest_of).unwrap());
                t.elapsed()
            })
            .collect(),
    );

    // With the keys offered with the policy (what the proxy sends when it knows them): the
    // tables are built when the policy is installed, and the first instruction is like any other.
    let offered: Vec<_> = f
        .policy
        .voters()
        .iter()
        .map(|v| (v.address, Verifier::offered_key(&verifier.public_key(&v.address).unwrap(), &v.address).unwrap()))
        .collect();
    let (mut installs, mut firsts) = (Vec::new(), Vec::new());
    for i in 0..once {
        let mut installed = fresh(0x80 + i);
        let t = Instant::now();
        installed.learn_all(&offered);
        installs.push(t.elapsed());
        let t = Instant::now();
        let first = installed.signers(&f.votes, candidates, digest_of).unwrap();
        firsts.push(t.elapsed());
        assert_eq!(first, signers);
    }
    let (install, first_offered) = (median(installs), median(firsts));

    let cell = std::cell::RefCell::new(verifier);
    let run_ours = || {
        let mut v = cell.borrow_mut();
        let s = v.signers(black_box(&f.votes), candidates, digest_of).unwrap();
        black_box(tally(&s, candidates).unwrap());
    };
    let run_ours_no_ry = |votes: &[Vote]| {
        let mut v = cell.borrow_mut();
        let s = v.signers(black_box(votes), candidates, digest_of).unwrap();
        black_box(tally(&s, candidates).unwrap());
    };
    let votes_index_only: Vec<Vote> =
        f.votes.iter().map(|v| Vote { hint: v.hint.map(|h| SignerHint { r_y: None, ..h }), ..v.clone() }).collect();
    let run_baseline = || {
        let msg = secp256k1::Message::from_digest(f.digest);
        for s in &libsecp_sigs {
            let pk = black_box(s).recover_ecdsa(msg).unwrap();
            black_box(keccak256(&pk.serialize_uncompressed()[1..]));
        }
    };

    // FCC_BENCH_PROFILE=1 runs only the fast path, for `perf record`.
    if std::env::var_os("FCC_BENCH_PROFILE").is_some() {
        for _ in 0..400 {
            run_ours();
        }
        return;
    }
    let rounds = 60;
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        run_ours();
        run_baseline();
    }
    for _ in 0..rounds {
        let t = Instant::now();
        run_baseline();
        a.push(t.elapsed());
        let t = Instant::now();
        run_ours();
        b.push(t.elapsed());
        let t = Instant::now();
        run_ours_no_ry(&votes_index_only);
        c.push(t.elapsed());
    }
    let (base, fast, idx) = (median(a), median(b), median(c));
    println!("verify one instruction, {VOTERS} of {VOTERS} voters signed (median of {rounds}):");
    println!("  baseline  libsecp256k1 ecrecover x{VOTERS} + address : {:>9.1} us", base.as_secs_f64() * 1e6);
    println!(
        "  fcc-core  batch, hint = index + R.y             : {:>9.1} us   ratio {:.2}x",
        fast.as_secs_f64() * 1e6,
        base.as_secs_f64() / fast.as_secs_f64()
    );
    println!(
        "  fcc-core  batch, hint = index only              : {:>9.1} us   ratio {:.2}x",
        idx.as_secs_f64() * 1e6,
        base.as_secs_f64() / idx.as_secs_f64()
    );
    println!(
        "  fcc-core  first instruction of an epoch, no key offered (recover + build tables; median of {once}): {:.1} us",
        cold.as_secs_f64() * 1e6
    );
    println!(
        "  fcc-core  keys offered with the policy (median of {once}): install (build tables) {:.1} us, then first \
         instruction {:.1} us",
        install.as_secs_f64() * 1e6,
        first_offered.as_secs_f64() * 1e6
    );
    println!("  key table memory: {} bytes per cached key", fcc_core::batch::KeyTable::BYTES);
}
