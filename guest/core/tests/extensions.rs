//! Compute extensions in the engine and on the guest link: what an extension may declare, how
//! its instructions are authorised (never more loosely than Flare's default), the envelope its
//! output is signed in, the signatures it may ask for, and host data streamed in chunks — judged
//! by alloy (ABI, keccak, EIP-191) and libsecp256k1, not by fcc-core's own code.

mod common;

use std::cell::Cell;

use alloy_primitives::{B256, Bytes, U256, eip191_hash_message, keccak256};
use alloy_sol_types::{SolType, SolValue, sol};
use common::*;
use fcc_core::action::{Action, ActionKind};
use fcc_core::attester::SimulatedRom;
use fcc_core::config::{Governance, Registration};
use fcc_core::error::Error;
use fcc_core::extension::{
    Admission, Call, DataRequest, Extension, ExtensionError, Job, MAX_OUTPUT_LEN, Operation, Services, Started,
};
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::{InitializePolicy, PublicKey};
use fcc_core::limits::{MAX_DATA_CHUNK, MAX_EXTENSION_DATA_LEN};
use fcc_core::op::{self, OpName};
use fcc_core::ops::Registry;
use fcc_core::policy::{PolicyHashScheme, flare_threshold};
use fcc_core::result::{SignedResult, SubmissionTag, status};
use fcc_core::session::Session;
use fcc_core::tee::Step;
use fcc_core::verify::Vote;
use fcc_core::wire::{FrameReader, GuestMessage, ProxyMessage, decode_body, encode_frame};
use fcc_core::{Config, Tee};

const CHAIN: u64 = 14;
const EXTENSION_ID: [u8; 32] = {
    let mut id = [0; 32];
    id[31] = 3;
    id
};
const ROM: [u8; 48] = [0x5a; 48];

sol! {
    /// The result data of an extension's instruction, as a contract decodes it.
    struct ExtensionResult {
        uint256 extensionId;
        bytes32 codeHash;
        bytes32 opType;
        bytes32 opCommand;
        bytes output;
    }
}

// ---------------------------------------------------------------------------------------------
// Test extensions.

const ECHO: Operation = Operation {
    op_type: op::name("TEST_EXT"),
    op_command: op::name("ECHO"),
    admission: Admission::FLARE_DEFAULT,
    max_data_len: 0,
    max_output_len: 1024,
};
const SUM: Operation = Operation {
    op_type: op::name("TEST_EXT"),
    op_command: op::name("SUM"),
    admission: Admission { threshold_bips: 6000, min_cosigners: 0 },
    max_data_len: 1 << 20,
    max_output_len: 64,
};
const WALLET_SIGN: Operation = Operation {
    op_type: op::name("TEST_EXT"),
    op_command: op::name("WALLET_SIGN"),
    admission: Admission::FLARE_DEFAULT,
    max_data_len: 0,
    max_output_len: 128,
};
const COSIGNED: Operation = Operation {
    op_type: op::name("TEST_EXT"),
    op_command: op::name("COSIGNED"),
    admission: Admission { threshold_bips: 5000, min_cosigners: 1 },
    max_data_len: 0,
    max_output_len: 1024,
};

thread_local! {
    /// How often this test's thread started a job of the test extension.
    static STARTS: Cell<usize> = const { Cell::new(0) };
}

/// ECHO: the output is the original message followed by the TEE's signature of its keccak under
/// the domain named by its first 32 bytes (or "ECHO"). SUM: the original message is `object ‖
/// uint64 len`; the output is the byte count and the sum of all data bytes (u64s). An original
/// message "BIG" makes ECHO answer more than it declared, "WANT DATA" makes it ask for one byte of
/// host data, which its operation does not take.
struct TestExtension;

static TEST_OPS: [Operation; 4] = [ECHO, SUM, WALLET_SIGN, COSIGNED];

