//! Known-answer tests: every format and hash of fcc-core against an independent implementation
//! on the host (alloy's keccak, EIP-191 and ABI coder; libsecp256k1 through the `secp256k1`
//! crate), against Flare's published vectors, and against the vectors printed in
//! `docs/PROTOCOL.md` (which this file parses, so the document and the code cannot drift).

mod common;
#[path = "doc_vectors/mod.rs"]
mod doc_vectors;

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, FixedBytes, U256, eip191_hash_message, keccak256};
use alloy_sol_types::{SolType, SolValue};

use common::*;
use fcc_core::action::{Action, ActionKind};
use fcc_core::attester::{SIMULATED_MAGIC, Simulated, SimulatedRom};
use fcc_core::ecdsa::recover_address;
use fcc_core::error::Error;
use fcc_core::hash::{eip191_hash, keccak256 as fcc_keccak};
use fcc_core::identity::TeeIdentity;
use fcc_core::instruction::{
    InstructionData, PREFIX_FDC2, PREFIX_TEE_ACTION_REFUSAL, PREFIX_TEE_ACTION_RESULT, PREFIX_TEE_INSTRUCTION,
    payload_hash,
};
use fcc_core::light_client::{InitializePolicy, PublicKey};
use fcc_core::limits;
use fcc_core::op;
use fcc_core::ops::fdc2;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy, Voter, flare_threshold, policy_hash};
use fcc_core::result::{ActionResult, SignedResult, SubmissionTag, status};
use fcc_core::seal::{self, SealedState, SealingKey};
use fcc_core::statement::{FccState, MachineData, REPORT_DATA_DOMAIN, STATE_VERSION, Statement};
use fcc_core::verify::{SignerHint, Vote};
use fcc_core::wire::{self, GuestMessage};
use fcc_core::{Config, Tee};

// ---------------------------------------------------------------------------------------------
// Signing policies.

/// Flare mainnet, reward epoch 309 (go-flare-common `pkg/policy/policy_test.go`, TestHash /
/// TestHashWithChainID; tx 0x86ffffab9fcadb3148b1e25dceecf3b37ad99d3b10008a53e527f7e4d6f73f36).
fn epoch309() -> Vec<u8> {
    hex::decode(include_str!("data/flare_policy_epoch309.hex").trim()).unwrap()
}

const EPOCH309_LEGACY: &str = "96986bfe5ffa787b6d33f4b16b3d40d5a46f38972c271771ddbe47fb142a0363";
const EPOCH309_CHAIN14: &str = "1a81e6e4a01d783bb49f5fc40ee7d2b5af07839550f860adf97772a84ada6630";
const EPOCH309_CHAIN19: &str = "f9492f2ad1003722b894b5f30cdc6aa37e75e06fbfbe44c4e77e3c1b37a8d4f0";

#[test]
fn flare_epoch_309_policy_decodes_and_hashes_as_flare_publishes() {
    let bytes = epoch309();
    assert_eq!(bytes.len(), 1913);
    let p = SigningPolicy::decode(&bytes).unwrap();
    assert_eq!(p.voters().len(), 85);
    assert_eq!(p.reward_epoch_id(), 309);
    assert_eq!(p.start_voting_round_id(), 1_038_240);
    assert_eq!(p.threshold(), 32_748);
    assert_eq!(p.total_weight(), 65_495);
    // Flare's threshold is ceil(total / 2) and the policy's own field agrees.
    assert_eq!(flare_threshold(p.total_weight()), 32_748);
    assert_eq!(p.encode(), bytes, "canonical re-encoding");
    assert_eq!(p.encoded_len(), bytes.len());
    // Seed and first voter straight from the bytes.
    assert_eq!(p.seed()[..], bytes[11..43]);
    assert_eq!(p.voters()[0].address[..], bytes[43..63]);
    assert_eq!(p.voters()[0].weight, u16::from_be_bytes([bytes[63], bytes[64]]));
    for (i, v) in p.voters().iter().enumerate() {
        assert_eq!(p.voter_index(&v.address), Some(i as u16));
    }

    let legacy = hex32(EPOCH309_LEGACY);
    let c14 = hex32(EPOCH309_CHAIN14);
    let c19 = hex32(EPOCH309_CHAIN19);
    assert_eq!(p.hash(PolicyHashScheme::Legacy), legacy);
    assert_eq!(p.hash(PolicyHashScheme::ChainBound { chain_id: 14 }), c14);
    assert_eq!(p.hash(PolicyHashScheme::ChainBound { chain_id: 19 }), c19);
    assert_eq!(policy_hash(&bytes, PolicyHashScheme::Legacy), legacy);
    // The same values from the alloy re-implementations.
    assert_eq!(alloy_legacy_hash(&bytes), legacy);
    assert_eq!(alloy_chain_bound_hash(&bytes, 14), c14);
    assert_eq!(alloy_chain_bound_hash(&bytes, 19), c19);
}

