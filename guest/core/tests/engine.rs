//! End-to-end tests of the engine: a `Tee` driven in-process with the simulated platform, fed
//! direct actions (`F_POLICY`, `F_GET`) and FDC2 `PROVE` instructions signed by simulated data
//! providers whose keys live in libsecp256k1. Every expected digest is computed with alloy, and
//! every refusal is checked for its precise reason.

mod common;

use alloy_primitives::{U256, eip191_hash_message};
use alloy_sol_types::{SolType, SolValue};

use common::*;
use fcc_core::action::{Action, ActionKind};
use fcc_core::attester::{SIMULATED_MAGIC, Simulated};
use fcc_core::error::Error;
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::{InitializePolicy, PublicKey, UpdatePolicy};
use fcc_core::limits::{MAX_COSIGNERS, MAX_MESSAGE_LEN, MAX_POLICY_LEN, MAX_SIGNATURES, MAX_VOTERS};
use fcc_core::op::{self, OpName};
use fcc_core::ops::Registry;
use fcc_core::policy::{PolicyHashScheme, flare_threshold};
use fcc_core::result::{SignedResult, SubmissionTag, status};
use fcc_core::seal::SealingKey;
use fcc_core::verify::{SignerHint, Vote};
use fcc_core::wire::{self, FrameReader, GuestMessage, ProxyMessage};
use fcc_core::{Config, Tee};

const CHAIN: u64 = 14;
const CHAIN_BOUND: PolicyHashScheme = PolicyHashScheme::ChainBound { chain_id: CHAIN };

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// A signing policy of test-pool keys.
struct Committee {
    epoch: u32,
    members: Vec<usize>,
    weights: Vec<u16>,
}

impl Committee {
    fn new(epoch: u32, members: &[usize], weights: &[u16]) -> Self {
        assert_eq!(members.len(), weights.len());
        Self { epoch, members: members.to_vec(), weights: weights.to_vec() }
    }
    fn signer(&self, position: usize) -> &'static Signer {
        &pool()[self.members[position]]
    }
    fn total(&self) -> u32 {
        self.weights.iter().map(|&w| u32::from(w)).sum()
    }
    fn bytes(&self) -> Vec<u8> {
        let voters: Vec<([u8; 20], u16)> =
            self.members.iter().zip(&self.weights).map(|(&m, &w)| (pool()[m].address, w)).collect();
        let threshold = flare_threshold(self.total()) as u16;
        policy_bytes(self.epoch, 1_000_000 + 3360 * self.epoch, threshold, [self.epoch as u8; 32], &voters)
    }
    fn keys(&self) -> Vec<PublicKey> {
        self.members.iter().map(|&m| PublicKey(pool()[m].public)).collect()
    }
    fn hash(&self, scheme: PolicyHashScheme) -> [u8; 32] {
        match scheme {
            PolicyHashScheme::Legacy => alloy_legacy_hash(&self.bytes()),
            PolicyHashScheme::ChainBound { chain_id } => alloy_chain_bound_hash(&self.bytes(), chain_id),
        }
    }
}

/// Weights 1, 9, 20, 30, 40 (total 100, threshold 50): 50 = 20 + 30 fails, 51 = 1 + 20 + 30 passes.
fn c100() -> Committee {
    Committee::new(100, &[0, 1, 2, 3, 4], &[1, 9, 20, 30, 40])
}
/// Five voters of weight 20; two of them (pool keys 3 and 4) also sat in c100.
fn c101() -> Committee {
    Committee::new(101, &[3, 4, 5, 6, 7], &[20, 20, 20, 20, 20])
}
fn c102() -> Committee {
    Committee::new(102, &[6, 7, 8], &[40, 30, 30])
}

/// Keys outside every committee.
fn outsider(i: usize) -> &'static Signer {
    &pool()[30 + i]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Hints {
    None,
    Index,
    IndexRy,
}
const ALL_HINTS: [Hints; 3] = [Hints::None, Hints::Index, Hints::IndexRy];

struct Net {
    tee: Tee,
    tee_id: [u8; 20],
    chain: u64,
    scheme: PolicyHashScheme,
    next_id: u32,
}

impl Net {
    fn new(scheme: PolicyHashScheme) -> Self {
        Self::on_chain(CHAIN, scheme, 7)
    }

    fn on_chain(chain: u64, scheme: PolicyHashScheme, seed: u64) -> Self {
        let tee = Tee::new(
            Config { chain_id: chain, policy_hash: scheme, registration: None },
            &mut TestRng(seed),
            Registry::system(),
        )
        .unwrap();
        let tee_id = tee.state().identity.address();
        Self { tee, tee_id, chain, scheme, next_id: 0 }
    }

    fn fresh_id(&mut self) -> [u8; 32] {
        self.next_id += 1;
        alloy_primitives::keccak256(self.next_id.to_be_bytes()).0
    }

    fn handle(&mut self, action: &Action) -> SignedResult {
        let r = self.tee.handle(action, &mut Simulated);
        self.check_signature(&r, action);
        r
    }

    /// Every result, success or refusal, is signed by the TEE over what alloy computes.
    fn check_signature(&self, r: &SignedResult, action: &Action) {
        let tag = match r.result.submission_tag {
            SubmissionTag::Threshold => "threshold",
            SubmissionTag::End => "end",
            SubmissionTag::Submit => "submit",
            SubmissionTag::Refused => "refused",
            SubmissionTag::KeyBackup => "key-backup",
        };
        assert_eq!(r.result.id, action.instruction.instruction_id);
        if r.result.is_refusal() {
            assert_eq!(r.result.status, status::ERROR, "only errors are refusals");
        } else {
            assert_eq!(r.result.submission_tag, action.submission_tag);
        }
        assert_eq!(
            (r.result.op_type, r.result.op_command),
            (action.instruction.op_type, action.instruction.op_command)
        );
        assert!(r.signature[64] <= 1, "v in {{0, 1}}");
        let digest = alloy_result_digest(&r.result.data, r.result.id, tag, r.result.status, self.chain);
        assert_eq!(alloy_recover(&r.signature, &digest), Some(self.tee_id), "result signature");
        assert_eq!(secp_recover(&r.signature, &digest), Some(self.tee_id));
    }

    fn direct(&mut self, op_type: OpName, op_command: OpName, message: Vec<u8>) -> Action {
        Action {
            kind: ActionKind::Direct,
            submission_tag: SubmissionTag::Submit,
            instruction: InstructionData {
                instruction_id: self.fresh_id(),
                op_type,
                op_command,
                original_message: message,
                ..Default::default()
            },
            votes: vec![],
        }
    }

    fn init_action(&mut self, c: &Committee, keys: bool) -> Action {
        let msg = InitializePolicy { policy: c.bytes(), public_keys: if keys { c.keys() } else { vec![] } };
        self.direct(op::F_POLICY, op::INITIALIZE_POLICY, postcard::to_allocvec(&msg).unwrap())
    }

    fn init(&mut self, c: &Committee, keys: bool) {
        let a = self.init_action(c, keys);
        let r = self.handle(&a);
        assert_ok(&r);
        let summary = <PolicySummary as SolType>::abi_decode_validate(&r.result.data).unwrap();
        assert_eq!((summary.rewardEpochId, summary.policyHash.0), (c.epoch, c.hash(self.scheme)));
    }

    /// UPDATE_POLICY to `new`, signed by the voters of `active` at `positions`.
    fn update_action(
        &mut self,
        new: &Committee,
        active: &Committee,
        positions: &[usize],
        hints: Hints,
        keys: bool,
    ) -> Action {
        let msg = self.update_message(new, active, positions, hints, keys);
        self.update_direct(&msg)
    }

    /// The UPDATE_POLICY message [`Net::update_action`] sends, for a test to alter first.
    fn update_message(
        &self,
        new: &Committee,
        active: &Committee,
        positions: &[usize],
        hints: Hints,
        keys: bool,
    ) -> UpdatePolicy {
        let digest = eip191_hash_message(new.hash(self.scheme)).0;
        let signatures = positions
            .iter()
            .map(|&p| {
                let sig = active.signer(p).sign(&digest);
                Vote { signature: sig, additional_variable_message: vec![], hint: hint(hints, p as u16, &sig) }
            })
            .collect();
        UpdatePolicy { policy: new.bytes(), signatures, public_keys: if keys { new.keys() } else { vec![] } }
    }

    /// The direct UPDATE_POLICY action carrying `msg`.
    fn update_direct(&mut self, msg: &UpdatePolicy) -> Action {
        self.direct(op::F_POLICY, op::UPDATE_POLICY, postcard::to_allocvec(msg).unwrap())
    }

    /// A `PROVE` instruction for this TEE citing `epoch`.
    fn prove_data(
        &mut self,
        epoch: u32,
        bips: u16,
        cosigners: Vec<[u8; 20]>,
        cosigners_threshold: u64,
    ) -> InstructionData {
        let id = self.fresh_id();
        InstructionData {
            instruction_id: id,
            tee_id: self.tee_id,
            timestamp: 1_700_000_000 + u64::from(self.next_id),
            reward_epoch_id: epoch,
            op_type: op::F_FDC2,
            op_command: op::PROVE,
            cosigners,
            cosigners_threshold,
            original_message: fdc2_request("EVMTransaction", "testETH", bips, [0x44; 20], &id[..7]),
            additional_fixed_message: b"the response body all providers agreed on".to_vec(),
        }
    }

    /// A `PROVE` instruction signed by the voters of `c` at `positions`.
    fn prove(&mut self, c: &Committee, positions: &[usize], hints: Hints) -> Action {
        let d = self.prove_data(c.epoch, 0, vec![], 0);
        let votes = positions.iter().map(|&p| vote(&d, self.chain, c.signer(p), p as u16, hints)).collect();
        instruction(d, votes)
    }

    fn assert_proved(&mut self, action: &Action) {
        let r = self.handle(action);
        assert_ok(&r);
        self.check_prove(action, &r);
    }

    /// The `PROVE` result: the response header is the one alloy builds, the bodies are echoed and
    /// the TEE signature recovers (alloy) over EIP-191(messageHash).
    fn check_prove(&self, action: &Action, r: &SignedResult) {
        let d = &action.instruction;
        let out = <ProveResponse as SolType>::abi_decode_validate(&r.result.data).unwrap();
        let (message_hash, header) = alloy_fdc2_message_hash(self.chain, &d.original_message, d);
        assert_eq!(out.responseHeader.to_vec(), header);
        assert_eq!(out.responseBody.to_vec(), d.additional_fixed_message);
        let req = <Fdc2AttestationRequest as SolType>::abi_decode_validate(&d.original_message).unwrap();
        assert_eq!(out.requestBody, req.requestBody);
        let sig: [u8; 65] = out.teeSignature.to_vec().try_into().unwrap();
        let digest = eip191_hash_message(message_hash).0;
        assert_eq!(alloy_recover(&sig, &digest), Some(self.tee_id), "teeSignature");
        assert_eq!(secp_recover(&sig, &digest), Some(self.tee_id));
    }

    fn authorise(&mut self, action: &Action) -> Result<fcc_core::verify::Tally, Error> {
        self.tee.authorise(action)
    }

    /// Handles `action` and expects the signed refusal `err` (code and log).
    fn refused(&mut self, action: &Action, err: Error) {
        let r = self.handle(action);
        assert_refused(&r, err);
    }
}

fn hint(hints: Hints, index: u16, sig: &[u8; 65]) -> Option<SignerHint> {
    match hints {
        Hints::None => None,
        Hints::Index => Some(SignerHint { signer_index: index, r_y: None }),
        Hints::IndexRy => Some(SignerHint { signer_index: index, r_y: Some(r_y(sig)) }),
    }
}

/// A provider's variable message: a few bytes depending on the signer (often empty).
fn avm_of(signer: &Signer) -> Vec<u8> {
    signer.address[..usize::from(signer.address[0] % 3)].to_vec()
}

/// `signer`'s vote on `d` for `chain`, hinted as candidate `index`.
fn vote(d: &InstructionData, chain: u64, signer: &Signer, index: u16, hints: Hints) -> Vote {
    let avm = avm_of(signer);
    let sig = signer.sign(&alloy_signing_digest(d, chain, &avm));
    Vote { signature: sig, additional_variable_message: avm, hint: hint(hints, index, &sig) }
}

fn instruction(d: InstructionData, votes: Vec<Vote>) -> Action {
    Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction: d, votes }
}

fn assert_ok(r: &SignedResult) {
    assert_eq!(r.result.status, status::SUCCESS, "refused: {}", r.result.log);
    assert!(r.result.log.is_empty());
    assert!(r.result.additional_result_status.is_empty());
}

fn assert_refused(r: &SignedResult, err: Error) {
    assert_eq!(r.result.status, status::ERROR, "expected {err:?}");
    assert_eq!(r.result.log, err.to_string());
    assert_eq!(r.result.additional_result_status, err.code().to_be_bytes(), "{}", r.result.log);
    assert!(r.result.data.is_empty());
}

/// The y coordinate negated mod p: the other point with the same x.
fn negate_y(y: [u8; 32]) -> [u8; 32] {
    let p = U256::from_be_bytes(hex32("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"));
    (p - U256::from_be_bytes(y)).to_be_bytes()
}

// ---------------------------------------------------------------------------------------------
// The happy path.

#[test]
fn initialize_then_prove_with_every_hint_mode() {
    for keys in [true, false] {
        let mut net = Net::new(CHAIN_BOUND);
        let c = c100();
        net.init(&c, keys);
        assert_eq!(net.tee.state().verifier.cached_keys(), if keys { 5 } else { 0 });
        for hints in ALL_HINTS {
            let a = net.prove(&c, &[0, 2, 3], hints);
            let t = net.authorise(&a).unwrap();
            assert_eq!((t.weight, t.cosigners), (51, 0));
            net.assert_proved(&a);
            let a = net.prove(&c, &[4, 3, 2, 1, 0], hints);
            net.assert_proved(&a);
        }
        // Recovery taught the verifier every key that signed.
        assert_eq!(net.tee.state().verifier.cached_keys(), 5);
    }
}

#[test]
fn legacy_hash_scheme_works_end_to_end() {
    let mut net = Net::new(PolicyHashScheme::Legacy);
    net.init(&c100(), true);
    let a = net.update_action(&c101(), &c100(), &[4, 3], Hints::IndexRy, true);
    assert_ok(&net.handle(&a));
    let a = net.prove(&c101(), &[0, 1, 2], Hints::IndexRy);
    net.assert_proved(&a);
}

#[test]
fn hello_and_tee_info_carry_the_identity_and_the_trust_root() {
    let mut net = Net::new(CHAIN_BOUND);
    let hello = net.tee.hello(&mut Simulated, &[0; 32]).unwrap();
    let public = *net.tee.state().identity.public_key();
    assert_eq!(hello.tee_id, net.tee_id);
    assert_eq!(hello.public_key.0, public);
    assert_eq!(hello.chain_id, CHAIN);
    assert_eq!((hello.initial_policy, hello.active_epoch), (None, None));
    assert_eq!(hello.attestation[..32], SIMULATED_MAGIC[..]);
    // The evidence binds the statement, and the statement is the greeting's.
    assert_eq!(
        hello.statement.encode(),
        <Attestation as alloy_sol_types::SolType>::abi_decode_validate(&hello.statement.encode()).unwrap().abi_encode()
    );
    assert_eq!(hello.attestation[32..], hello.statement.report_data()[..]);
    assert_eq!((hello.statement.public_key, hello.statement.challenge), (public, [0; 32]));
    GuestMessage::Hello(hello.clone()).validate().unwrap();
    // A statement that says otherwise than the greeting is refused.
    for lie in [
        fcc_core::wire::Hello { chain_id: CHAIN + 1, ..hello.clone() },
        fcc_core::wire::Hello { active_epoch: Some(3), ..hello.clone() },
        fcc_core::wire::Hello { initial_policy: Some((100, [1; 32])), ..hello.clone() },
        fcc_core::wire::Hello { platform: fcc_core::attester::PlatformKind::SevSnp, ..hello.clone() },
    ] {
        assert!(GuestMessage::Hello(lie).validate().is_err());
    }

    net.init(&c100(), false);
    let hello = net.tee.hello(&mut Simulated, &[0; 32]).unwrap();
    assert_eq!(hello.initial_policy, Some((100, c100().hash(CHAIN_BOUND))));
    assert_eq!(hello.active_epoch, Some(100));
    assert_eq!(hello.statement.last_policy, (100, c100().hash(CHAIN_BOUND)));
    GuestMessage::Hello(hello).validate().unwrap();
}