impl Extension for TestExtension {
    fn name(&self) -> &'static str {
        "test"
    }

    fn operations(&self) -> &'static [Operation] {
        &TEST_OPS
    }

    fn start(&self, call: &Call<'_>) -> Result<Started, ExtensionError> {
        STARTS.with(|n| n.set(n.get() + 1));
        let m = call.instruction.original_message.clone();
        match call.operation.op_command {
            c if c == SUM.op_command => {
                let bytes: [u8; 40] =
                    m.as_slice().try_into().map_err(|_| ExtensionError::new(7, "want object ‖ len"))?;
                let request = DataRequest {
                    object: bytes[..32].try_into().unwrap(),
                    len: u64::from_be_bytes(bytes[32..].try_into().unwrap()),
                };
                Ok(Started { job: Box::new(SumJob { count: 0, sum: 0, chunks: 0 }), data: Some(request) })
            }
            c if c == WALLET_SIGN.op_command => Ok(Started { job: Box::new(WalletJob(m)), data: None }),
            _ if m == b"WANT DATA" => {
                Ok(Started { job: Box::new(EchoJob(m)), data: Some(DataRequest { object: [1; 32], len: 1 }) })
            }
            _ => Ok(Started { job: Box::new(EchoJob(m)), data: None }),
        }
    }
}

struct EchoJob(Vec<u8>);

impl Job for EchoJob {
    fn finish(self: Box<Self>, tee: &mut dyn Services) -> Result<Vec<u8>, ExtensionError> {
        if self.0 == b"BIG" {
            return Ok(vec![0; ECHO.max_output_len + 1]);
        }
        if self.0 == b"FAIL" {
            return Err(ExtensionError::new(42, "asked to fail"));
        }
        let domain: OpName = self.0.get(..32).map_or(op::name("ECHO"), |d| d.try_into().unwrap());
        let signature = tee.sign(&domain, &keccak256(&self.0).0);
        Ok([self.0.as_slice(), &signature].concat())
    }
}

struct SumJob {
    count: u64,
    sum: u64,
    chunks: u64,
}

impl Job for SumJob {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), ExtensionError> {
        assert!(!chunk.is_empty() && chunk.len() <= MAX_DATA_CHUNK);
        self.count += chunk.len() as u64;
        self.sum += chunk.iter().map(|&b| u64::from(b)).sum::<u64>();
        self.chunks += 1;
        if chunk.starts_with(b"POISON") {
            return Err(ExtensionError::new(9, "poisoned data"));
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _: &mut dyn Services) -> Result<Vec<u8>, ExtensionError> {
        Ok([self.count.to_be_bytes(), self.sum.to_be_bytes()].concat())
    }
}

/// Signs keccak(message[20..]) with the wallet key (walletId = message[..32], keyId = 1) under
/// domain "WALLET".
struct WalletJob(Vec<u8>);

impl Job for WalletJob {
    fn finish(self: Box<Self>, tee: &mut dyn Services) -> Result<Vec<u8>, ExtensionError> {
        let key = fcc_core::wallet::KeyIdPair { wallet_id: self.0[..32].try_into().unwrap(), key_id: 1 };
        Ok(tee.sign_with_wallet_key(&key, &op::name("WALLET"), &keccak256(&self.0).0)?.to_vec())
    }
}

static TEST: TestExtension = TestExtension;

/// An extension declaring `operation` only.
struct Declares(&'static [Operation]);

impl Extension for Declares {
    fn name(&self) -> &'static str {
        "declares"
    }
    fn operations(&self) -> &'static [Operation] {
        self.0
    }
    fn start(&self, _: &Call<'_>) -> Result<Started, ExtensionError> {
        unreachable!("never registered")
    }
}

fn declaring(operation: Operation) -> &'static dyn Extension {
    Box::leak(Box::new(Declares(Box::leak(Box::new([operation])))))
}

// ---------------------------------------------------------------------------------------------
// A TEE with the test extension and a five-voter policy (weights 1, 9, 20, 30, 40).

struct Net {
    tee: Tee,
    tee_id: [u8; 20],
    next: u32,
}

fn committee() -> Vec<(usize, u16)> {
    vec![(0, 1), (1, 9), (2, 20), (3, 30), (4, 40)]
}

fn config(extension: bool) -> Config {
    Config {
        chain_id: CHAIN,
        policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN },
        registration: extension.then_some(Registration {
            extension_id: EXTENSION_ID,
            owner: [0x0e; 20],
            governance: Governance::NONE,
        }),
    }
}

