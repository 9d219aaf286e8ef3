//! The receipt vector in `docs/PROTOCOL.md` §15 matches the code (regenerate with
//! `FCC_PRINT_VECTORS=1 cargo test -p fcc-flare-json --test protocol_vectors -- --nocapture`).
//! The signature is RFC 6979's deterministic one (fcc-core's signer here; the proxy's
//! libsecp256k1 gives the same bytes).

use alloy_primitives::B256;
use fcc_core::hash::keccak256;
use fcc_core::identity::TeeIdentity;
use fcc_flare_json::receipt::{Receipt, initial_vote_hash, next_vote_hash};

#[test]
fn protocol_md_receipt_vector_matches_the_code() {
    let doc = include_str!("../../docs/PROTOCOL.md");
    let section = &doc[doc.find("## 15. The host proxy's HTTP API").expect("§15")..];
    let key = TeeIdentity::from_secret_for_tests(&[0x42; 32]).unwrap();
    let instruction_id = keccak256(b"fcc-proxy receipt vector");
    let hash_fixed = keccak256(b"hashFixed");
    let v0 = initial_vote_hash(&instruction_id, &hash_fixed, 7, &[0xee; 20]);
    let avm_hash = keccak256(b"");
    let v1 = next_vote_hash(&v0, 0, &[0x11; 65], &avm_hash, 1_760_000_000);
    let receipt = Receipt {
        instruction_hash: B256::from(hash_fixed),
        sequence: 0,
        signature: vec![0x11; 65].into(),
        additional_variable_message_hash: B256::from(avm_hash),
        timestamp: 1_760_000_000,
        vote_hash: B256::from(v1),
    };
    let hash = receipt.hash();
    let digest = receipt.signing_digest(14);
    let signature = key.sign_digest(&digest);
    let computed = [
        ("receipt.instructionId", hex::encode(instruction_id)),
        ("receipt.hashFixed", hex::encode(hash_fixed)),
        ("receipt.voteHash0", hex::encode(v0)),
        ("receipt.voteHash1", hex::encode(v1)),
        ("receipt.hash", hex::encode(hash)),
        ("receipt.digest14", hex::encode(digest)),
        ("receipt.signature", hex::encode(signature)),
    ];
    if std::env::var("FCC_PRINT_VECTORS").is_ok() {
        for (name, value) in &computed {
            println!("{name} = 0x{value}");
        }
    }
    for (name, value) in computed {
        let line = section
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("{name} missing from PROTOCOL.md §15"));
        assert_eq!(line.trim_start_matches("0x"), value, "{name}");
    }
}
