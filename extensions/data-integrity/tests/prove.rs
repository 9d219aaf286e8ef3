//! DATA_INTEGRITY/PROVE through the real engine (`fcc_extension::testing`), judged by FIPS 180-2's
//! SHA-256 vectors, Python's `hashlib` and alloy's ABI decoder.

use alloy_primitives::B256;
use alloy_sol_types::{SolType, sol};
use fcc_ext_data_integrity::{EXTENSION, PROVE, Request};
use fcc_extension::testing::{Outcome, TestTee};
use fcc_extension::{H256, MAX_DATA_CHUNK};

sol! {
    struct ProofOutput {
        bytes32 object;
        uint64 size;
        bytes32 challenge;
        bytes32 digest;
        bool intact;
    }
}

const CHALLENGE: H256 = [0xc1; 32];

fn tee() -> TestTee {
    TestTee::new(&[&EXTENSION]).unwrap()
}

/// SHA-256 by Python's hashlib.
fn python_sha256(data: &[u8]) -> H256 {
    let dir = std::env::temp_dir().join(format!("fcc-pdi-{}-{}", std::process::id(), data.len()));
    std::fs::write(&dir, data).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())"])
        .arg(&dir)
        .output()
        .expect("python3 runs");
    std::fs::remove_file(&dir).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    hex::decode(String::from_utf8(out.stdout).unwrap().trim()).unwrap().try_into().unwrap()
}

fn prove(tee: &mut TestTee, object: H256, data: &[u8], chunk: usize) -> ProofOutput {
    let request = Request { object, size: data.len() as u64, challenge: CHALLENGE };
    let action = tee.instruction(&PROVE, &request.encode(), &[0, 1]);
    match tee.run_chunked(&action, data, chunk) {
        Outcome::Output(out) => {
            let p = <ProofOutput as SolType>::abi_decode_params_validate(&out).unwrap();
            assert_eq!((p.object.0, p.size, p.challenge.0), (object, data.len() as u64, CHALLENGE));
            p
        }
        other => panic!("{other:?}"),
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

#[test]
fn fips_180_2_vectors() {
    let mut tee = tee();
    for (message, digest) in [
        (&b"abc"[..], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ] {
        let digest: H256 = hex::decode(digest).unwrap().try_into().unwrap();
        let p = prove(&mut tee, digest, message, 7);
        assert_eq!(p.digest.0, digest);
        assert!(p.intact);
    }
    // One million "a", streamed in the link's chunks.
    let million = vec![b'a'; 1_000_000];
    let digest: H256 =
        hex::decode("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0").unwrap().try_into().unwrap();
    assert!(prove(&mut tee, digest, &million, MAX_DATA_CHUNK).intact);
}

#[test]
fn any_chunking_gives_hashlibs_digest() {
    let mut tee = tee();
    let d = data(3 * MAX_DATA_CHUNK + 12_345);
    let digest = python_sha256(&d);
    for chunk in [1 << 10, 4096 + 3, MAX_DATA_CHUNK] {
        let p = prove(&mut tee, digest, &d, chunk);
        assert_eq!(p.digest.0, digest);
        assert!(p.intact);
    }
}

#[test]
fn data_that_is_not_the_object_fails_the_challenge_in_the_result() {
    let mut tee = tee();
    let d = data(100_000);
    let mut other = d.clone();
    other[50_000] ^= 1;
    let p = prove(&mut tee, python_sha256(&d), &other, MAX_DATA_CHUNK);
    assert!(!p.intact);
    assert_eq!(p.digest.0, python_sha256(&other));
}

#[test]
fn requests_decode_strictly() {
    let mut tee = tee();
    let good = Request { object: [1; 32], size: 5, challenge: CHALLENGE }.encode();
    assert_eq!(good.len(), 96);
    let mut high = good.clone();
    high[32] = 1; // size above 64 bits
    let zero = Request { object: [1; 32], size: 5, challenge: [0; 32] }.encode();
    for (message, code, why) in [
        (good[..95].to_vec(), 406, "abi.encode"),
        ([good.as_slice(), &[0]].concat(), 406, "abi.encode"),
        (high, 406, "abi.encode"),
        (zero, 406, "challenge is zero"),
    ] {
        let action = tee.instruction(&PROVE, &message, &[0, 1]);
        match tee.run(&action, &[]) {
            Outcome::Failed(c, log) => assert!(c == code && log.contains(why), "{c} {log}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn only_the_policy_can_ask() {
    let mut tee = tee();
    let request = Request { object: [1; 32], size: 1, challenge: CHALLENGE }.encode();
    // 40 of 100 is not more than half.
    let action = tee.instruction(&PROVE, &request, &[0]);
    assert!(matches!(tee.run(&action, &[1]), Outcome::Refused(307, _)));
}

#[test]
fn the_output_is_what_alloy_encodes() {
    let mut tee = tee();
    let d = b"the object";
    let digest = python_sha256(d);
    let p = prove(&mut tee, digest, d, 3);
    let want = ProofOutput {
        object: B256::from(digest),
        size: d.len() as u64,
        challenge: B256::from(CHALLENGE),
        digest: B256::from(digest),
        intact: true,
    };
    assert_eq!(<ProofOutput as SolType>::abi_encode_params(&want), <ProofOutput as SolType>::abi_encode_params(&p));
}