impl Net {
    fn new(extension_id: bool) -> Self {
        let registry = Registry::system().with_extensions(&[&TEST]).unwrap();
        let mut tee = Tee::new(config(extension_id), &mut TestRng(5), registry).unwrap();
        let voters: Vec<([u8; 20], u16)> = committee().iter().map(|&(m, w)| (pool()[m].address, w)).collect();
        let policy = policy_bytes(100, 1_000_000, flare_threshold(100) as u16, [1; 32], &voters);
        let keys = committee().iter().map(|&(m, _)| PublicKey(pool()[m].public)).collect();
        let init = Action::initialize_policy(&InitializePolicy { policy, public_keys: keys });
        let r = tee.handle(&init, &mut SimulatedRom(ROM));
        assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
        let tee_id = tee.state().identity.address();
        Self { tee, tee_id, next: 0 }
    }

    fn data(&mut self, operation: &Operation, message: &[u8]) -> InstructionData {
        self.next += 1;
        InstructionData {
            instruction_id: keccak256(self.next.to_be_bytes()).0,
            tee_id: self.tee_id,
            timestamp: 1_700_000_000,
            reward_epoch_id: 100,
            op_type: operation.op_type,
            op_command: operation.op_command,
            original_message: message.to_vec(),
            ..Default::default()
        }
    }

    /// An instruction signed by the voters at `positions`.
    fn signed(&mut self, d: InstructionData, positions: &[usize]) -> Action {
        let votes = positions
            .iter()
            .map(|&p| Vote {
                signature: pool()[committee()[p].0].sign(&alloy_signing_digest(&d, CHAIN, &[])),
                additional_variable_message: vec![],
                hint: None,
            })
            .collect();
        Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction: d, votes }
    }

    fn instruction(&mut self, operation: &Operation, message: &[u8], positions: &[usize]) -> Action {
        let d = self.data(operation, message);
        self.signed(d, positions)
    }

    fn handle(&mut self, action: &Action) -> SignedResult {
        let r = self.tee.handle(action, &mut SimulatedRom(ROM));
        let tag = if r.result.is_refusal() { "refused" } else { "threshold" };
        let digest = alloy_result_digest(&r.result.data, r.result.id, tag, r.result.status, CHAIN);
        assert_eq!(secp_recover(&r.signature, &digest), Some(self.tee_id), "result signature");
        r
    }
}

/// The output of a successful extension result, its envelope checked by alloy.
fn output(r: &SignedResult, operation: &Operation) -> Vec<u8> {
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    assert_eq!(r.result.submission_tag, SubmissionTag::Threshold);
    let e = <ExtensionResult as SolType>::abi_decode_params_validate(&r.result.data).unwrap();
    assert_eq!(e.extensionId, U256::from(3));
    assert_eq!(e.codeHash, keccak256(ROM));
    assert_eq!((e.opType.0, e.opCommand.0), (operation.op_type, operation.op_command));
    // The encoding is canonical: alloy encodes the same bytes.
    assert_eq!(e.abi_encode_params(), r.result.data);
    e.output.to_vec()
}

fn refused(r: &SignedResult, code: u16) {
    assert_eq!(r.result.status, status::ERROR);
    assert_eq!(r.result.submission_tag, SubmissionTag::Refused, "{}", r.result.log);
    assert_eq!(r.result.additional_result_status, code.to_be_bytes(), "{}", r.result.log);
}

fn failed(r: &SignedResult, code: u16) {
    assert_eq!(r.result.status, status::ERROR);
    assert_eq!(r.result.submission_tag, SubmissionTag::Threshold, "executed, so not a refusal: {}", r.result.log);
    assert_eq!(r.result.additional_result_status, code.to_be_bytes(), "{}", r.result.log);
}

/// The digest an extension signature is over, by alloy.
fn alloy_extension_digest(domain: &str, data_hash: [u8; 32]) -> [u8; 32] {
    let inner =
        keccak256((U256::from_be_bytes(EXTENSION_ID), B256::from(name32(domain)), B256::from(data_hash)).abi_encode());
    eip191_hash_message(alloy_payload_hash("TEE_EXTENSION", CHAIN, inner.0)).0
}

// ---------------------------------------------------------------------------------------------
// What an extension may declare.