/// `F_REG/TEE_ATTESTATION` as the machine registry sends it (Flare's `TeeAttestation`, built
/// by alloy), signed by the providers like any instruction: the TEE answers its statement for
/// the registry's challenge and the instruction's signed timestamp, with evidence binding it.
#[test]
fn tee_attestation_answers_the_registrys_challenge() {
    let mut net = Net::new(CHAIN_BOUND);
    net.init(&c100(), false);
    let request = |tee: [u8; 20], challenge: [u8; 32]| {
        TeeAttestationRequest {
            teeMachine: TeeMachineAbi {
                teeId: tee.into(),
                initialTeeId: alloy_primitives::Address::ZERO,
                url: "https://proxy.example/".into(),
                codeHash: [0xc0; 32].into(),
                platform: name32("sev-snp").into(),
            },
            challenge: challenge.into(),
        }
        .abi_encode()
    };
    let attest = |net: &mut Net, message: Vec<u8>| {
        let mut d = net.prove_data(100, 0, vec![], 0);
        d.op_type = op::F_REG;
        d.op_command = op::TEE_ATTESTATION;
        d.original_message = message;
        let votes = [3, 4].iter().map(|&p| vote(&d, CHAIN, c100().signer(p), p as u16, Hints::Index)).collect();
        instruction(d, votes)
    };
    let me = net.tee_id;
    let a = attest(&mut net, request(me, [0x5c; 32]));
    let r = net.handle(&a);
    assert_ok(&r);
    let info = alloy_tee_info(&r.result.data);
    let s = &info.teeInfo;
    assert_eq!(s.challenge.0, [0x5c; 32]);
    assert_eq!(s.teeTimestamp, a.instruction.timestamp, "the instruction's signed time");
    assert_eq!((s.initialSigningPolicyId, s.lastSigningPolicyId), (100, 100));
    assert_eq!(s.lastSigningPolicyHash.0, c100().hash(CHAIN_BOUND));
    assert_eq!(info.evidence[32..], alloy_report_data(s)[..]);
    let decoded = fcc_core::ops::info::decode_attestation_request(&a.instruction.original_message).unwrap();
    assert_eq!((decoded.url, decoded.code_hash), (&b"https://proxy.example/"[..], [0xc0; 32]));

    // For another TEE, with a zero challenge, or not in canonical form: refused, signed.
    let other = attest(&mut net, request([9; 20], [0x5c; 32]));
    net.refused(&other, Error::OperationFailed { reason: "TEE_ATTESTATION is for another TEE" });
    let zero = attest(&mut net, request(me, [0; 32]));
    net.refused(&zero, Error::Malformed { what: "TEE_ATTESTATION challenge (zero)" });
    let mut trailing = request(me, [0x5c; 32]);
    trailing.extend_from_slice(&[0; 32]);
    let trailing = attest(&mut net, trailing);
    net.refused(&trailing, Error::TrailingBytes { what: "TEE_ATTESTATION request", extra: 32 });
    // Without the providers' weight it is not executed at all.
    let mut unsigned = attest(&mut net, request(me, [0x5d; 32]));
    unsigned.votes.truncate(1);
    assert!(net.authorise(&unsigned).is_err());
}

// ---------------------------------------------------------------------------------------------
// Thresholds.

#[test]
fn weight_at_the_threshold_is_refused_and_one_more_passes() {
    for hints in ALL_HINTS {
        let mut net = Net::new(CHAIN_BOUND);
        let c = c100();
        net.init(&c, true);
        // 20 + 30 = 50 = ceil(100 · 5000 / 10000): not strictly greater.
        let a = net.prove(&c, &[2, 3], hints);
        let err = Error::InsufficientWeight { weight: 50, threshold: 50 };
        assert_eq!(net.authorise(&a).unwrap_err(), err);
        net.refused(&a, err);
        // 1 + 9 + 40 = 50 as well.
        let a = net.prove(&c, &[0, 1, 4], hints);
        net.refused(&a, err);
        // 51.
        let a = net.prove(&c, &[0, 2, 3], hints);
        net.assert_proved(&a);
        // Nobody signed.
        let a = net.prove(&c, &[], hints);
        net.refused(&a, Error::InsufficientWeight { weight: 0, threshold: 50 });

        // FDC2 thresholdBIPS 6000: threshold 60; 20 + 40 = 60 refused, 1 + 20 + 40 = 61 passes.
        for (positions, ok) in [(&[2usize, 4][..], false), (&[0, 2, 4][..], true)] {
            let d = net.prove_data(100, 6000, vec![], 0);
            let votes = positions.iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, hints)).collect();
            let a = instruction(d, votes);
            if ok {
                net.assert_proved(&a);
            } else {
                net.refused(&a, Error::InsufficientWeight { weight: 60, threshold: 60 });
            }
        }
        // The threshold rule bounds: below 4000 or from 10000 up is refused before any signature.
        for bips in [1u16, 3999, 10_000, u16::MAX] {
            let d = net.prove_data(100, bips, vec![], 0);
            let votes = (0..5).map(|p| vote(&d, CHAIN, c.signer(p), p as u16, hints)).collect();
            net.refused(
                &instruction(d, votes),
                Error::OperationFailed { reason: "FDC2 thresholdBIPS outside [4000, 10000)" },
            );
        }
    }
}

#[test]
fn cosigner_thresholds() {
    for hints in ALL_HINTS {
        let mut net = Net::new(CHAIN_BOUND);
        let c = c100();
        net.init(&c, true);
        let cos: Vec<&Signer> = (0..3).map(outsider).collect();
        let cos_addrs: Vec<[u8; 20]> = cos.iter().map(|s| s.address).collect();
        let sign = |d: InstructionData, voters: &[usize], cosigners: &[usize]| {
            let mut votes: Vec<Vote> = voters.iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, hints)).collect();
            votes.extend(cosigners.iter().map(|&j| vote(&d, CHAIN, cos[j], (5 + j) as u16, hints)));
            instruction(d, votes)
        };

        // Two of three cosigners required: one is not enough, two are, three are.
        for (signed, ok) in [(&[][..], false), (&[1usize][..], false), (&[0, 2][..], true), (&[2, 1, 0][..], true)] {
            let d = net.prove_data(100, 0, cos_addrs.clone(), 2);
            let a = sign(d, &[3, 4], signed);
            if ok {
                let t = net.authorise(&a).unwrap();
                assert_eq!((t.weight, u64::from(t.cosigners)), (70, signed.len() as u64));
                net.assert_proved(&a);
            } else {
                net.refused(&a, Error::InsufficientCosigners { count: signed.len() as u16, required: 2 });
            }
        }
        // Cosigners add no weight.
        let d = net.prove_data(100, 0, cos_addrs.clone(), 1);
        let a = sign(d, &[3], &[0, 1, 2]);
        net.refused(&a, Error::InsufficientWeight { weight: 30, threshold: 50 });

        // A voter who is also a listed cosigner counts in both tallies.
        let both = vec![c.signer(3).address, cos[0].address];
        let d = net.prove_data(100, 0, both, 2);
        let votes = vec![
            vote(&d, CHAIN, c.signer(3), 3, hints),
            vote(&d, CHAIN, c.signer(4), 4, hints),
            vote(&d, CHAIN, cos[0], 6, hints),
        ];
        let a = instruction(d, votes);
        let t = net.authorise(&a).unwrap();
        assert_eq!((t.weight, t.cosigners), (70, 2));
        net.assert_proved(&a);
        // ...and signs only once: with just the voter-cosigner, one cosigner of two.
        let both = vec![c.signer(3).address, cos[0].address];
        let d = net.prove_data(100, 0, both, 2);
        let votes = vec![vote(&d, CHAIN, c.signer(3), 3, hints), vote(&d, CHAIN, c.signer(4), 4, hints)];
        net.refused(&instruction(d, votes), Error::InsufficientCosigners { count: 1, required: 2 });

        // FDC2 below 50 %: needs a cosigner majority (cosignersThreshold · 2 > cosigners).
        let d = net.prove_data(100, 4500, cos_addrs.clone(), 1);
        let a = sign(d, &[1, 4], &[0, 1, 2]);
        net.refused(&a, Error::OperationFailed { reason: "FDC2 threshold below 50% needs a cosigner majority" });
        // With a majority, weight 49 > ceil(100 · 0.45) = 45 passes; 40 does not.
        let d = net.prove_data(100, 4500, cos_addrs.clone(), 2);
        let a = sign(d, &[1, 4], &[0, 1]);
        net.assert_proved(&a);
        let d = net.prove_data(100, 4500, cos_addrs.clone(), 2);
        let a = sign(d, &[4], &[0, 1]);
        net.refused(&a, Error::InsufficientWeight { weight: 40, threshold: 45 });
    }
}

#[test]
fn malformed_cosigner_lists_are_refused() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let x = outsider(0).address;
    for (list, threshold) in [(vec![x, x], 1u64), (vec![x], 2), (vec![], 1)] {
        let d = net.prove_data(100, 0, list, threshold);
        let votes = (0..5).map(|p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::None)).collect();
        net.refused(&instruction(d, votes), Error::BadCosignerList);
    }
    let d = net.prove_data(100, 0, (0..=MAX_COSIGNERS).map(|i| [i as u8; 20]).collect(), 0);
    net.refused(
        &instruction(d, vec![]),
        Error::TooMany { what: "cosigners", count: MAX_COSIGNERS + 1, max: MAX_COSIGNERS },
    );
}

// ---------------------------------------------------------------------------------------------
// Signatures.

#[test]
fn duplicate_signatures_are_refused() {
    for hints in ALL_HINTS {
        let mut net = Net::new(CHAIN_BOUND);
        let c = c100();
        net.init(&c, true);
        let a = net.prove(&c, &[3, 4, 4], hints);
        assert_eq!(net.authorise(&a).unwrap_err(), Error::DuplicateSigner { index: 2 });
        net.refused(&a, Error::DuplicateSigner { index: 2 });
        // The same voter twice with different variable messages (two distinct signatures).
        let d = net.prove_data(100, 0, vec![], 0);
        let mut votes = vec![vote(&d, CHAIN, c.signer(4), 4, hints), vote(&d, CHAIN, c.signer(3), 3, hints)];
        let avm = b"second opinion".to_vec();
        let sig = c.signer(4).sign(&alloy_signing_digest(&d, CHAIN, &avm));
        votes.insert(1, Vote { signature: sig, additional_variable_message: avm, hint: hint(hints, 4, &sig) });
        net.refused(&instruction(d, votes), Error::DuplicateSigner { index: 1 });
    }
}

#[test]
fn signers_outside_the_policy_are_refused() {
    for hints in ALL_HINTS {
        let mut net = Net::new(CHAIN_BOUND);
        let c = c100();
        net.init(&c, true);
        let d = net.prove_data(100, 0, vec![], 0);
        let mut votes: Vec<Vote> = (0..5).map(|p| vote(&d, CHAIN, c.signer(p), p as u16, hints)).collect();
        // The outsider's hint claims a real voter's slot (0); the batch catches it, recovery names
        // the outsider.
        votes.insert(2, vote(&d, CHAIN, outsider(0), 0, hints));
        let err = Error::UnknownSigner { index: 2 };
        let a = instruction(d, votes);
        assert_eq!(net.authorise(&a).unwrap_err(), err);
        net.refused(&a, err);
    }
}

#[test]
fn high_s_signatures_are_refused() {
    for hints in ALL_HINTS {
        let mut net = Net::new(CHAIN_BOUND);
        let c = c100();
        net.init(&c, true);
        let d = net.prove_data(100, 0, vec![], 0);
        let mut votes: Vec<Vote> =
            [4usize, 3, 2].iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, hints)).collect();
        let twin = high_s_twin(&votes[1].signature);
        // ecrecover would accept the twin for the same voter.
        assert_eq!(
            secp_recover(&twin, &alloy_signing_digest(&d, CHAIN, &votes[1].additional_variable_message)),
            Some(c.signer(3).address)
        );
        votes[1].signature = twin;
        votes[1].hint = hint(hints, 3, &twin);
        let a = instruction(d, votes);
        assert_eq!(net.authorise(&a).unwrap_err(), Error::SignatureHighS { index: 1 });
        net.refused(&a, Error::SignatureHighS { index: 1 });
    }
}

#[test]
fn malformed_signatures_are_refused() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    type Mutation = fn(&mut [u8; 65]);
    let cases: [(Mutation, Error); 4] = [
        (|s| s[64] = 2, Error::SignatureMalformed { index: 1 }),
        (|s| s[..32].fill(0), Error::SignatureMalformed { index: 1 }),
        (|s| s[32..64].fill(0), Error::SignatureMalformed { index: 1 }),
        (|s| s[..32].fill(0xff), Error::SignatureMalformed { index: 1 }),
    ];
    for (mutate, err) in cases {
        let d = net.prove_data(100, 0, vec![], 0);
        let mut votes: Vec<Vote> =
            [4usize, 3, 2].iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::None)).collect();
        mutate(&mut votes[1].signature);
        net.refused(&instruction(d, votes), err);
    }
    // v = 27/28 is accepted like 0/1.
    let d = net.prove_data(100, 0, vec![], 0);
    let mut votes: Vec<Vote> =
        [4usize, 3].iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::IndexRy)).collect();
    votes[0].signature[64] += 27;
    votes[1].signature[64] += 27;
    votes[1].hint = None;
    net.assert_proved(&instruction(d, votes));
}

#[test]
fn signatures_for_another_chain_are_refused() {
    for hints in ALL_HINTS {
        let mut net = Net::new(CHAIN_BOUND);
        let c = c100();
        net.init(&c, true);
        let d = net.prove_data(100, 0, vec![], 0);
        // Valid signatures by real voters, but over the chain-19 digest: on chain 14 they recover
        // to unrelated addresses.
        let votes: Vec<Vote> = (0..5).map(|p| vote(&d, 19, c.signer(p), p as u16, hints)).collect();
        let a = instruction(d.clone(), votes.clone());
        assert_eq!(net.authorise(&a).unwrap_err(), Error::UnknownSigner { index: 0 });
        net.refused(&a, Error::UnknownSigner { index: 0 });
        // The same instruction and votes are good on chain 19.
        let mut net19 = Net::on_chain(19, PolicyHashScheme::ChainBound { chain_id: 19 }, 7);
        net19.init(&c, true);
        assert_eq!(net19.tee_id, net.tee_id, "same seed, same key");
        net19.assert_proved(&a);
    }
}

#[test]
fn bad_hints_with_cached_keys() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let good = |net: &mut Net| {
        let d = net.prove_data(100, 0, vec![], 0);
        let votes: Vec<Vote> =
            [4usize, 3, 2].iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::IndexRy)).collect();
        (d, votes)
    };
    // Index out of range (5 voters, no cosigners).
    for index in [5u16, 6, u16::MAX] {
        let (d, mut votes) = good(&mut net);
        votes[1].hint.as_mut().unwrap().signer_index = index;
        net.refused(&instruction(d, votes), Error::BadSignerHint { index: 1 });
    }
    // Index naming another voter (whose key is cached).
    for (r_y, other) in [(true, 0u16), (false, 4)] {
        let (d, mut votes) = good(&mut net);
        let h = votes[1].hint.as_mut().unwrap();
        h.signer_index = other;
        if !r_y {
            h.r_y = None;
        }
        let a = instruction(d, votes);
        assert_eq!(net.authorise(&a).unwrap_err(), Error::BadSignerHint { index: 1 });
        net.refused(&a, Error::BadSignerHint { index: 1 });
    }
    // R's y negated (on the curve, wrong parity for v), or off the curve.
    let bads: [fn([u8; 32]) -> [u8; 32]; 2] = [negate_y, |mut y| {
        y[31] ^= 1;
        y
    }];
    for bad in bads {
        let (d, mut votes) = good(&mut net);
        let h = votes[1].hint.as_mut().unwrap();
        h.r_y = Some(bad(h.r_y.unwrap()));
        net.refused(&instruction(d, votes), Error::BadSignerHint { index: 1 });
    }
    // A wrong r_y together with the matching wrong v: parity and point agree with each other but
    // not with the signature, so the batch fails and recovery names the culprit.
    let (d, mut votes) = good(&mut net);
    votes[1].signature[64] ^= 1;
    let h = votes[1].hint.as_mut().unwrap();
    h.r_y = Some(negate_y(h.r_y.unwrap()));
    let a = instruction(d, votes);
    let e = net.authorise(&a).unwrap_err();
    assert!(matches!(e, Error::UnknownSigner { index: 1 } | Error::SignatureInvalid { index: 1 }), "{e:?}");
    // The untouched votes pass.
    let (d, votes) = good(&mut net);
    net.assert_proved(&instruction(d, votes));
}

#[test]
fn bad_hints_without_cached_keys() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, false);
    let build = |net: &mut Net| {
        let d = net.prove_data(100, 0, vec![], 0);
        let votes: Vec<Vote> =
            [4usize, 3, 2].iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::IndexRy)).collect();
        (d, votes)
    };
    // Out of range: refused before any key lookup.
    let (d, mut votes) = build(&mut net);
    votes[1].hint.as_mut().unwrap().signer_index = 5;
    net.refused(&instruction(d, votes), Error::BadSignerHint { index: 1 });
    // Naming another voter: recovery finds the real signer and the hint disagrees.
    let (d, mut votes) = build(&mut net);
    votes[1].hint.as_mut().unwrap().signer_index = 0;
    net.refused(&instruction(d, votes), Error::BadSignerHint { index: 1 });
    // Recovery cached the key of vote 0 (voter 4, a genuine voter) before vote 1 was refused.
    assert_eq!(net.tee.state().verifier.cached_keys(), 1);
    // A wrong r_y is never looked at while the signer's key is unknown: recovery decides, and
    // accepts (the decision is ecrecover's, the hint only a shortcut).
    let (d, mut votes) = build(&mut net);
    let h = votes[2].hint.as_mut().unwrap();
    h.r_y = Some(negate_y(h.r_y.unwrap()));
    net.assert_proved(&instruction(d, votes));
    // Now the keys of voters 4, 3, 2 are cached and the same wrong hint is refused.
    assert_eq!(net.tee.state().verifier.cached_keys(), 3);
    let (d, mut votes) = build(&mut net);
    let h = votes[2].hint.as_mut().unwrap();
    h.r_y = Some(negate_y(h.r_y.unwrap()));
    net.refused(&instruction(d, votes), Error::BadSignerHint { index: 2 });
}

#[test]
fn too_many_signatures_are_refused() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let d = net.prove_data(100, 0, vec![], 0);
    let v = vote(&d, CHAIN, c.signer(0), 0, Hints::None);
    let a = instruction(d, vec![v; MAX_SIGNATURES + 1]);
    net.refused(&a, Error::TooMany { what: "signatures", count: MAX_SIGNATURES + 1, max: MAX_SIGNATURES });
    assert_eq!(
        net.authorise(&a).unwrap_err(),
        Error::TooMany { what: "signatures", count: MAX_SIGNATURES + 1, max: MAX_SIGNATURES }
    );
}

// ---------------------------------------------------------------------------------------------
// Epochs, policy rotation, replay.

