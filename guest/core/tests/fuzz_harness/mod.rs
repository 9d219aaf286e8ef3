//! Fuzzing harness for every decoder of `fcc-core`, shared by the cargo-fuzz targets in
//! `guest/core/fuzz` (which include this file with `#[path]`) and by the stable-toolchain replay
//! test `tests/fuzz_corpus.rs`, so a corpus file means the same thing in both.
//!
//! Each function takes arbitrary bytes, must never panic on them, and asserts the invariants
//! that hold whenever decoding succeeds (round trips, bounds, signed results that recover to the
//! TEE). A panic is a bug: either in the core or in an invariant stated here.
//!
//! Only `fcc_core`, `k256`, `postcard`, `rand_core` and `std` are used: the fuzz package depends
//! on exactly those.
#![allow(dead_code)]

use std::sync::OnceLock;

use fcc_core::abi::{self, Reader, Token};
use fcc_core::action::{Action, ActionKind};
use fcc_core::attester::Simulated;
use fcc_core::extension::{Admission, Call, DataRequest, Extension, ExtensionError, Job, Operation, Services, Started};
use fcc_core::hash::{eip191_hash, keccak256_concat};
use fcc_core::identity::TeeIdentity;
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::{InitializePolicy, PublicKey, UpdatePolicy};
use fcc_core::limits::{MAX_FRAME_LEN, MAX_MESSAGE_LEN, MAX_REASON_LEN};
use fcc_core::ops::{Registry, fdc2};
use fcc_core::policy::{Address, PolicyHashScheme, SigningPolicy, Voter, policy_hash};
use fcc_core::result::{SignedResult, SubmissionTag, status};
use fcc_core::seal::SealingKey;
use fcc_core::session::Session;
use fcc_core::verify::{SignerHint, Vote};
use fcc_core::wire::{self, FrameReader, GuestMessage, ProxyMessage};
use fcc_core::{Config, Tee, op};

/// The chain of the harness TEE.
pub const CHAIN_ID: u64 = 14;
/// The harness TEE's configuration.
pub const CONFIG: Config = Config {
    chain_id: CHAIN_ID,
    policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN_ID },
    registration: Some(fcc_core::Registration {
        extension_id: [0x0e; 32],
        owner: [0x0f; 20],
        governance: fcc_core::config::Governance::NONE,
    }),
};
/// Reward epoch of the harness trust root.
pub const EPOCH: u32 = 42;

// ---------------------------------------------------------------------------------------------
// policy_decode