#[test]
fn an_extension_cannot_declare_its_way_past_the_core() {
    let ok = ECHO;
    let cases: [(Operation, &str); 8] = [
        (Operation { admission: Admission { threshold_bips: 4999, min_cosigners: 0 }, ..ok }, "below Flare's default"),
        (Operation { admission: Admission { threshold_bips: 0, min_cosigners: 0 }, ..ok }, "below Flare's default"),
        (Operation { admission: Admission { threshold_bips: 10_000, min_cosigners: 0 }, ..ok }, "unreachable"),
        (Operation { op_type: op::F_FDC2, op_command: op::PROVE, ..ok }, "starts with F_"),
        (Operation { op_type: op::name("F_MINE"), ..ok }, "starts with F_"),
        (Operation { op_command: [0; 32], ..ok }, "empty type or command"),
        (Operation { max_data_len: MAX_EXTENSION_DATA_LEN + 1, ..ok }, "more data than the core streams"),
        (Operation { max_output_len: MAX_OUTPUT_LEN + 1, ..ok }, "larger output than a result holds"),
    ];
    for (operation, why) in cases {
        let err = Registry::system().with_extensions(&[declaring(operation)]).err().expect(why);
        assert!(err.to_string().contains(why), "{err} / {why}");
    }
    // At the bounds: accepted.
    let edge = Operation {
        admission: Admission { threshold_bips: 9999, min_cosigners: 64 },
        max_data_len: MAX_EXTENSION_DATA_LEN,
        max_output_len: MAX_OUTPUT_LEN,
        ..ok
    };
    Registry::system().with_extensions(&[declaring(edge)]).unwrap();
    // Taking an operation that is taken: the test extension's own, twice.
    let twice = Registry::system().with_extensions(&[&TEST, declaring(ECHO)]).err().unwrap();
    assert!(twice.to_string().contains("registered twice"), "{twice}");
}

#[test]
fn the_largest_declared_output_fits_a_result() {
    // MAX_OUTPUT_LEN is what the envelope leaves of a result: alloy's encoding of it is exactly
    // within MAX_RESULT_DATA_LEN.
    let e = ExtensionResult {
        extensionId: U256::MAX,
        codeHash: B256::ZERO,
        opType: B256::ZERO,
        opCommand: B256::ZERO,
        output: Bytes::from(vec![0; MAX_OUTPUT_LEN]),
    };
    assert!(e.abi_encode_params().len() <= fcc_core::limits::MAX_RESULT_DATA_LEN);
    let e = ExtensionResult { output: Bytes::from(vec![0; MAX_OUTPUT_LEN + 32]), ..e };
    assert!(e.abi_encode_params().len() > fcc_core::limits::MAX_RESULT_DATA_LEN);
}

// ---------------------------------------------------------------------------------------------
// Authorisation and results.

#[test]
fn an_extension_instruction_is_authorised_like_any_other_and_signed_in_its_envelope() {
    let mut net = Net::new(true);
    let starts = STARTS.with(Cell::get);
    // 50 of 100 (20 + 30) is not more than half: refused before the extension sees it.
    let a = net.instruction(&ECHO, b"hello", &[2, 3]);
    refused(&net.handle(&a), 307);
    // 51: executed.
    let a = net.instruction(&ECHO, b"hello", &[0, 2, 3]);
    let r = net.handle(&a);
    let out = output(&r, &ECHO);
    assert_eq!(&out[..5], b"hello");
    let signature: [u8; 65] = out[5..].try_into().unwrap();
    let digest = alloy_extension_digest("ECHO", keccak256(b"hello").0);
    assert_eq!(secp_recover(&signature, &digest), Some(net.tee_id), "the extension's signature");
    // Once only; a re-delivery gets the same signed result.
    assert_eq!(net.handle(&a), r);
    // Votes of strangers do not count.
    let mut d = net.data(&ECHO, b"x");
    d.tee_id = [9; 20];
    let a = net.signed(d, &[0, 1, 2, 3, 4]);
    refused(&net.handle(&a), 401);
    assert_eq!(STARTS.with(Cell::get) - starts, 1, "only the authorised instruction reached the extension, once");
}

