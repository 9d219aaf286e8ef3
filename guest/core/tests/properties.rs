//! Property tests: policy encoding round trips, decoders that never panic, the threshold rule
//! over random policies and signer subsets, and batch verification agreeing with per-signature
//! recovery (libsecp256k1) when one signature of a batch is corrupted.
//!
//! Case counts are kept small: keys come from a fixed pool and each case builds a fresh TEE.

mod common;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use common::*;
use fcc_core::action::{Action, ActionKind};
use fcc_core::attester::Simulated;
use fcc_core::error::Error;
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::{InitializePolicy, PublicKey, UpdatePolicy};
use fcc_core::op;
use fcc_core::ops::Registry;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy, Voter};
use fcc_core::result::{SubmissionTag, status};
use fcc_core::verify::{Candidates, SignerHint, Verifier, Vote, tally};
use fcc_core::wire::{self, GuestMessage, ProxyMessage};
use fcc_core::{Config, Tee};

const CHAIN: u64 = 14;
const POOL: usize = 20;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// 1..=40 voters with distinct random addresses, weights summing to at most 65535 and at least 1,
/// a threshold below the total.
fn arb_policy() -> impl Strategy<Value = SigningPolicy> {
    (1usize..=40)
        .prop_flat_map(|n| {
            (
                0u32..(1 << 24),
                any::<u32>(),
                any::<[u8; 32]>(),
                proptest::collection::vec((any::<[u8; 20]>(), 0u16..=1638), n),
                any::<u16>(),
            )
        })
        .prop_filter_map("distinct voters, positive weight", |(epoch, round, seed, voters, t)| {
            let voters: Vec<Voter> = voters.into_iter().map(|(address, weight)| Voter { address, weight }).collect();
            let total: u32 = voters.iter().map(|v| u32::from(v.weight)).sum();
            if total == 0 {
                return None;
            }
            let threshold = (u32::from(t) % total) as u16;
            SigningPolicy::new(epoch, round, threshold, seed, voters).ok()
        })
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn policy_encode_decode_round_trip(p in arb_policy()) {
        let bytes = p.encode();
        prop_assert_eq!(bytes.len(), 43 + 22 * p.voters().len());
        let pairs: Vec<([u8; 20], u16)> = p.voters().iter().map(|v| (v.address, v.weight)).collect();
        prop_assert_eq!(&bytes, &policy_bytes(p.reward_epoch_id(), p.start_voting_round_id(), p.threshold(), *p.seed(), &pairs));
        let back = SigningPolicy::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.hash(PolicyHashScheme::Legacy), alloy_legacy_hash(&bytes));
        prop_assert_eq!(back.hash(PolicyHashScheme::ChainBound { chain_id: CHAIN }), alloy_chain_bound_hash(&bytes, CHAIN));
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn policy_decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = SigningPolicy::decode(&bytes);
    }

    /// Mutations of a valid policy (byte flips, truncation, extension) are either refused or
    /// decode to a policy that re-encodes to exactly those bytes.
    #[test]
    fn policy_decode_of_mutations_is_canonical(
        p in arb_policy(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        extend in proptest::collection::vec(any::<u8>(), 0..30),
        mode in 0u8..3,
    ) {
        let mut bytes = p.encode();
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        match mode {
            0 => bytes.truncate(cut.index(bytes.len() + 1)),
            1 => bytes.extend_from_slice(&extend),
            _ => {}
        }
        if let Ok(q) = SigningPolicy::decode(&bytes) {
            prop_assert_eq!(q.encode(), bytes);
        }
    }

    #[test]
    fn frame_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut body = vec![wire::PROTOCOL_VERSION];
        body.extend_from_slice(&bytes);
        if let Ok(m) = wire::decode_body::<ProxyMessage>(&body) {
            let _ = m.validate();
        }
        if let Ok(m) = wire::decode_body::<GuestMessage>(&body) {
            let _ = m.validate();
        }
        let _ = postcard::from_bytes::<InitializePolicy>(&bytes);
        let _ = postcard::from_bytes::<UpdatePolicy>(&bytes);
        let mut reader = wire::FrameReader::new();
        reader.push(&bytes).unwrap();
        while let Ok(Some(b)) = reader.next_body() {
            let _ = wire::decode_body::<ProxyMessage>(&b);
        }
    }

    #[test]
    fn fdc2_request_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = fcc_core::ops::fdc2::decode_request(&bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// The threshold rule through the engine.

fn tee() -> Tee {
    Tee::new(
        Config { chain_id: CHAIN, policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN }, registration: None },
        &mut TestRng(3),
        Registry::system(),
    )
    .unwrap()
}