/// `SigningPolicy::decode`; whatever decodes re-encodes to the same bytes.
pub fn policy_decode(data: &[u8]) {
    // Hashing raw bytes never fails, valid or not.
    let _ = policy_hash(data, PolicyHashScheme::Legacy);
    let _ = policy_hash(data, PolicyHashScheme::ChainBound { chain_id: CHAIN_ID });
    match SigningPolicy::decode(data) {
        Ok(p) => {
            let enc = p.encode();
            assert_eq!(enc, data, "decode/encode is not the identity");
            assert_eq!(p.encoded_len(), data.len());
            assert_eq!(SigningPolicy::decode(&enc).as_ref(), Ok(&p));
            let total: u32 = p.voters().iter().map(|v| u32::from(v.weight)).sum();
            assert_eq!(total, p.total_weight());
            assert!(u32::from(p.threshold()) < total);
            assert!(p.reward_epoch_id() < 1 << 24);
            for (i, v) in p.voters().iter().enumerate() {
                assert_eq!(p.voter_index(&v.address), Some(i as u16));
            }
            assert_eq!(p.hash(PolicyHashScheme::Legacy), policy_hash(data, PolicyHashScheme::Legacy));
        }
        Err(e) => {
            let _ = e.code();
            let _ = e.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// frame_proxy

/// Frame bodies of `stream`, split by a simple reference reader; `Err` where the real reader
/// must fail (length over the bound or zero).
fn reference_frames(stream: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut frames = Vec::new();
    let mut rest = stream;
    while rest.len() >= wire::LENGTH_PREFIX {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len == 0 || len > MAX_FRAME_LEN {
            return (frames, true);
        }
        if rest.len() < wire::LENGTH_PREFIX + len {
            break;
        }
        frames.push(rest[wire::LENGTH_PREFIX..wire::LENGTH_PREFIX + len].to_vec());
        rest = &rest[wire::LENGTH_PREFIX + len..];
    }
    (frames, false)
}

/// Decodes `body` as a `$t`; whatever decodes re-encodes (no larger) and decodes back equal.
macro_rules! round_trip {
    ($t:ty, $body:expr) => {
        if let Ok(m) = wire::decode_body::<$t>($body) {
            let _ = m.validate();
            match wire::encode_frame(&m) {
                Ok(frame) => {
                    assert!(frame.len() <= wire::LENGTH_PREFIX + $body.len(), "re-encoding grew");
                    assert_eq!(wire::decode_body::<$t>(&frame[wire::LENGTH_PREFIX..]).as_ref(), Ok(&m));
                }
                Err(_) => assert!($body.len() > MAX_FRAME_LEN, "a decoded message does not re-encode"),
            }
        }
    };
}

/// One frame body, decoded both ways (proxy → guest and guest → proxy).
pub fn check_body(body: &[u8]) {
    round_trip!(ProxyMessage, body);
    round_trip!(GuestMessage, body);
}

/// `FrameReader` fed the input in chunks (the first byte picks the chunk size), compared with a
/// reference splitter; every body is decoded as both message types. The whole input is also
/// decoded as one body.
pub fn frame_proxy(data: &[u8]) {
    let Some((&k, stream)) = data.split_first() else { return };
    check_body(stream);
    let chunk = usize::from(k % 64) + 1;
    let (expected, expect_error) = reference_frames(stream);
    let mut got = Vec::new();
    let mut failed = false;
    let mut reader = FrameReader::new();
    let mut rest = stream;
    'feed: while !rest.is_empty() {
        // Callers push at most `room()` bytes; after draining complete frames there is room.
        let n = chunk.min(rest.len()).min(reader.room());
        assert!(n > 0, "no room left after draining complete frames");
        reader.push(&rest[..n]).expect("pushing at most room() bytes");
        rest = &rest[n..];
        loop {
            match reader.next_body() {
                Ok(Some(body)) => {
                    assert!(!body.is_empty() && body.len() <= MAX_FRAME_LEN);
                    check_body(&body);
                    got.push(body);
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(got, expected, "FrameReader disagrees with the reference splitter");
    assert_eq!(failed, expect_error);
}

// ---------------------------------------------------------------------------------------------
// fdc2_request

/// The canonical encoding of an FDC2 request (what a strict decoder must have been given).
pub fn encode_fdc2_request(req: &fdc2::Request<'_>) -> Vec<u8> {
    let mut out = abi::uint(32).to_vec();
    out.extend_from_slice(&req.attestation_type);
    out.extend_from_slice(&req.source_id);
    out.extend_from_slice(&abi::uint(u64::from(req.threshold_bips)));
    out.extend_from_slice(&abi::address(&req.proof_owner));
    out.extend_from_slice(&abi::uint(160));
    out.extend_from_slice(&abi::uint(req.request_body.len() as u64));
    out.extend_from_slice(req.request_body);
    out.resize(out.len() + req.request_body.len().div_ceil(32) * 32 - req.request_body.len(), 0);
    out
}

/// `ops::fdc2::decode_request`: strict, so whatever decodes is exactly the canonical encoding;
/// then the threshold rule and the message hash on it.
/// `ops::info::decode_attestation_request`: whatever decodes is exactly the canonical ABI
/// encoding of what was read, with a bounded URL.
pub fn tee_attestation_request(data: &[u8]) {
    let Ok(r) = fcc_core::ops::info::decode_attestation_request(data) else { return };
    assert!(r.url.len() <= fcc_core::limits::MAX_URL_LEN);
    let machine = [
        Token::Word(abi::address(&r.tee_id)),
        Token::Word(abi::address(&r.initial_tee_id)),
        Token::Bytes(r.url),
        Token::Word(r.code_hash),
        Token::Word(r.platform),
    ];
    let canonical = abi::encode_dynamic_struct(&[Token::Tuple(&machine), Token::Word(r.challenge)]);
    assert_eq!(canonical, data, "decoded a non-canonical TEE_ATTESTATION request");
}

/// The canonical `TEE_ATTESTATION` request for `tee` with `url` and `challenge`.
pub fn tee_attestation_request_bytes(tee: &Address, url: &[u8], challenge: [u8; 32]) -> Vec<u8> {
    let machine = [
        Token::Word(abi::address(tee)),
        Token::Word([0; 32]),
        Token::Bytes(url),
        Token::Word([0xc0; 32]),
        Token::Word(op::name("sev-snp")),
    ];
    abi::encode_dynamic_struct(&[Token::Tuple(&machine), Token::Word(challenge)])
}

pub fn fdc2_request(data: &[u8]) {
    let Ok(req) = fdc2::decode_request(data) else { return };
    assert_eq!(encode_fdc2_request(&req), data, "decoded a non-canonical FDC2 request");
    assert!(req.request_body.len() <= MAX_MESSAGE_LEN);
    // The threshold rule for a few cosigner setups.
    for (n, t) in [(0usize, 0u64), (3, 1), (3, 2)] {
        let instruction = InstructionData {
            cosigners: (0..n).map(|i| [i as u8 + 1; 20]).collect(),
            cosigners_threshold: t,
            original_message: data.to_vec(),
            ..InstructionData::default()
        };
        let action = Action {
            kind: ActionKind::Instruction,
            submission_tag: SubmissionTag::Threshold,
            instruction,
            votes: Vec::new(),
        };
        if let Ok(bips) = fdc2::threshold_bips(&action.instruction) {
            assert!((4000..10_000).contains(&bips));
        }
        let (_, header) = fdc2::message_hash(CHAIN_ID, &req, &action.instruction);
        assert_eq!(header.len() % 32, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// abi_reader

/// Reads a few bytes at a time from the fuzz input.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Two halves: `abi::Reader` driven by a small program over arbitrary data (positions kept in
/// the range real decoders use), and `encode_tuple` of fuzz-chosen tokens read back by `Reader`.
pub fn abi_reader(data: &[u8]) {
    let mut input = Bytes(data);
    let Some(program_len) = input.u8() else { return };
    let program = input.take(usize::from(program_len % 32) * 5);
    let payload = input.0;
    run_reader_program(program, payload);
    round_trip_tokens(payload);
}

fn run_reader_program(program: &[u8], payload: &[u8]) {
    let r = Reader::new(payload, "fuzz");
    for ins in program.chunks_exact(5) {
        let a = usize::from(u16::from_be_bytes([ins[1], ins[2]]));
        let b = usize::from(u16::from_be_bytes([ins[3], ins[4]]));
        match ins[0] % 5 {
            0 => {
                if let Ok(w) = r.word(a) {
                    assert_eq!(&w[..], &payload[a..a + 32]);
                }
            }
            1 => {
                let bits = u32::from(ins[3] % 65);
                if let Ok(v) = r.uint(a, bits) {
                    assert!(bits == 64 || v >> bits == 0);
                    assert_eq!(abi::uint(v), payload[a..a + 32]);
                }
            }
            2 => {
                if let Ok(addr) = r.address(a) {
                    assert_eq!(abi::address(&addr), payload[a..a + 32]);
                }
            }
            3 => {
                // base and head are word multiples in every real decoder.
                let (base, head) = (a % 512 / 32 * 32, b % 512 / 32 * 32);
                let expected = usize::from(ins[4]) * 32;
                let max = usize::from(ins[1]) * 8;
                if let Ok((bytes, end)) = r.bytes(base, head, expected, max) {
                    assert!(bytes.len() <= max);
                    assert!(end <= payload.len() && end % 32 == 0 && end >= expected + 32 + bytes.len());
                    assert_eq!(bytes, &payload[expected + 32..expected + 32 + bytes.len()]);
                    assert!(payload[expected + 32 + bytes.len()..end].iter().all(|&x| x == 0));
                }
            }
            _ => {
                let ok = r.finish(a).is_ok();
                assert_eq!(ok, a == payload.len());
            }
        }
    }
}

enum Owned {
    Word([u8; 32]),
    Bytes(Vec<u8>),
    Addresses(Vec<Address>),
}

fn round_trip_tokens(payload: &[u8]) {
    let mut input = Bytes(payload);
    let mut tokens = Vec::new();
    while tokens.len() < 12 {
        let Some(tag) = input.u8() else { break };
        tokens.push(match tag % 3 {
            0 => {
                let mut w = [0u8; 32];
                let src = input.take(32);
                w[..src.len()].copy_from_slice(src);
                Owned::Word(w)
            }
            1 => {
                let n = input.u16().unwrap_or(0) % 300;
                Owned::Bytes(input.take(usize::from(n)).to_vec())
            }
            _ => {
                let n = input.u8().unwrap_or(0) % 8;
                Owned::Addresses(
                    (0..n)
                        .map(|_| {
                            let mut a = [0u8; 20];
                            let src = input.take(20);
                            a[..src.len()].copy_from_slice(src);
                            a
                        })
                        .collect(),
                )
            }
        });
    }
    let borrowed: Vec<Token<'_>> = tokens
        .iter()
        .map(|t| match t {
            Owned::Word(w) => Token::Word(*w),
            Owned::Bytes(b) => Token::Bytes(b),
            Owned::Addresses(a) => Token::Addresses(a),
        })
        .collect();
    let enc = abi::encode_tuple(&borrowed);
    assert_eq!(enc.len() % 32, 0);
    let dynamic = abi::encode_dynamic_struct(&borrowed);
    assert_eq!(&dynamic[..32], &abi::uint(32));
    assert_eq!(&dynamic[32..], &enc[..]);

    // Read it back: heads in order, tails where a canonical encoder puts them.
    let r = Reader::new(&enc, "fuzz round trip");
    let mut tail = 32 * tokens.len();
    for (i, t) in tokens.iter().enumerate() {
        let head = 32 * i;
        match t {
            Owned::Word(w) => assert_eq!(r.word(head).expect("word"), w),
            Owned::Bytes(b) => {
                let (got, end) = r.bytes(0, head, tail, MAX_MESSAGE_LEN).expect("bytes read back");
                assert_eq!(got, &b[..]);
                tail = end;
            }
            Owned::Addresses(list) => {
                assert_eq!(r.uint(head, 32).expect("offset"), tail as u64);
                assert_eq!(r.uint(tail, 32).expect("count"), list.len() as u64);
                for (j, a) in list.iter().enumerate() {
                    assert_eq!(&r.address(tail + 32 * (j + 1)).expect("address"), a);
                }
                tail += 32 * (list.len() + 1);
            }
        }
    }
    r.finish(tail).expect("no trailing bytes");
}

// ---------------------------------------------------------------------------------------------
// engine_action

/// A deterministic "entropy" source: a Keccak counter stream. Never use outside tests.
pub struct FixedRng {
    seed: [u8; 32],
    counter: u64,
}

impl FixedRng {
    /// A stream keyed by `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self { seed, counter: 0 }
    }
}

impl rand_core::TryRng for FixedRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(32) {
            let block = keccak256_concat(&[&self.seed, &self.counter.to_be_bytes()]);
            self.counter += 1;
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for FixedRng {}

/// The harness voters' keys (weights 40, 30, 30 of the trust root).
pub fn voters() -> &'static [TeeIdentity] {
    static VOTERS: OnceLock<Vec<TeeIdentity>> = OnceLock::new();
    VOTERS.get_or_init(|| {
        (1..=3u8)
            .map(|i| {
                let mut secret = [0x70u8; 32];
                secret[31] = i;
                TeeIdentity::from_secret_for_tests(&secret).expect("valid test key")
            })
            .collect()
    })
}

/// A policy of `voters` with `weights` for `epoch`.
pub fn policy_of(epoch: u32, voters: &[TeeIdentity], weights: &[u16]) -> SigningPolicy {
    let total: u32 = weights.iter().map(|&w| u32::from(w)).sum();
    let list = voters.iter().zip(weights).map(|(k, &weight)| Voter { address: k.address(), weight }).collect();
    SigningPolicy::new(epoch, 1000 + epoch, (total / 2) as u16, [0x5e; 32], list).expect("valid harness policy")
}

/// The trust root of the harness TEE.
pub fn trust_root() -> SigningPolicy {
    policy_of(EPOCH, voters(), &[40, 30, 30])
}

fn public_keys(keys: &[TeeIdentity]) -> Vec<PublicKey> {
    keys.iter().map(|k| PublicKey(*k.public_key())).collect()
}

/// A direct action.
pub fn direct(op_type: op::OpName, op_command: op::OpName, id: u8, message: Vec<u8>) -> Action {
    Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            instruction_id: [id; 32],
            op_type,
            op_command,
            original_message: message,
            ..InstructionData::default()
        },
        votes: Vec::new(),
    }
}

/// The `INITIALIZE_POLICY` action that sets the trust root (with the voters' public keys).
pub fn initialize_action() -> Action {
    let msg = InitializePolicy { policy: trust_root().encode(), public_keys: public_keys(voters()) };
    direct(op::F_POLICY, op::INITIALIZE_POLICY, 1, postcard::to_allocvec(&msg).expect("encodes"))
}

/// A fresh TEE from a fixed RNG, with the trust root set.
/// The harness extension's operation: streams up to 1 MiB of host data, named by its
/// `originalMessage` (`object ‖ uint64 len`), and answers with the count of bytes it was fed.
pub const STREAM_OP: Operation = Operation {
    op_type: op::name("FUZZ_EXT"),
    op_command: op::name("STREAM"),
    admission: Admission::FLARE_DEFAULT,
    max_data_len: 1 << 20,
    max_output_len: 8,
};

/// An extension with one streaming operation, so the fuzzer reaches the data path of the link.
pub struct StreamExtension;

struct Counter(u64);

impl Job for Counter {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), ExtensionError> {
        self.0 += chunk.len() as u64;
        Ok(())
    }

    fn finish(self: Box<Self>, _: &mut dyn Services) -> Result<Vec<u8>, ExtensionError> {
        Ok(self.0.to_be_bytes().to_vec())
    }
}

impl Extension for StreamExtension {
    fn name(&self) -> &'static str {
        "fuzz-stream"
    }

    fn operations(&self) -> &'static [Operation] {
        &[STREAM_OP]
    }

    fn start(&self, call: &Call<'_>) -> Result<Started, ExtensionError> {
        let m: &[u8; 40] =
            call.instruction.original_message.as_slice().try_into().map_err(|_| ExtensionError::new(1, "length"))?;
        let object = m[..32].try_into().expect("32 bytes");
        let len = u64::from_be_bytes(m[32..].try_into().expect("8 bytes"));
        Ok(Started { job: Box::new(Counter(0)), data: Some(DataRequest { object, len }) })
    }
}

static STREAM_EXTENSION: StreamExtension = StreamExtension;

/// A `FUZZ_EXT/STREAM` instruction for `len` bytes of object `[id; 32]`, signed by voters 0 and 1.
pub fn stream_action(id: u8, len: u64) -> Action {
    let mut action = fdc2_action(id, &[0, 1], false);
    let d = &mut action.instruction;
    (d.op_type, d.op_command) = (STREAM_OP.op_type, STREAM_OP.op_command);
    d.original_message = [[id; 32].as_slice(), &len.to_be_bytes()].concat();
    d.additional_fixed_message.clear();
    for (i, vote) in action.votes.iter_mut().enumerate() {
        vote.additional_variable_message.clear();
        vote.signature = voters()[i].sign_digest(&d.signing_digest(CHAIN_ID, &[]));
    }
    action
}

pub fn fresh_tee() -> Tee {
    let registry = Registry::system().with_extensions(&[&STREAM_EXTENSION]).expect("the harness extension is allowed");
    let mut tee = Tee::new(CONFIG, &mut FixedRng::new([0xfc; 32]), registry)
        .expect("fixed RNG is not constant")
        .with_sealing(SealingKey::simulated(&CONFIG));
    let r = tee.handle(&initialize_action(), &mut Simulated);
    assert_eq!(r.result.status, status::SUCCESS, "trust root: {}", r.result.log);
    assert!(tee.take_sealed().is_some(), "the trust root is sealed");
    tee
}

/// The TEE id of [`fresh_tee`].
pub fn tee_id() -> Address {
    static ID: OnceLock<Address> = OnceLock::new();
    *ID.get_or_init(|| fresh_tee().state().identity.address())
}

fn check_result(tee: &Tee, action: &Action, r: &SignedResult) {
    let res = &r.result;
    assert_eq!(res.id, action.instruction.instruction_id);
    // A refusal is an error; any other answer keeps the action's tag, and an error that is not a
    // refusal is an executed instruction's failure.
    if res.is_refusal() {
        assert_eq!(res.status, status::ERROR, "only errors are refusals");
    } else {
        assert_eq!(res.submission_tag, action.submission_tag);
        if res.status == status::ERROR {
            assert_eq!(action.kind, fcc_core::action::ActionKind::Instruction, "direct actions execute or refuse");
        }
    }
    assert_eq!((res.op_type, res.op_command), (action.instruction.op_type, action.instruction.op_command));
    res.validate().expect("results the engine signs are within bounds");
    assert!(res.log.len() <= MAX_REASON_LEN);
    match res.status {
        status::SUCCESS => assert!(res.log.is_empty() && res.additional_result_status.is_empty()),
        status::ERROR => {
            assert!(res.data.is_empty());
            assert_eq!(res.additional_result_status.len(), 2, "error results carry the error code");
            assert!(!res.log.is_empty());
        }
        other => panic!("unknown status {other}"),
    }
    assert_eq!(r.signer(CHAIN_ID), Ok(tee.state().identity.address()), "result not signed by the TEE");
}

/// Decodes a proxy frame body and runs every action through a TEE (whether or not the message
/// validates: the engine must refuse by itself). Returns each result's status and error code
/// (0 for success), so tests can check that seeds reach where they should.
pub fn engine_action(data: &[u8]) -> Vec<(u8, u16)> {
    let Ok(msg) = wire::decode_body::<ProxyMessage>(data) else { return Vec::new() };
    let _ = msg.validate();
    let ProxyMessage::Actions(actions) = msg else { return Vec::new() };
    let mut tee = fresh_tee();
    let mut out = Vec::new();
    for action in &actions {
        let r = tee.handle(action, &mut Simulated);
        check_result(&tee, action, &r);
        let code = match r.result.additional_result_status[..] {
            [a, b] => u16::from_be_bytes([a, b]),
            _ => 0,
        };
        if r.result.status == status::SUCCESS && action.kind == ActionKind::Instruction {
            // Executed instructions never execute twice: a re-delivery gets the same signed result.
            let again = tee.handle(action, &mut Simulated);
            assert_eq!(again, r, "a re-delivered instruction got another result");
        }
        out.push((r.result.status, code));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// session_stream

/// The challenge [`session_stream`] opens every session with.
pub const SESSION_CHALLENGE: [u8; 32] = [0xc4; 32];

/// A proxy byte stream fed to a `session::Session` (first byte picks the chunk size, never more
/// than `room()`), as the guest kernel does, until the session ends with an error; the proxy's
/// [`SESSION_CHALLENGE`] comes first, so the stream reaches past the greeting. Everything the
/// guest queued must be well-formed frames: `Hello` signed for the challenge, then pulls and
/// results signed by the TEE. Returns each result's status and error code, in order.
pub fn session_stream(data: &[u8]) -> Vec<(u8, u16)> {
    let Some((&k, stream)) = data.split_first() else { return Vec::new() };
    let mut tee = fresh_tee();
    let mut platform = Simulated;
    let mut session = Session::start();
    let challenge = wire::encode_frame(&ProxyMessage::Challenge { nonce: SESSION_CHALLENGE }).expect("encodes");
    session.receive(&challenge, &mut tee, &mut platform).expect("the challenge is answered");
    let chunk = usize::from(k % 64) + 1;
    let mut rest = stream;
    while !rest.is_empty() {
        let n = chunk.min(rest.len()).min(session.room());
        assert!(n > 0, "no room left after draining complete frames");
        let piece = &rest[..n];
        rest = &rest[n..];
        if session.receive(piece, &mut tee, &mut platform).is_err() {
            break;
        }
    }
    let (frames, bad) = reference_frames(session.output());
    assert!(!bad, "the guest queued a malformed frame");
    let total: usize = frames.iter().map(|f| wire::LENGTH_PREFIX + f.len()).sum();
    assert_eq!(total, session.output().len(), "the guest queued a partial frame");
    let mut results = Vec::new();
    let mut last: Option<GuestMessage> = None;
    for (i, body) in frames.iter().enumerate() {
        let msg = wire::decode_body::<GuestMessage>(body).expect("the guest's frames decode");
        msg.validate().expect("the guest's messages are within bounds");
        let msg_kind = msg.clone();
        match msg {
            GuestMessage::Hello(h) => {
                assert_eq!((i, h.tee_id), (0, tee.state().identity.address()));
                assert_eq!(h.verify_link(&SESSION_CHALLENGE), Ok(()), "the greeting is signed for the challenge");
            }
            GuestMessage::Pull { max_actions } => assert!(i > 0 && max_actions > 0),
            GuestMessage::NeedData { offset, len, .. } => assert!(i > 0 && offset == 0 && len > 0),
            GuestMessage::Result(r) => {
                assert_eq!(r.signer(CHAIN_ID), Ok(tee.state().identity.address()));
                let code = r.result.additional_result_status.as_slice().try_into().map_or(0, u16::from_be_bytes);
                results.push((r.result.status, code));
            }
            // Sealed once per batch, before its results (after the pull that asked for it), and it
            // opens.
            GuestMessage::Sealed(blob) => {
                assert!(i > 0 && matches!(last, Some(GuestMessage::Pull { .. })), "sealed state leads a batch");
                let sealed = SealingKey::simulated(&CONFIG).open(&blob).expect("the guest's sealed state opens");
                assert_eq!(Some(sealed.trust_root), tee.state().policies.initial());
            }
        }
        last = Some(msg_kind);
    }
    assert_eq!(results.len() as u64, session.handled);
    results
}

// ---------------------------------------------------------------------------------------------
// Seeds: valid inputs that reach deep into each target, written to the corpus by
// `cargo test -p fcc-core --test fuzz_corpus -- --ignored write_seeds`.

/// A valid FDC2 request encoding.
pub fn fdc2_request_bytes(bips: u16, body: &[u8]) -> Vec<u8> {
    encode_fdc2_request(&fdc2::Request {
        attestation_type: op::name("EVMTransaction"),
        source_id: op::name("testETH"),
        threshold_bips: bips,
        proof_owner: [0x0a; 20],
        request_body: body,
    })
}

/// An FDC2 instruction for the harness TEE, signed by `signers` (indexes into [`voters`]); hinted
/// votes name their voter index so the guest takes the batch path.
pub fn fdc2_action(id: u8, signers: &[usize], hinted: bool) -> Action {
    let instruction = InstructionData {
        instruction_id: [id; 32],
        tee_id: tee_id(),
        timestamp: 1_750_000_000,
        reward_epoch_id: EPOCH,
        op_type: op::F_FDC2,
        op_command: op::PROVE,
        cosigners: Vec::new(),
        cosigners_threshold: 0,
        original_message: fdc2_request_bytes(0, b"request body"),
        additional_fixed_message: b"response body".to_vec(),
    };
    let votes = signers
        .iter()
        .map(|&i| {
            let avm = if i == 0 { b"ts=1".to_vec() } else { Vec::new() };
            Vote {
                signature: voters()[i].sign_digest(&instruction.signing_digest(CHAIN_ID, &avm)),
                additional_variable_message: avm,
                hint: hinted.then_some(SignerHint { signer_index: i as u16, r_y: None }),
            }
        })
        .collect();
    Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction, votes }
}

/// An `UPDATE_POLICY` to epoch + 1 signed by the trust root's voters 0 and 1.
pub fn update_action() -> Action {
    let next = policy_of(EPOCH + 1, &voters()[1..], &[10, 20]);
    let digest = eip191_hash(&next.hash(CONFIG.policy_hash));
    let signatures = [0usize, 1]
        .iter()
        .map(|&i| Vote {
            signature: voters()[i].sign_digest(&digest),
            additional_variable_message: Vec::new(),
            hint: None,
        })
        .collect();
    let msg = UpdatePolicy { policy: next.encode(), signatures, public_keys: public_keys(&voters()[1..]) };
    direct(op::F_POLICY, op::UPDATE_POLICY, 2, postcard::to_allocvec(&msg).expect("encodes"))
}

fn body(frame: Vec<u8>) -> Vec<u8> {
    frame[wire::LENGTH_PREFIX..].to_vec()
}

fn flare_policy_309() -> Vec<u8> {
    let text = include_str!("../data/flare_policy_epoch309.hex");
    let digits: Vec<u8> = text.trim().trim_start_matches("0x").bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not hex"),
    };
    digits.chunks_exact(2).map(|p| nibble(p[0]) << 4 | nibble(p[1])).collect()
}

/// (target, file name, bytes) of every hand-made seed.
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let actions = ProxyMessage::Actions(vec![fdc2_action(0x10, &[0, 1], true), fdc2_action(0x11, &[1, 2], false)]);
    let proxy_frame = wire::encode_frame(&actions).expect("encodes");
    let ack_frame = wire::encode_frame(&ProxyMessage::Ack { id: [7; 32] }).expect("encodes");
    let pull_frame = wire::encode_frame(&GuestMessage::Pull { max_actions: 4 }).expect("encodes");
    let mut hello = Tee::new(CONFIG, &mut FixedRng::new([0xfc; 32]), Registry::system()).expect("rng");
    let _ = hello.handle(&initialize_action(), &mut Simulated);
    let hello_frame =
        wire::encode_frame(&GuestMessage::Hello(hello.hello(&mut Simulated, &SESSION_CHALLENGE).expect("hello")))
            .expect("encodes");
    let result = hello.handle(&fdc2_action(0x12, &[0, 1, 2], false), &mut Simulated);
    let result_frame = wire::encode_frame(&GuestMessage::Result(result)).expect("encodes");
    let mut stream = vec![7u8];
    for f in [&proxy_frame, &ack_frame, &pull_frame] {
        stream.extend_from_slice(f);
    }

    let mut seeds = vec![
        ("policy_decode", "seed-harness-policy", trust_root().encode()),
        ("policy_decode", "seed-flare-epoch-309", flare_policy_309()),
        ("frame_proxy", "seed-stream-actions-ack-pull", stream),
        ("frame_proxy", "seed-hello", [&[0u8][..], &hello_frame].concat()),
        ("frame_proxy", "seed-result", [&[31u8][..], &result_frame].concat()),
        ("fdc2_request", "seed-default-bips", fdc2_request_bytes(0, b"request body")),
        ("fdc2_request", "seed-4500-bips-long-body", fdc2_request_bytes(4500, &[0xab; 70])),
        (
            "tee_attestation_request",
            "seed-url",
            tee_attestation_request_bytes(&[0x11; 20], b"https://proxy.example/", [7; 32]),
        ),
        ("tee_attestation_request", "seed-empty-url", tee_attestation_request_bytes(&[0x22; 20], b"", [9; 32])),
        (
            "abi_reader",
            "seed-program-and-tokens",
            [
                &[3u8][..],
                &[0, 0, 0, 0, 0, 1, 0, 32, 16, 0, 3, 0, 32, 0, 3][..],
                &[0u8; 32][..],
                &[1, 0, 5, 1, 2, 3, 4, 5, 2, 2][..],
                &[0x11; 40][..],
            ]
            .concat(),
        ),
        ("session_stream", "seed-stream-data-then-actions", {
            let mut s = vec![63u8];
            let action = stream_action(0x51, 100);
            let id = action.instruction.instruction_id;
            s.extend_from_slice(&wire::encode_frame(&ProxyMessage::Actions(vec![action])).expect("encodes"));
            for (offset, bytes) in [(0u64, vec![1u8; 60]), (60, vec![2u8; 40])] {
                s.extend_from_slice(&wire::encode_frame(&ProxyMessage::Data { id, offset, bytes }).expect("encodes"));
            }
            s.extend_from_slice(&proxy_frame);
            s
        }),
        ("session_stream", "seed-actions-ack-then-garbage", {
            let mut s = vec![13u8];
            s.extend_from_slice(&proxy_frame);
            s.extend_from_slice(&ack_frame);
            s.extend_from_slice(&[0, 0, 0, 2, 9, 9]);
            s
        }),
        ("engine_action", "seed-fdc2-batch-and-recover", body(proxy_frame)),
        (
            "engine_action",
            "seed-info-update-fdc2-unknown",
            body(
                wire::encode_frame(&ProxyMessage::Actions(vec![
                    direct(op::F_GET, op::TEE_INFO, 3, vec![0x33; 32]),
                    update_action(),
                    fdc2_action(0x13, &[0, 1], true),
                    direct(op::name("X_EXT"), op::name("RUN"), 4, Vec::new()),
                ]))
                .expect("encodes"),
            ),
        ),
    ];
    seeds.extend(wallet_seeds().into_iter().map(|(name, data)| ("wallet_messages", name, data)));
    seeds
}

// ---------------------------------------------------------------------------------------------
// wallet_messages

/// The wallet recipient key of the harness (secret 0x11…11): restore messages and splits are
/// ECIES-encrypted to it.
pub fn wallet_secret() -> k256::NonZeroScalar {
    k256::NonZeroScalar::from_repr([0x11; 32].into()).expect("valid scalar")
}

/// The first byte picks a wallet decoder, the rest is its input:
/// 0 `KeyGenerate`, 1 `KeyDelete`, 2 `KeyDataProviderRestore` (each strict: whatever decodes is
/// the canonical encoding), 3 backup metadata JSON (re-marshals to what parses back equal),
/// 4 key splits JSON (each split's data re-marshals stably), 5 an ECIES ciphertext for the
/// harness key, 6 a restore of a fixed backup from messages cut from the input, 7
/// `KeyDirectBackup`, 8 `KeyDirectRestore` (strict), 9 a direct-backup envelope (never opens:
/// no source key signs fuzz input), 10 a machine path list request (never accepted: no
/// governance key signs fuzz input), 11 a heartbeat request, 12 an XRPL address, 13 Flare's XRPL
/// payment message and its tiers, 14 our Bitcoin payment message and its tiers.
pub fn wallet_messages(data: &[u8]) {
    use fcc_core::wallet::backup::{self, Metadata};
    use fcc_core::wallet::codec::{self, KeyDelete, KeyGenerate};
    use fcc_core::wallet::ecies;
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 15 {
        0 => {
            if let Ok(v) = KeyGenerate::decode(rest) {
                assert_eq!(v.encode(), rest, "decoded a non-canonical KeyGenerate");
                assert!(v.config.admins.len() <= fcc_core::limits::MAX_WALLET_ADMINS);
                let _ = v.config.check();
            }
        }
        1 => {
            if let Ok(v) = KeyDelete::decode(rest) {
                assert_eq!(v.encode(), rest, "decoded a non-canonical KeyDelete");
            }
        }
        2 => {
            if let Ok(v) = codec::decode_restore(rest) {
                assert_eq!(v.encode(), rest, "decoded a non-canonical KeyDataProviderRestore");
                assert!(v.backup_url.len() <= fcc_core::limits::MAX_URL_LEN);
            }
        }
        3 => {
            if let Ok(m) = Metadata::parse(rest) {
                let json = m.to_json();
                assert_eq!(Metadata::parse(json.as_bytes()).expect("own JSON parses"), m);
            }
        }
        4 => {
            if let Ok(splits) = backup::parse_splits(rest) {
                assert!((1..=backup::MAX_SPLITS_PER_MESSAGE).contains(&splits.len()));
                for s in &splits {
                    let json = s.data.split_json(&s.signature);
                    let again = backup::parse_splits(json.as_bytes()).expect("own JSON parses");
                    assert_eq!(again[0].data, s.data);
                    let _ = s.verify(&s.data.backup_id, CHAIN_ID);
                }
            }
        }
        5 => {
            if let Ok(m) = ecies::decrypt(&wallet_secret(), rest, &[], &[]) {
                assert_eq!(m.len() + ecies::OVERHEAD, rest.len());
            }
        }
        6 => {
            let metadata = harness_metadata();
            let messages: Vec<&[u8]> = rest.chunks(256).collect();
            if let Ok(r) = backup::restore(&metadata, &messages, &wallet_secret(), CHAIN_ID) {
                panic!("restored a key from fuzz input: {r:?}");
            }
        }
        7 => {
            if let Ok(v) = fcc_core::wallet::direct::KeyDirectBackup::decode(rest) {
                assert_eq!(v.encode(), rest, "decoded a non-canonical KeyDirectBackup");
            }
        }
        8 => {
            if let Ok(v) = fcc_core::wallet::direct::decode_direct_restore(rest) {
                assert_eq!(v.encode(), rest, "decoded a non-canonical KeyDirectRestore");
            }
        }
        9 => {
            assert!(fcc_core::wallet::direct::open_envelope(rest, &[0x33; 20], CHAIN_ID).is_err(), "opened fuzz input");
        }
        10 => {
            let governance = fcc_core::config::Governance::new(&[[0x44; 20], [0x45; 20]], 1).expect("governance");
            let mut paths = fcc_core::wallet::direct::MachinePaths::default();
            assert!(paths.set(rest, &governance, &[7; 32], CHAIN_ID).is_err(), "a path list accepted from fuzz input");
            assert_eq!(paths.nonce(), 0);
        }
        12 => {
            use fcc_core::xrpl::address;
            if let Ok(d) = core::str::from_utf8(rest).map_err(|_| ()).and_then(|t| address::decode(t).map_err(|_| ())) {
                let text = core::str::from_utf8(rest).expect("decoded from UTF-8");
                if text.starts_with('r') {
                    assert_eq!((address::encode(&d.account), d.tag), (text.into(), None), "classic address round trip");
                }
            }
        }
        11 => {
            use fcc_core::wallet::heartbeat::Heartbeat;
            if let Ok(h) = Heartbeat::parse(rest) {
                assert_ne!(h.reference_hash, [0; 32]);
                assert_eq!(Heartbeat::parse(h.request_json().as_bytes()).as_ref(), Ok(&h), "own JSON parses back");
                let data = h.data(&[0x55; 20]);
                assert_eq!(data.len(), 12 * 32, "eight head words, the record's length and three words");
            }
        }
        13 => {
            use fcc_core::xrpl::payment::{PaymentMessage, parse_schedule};
            if let Ok(m) = PaymentMessage::decode(rest) {
                assert_eq!(m.encode(), rest, "decoded a non-canonical payment message");
                if let Ok(txs) = m.transactions() {
                    assert!(!txs.is_empty() && txs.len() <= fcc_core::xrpl::payment::MAX_FEE_ENTRIES);
                    for (_, tx) in &txs {
                        tx.signing_blob().expect("a checked transaction encodes");
                    }
                }
            }
            if let Ok(tiers) = parse_schedule(rest) {
                assert_eq!(tiers.len() * 4, rest.len());
            }
        }
        14 => {
            use fcc_core::btc::payment::BtcPaymentMessage;
            if let Ok(m) = BtcPaymentMessage::decode(rest) {
                assert_eq!(m.encode(), rest, "decoded a non-canonical Bitcoin payment message");
                if let Ok(txs) = m.transactions() {
                    assert!(!txs.is_empty() && txs.len() <= fcc_core::xrpl::payment::MAX_FEE_ENTRIES);
                    let script = m.witness_script().expect("checked with the transactions");
                    for (_, tx) in &txs {
                        let total: u64 = tx.inputs.iter().map(|i| i.amount).sum();
                        let out: u64 = tx.outputs.iter().map(|o| o.value).sum();
                        assert!(out < total, "a fee is paid");
                        tx.sighash_all(0, &script).expect("a checked transaction hashes");
                    }
                    m.commitment().expect("a checked payment commits");
                }
            }
        }
        _ => unreachable!("which % 15"),
    }
}

/// Flare's example payment message (tests/xrpl.rs), with three fee tiers.
fn xrpl_payment_message() -> Vec<u8> {
    let recipient = "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe";
    let mut amount = [0u8; 32];
    amount[31] = 10;
    fcc_core::xrpl::payment::PaymentMessage {
        wallet_id: [1; 32],
        key_pairs: vec![([0x11; 20], 1)],
        source_id: [0; 32],
        sender: "rGYYWKxT1XgNipUJouCq4cKiyAdq8xBoE9".into(),
        recipient: recipient.into(),
        token_id: vec![],
        amount,
        max_fee: amount,
        fee_schedule: vec![0x27, 0x10, 0, 0, 0x13, 0x88, 0, 5, 0xd8, 0xf0, 0, 0x0a],
        payment_reference: [0x9c; 32],
        nonce: 10,
        payment_id: 7,
    }
    .encode()
}

/// A Bitcoin payment: two inputs of a 2-of-3 wallet, three fee tiers (tests/engine.rs).
fn btc_payment_message() -> Vec<u8> {
    let word = |v: u64| {
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&v.to_be_bytes());
        w
    };
    let key = |i: usize| fcc_core::wallet::compress_xy(voters()[i].public_key());
    use fcc_core::btc::payment::{BtcPaymentMessage, Utxo};
    BtcPaymentMessage {
        wallet_id: [1; 32],
        key_pairs: vec![([0x11; 20], 1)],
        source_id: [0; 32],
        threshold: 2,
        public_keys: vec![key(0), key(1), key(2)],
        inputs: vec![
            Utxo { txid: [0xa1; 32], vout: 0, value: 60_000 },
            Utxo { txid: [0xb2; 32], vout: 3, value: 50_000 },
        ],
        recipient_script: [&[0x00, 0x14][..], &[0x77; 20]].concat(),
        amount: word(70_000),
        max_fee: word(2_000),
        fee_schedule: vec![0x27, 0x10, 0, 0, 0x13, 0x88, 0, 5, 0xd8, 0xf0, 0, 0x0a],
        payment_reference: [0x9c; 32],
        nonce: 5,
        payment_id: 1,
    }
    .encode()
}

/// A backup id and metadata no fuzz input can complete (its key is unknown to everyone).
fn harness_metadata() -> fcc_core::wallet::backup::Metadata {
    use fcc_core::wallet::codec::BackupId;
    use fcc_core::wallet::{EVM_SIGN_ALGO, KEY_TYPE_EVM, KeyIdPair};
    let key = voters()[0].public_key();
    fcc_core::wallet::backup::Metadata {
        backup_id: BackupId {
            tee_id: [0x33; 20],
            id: KeyIdPair { wallet_id: [0x22; 32], key_id: 1 },
            public_key: *key,
            key_type: KEY_TYPE_EVM,
            signing_algo: EVM_SIGN_ALGO,
            reward_epoch_id: EPOCH,
            random_nonce: [0x55; 32],
        },
        field_id: fcc_core::wallet::backup::FIELD_SECP256K1_ORDER,
        admins: vec![*voters()[1].public_key()],
        admins_threshold: 1,
        providers_threshold: fcc_core::wallet::backup::PROVIDERS_THRESHOLD,
        cosigners: vec![],
        cosigners_threshold: 0,
    }
}

/// Seeds of `wallet_messages`: a valid input for each decoder.
pub fn wallet_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use fcc_core::wallet::backup::KeySplitData;
    use fcc_core::wallet::codec::{BackupId, KeyDataProviderRestore, KeyDelete, KeyGenerate};
    use fcc_core::wallet::{ConfigConstants, EVM_SIGN_ALGO, KEY_TYPE_EVM, KeyIdPair, ecies};
    let id = KeyIdPair { wallet_id: [0x22; 32], key_id: 7 };
    let config = ConfigConstants {
        admins: vec![*voters()[0].public_key(), *voters()[1].public_key()],
        admins_threshold: 2,
        cosigners: vec![[0x11; 20]],
        cosigners_threshold: 1,
    };
    let generate = KeyGenerate { tee_id: [0x33; 20], id, key_type: KEY_TYPE_EVM, signing_algo: EVM_SIGN_ALGO, config };
    let delete = KeyDelete { tee_id: [0x33; 20], id, nonce: 5 };
    let metadata = harness_metadata();
    let restore = KeyDataProviderRestore {
        tee_public_key: *voters()[2].public_key(),
        backup_id: metadata.backup_id.clone(),
        backup_url: b"https://proxy.example/backup",
        nonce: 3,
    };
    let split = KeySplitData {
        shares: Some(vec![(1, [0x0a; 32]), (2, [0x0b; 32])]),
        backup_id: BackupId { ..metadata.backup_id.clone() },
        is_admin: false,
        owner: *voters()[1].public_key(),
    };
    let split_json = split.split_json(&[0x44; 65]).as_bytes().to_vec();
    let public = {
        use k256::elliptic_curve::sec1::ToSec1Point;
        let p = (k256::ProjectivePoint::GENERATOR * *wallet_secret()).to_affine();
        <[u8; 64]>::try_from(&p.to_sec1_point(false).as_bytes()[1..]).expect("64 bytes")
    };
    let ciphertext = ecies::encrypt(&mut FixedRng::new([0x77; 32]), &public, &split_json, &[], &[]).expect("encrypts");
    let with = |b: u8, d: &[u8]| [&[b][..], d].concat();
    vec![
        ("seed-key-generate", with(0, &generate.encode())),
        ("seed-key-delete", with(1, &delete.encode())),
        ("seed-key-restore", with(2, &restore.encode())),
        ("seed-metadata-json", with(3, metadata.to_json().as_bytes())),
        ("seed-key-split-json", with(4, &split_json)),
        ("seed-key-splits-array", with(4, format!("[{}]", String::from_utf8_lossy(&split_json)).as_bytes())),
        ("seed-ecies", with(5, &ciphertext)),
        ("seed-xrpl-payment-message", with(13, &xrpl_payment_message())),
        ("seed-btc-payment-message", with(14, &btc_payment_message())),
        ("seed-xrpl-classic-address", with(12, b"rGYYWKxT1XgNipUJouCq4cKiyAdq8xBoE9")),
        ("seed-xrpl-x-address", with(12, b"XVLhHMPHU98es4dbozjVtdWzVrDjtV5fdx1mHp98tDMoQXb")),
        (
            "seed-key-backup-heartbeat",
            with(
                11,
                fcc_core::wallet::heartbeat::Heartbeat {
                    id,
                    registry: [0x4b; 20],
                    extension_id: [1; 32],
                    reference_block: 5_000,
                    reference_hash: [0x99; 32],
                    backup_hash: [0x33; 32],
                }
                .request_json()
                .as_bytes(),
            ),
        ),
        ("seed-restore-one-message", with(6, &ciphertext[..ciphertext.len().min(256)])),
        (
            "seed-key-direct-backup",
            with(
                7,
                &fcc_core::wallet::direct::KeyDirectBackup {
                    source: [0x33; 20],
                    id,
                    destination: *voters()[2].public_key(),
                    path_nonce: 1,
                }
                .encode(),
            ),
        ),
        (
            "seed-key-direct-restore",
            with(
                8,
                &fcc_core::wallet::direct::KeyDirectRestore {
                    source: [0x33; 20],
                    source_proxy_url: b"http://proxy-a",
                    backup_id: metadata.backup_id.clone(),
                    backup_instruction_id: [9; 32],
                    destination_nonce: 1,
                    path_nonce: 1,
                }
                .encode(),
            ),
        ),
        (
            "seed-direct-envelope",
            with(9, br#"{"payload":"0x7b7d","teeSignature":"0x0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}"#),
        ),
        (
            "seed-machine-path-list",
            with(
                10,
                br#"{"Paths":[{"SourceTeeIds":["0x3333333333333333333333333333333333333333"],"DestinationTeeIds":["0x4444444444444444444444444444444444444444"]}],"Nonce":1,"Signatures":["AAAA"]}"#,
            ),
        ),
    ]
}