#[test]
fn a_declared_threshold_and_cosigner_minimum_hold() {
    let mut net = Net::new(true);
    // SUM needs more than 60%: 51 is not enough, 60 neither (strictly above), 61 is.
    for (positions, ok) in [(&[0, 2, 3][..], false), (&[2, 4][..], false), (&[0, 2, 4][..], true)] {
        let message = [[0u8; 32].as_slice(), &0u64.to_be_bytes()].concat();
        let a = net.instruction(&SUM, &message, positions);
        let r = net.handle(&a);
        if ok {
            assert_eq!(output(&r, &SUM), [0u64.to_be_bytes(), 0u64.to_be_bytes()].concat());
        } else {
            refused(&r, 307);
        }
    }
    // COSIGNED requires a cosigner threshold of one at least: an instruction declaring none is
    // refused whatever its weight.
    let a = net.instruction(&COSIGNED, b"c", &[0, 1, 2, 3, 4]);
    refused(&net.handle(&a), 308);
    // Declaring one, the listed cosigner must sign.
    let cosigner = &pool()[20];
    let mut d = net.data(&COSIGNED, b"c");
    d.cosigners = vec![cosigner.address];
    d.cosigners_threshold = 1;
    let mut a = net.signed(d.clone(), &[2, 3, 4]);
    refused(&net.handle(&a), 308);
    a.votes.push(Vote {
        signature: cosigner.sign(&alloy_signing_digest(&d, CHAIN, &[])),
        additional_variable_message: vec![],
        hint: None,
    });
    output(&net.handle(&a), &COSIGNED);
}

#[test]
fn an_extension_failure_is_the_instructions_result_and_an_oversized_output_an_error() {
    let mut net = Net::new(true);
    let a = net.instruction(&ECHO, b"FAIL", &[2, 3, 4]);
    let r = net.handle(&a);
    failed(&r, 406);
    assert_eq!(r.result.log, "extension failed (its code 42): asked to fail");
    let a = net.instruction(&ECHO, b"BIG", &[2, 3, 4]);
    let r = net.handle(&a);
    failed(&r, 103);
    assert!(r.result.log.contains("extension output"), "{}", r.result.log);
    // Both were executed: delivering them again gives the same result.
    assert_eq!(net.handle(&a), r);
    // An operation that takes no data, asking for some: the same path and bound as one that
    // does (`Tee::begin`), so an error of its own, executed, also over the guest link.
    let a = net.instruction(&ECHO, b"WANT DATA", &[2, 3, 4]);
    let r = net.handle(&a);
    failed(&r, 103);
    assert_eq!(r.result.log, "extension data: 1 bytes exceeds the bound of 0");
    assert_eq!(net.handle(&a), r);
    let a = net.instruction(&ECHO, b"WANT DATA", &[1, 2, 3]);
    let mut link = Link::open(&mut net);
    let out = link.send(&mut net, &ProxyMessage::Actions(vec![a])).unwrap();
    let [GuestMessage::Result(r), GuestMessage::Pull { .. }] = &out[..] else { panic!("{out:?}") };
    failed(r, 103);
}

#[test]
fn without_an_extension_id_nothing_of_an_extension_runs() {
    let mut net = Net::new(false);
    let a = net.instruction(&ECHO, b"hello", &[2, 3, 4]);
    let r = net.handle(&a);
    refused(&r, 404);
    assert!(r.result.log.contains("without an extension id"), "{}", r.result.log);
}

#[test]
fn extension_signatures_stand_in_for_no_system_signature() {
    let mut net = Net::new(true);
    // The extension asks for a signature under the result domain over a result hash: what it
    // gets is over the extension digest, and does not verify as a result.
    let result_hash = alloy_result_hash(b"forged data", [7; 32], "threshold", 1);
    let mut message = name32("TEE_ACTION_RESULT").to_vec();
    message.extend_from_slice(&result_hash);
    let a = net.instruction(&ECHO, &message, &[2, 3, 4]);
    let out = output(&net.handle(&a), &ECHO);
    let signature: [u8; 65] = out[64..].try_into().unwrap();
    let as_result = alloy_result_digest(b"forged data", [7; 32], "threshold", 1, CHAIN);
    assert_ne!(secp_recover(&signature, &as_result), Some(net.tee_id));
    let as_payload = eip191_hash_message(alloy_payload_hash("TEE_ACTION_RESULT", CHAIN, keccak256(&message).0)).0;
    assert_ne!(secp_recover(&signature, &as_payload), Some(net.tee_id));
    assert_eq!(
        secp_recover(&signature, &alloy_extension_digest("TEE_ACTION_RESULT", keccak256(&message).0)),
        Some(net.tee_id)
    );
}