fn hint_for(sig: &[u8; 65], index: usize, mode: u8) -> Option<SignerHint> {
    match mode {
        0 => None,
        1 => Some(SignerHint { signer_index: index as u16, r_y: None }),
        _ => Some(SignerHint { signer_index: index as u16, r_y: Some(r_y(sig)) }),
    }
}

/// A random policy over the first `n` pool keys and a random subset of them that signs.
fn arb_committee() -> impl Strategy<Value = (Vec<u16>, Vec<bool>, Vec<u8>, bool, Vec<usize>)> {
    (3usize..=POOL).prop_flat_map(|n| {
        (
            proptest::collection::vec(prop_oneof![3 => 0u16..=3276, 1 => Just(0u16), 1 => 0u16..=4], n),
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(0u8..3, n),
            any::<bool>(),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        )
    })
}

proptest! {
    #![proptest_config(config(64))]

    /// A subset of voters is accepted iff its weight is strictly greater than
    /// ceil(total · 5000 / 10000), whatever the hints and whether keys were offered.
    #[test]
    fn subset_passes_iff_weight_exceeds_half((weights, chosen, hints, offer_keys, order) in arb_committee()) {
        let total: u32 = weights.iter().map(|&w| u32::from(w)).sum();
        prop_assume!(total >= 2);
        let keys = &pool()[..weights.len()];
        let voters: Vec<([u8; 20], u16)> = keys.iter().zip(&weights).map(|(k, &w)| (k.address, w)).collect();
        let threshold = total.div_ceil(2);
        let policy = policy_bytes(7, 0, threshold as u16, [1; 32], &voters);

        let mut tee = tee();
        let init = InitializePolicy {
            policy,
            public_keys: if offer_keys { keys.iter().map(|k| PublicKey(k.public)).collect() } else { vec![] },
        };
        let a = Action {
            kind: ActionKind::Direct,
            submission_tag: SubmissionTag::Submit,
            instruction: InstructionData {
                op_type: op::F_POLICY,
                op_command: op::INITIALIZE_POLICY,
                original_message: postcard::to_allocvec(&init).unwrap(),
                ..Default::default()
            },
            votes: vec![],
        };
        prop_assert_eq!(tee.handle(&a, &mut Simulated).result.status, status::SUCCESS);

        let d = InstructionData {
            instruction_id: [9; 32],
            tee_id: tee.state().identity.address(),
            timestamp: 1,
            reward_epoch_id: 7,
            op_type: op::F_FDC2,
            op_command: op::PROVE,
            original_message: fdc2_request("T", "S", 0, [0; 20], b"q"),
            ..Default::default()
        };
        let mut votes = Vec::new();
        let mut weight = 0u32;
        for &i in &order {
            if !chosen[i] {
                continue;
            }
            let avm = vec![i as u8; i % 2];
            let sig = keys[i].sign(&alloy_signing_digest(&d, CHAIN, &avm));
            votes.push(Vote { signature: sig, additional_variable_message: avm, hint: hint_for(&sig, i, hints[i]) });
            weight += u32::from(weights[i]);
        }
        let action = Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction: d, votes };
        // Independent statement of the rule, in u64 arithmetic.
        let bar = (u64::from(total) * 5000).div_ceil(10_000) as u32;
        match tee.authorise(&action) {
            Ok(t) => {
                prop_assert!(weight > bar, "accepted {} ≤ {}", weight, bar);
                prop_assert_eq!(t.weight, weight);
            }
            Err(e) => {
                prop_assert!(weight <= bar, "refused {} > {}: {:?}", weight, bar, e);
                prop_assert_eq!(e, Error::InsufficientWeight { weight, threshold: bar });
            }
        }
        // The full path agrees.
        let r = tee.handle(&action, &mut Simulated);
        prop_assert_eq!(r.result.status == status::SUCCESS, weight > bar);
    }
}