#[test]
fn instructions_must_cite_the_active_or_previous_epoch() {
    let mut net = Net::new(CHAIN_BOUND);
    // Before INITIALIZE_POLICY nothing is authorised.
    let a = net.prove(&c100(), &[0, 1, 2, 3, 4], Hints::None);
    net.refused(&a, Error::PolicyNotInitialized);
    net.init(&c100(), true);
    // Older (no previous policy yet) and future epochs.
    // Older epochs are refused for good, future ones for now (retryable: the policy may come).
    for epoch in [99u32, 0, 101, 1 << 23] {
        let c = Committee::new(epoch, &[0, 1, 2, 3, 4], &[1, 9, 20, 30, 40]);
        let a = net.prove(&c, &[0, 1, 2, 3, 4], Hints::IndexRy);
        let want = if epoch > 100 {
            Error::PolicyEpochAhead { active: 100, got: epoch }
        } else {
            Error::PolicyEpochUnknown { active: 100, got: epoch }
        };
        assert_eq!(net.authorise(&a).unwrap_err(), want);
        assert_eq!(want.is_retryable(), epoch > 100);
        net.refused(&a, want);
    }
    // A second INITIALIZE_POLICY is refused.
    let a = net.init_action(&c101(), false);
    net.refused(&a, Error::PolicyAlreadyInitialized);
}

#[test]
fn policy_rotation_rollback_and_the_two_epoch_window() {
    for hints in ALL_HINTS {
        let mut net = Net::new(CHAIN_BOUND);
        let (c100, c101, c102) = (c100(), c101(), c102());
        let a = net.update_action(&c101, &c100, &[0, 2, 3], hints, true);
        net.refused(&a, Error::PolicyNotInitialized);
        net.init(&c100, true);

        // Insufficient weight: 20 + 30 = 50 is not above the active threshold 50.
        let a = net.update_action(&c101, &c100, &[2, 3], hints, true);
        net.refused(&a, Error::InsufficientWeight { weight: 50, threshold: 50 });
        // Same epoch, older epoch, skipped epoch: all need epoch = active + 1; only the skip may
        // be mended (by the update in between), so only it is retryable.
        for (epoch, voters) in [(100u32, &[0usize, 1, 2, 3, 4][..]), (99, &[0, 1, 2, 3, 4]), (102, &[6, 7, 8])] {
            let c = Committee::new(epoch, voters, &vec![20; voters.len()]);
            let a = net.update_action(&c, &c100, &[0, 1, 2, 3, 4], hints, false);
            let want = if epoch == 102 {
                Error::PolicyUpdateGap { active: 100, got: epoch }
            } else {
                Error::PolicyEpochNotNext { active: 100, got: epoch }
            };
            assert_eq!(want.is_retryable(), epoch == 102);
            net.refused(&a, want);
        }
        // Signatures over the legacy hash when the chain-bound one is configured.
        let legacy_digest = eip191_hash_message(c101.hash(PolicyHashScheme::Legacy)).0;
        let sigs: Vec<Vote> = (0..5)
            .map(|p| {
                let sig = c100.signer(p).sign(&legacy_digest);
                Vote { signature: sig, additional_variable_message: vec![], hint: hint(hints, p as u16, &sig) }
            })
            .collect();
        let msg = UpdatePolicy { policy: c101.bytes(), signatures: sigs, public_keys: vec![] };
        let a = net.update_direct(&msg);
        net.refused(&a, Error::UnknownSigner { index: 0 });
        // A variable message on a policy signature.
        let mut msg = net.update_message(&c101, &c100, &[0, 2, 3], hints, true);
        msg.signatures[1].additional_variable_message = vec![1];
        let a = net.update_direct(&msg);
        net.refused(&a, Error::Malformed { what: "policy signature (variable message must be empty)" });

        // Enough weight: 1 + 20 + 30 = 51.
        let a = net.update_action(&c101, &c100, &[0, 2, 3], hints, true);
        let r = net.handle(&a);
        assert_ok(&r);
        let summary = <PolicySummary as SolType>::abi_decode_validate(&r.result.data).unwrap();
        assert_eq!((summary.rewardEpochId, summary.policyHash.0), (101, c101.hash(CHAIN_BOUND)));
        assert_eq!(net.tee.state().policies.accepted_epochs(), (Some(100), Some(101)));

        // Both the previous and the active policy sign instructions.
        let a = net.prove(&c100, &[0, 2, 3], hints);
        net.assert_proved(&a);
        let a = net.prove(&c101, &[0, 1, 2], hints);
        net.assert_proved(&a);
        // ...each with its own voters: epoch-101 votes by epoch-100-only voters do not count.
        let d = net.prove_data(101, 0, vec![], 0);
        let votes =
            vec![vote(&d, CHAIN, c100.signer(0), 0, Hints::None), vote(&d, CHAIN, c101.signer(0), 0, Hints::None)];
        net.refused(&instruction(d, votes), Error::UnknownSigner { index: 0 });

        // The retired policy's voters cannot move the light client.
        let a = net.update_action(&c102, &c100, &[0, 1, 2], hints, false);
        net.refused(&a, Error::UnknownSigner { index: 0 });
        let a = net.update_action(&c102, &c101, &[0, 1, 2], hints, true);
        assert_ok(&net.handle(&a));
        assert_eq!(net.tee.state().policies.accepted_epochs(), (Some(101), Some(102)));

        // Epoch 100 is now out of the window; 101 and 102 are in.
        let a = net.prove(&c100, &[0, 2, 3], hints);
        net.refused(&a, Error::PolicyEpochUnknown { active: 102, got: 100 });
        let a = net.prove(&c101, &[0, 1, 2], hints);
        net.assert_proved(&a);
        let a = net.prove(&c102, &[0, 1], hints);
        net.assert_proved(&a);

        // Rollback to an older policy, even one properly signed at the time, is refused.
        let a = net.update_action(&c101, &c100, &[0, 2, 3], hints, true);
        net.refused(&a, Error::PolicyEpochNotNext { active: 102, got: 101 });

        // The trust root stays reported.
        let h = net.tee.hello(&mut Simulated, &[0; 32]).unwrap();
        assert_eq!(h.initial_policy, Some((100, c100.hash(CHAIN_BOUND))));
        assert_eq!(h.active_epoch, Some(102));
    }
}

/// A TEE that seals comes back after a reboot as the same TEE, pinned to its trust root and
/// serving nothing until its light client is back where it was.
#[test]
fn sealed_state_resumes_the_same_tee_pinned_to_its_root_and_epoch() {
    let config = Config { chain_id: CHAIN, policy_hash: CHAIN_BOUND, registration: None };
    let mut net = Net::new(CHAIN_BOUND);
    net.tee =
        Tee::new(config, &mut TestRng(7), Registry::system()).unwrap().with_sealing(SealingKey::simulated(&config));
    let (c100, c101, c102) = (c100(), c101(), c102());
    // Nothing to seal before the trust root; a refused action seals nothing either.
    assert_eq!(net.tee.take_sealed(), None);
    let a = net.update_action(&c101, &c100, &[0, 2, 3], Hints::None, true);
    net.refused(&a, Error::PolicyNotInitialized);
    assert_eq!(net.tee.take_sealed(), None);
    let init = net.init_action(&c100, true);
    assert_ok(&net.handle(&init));
    let at_100 = net.tee.take_sealed().expect("sealed once the trust root is set");
    assert_eq!(net.tee.take_sealed(), None, "handed out once");
    let to_101 = net.update_action(&c101, &c100, &[0, 2, 3], Hints::None, true);
    assert_ok(&net.handle(&to_101));
    let to_102 = net.update_action(&c102, &c101, &[0, 1, 2], Hints::None, true);
    assert_ok(&net.handle(&to_102));
    let at_102 = net.tee.take_sealed().expect("sealed after each update");
    assert_ne!(at_100, at_102);
    let prove = net.prove(&c102, &[0, 1], Hints::None);
    assert!(net.tee.take_sealed().is_none() && net.handle(&prove).result.status == status::SUCCESS);
    assert_eq!(net.tee.take_sealed(), None, "instructions change nothing sealed");

    // Reboot: the same identity, the sealed root and epoch reported in Hello.
    let resume = |blob: &[u8]| {
        let key = SealingKey::simulated(&config);
        let sealed = key.open(blob)?;
        Tee::resume(config, key, &sealed, &mut TestRng(99), Registry::system())
    };
    net.tee = resume(&at_102).unwrap();
    assert_eq!(net.tee.state().identity.address(), net.tee_id);
    let hello = net.tee.hello(&mut Simulated, &[0; 32]).unwrap();
    assert_eq!(hello.initial_policy, None);
    assert_eq!(hello.sealed, Some(((100, c100.hash(CHAIN_BOUND)), 102)));
    // Another trust root is refused; the sealed one accepted.
    let other_root = net.init_action(&c101, true);
    net.refused(&other_root, Error::PolicyRootMismatch);
    assert_eq!(net.tee.take_sealed(), None);
    assert_ok(&net.handle(&init));
    // Below the sealed epoch nothing is served, and the floor survives a re-seal.
    let old = net.prove(&c100, &[0, 2, 3], Hints::None);
    net.refused(&old, Error::PolicyBelowSealed { active: 100, sealed: 102 });
    let resealed = net.tee.take_sealed().unwrap();
    assert_eq!(SealingKey::simulated(&config).open(&resealed).unwrap().epoch, 102);
    assert_ok(&net.handle(&to_101));
    assert_ok(&net.handle(&to_102));
    assert_eq!(net.tee.take_sealed().unwrap(), at_102, "deterministic: the same state seals to the same blob");
    let prove = net.prove(&c102, &[0, 1], Hints::None);
    net.assert_proved(&prove);

    // Blobs that do not open: another chain's key, a tampered blob, garbage.
    let other = Config { chain_id: CHAIN + 1, policy_hash: CHAIN_BOUND, registration: None };
    assert_eq!(SealingKey::simulated(&other).open(&at_102).unwrap_err().code(), 504);
    let mut bad = at_102.clone();
    bad[40] ^= 4;
    assert!(matches!(resume(&bad), Err(Error::SealedStateInvalid { .. })));
    assert!(matches!(resume(&[0; 3]), Err(Error::SealedStateInvalid { .. })));
}

#[test]
fn replayed_instructions_are_refused() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let a = net.prove(&c, &[0, 2, 3], Hints::IndexRy);
    let first = net.handle(&a);
    assert_ok(&first);
    net.check_prove(&a, &first);
    // A re-delivery (the proxy lost the result) gets the very same signed result: nothing is
    // executed twice, and exactly one result exists for the id.
    assert_eq!(net.handle(&a), first);
    assert_eq!(net.authorise(&a).unwrap_err(), Error::Replayed);
    // Even with other (more) signatures it is the same instruction id, hence the same result.
    let mut more = a.clone();
    more.votes = (0..5).map(|p| vote(&a.instruction, CHAIN, c.signer(p), p as u16, Hints::None)).collect();
    assert_eq!(net.handle(&more), first);

    // A refused instruction is not recorded: it may come back with enough signatures.
    let a = net.prove(&c, &[2, 3], Hints::None);
    net.refused(&a, Error::InsufficientWeight { weight: 50, threshold: 50 });
    let mut retry = a.clone();
    retry.votes.push(vote(&a.instruction, CHAIN, c.signer(0), 0, Hints::None));
    let done = net.handle(&retry);
    assert_ok(&done);
    assert_eq!(net.handle(&retry), done);

    // Once an executed id has left the recent results, a replay is refused outright while its
    // epoch is in the window...
    let old = net.prove(&c, &[0, 2, 3], Hints::None);
    net.assert_proved(&old);
    for i in 0..fcc_core::tee::RECENT_RESULTS {
        let mut filler = net.prove(&c, &[0, 2, 3], Hints::None);
        filler.instruction.instruction_id = fcc_core::hash::keccak256(&(i as u64).to_be_bytes());
        filler.votes =
            [0, 2, 3].iter().map(|&p| vote(&filler.instruction, CHAIN, c.signer(p), p as u16, Hints::None)).collect();
        net.assert_proved(&filler);
    }
    net.refused(&old, Error::Replayed);
    let a = net.update_action(&c101(), &c, &[0, 2, 3], Hints::None, false);
    assert_ok(&net.handle(&a));
    net.refused(&old, Error::Replayed);
    // ...and after it leaves, the epoch rule refuses it.
    let a = net.update_action(&c102(), &c101(), &[0, 1, 2], Hints::None, false);
    assert_ok(&net.handle(&a));
    net.refused(&old, Error::PolicyEpochUnknown { active: 102, got: 100 });
    assert_eq!(net.tee.state().replay.len(), 0, "ids of epoch 100 were pruned when 102 became active");
}

#[test]
fn instructions_for_another_tee_are_refused() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let mut d = net.prove_data(100, 0, vec![], 0);
    d.tee_id = outsider(5).address;
    let votes = (0..5).map(|p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::IndexRy)).collect();
    let a = instruction(d, votes);
    assert_eq!(net.authorise(&a).unwrap_err(), Error::WrongTee);
    net.refused(&a, Error::WrongTee);
}

// ---------------------------------------------------------------------------------------------
// Operations and actions.

#[test]
fn unknown_operations_and_wrong_action_kinds_yield_error_results() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let mut d = net.prove_data(100, 0, vec![], 0);
    d.op_type = op::name("MY_EXT");
    d.op_command = op::name("RUN");
    let votes = (0..5).map(|p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::IndexRy)).collect();
    let a = instruction(d, votes);
    let r = net.handle(&a);
    assert_refused(&r, Error::UnknownOperation { op_type: op::name("MY_EXT"), op_command: op::name("RUN") });
    assert_eq!(r.result.log, "no handler for operation MY_EXT/RUN");
    // Non-ASCII names are printed safely.
    let a = net.direct([0xff; 32], [0; 32], vec![]);
    let r = net.handle(&a);
    assert_eq!(r.result.additional_result_status, 403u16.to_be_bytes());
    assert!(r.result.log.is_ascii());

    // An instruction-only operation sent as a direct action, and the reverse.
    let mut a = net.prove(&c, &[0, 2, 3], Hints::None);
    a.kind = ActionKind::Direct;
    a.submission_tag = SubmissionTag::Submit;
    net.refused(&a, Error::Malformed { what: "action kind (instruction vs direct) for this operation" });
    let mut a = net.direct(op::F_GET, op::TEE_INFO, vec![]);
    a.kind = ActionKind::Instruction;
    a.submission_tag = SubmissionTag::Threshold;
    net.refused(&a, Error::Malformed { what: "action kind (instruction vs direct) for this operation" });
    // Wrong submission tags.
    let mut a = net.prove(&c, &[0, 2, 3], Hints::None);
    a.submission_tag = SubmissionTag::End;
    net.refused(&a, Error::Malformed { what: "submission tag (not the one this operation's actions carry)" });
    let mut a = net.direct(op::F_GET, op::TEE_INFO, vec![]);
    a.submission_tag = SubmissionTag::Threshold;
    net.refused(&a, Error::Malformed { what: "submission tag (not the one this operation's actions carry)" });
    // A PROVE whose request does not decode is refused before signatures are looked at.
    let mut d = net.prove_data(100, 0, vec![], 0);
    d.original_message = vec![0; 100];
    net.refused(&instruction(d, vec![]), Error::Malformed { what: "FDC2 request" });
}

// ---------------------------------------------------------------------------------------------
// Bounds: oversized and truncated inputs.

#[test]
fn policy_bytes_out_of_bounds_are_refused() {
    let c = c100();
    let good = c.bytes();
    let cases: Vec<(Vec<u8>, Error)> = vec![
        (good[..42].to_vec(), Error::Truncated { what: "signing policy", need: 43, got: 42 }),
        (
            good[..good.len() - 1].to_vec(),
            Error::Truncated { what: "signing policy", need: good.len(), got: good.len() - 1 },
        ),
        ([&good[..], &[0]].concat(), Error::TrailingBytes { what: "signing policy", extra: 1 }),
        (
            vec![0; MAX_POLICY_LEN + 1],
            Error::TooLarge { what: "signing policy", len: MAX_POLICY_LEN + 1, max: MAX_POLICY_LEN },
        ),
        (vec![], Error::Truncated { what: "signing policy", need: 43, got: 0 }),
        (
            [&(MAX_VOTERS as u16 + 1).to_be_bytes()[..], &good[2..]].concat(),
            Error::TooMany { what: "policy voters", count: MAX_VOTERS + 1, max: MAX_VOTERS },
        ),
    ];
    for (bytes, err) in cases {
        let mut net = Net::new(CHAIN_BOUND);
        let msg = InitializePolicy { policy: bytes, public_keys: vec![] };
        let a = net.direct(op::F_POLICY, op::INITIALIZE_POLICY, postcard::to_allocvec(&msg).unwrap());
        net.refused(&a, err);
        // Nothing was set: a good policy still initialises.
        net.init(&c, false);
    }
}

#[test]
fn policy_messages_out_of_bounds_are_refused() {
    let c = c100();
    let mut net = Net::new(CHAIN_BOUND);
    let good = postcard::to_allocvec(&InitializePolicy { policy: c.bytes(), public_keys: c.keys() }).unwrap();
    // Trailing bytes after the postcard message; truncated message; garbage.
    let a = net.direct(op::F_POLICY, op::INITIALIZE_POLICY, [&good[..], &[0, 0]].concat());
    net.refused(&a, Error::TrailingBytes { what: "INITIALIZE_POLICY message", extra: 2 });
    for cut in [0, 1, 50, good.len() - 1] {
        let a = net.direct(op::F_POLICY, op::INITIALIZE_POLICY, good[..cut].to_vec());
        net.refused(&a, Error::Malformed { what: "INITIALIZE_POLICY message" });
    }
    let a = net.direct(op::F_POLICY, op::UPDATE_POLICY, vec![0xff; 40]);
    net.refused(&a, Error::Malformed { what: "UPDATE_POLICY message" });
    // Key lists: wrong count, a key of someone else, a point off the curve, too many keys.
    let mut wrong_count = c.keys();
    wrong_count.pop();
    let mut swapped = c.keys();
    swapped.swap(0, 1);
    let mut off_curve = c.keys();
    off_curve[2].0[63] ^= 1;
    let too_many = vec![PublicKey([0; 64]); MAX_VOTERS + 1];
    for (keys, err) in [
        (wrong_count, Error::Malformed { what: "public keys (one per voter expected)" }),
        (swapped, Error::Malformed { what: "public key (does not match the voter address)" }),
        (off_curve, Error::Malformed { what: "public key" }),
        (too_many, Error::TooMany { what: "public keys", count: MAX_VOTERS + 1, max: MAX_VOTERS }),
    ] {
        let msg = InitializePolicy { policy: c.bytes(), public_keys: keys };
        let a = net.direct(op::F_POLICY, op::INITIALIZE_POLICY, postcard::to_allocvec(&msg).unwrap());
        net.refused(&a, err);
    }
    net.init(&c, true);
}