#[test]
fn a_wallet_key_signs_for_an_extension_under_its_domain_only() {
    use fcc_core::wallet::codec::KeyGenerate;
    use fcc_core::wallet::{ConfigConstants, EVM_SIGN_ALGO, KEY_TYPE_EVM, KeyIdPair};
    let mut net = Net::new(true);
    let wallet_id = [0x77; 32];
    // No such key yet: the extension's error.
    let a = net.instruction(&WALLET_SIGN, &wallet_id, &[2, 3, 4]);
    let r = net.handle(&a);
    failed(&r, 406);
    assert!(r.result.log.contains("no such wallet key"), "{}", r.result.log);
    // The policy has the TEE generate it (Flare's KEY_GENERATE).
    let key = KeyIdPair { wallet_id, key_id: 1 };
    let generate = KeyGenerate {
        tee_id: net.tee_id,
        id: key,
        key_type: KEY_TYPE_EVM,
        signing_algo: EVM_SIGN_ALGO,
        config: ConfigConstants {
            admins: vec![pool()[25].public],
            admins_threshold: 1,
            cosigners: vec![],
            cosigners_threshold: 0,
        },
    };
    let mut d = net.data(&ECHO, &generate.encode());
    (d.op_type, d.op_command) = (op::F_WALLET, op::KEY_GENERATE);
    let a = net.signed(d, &[2, 3, 4]);
    let r = net.handle(&a);
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    let wallet = net.tee.state().wallets.get(&key).expect("generated").address();
    // Now the extension gets the wallet key's signature under its domain, and only that.
    let a = net.instruction(&WALLET_SIGN, &wallet_id, &[2, 3, 4]);
    let signature: [u8; 65] = output(&net.handle(&a), &WALLET_SIGN).try_into().unwrap();
    let data_hash = keccak256(wallet_id).0;
    assert_eq!(secp_recover(&signature, &alloy_extension_digest("WALLET", data_hash)), Some(wallet));
    // Not a wallet message (tee-node's Wallet.Sign: keccak of the message, no prefix) nor any
    // EIP-191 payload of the hash.
    assert_ne!(secp_recover(&signature, &data_hash), Some(wallet));
    assert_ne!(secp_recover(&signature, &eip191_hash_message(data_hash).0), Some(wallet));
}

// ---------------------------------------------------------------------------------------------
// Streaming host data over the guest link.

struct Link {
    session: Session,
    reader: FrameReader,
}

impl Link {
    fn open(net: &mut Net) -> Self {
        let mut link = Self { session: Session::start(), reader: FrameReader::new() };
        let out = link.send(net, &ProxyMessage::Challenge { nonce: [1; 32] }).unwrap();
        assert!(matches!(out[..], [GuestMessage::Hello(_), GuestMessage::Pull { .. }]));
        link
    }

    fn send(&mut self, net: &mut Net, msg: &ProxyMessage) -> Result<Vec<GuestMessage>, Error> {
        self.session.receive(&encode_frame(msg).unwrap(), &mut net.tee, &mut SimulatedRom(ROM))?;
        let out = self.session.output().to_vec();
        self.session.consume(out.len()).unwrap();
        self.reader.push(&out).unwrap();
        let mut msgs = Vec::new();
        while let Some(body) = self.reader.next_body().unwrap() {
            msgs.push(decode_body::<GuestMessage>(&body).unwrap());
        }
        Ok(msgs)
    }

    /// Streams `data` for `id` from `from` in chunks of `chunk` bytes; the guest's answer to the
    /// last one.
    fn stream(&mut self, net: &mut Net, id: [u8; 32], data: &[u8], from: usize, chunk: usize) -> Vec<GuestMessage> {
        let mut last = Vec::new();
        for (i, c) in data[from..].chunks(chunk).enumerate() {
            let msg = ProxyMessage::Data { id, offset: (from + i * chunk) as u64, bytes: c.to_vec() };
            assert!(self.session.streaming(), "the session says its data is streaming in");
            last = self.send(net, &msg).unwrap();
            if from + i * chunk + c.len() < data.len() {
                assert!(last.is_empty(), "nothing goes out while the data streams");
            }
        }
        assert!(!self.session.streaming(), "the stream is over with its last chunk");
        last
    }
}

