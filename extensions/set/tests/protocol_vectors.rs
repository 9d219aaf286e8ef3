//! The extensions' formats in docs/PROTOCOL.md §8.9 (```` ```extension-vectors ````), computed by
//! the extensions and checked against encodings by hand (words) and SHA-256 by FIPS 180-2's
//! "abc" vector.

#[path = "../../../guest/core/tests/doc_vectors/mod.rs"]
mod doc_vectors;

use fcc_ext_attested_query::{self as query, Aggregate, Answer, Cmp, Evaluator, Query};
use fcc_ext_data_integrity::{self as integrity, Proof};
use sha2::{Digest, Sha256};

const PROTOCOL_MD: &str = include_str!("../../../docs/PROTOCOL.md");

fn word(v: i128) -> [u8; 32] {
    let mut w = if v < 0 { [0xff; 32] } else { [0; 32] };
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

fn computed() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    // Data integrity: the object "abc", challenge 0xc1…c1.
    let abc: [u8; 32] = Sha256::digest(b"abc").into();
    assert_eq!(hex::encode(abc), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let request = integrity::Request { object: abc, size: 3, challenge: [0xc1; 32] };
    let encoded = request.encode();
    assert_eq!(encoded, [abc, word(3), [0xc1; 32]].concat());
    assert_eq!(integrity::Request::decode(&encoded).unwrap(), request);
    v.push(("dataIntegrity.request", encoded));
    let proof = Proof { request, digest: abc };
    assert_eq!(proof.encode(), [abc, word(3), [0xc1; 32], abc, word(1)].concat());
    v.push(("dataIntegrity.output", proof.encode()));
    // Attested query: SUM of column 1 where column 0 >= -3, over three records.
    let records = b"-5,10\n0,20\n7,-1\n";
    let object: [u8; 32] = Sha256::digest(records).into();
    let q = Query { aggregate: Aggregate::Sum, column: 1, filter: Some((0, Cmp::Ge, -3)) };
    let request = query::Request { object, size: records.len() as u64, query: q };
    let encoded = request.encode();
    assert_eq!(encoded, [object, word(16), word(1), word(1), word(0), word(6), word(-3)].concat());
    assert_eq!(query::Request::decode(&encoded).unwrap(), request);
    v.push(("attestedQuery.records.sha256", object.to_vec()));
    v.push(("attestedQuery.request", encoded.clone()));
    let mut e = Evaluator::new(q);
    for line in records.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        e.record(line).unwrap();
    }
    assert_eq!(e.answer(), Answer { records: 3, matched: 2, value: 19 });
    let output = e.answer().encode(&request);
    assert_eq!(output, [encoded, word(3).to_vec(), word(2).to_vec(), word(19).to_vec()].concat());
    v.push(("attestedQuery.output", output));
    v
}

#[test]
fn protocol_md_carries_the_extensions_vectors() {
    let doc = doc_vectors::parse(PROTOCOL_MD, "extension-vectors");
    let code = computed();
    let names: Vec<&str> = code.iter().map(|(n, _)| *n).collect();
    assert_eq!(doc.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut n = names.clone();
        n.sort();
        n
    });
    for (name, want) in code {
        assert_eq!(hex::encode(&doc[name]), hex::encode(&want), "PROTOCOL.md vector {name}");
    }
}

/// Prints the vectors (`FCC_PRINT_VECTORS=1 cargo test -p fcc-extensions --test protocol_vectors -- --nocapture`).
#[test]
fn print_on_request() {
    if std::env::var_os("FCC_PRINT_VECTORS").is_none() {
        return;
    }
    for (name, bytes) in computed() {
        println!("{name} = 0x");
        for c in hex::encode(&bytes).as_bytes().chunks(64) {
            println!("    {}", std::str::from_utf8(c).unwrap());
        }
    }
}