#[test]
fn messages_over_the_bound_are_refused() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let over = MAX_MESSAGE_LEN + 1;
    let mut d = net.prove_data(100, 0, vec![], 0);
    d.original_message = vec![0; over];
    net.refused(&instruction(d, vec![]), Error::TooLarge { what: "originalMessage", len: over, max: MAX_MESSAGE_LEN });
    let mut d = net.prove_data(100, 0, vec![], 0);
    d.additional_fixed_message = vec![0; over];
    net.refused(
        &instruction(d, vec![]),
        Error::TooLarge { what: "additionalFixedMessage", len: over, max: MAX_MESSAGE_LEN },
    );
    let d = net.prove_data(100, 0, vec![], 0);
    let mut v = vote(&d, CHAIN, c.signer(0), 0, Hints::None);
    v.additional_variable_message = vec![0; over];
    let a = instruction(d, vec![v]);
    let err = Error::TooLarge { what: "additionalVariableMessage", len: over, max: MAX_MESSAGE_LEN };
    net.refused(&a, err);
    assert_eq!(net.authorise(&a).unwrap_err(), err);
    // At the bound exactly, sizes pass validation (and the FDC2 request then fails to decode).
    let mut d = net.prove_data(100, 0, vec![], 0);
    d.original_message = vec![0; MAX_MESSAGE_LEN];
    net.refused(&instruction(d, vec![]), Error::Malformed { what: "FDC2 request" });
}

#[test]
fn frames_out_of_bounds_are_refused() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let actions: Vec<Action> = (0..4).map(|i| net.prove(&c, &[0, 2, 3 + i % 2], Hints::IndexRy)).collect();
    let msg = ProxyMessage::Actions(actions.clone());
    msg.validate().unwrap();
    let frame = wire::encode_frame(&msg).unwrap();
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(len, frame.len() - 4);

    // Byte by byte through the reader, then decoded and executed.
    let mut reader = FrameReader::new();
    for (i, b) in frame.iter().enumerate() {
        assert_eq!(reader.next_body().unwrap(), None, "frame complete after {i} bytes?");
        reader.push(&[*b]).unwrap();
    }
    let body = reader.next_body().unwrap().unwrap();
    let ProxyMessage::Actions(decoded) = wire::decode_body::<ProxyMessage>(&body).unwrap() else { panic!("actions") };
    assert_eq!(decoded, actions);
    for a in &decoded {
        net.assert_proved(a);
    }

    // Every truncation of the body is refused, none panics.
    for cut in 0..body.len() {
        let r = wire::decode_body::<ProxyMessage>(&body[..cut]);
        assert!(r.is_err(), "truncated at {cut}");
    }
    assert_eq!(wire::decode_body::<ProxyMessage>(&[]), Err(Error::Truncated { what: "frame", need: 1, got: 0 }));
    assert_eq!(
        wire::decode_body::<ProxyMessage>(&[wire::PROTOCOL_VERSION + 1, 0]),
        Err(Error::UnsupportedVersion { got: wire::PROTOCOL_VERSION + 1 })
    );
    let mut trailing = body.clone();
    trailing.push(0);
    assert_eq!(wire::decode_body::<ProxyMessage>(&trailing), Err(Error::TrailingBytes { what: "frame", extra: 1 }));

    // More actions than a pull may carry.
    let five = ProxyMessage::Actions([actions.clone(), vec![actions[0].clone()]].concat());
    assert_eq!(five.validate(), Err(Error::TooMany { what: "actions", count: 5, max: 4 }));
    // A frame announcing more than the bound; an empty frame; a push past the bound.
    let mut r = FrameReader::new();
    r.push(&((wire::LENGTH_PREFIX + fcc_core::limits::MAX_FRAME_LEN) as u32).to_be_bytes()).unwrap();
    assert!(matches!(r.next_body(), Err(Error::TooLarge { what: "frame", .. })));
    let mut r = FrameReader::new();
    r.push(&[0, 0, 0, 0]).unwrap();
    assert_eq!(r.next_body(), Err(Error::Truncated { what: "frame", need: 1, got: 0 }));
    let mut r = FrameReader::new();
    r.push(&vec![0u8; r.room()]).unwrap();
    assert_eq!(r.room(), 0);
    assert!(matches!(r.push(&[0]), Err(Error::TooLarge { .. })));
    // Encoding refuses a message whose frame would exceed the bound.
    let huge = ProxyMessage::Actions(vec![Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            original_message: vec![0; fcc_core::limits::MAX_FRAME_LEN],
            ..Default::default()
        },
        votes: vec![],
    }]);
    assert!(matches!(wire::encode_frame(&huge), Err(Error::TooLarge { what: "frame", .. })));
}

/// A 300-voter policy (the largest) initialised with its keys: every key is cached so the first
/// instruction can be batch-verified.
#[test]
fn largest_policy_with_keys() {
    let signers: Vec<Signer> = (0..MAX_VOTERS as u32).map(|i| Signer::derive(1000 + i)).collect();
    let voters: Vec<([u8; 20], u16)> = signers.iter().map(|s| (s.address, 200)).collect();
    let policy = policy_bytes(500, 1, 30_000, [5; 32], &voters);
    let mut net = Net::new(CHAIN_BOUND);
    let msg = InitializePolicy { policy, public_keys: signers.iter().map(|s| PublicKey(s.public)).collect() };
    let a = net.direct(op::F_POLICY, op::INITIALIZE_POLICY, postcard::to_allocvec(&msg).unwrap());
    assert_ok(&net.handle(&a));
    assert_eq!(net.tee.state().verifier.cached_keys(), MAX_VOTERS);
    // 151 of 300 voters of weight 200: 30200 > 30000.
    let d = net.prove_data(500, 0, vec![], 0);
    let votes = (0..151).map(|i| vote(&d, CHAIN, &signers[i], i as u16, Hints::IndexRy)).collect();
    let a = instruction(d, votes);
    assert_eq!(net.authorise(&a).unwrap().weight, 30_200);
    net.assert_proved(&a);

    // Rotation to another 300-voter policy with its keys: both policies' keys stay cached.
    let next: Vec<Signer> = (0..MAX_VOTERS as u32).map(|i| Signer::derive(2000 + i)).collect();
    let next_voters: Vec<([u8; 20], u16)> = next.iter().map(|s| (s.address, 200)).collect();
    let next_policy = policy_bytes(501, 2, 30_000, [6; 32], &next_voters);
    let digest = eip191_hash_message(alloy_chain_bound_hash(&next_policy, CHAIN)).0;
    let signatures = (0..151)
        .map(|i| {
            let sig = signers[i].sign(&digest);
            Vote { signature: sig, additional_variable_message: vec![], hint: hint(Hints::IndexRy, i as u16, &sig) }
        })
        .collect();
    let msg = UpdatePolicy {
        policy: next_policy,
        signatures,
        public_keys: next.iter().map(|s| PublicKey(s.public)).collect(),
    };
    let a = net.update_direct(&msg);
    assert_ok(&net.handle(&a));
    assert_eq!(net.tee.state().verifier.cached_keys(), 2 * MAX_VOTERS);
}

/// The proxy offers the keys it knows and all-zero for the others: the offered ones are cached
/// as the policy is installed, the others learnt from their first signatures.
#[test]
fn an_update_may_offer_some_keys_only() {
    let mut net = Net::new(CHAIN_BOUND);
    let (c100, c101) = (c100(), c101());
    net.init(&c100, false);
    let mut msg = net.update_message(&c101, &c100, &[0, 2, 3], Hints::IndexRy, true);
    // c101's third voter (pool key 5) has never signed anything here.
    msg.public_keys[2] = PublicKey([0; 64]);
    let a = net.update_direct(&msg);
    assert_ok(&net.handle(&a));
    let knows = |net: &Net, m: usize| net.tee.state().verifier.knows(&pool()[m].address);
    assert!(!knows(&net, 5));
    assert!([3, 4, 6, 7].iter().all(|&m| knows(&net, m)));
    let a = net.prove(&c101, &[0, 1, 2], Hints::IndexRy);
    net.assert_proved(&a);
    assert!(knows(&net, 5), "recovered from its signature");
}

/// An update whose signatures pass but whose offered keys are bad changes nothing.
#[test]
fn update_with_bad_keys_changes_nothing() {
    let mut net = Net::new(CHAIN_BOUND);
    let (c100, c101) = (c100(), c101());
    net.init(&c100, true);
    let mut msg = net.update_message(&c101, &c100, &[0, 2, 3], Hints::IndexRy, true);
    msg.public_keys.swap(1, 2);
    let a = net.update_direct(&msg);
    net.refused(&a, Error::Malformed { what: "public key (does not match the voter address)" });
    assert_eq!(net.tee.state().policies.accepted_epochs(), (None, Some(100)));
    for m in &c100.members {
        assert!(net.tee.state().verifier.knows(&pool()[*m].address));
    }
    let a = net.prove(&c100, &[0, 2, 3], Hints::IndexRy);
    net.assert_proved(&a);
    let a = net.update_action(&c101, &c100, &[0, 2, 3], Hints::IndexRy, true);
    assert_ok(&net.handle(&a));
    let a = net.prove(&c101, &[0, 1, 2], Hints::IndexRy);
    net.assert_proved(&a);
}

/// Issue 21 item 5: a proxy that strips a pending instruction's votes gets a refusal, tagged
/// `refused` and signed under `TEE_ACTION_REFUSAL`: under the result domain contracts check
/// (`TEE_ACTION_RESULT`) its signature is nobody's, with either tag. The genuine delivery then
/// gets the id's one result.
#[test]
fn a_refusal_cannot_pass_for_the_instructions_result() {
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let genuine = net.prove(&c, &[0, 2, 3], Hints::None);
    let stripped = Action { votes: vec![], ..genuine.clone() };
    let refusal = net.handle(&stripped);
    assert_refused(&refusal, Error::InsufficientWeight { weight: 0, threshold: 50 });
    assert_eq!(refusal.result.submission_tag, SubmissionTag::Refused);
    let id = genuine.instruction.instruction_id;
    for tag in ["threshold", "refused"] {
        let as_result = eip191_hash_message(alloy_payload_hash(
            "TEE_ACTION_RESULT",
            CHAIN,
            alloy_result_hash(&[], id, tag, status::ERROR),
        ))
        .0;
        assert_ne!(alloy_recover(&refusal.signature, &as_result), Some(net.tee_id), "{tag} as a result");
    }
    let result = net.handle(&genuine);
    assert_ok(&result);
    assert_eq!(result.result.submission_tag, SubmissionTag::Threshold);
    // Direct actions refused are refusals too; an unknown operation executes nothing.
    let mut unknown = net.direct(op::name("NOPE"), op::name("NOPE"), vec![]);
    unknown.instruction.tee_id = net.tee_id;
    let r = net.handle(&unknown);
    assert_eq!((r.result.status, r.result.submission_tag), (status::ERROR, SubmissionTag::Refused));
}

/// Issue 21 item 1: `PROVE` at its largest input — every message at `MAX_MESSAGE_LEN` — would
/// answer more than `MAX_RESULT_DATA_LEN`; the executed instruction's result is then a bounded
/// error (the id's one result, tagged as executed), which fits a frame and the proxy's bounds,
/// and a re-delivery gets it again instead of wedging the queue.
#[test]
fn the_largest_prove_gets_a_bounded_result() {
    use fcc_core::limits::{MAX_RESULT_DATA_LEN, MAX_RESULT_FRAME_LEN};
    let mut net = Net::new(CHAIN_BOUND);
    let c = c100();
    net.init(&c, true);
    let mut d = net.prove_data(100, 0, vec![], 0);
    d.additional_fixed_message = vec![0x5a; MAX_MESSAGE_LEN];
    let votes = [0, 2, 3].iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::None)).collect();
    let a = instruction(d, votes);
    let r = net.handle(&a);
    let err = r.result.additional_result_status.clone();
    assert_eq!(r.result.status, status::ERROR);
    assert_eq!(err, 103u16.to_be_bytes(), "TooLarge: {}", r.result.log);
    assert!(r.result.log.contains("result data"), "{}", r.result.log);
    assert_eq!(r.result.submission_tag, SubmissionTag::Threshold, "executed: this is the id's result");
    r.result.validate().unwrap();
    assert!(r.result.data.len() <= MAX_RESULT_DATA_LEN);
    let frame = wire::encode_frame(&GuestMessage::Result(r.clone())).unwrap();
    assert!(frame.len() <= MAX_RESULT_FRAME_LEN);
    assert_eq!(net.handle(&a), r, "re-delivered: the same bounded result");
    // A response body that leaves room for the header, request and signature is proved.
    let fits = MAX_RESULT_DATA_LEN - 4096;
    let mut d = net.prove_data(100, 0, vec![], 0);
    d.additional_fixed_message = vec![0x5a; fits];
    let votes = [0, 2, 3].iter().map(|&p| vote(&d, CHAIN, c.signer(p), p as u16, Hints::None)).collect();
    let a = instruction(d, votes);
    net.assert_proved(&a);
}

// ---------------------------------------------------------------------------------------------
// Wallet keys: generate, query, delete, back up, restore in another TEE.

mod wallets {
    use super::*;
    use alloy_sol_types::sol;
    use fcc_core::wallet::backup::Metadata;
    use fcc_core::wallet::{EVM_SIGN_ALGO, KEY_TYPE_EVM, VRF_ALGO, ecies};
    use k256::NonZeroScalar;

    sol! {
        #[derive(Debug, PartialEq)]
        struct KeyConfigConstants { PubKey[] adminsPublicKeys; uint64 adminsThreshold; address[] cosigners; uint64 cosignersThreshold; }
        #[derive(Debug, PartialEq)]
        struct PubKey { bytes32 x; bytes32 y; }
        struct KeyGenerate { address teeId; bytes32 walletId; uint64 keyId; bytes32 keyType; bytes32 signingAlgo; KeyConfigConstants configConstants; }
        struct KeyDelete { address teeId; bytes32 walletId; uint64 keyId; uint256 nonce; }
        struct KeyExistence { address teeId; bytes32 walletId; uint64 keyId; bytes32 keyType; bytes32 signingAlgo; bytes publicKey; uint256 nonce; bool restored; KeyConfigConstants configConstants; bytes32 settingsVersion; bytes settings; }
        struct BackupId { address teeId; bytes32 walletId; uint64 keyId; bytes32 keyType; bytes32 signingAlgo; bytes publicKey; uint32 rewardEpochId; bytes32 randomNonce; }
        struct KeyDataProviderRestore { PubKey teePublicKey; BackupId backupId; string backupUrl; uint256 nonce; }
    }

    const WALLET: [u8; 32] = [0x22; 32];

    fn pubkey(k: &[u8; 64]) -> PubKey {
        PubKey { x: k[..32].try_into().unwrap(), y: k[32..].try_into().unwrap() }
    }