fn sum_message(data: &[u8]) -> Vec<u8> {
    let object: [u8; 32] = keccak256(data).0;
    [object.as_slice(), &(data.len() as u64).to_be_bytes()].concat()
}

fn data_of(len: usize) -> Vec<u8> {
    let mut rng = TestRng(len as u64);
    rng.vec(len)
}

#[test]
fn host_data_streams_in_chunks_and_the_batch_goes_on_after_it() {
    let mut net = Net::new(true);
    let mut link = Link::open(&mut net);
    let data = data_of(3 * MAX_DATA_CHUNK + 17);
    let sum = net.instruction(&SUM, &sum_message(&data), &[0, 2, 4]);
    let echo = net.instruction(&ECHO, b"after", &[2, 3, 4]);
    let out = link.send(&mut net, &ProxyMessage::Actions(vec![sum.clone(), echo.clone()])).unwrap();
    let id = sum.instruction.instruction_id;
    assert!(!Link::open(&mut net).session.streaming(), "a new session streams nothing");
    assert_eq!(out, vec![GuestMessage::NeedData { id, object: keccak256(&data).0, offset: 0, len: data.len() as u64 }]);
    let out = link.stream(&mut net, id, &data, 0, MAX_DATA_CHUNK);
    let [GuestMessage::Result(first), GuestMessage::Result(second), GuestMessage::Pull { .. }] = &out[..] else {
        panic!("{out:?}")
    };
    let want_sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
    assert_eq!(output(first, &SUM), [(data.len() as u64).to_be_bytes(), want_sum.to_be_bytes()].concat());
    assert_eq!(&output(second, &ECHO)[..5], b"after");
    assert_eq!(first.result.id, id);
}

#[test]
fn a_stream_broken_off_loses_nothing_and_a_misbehaving_one_ends_the_link() {
    let mut net = Net::new(true);
    let data = data_of(2 * MAX_DATA_CHUNK);
    let sum = net.instruction(&SUM, &sum_message(&data), &[0, 2, 4]);
    let id = sum.instruction.instruction_id;
    let start = |net: &mut Net| {
        let mut link = Link::open(net);
        let out = link.send(net, &ProxyMessage::Actions(vec![sum.clone()])).unwrap();
        assert!(matches!(out[..], [GuestMessage::NeedData { .. }]), "{out:?}");
        link
    };
    let chunk = |offset: usize, len: usize| ProxyMessage::Data {
        id,
        offset: offset as u64,
        bytes: data[offset..offset + len].to_vec(),
    };
    // Each of these ends the session: a chunk at the wrong offset, for another id, over the
    // bound, past the end, empty; actions nobody pulled; data after the stream.
    let mut bad: Vec<(usize, ProxyMessage)> = vec![
        (0, ProxyMessage::Data { id, offset: 1, bytes: data[1..10].to_vec() }),
        (MAX_DATA_CHUNK, ProxyMessage::Data { id, offset: 0, bytes: data[..10].to_vec() }),
        (0, ProxyMessage::Data { id: [9; 32], offset: 0, bytes: data[..10].to_vec() }),
        (0, ProxyMessage::Data { id, offset: 0, bytes: vec![0; MAX_DATA_CHUNK + 1] }),
        (
            MAX_DATA_CHUNK + 1,
            ProxyMessage::Data { id, offset: MAX_DATA_CHUNK as u64 + 1, bytes: vec![0; MAX_DATA_CHUNK] },
        ),
        (0, ProxyMessage::Data { id, offset: 0, bytes: vec![] }),
        (0, ProxyMessage::Actions(vec![])),
    ];
    bad.push((0, ProxyMessage::Challenge { nonce: [2; 32] }));
    for (sent, msg) in bad {
        let mut link = start(&mut net);
        let mut offset = 0;
        while offset < sent {
            let n = (sent - offset).min(MAX_DATA_CHUNK);
            assert!(link.send(&mut net, &chunk(offset, n)).unwrap().is_empty());
            offset += n;
        }
        assert!(link.send(&mut net, &msg).is_err(), "{msg:?} after {sent} bytes");
    }
    // Nothing was recorded: a fresh link delivers it in full, in uneven chunks.
    let mut link = start(&mut net);
    let out = link.stream(&mut net, id, &data, 0, 1000);
    let [GuestMessage::Result(r), GuestMessage::Pull { .. }] = &out[..] else { panic!("{out:?}") };
    output(r, &SUM);
    // Data after the last chunk: nobody asked.
    assert!(link.send(&mut net, &ProxyMessage::Data { id, offset: data.len() as u64, bytes: vec![1] }).is_err());
    // And once done, a re-delivery is answered from the recent results without a stream.
    let mut link = Link::open(&mut net);
    let out = link.send(&mut net, &ProxyMessage::Actions(vec![sum.clone()])).unwrap();
    assert!(matches!(&out[..], [GuestMessage::Result(again), GuestMessage::Pull { .. }] if again == r), "{out:?}");
}