// ---------------------------------------------------------------------------------------------
// Batch verification versus per-signature recovery.

#[derive(Debug, Clone, Copy)]
enum Corruption {
    None,
    /// Flip bit `bit` of r.
    R(u8),
    /// Flip bit `bit` of s.
    S(u8),
    /// Flip bit `bit` of v.
    V(u8),
    /// The signature is over another digest (a different instruction).
    OtherMessage,
    /// The vote carries another signer's signature over the right digest.
    Swapped,
}

fn arb_corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        1 => Just(Corruption::None),
        3 => (0u8..=255).prop_map(Corruption::R),
        3 => (0u8..=255).prop_map(Corruption::S),
        2 => (0u8..8).prop_map(Corruption::V),
        1 => Just(Corruption::OtherMessage),
        1 => Just(Corruption::Swapped),
    ]
}

fn flip(sig: &mut [u8; 65], offset: usize, bit: u8) {
    let byte = offset + 31 - usize::from(bit / 8);
    sig[byte] ^= 1 << (bit % 8);
}

/// libsecp256k1's view of one vote: the signer `ecrecover` yields, with Flare's extra rules
/// (v ∈ {0, 1, 27, 28}; r, s in range; low S).
fn reference_signer(sig: &[u8; 65], digest: &[u8; 32]) -> Option<[u8; 20]> {
    let s = alloy_primitives::U256::from_be_slice(&sig[32..64]);
    let r = alloy_primitives::U256::from_be_slice(&sig[..32]);
    let n = group_order();
    if r.is_zero() || r >= n || s.is_zero() || s > n >> 1 {
        return None;
    }
    secp_recover(sig, digest)
}

