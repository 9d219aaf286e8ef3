//! Fuzzing harness of the compute extensions' decoders, shared by the cargo-fuzz targets here
//! and by the stable replay test `extensions/set/tests/fuzz_corpus.rs`. Each function takes
//! arbitrary bytes, must never panic, and asserts what holds whenever decoding succeeds.
#![allow(dead_code)]

use fcc_ext_attested_query as query;
use fcc_ext_data_integrity as integrity;
use fcc_extension::{Call, Extension, ExtensionError, H256, InstructionData, KeyIdPair, OpName, Services};
use sha2::{Digest, Sha256};

/// `data_integrity::Request::decode`; what decodes re-encodes to the same bytes.
pub fn data_integrity_request(data: &[u8]) {
    if let Ok(request) = integrity::Request::decode(data) {
        assert_eq!(request.encode(), data, "a request decodes only from its canonical encoding");
        assert_ne!(request.challenge, [0; 32]);
    }
}

/// Services the extensions under test never need: they sign nothing.
struct NoServices;

impl Services for NoServices {
    fn tee_id(&self) -> [u8; 20] {
        [0; 20]
    }
    fn chain_id(&self) -> u64 {
        0
    }
    fn extension_id(&self) -> H256 {
        [0; 32]
    }
    fn sign(&mut self, _: &OpName, _: &H256) -> [u8; 65] {
        panic!("the attested query signs nothing itself")
    }
    fn sign_with_wallet_key(&mut self, _: &KeyIdPair, _: &OpName, _: &H256) -> Result<[u8; 65], ExtensionError> {
        panic!("the attested query signs nothing itself")
    }
    fn fill_random(&mut self, _: &mut [u8]) {
        panic!("the attested query draws nothing")
    }
}

/// The first byte picks the chunk size, the next `REQUEST_LEN` bytes are the request (its object
/// and size replaced by the rest's, so the records are "the object" and the query runs), the
/// rest are the records. Whatever runs: the output is the request followed by three words, no
/// more records than newlines, no more matched than records.
pub fn attested_query(data: &[u8]) {
    let Some((&k, rest)) = data.split_first() else { return };
    if rest.len() < query::REQUEST_LEN {
        let _ = query::Request::decode(rest);
        return;
    }
    let (request, records) = rest.split_at(query::REQUEST_LEN);
    let mut message = request.to_vec();
    let object: H256 = Sha256::digest(records).into();
    message[..32].copy_from_slice(&object);
    message[32..64].fill(0);
    message[56..64].copy_from_slice(&(records.len() as u64).to_be_bytes());
    let Ok(decoded) = query::Request::decode(&message) else { return };
    assert_eq!(decoded.encode(), message, "a request decodes only from its canonical encoding");
    let instruction = InstructionData { original_message: message.clone(), ..Default::default() };
    let Ok(started) = query::EXTENSION.start(&Call { instruction: &instruction, operation: &query::RUN }) else {
        return;
    };
    let request = started.data.expect("a query always asks for its records");
    assert_eq!((request.object, request.len), (object, records.len() as u64));
    let mut job = started.job;
    for chunk in records.chunks(usize::from(k) + 1) {
        job.feed(chunk).expect("records are judged at the end");
    }
    if let Ok(out) = job.finish(&mut NoServices) {
        assert_eq!(out.len(), query::OUTPUT_LEN);
        assert_eq!(out[..query::REQUEST_LEN], message[..]);
        let word = |i: usize| u64::from_be_bytes(out[32 * i + 24..32 * i + 32].try_into().expect("8 bytes"));
        let (n, matched) = (word(7), word(8));
        assert!(matched <= n && n as usize <= records.iter().filter(|&&b| b == b'\n').count());
    }
}

/// Hand-made seeds: (target, name, bytes).
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let integrity = integrity::Request { object: [1; 32], size: 1 << 20, challenge: [2; 32] }.encode();
    let sum = query::Request {
        object: [0; 32],
        size: 0,
        query: query::Query { aggregate: query::Aggregate::Sum, column: 1, filter: Some((0, query::Cmp::Ge, -3)) },
    }
    .encode();
    let records = b"-5,10,x\n0,20,y\n7,-1,z\n".to_vec();
    vec![
        ("data_integrity_request", "seed-request", integrity),
        ("attested_query", "seed-sum-filtered", [&[4u8][..], &sum, &records].concat()),
        ("attested_query", "seed-bad-record", [&[0u8][..], &sum, b"1,2\n3\n"].concat()),
    ]
}