#[test]
fn data_the_extension_refuses_or_a_request_over_the_bound_is_the_instructions_result() {
    let mut net = Net::new(true);
    // The extension refuses a chunk: executed, error result; the rest is not asked for.
    let mut data = data_of(2 * MAX_DATA_CHUNK);
    data[..6].copy_from_slice(b"POISON");
    let a = net.instruction(&SUM, &sum_message(&data), &[0, 2, 4]);
    let mut link = Link::open(&mut net);
    link.send(&mut net, &ProxyMessage::Actions(vec![a.clone()])).unwrap();
    let out = link
        .send(
            &mut net,
            &ProxyMessage::Data { id: a.instruction.instruction_id, offset: 0, bytes: data[..100].to_vec() },
        )
        .unwrap();
    let [GuestMessage::Result(r), GuestMessage::Pull { .. }] = &out[..] else { panic!("{out:?}") };
    failed(r, 406);
    // An object larger than the operation declares: executed, error, no data asked for.
    let message = [[0u8; 32].as_slice(), &(SUM.max_data_len + 1).to_be_bytes()].concat();
    let a = net.instruction(&SUM, &message, &[0, 2, 4]);
    let out = link.send(&mut net, &ProxyMessage::Actions(vec![a])).unwrap();
    let [GuestMessage::Result(r), GuestMessage::Pull { .. }] = &out[..] else { panic!("{out:?}") };
    failed(r, 103);
    // A malformed start: executed, the extension's error.
    let a = net.instruction(&SUM, b"short", &[0, 2, 4]);
    let out = link.send(&mut net, &ProxyMessage::Actions(vec![a])).unwrap();
    let [GuestMessage::Result(r), GuestMessage::Pull { .. }] = &out[..] else { panic!("{out:?}") };
    failed(r, 406);
    // At the bound exactly: asked for in full.
    let message = [[0u8; 32].as_slice(), &SUM.max_data_len.to_be_bytes()].concat();
    let a = net.instruction(&SUM, &message, &[0, 2, 4]);
    let out = link.send(&mut net, &ProxyMessage::Actions(vec![a])).unwrap();
    assert!(matches!(out[..], [GuestMessage::NeedData { len, .. }] if len == SUM.max_data_len), "{out:?}");
}

#[test]
fn an_operation_that_streams_is_refused_outside_the_link() {
    let mut net = Net::new(true);
    let data = data_of(10);
    let a = net.instruction(&SUM, &sum_message(&data), &[0, 2, 4]);
    refused(&net.handle(&a), 105);
    // Not recorded: over the link it runs.
    let mut link = Link::open(&mut net);
    link.send(&mut net, &ProxyMessage::Actions(vec![a.clone()])).unwrap();
    let out = link.stream(&mut net, a.instruction.instruction_id, &data, 0, 4);
    assert!(matches!(&out[..], [GuestMessage::Result(r), _] if r.result.status == status::SUCCESS), "{out:?}");
    // Tee::begin hands the same out directly.
    let b = net.instruction(&SUM, &sum_message(&data), &[0, 2, 4]);
    let Step::Stream(pending) = net.tee.begin(&b, &mut SimulatedRom(ROM)) else { panic!("streams") };
    assert_eq!(pending.request(), DataRequest { object: keccak256(&data).0, len: 10 });
    let Ok(Step::Done(r)) = net.tee.feed(pending, &data, &mut SimulatedRom(ROM)) else { panic!("done") };
    output(&r, &SUM);
}