fn index_of(e: &Error) -> Option<u16> {
    match *e {
        Error::SignatureMalformed { index }
        | Error::SignatureHighS { index }
        | Error::SignatureInvalid { index }
        | Error::UnknownSigner { index }
        | Error::BadSignerHint { index }
        | Error::DuplicateSigner { index } => Some(index),
        _ => None,
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// All voters of a random policy sign; one vote may be corrupted. The batch path (hints and
    /// cached keys) and the recovery path (no hints) agree with each other and with
    /// libsecp256k1 recovering each signature on its own: accepted iff every signature recovers to
    /// its voter, refused naming the corrupted vote otherwise.
    #[test]
    fn batch_agrees_with_per_signature_recovery(
        n in 3usize..=12,
        victim in any::<prop::sample::Index>(),
        corruption in arb_corruption(),
        with_r_y in any::<bool>(),
        secret in any::<[u8; 32]>(),
    ) {
        let keys = &pool()[..n];
        let voters: Vec<Voter> = keys.iter().map(|k| Voter { address: k.address, weight: 10 }).collect();
        let policy = SigningPolicy::new(1, 0, (5 * n) as u16, [0; 32], voters).unwrap();
        let d = InstructionData { instruction_id: secret, original_message: vec![1, 2, 3], ..Default::default() };
        let digest = alloy_signing_digest(&d, CHAIN, &[]);
        let victim = victim.index(n);
        let mut sigs: Vec<[u8; 65]> = keys.iter().map(|k| k.sign(&digest)).collect();
        match corruption {
            Corruption::None => {}
            Corruption::R(bit) => flip(&mut sigs[victim], 0, bit),
            Corruption::S(bit) => flip(&mut sigs[victim], 32, bit),
            Corruption::V(bit) => sigs[victim][64] ^= 1 << bit,
            Corruption::OtherMessage => {
                let other = InstructionData { instruction_id: secret, original_message: vec![1, 2, 4], ..Default::default() };
                sigs[victim] = keys[victim].sign(&alloy_signing_digest(&other, CHAIN, &[]));
            }
            Corruption::Swapped => sigs[victim] = keys[(victim + 1) % n].sign(&digest),
        }
        // The reference: each signature on its own.
        let expected: Vec<bool> = sigs.iter().zip(keys).map(|(s, k)| reference_signer(s, &digest) == Some(k.address)).collect();
        let all_good = expected.iter().all(|&g| g);
        if matches!(corruption, Corruption::None) {
            prop_assert!(all_good);
        }

        // Hints: the proxy's honest view (index of the voter the vote is for; R's y when it can
        // compute one for the possibly corrupted signature).
        let votes_hinted: Vec<Vote> = sigs.iter().enumerate().map(|(i, s)| {
            let r_y = if with_r_y && s[64] % 27 <= 1 && s[64] < 29 {
                let mut c = [0u8; 33];
                c[0] = 2 + (s[64] % 27);
                c[1..].copy_from_slice(&s[..32]);
                secp256k1::PublicKey::from_slice(&c).ok().map(|p| p.serialize_uncompressed()[33..].try_into().unwrap())
            } else {
                None
            };
            Vote { signature: *s, additional_variable_message: vec![], hint: Some(SignerHint { signer_index: i as u16, r_y }) }
        }).collect();
        let votes_plain: Vec<Vote> = votes_hinted.iter().map(|v| Vote { hint: None, ..v.clone() }).collect();

        let candidates = Candidates { policy: &policy, cosigners: &[] };
        let mut batch = Verifier::new(secret);
        // Learnt together (`KeyTable::build_many` when there are several).
        let points: Vec<_> = keys.iter().map(|k| (k.address, Verifier::offered_key(&k.public, &k.address).unwrap())).collect();
        batch.learn_all(&points);
        let mut plain = Verifier::new(secret);
        let by_batch = batch.signers(&votes_hinted, candidates, |_| digest);
        let by_recovery = plain.signers(&votes_plain, candidates, |_| digest);

        if let Corruption::Swapped = corruption {
            // A valid signature of the next voter, hinted as the victim's: per signature it
            // verifies, so only the hint contradicts it (batch path)...
            prop_assert_eq!(by_batch, Err(Error::BadSignerHint { index: victim as u16 }));
            // ...and without hints recovery names the other voter, who then signed twice.
            let other = (victim + 1) % n;
            let signers = by_recovery.unwrap();
            prop_assert_eq!(signers[victim], keys[other].address);
            prop_assert_eq!(tally(&signers, candidates), Err(Error::DuplicateSigner { index: victim.max(other) as u16 }));
            return Ok(());
        }
        for (what, outcome) in [("batch", &by_batch), ("recovery", &by_recovery)] {
            match outcome {
                Ok(signers) => {
                    prop_assert!(all_good, "{} accepted a bad signature ({:?} at {})", what, corruption, victim);
                    let want: Vec<[u8; 20]> = keys.iter().map(|k| k.address).collect();
                    prop_assert_eq!(signers, &want);
                    prop_assert_eq!(tally(signers, candidates).unwrap().weight, 10 * n as u32);
                }
                Err(e) => {
                    prop_assert!(!all_good, "{} refused good votes: {:?}", what, e);
                    prop_assert_eq!(index_of(e), Some(victim as u16), "{}: {:?} ({:?})", what, e, corruption);
                    prop_assert_eq!(expected.iter().position(|&g| !g), Some(victim));
                }
            }
        }
    }
}