    /// Admins: pool keys 20, 21, 22 (2 of 3).
    fn admins() -> Vec<&'static Signer> {
        (20..23).map(|i| &pool()[i]).collect()
    }

    fn config() -> KeyConfigConstants {
        KeyConfigConstants {
            adminsPublicKeys: admins().iter().map(|a| pubkey(&a.public)).collect(),
            adminsThreshold: 2,
            cosigners: vec![],
            cosignersThreshold: 0,
        }
    }

    /// An instruction of `op_command` with `message` (and `afm`) for `net`'s TEE, signed by all
    /// of `c` and by `extra` cosigners with the given variable messages.
    fn wallet_instruction(
        net: &mut Net,
        c: &Committee,
        op_command: OpName,
        message: Vec<u8>,
        afm: Vec<u8>,
        cosigners: (&[&Signer], u64),
        avms: &dyn Fn(&Signer) -> Vec<u8>,
    ) -> Action {
        instruction_of(net, c, (op::F_WALLET, op_command), message, afm, cosigners, avms)
    }

    /// As [`wallet_instruction`], of any operation.
    fn instruction_of(
        net: &mut Net,
        c: &Committee,
        (op_type, op_command): (OpName, OpName),
        message: Vec<u8>,
        afm: Vec<u8>,
        cosigners: (&[&Signer], u64),
        avms: &dyn Fn(&Signer) -> Vec<u8>,
    ) -> Action {
        let id = net.fresh_id();
        let d = InstructionData {
            instruction_id: id,
            tee_id: net.tee_id,
            timestamp: 1_700_000_000,
            reward_epoch_id: c.epoch,
            op_type,
            op_command,
            cosigners: cosigners.0.iter().map(|s| s.address).collect(),
            cosigners_threshold: cosigners.1,
            original_message: message,
            additional_fixed_message: afm,
        };
        let signers: Vec<&Signer> =
            (0..c.members.len()).map(|p| c.signer(p)).chain(cosigners.0.iter().copied()).collect();
        let votes = signers
            .iter()
            .map(|s| {
                let avm = avms(s);
                let sig = s.sign(&alloy_signing_digest(&d, net.chain, &avm));
                Vote { signature: sig, additional_variable_message: avm, hint: None }
            })
            .collect();
        instruction(d, votes)
    }

    fn generate(net: &mut Net, c: &Committee, key_id: u64, algo: [u8; 32]) -> SignedResult {
        let msg = KeyGenerate {
            teeId: net.tee_id.into(),
            walletId: WALLET.into(),
            keyId: key_id,
            keyType: KEY_TYPE_EVM.into(),
            signingAlgo: algo.into(),
            configConstants: config(),
        }
        .abi_encode();
        let a = wallet_instruction(net, c, op::KEY_GENERATE, msg, vec![], (&[], 0), &|_| vec![]);
        net.handle(&a)
    }

    /// Checks a `{"keyExistence","signature"}` proof with alloy and returns the decoded struct.
    fn check_proof(net: &Net, proof: &serde_json::Value) -> KeyExistence {
        let bytes = hex::decode(proof["keyExistence"].as_str().unwrap().trim_start_matches("0x")).unwrap();
        let ke = <KeyExistence as SolType>::abi_decode_validate(&bytes).unwrap();
        let sig: [u8; 65] =
            hex::decode(proof["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap().try_into().unwrap();
        let digest = eip191_hash_message(alloy_payload_hash(
            "TEE_KEY_EXISTENCE",
            net.chain,
            alloy_primitives::keccak256(&bytes).0,
        ))
        .0;
        assert_eq!(secp_recover(&sig, &digest), Some(net.tee_id), "existence proof signed by the TEE");
        ke
    }

    fn json(r: &SignedResult) -> serde_json::Value {
        serde_json::from_slice(&r.result.data).unwrap()
    }

    #[test]
    fn generate_query_and_delete() {
        let c = c100();
        let mut net = Net::new(CHAIN_BOUND);
        net.init(&c, true);
        let r = generate(&mut net, &c, 7, EVM_SIGN_ALGO);
        assert_ok(&r);
        let ke = check_proof(&net, &json(&r));
        assert_eq!((ke.teeId.0.0, ke.walletId.0, ke.keyId, ke.restored), (net.tee_id, WALLET, 7, false));
        assert_eq!(ke.nonce, U256::ZERO);
        assert_eq!(ke.configConstants, config());
        let public: [u8; 64] = ke.publicKey.to_vec().try_into().unwrap();
        assert_ne!(public, [0; 64]);
        // The same pair again, and an unsupported algorithm, are refused (executed: errors).
        let again = generate(&mut net, &c, 7, EVM_SIGN_ALGO);
        assert_eq!(again.result.log, "operation failed: a permanent record of the wallet already exists");
        let vrf = generate(&mut net, &c, 8, VRF_ALGO);
        assert_eq!(vrf.result.log, "operation failed: signing algorithm not supported");
        assert_ok(&generate(&mut net, &c, 9, EVM_SIGN_ALGO));

        // KEY_INFO lists both; KEY_PROOF proves the one asked for.
        let a = net.direct(op::F_GET, op::KEY_INFO, vec![]);
        let info = net.handle(&a);
        let w = format!("0x{}", hex::encode(WALLET));
        assert_eq!(
            json(&info),
            serde_json::json!([{"walletId": w, "keyId": 7, "nonce": 0}, {"walletId": w, "keyId": 9, "nonce": 0}])
        );
        let a = net.direct(op::F_GET, op::KEY_PROOF, format!(r#"[{{"walletId":"{w}","keyId":9}}]"#).into_bytes());
        let proofs = json(&net.handle(&a));
        assert_eq!(check_proof(&net, &proofs[0]).keyId, 9);

        // Delete: the nonce must rise; the record stays, so the pair cannot be generated again.
        let delete = |net: &mut Net, key_id: u64, nonce: u64| {
            let msg = KeyDelete {
                teeId: net.tee_id.into(),
                walletId: WALLET.into(),
                keyId: key_id,
                nonce: U256::from(nonce),
            }
            .abi_encode();
            let a = wallet_instruction(net, &c, op::KEY_DELETE, msg, vec![], (&[], 0), &|_| vec![]);
            net.handle(&a)
        };
        let r = delete(&mut net, 7, 5);
        assert_ok(&r);
        assert_eq!(json(&r), serde_json::json!({"walletId": w, "keyId": 7}));
        assert_eq!(delete(&mut net, 7, 5).result.log, "operation failed: nonce not above the stored one");
        let r = delete(&mut net, 7, 6);
        assert_eq!(r.result.additional_result_status, b"key not stored");
        assert_eq!(delete(&mut net, 8, 1).result.log, "operation failed: wallet never existed");
        assert_eq!(
            generate(&mut net, &c, 7, EVM_SIGN_ALGO).result.log,
            "operation failed: a permanent record of the wallet already exists"
        );
        let a = net.direct(op::F_GET, op::KEY_INFO, vec![]);
        assert_eq!(json(&net.handle(&a)), serde_json::json!([{"walletId": w, "keyId": 9, "nonce": 0}]));
    }

    fn nz(s: &Signer) -> NonZeroScalar {
        NonZeroScalar::from_repr(s.secret.to_secret_bytes().into()).unwrap()
    }

    #[test]
    fn backup_then_restore_in_another_tee() {
        let c = c101();
        let mut a = Net::on_chain(CHAIN, CHAIN_BOUND, 11);
        a.init(&c, true);
        let r = generate(&mut a, &c, 1, EVM_SIGN_ALGO);
        let key = check_proof(&a, &json(&r));
        let w = format!("0x{}", hex::encode(WALLET));
        let action = a.direct(op::F_GET, op::TEE_BACKUP, format!(r#"{{"walletId":"{w}","keyId":1}}"#).into_bytes());
        let r = a.handle(&action);
        assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
        r.result.validate().unwrap();
        let made = fcc_core::wallet::backup::WalletBackup::from_blob(&r.result.data, CHAIN).unwrap();
        assert_eq!(made.metadata.backup_id.tee_id, a.tee_id);
        let mut forged = made.clone();
        forged.metadata.backup_id.tee_id = [1; 20];
        assert!(
            fcc_core::wallet::backup::WalletBackup::from_blob(&forged.to_blob(), CHAIN).is_err(),
            "the blob is checked against the TEE it names"
        );
        assert!(fcc_core::wallet::backup::WalletBackup::from_blob(&r.result.data, CHAIN + 1).is_err(), "and its chain");
        let response: serde_json::Value = serde_json::from_str(&made.response_json()).unwrap();
        // What a provider parses back from Flare's JSON is the backup, its two signatures checked.
        let parsed = fcc_core::wallet::backup::WalletBackup::from_response_json(made.response_json().as_bytes(), CHAIN);
        assert_eq!(parsed.as_ref(), Ok(&made));
        let mut bad = made.clone();
        bad.provider.weights[0] += 1;
        bad.provider.weights[1] -= 1;
        assert_eq!(
            fcc_core::wallet::backup::WalletBackup::from_response_json(bad.response_json().as_bytes(), CHAIN),
            Err(Error::SignatureInvalid { index: 0 }),
            "a backup changed after signing"
        );
        let backup_bytes = base64_decode(response["walletBackup"].as_str().unwrap());
        let backup: serde_json::Value = serde_json::from_slice(&backup_bytes).unwrap();
        // Five equal voters: 200 shares each; three admins: one each.
        assert_eq!(backup["ProviderEncryptedParts"]["Weights"], serde_json::json!([200, 200, 200, 200, 200]));
        assert_eq!(backup["AdminEncryptedParts"]["Weights"], serde_json::json!([1, 1, 1]));
        assert_eq!(backup["ProvidersThreshold"], 666);
        assert_eq!(backup["publicKey"].as_str().unwrap(), format!("0x{}", hex::encode(&key.publicKey)));
        assert_eq!(response["backupId"]["randomNonce"], backup["randomNonce"]);

        // TEE B restores: each provider/admin decrypts its split and re-encrypts it to B.
        let mut b = Net::on_chain(CHAIN, CHAIN_BOUND, 12);
        b.init(&c, true);
        let b_public = *b.tee.state().identity.public_key();
        let splits = |part: &str| -> Vec<String> {
            backup[part]["Splits"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
        };
        let (provider_splits, admin_splits) = (splits("ProviderEncryptedParts"), splits("AdminEncryptedParts"));
        let mut rng = TestRng(99);
        let reencrypt = |owner: &Signer, split_hex: &str, rng: &mut TestRng| -> Vec<u8> {
            let ct = hex::decode(split_hex.trim_start_matches("0x")).unwrap();
            let plain = ecies::decrypt(&nz(owner), &ct, &[], &[]).unwrap();
            ecies::encrypt(rng, &b_public, &plain, &[], &[]).unwrap()
        };
        let mut avm: std::collections::HashMap<[u8; 20], Vec<u8>> = Default::default();
        for (p, s) in provider_splits.iter().enumerate() {
            avm.insert(c.signer(p).address, reencrypt(c.signer(p), s, &mut rng));
        }
        for (i, s) in admin_splits.iter().enumerate() {
            avm.insert(admins()[i].address, reencrypt(admins()[i], s, &mut rng));
        }
        // Provider 0's split is tampered with: skipped, and 800 shares still suffice.
        avm.get_mut(&c.signer(0).address).unwrap()[100] ^= 1;
        let metadata = {
            let mut m = backup.clone();
            let o = m.as_object_mut().unwrap();
            for k in ["AdminEncryptedParts", "ProviderEncryptedParts", "Signature", "TEESignature"] {
                o.remove(k);
            }
            m
        };
        let afm = Metadata::parse(&serde_json::to_vec(&metadata).unwrap()).unwrap().to_json().into_bytes();
        let backup_id: BackupId = {
            let bid = &response["backupId"];
            let h = |k: &str| hex::decode(bid[k].as_str().unwrap().trim_start_matches("0x")).unwrap();
            BackupId {
                teeId: <[u8; 20]>::try_from(h("teeId")).unwrap().into(),
                walletId: <[u8; 32]>::try_from(h("walletId")).unwrap().into(),
                keyId: bid["keyId"].as_u64().unwrap(),
                keyType: <[u8; 32]>::try_from(h("keyType")).unwrap().into(),
                signingAlgo: <[u8; 32]>::try_from(h("signingAlgo")).unwrap().into(),
                publicKey: h("publicKey").into(),
                rewardEpochId: bid["rewardEpochId"].as_u64().unwrap() as u32,
                randomNonce: <[u8; 32]>::try_from(h("randomNonce")).unwrap().into(),
            }
        };
        let restore_msg = |nonce: u64| {
            KeyDataProviderRestore {
                teePublicKey: pubkey(&b_public),
                backupId: backup_id.clone(),
                backupUrl: "http://proxy-a/backup".into(),
                nonce: U256::from(nonce),
            }
            .abi_encode()
        };
        let admin_refs = admins();
        let restore = |net: &mut Net, nonce: u64, avm: &dyn Fn(&Signer) -> Vec<u8>| {
            let msg = restore_msg(nonce);
            let action =
                wallet_instruction(net, &c, op::KEY_DATA_PROVIDER_RESTORE, msg, afm.clone(), (&admin_refs, 2), avm);
            net.handle(&action)
        };
        // Below the provider threshold (providers 3 and 4 only: 400 < 666 shares) the restore
        // fails cleanly and stores nothing.
        let short = restore(&mut b, 3, &|s: &Signer| {
            let skip = [c.signer(1).address, c.signer(2).address];
            if skip.contains(&s.address) { vec![] } else { avm.get(&s.address).cloned().unwrap_or_default() }
        });
        assert_eq!(short.result.status, status::ERROR);
        assert_eq!(short.result.log, "operation failed: not enough provider shares");
        // Admins below their threshold (one of two) fail too.
        let one_admin = restore(&mut b, 3, &|s: &Signer| {
            if s.address == admins()[0].address || s.address == admins()[1].address {
                vec![]
            } else {
                avm.get(&s.address).cloned().unwrap_or_default()
            }
        });
        assert_eq!(one_admin.result.log, "operation failed: not enough admin shares");

        let r = restore(&mut b, 3, &|s: &Signer| avm.get(&s.address).cloned().unwrap_or_default());
        assert_ok_with_status(&r);
        let restored = check_proof(&b, &json(&r));
        assert_eq!(restored.publicKey, key.publicKey, "the same key");
        assert!(restored.restored);
        assert_eq!(restored.nonce, U256::from(3));
        let status: serde_json::Value = serde_json::from_slice(&r.result.additional_result_status).unwrap();
        assert_eq!(status["ErrorPositions"], serde_json::json!([0]), "the tampered split was skipped");
        // Restoring the same key again is refused.
        let again = restore(&mut b, 4, &|s: &Signer| avm.get(&s.address).cloned().unwrap_or_default());
        assert_eq!(again.result.log, "operation failed: wallet with given wallet-key id already exists");
    }

    /// A backup judged by an implementation that is not ours: `tests/judge/wallet_backup.py`
    /// (Python `cryptography` + pycryptodome's keccak; `.ci/run` and `cargo xtask test` install
    /// them) decrypts every split with its owner's key, checks every signature over Go's JSON and
    /// rebuilds the key from exactly 666 provider shares taken out of order.
    #[test]
    fn backup_checked_by_an_independent_judge() {
        let c = c100();
        let mut a = Net::on_chain(CHAIN, CHAIN_BOUND, 21);
        a.init(&c, true);
        assert_ok(&generate(&mut a, &c, 3, EVM_SIGN_ALGO));
        let state = a.tee.state();
        let providers: Vec<[u8; 64]> = c.keys().iter().map(|k| k.0).collect();
        let wallet = state.wallets.iter().next().unwrap();
        let made = fcc_core::wallet::backup::backup_wallet(
            wallet,
            &providers,
            &c.weights,
            c.epoch,
            &state.identity,
            CHAIN,
            &mut TestRng(8),
        )
        .unwrap();
        let secret = |s: &Signer| hex::encode(s.secret.to_secret_bytes());
        let case = serde_json::json!({
            "response": made.response_json(),
            "chainId": CHAIN,
            "teePublicKey": hex::encode(state.identity.public_key()),
            "providers": (0..c.members.len()).map(|p| secret(c.signer(p))).collect::<Vec<_>>(),
            "admins": admins().iter().map(|a| secret(a)).collect::<Vec<_>>(),
            "weights": c.weights,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.json");
        std::fs::write(&path, case.to_string()).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/judge/wallet_backup.py");
        let out = std::process::Command::new("python3").arg(script).arg(&path).output().unwrap_or_else(|e| {
            panic!("python3 is needed for the independent judge ({e}); `cargo xtask test` installs its modules")
        });
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the judge refused the backup:\n{stdout}{}\n(needs pip packages cryptography and pycryptodome==3.23.0)",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with("OK: 3 admin and 1000 provider shares"), "{stdout}");
        eprintln!("{stdout}");
        // The judge can say no: the same backup with one provider split cut short is refused.
        let mut bad = made.clone();
        bad.provider.splits[1].truncate(200);
        let mut case = case;
        case["response"] = serde_json::Value::String(bad.response_json());
        std::fs::write(&path, case.to_string()).unwrap();
        let out = std::process::Command::new("python3").arg(script).arg(&path).output().unwrap();
        assert!(!out.status.success(), "the judge accepted a damaged backup");
    }

    /// Backup sizes: Flare's example (100 providers, 3 admins) and our bound (300 providers, 32
    /// admins), which must fit `MAX_BACKUP_DATA_LEN`.
    #[test]
    fn backup_sizes_at_the_bounds() {
        use fcc_core::limits::{MAX_BACKUP_DATA_LEN, MAX_VOTERS, MAX_WALLET_ADMINS};
        use fcc_core::wallet::{ConfigConstants, KeyIdPair, Wallet};
        let tee = fcc_core::identity::TeeIdentity::from_secret_for_tests(&[0x44; 32]).unwrap();
        for (providers, admins) in [(100usize, 3usize), (MAX_VOTERS, MAX_WALLET_ADMINS)] {
            let keys: Vec<[u8; 64]> = (0..providers as u32).map(|i| Signer::derive(50_000 + i).public).collect();
            let config = ConfigConstants {
                admins: (0..admins as u32).map(|i| Signer::derive(60_000 + i).public).collect(),
                admins_threshold: admins as u64 / 2 + 1,
                cosigners: vec![],
                cosigners_threshold: 0,
            };
            let mut rng = TestRng(3);
            let id = KeyIdPair { wallet_id: WALLET, key_id: 1 };
            let wallet = Wallet::generate(id, KEY_TYPE_EVM, EVM_SIGN_ALGO, config, &mut rng).unwrap();
            let weights: Vec<u16> = (0..providers).map(|i| 100 + (i % 7) as u16).collect();
            let started = std::time::Instant::now();
            let b =
                fcc_core::wallet::backup::backup_wallet(&wallet, &keys, &weights, 5, &tee, CHAIN, &mut rng).unwrap();
            let took = started.elapsed();
            let (blob, json) = (b.to_blob().len(), b.response_json().len());
            eprintln!("backup, {providers} providers + {admins} admins: blob {blob} B, Flare JSON {json} B ({took:?})");
            assert!(blob <= MAX_BACKUP_DATA_LEN, "{blob} > {MAX_BACKUP_DATA_LEN}");
        }
    }

    /// Wallet keys and their records are sealed with every change, before the result goes out:
    /// a TEE resumed from the blob holds the same key (same proof), a deleted key stays deleted
    /// and its pair can never be generated again.
    #[test]
    fn wallet_keys_and_records_survive_a_reboot_in_the_sealed_state() {
        let c = c100();
        let config = Config { chain_id: CHAIN, policy_hash: CHAIN_BOUND, registration: None };
        let mut net = Net::new(CHAIN_BOUND);
        net.tee =
            Tee::new(config, &mut TestRng(7), Registry::system()).unwrap().with_sealing(SealingKey::simulated(&config));
        net.init(&c, true);
        let _ = net.tee.take_sealed();
        let made = generate(&mut net, &c, 5, EVM_SIGN_ALGO);
        assert_ok(&made);
        let after_generate = net.tee.take_sealed().expect("a new key is sealed");
        assert_ok(&generate(&mut net, &c, 6, EVM_SIGN_ALGO));
        let msg = KeyDelete { teeId: net.tee_id.into(), walletId: WALLET.into(), keyId: 6, nonce: U256::from(3) }
            .abi_encode();
        let a = wallet_instruction(&mut net, &c, op::KEY_DELETE, msg, vec![], (&[], 0), &|_| vec![]);
        assert_ok(&net.handle(&a));
        let after_delete = net.tee.take_sealed().expect("a delete is sealed");
        // Queries change nothing sealed.
        let q = net.direct(op::F_GET, op::KEY_INFO, vec![]);
        let _ = net.handle(&q);
        assert_eq!(net.tee.take_sealed(), None);

        let resume = |blob: &[u8]| {
            let sealed = SealingKey::simulated(&config).open(blob).unwrap();
            Tee::resume(config, SealingKey::simulated(&config), &sealed, &mut TestRng(99), Registry::system()).unwrap()
        };
        net.tee = resume(&after_delete);
        let init = net.init_action(&c, true);
        assert_ok(&net.handle(&init));
        let w = format!("0x{}", hex::encode(WALLET));
        let a = net.direct(op::F_GET, op::KEY_INFO, vec![]);
        assert_eq!(json(&net.handle(&a)), serde_json::json!([{"walletId": w, "keyId": 5, "nonce": 0}]));
        let a = net.direct(op::F_GET, op::KEY_PROOF, format!(r#"[{{"walletId":"{w}","keyId":5}}]"#).into_bytes());
        let proof = json(&net.handle(&a));
        assert_eq!(proof[0], json(&made), "the same key, the same proof");
        assert_eq!(
            generate(&mut net, &c, 6, EVM_SIGN_ALGO).result.log,
            "operation failed: a permanent record of the wallet already exists",
            "the deleted pair's record came back with the key"
        );
        // An older blob knows nothing of what came after it (key 6 and its delete): sealing
        // cannot stop a host handing back an older state (docs/PROTOCOL.md §7.1).
        net.tee = resume(&after_generate);
        assert_eq!(net.tee.state().wallets.len(), 1, "only key 5 existed then");
        assert!(!net.tee.state().wallets.ever_existed(&fcc_core::wallet::KeyIdPair { wallet_id: WALLET, key_id: 6 }));
    }

    /// The machine-path hash against the vector computed independently (eth-abi) from
    /// tee-node's `MachinePathListDataHash`.
    #[test]
    fn machine_path_list_hash_matches_the_independent_vector() {
        use fcc_core::wallet::direct::{MachinePath, encode_path_list, path_list_hash};
        let mut ext = [0u8; 32];
        ext[31] = 1;
        let paths = [MachinePath { sources: vec![[0xaa; 20]], destinations: vec![[0xbb; 20], [0xcc; 20]] }];
        // alloy's abi.encode of the three parameters.
        use alloy_primitives::Address as A;
        let by_alloy = (
            U256::from(1),
            U256::from(3),
            vec![(vec![A::from([0xaa; 20])], vec![A::from([0xbb; 20]), A::from([0xcc; 20])])],
        )
            .abi_encode_params();
        assert_eq!(encode_path_list(&ext, 3, &paths), by_alloy);
        assert_eq!(
            hex::encode(alloy_primitives::keccak256(encode_path_list(&ext, 3, &paths))),
            "1d37ad9d906357f83994abd9a7497975b2945636d3e9769ba4126e1471e9c3c0"
        );
        assert_eq!(
            hex::encode(path_list_hash(14, &ext, 3, &paths)),
            "f3687437c02d6f8309536db8927dfca0ffa0861b4a210ff36c3144d47aef9cf8"
        );
    }

    const EXTENSION: [u8; 32] = {
        let mut e = [0u8; 32];
        e[31] = 7;
        e
    };

    /// Governance: pool keys 25, 26, 27, two of them needed.
    fn governance() -> fcc_core::config::Governance {
        let signers: Vec<[u8; 20]> = (25..28).map(|i| pool()[i].address).collect();
        fcc_core::config::Governance::new(&signers, 2).unwrap()
    }

    fn governed(seed: u64, c: &Committee) -> Net {
        let registration =
            fcc_core::Registration { extension_id: EXTENSION, owner: [0x0b; 20], governance: governance() };
        let config = Config { chain_id: CHAIN, policy_hash: CHAIN_BOUND, registration: Some(registration) };
        let mut net = Net::on_chain(CHAIN, CHAIN_BOUND, seed);
        net.tee = Tee::new(config, &mut TestRng(seed), Registry::system()).unwrap();
        net.tee_id = net.tee.state().identity.address();
        net.init(c, true);
        net
    }

    /// Flare's SET_MACHINE_PATH_LIST request: one path `sources` → `destinations` at `nonce`,
    /// signed by the pool keys `signers`.
    fn path_list(sources: &[[u8; 20]], destinations: &[[u8; 20]], nonce: u64, signers: &[usize]) -> Vec<u8> {
        use base64::Engine;
        use fcc_core::wallet::direct::{MachinePath, path_list_hash};
        let paths = [MachinePath { sources: sources.to_vec(), destinations: destinations.to_vec() }];
        let digest = eip191_hash_message(path_list_hash(CHAIN, &EXTENSION, nonce, &paths)).0;
        let sigs: Vec<String> = signers
            .iter()
            .map(|&i| base64::engine::general_purpose::STANDARD.encode(pool()[i].sign(&digest)))
            .collect();
        let hexes = |a: &[[u8; 20]]| a.iter().map(|x| format!("0x{}", hex::encode(x))).collect::<Vec<_>>();
        serde_json::to_vec(&serde_json::json!({
            "Paths": [{"SourceTeeIds": hexes(sources), "DestinationTeeIds": hexes(destinations)}],
            "Nonce": nonce,
            "Signatures": sigs,
        }))
        .unwrap()
    }

    /// Governance lets keys move A → C only: A's key reaches C, which then holds the same key;
    /// D (not on the path), a stale path nonce and short or foreign governance signatures are
    /// refused.
    #[test]
    fn a_key_moves_directly_only_along_a_governance_path() {
        use fcc_core::wallet::direct::KeyDirectBackup;
        let c = c100();
        let (mut a, mut cc, mut d) = (governed(31, &c), governed(32, &c), governed(33, &c));
        let list = path_list(&[a.tee_id], &[cc.tee_id], 1, &[25, 27]);
        for net in [&mut a, &mut cc, &mut d] {
            let set = net.direct(op::F_GOVERNANCE, op::SET_MACHINE_PATH_LIST, list.clone());
            let r = net.handle(&set);
            assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
            assert!(r.result.data.is_empty());
            assert_eq!(net.tee.state().paths.nonce(), 1);
        }
        // Replayed, one signature short, a stranger's signature: refused.
        let replay = a.direct(op::F_GOVERNANCE, op::SET_MACHINE_PATH_LIST, list.clone());
        assert!(a.handle(&replay).result.log.contains("nonce not higher"));
        let short =
            a.direct(op::F_GOVERNANCE, op::SET_MACHINE_PATH_LIST, path_list(&[a.tee_id], &[d.tee_id], 2, &[26]));
        assert!(a.handle(&short).result.log.contains("governance threshold not reached"));
        let stranger =
            a.direct(op::F_GOVERNANCE, op::SET_MACHINE_PATH_LIST, path_list(&[a.tee_id], &[d.tee_id], 2, &[25, 3]));
        assert_eq!(a.handle(&stranger).result.additional_result_status, 304u16.to_be_bytes(), "UnknownSigner");
        // The statement reports the list.
        let statement = a.tee.state().statement(fcc_core::attester::PlatformKind::Plain, &[0; 32], 0);
        assert_eq!(statement.machine_path_list_nonce, 1);

        let made = generate(&mut a, &c, 4, EVM_SIGN_ALGO);
        let key = check_proof(&a, &json(&made));
        let move_to = |net: &mut Net, to: &Net, path_nonce: u64| {
            let msg = KeyDirectBackup {
                source: net.tee_id,
                id: fcc_core::wallet::KeyIdPair { wallet_id: WALLET, key_id: 4 },
                destination: *to.tee.state().identity.public_key(),
                path_nonce,
            };
            let action =
                wallet_instruction(net, &c, op::KEY_DIRECT_BACKUP, msg.encode(), vec![], (&[], 0), &|_| vec![]);
            net.handle(&action)
        };
        assert!(move_to(&mut a, &d, 1).result.log.contains("no machine path from this TEE"));
        assert!(move_to(&mut a, &cc, 0).result.log.contains("not the current one"));
        let r = move_to(&mut a, &cc, 1);
        assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
        let envelope = json(&r);
        let payload = hex::decode(envelope["payload"].as_str().unwrap().trim_start_matches("0x")).unwrap();
        // The source TEE's signature, checked with alloy and libsecp256k1.
        let digest = eip191_hash_message(alloy_payload_hash(
            "TEE_KEY_DIRECT_BACKUP",
            CHAIN,
            alloy_primitives::keccak256(&payload).0,
        ))
        .0;
        let sig: [u8; 65] = hex::decode(envelope["teeSignature"].as_str().unwrap().trim_start_matches("0x"))
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(secp_recover(&sig, &digest), Some(a.tee_id));
        let p: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(p["backupId"]["teeId"], format!("0x{}", hex::encode(a.tee_id)));
        assert_eq!(p["cosigners"], serde_json::Value::Null, "Go's nil slice");
        assert_eq!(
            p["status"],
            serde_json::json!({"Nonce": 0, "PausingNonce": format!("0x{}", "00".repeat(32)), "StatusCode": 0})
        );

        // C restores it; D (no path A → D) cannot.
        let backup_id = fcc_core::wallet::codec::BackupId {
            tee_id: a.tee_id,
            id: fcc_core::wallet::KeyIdPair { wallet_id: WALLET, key_id: 4 },
            public_key: key.publicKey.to_vec().try_into().unwrap(),
            key_type: KEY_TYPE_EVM,
            signing_algo: EVM_SIGN_ALGO,
            reward_epoch_id: c.epoch,
            random_nonce: hex::decode(p["backupId"]["randomNonce"].as_str().unwrap().trim_start_matches("0x"))
                .unwrap()
                .try_into()
                .unwrap(),
        };
        let restore = |net: &mut Net, path_nonce: u64| {
            let msg = fcc_core::wallet::direct::KeyDirectRestore {
                source: a.tee_id,
                source_proxy_url: b"http://proxy-a",
                backup_id: backup_id.clone(),
                backup_instruction_id: r.result.id,
                destination_nonce: 1,
                path_nonce,
            };
            let env = serde_json::to_vec(&envelope).unwrap();
            let action = wallet_instruction(net, &c, op::KEY_DIRECT_RESTORE, msg.encode(), env, (&[], 0), &|_| vec![]);
            net.handle(&action)
        };
        assert!(restore(&mut d, 1).result.log.contains("no machine path from the source TEE"));
        assert!(restore(&mut cc, 2).result.log.contains("stale node state"));
        let done = restore(&mut cc, 1);
        let restored = check_proof(&cc, &json(&done));
        assert_eq!((restored.publicKey, restored.restored, restored.nonce), (key.publicKey, true, U256::from(1)));
        assert!(restore(&mut cc, 1).result.log.contains("already exists"), "once");
        // The key stays at A too (tee-node does not delete it).
        assert!(a.tee.state().wallets.exists(&fcc_core::wallet::KeyIdPair { wallet_id: WALLET, key_id: 4 }));
    }

    fn assert_ok_with_status(r: &SignedResult) {
        assert_eq!(r.result.status, status::SUCCESS, "refused: {}", r.result.log);
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    /// The `KeyBackupRegistry` heartbeat: only for a key backed up since boot, for this TEE's
    /// extension, under the registry's `backupId` and the `key-backup` tag; id, data and record
    /// decoded by alloy as the contract does (`abi.decode`), the record naming the key's address
    /// and the backup's content hash.
    #[test]
    fn heartbeat_names_the_latest_backup_for_the_registry() {
        use fcc_core::wallet::heartbeat::Heartbeat;
        use fcc_core::wallet::{KeyIdPair, address_of_xy};
        sol! {
            struct BackupData { bytes32 domain; address registry; uint256 extensionId; bytes32 walletId; uint64 sequence; uint64 referenceBlock; bytes32 referenceHash; bytes record; }
            struct Record { uint64 keyId; address keyAddress; bytes32 backupHash; }
        }
        let c = c101();
        let mut net = governed(31, &c);
        let proof = json(&generate(&mut net, &c, 1, EVM_SIGN_ALGO));
        let key = check_proof(&net, &proof).publicKey.to_vec();
        let mut h = Heartbeat {
            id: KeyIdPair { wallet_id: WALLET, key_id: 1 },
            registry: [0x4b; 20],
            extension_id: EXTENSION,
            reference_block: 5_000,
            reference_hash: [0x99; 32],
            backup_hash: [0x33; 32],
        };
        let heartbeat = |net: &mut Net, h: &Heartbeat| net.handle(&Action::key_backup_heartbeat(&net.tee_id, h, CHAIN));
        assert_eq!(
            heartbeat(&mut net, &h).result.log,
            "operation failed: no backup of this key since boot (ask F_GET/TEE_BACKUP first)"
        );
        let w = format!("0x{}", hex::encode(WALLET));
        let mut backups = vec![];
        for _ in 0..2 {
            let action =
                net.direct(op::F_GET, op::TEE_BACKUP, format!(r#"{{"walletId":"{w}","keyId":1}}"#).into_bytes());
            let r = net.handle(&action);
            backups.push(fcc_core::wallet::backup::WalletBackup::from_blob(&r.result.data, CHAIN).unwrap());
        }
        let latest = backups.pop().unwrap();
        // Only the latest backup is named: not one the proxy never got, not an earlier one.
        h.backup_hash = backups[0].content_hash();
        assert_eq!(heartbeat(&mut net, &h).result.log, "operation failed: backupHash is not this key's latest backup");
        h.backup_hash = latest.content_hash();

        let r = heartbeat(&mut net, &h);
        assert_ok(&r);
        assert_eq!(r.result.submission_tag, SubmissionTag::KeyBackup);
        let id = alloy_primitives::keccak256(
            (
                alloy_primitives::B256::from(op::name("FCC_KEY_BACKUP_V2")),
                U256::from(CHAIN),
                alloy_primitives::Address::from(h.registry),
                U256::from_be_bytes(EXTENSION),
                alloy_primitives::B256::from(WALLET),
                5_000u64,
            )
                .abi_encode_params(),
        );
        assert_eq!(r.result.id, id.0, "the registry's backupId");
        let data = <BackupData as SolType>::abi_decode_params_validate(&r.result.data).unwrap();
        assert_eq!(data.domain.0, op::name("FCC_KEY_BACKUP_V2"));
        assert_eq!(
            (data.registry.0.0, data.extensionId, data.walletId.0),
            (h.registry, U256::from_be_bytes(EXTENSION), WALLET)
        );
        assert_eq!((data.sequence, data.referenceBlock, data.referenceHash.0), (5_000, 5_000, [0x99; 32]));
        let record = <Record as SolType>::abi_decode_params_validate(&data.record).unwrap();
        assert_eq!(record.keyId, 1);
        assert_eq!(record.keyAddress, alloy_primitives::Address::from_raw_public_key(&key));
        assert_eq!(record.keyAddress.0.0, address_of_xy(&latest.metadata.backup_id.public_key));
        assert_eq!(record.backupHash.0, latest.content_hash(), "the latest backup, not the first");

        // What the TEE refuses: another extension, a key it does not hold, an id that is not the
        // registry's, the wrong tag, a zero reference hash, an unknown field.
        let refused = |r: SignedResult, why: &str| {
            assert!(r.result.is_refusal() && r.result.log.contains(why), "{why}: {}", r.result.log);
        };
        refused(
            heartbeat(&mut net, &Heartbeat { extension_id: [7; 32], ..h.clone() }),
            "extension id is not this TEE's",
        );
        refused(
            heartbeat(&mut net, &Heartbeat { id: KeyIdPair { wallet_id: WALLET, key_id: 2 }, ..h.clone() }),
            "wallet key not stored",
        );
        let mut a = Action::key_backup_heartbeat(&net.tee_id, &h, CHAIN);
        a.instruction.instruction_id[0] ^= 1;
        refused(net.handle(&a), "not the registry's backupId");
        let mut a = Action::key_backup_heartbeat(&net.tee_id, &h, CHAIN + 1);
        refused(net.handle(&a), "not the registry's backupId");
        a = Action::key_backup_heartbeat(&net.tee_id, &h, CHAIN);
        a.submission_tag = SubmissionTag::Submit;
        refused(net.handle(&a), "submission tag");
        // ...and no other operation takes the registry's tag.
        let mut other = net.direct(op::F_GET, op::KEY_INFO, vec![]);
        other.submission_tag = SubmissionTag::KeyBackup;
        refused(net.handle(&other), "submission tag");
        refused(heartbeat(&mut net, &Heartbeat { reference_hash: [0; 32], ..h.clone() }), "referenceHash");
        let mut a = Action::key_backup_heartbeat(&net.tee_id, &h, CHAIN);
        let mut json: serde_json::Value = serde_json::from_slice(&a.instruction.original_message).unwrap();
        json["extra"] = 1.into();
        a.instruction.original_message = json.to_string().into_bytes();
        refused(net.handle(&a), "KEY_BACKUP_HEARTBEAT request");

        // A TEE without a registration serves no heartbeat.
        let mut plain = Net::on_chain(CHAIN, CHAIN_BOUND, 32);
        plain.init(&c, true);
        refused(heartbeat(&mut plain, &Heartbeat { extension_id: EXTENSION, ..h }), "no registration configured");
    }

    /// `F_XRP/PAY` and `REISSUE` across three TEEs sharing a 2-of-3 XRPL account: each signs
    /// every fee tier with its key; xrpl-py joins two TEEs' answers into the multisigned
    /// transactions and accepts them (and refuses one TEE alone); the nonce rules hold under
    /// reissue, nullify and double-spend attempts; and every refusal says why.
    mod xrpl_payments {
        use super::*;
        use fcc_core::wallet::ledger::LEDGER_WINDOW;
        use fcc_core::wallet::{KEY_TYPE_XRP, XRP_SIGN_ALGO};
        use fcc_core::xrpl::address;
        use fcc_core::xrpl::payment::PaymentMessage;
        use fcc_core::xrpl::tx::Signer as XrplSigner;

        sol! {
            struct TeeIdKeyIdPair { address teeId; uint64 keyId; }
            struct PaymentInstructionMessage { bytes32 walletId; TeeIdKeyIdPair[] teeIdKeyIdPairs; bytes32 sourceId; string senderAddress; string recipientAddress; bytes tokenId; uint256 amount; uint256 maxFee; bytes feeSchedule; bytes32 paymentReference; uint64 nonce; uint64 paymentId; }
        }

        const RECIPIENT: &str = "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe";

        fn multisig_account() -> String {
            address::encode(&[0x5a; 20])
        }

        /// A fresh XRP key `key_id` (with `cosigners`) in `net`'s TEE; its XRPL account.
        fn xrp_key(net: &mut Net, c: &Committee, key_id: u64, cosigners: (&[&Signer], u64)) -> String {
            let msg = KeyGenerate {
                teeId: net.tee_id.into(),
                walletId: WALLET.into(),
                keyId: key_id,
                keyType: KEY_TYPE_XRP.into(),
                signingAlgo: XRP_SIGN_ALGO.into(),
                configConstants: KeyConfigConstants {
                    cosigners: cosigners.0.iter().map(|s| s.address.into()).collect(),
                    cosignersThreshold: cosigners.1,
                    ..config()
                },
            }
            .abi_encode();
            let a = wallet_instruction(net, c, op::KEY_GENERATE, msg, vec![], (&[], 0), &|_| vec![]);
            let r = net.handle(&a);
            assert_ok(&r);
            let xy = check_proof(net, &json(&r)).publicKey.to_vec();
            let point = k256::PublicKey::from_sec1_bytes(&[&[4u8][..], &xy].concat()).unwrap();
            let compressed: [u8; 33] =
                k256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&point, true).as_bytes().try_into().unwrap();
            address::encode(&address::account_id(&compressed))
        }

        fn message(
            pairs: &[([u8; 20], u64)],
            amount: u64,
            max_fee: u64,
            schedule: &str,
            nonce: u64,
        ) -> PaymentInstructionMessage {
            PaymentInstructionMessage {
                walletId: WALLET.into(),
                teeIdKeyIdPairs: pairs.iter().map(|(t, k)| TeeIdKeyIdPair { teeId: (*t).into(), keyId: *k }).collect(),
                sourceId: [0x50; 32].into(),
                senderAddress: multisig_account(),
                recipientAddress: RECIPIENT.into(),
                tokenId: vec![].into(),
                amount: U256::from(amount),
                maxFee: U256::from(max_fee),
                feeSchedule: hex::decode(schedule).unwrap().into(),
                paymentReference: alloy_primitives::keccak256(b"fcc"),
                nonce,
                paymentId: 1,
            }
        }

        fn pay_action(net: &mut Net, c: &Committee, command: OpName, m: &PaymentInstructionMessage) -> Action {
            instruction_of(net, c, (op::F_XRP, command), m.abi_encode(), vec![], (&[], 0), &|_| vec![])
        }

        fn pay(net: &mut Net, c: &Committee, command: OpName, m: &PaymentInstructionMessage) -> SignedResult {
            let a = pay_action(net, c, command, m);
            net.handle(&a)
        }

        fn signers_of(answer: &serde_json::Value, tier: usize) -> Vec<XrplSigner> {
            answer[tier]["Signers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let s = &s["Signer"];
                    XrplSigner {
                        account: address::decode(s["Account"].as_str().unwrap()).unwrap().account,
                        public_key: hex::decode(s["SigningPubKey"].as_str().unwrap()).unwrap().try_into().unwrap(),
                        signature: hex::decode(s["TxnSignature"].as_str().unwrap()).unwrap(),
                    }
                })
                .collect()
        }

        /// Runs the xrpl-py judge on `joined`; whether it accepted, and what it said.
        fn judge(joined: serde_json::Value) -> (bool, String) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("case.json");
            let input = serde_json::json!({"transactions": [], "xaddresses": [], "joined": [joined]});
            std::fs::write(&path, input.to_string()).unwrap();
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/judge/xrpl_multisign.py");
            let out = std::process::Command::new("python3").arg(script).arg(&path).output().unwrap_or_else(|e| {
                panic!("python3 is needed for the independent judge ({e}); `cargo xtask test` installs xrpl-py")
            });
            let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.success(), said)
        }

        #[test]
        fn three_tees_sign_a_two_of_three_payment_that_xrpl_py_accepts() {
            let c = c100();
            let mut nets: Vec<Net> = (41..44).map(|seed| Net::on_chain(CHAIN, CHAIN_BOUND, seed)).collect();
            let mut accounts = vec![];
            for net in &mut nets {
                net.init(&c, true);
                accounts.push(xrp_key(net, &c, 1, (&[], 0)));
            }
            let pairs: Vec<_> = nets.iter().map(|n| (n.tee_id, 1)).collect();
            // 10000 bips at 0 s, 5000 at 5 s, a nullify at 10 s.
            let m = message(&pairs, 1_000_000, 120, "2710000013880005d8f0000a", 77);
            let answers: Vec<serde_json::Value> = nets[..2]
                .iter_mut()
                .map(|net| {
                    let r = pay(net, &c, op::PAY, &m);
                    assert_ok(&r);
                    json(&r)
                })
                .collect();
            let expected = serde_json::json!([
                {"TransactionType": "Payment", "Account": multisig_account(), "Destination": RECIPIENT,
                 "Amount": "1000000", "Fee": "120", "Sequence": 77, "SigningPubKey": ""},
                {"TransactionType": "Payment", "Fee": "60", "Sequence": 77},
                {"TransactionType": "AccountSet", "Account": multisig_account(), "Fee": "120", "Sequence": 77},
            ]);
            for (answer, account) in answers.iter().zip(&accounts) {
                assert_eq!(answer.as_array().unwrap().len(), 3, "one transaction per fee tier");
                for tier in 0..3 {
                    assert_eq!(answer[tier]["Signers"].as_array().unwrap().len(), 1, "this TEE's key only");
                    assert_eq!(answer[tier]["Signers"][0]["Signer"]["Account"], account.as_str());
                    assert_eq!(
                        answer[tier]["Memos"][0]["Memo"]["MemoData"],
                        hex::encode(alloy_primitives::keccak256(b"fcc"))
                    );
                }
                assert!(answer[2].get("Destination").is_none() && answer[2].get("Amount").is_none());
            }
            // Our assembly of the two answers, which xrpl-py must reproduce from the JSON.
            let txs = PaymentMessage::decode(&m.abi_encode()).unwrap().transactions().unwrap();
            let blobs: Vec<String> = (0..3)
                .map(|tier| {
                    let mut signers: Vec<XrplSigner> = answers.iter().flat_map(|a| signers_of(a, tier)).collect();
                    signers.sort_by_key(|s| s.account);
                    hex::encode_upper(txs[tier].1.multisigned(&signers).unwrap())
                })
                .collect();
            let signer_list: Vec<_> = accounts.iter().map(|a| serde_json::json!({"account": a, "weight": 1})).collect();
            let case = serde_json::json!({
                "answers": answers, "signer_list": signer_list, "quorum": 2, "expected": expected, "blobs": blobs,
            });
            let (ok, said) = judge(case.clone());
            assert!(ok, "xrpl-py refused the joined payment:\n{said}\n(needs the pip package xrpl-py==4.3.0)");
            // The judge can say no: one TEE is not a quorum of a 2-of-3 account.
            let one = serde_json::json!({
                "answers": [answers[0].clone()], "signer_list": case["signer_list"], "quorum": 2, "expected": expected,
                "blobs": (0..3).map(|tier| hex::encode_upper(txs[tier].1.multisigned(&signers_of(&answers[0], tier)).unwrap())).collect::<Vec<_>>(),
            });
            let (ok, said) = judge(one);
            assert!(!ok && said.contains("quorum not met"), "{said}");

            // The third TEE, asked for a pair list without it, has nothing to sign.
            let r = pay(&mut nets[2], &c, op::PAY, &message(&pairs[..2], 1_000_000, 120, "27100000", 77));
            assert_refused(&r, Error::OperationFailed { reason: "no keys of this TEE in teeIdKeyIdPairs" });
        }

        #[test]
        fn one_payment_per_sequence_reissues_change_only_the_fee() {
            let c = c100();
            let mut net = Net::on_chain(CHAIN, CHAIN_BOUND, 51);
            net.init(&c, true);
            xrp_key(&mut net, &c, 1, (&[], 0));
            let me = [(net.tee_id, 1)];
            let m = message(&me, 1_000_000, 100, "27100000", 9);
            assert_ok(&pay(&mut net, &c, op::PAY, &m));
            let double = Error::OperationFailed {
                reason: "nonce already signed for another payment (a reissue may change only the fee)",
            };
            // A reissue with other fees: signed, at the new fee.
            let reissue = PaymentInstructionMessage {
                maxFee: U256::from(300),
                feeSchedule: hex::decode("27100000138800b4").unwrap().into(),
                ..m.clone()
            };
            let r = pay(&mut net, &c, op::REISSUE, &reissue);
            assert_ok(&r);
            assert_eq!((json(&r)[0]["Fee"].as_str(), json(&r)[1]["Fee"].as_str()), (Some("300"), Some("150")));
            // The same instruction again (another id): the same payment, signed again.
            assert_ok(&pay(&mut net, &c, op::PAY, &m));
            // Anything else for Sequence 9 is a second payment: refused, whatever the command.
            for other in [
                PaymentInstructionMessage { amount: U256::from(1_000_001), ..m.clone() },
                PaymentInstructionMessage {
                    recipientAddress: "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".into(),
                    ..m.clone()
                },
                PaymentInstructionMessage { paymentReference: [1; 32].into(), ..m.clone() },
                // The same account with a destination tag (5; the X-address from xrpl-py) is another
                // destination.
                PaymentInstructionMessage {
                    recipientAddress: "XV5kHfQmzDQjbFNv4jX3FX9Y7ig5QhfNvAARrcLULACDrEp".into(),
                    ..m.clone()
                },
            ] {
                for command in [op::PAY, op::REISSUE] {
                    assert_refused(&pay(&mut net, &c, command, &other), double);
                }
            }
            // A nullify of Sequence 9 pays nothing: signed, whatever its payment fields say.
            let nullify = PaymentInstructionMessage {
                amount: U256::from(5),
                feeSchedule: hex::decode("d8f00000").unwrap().into(),
                ..m.clone()
            };
            let r = pay(&mut net, &c, op::REISSUE, &nullify);
            assert_ok(&r);
            assert_eq!(json(&r)[0]["TransactionType"], "AccountSet");
            // …but a schedule mixing a nullify with another payment is still a second payment.
            let mixed =
                PaymentInstructionMessage { feeSchedule: hex::decode("d8f0000027100005").unwrap().into(), ..nullify };
            assert_refused(&pay(&mut net, &c, op::REISSUE, &mixed), double);
            // The key pays from one account only.
            let elsewhere =
                PaymentInstructionMessage { senderAddress: address::encode(&[0x6b; 20]), nonce: 10, ..m.clone() };
            assert_refused(
                &pay(&mut net, &c, op::PAY, &elsewhere),
                Error::OperationFailed { reason: "the key signs for another account (one account per key)" },
            );
            // Other Sequences are other payments.
            let next = PaymentInstructionMessage { amount: U256::from(7), nonce: 10, ..m.clone() };
            assert_ok(&pay(&mut net, &c, op::PAY, &next));
            // The window: LEDGER_WINDOW Sequences above 10 push 9 and 10 out; 9 is dead then,
            // even for its own payment.
            for n in 0..LEDGER_WINDOW as u64 {
                assert_ok(&pay(&mut net, &c, op::PAY, &PaymentInstructionMessage { nonce: 100 + n, ..m.clone() }));
            }
            assert_refused(
                &pay(&mut net, &c, op::REISSUE, &m),
                Error::OperationFailed {
                    reason: "nonce below the key's ledger window (spent or dead; nothing is signed for it)",
                },
            );
        }

        #[test]
        fn refusals_name_their_reason() {
            let c = c100();
            let mut net = Net::on_chain(CHAIN, CHAIN_BOUND, 52);
            net.init(&c, true);
            let cosigner = &pool()[30];
            xrp_key(&mut net, &c, 1, (&[cosigner], 1));
            assert_ok(&generate(&mut net, &c, 2, EVM_SIGN_ALGO));
            let m = message(&[(net.tee_id, 1)], 1_000, 100, "27100000", 3);
            // The key's cosigners must sign, with its threshold.
            let cosigned = |net: &mut Net, m: &PaymentInstructionMessage, cosigners: (&[&Signer], u64)| {
                let a = instruction_of(net, &c, (op::F_XRP, op::PAY), m.abi_encode(), vec![], cosigners, &|_| vec![]);
                net.handle(&a)
            };
            assert_ok(&cosigned(&mut net, &m, (&[cosigner], 1)));
            let wrong = Error::OperationFailed { reason: "cosigners must be the wallet key's, with its threshold" };
            assert_refused(&cosigned(&mut net, &m, (&[], 0)), wrong);
            assert_refused(&cosigned(&mut net, &m, (&[cosigner, &pool()[31]], 1)), wrong);
            assert_refused(&cosigned(&mut net, &m, (&[cosigner], 0)), wrong);
            // An EVM key signs no XRPL payment; a missing key none either.
            let evm = message(&[(net.tee_id, 2)], 1_000, 100, "27100000", 3);
            assert_refused(
                &pay(&mut net, &c, op::PAY, &evm),
                Error::OperationFailed { reason: "key type does not allow the action" },
            );
            let missing = message(&[(net.tee_id, 9)], 1_000, 100, "27100000", 3);
            assert_refused(
                &pay(&mut net, &c, op::PAY, &missing),
                Error::OperationFailed { reason: "wallet key not stored" },
            );
            // A key named twice would sign twice.
            let twice = message(&[(net.tee_id, 1), (net.tee_id, 1)], 1_000, 100, "27100000", 3);
            assert_refused(
                &cosigned(&mut net, &twice, (&[cosigner], 1)),
                Error::Malformed { what: "teeIdKeyIdPairs (a key listed twice)" },
            );
            // Payment instructions carry nothing beside their message.
            let a = instruction_of(
                &mut net,
                &c,
                (op::F_XRP, op::PAY),
                m.abi_encode(),
                vec![1],
                (&[cosigner], 1),
                &|_| vec![],
            );
            assert_refused(
                &net.handle(&a),
                Error::Malformed { what: "payment instruction (additional messages must be empty)" },
            );
            let a =
                instruction_of(&mut net, &c, (op::F_XRP, op::PAY), m.abi_encode(), vec![], (&[cosigner], 1), &|_| {
                    vec![2]
                });
            assert_refused(
                &net.handle(&a),
                Error::Malformed { what: "payment instruction (additional messages must be empty)" },
            );
            // The message's own refusals come through (xrpl::payment tests them all).
            let own = PaymentInstructionMessage { recipientAddress: multisig_account(), ..m.clone() };
            assert_refused(
                &cosigned(&mut net, &own, (&[cosigner], 1)),
                Error::OperationFailed { reason: "XRPL payment to its own account" },
            );
            // Nothing refused reached the ledger: the first payment is still the only one.
            let key = |key_id| fcc_core::wallet::KeyIdPair { wallet_id: WALLET, key_id };
            assert_eq!(net.tee.state().wallets.ledger(&key(1)).unwrap().signed().len(), 1);
            // The answer's bound: the longest schedule (50 tiers) fits with three keys of this TEE
            // (30,101 bytes with one, about 15 KB more per key), not with four — refused before
            // anything is recorded.
            for k in 3..6 {
                xrp_key(&mut net, &c, k, (&[cosigner], 1));
            }
            let longest = "27100000".repeat(50);
            for (keys, fits) in [(&[1][..], true), (&[1, 3, 4], true), (&[1, 3, 4, 5], false)] {
                let pairs: Vec<_> = keys.iter().map(|k| (net.tee_id, *k)).collect();
                let r = cosigned(&mut net, &message(&pairs, 1_000, 100, &longest, 4), (&[cosigner], 1));
                if fits {
                    assert_ok(&r);
                    assert_eq!(json(&r).as_array().unwrap().len(), 50);
                } else {
                    let max = fcc_core::limits::MAX_RESULT_DATA_LEN;
                    assert_refused(&r, Error::TooLarge { what: "XRPL payment answer", len: 75_751, max });
                    assert!(net.tee.state().wallets.ledger(&key(5)).is_none());
                }
            }
        }

        #[test]
        fn the_sequence_ledger_is_sealed_with_the_key() {
            let c = c100();
            let config = Config { chain_id: CHAIN, policy_hash: CHAIN_BOUND, registration: None };
            let mut net = Net::new(CHAIN_BOUND);
            net.tee = Tee::new(config, &mut TestRng(53), Registry::system())
                .unwrap()
                .with_sealing(SealingKey::simulated(&config));
            net.tee_id = net.tee.state().identity.address();
            net.init(&c, true);
            xrp_key(&mut net, &c, 1, (&[], 0));
            let _ = net.tee.take_sealed();
            let m = message(&[(net.tee_id, 1)], 1_000, 100, "27100000", 5);
            assert_ok(&pay(&mut net, &c, op::PAY, &m));
            let blob = net.tee.take_sealed().expect("a payment's ledger entry is sealed");
            assert_ok(&pay(
                &mut net,
                &c,
                op::REISSUE,
                &PaymentInstructionMessage { maxFee: U256::from(500), ..m.clone() },
            ));
            assert_eq!(net.tee.take_sealed(), None, "a reissue changes nothing sealed");

            let sealed = SealingKey::simulated(&config).open(&blob).unwrap();
            net.tee =
                Tee::resume(config, SealingKey::simulated(&config), &sealed, &mut TestRng(99), Registry::system())
                    .unwrap();
            let init = net.init_action(&c, true);
            assert_ok(&net.handle(&init));
            assert_refused(
                &pay(&mut net, &c, op::PAY, &PaymentInstructionMessage { amount: U256::from(2_000), ..m.clone() }),
                Error::OperationFailed {
                    reason: "nonce already signed for another payment (a reissue may change only the fee)",
                },
            );
            assert_ok(&pay(&mut net, &c, op::REISSUE, &m));
        }
    }

    /// `F_BTC/PAY` and `REISSUE` across three TEEs sharing a 2-of-3 P2WSH wallet: each signs
    /// every input of every fee tier; two TEEs' signatures make a transaction whose every input
    /// Bitcoin Core's interpreter accepts with the real amounts, and python-bitcoinlib decodes to
    /// the intended payment; the nonce rules hold (a reissue may change the fee and add inputs,
    /// nothing else); and every refusal says why.
    mod btc_payments {
        use super::*;
        use fcc_core::btc::multisig_witness;
        use fcc_core::btc::payment::{BtcPaymentMessage, SEQUENCE};
        use fcc_core::wallet::{BTC_SIGN_ALGO, KEY_TYPE_BTC};

        sol! {
            struct TeeIdKeyIdPair { address teeId; uint64 keyId; }
            struct BtcPayment { bytes32 walletId; TeeIdKeyIdPair[] teeIdKeyIdPairs; bytes32 sourceId; uint8 threshold; bytes publicKeys; bytes inputs; bytes recipientScript; uint256 amount; uint256 maxFee; bytes feeSchedule; bytes32 paymentReference; uint64 nonce; uint64 paymentId; }
        }

        /// A P2WPKH recipient.
        fn recipient() -> Vec<u8> {
            [&[0x00, 0x14][..], &[0x77; 20]].concat()
        }

        /// A fresh BTC key in `net`'s TEE; its compressed public key.
        fn btc_key(net: &mut Net, c: &Committee, key_id: u64) -> [u8; 33] {
            let msg = KeyGenerate {
                teeId: net.tee_id.into(),
                walletId: WALLET.into(),
                keyId: key_id,
                keyType: KEY_TYPE_BTC.into(),
                signingAlgo: BTC_SIGN_ALGO.into(),
                configConstants: config(),
            }
            .abi_encode();
            let a = wallet_instruction(net, c, op::KEY_GENERATE, msg, vec![], (&[], 0), &|_| vec![]);
            let r = net.handle(&a);
            assert_ok(&r);
            let xy = check_proof(net, &json(&r)).publicKey.to_vec();
            let point = k256::PublicKey::from_sec1_bytes(&[&[4u8][..], &xy].concat()).unwrap();
            k256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&point, true).as_bytes().try_into().unwrap()
        }

        fn inputs(utxos: &[([u8; 32], u32, u64)]) -> Vec<u8> {
            utxos.iter().flat_map(|(t, v, a)| [&t[..], &v.to_be_bytes(), &a.to_be_bytes()].concat()).collect()
        }

        fn message(
            pairs: &[([u8; 20], u64)],
            keys: &[[u8; 33]],
            utxos: &[([u8; 32], u32, u64)],
            amount: u64,
            max_fee: u64,
            schedule: &str,
            nonce: u64,
        ) -> BtcPayment {
            BtcPayment {
                walletId: WALLET.into(),
                teeIdKeyIdPairs: pairs.iter().map(|(t, k)| TeeIdKeyIdPair { teeId: (*t).into(), keyId: *k }).collect(),
                sourceId: [0x50; 32].into(),
                threshold: 2,
                publicKeys: keys.concat().into(),
                inputs: inputs(utxos).into(),
                recipientScript: recipient().into(),
                amount: U256::from(amount),
                maxFee: U256::from(max_fee),
                feeSchedule: hex::decode(schedule).unwrap().into(),
                paymentReference: alloy_primitives::keccak256(b"btc"),
                nonce,
                paymentId: 1,
            }
        }

        fn pay(net: &mut Net, c: &Committee, command: OpName, m: &BtcPayment) -> SignedResult {
            let a = instruction_of(net, c, (op::F_BTC, command), m.abi_encode(), vec![], (&[], 0), &|_| vec![]);
            net.handle(&a)
        }

        fn hex0x(v: &serde_json::Value) -> Vec<u8> {
            hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
        }

        const UTXOS: [([u8; 32], u32, u64); 2] = [([0xa1; 32], 0, 60_000), ([0xb2; 32], 3, 50_000)];

        #[test]
        fn three_tees_sign_a_two_of_three_payment_that_bitcoin_core_accepts() {
            let c = c100();
            let mut nets: Vec<Net> = (61..64).map(|seed| Net::on_chain(CHAIN, CHAIN_BOUND, seed)).collect();
            let mut keys = vec![];
            for net in &mut nets {
                net.init(&c, true);
                keys.push(btc_key(net, &c, 1));
            }
            let pairs: Vec<_> = nets.iter().map(|n| (n.tee_id, 1)).collect();
            // 10000 bips of 2000 sat at 0 s, 5000 at 5 s, a nullify at 10 s.
            let m = message(&pairs, &keys, &UTXOS, 70_000, 2_000, "2710000013880005d8f0000a", 5);
            let answers: Vec<serde_json::Value> = nets[..2]
                .iter_mut()
                .map(|net| {
                    let r = pay(net, &c, op::PAY, &m);
                    assert_ok(&r);
                    json(&r)
                })
                .collect();
            let ours = BtcPaymentMessage::decode(&m.abi_encode()).unwrap();
            let witness_script = ours.witness_script().unwrap();
            let spk = fcc_core::btc::p2wsh_script_pubkey(&witness_script);
            let tiers = ours.transactions().unwrap();
            let mut sorted_keys = keys.clone();
            sorted_keys.sort_unstable();
            let mut cases = vec![];
            for (t, (tier, tx)) in tiers.iter().enumerate() {
                // Every answer names this tier's transaction; each TEE signed every input once.
                for a in &answers {
                    assert_eq!(hex0x(&a[t]["tx"]), tx.serialize_unsigned().unwrap());
                    assert_eq!(hex0x(&a[t]["txid"]), tx.txid().unwrap());
                    assert_eq!(a[t]["signatures"].as_array().unwrap().len(), 2);
                }
                // The witness: the two signatures in the script's key order (BIP67), SIGHASH_ALL appended.
                let witnesses: Vec<Vec<Vec<u8>>> = (0..2)
                    .map(|index| {
                        let mut sigs: Vec<([u8; 33], Vec<u8>)> = answers
                            .iter()
                            .flat_map(|a| a[t]["signatures"].as_array().unwrap().clone())
                            .filter(|s| s["index"] == index)
                            .map(|s| {
                                assert_eq!(s["keyId"], 1);
                                let key: [u8; 33] = hex0x(&s["pubKey"]).try_into().unwrap();
                                (key, [hex0x(&s["signature"]), vec![1]].concat())
                            })
                            .collect();
                        sigs.sort_by_key(|(k, _)| sorted_keys.iter().position(|s| s == k).unwrap());
                        let sigs: Vec<Vec<u8>> = sigs.into_iter().map(|(_, s)| s).collect();
                        multisig_witness(&sigs, &witness_script)
                    })
                    .collect();
                let signed = tx.serialize_with_witness(&witnesses).unwrap();
                for (i, (_, _, amount)) in UTXOS.iter().enumerate() {
                    bitcoinconsensus::verify_with_flags(
                        &spk,
                        *amount,
                        &signed,
                        None,
                        i,
                        bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT,
                    )
                    .unwrap_or_else(|e| panic!("tier {t} input {i}: {e:?}"));
                }
                // …and with another amount, or one TEE's signature alone, it refuses.
                assert!(
                    bitcoinconsensus::verify_with_flags(
                        &spk,
                        60_001,
                        &signed,
                        None,
                        0,
                        bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT
                    )
                    .is_err()
                );
                let alone: Vec<Vec<Vec<u8>>> =
                    witnesses.iter().map(|w| multisig_witness(&w[1..2], &witness_script)).collect();
                let half = tx.serialize_with_witness(&alone).unwrap();
                assert!(
                    bitcoinconsensus::verify_with_flags(
                        &spk,
                        60_000,
                        &half,
                        None,
                        0,
                        bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT
                    )
                    .is_err()
                );
                let fee = if t == 1 { 1_000 } else { 2_000 };
                let outputs = if tier.nullify {
                    serde_json::json!([
                        {"value": 110_000 - fee, "script": hex::encode(&spk)},
                        {"value": 0, "script": format!("6a20{}", hex::encode(alloy_primitives::keccak256(b"btc")))},
                    ])
                } else {
                    serde_json::json!([
                        {"value": 70_000, "script": hex::encode(recipient())},
                        {"value": 0, "script": format!("6a20{}", hex::encode(alloy_primitives::keccak256(b"btc")))},
                        {"value": 40_000 - fee, "script": hex::encode(&spk)},
                    ])
                };
                cases.push(serde_json::json!({
                    "signed": hex::encode(&signed), "txid": hex::encode(tx.txid().unwrap()),
                    "inputs": UTXOS.iter().map(|(t, v, a)| serde_json::json!({"txid": hex::encode(t), "vout": v, "amount": a})).collect::<Vec<_>>(),
                    "outputs": outputs, "witness_script": hex::encode(&witness_script), "signatures": 2,
                    "sighashes": (0..2).map(|i| hex::encode(tx.sighash_all(i, &witness_script).unwrap())).collect::<Vec<_>>(),
                }));
                assert!(tx.inputs.iter().all(|i| i.sequence == SEQUENCE));
            }
            let run = |cases: &serde_json::Value| {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("cases.json");
                std::fs::write(&path, cases.to_string()).unwrap();
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/judge/btc_decode.py");
                std::process::Command::new("python3").arg(script).arg(&path).output().unwrap_or_else(|e| {
                    panic!("python3 is needed for the independent judge ({e}); `cargo xtask test` installs python-bitcoinlib")
                })
            };
            let cases = serde_json::Value::from(cases);
            let out = run(&cases);
            assert!(
                out.status.success(),
                "python-bitcoinlib refused:\n{}{}\n(needs the pip package python-bitcoinlib==0.12.2)",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // The judge can say no: another amount for the first output.
            let mut bad = cases.clone();
            bad[0]["outputs"][0]["value"] = 69_999.into();
            assert!(!run(&bad).status.success(), "python-bitcoinlib accepted another payment");
        }

        #[test]
        fn one_payment_per_nonce_and_the_refusals() {
            let c = c100();
            let mut net = Net::on_chain(CHAIN, CHAIN_BOUND, 65);
            net.init(&c, true);
            let mine = btc_key(&mut net, &c, 1);
            // Two keys of other TEEs: pool keys, compressed.
            let others = [2usize, 3].map(|i| fcc_core::wallet::compress_xy(&pool()[i].public));
            let keys = [mine, others[0], others[1]];
            let me = [(net.tee_id, 1)];
            let m = message(&me, &keys, &UTXOS, 70_000, 2_000, "27100000", 8);
            assert_ok(&pay(&mut net, &c, op::PAY, &m));
            let double = Error::OperationFailed {
                reason: "nonce already signed for another payment (a reissue may change only the fee)",
            };
            // A reissue: a higher fee, even with an input added to pay it.
            let bumped = BtcPayment { maxFee: U256::from(9_000), ..m.clone() };
            assert_ok(&pay(&mut net, &c, op::REISSUE, &bumped));
            let more = [UTXOS[0], UTXOS[1], ([0xc3; 32], 1, 5_000)];
            assert_ok(&pay(
                &mut net,
                &c,
                op::REISSUE,
                &BtcPayment { inputs: inputs(&more).into(), maxFee: U256::from(12_000), ..m.clone() },
            ));
            // Another anchor, recipient, amount or reference for nonce 8: a second payment.
            let swapped = [UTXOS[1], UTXOS[0]];
            for other in [
                BtcPayment { inputs: inputs(&swapped).into(), ..m.clone() },
                BtcPayment { recipientScript: [&[0x00, 0x14][..], &[0x78; 20]].concat().into(), ..m.clone() },
                BtcPayment { amount: U256::from(70_001), ..m.clone() },
                BtcPayment { paymentReference: [0; 32].into(), ..m.clone() },
            ] {
                assert_refused(&pay(&mut net, &c, op::REISSUE, &other), double);
            }
            // A nullify of nonce 8 spends the anchor back to the wallet: signed.
            let r = pay(
                &mut net,
                &c,
                op::REISSUE,
                &BtcPayment { feeSchedule: hex::decode("d8f00000").unwrap().into(), ..m.clone() },
            );
            assert_ok(&r);
            // The key pays from one wallet (script) only.
            let elsewhere = BtcPayment { threshold: 1, nonce: 9, ..m.clone() };
            assert_refused(
                &pay(&mut net, &c, op::PAY, &elsewhere),
                Error::OperationFailed { reason: "the key signs for another account (one account per key)" },
            );
            // The refusals of the message and of the key.
            let cases: Vec<(BtcPayment, Error)> = vec![
                (
                    BtcPayment {
                        publicKeys: [others[0], others[1], [0x02; 33]].concat().into(),
                        nonce: 9,
                        ..m.clone()
                    },
                    Error::OperationFailed { reason: "the key is not one of the wallet's publicKeys" },
                ),
                (
                    BtcPayment { amount: U256::from(111_000), nonce: 9, ..m.clone() },
                    Error::OperationFailed { reason: "inputs do not cover the amount and the fee" },
                ),
                (
                    BtcPayment { amount: U256::from(107_800), nonce: 9, ..m.clone() },
                    Error::OperationFailed { reason: "change (or nullify) output below dust" },
                ),
                (
                    BtcPayment { amount: U256::from(293), nonce: 9, ..m.clone() },
                    Error::OperationFailed { reason: "amount below the recipient's dust limit" },
                ),
                (
                    BtcPayment { recipientScript: vec![0x6a].into(), nonce: 9, ..m.clone() },
                    Error::OperationFailed { reason: "recipient script is not a standard output" },
                ),
                (
                    BtcPayment {
                        recipientScript: fcc_core::btc::p2wsh_script_pubkey(
                            &fcc_core::btc::sorted_multisig_script(2, &keys).unwrap(),
                        )
                        .into(),
                        nonce: 9,
                        ..m.clone()
                    },
                    Error::OperationFailed { reason: "payment to the wallet itself" },
                ),
                (
                    BtcPayment { inputs: inputs(&[UTXOS[0], UTXOS[0]]).into(), nonce: 9, ..m.clone() },
                    Error::Malformed { what: "F_BTC payment inputs (an outpoint twice)" },
                ),
                (
                    BtcPayment { inputs: vec![].into(), nonce: 9, ..m.clone() },
                    Error::TooMany { what: "F_BTC payment inputs", count: 0, max: 64 },
                ),
                (
                    BtcPayment { inputs: vec![0; 43].into(), nonce: 9, ..m.clone() },
                    Error::Malformed { what: "F_BTC payment message (33-byte keys, 44-byte inputs)" },
                ),
                (
                    BtcPayment { threshold: 4, nonce: 9, ..m.clone() },
                    Error::OperationFailed { reason: "multisig threshold outside 1..=n" },
                ),
            ];
            for (msg, err) in cases {
                assert_refused(&pay(&mut net, &c, op::PAY, &msg), err);
            }
            // An answer that cannot fit a result costs no signatures: 64 inputs × 50 tiers.
            let many: Vec<([u8; 32], u32, u64)> = (0..64u32).map(|i| ([0xd4; 32], i, 10_000)).collect();
            let huge = BtcPayment {
                inputs: inputs(&many).into(),
                feeSchedule: hex::decode("27100000".repeat(50)).unwrap().into(),
                nonce: 11,
                ..m.clone()
            };
            let max = fcc_core::limits::MAX_RESULT_DATA_LEN;
            let what = "F_BTC payment answer (at least)";
            assert_refused(&pay(&mut net, &c, op::PAY, &huge), Error::TooLarge { what, len: 640_000, max });
            // An exactly covered payment has no change output.
            let exact = BtcPayment { amount: U256::from(108_000), nonce: 10, ..m.clone() };
            let r = pay(&mut net, &c, op::PAY, &exact);
            assert_ok(&r);
            let tx = hex0x(&json(&r)[0]["tx"]);
            assert_eq!(tx[4 + 1 + 2 * 41], 2, "two outputs: the recipient and the reference");
            // An XRP key signs no Bitcoin payment.
            let mut xrp = Net::on_chain(CHAIN, CHAIN_BOUND, 66);
            xrp.init(&c, true);
            let msg = KeyGenerate {
                teeId: xrp.tee_id.into(),
                walletId: WALLET.into(),
                keyId: 1,
                keyType: fcc_core::wallet::KEY_TYPE_XRP.into(),
                signingAlgo: fcc_core::wallet::XRP_SIGN_ALGO.into(),
                configConstants: config(),
            }
            .abi_encode();
            let a = wallet_instruction(&mut xrp, &c, op::KEY_GENERATE, msg, vec![], (&[], 0), &|_| vec![]);
            assert_ok(&xrp.handle(&a));
            let m = message(&[(xrp.tee_id, 1)], &keys, &UTXOS, 70_000, 2_000, "27100000", 1);
            assert_refused(
                &pay(&mut xrp, &c, op::PAY, &m),
                Error::OperationFailed { reason: "key type does not allow the action" },
            );
        }
    }
}