/// The policy layout equals Solidity's `abi.encodePacked(uint16 n, uint24 epoch, uint32 round,
/// uint16 threshold, bytes32 seed)` followed by `abi.encodePacked(address, uint16)` per voter.
#[test]
fn policy_encoding_equals_solidity_encode_packed() {
    use alloy_primitives::aliases::U24;
    use alloy_sol_types::sol_data;
    type Header =
        (sol_data::Uint<16>, sol_data::Uint<24>, sol_data::Uint<32>, sol_data::Uint<16>, sol_data::FixedBytes<32>);
    let mut rng = TestRng(309);
    for n in [1usize, 2, 3, 7, 31, 85] {
        let voters: Vec<Voter> =
            (0..n).map(|_| Voter { address: rng.bytes(), weight: (rng.below(700) + 1) as u16 }).collect();
        let total: u32 = voters.iter().map(|v| u32::from(v.weight)).sum();
        let epoch = (rng.next() & 0xff_ffff) as u32;
        let round = rng.next() as u32;
        let seed: [u8; 32] = rng.bytes();
        let threshold = flare_threshold(total) as u16;
        let p = SigningPolicy::new(epoch, round, threshold, seed, voters.clone()).unwrap();
        let mut packed = Header::abi_encode_packed(&(n as u16, U24::from(epoch), round, threshold, FixedBytes(seed)));
        for v in &voters {
            packed.extend((Address::from(v.address), v.weight).abi_encode_packed());
        }
        assert_eq!(p.encode(), packed);
        let pairs: Vec<([u8; 20], u16)> = voters.iter().map(|v| (v.address, v.weight)).collect();
        assert_eq!(policy_bytes(epoch, round, threshold, seed, &pairs), packed);
        assert_eq!(SigningPolicy::decode(&packed).unwrap(), p);
        assert_eq!(p.hash(PolicyHashScheme::Legacy), alloy_legacy_hash(&packed));
        for chain in [14u64, 19, 114, 16, u64::MAX] {
            assert_eq!(
                p.hash(PolicyHashScheme::ChainBound { chain_id: chain }),
                alloy_chain_bound_hash(&packed, chain)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Instructions.

fn random_instruction(rng: &mut TestRng, cosigners: usize, lens: (usize, usize)) -> InstructionData {
    InstructionData {
        instruction_id: rng.bytes(),
        tee_id: rng.bytes(),
        timestamp: rng.next(),
        reward_epoch_id: rng.next() as u32,
        op_type: name32(["F_FDC2", "F_GET", "MY_EXTENSION", "X"][rng.below(4) as usize]),
        op_command: if rng.below(2) == 0 { rng.bytes() } else { name32("PROVE") },
        cosigners: (0..cosigners).map(|_| rng.bytes()).collect(),
        cosigners_threshold: rng.below(cosigners as u64 + 1),
        original_message: rng.vec(lens.0),
        additional_fixed_message: rng.vec(lens.1),
    }
}

const MESSAGE_LENGTHS: [usize; 6] = [0, 1, 31, 32, 33, 100];

#[test]
fn instruction_abi_equals_alloy_abi_encode_of_the_struct() {
    let mut rng = TestRng(1);
    let mut seen = 0;
    for cosigners in 0..=3 {
        for (i, &a) in MESSAGE_LENGTHS.iter().enumerate() {
            let b = MESSAGE_LENGTHS[(i + cosigners + 1) % MESSAGE_LENGTHS.len()];
            let d = random_instruction(&mut rng, cosigners, (a, b));
            let ours = d.abi_encode();
            let sol = to_alloy(&d);
            let theirs = sol.abi_encode();
            assert_eq!(hex::encode(&ours), hex::encode(&theirs), "cosigners {cosigners}, lengths {a}/{b}");
            // abi.encode(struct) of a dynamic struct starts with the 0x20 offset word; the rest is
            // the struct as a parameter list.
            assert_eq!(ours[..32], U256::from(32).to_be_bytes::<32>());
            assert_eq!(ours[32..], sol.abi_encode_params()[..]);
            assert_eq!(<Instruction as SolType>::abi_decode_validate(&ours).unwrap(), sol);
            assert_eq!(d.hash_fixed(), keccak256(&theirs).0);
            seen += 1;
        }
    }
    assert_eq!(seen, 24);
}

#[test]
fn instruction_signing_digest_equals_alloy() {
    let mut rng = TestRng(2);
    for cosigners in 0..=3 {
        for &len in &MESSAGE_LENGTHS {
            let d = random_instruction(&mut rng, cosigners, (len, 100 - len));
            for avm_len in [0usize, 1, 65] {
                let avm = rng.vec(avm_len);
                for chain in [14u64, 19, 114, 16] {
                    let want = alloy_signing_digest(&d, chain, &avm);
                    assert_eq!(d.signing_digest(chain, &avm), want);
                    assert_eq!(InstructionData::signing_digest_from(&d.hash_fixed(), chain, &avm), want);
                }
            }
        }
    }
}

/// Vectors computed independently (pure-Python keccak) in the research notes for the instruction of
/// go-flare-common's `TestHash` (all fields zero, originalMessage = additionalFixedMessage = 0x01);
/// Flare's test only checks equalities, so these are not Flare-published.
#[test]
fn instruction_vectors_of_the_research_notes() {
    let d = InstructionData { original_message: vec![1], additional_fixed_message: vec![1], ..Default::default() };
    assert_eq!(d.abi_encode().len(), 512);
    assert_eq!(d.hash_fixed(), hex32("f2212a0ae082a1e8c78478d4517f228fc224ae9ad714fbbbac42d46014987cc1"));
    let data_hash = keccak256([&d.hash_fixed()[..], &keccak256([1u8])[..]].concat()).0;
    assert_eq!(data_hash, hex32("4baffa1abc4ffbfc8dd91b1d50797317312d1c2b292cf723d1cdb041afd69c26"));
    let for_signing = payload_hash(&PREFIX_TEE_INSTRUCTION, 14, &data_hash);
    assert_eq!(for_signing, hex32("54ad240ece2ffc5fc72d2a028a0af2e1d243207e46aadc2ee2981bce88390a73"));
    assert_eq!(d.signing_digest(14, &[1]), hex32("75dd1bcc6f70d4ef506489813002512466cef33b2c78ab2f34d4aae81dea76b7"));
    // go-flare-common `signing.Payload` test inputs.
    assert_eq!(
        payload_hash(&[0x11; 32], 14, &[0x22; 32]),
        hex32("3927cb750d24611fdfbae3ac51b1eb509321ba5dd2907fd4cd86f0198bf77f7e")
    );
    // Nil and empty variable messages hash alike (keccak of zero bytes).
    assert_eq!(d.signing_digest(14, &[]), alloy_signing_digest(&d, 14, &[]));
}

#[test]
fn prefixes_and_operation_names_are_right_padded_ascii() {
    assert_eq!(hex::encode(PREFIX_TEE_INSTRUCTION), "5445455f494e535452554354494f4e0000000000000000000000000000000000");
    for (ours, s) in [
        (PREFIX_TEE_INSTRUCTION, "TEE_INSTRUCTION"),
        (PREFIX_TEE_ACTION_RESULT, "TEE_ACTION_RESULT"),
        (PREFIX_TEE_ACTION_REFUSAL, "TEE_ACTION_REFUSAL"),
        (PREFIX_FDC2, "FDC2"),
        (REPORT_DATA_DOMAIN, "FCC_ATTESTATION_V1"),
        (STATE_VERSION, "FCC_STATE_V1"),
        (op::F_REG, "F_REG"),
        (op::TEE_ATTESTATION, "TEE_ATTESTATION"),
        (fcc_core::attester::PlatformKind::Plain.id(), "plain"),
        (fcc_core::attester::PlatformKind::SevSnp.id(), "sev-snp"),
        (fcc_core::attester::PlatformKind::Tdx.id(), "tdx"),
        (PolicyHashScheme::Legacy.id(), "LEGACY"),
        (PolicyHashScheme::ChainBound { chain_id: 14 }.id(), "CHAIN_BOUND"),
        (op::F_POLICY, "F_POLICY"),
        (op::INITIALIZE_POLICY, "INITIALIZE_POLICY"),
        (op::UPDATE_POLICY, "UPDATE_POLICY"),
        (op::F_FDC2, "F_FDC2"),
        (op::PROVE, "PROVE"),
        (op::F_GET, "F_GET"),
        (op::TEE_INFO, "TEE_INFO"),
    ] {
        // Solidity `bytes32("...")` via alloy: right-padded.
        assert_eq!(ours, FixedBytes::<32>::right_padding_from(s.as_bytes()).0, "{s}");
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures.

#[test]
fn libsecp256k1_signatures_recover_in_fcc() {
    let mut rng = TestRng(3);
    for (i, k) in pool().iter().take(12).enumerate() {
        let digest: [u8; 32] = rng.bytes();
        let sig = k.sign(&digest);
        assert_eq!(recover_address(&sig, &digest).unwrap(), k.address, "key {i}, v 0/1");
        assert_eq!(recover_address(&k.sign27(&digest), &digest).unwrap(), k.address, "key {i}, v 27/28");
        // Another digest recovers to someone else; the wrong parity too.
        let other: [u8; 32] = rng.bytes();
        assert_ne!(recover_address(&sig, &other).ok(), Some(k.address));
        let mut flipped = sig;
        flipped[64] ^= 1;
        assert_ne!(recover_address(&flipped, &digest).ok(), Some(k.address));
        // ecrecover would accept the high-S twin for the same signer; fcc (like go-flare-common)
        // refuses it.
        let twin = high_s_twin(&sig);
        assert_eq!(secp_recover(&twin, &digest), Some(k.address));
        assert_eq!(recover_address(&twin, &digest), Err(Error::SignatureHighS { index: 0 }));
        // v outside {0, 1, 27, 28}: ids 2/3 (overflowed r) are refused as by the precompile.
        for v in [2u8, 3, 26, 29, 30, 255] {
            let mut bad = sig;
            bad[64] = v;
            assert_eq!(recover_address(&bad, &digest), Err(Error::SignatureMalformed { index: 0 }), "v = {v}");
        }
    }
    // r = 0, s = 0, s = n, r = n are malformed.
    let k = &pool()[0];
    let d = [7u8; 32];
    let sig = k.sign(&d);
    let n = group_order().to_be_bytes::<32>();
    for (range, fill) in [(0..32, [0u8; 32]), (32..64, [0u8; 32]), (32..64, n), (0..32, n)] {
        let mut bad = sig;
        bad[range].copy_from_slice(&fill);
        assert_eq!(recover_address(&bad, &d), Err(Error::SignatureMalformed { index: 0 }));
    }
}

#[test]
fn tee_signatures_recover_in_libsecp256k1_and_alloy() {
    let mut rng = TestRng(4);
    for i in 0..8u32 {
        let secret = keccak256(i.to_be_bytes()).0;
        let tee = TeeIdentity::from_secret_for_tests(&secret).unwrap();
        let reference = Signer::from_secret(secret);
        assert_eq!(tee.address(), reference.address);
        assert_eq!(tee.public_key(), &reference.public);
        for _ in 0..4 {
            let digest: [u8; 32] = rng.bytes();
            let sig = tee.sign_digest(&digest);
            assert!(sig[64] <= 1, "results carry v in {{0, 1}}");
            assert_eq!(secp_recover(&sig, &digest), Some(tee.address()));
            assert_eq!(alloy_recover(&sig, &digest), Some(tee.address()));
            // Both are RFC 6979 with low S: the very same bytes as libsecp256k1's.
            assert_eq!(hex::encode(sig), hex::encode(reference.sign(&digest)));
        }
    }
    let generated = TeeIdentity::generate(&mut TestRng(99)).unwrap();
    let d = [0x42; 32];
    assert_eq!(alloy_recover(&generated.sign_digest(&d), &d), Some(generated.address()));
    assert_eq!(Address::from_raw_public_key(generated.public_key()).into_array(), generated.address());
}

#[test]
fn eip191_equals_alloy() {
    let mut rng = TestRng(5);
    for _ in 0..16 {
        let d: [u8; 32] = rng.bytes();
        assert_eq!(eip191_hash(&d), eip191_hash_message(d).0);
        assert_eq!(fcc_keccak(&d), keccak256(d).0);
    }
}

// ---------------------------------------------------------------------------------------------
// Results.

fn tag_str(t: SubmissionTag) -> &'static str {
    match t {
        SubmissionTag::Threshold => "threshold",
        SubmissionTag::End => "end",
        SubmissionTag::Submit => "submit",
        SubmissionTag::Refused => "refused",
        SubmissionTag::KeyBackup => "key-backup",
    }
}

#[test]
fn action_result_hash_and_signing_digest_equal_alloy() {
    let mut rng = TestRng(6);
    let tee = TeeIdentity::from_secret_for_tests(&[9; 32]).unwrap();
    for tag in [SubmissionTag::Threshold, SubmissionTag::End, SubmissionTag::Submit, SubmissionTag::Refused] {
        for len in [0usize, 1, 32, 100] {
            for st in [status::ERROR, status::SUCCESS, 2, 255] {
                let r = ActionResult {
                    id: rng.bytes(),
                    submission_tag: tag,
                    status: st,
                    log: "not signed".into(),
                    op_type: rng.bytes(),
                    op_command: rng.bytes(),
                    additional_result_status: vec![1, 2],
                    version: "not signed".into(),
                    data: rng.vec(len),
                };
                assert_eq!(r.hash(), alloy_result_hash(&r.data, r.id, tag_str(tag), st));
                for chain in [14u64, 19] {
                    let digest = alloy_result_digest(&r.data, r.id, tag_str(tag), st, chain);
                    assert_eq!(r.signing_digest(chain), digest);
                    let signed = SignedResult { signature: tee.sign_digest(&digest), result: r.clone() };
                    assert_eq!(signed.signer(chain).unwrap(), tee.address());
                    assert_eq!(alloy_recover(&signed.signature, &digest), Some(tee.address()));
                }
                // The log, op names, additional status and version are not signed.
                let mut unsigned = r.clone();
                unsigned.log.clear();
                unsigned.op_type = [0; 32];
                unsigned.additional_result_status.clear();
                unsigned.version.clear();
                assert_eq!(unsigned.hash(), r.hash());
            }
        }
    }
    // Research-notes vector (Python keccak): empty data, zero id, threshold, status 1.
    let r = ActionResult {
        id: [0; 32],
        submission_tag: SubmissionTag::Threshold,
        status: 1,
        log: String::new(),
        op_type: [0; 32],
        op_command: [0; 32],
        additional_result_status: vec![],
        version: String::new(),
        data: vec![],
    };
    assert_eq!(r.hash(), hex32("fd4cc845f17c9fd5ab4c0aaf2684fd9f390e96de23b843e3959882a951227e82"));
    assert_eq!(
        payload_hash(&PREFIX_TEE_ACTION_RESULT, 14, &r.hash()),
        hex32("3ec229f74d579ef7144048afdcd10333579a0f1353818bfdf02dabc8d8c60a5a")
    );
}

// ---------------------------------------------------------------------------------------------
// FDC2.

#[test]
fn fdc2_request_header_and_message_hash_equal_alloy() {
    let mut rng = TestRng(7);
    for cosigners in 0..=3usize {
        for &len in &MESSAGE_LENGTHS {
            let body = rng.vec(len);
            let bips = [0u16, 4000, 5000, 6667, 9999][rng.below(5) as usize];
            let owner: [u8; 20] = rng.bytes();
            let request = fdc2_request("EVMTransaction", "testETH", bips, owner, &body);
            let req = fdc2::decode_request(&request).unwrap();
            assert_eq!(req.attestation_type, name32("EVMTransaction"));
            assert_eq!(req.source_id, name32("testETH"));
            assert_eq!(req.threshold_bips, bips);
            assert_eq!(req.proof_owner, owner);
            assert_eq!(req.request_body, &body[..]);
            let mut d = random_instruction(&mut rng, cosigners, (0, 100 - len));
            d.original_message = request.clone();
            for chain in [14u64, 19] {
                let (hash, header) = fdc2::message_hash(chain, &req, &d);
                let (want_hash, want_header) = alloy_fdc2_message_hash(chain, &request, &d);
                assert_eq!(hex::encode(&header), hex::encode(&want_header));
                assert_eq!(hash, want_hash);
                let decoded = <Fdc2ResponseHeader as SolType>::abi_decode_validate(&header).unwrap();
                assert_eq!(decoded.cosigners.len(), cosigners);
                assert_eq!(decoded.timestamp, d.timestamp);
            }
            // Non-canonical encodings are refused: trailing byte, dirty padding, truncation.
            let mut long = request.clone();
            long.extend_from_slice(&[0; 32]);
            assert!(fdc2::decode_request(&long).is_err());
            assert!(fdc2::decode_request(&request[..request.len() - 32]).is_err());
            if len % 32 != 0 {
                let mut dirty = request.clone();
                *dirty.last_mut().unwrap() = 1;
                assert_eq!(fdc2::decode_request(&dirty), Err(Error::Malformed { what: "FDC2 request" }));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// TEE_INFO and REPORT_DATA.

/// alloy's `Attestation` with the fields of `s`, built field by field (not from fcc-core's bytes).
fn alloy_statement(s: &Statement) -> Attestation {
    Attestation {
        chainId: U256::from(s.chain_id),
        challenge: B256::from(s.challenge),
        publicKey: AbiPublicKey { x: B256::from_slice(&s.public_key[..32]), y: B256::from_slice(&s.public_key[32..]) },
        initialSigningPolicyId: s.initial_policy.0,
        initialSigningPolicyHash: B256::from(s.initial_policy.1),
        lastSigningPolicyId: s.last_policy.0,
        lastSigningPolicyHash: B256::from(s.last_policy.1),
        state: AbiTeeState {
            systemState: s.system_state.clone().into(),
            systemStateVersion: B256::from(s.system_state_version),
            state: s.state.clone().into(),
            stateVersion: B256::from(s.state_version),
        },
        teeTimestamp: s.tee_timestamp,
        machinePathListNonce: U256::from(s.machine_path_list_nonce),
        machinePathListHash: B256::from(s.machine_path_list_hash),
    }
}

/// alloy's `TeeMachineData` with the fields of `m`, built field by field.
fn alloy_machine_data(m: &MachineData) -> TeeMachineData {
    TeeMachineData {
        extensionId: U256::from_be_bytes(m.extension_id),
        initialOwner: alloy_primitives::Address::from(m.initial_owner),
        codeHash: B256::from(m.code_hash),
        platform: B256::from(m.platform),
        publicKey: AbiPublicKey { x: B256::from_slice(&m.public_key[..32]), y: B256::from_slice(&m.public_key[32..]) },
        governanceHash: B256::from(m.governance_hash),
    }
}

/// What Flare's `MachineManagerFacet.register` recovers, computed with alloy: EIP-191 over
/// `keccak(abi.encode(bytes32("TEE_MACHINE_REGISTER"), chainId, keccak(abi.encode(data))))`.
fn alloy_registration_digest(m: &TeeMachineData, chain_id: u64) -> [u8; 32] {
    let payload =
        keccak256((name32("TEE_MACHINE_REGISTER"), U256::from(chain_id), keccak256(m.abi_encode())).abi_encode());
    alloy_primitives::eip191_hash_message(payload).0
}

#[test]
fn statement_encoding_and_report_data_equal_alloy() {
    let mut rng = TestRng(8);
    for i in 0..6u8 {
        let tee = TeeIdentity::from_secret_for_tests(&[i + 1; 32]).unwrap();
        for (platform, scheme) in [
            (fcc_core::attester::PlatformKind::Plain, PolicyHashScheme::Legacy),
            (fcc_core::attester::PlatformKind::SevSnp, PolicyHashScheme::ChainBound { chain_id: 14 }),
            (fcc_core::attester::PlatformKind::Tdx, PolicyHashScheme::ChainBound { chain_id: 19 }),
        ] {
            let state = FccState { platform, policy_hash: scheme, version: "fcc-core/x".repeat(usize::from(i)) };
            let initial = (i > 0).then(|| (u32::from(i) * 7, rng.bytes()));
            let last = (i > 1).then(|| (u32::from(i) * 9, rng.bytes()));
            let s = Statement::new(14, rng.bytes(), *tee.public_key(), initial, last, &state, u64::from(i) << 40);
            let a = alloy_statement(&s);
            assert_eq!(s.encode(), a.abi_encode(), "abi.encode(Attestation)");
            assert_eq!(s.report_data(), alloy_report_data(&a));
            assert_eq!(s.tee_id(), tee.address());
            let fcc = <FccStateAbi as SolType>::abi_decode_validate(&s.state).unwrap();
            assert_eq!(fcc.platform.0, platform.id());
            assert_eq!(fcc.policyHashScheme.0, scheme.id());
            let chain = match scheme {
                PolicyHashScheme::ChainBound { chain_id } => chain_id,
                PolicyHashScheme::Legacy => 0,
            };
            assert_eq!(fcc.policyHashChainId, U256::from(chain));
            assert_eq!(fcc.version.as_ref(), state.version.as_bytes());
            let machine = MachineData {
                extension_id: rng.bytes(),
                initial_owner: rng.bytes(),
                code_hash: rng.bytes(),
                platform: platform.id(),
                public_key: *tee.public_key(),
                governance_hash: [0; 32],
            };
            let m = alloy_machine_data(&machine);
            assert_eq!(machine.hash(), keccak256(m.abi_encode()).0, "keccak(abi.encode(TeeMachineData))");
            let signature = vec![0x5a; usize::from(i) * 13];
            let answer = s.encode_answer(&machine, &signature, &[0xee; 45]);
            assert_eq!(
                alloy_tee_info(&answer),
                TeeInfo {
                    teeInfo: a,
                    machineData: m,
                    dataSignature: signature.into(),
                    evidence: vec![0xee; 45].into()
                }
            );
        }
    }
}

#[test]
fn tee_info_decodes_with_alloy() {
    let chain = 19;
    let mut tee = Tee::new(
        Config { chain_id: chain, policy_hash: PolicyHashScheme::Legacy, registration: None },
        &mut TestRng(10),
        fcc_core::ops::Registry::system(),
    )
    .unwrap();
    let info_action = |challenge: Vec<u8>| Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            instruction_id: [0x1f; 32],
            op_type: op::F_GET,
            op_command: op::TEE_INFO,
            original_message: challenge,
            ..Default::default()
        },
        votes: vec![],
    };
    let id = tee.state().identity.address();
    let public = *tee.state().identity.public_key();

    // Before INITIALIZE_POLICY: zero epochs and hashes; no challenge = zero challenge.
    let r = tee.handle(&info_action(vec![]), &mut Simulated);
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    let info = alloy_tee_info(&r.result.data);
    let a = &info.teeInfo;
    assert_eq!(a.challenge, B256::ZERO);
    assert_eq!(a.publicKey.x.0[..], public[..32]);
    assert_eq!(a.publicKey.y.0[..], public[32..]);
    assert_eq!(a.chainId, U256::from(chain));
    assert_eq!((a.initialSigningPolicyId, a.lastSigningPolicyId), (0, 0));
    assert_eq!((a.initialSigningPolicyHash, a.lastSigningPolicyHash), (B256::ZERO, B256::ZERO));
    assert_eq!((a.teeTimestamp, a.machinePathListNonce, a.machinePathListHash), (0, U256::ZERO, B256::ZERO));
    assert_eq!((a.state.systemState.len(), a.state.stateVersion.0), (0, name32("FCC_STATE_V1")));
    let fcc = <FccStateAbi as SolType>::abi_decode_validate(&a.state.state).unwrap();
    assert_eq!((fcc.platform.0, fcc.policyHashScheme.0), (name32("plain"), name32("LEGACY")));
    assert_eq!(info.evidence[..32], SIMULATED_MAGIC[..]);
    assert_eq!(info.evidence[32..], alloy_report_data(a)[..]);
    assert_eq!(
        alloy_recover(&r.signature, &alloy_result_digest(&r.result.data, [0x1f; 32], "submit", 1, chain)),
        Some(id)
    );
    // No owner fixed, no measurement: registration data with zero owner and code, unsigned.
    let m = &info.machineData;
    assert_eq!((m.initialOwner, m.codeHash, m.extensionId), (alloy_primitives::Address::ZERO, B256::ZERO, U256::ZERO));
    assert_eq!((m.platform.0, m.publicKey.x.0[..] == public[..32]), (name32("plain"), true));
    assert!(info.dataSignature.is_empty(), "nothing signed without an owner");

    // After: the trust root and the active policy, hashed with the configured scheme.
    let policy = epoch309();
    let init = Action {
        instruction: InstructionData {
            op_type: op::F_POLICY,
            op_command: op::INITIALIZE_POLICY,
            original_message: postcard::to_allocvec(&InitializePolicy { policy: policy.clone(), public_keys: vec![] })
                .unwrap(),
            ..info_action(vec![]).instruction
        },
        ..info_action(vec![])
    };
    let r = tee.handle(&init, &mut Simulated);
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    let summary = <PolicySummary as SolType>::abi_decode_validate(&r.result.data).unwrap();
    assert_eq!(r.result.data.len(), 64, "two static words, no offset word");
    assert_eq!(summary.rewardEpochId, 309);
    assert_eq!(summary.policyHash.0, hex32(EPOCH309_LEGACY));

    let challenge: [u8; 32] = TestRng(11).bytes();
    let r = tee.handle(&info_action(challenge.to_vec()), &mut Simulated);
    let info = alloy_tee_info(&r.result.data);
    let a = &info.teeInfo;
    assert_eq!(a.challenge.0, challenge);
    assert_eq!((a.initialSigningPolicyId, a.lastSigningPolicyId), (309, 309));
    assert_eq!(a.initialSigningPolicyHash.0, hex32(EPOCH309_LEGACY));
    assert_eq!(a.lastSigningPolicyHash.0, hex32(EPOCH309_LEGACY));
    assert_eq!(info.evidence[32..], alloy_report_data(a)[..]);

    // A challenge of another length is refused.
    let r = tee.handle(&info_action(vec![1; 31]), &mut Simulated);
    assert_eq!(r.result.status, status::ERROR);
    assert_eq!(r.result.additional_result_status, 105u16.to_be_bytes());
}

/// With an owner fixed and a measurement known, the TEE signs its registration data as Flare's
/// registry recovers it (alloy computes the digest, libsecp256k1 recovers); without either it
/// signs nothing.
#[test]
fn tee_info_carries_the_signed_registration_data() {
    let chain = 14;
    let registration = fcc_core::Registration {
        extension_id: U256::from(7u64).to_be_bytes(),
        owner: [0x0b; 20],
        governance: fcc_core::config::Governance::NONE,
    };
    let config = |registration| Config { chain_id: chain, policy_hash: PolicyHashScheme::Legacy, registration };
    let action = Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            instruction_id: [0x2f; 32],
            op_type: op::F_GET,
            op_command: op::TEE_INFO,
            ..Default::default()
        },
        votes: vec![],
    };
    let rom = [0x42u8; 48];
    let mut tee = Tee::new(config(Some(registration)), &mut TestRng(12), fcc_core::ops::Registry::system()).unwrap();
    let r = tee.handle(&action, &mut SimulatedRom(rom));
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    let info = alloy_tee_info(&r.result.data);
    let m = &info.machineData;
    assert_eq!(m.extensionId, U256::from(7u64));
    assert_eq!(m.initialOwner, alloy_primitives::Address::from([0x0b; 20]));
    assert_eq!(m.codeHash, keccak256(rom), "keccak of the 48-byte measurement");
    assert_eq!(m.platform.0, name32("plain"));
    assert_eq!(m.governanceHash, B256::ZERO);
    let signature: [u8; 65] = info.dataSignature.as_ref().try_into().expect("65 bytes");
    let digest = alloy_registration_digest(m, chain);
    assert_eq!(secp_recover(&signature, &digest), Some(tee.state().identity.address()));
    // The simulated evidence carries the ROM hash after the REPORT_DATA.
    assert_eq!(info.evidence[96..], rom[..]);

    // The same TEE without an owner, and with an owner but no measurement: unsigned.
    let mut bare = Tee::new(config(None), &mut TestRng(12), fcc_core::ops::Registry::system()).unwrap();
    let info = alloy_tee_info(&bare.handle(&action, &mut SimulatedRom(rom)).result.data);
    assert!(info.dataSignature.is_empty());
    assert_eq!(info.machineData.codeHash, keccak256(rom), "the code is still reported");
    let info = alloy_tee_info(&tee.handle(&action, &mut Simulated).result.data);
    assert!(info.dataSignature.is_empty());
    assert_eq!(info.machineData.codeHash, B256::ZERO);
}

// ---------------------------------------------------------------------------------------------
// docs/PROTOCOL.md: every vector printed there, computed here by fcc-core and cross-checked
// against alloy / libsecp256k1.

const PROTOCOL_MD: &str = include_str!("../../../docs/PROTOCOL.md");

/// The worked example of PROTOCOL.md.
mod example {
    use super::*;

    pub const CHAIN_ID: u64 = 14;
    pub const EPOCH: u32 = 1000;
    pub const START_ROUND: u32 = 3_360_000;
    pub const THRESHOLD: u16 = 500;
    pub const TIMESTAMP: u64 = 1_700_000_000;

    /// Provider 1: secret key 1 (address 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf).
    pub fn provider() -> Signer {
        let mut s = [0u8; 32];
        s[31] = 1;
        Signer::from_secret(s)
    }
    /// Provider 2: secret key 3 (address 0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69).
    pub fn provider2() -> Signer {
        let mut s = [0u8; 32];
        s[31] = 3;
        Signer::from_secret(s)
    }
    /// The TEE: secret key 2 (address 0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF).
    pub fn tee() -> TeeIdentity {
        let mut s = [0u8; 32];
        s[31] = 2;
        TeeIdentity::from_secret_for_tests(&s).unwrap()
    }
    pub fn seed() -> [u8; 32] {
        let mut s = [0u8; 32];
        for c in s.chunks_mut(2) {
            c.copy_from_slice(&[0x5e, 0xed]);
        }
        s
    }
    pub fn policy() -> Vec<u8> {
        policy_bytes(EPOCH, START_ROUND, THRESHOLD, seed(), &[(provider().address, 600), (provider2().address, 400)])
    }
    pub fn request() -> Vec<u8> {
        fdc2_request("EVMTransaction", "testETH", 0, [0x44; 20], &[1, 2, 3, 4, 5])
    }
    pub fn instruction() -> InstructionData {
        InstructionData {
            instruction_id: [0x11; 32],
            tee_id: tee().address(),
            timestamp: TIMESTAMP,
            reward_epoch_id: EPOCH,
            op_type: op::F_FDC2,
            op_command: op::PROVE,
            cosigners: vec![[0x33; 20]],
            cosigners_threshold: 1,
            original_message: request(),
            additional_fixed_message: vec![0xa1, 0xa2, 0xa3],
        }
    }
    pub const AVM: [u8; 1] = [0xbb];
    pub fn challenge() -> [u8; 32] {
        core::array::from_fn(|i| i as u8 + 1)
    }
    pub fn result() -> ActionResult {
        ActionResult {
            id: [0x11; 32],
            submission_tag: SubmissionTag::Threshold,
            status: status::SUCCESS,
            log: String::new(),
            op_type: op::F_FDC2,
            op_command: op::PROVE,
            additional_result_status: vec![],
            version: String::new(),
            data: vec![0xde, 0xad, 0xbe, 0xef],
        }
    }
}

/// postcard's unsigned LEB128 varint.
fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// Every named vector of PROTOCOL.md, computed by fcc-core, each asserted equal to an independent
/// computation on the way.
fn protocol_vectors() -> Vec<(&'static str, Vec<u8>)> {
    use example::*;
    let mut v: Vec<(&'static str, Vec<u8>)> = Vec::new();

    // Policies.
    let pb = policy();
    let p = SigningPolicy::decode(&pb).unwrap();
    assert_eq!(p.encode(), pb);
    v.push(("policy.bytes", pb.clone()));
    let legacy = p.hash(PolicyHashScheme::Legacy);
    assert_eq!(legacy, alloy_legacy_hash(&pb));
    v.push(("policy.hash.legacy", legacy.to_vec()));
    let bound = p.hash(PolicyHashScheme::ChainBound { chain_id: CHAIN_ID });
    assert_eq!(bound, alloy_chain_bound_hash(&pb, CHAIN_ID));
    v.push(("policy.hash.chainBound14", bound.to_vec()));
    let e309 = SigningPolicy::decode(&epoch309()).unwrap();
    v.push(("epoch309.hash.legacy", e309.hash(PolicyHashScheme::Legacy).to_vec()));
    v.push(("epoch309.hash.chainBound14", e309.hash(PolicyHashScheme::ChainBound { chain_id: 14 }).to_vec()));
    v.push(("epoch309.hash.chainBound19", e309.hash(PolicyHashScheme::ChainBound { chain_id: 19 }).to_vec()));

    // F_POLICY messages.
    let init = InitializePolicy {
        policy: pb.clone(),
        public_keys: vec![PublicKey(provider().public), PublicKey(provider2().public)],
    };
    let init_pc = postcard::to_allocvec(&init).unwrap();
    let mut manual = varint(pb.len());
    manual.extend_from_slice(&pb);
    manual.push(2);
    for k in [provider().public, provider2().public] {
        manual.push(64);
        manual.extend_from_slice(&k);
    }
    assert_eq!(init_pc, manual, "postcard layout as documented");
    v.push(("initializePolicy.postcard", init_pc));
    let update_digest = eip191_hash(&bound);
    assert_eq!(update_digest, eip191_hash_message(alloy_chain_bound_hash(&pb, CHAIN_ID)).0);
    v.push(("updatePolicy.digest", update_digest.to_vec()));
    // The ids the proxy queues policy actions under (`fcc_core::action`), against alloy's keccak.
    let init_id = fcc_core::action::Action::initialize_policy(&init).instruction.instruction_id;
    assert_eq!(init_id, alloy_primitives::keccak256([b"INITIALIZE_POLICY".as_slice(), &pb].concat()).0);
    v.push(("initializePolicy.id", init_id.to_vec()));
    let update_id = fcc_core::action::update_policy_id(&pb);
    assert_eq!(update_id, alloy_primitives::keccak256([b"UPDATE_POLICY".as_slice(), &pb].concat()).0);
    v.push(("updatePolicy.id", update_id.to_vec()));

    // Instruction.
    let d = instruction();
    let req = request();
    let enc = d.abi_encode();
    assert_eq!(enc, to_alloy(&d).abi_encode());
    v.push(("fdc2.request", req.clone()));
    v.push(("instruction.abi", enc.clone()));
    let hash_fixed = d.hash_fixed();
    assert_eq!(hash_fixed, alloy_hash_fixed(&d));
    v.push(("instruction.hashFixed", hash_fixed.to_vec()));
    let avm_hash = fcc_keccak(&AVM);
    v.push(("instruction.avmHash", avm_hash.to_vec()));
    let data_hash = fcc_core::hash::keccak256_concat(&[&hash_fixed, &avm_hash]);
    assert_eq!(data_hash, alloy_data_hash(&d, &AVM));
    v.push(("instruction.dataHash", data_hash.to_vec()));
    let for_signing = payload_hash(&PREFIX_TEE_INSTRUCTION, CHAIN_ID, &data_hash);
    assert_eq!(for_signing, alloy_payload_hash("TEE_INSTRUCTION", CHAIN_ID, data_hash));
    v.push(("instruction.hashForSigning", for_signing.to_vec()));
    let digest = d.signing_digest(CHAIN_ID, &AVM);
    assert_eq!(digest, alloy_signing_digest(&d, CHAIN_ID, &AVM));
    assert_eq!(digest, eip191_hash(&for_signing));
    v.push(("instruction.digest", digest.to_vec()));
    let prov = provider();
    v.push(("provider1.address", prov.address.to_vec()));
    v.push(("provider2.address", provider2().address.to_vec()));
    let sig = prov.sign(&digest);
    assert_eq!(recover_address(&sig, &digest).unwrap(), prov.address);
    v.push(("instruction.signature", sig.to_vec()));
    let vote = Vote {
        signature: sig,
        additional_variable_message: AVM.to_vec(),
        hint: Some(SignerHint { signer_index: 0, r_y: Some(r_y(&sig)) }),
    };
    let vote_pc = postcard::to_allocvec(&vote).unwrap();
    let mut manual = vec![65];
    manual.extend_from_slice(&sig);
    manual.extend_from_slice(&[1, 0xbb, 1, 0, 1, 32]);
    manual.extend_from_slice(&r_y(&sig));
    assert_eq!(vote_pc, manual, "postcard layout as documented");
    v.push(("vote.rY", r_y(&sig).to_vec()));
    v.push(("vote.postcard", vote_pc));

    // TEE identity.
    let tee = tee();
    v.push(("tee.address", tee.address().to_vec()));
    v.push(("tee.publicKey", tee.public_key().to_vec()));
    // Its statement for the challenge: the example policy as trust root and active policy
    // (chain-bound), plain QEMU, version "example", the example instruction's timestamp.
    let fcc_state = FccState {
        platform: fcc_core::attester::PlatformKind::Plain,
        policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN_ID },
        version: "example".into(),
    };
    let statement = Statement::new(
        CHAIN_ID,
        challenge(),
        *tee.public_key(),
        Some((EPOCH, bound)),
        Some((EPOCH, bound)),
        &fcc_state,
        TIMESTAMP,
    );
    let by_alloy = alloy_statement(&statement);
    assert_eq!(statement.encode(), by_alloy.abi_encode());
    assert_eq!(statement.report_data(), alloy_report_data(&by_alloy));
    v.push(("statement.state", statement.state.clone()));
    v.push(("statement.abi", statement.encode()));
    v.push(("statement.hash", statement.hash().to_vec()));
    v.push(("statement.reportData", statement.report_data().to_vec()));
    // Its registration data: extension 1, owner 0x…0b, SEV-SNP, the code hash of the
    // measurement 00 01 … 2f (contracts/test's fixture), and its signature on chain 14.
    let mut owner = [0u8; 20];
    owner[19] = 0x0b;
    let measurement: Vec<u8> = (0u8..48).collect();
    let machine = MachineData {
        extension_id: U256::from(1u64).to_be_bytes(),
        initial_owner: owner,
        code_hash: fcc_keccak(&measurement),
        platform: fcc_core::attester::PlatformKind::SevSnp.id(),
        public_key: *tee.public_key(),
        governance_hash: [0; 32],
    };
    let by_alloy = alloy_machine_data(&machine);
    assert_eq!(machine.words().concat(), by_alloy.abi_encode());
    let digest = machine.signing_digest(CHAIN_ID);
    assert_eq!(digest, alloy_registration_digest(&by_alloy, CHAIN_ID));
    let signature = tee.sign_digest(&digest);
    assert_eq!(secp_recover(&signature, &digest), Some(tee.address()));
    v.push(("machineData.abi", by_alloy.abi_encode()));
    v.push(("machineData.hash", machine.hash().to_vec()));
    v.push(("machineData.digest", digest.to_vec()));
    v.push(("machineData.signature", signature.to_vec()));

    // Sealed state (simulated sealing, chain-bound hashes on chain 14): the TEE's secret, the
    // example policy as trust root, sealed one epoch later, no wallet keys and no machine paths
    // (their postcard: three empty lists, then an empty list, nonce 0 and a zero hash: 37
    // zero bytes). Key and nonce rebuilt with alloy.
    let config = fcc_core::Config {
        chain_id: CHAIN_ID,
        policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN_ID },
        registration: None,
    };
    let mut secret = [0u8; 32];
    secret[31] = 2;
    let state = SealedState {
        identity_secret: zeroize::Zeroizing::new(secret),
        trust_root: (EPOCH, bound),
        epoch: EPOCH + 1,
        wallets: Default::default(),
        paths: Default::default(),
    };
    let word = |x: u64| U256::from(x).to_be_bytes::<32>();
    let key = alloy_primitives::keccak256(
        [&seal::KEY_DOMAIN[..], &seal::SIMULATED_ROOT, &word(0), &[0u8; 8], &word(CHAIN_ID), &word(1)].concat(),
    );
    let mut plain = secret.to_vec();
    plain.extend_from_slice(&EPOCH.to_be_bytes());
    plain.extend_from_slice(&bound);
    plain.extend_from_slice(&(EPOCH + 1).to_be_bytes());
    plain.extend_from_slice(&[0; 3 + 34]);
    let nonce = alloy_primitives::keccak256([&seal::NONCE_DOMAIN[..], &key[..], &plain].concat());
    let blob = SealingKey::simulated(&config).seal(&state).unwrap();
    assert_eq!(&blob[..14], b"FCCS\x04\x00\0\0\0\0\0\0\0\0");
    assert_eq!(blob[14..26], nonce[..12]);
    let tag = fcc_core::aead::encrypt(&key.0, &nonce[..12].try_into().unwrap(), &blob[..14], &mut plain).unwrap();
    assert_eq!([&blob[..26], &plain[..], &tag[..]].concat(), blob.to_vec(), "layout as documented");
    assert_eq!(SealingKey::simulated(&config).open(&blob).unwrap(), state);
    v.push(("sealed.simulatedKey", key.to_vec()));
    v.push(("sealed.blob", blob.to_vec()));
    // The same state under an SEV-SNP root key (0x11 × 32 stands in for MSG_KEY_REQ's answer)
    // derived at a Milan TCB_VERSION: the root version sits in the header and in the key.
    let tcb = [3, 0, 0, 0, 0, 0, 8, 115];
    let snp_key = alloy_primitives::keccak256(
        [&seal::KEY_DOMAIN[..], &[0x11; 32], &word(1), &tcb, &word(CHAIN_ID), &word(1)].concat(),
    );
    let snp = SealingKey::derive(&[0x11; 32], fcc_core::attester::PlatformKind::SevSnp, tcb, &config);
    let snp_blob = snp.seal(&state).unwrap();
    assert_eq!(&snp_blob[..14], [&b"FCCS\x04\x01"[..], &tcb].concat());
    assert_eq!(seal::root_version(&snp_blob), Some(tcb));
    let mut plain = secret.to_vec();
    plain.extend_from_slice(&EPOCH.to_be_bytes());
    plain.extend_from_slice(&bound);
    plain.extend_from_slice(&(EPOCH + 1).to_be_bytes());
    plain.extend_from_slice(&[0; 3 + 34]);
    let nonce = alloy_primitives::keccak256([&seal::NONCE_DOMAIN[..], &snp_key[..], &plain].concat());
    let tag =
        fcc_core::aead::encrypt(&snp_key.0, &nonce[..12].try_into().unwrap(), &snp_blob[..14], &mut plain).unwrap();
    assert_eq!([&snp_blob[..14], &nonce[..12], &plain[..], &tag[..]].concat(), snp_blob.to_vec());
    assert_eq!(snp.open(&snp_blob).unwrap(), state);
    v.push(("sealed.snpKey", snp_key.to_vec()));
    v.push(("sealed.snpBlob", snp_blob.to_vec()));

    // FDC2.
    let r = fdc2::decode_request(&req).unwrap();
    let (message_hash, header) = fdc2::message_hash(CHAIN_ID, &r, &d);
    assert_eq!((message_hash, header.clone()), alloy_fdc2_message_hash(CHAIN_ID, &req, &d));
    v.push(("fdc2.responseHeader", header.clone()));
    let fdc_data = fcc_core::hash::keccak256_concat(&[
        &fcc_keccak(&header),
        &fcc_keccak(r.request_body),
        &fcc_keccak(&d.additional_fixed_message),
    ]);
    assert_eq!(payload_hash(&PREFIX_FDC2, CHAIN_ID, &fdc_data), message_hash);
    v.push(("fdc2.dataHash", fdc_data.to_vec()));
    v.push(("fdc2.messageHash", message_hash.to_vec()));
    let fdc_digest = eip191_hash(&message_hash);
    v.push(("fdc2.digest", fdc_digest.to_vec()));
    let tee_sig = tee.sign_digest(&fdc_digest);
    assert_eq!(alloy_recover(&tee_sig, &fdc_digest), Some(tee.address()));
    v.push(("fdc2.teeSignature", tee_sig.to_vec()));

    // Results.
    for (name, tag) in
        [("tag.threshold", "threshold"), ("tag.end", "end"), ("tag.submit", "submit"), ("tag.refused", "refused")]
    {
        v.push((name, keccak256(tag).to_vec()));
    }
    let res = result();
    assert_eq!(res.hash(), alloy_result_hash(&res.data, res.id, "threshold", 1));
    v.push(("result.hash", res.hash().to_vec()));
    let res_payload = payload_hash(&PREFIX_TEE_ACTION_RESULT, CHAIN_ID, &res.hash());
    v.push(("result.hashForSigning", res_payload.to_vec()));
    let res_digest = res.signing_digest(CHAIN_ID);
    assert_eq!(res_digest, alloy_result_digest(&res.data, res.id, "threshold", 1, CHAIN_ID));
    v.push(("result.digest", res_digest.to_vec()));
    let res_sig = tee.sign_digest(&res_digest);
    assert_eq!(secp_recover(&res_sig, &res_digest), Some(tee.address()));
    v.push(("result.signature", res_sig.to_vec()));
    // The same id refused (InsufficientWeight, code 307): tag `refused`, status 0, no data,
    // signed under TEE_ACTION_REFUSAL.
    let refusal = ActionResult {
        submission_tag: SubmissionTag::Refused,
        status: 0,
        data: vec![],
        log: "not signed".into(),
        additional_result_status: 307u16.to_be_bytes().to_vec(),
        ..res.clone()
    };
    assert_eq!(refusal.hash(), alloy_result_hash(&[], res.id, "refused", 0));
    v.push(("refusal.hash", refusal.hash().to_vec()));
    let refusal_payload = payload_hash(&PREFIX_TEE_ACTION_REFUSAL, CHAIN_ID, &refusal.hash());
    assert_eq!(refusal_payload, alloy_payload_hash("TEE_ACTION_REFUSAL", CHAIN_ID, refusal.hash()));
    v.push(("refusal.hashForSigning", refusal_payload.to_vec()));
    let refusal_digest = refusal.signing_digest(CHAIN_ID);
    assert_eq!(refusal_digest, alloy_result_digest(&[], res.id, "refused", 0, CHAIN_ID));
    v.push(("refusal.digest", refusal_digest.to_vec()));
    let refusal_sig = tee.sign_digest(&refusal_digest);
    assert_eq!(secp_recover(&refusal_sig, &refusal_digest), Some(tee.address()));
    v.push(("refusal.signature", refusal_sig.to_vec()));

    // Compute extensions (§8.9): extension 1, the code of a 48-byte measurement 00 01 … 2f.
    let measurement: [u8; 48] = core::array::from_fn(|i| i as u8);
    let code_hash = fcc_core::extension::code_hash(Some(&measurement));
    assert_eq!(code_hash, keccak256(measurement).0);
    let extension_id = U256::from(1).to_be_bytes::<32>();
    let (ext_type, ext_command) = (op::name("DATA_INTEGRITY"), op::name("PROVE"));
    let envelope = fcc_core::extension::envelope(&extension_id, &code_hash, &ext_type, &ext_command, &res.data);
    let by_alloy = (
        U256::from(1),
        B256::from(code_hash),
        B256::from(ext_type),
        B256::from(ext_command),
        Bytes::from(res.data.clone()),
    )
        .abi_encode_params();
    assert_eq!(envelope, by_alloy);
    v.push(("extension.envelope", envelope.clone()));
    let ext_result = ActionResult { op_type: ext_type, op_command: ext_command, data: envelope, ..res.clone() };
    let ext_digest = ext_result.signing_digest(CHAIN_ID);
    assert_eq!(ext_digest, alloy_result_digest(&ext_result.data, res.id, "threshold", 1, CHAIN_ID));
    let ext_sig = tee.sign_digest(&ext_digest);
    assert_eq!(secp_recover(&ext_sig, &ext_digest), Some(tee.address()));
    v.push(("extension.result.signature", ext_sig.to_vec()));
    let domain = op::name("TEMPLATE");
    let data_hash = [0x22; 32];
    let digest = fcc_core::extension::signing_digest(CHAIN_ID, &extension_id, &domain, &data_hash);
    let inner = keccak256((U256::from(1), B256::from(domain), B256::from(data_hash)).abi_encode());
    assert_eq!(digest, eip191_hash_message(alloy_payload_hash("TEE_EXTENSION", CHAIN_ID, inner.0)).0);
    v.push(("extension.digest", digest.to_vec()));
    let ext_signature = tee.sign_digest(&digest);
    assert_eq!(secp_recover(&ext_signature, &digest), Some(tee.address()));
    v.push(("extension.signature", ext_signature.to_vec()));

    // Frames.
    let pull = wire::encode_frame(&GuestMessage::Pull { max_actions: 1 }).unwrap();
    v.push(("frame.pull", pull));

    // The link greeting: the example TEE answers the challenge 0x01…20 on chain 14 (a fresh
    // guest, simulated evidence over REPORT_DATA with a zero challenge, version "example").
    let boot = Statement::new(CHAIN_ID, [0; 32], *tee.public_key(), None, None, &fcc_state, 0);
    let hello = wire::Hello {
        tee_id: tee.address(),
        public_key: PublicKey(*tee.public_key()),
        platform: fcc_core::attester::PlatformKind::Plain,
        chain_id: CHAIN_ID,
        version: "example".into(),
        attestation: [&SIMULATED_MAGIC[..], &boot.report_data()].concat(),
        statement: Box::new(boot),
        initial_policy: None,
        active_epoch: None,
        sealed: None,
        link_signature: [0; 65],
    };
    let unsigned = postcard::to_allocvec(&hello).unwrap();
    let link_digest = wire::link_digest(&challenge(), &hello).unwrap();
    let word = |x: u64| U256::from(x).to_be_bytes::<32>();
    let by_alloy =
        keccak256([&wire::LINK_DOMAIN[..], &word(CHAIN_ID), &challenge(), &keccak256(&unsigned)[..]].concat());
    assert_eq!(link_digest, by_alloy.0);
    let link_signature = tee.sign_digest(&link_digest);
    assert_eq!(secp_recover(&link_signature, &link_digest), Some(tee.address()));
    let signed = wire::Hello { link_signature, ..hello };
    assert_eq!(signed.verify_link(&challenge()), Ok(()));
    v.push(("link.helloUnsigned", unsigned));
    v.push(("link.digest", link_digest.to_vec()));
    v.push(("link.signature", link_signature.to_vec()));
    let challenge_frame = wire::encode_frame(&wire::ProxyMessage::Challenge { nonce: challenge() }).unwrap();
    v.push(("frame.challenge", challenge_frame));
    // Host data for an extension (§8.9): the guest asks for 100,000 bytes of object 0x22…22 for
    // instruction 0x11…11; the proxy's chunk of three bytes at offset 65,536. By hand: length,
    // version 7, variant (NeedData 4, Data 3), the words raw, the integers as LEB128 varints.
    let need =
        wire::encode_frame(&GuestMessage::NeedData { id: [0x11; 32], object: [0x22; 32], offset: 0, len: 100_000 })
            .unwrap();
    let by_hand = [&[0, 0, 0, 70, 7, 4][..], &[0x11; 32], &[0x22; 32], &[0], &[0xa0, 0x8d, 0x06]].concat();
    assert_eq!(need, by_hand);
    v.push(("frame.needData", need));
    let data =
        wire::encode_frame(&wire::ProxyMessage::Data { id: [0x11; 32], offset: 65_536, bytes: vec![1, 2, 3] }).unwrap();
    let by_hand = [&[0, 0, 0, 41, 7, 3][..], &[0x11; 32], &[0x80, 0x80, 0x04], &[3, 1, 2, 3]].concat();
    assert_eq!(data, by_hand);
    v.push(("frame.data", data));
    wallet_vectors(&mut v);
    xrpl_vectors(&mut v);
    btc_vectors(&mut v);
    v
}

alloy_sol_types::sol! {
    struct WPubKey { bytes32 x; bytes32 y; }
    struct WKeyConfigConstants { WPubKey[] adminsPublicKeys; uint64 adminsThreshold; address[] cosigners; uint64 cosignersThreshold; }
    struct WKeyGenerate { address teeId; bytes32 walletId; uint64 keyId; bytes32 keyType; bytes32 signingAlgo; WKeyConfigConstants configConstants; }
    struct WKeyDelete { address teeId; bytes32 walletId; uint64 keyId; uint256 nonce; }
    struct WKeyExistence { address teeId; bytes32 walletId; uint64 keyId; bytes32 keyType; bytes32 signingAlgo; bytes publicKey; uint256 nonce; bool restored; WKeyConfigConstants configConstants; bytes32 settingsVersion; bytes settings; }
}

/// §8.4: the example TEE's wallet key 7 of wallet 0x22…22 (secret key 4), administered by the
/// two example providers (2 of 2), co-signed by provider 2.
/// XRPL (§8.5): Flare's example payment and its nullification signed by xrpl.js's signAs key A
/// and rippled's test key B (tests/xrpl.rs checks them against the external vectors).
fn xrpl_vectors(v: &mut Vec<(&'static str, Vec<u8>)>) {
    use fcc_core::wallet::{ConfigConstants, KEY_TYPE_XRP, KeyIdPair, Wallet, XRP_SIGN_ALGO};
    use fcc_core::xrpl::{address, tx};
    let key = |hex32: &str| {
        let secret = k256::SecretKey::from_slice(&hex::decode(hex32).unwrap()).unwrap();
        let id = KeyIdPair { wallet_id: [1; 32], key_id: 1 };
        Wallet::new(id, KEY_TYPE_XRP, XRP_SIGN_ALGO, secret, false, ConfigConstants::default())
    };
    let a = key("01080EC4673A7296598091E712B58591065C21294F117F7AD69C104517EC7B64");
    let b = key("1ACAAEDECE405B2A958212629E16F2EB46B153EEE94CDD350FDEFF52795525B7");
    let account = |text: &str| address::decode(text).unwrap().account;
    let payment = tx::Transaction {
        account: account("rGYYWKxT1XgNipUJouCq4cKiyAdq8xBoE9"),
        sequence: 10,
        fee: 10,
        kind: tx::Kind::Payment {
            destination: account("rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe"),
            destination_tag: None,
            drops: 10,
        },
        memo: Some(keccak256(b"test").0),
    };
    let nullify = tx::Transaction { kind: tx::Kind::Nullify, ..payment };
    let mut ten = [0u8; 32];
    ten[31] = 10;
    let message = fcc_core::xrpl::payment::PaymentMessage {
        wallet_id: {
            let mut w = [0u8; 32];
            w[0] = 1;
            w
        },
        key_pairs: vec![([0x11; 20], 1)],
        source_id: [0; 32],
        sender: "rGYYWKxT1XgNipUJouCq4cKiyAdq8xBoE9".into(),
        recipient: "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe".into(),
        token_id: vec![],
        amount: ten,
        max_fee: ten,
        fee_schedule: hex::decode("2710000013880005d8f0000a").unwrap(),
        payment_reference: keccak256(b"test").0,
        nonce: 10,
        payment_id: 7,
    };
    let encoded = message.encode();
    let tiers = fcc_core::xrpl::payment::PaymentMessage::decode(&encoded).unwrap().transactions().unwrap();
    assert_eq!((tiers[0].1, tiers[2].1), (payment, nullify));
    v.push(("xrpl.payment.message", encoded));
    v.push(("xrpl.payment.commitment", payment.payment_commitment().unwrap().to_vec()));
    for (name, t) in [("payment", payment), ("nullify", nullify)] {
        let signers = [a.xrpl_multisign(&t).unwrap(), b.xrpl_multisign(&t).unwrap()];
        let blob = t.multisigned(&signers).unwrap();
        let (fields, digest_a, full, id): (&'static str, &'static str, &'static str, &'static str) = match name {
            "payment" => {
                ("xrpl.payment.signingFields", "xrpl.payment.digestA", "xrpl.payment.multisigned", "xrpl.payment.txId")
            }
            _ => {
                ("xrpl.nullify.signingFields", "xrpl.nullify.digestA", "xrpl.nullify.multisigned", "xrpl.nullify.txId")
            }
        };
        v.push((fields, t.signing_blob().unwrap()));
        v.push((digest_a, t.multisign_digest(&signers[0].account).unwrap().to_vec()));
        v.push((full, blob.clone()));
        v.push((id, tx::tx_id(&blob).to_vec()));
    }
}

/// Bitcoin (§8.8): a 2-input payment of a 2-of-3 wallet (keys 0x11…, 0x22…, 0x33…), its first
/// tier's unsigned transaction, id, BIP143 hash and key 0x11…'s signature of input 0, and the
/// nullify tier (tests/engine.rs has Bitcoin Core and python-bitcoinlib judge these shapes).
fn btc_vectors(v: &mut Vec<(&'static str, Vec<u8>)>) {
    use fcc_core::btc::payment::{BtcPaymentMessage, Utxo};
    use fcc_core::wallet::{BTC_SIGN_ALGO, ConfigConstants, KEY_TYPE_BTC, KeyIdPair, Wallet};
    let key = |b: u8| {
        let secret = k256::SecretKey::from_slice(&[b; 32]).unwrap();
        let id = KeyIdPair { wallet_id: [1; 32], key_id: 1 };
        Wallet::new(id, KEY_TYPE_BTC, BTC_SIGN_ALGO, secret, false, ConfigConstants::default())
    };
    let keys = [key(0x11), key(0x22), key(0x33)];
    let word = |x: u64| U256::from(x).to_be_bytes::<32>();
    let message = BtcPaymentMessage {
        wallet_id: [1; 32],
        key_pairs: vec![([0x11; 20], 1)],
        source_id: [0; 32],
        threshold: 2,
        public_keys: keys.iter().map(Wallet::compressed_public).collect(),
        inputs: vec![
            Utxo { txid: [0xa1; 32], vout: 0, value: 60_000 },
            Utxo { txid: [0xb2; 32], vout: 3, value: 50_000 },
        ],
        recipient_script: [&[0x00, 0x14][..], &[0x77; 20]].concat(),
        amount: word(70_000),
        max_fee: word(2_000),
        fee_schedule: vec![0x27, 0x10, 0, 0, 0xd8, 0xf0, 0, 0x0a],
        payment_reference: keccak256(b"btc").0,
        nonce: 5,
        payment_id: 1,
    };
    let encoded = message.encode();
    assert_eq!(BtcPaymentMessage::decode(&encoded).unwrap(), message);
    let tiers = message.transactions().unwrap();
    let script = message.witness_script().unwrap();
    let (payment, nullify) = (&tiers[0].1, &tiers[1].1);
    v.push(("btc.payment.message", encoded));
    v.push(("btc.payment.witnessScript", script.clone()));
    v.push(("btc.payment.commitment", message.commitment().unwrap().to_vec()));
    v.push(("btc.payment.tx", payment.serialize_unsigned().unwrap()));
    v.push(("btc.payment.txid", payment.txid().unwrap().to_vec()));
    v.push(("btc.payment.sighash0", payment.sighash_all(0, &script).unwrap().to_vec()));
    v.push(("btc.payment.signature0", keys[0].btc_sign_input(payment, 0, &script).unwrap()));
    v.push(("btc.nullify.tx", nullify.serialize_unsigned().unwrap()));
}

fn wallet_vectors(v: &mut Vec<(&'static str, Vec<u8>)>) {
    use example::*;
    use fcc_core::wallet::backup::KeySplitData;
    use fcc_core::wallet::codec::{self, BackupId, KeyDelete, KeyGenerate};
    use fcc_core::wallet::{ConfigConstants, EVM_SIGN_ALGO, KEY_TYPE_EVM, KeyIdPair, Wallet};
    let tee = tee();
    let (p1, p2) = (provider(), provider2());
    let config = ConfigConstants {
        admins: vec![p1.public, p2.public],
        admins_threshold: 2,
        cosigners: vec![p2.address],
        cosigners_threshold: 1,
    };
    let pk = |k: &[u8; 64]| WPubKey { x: B256::from_slice(&k[..32]), y: B256::from_slice(&k[32..]) };
    let alloy_config = WKeyConfigConstants {
        adminsPublicKeys: vec![pk(&p1.public), pk(&p2.public)],
        adminsThreshold: 2,
        cosigners: vec![Address::from(p2.address)],
        cosignersThreshold: 1,
    };
    let id = KeyIdPair { wallet_id: [0x22; 32], key_id: 7 };
    let generate = KeyGenerate {
        tee_id: tee.address(),
        id,
        key_type: KEY_TYPE_EVM,
        signing_algo: EVM_SIGN_ALGO,
        config: config.clone(),
    };
    let by_alloy = WKeyGenerate {
        teeId: Address::from(tee.address()),
        walletId: B256::from([0x22; 32]),
        keyId: 7,
        keyType: B256::from(KEY_TYPE_EVM),
        signingAlgo: B256::from(EVM_SIGN_ALGO),
        configConstants: alloy_config.clone(),
    }
    .abi_encode();
    assert_eq!(generate.encode(), by_alloy);
    v.push(("wallet.keyGenerate", by_alloy));
    let delete = KeyDelete { tee_id: tee.address(), id, nonce: 5 };
    let by_alloy = WKeyDelete {
        teeId: Address::from(tee.address()),
        walletId: B256::from([0x22; 32]),
        keyId: 7,
        nonce: U256::from(5),
    }
    .abi_encode();
    assert_eq!(delete.encode(), by_alloy);
    v.push(("wallet.keyDelete", by_alloy));

    let mut four = [0u8; 32];
    four[31] = 4;
    let secret = k256::SecretKey::from_bytes(&four.into()).unwrap();
    let wallet = Wallet::new(id, KEY_TYPE_EVM, EVM_SIGN_ALGO, secret, false, config);
    let existence = codec::key_existence(&tee.address(), &wallet, 0);
    let by_alloy = WKeyExistence {
        teeId: Address::from(tee.address()),
        walletId: B256::from([0x22; 32]),
        keyId: 7,
        keyType: B256::from(KEY_TYPE_EVM),
        signingAlgo: B256::from(EVM_SIGN_ALGO),
        publicKey: wallet.public.to_vec().into(),
        nonce: U256::ZERO,
        restored: false,
        configConstants: alloy_config,
        settingsVersion: B256::ZERO,
        settings: Default::default(),
    }
    .abi_encode();
    assert_eq!(existence, by_alloy);
    v.push(("wallet.keyExistence", existence.clone()));
    let digest = eip191_hash_message(alloy_payload_hash("TEE_KEY_EXISTENCE", CHAIN_ID, keccak256(&existence).0)).0;
    let signature = tee.sign_digest(&digest);
    assert_eq!(secp_recover(&signature, &digest), Some(tee.address()));
    v.push(("wallet.keyExistence.digest", digest.to_vec()));
    v.push(("wallet.keyExistence.signature", signature.to_vec()));

    // A key split: provider 1's (not an admin part) two shares of a backup made at epoch 9.
    let backup_id = BackupId {
        tee_id: tee.address(),
        id,
        public_key: wallet.public,
        key_type: KEY_TYPE_EVM,
        signing_algo: EVM_SIGN_ALGO,
        reward_epoch_id: 9,
        random_nonce: [0x55; 32],
    };
    let split = KeySplitData {
        shares: Some(vec![(1, [0x0a; 32]), (2, [0x0b; 32])]),
        backup_id,
        is_admin: false,
        owner: p1.public,
    };
    let json = split.to_json();
    let hash = alloy_payload_hash("PMW_KEY_SPLIT", CHAIN_ID, keccak256(json.as_bytes()).0);
    assert_eq!(split.sign_hash(CHAIN_ID), hash);
    let signature = wallet.sign(&hash).unwrap();
    // The wallet key signs keccak256(payload hash), no EIP-191 prefix.
    assert_eq!(secp_recover(&signature, &keccak256(hash).0), Some(wallet.address()));
    v.push(("wallet.keySplitData.json", json.as_bytes().to_vec()));
    v.push(("wallet.keySplit.signHash", hash.to_vec()));
    v.push(("wallet.keySplit.signature", signature.to_vec()));

    // The KeyBackupRegistry heartbeat of key (0x22…, 7) = secret 4, registry 0x4b…, extension
    // 1, reference block 5000 with hash 0x99…, latest backup hash 0x33…: id and data as the
    // contract computes and decodes them (alloy's `abi.encode`).
    let h = fcc_core::wallet::heartbeat::Heartbeat {
        id,
        registry: [0x4b; 20],
        extension_id: U256::from(1).to_be_bytes(),
        reference_block: 5_000,
        reference_hash: [0x99; 32],
        backup_hash: [0x33; 32],
    };
    let domain = B256::from(fcc_core::op::name("FCC_KEY_BACKUP_V2"));
    let registry = Address::from([0x4b; 20]);
    let by_alloy = keccak256(
        (domain, U256::from(CHAIN_ID), registry, U256::from(1), B256::from([0x22; 32]), 5_000u64).abi_encode_params(),
    );
    assert_eq!(h.backup_id(CHAIN_ID), by_alloy.0);
    v.push(("wallet.heartbeat.id", by_alloy.to_vec()));
    let record = (7u64, Address::from(wallet.address()), B256::from([0x33; 32])).abi_encode_params();
    let by_alloy = (
        domain,
        registry,
        U256::from(1),
        B256::from([0x22; 32]),
        5_000u64,
        5_000u64,
        B256::from([0x99; 32]),
        alloy_primitives::Bytes::from(record),
    )
        .abi_encode_params();
    assert_eq!(h.data(&wallet.address()), by_alloy);
    v.push(("wallet.heartbeat.data", by_alloy));
}

/// The ```` ```vectors ```` blocks of PROTOCOL.md.
fn doc_vectors() -> BTreeMap<String, Vec<u8>> {
    doc_vectors::parse(PROTOCOL_MD, "vectors")
}

/// Prints the vectors in PROTOCOL.md's format (`FCC_PRINT_VECTORS=1 cargo test -p fcc-core --test
/// kat print -- --nocapture`), to regenerate the document after a deliberate format change.
#[test]
fn print_protocol_vectors_on_request() {
    if std::env::var_os("FCC_PRINT_VECTORS").is_none() {
        return;
    }
    for (name, bytes) in protocol_vectors() {
        let h = hex::encode(&bytes);
        if h.len() <= 64 {
            println!("{name} = 0x{h}");
        } else {
            println!("{name} = 0x");
            for c in h.as_bytes().chunks(64) {
                println!("    {}", std::str::from_utf8(c).unwrap());
            }
        }
    }
}

#[test]
fn protocol_md_vectors_match_the_code() {
    let doc = doc_vectors();
    let code: BTreeMap<String, Vec<u8>> = protocol_vectors().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let doc_names: Vec<&String> = doc.keys().collect();
    let code_names: Vec<&String> = code.keys().collect();
    assert_eq!(doc_names, code_names, "PROTOCOL.md and kat.rs name different vectors");
    for (name, want) in &code {
        assert_eq!(hex::encode(&doc[name]), hex::encode(want), "PROTOCOL.md vector {name}");
    }
    // The epoch-309 values in the document are Flare's published ones.
    assert_eq!(doc["epoch309.hash.legacy"], hex32(EPOCH309_LEGACY));
    assert_eq!(doc["epoch309.hash.chainBound14"], hex32(EPOCH309_CHAIN14));
    assert_eq!(doc["epoch309.hash.chainBound19"], hex32(EPOCH309_CHAIN19));
    // Well-known addresses of secret keys 1, 2 and 3.
    assert_eq!(hex::encode(&doc["provider1.address"]), "7e5f4552091a69125d5dfcb7b8c2659029395bdf");
    assert_eq!(hex::encode(&doc["tee.address"]), "2b5ad5c4795c026514f8317c7a215e218dccd6cf");
    assert_eq!(hex::encode(&doc["provider2.address"]), "6813eb9362372eef6200f3b1dbc3f819671cba69");
    assert_eq!(hex::encode(&doc["frame.pull"]), "00000003070101");
}

/// Every error variant, as listed in PROTOCOL.md's error table.
fn all_errors() -> Vec<Error> {
    vec![
        Error::Truncated { what: "", need: 0, got: 0 },
        Error::TrailingBytes { what: "", extra: 0 },
        Error::TooLarge { what: "", len: 0, max: 0 },
        Error::TooMany { what: "", count: 0, max: 0 },
        Error::Malformed { what: "" },
        Error::PolicyNoVoters,
        Error::PolicyWeightOverflow { total: 0 },
        Error::PolicyDuplicateVoter { index: 0 },
        Error::PolicyUnsatisfiable { threshold: 0, total: 0 },
        Error::PolicyAlreadyInitialized,
        Error::PolicyNotInitialized,
        Error::PolicyEpochNotNext { active: 0, got: 0 },
        Error::PolicyEpochUnknown { active: 0, got: 0 },
        Error::PolicyMismatch,
        Error::PolicyRootMismatch,
        Error::PolicyBelowSealed { active: 0, sealed: 0 },
        Error::PolicyEpochAhead { active: 0, got: 0 },
        Error::PolicyUpdateGap { active: 0, got: 0 },
        Error::SignatureMalformed { index: 0 },
        Error::SignatureHighS { index: 0 },
        Error::SignatureInvalid { index: 0 },
        Error::UnknownSigner { index: 0 },
        Error::DuplicateSigner { index: 0 },
        Error::BadSignerHint { index: 0 },
        Error::InsufficientWeight { weight: 0, threshold: 0 },
        Error::InsufficientCosigners { count: 0, required: 0 },
        Error::BadCosignerList,
        Error::WrongTee,
        Error::Replayed,
        Error::UnknownOperation { op_type: [0; 32], op_command: [0; 32] },
        Error::OperationFailed { reason: "" },
        Error::ReplayFull { capacity: 0 },
        Error::ExtensionFailed { code: 0, reason: "" },
        Error::EntropyUnavailable,
        Error::UnsupportedVersion { got: 0 },
        Error::UnexpectedMessage,
        Error::SealedStateInvalid { what: "" },
    ]
}

#[test]
fn protocol_md_error_table_matches_the_code() {
    // Rows: | code | `Variant` | meaning | retry |
    let mut doc: BTreeMap<u16, String> = BTreeMap::new();
    for line in PROTOCOL_MD.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 5
            && let Ok(code) = cells[1].parse::<u16>()
            && cells[2].starts_with('`')
        {
            assert!(doc.insert(code, cells[2].trim_matches('`').to_string()).is_none(), "code {code} twice");
            let says_retry = match cells[4] {
                "yes" => true,
                "" | "no" => false,
                other => panic!("code {code}: retry column says {other:?}"),
            };
            assert_eq!(says_retry, fcc_core::error::retryable(code), "code {code}: retry column");
        }
    }
    let code: BTreeMap<u16, String> = all_errors()
        .iter()
        .map(|e| {
            let dbg = format!("{e:?}");
            let name = dbg.split([' ', '{', '(']).next().unwrap().to_string();
            (e.code(), name)
        })
        .collect();
    assert_eq!(code.len(), all_errors().len(), "codes are distinct");
    assert_eq!(doc, code);
}

#[test]
fn protocol_md_limits_match_the_code() {
    // Rows: | `NAME` | value | meaning |
    let mut doc: BTreeMap<String, usize> = BTreeMap::new();
    for line in PROTOCOL_MD.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 4
            && cells[1].starts_with("`MAX_") | cells[1].starts_with("`POLICY_") | cells[1].starts_with("`REPLAY_")
            && let Ok(v) = cells[2].replace(['_', ','], "").parse::<usize>()
        {
            doc.insert(cells[1].trim_matches('`').to_string(), v);
        }
    }
    let code: BTreeMap<String, usize> = [
        ("MAX_VOTERS", limits::MAX_VOTERS),
        ("MAX_TOTAL_WEIGHT", limits::MAX_TOTAL_WEIGHT as usize),
        ("POLICY_HEADER_LEN", limits::POLICY_HEADER_LEN),
        ("POLICY_VOTER_LEN", limits::POLICY_VOTER_LEN),
        ("MAX_POLICY_LEN", limits::MAX_POLICY_LEN),
        ("MAX_COSIGNERS", limits::MAX_COSIGNERS),
        ("MAX_SIGNATURES", limits::MAX_SIGNATURES),
        ("MAX_MESSAGE_LEN", limits::MAX_MESSAGE_LEN),
        ("MAX_WALLET_KEYS", limits::MAX_WALLET_KEYS),
        ("MAX_WALLET_RECORDS", limits::MAX_WALLET_RECORDS),
        ("MAX_WALLET_ADMINS", limits::MAX_WALLET_ADMINS),
        ("MAX_WALLET_COSIGNERS", limits::MAX_WALLET_COSIGNERS),
        ("MAX_SEALED_LEN", limits::MAX_SEALED_LEN),
        ("MAX_GOVERNANCE_SIGNERS", limits::MAX_GOVERNANCE_SIGNERS),
        ("MAX_MACHINE_PATHS", limits::MAX_MACHINE_PATHS),
        ("MAX_PATH_TEES", limits::MAX_PATH_TEES),
        ("MAX_KEY_PROOFS", limits::MAX_KEY_PROOFS),
        ("MAX_RESULT_DATA_LEN", limits::MAX_RESULT_DATA_LEN),
        ("MAX_ATTESTATION_LEN", limits::MAX_ATTESTATION_LEN),
        ("MAX_REASON_LEN", limits::MAX_REASON_LEN),
        ("MAX_STATE_LEN", limits::MAX_STATE_LEN),
        ("MAX_URL_LEN", limits::MAX_URL_LEN),
        ("MAX_FRAME_LEN", limits::MAX_FRAME_LEN),
        ("MAX_RESULT_FRAME_LEN", limits::MAX_RESULT_FRAME_LEN),
        ("MAX_BACKUP_DATA_LEN", limits::MAX_BACKUP_DATA_LEN),
        ("MAX_BACKUP_FRAME_LEN", limits::MAX_BACKUP_FRAME_LEN),
        ("MAX_SEALED_FRAME_LEN", limits::MAX_SEALED_FRAME_LEN),
        ("MAX_ACTIONS_PER_PULL", limits::MAX_ACTIONS_PER_PULL),
        ("MAX_EXTENSION_DATA_LEN", limits::MAX_EXTENSION_DATA_LEN as usize),
        ("MAX_DATA_CHUNK", limits::MAX_DATA_CHUNK),
        ("MAX_OUTPUT_LEN", fcc_core::extension::MAX_OUTPUT_LEN),
        ("REPLAY_CAPACITY", limits::REPLAY_CAPACITY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(doc, code);
}

/// The frame of the PROTOCOL.md example decodes back, and the version byte is checked.
#[test]
fn pull_frame_round_trip() {
    let frame = wire::encode_frame(&GuestMessage::Pull { max_actions: 1 }).unwrap();
    assert_eq!(frame, [0, 0, 0, 3, wire::PROTOCOL_VERSION, 1, 1]);
    assert_eq!(wire::decode_body::<GuestMessage>(&frame[4..]).unwrap(), GuestMessage::Pull { max_actions: 1 });
    assert_eq!(wire::decode_body::<GuestMessage>(&[1, 1, 1]), Err(Error::UnsupportedVersion { got: 1 }));
}
