//! The relay-message encoder against fixed vectors (docs/PROTOCOL.md §16, parsed from the
//! document), an independent EIP-191/keccak (alloy), and every refusal. The anvil test checks the
//! same bytes against DevRelay on a node.

use std::collections::BTreeMap;
use std::path::Path;

use alloy::primitives::{B256, U256, eip191_hash_message, keccak256};
use fcc_contracts::relay_message::{
    IndexedSignature, RELAY_SELECTOR, RelayMessageError, check_signatures, custom_message, custom_signing_digest,
    encode_custom_signature, encode_policy_update, policy_update_digest,
};
use fcc_core::hash::H256;
use fcc_core::identity::TeeIdentity;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy, Voter};

const CHAIN_BOUND_14: PolicyHashScheme = PolicyHashScheme::ChainBound { chain_id: 14 };
/// The message hash of the example: 0x2222…22.
const MESSAGE_HASH: H256 = [0x22; 32];

fn key(secret: u8) -> TeeIdentity {
    let mut s = [0u8; 32];
    s[31] = secret;
    TeeIdentity::from_secret_for_tests(&s).expect("valid test key")
}

/// docs/PROTOCOL.md §2's worked example: provider 1 (key 1, weight 600), provider 2 (key 3,
/// weight 400), threshold 500, at `epoch`.
fn example_policy(epoch: u32, start: u32) -> SigningPolicy {
    let voters =
        vec![Voter { address: key(1).address(), weight: 600 }, Voter { address: key(3).address(), weight: 400 }];
    SigningPolicy::new(epoch, start, 500, [0x5e, 0xed].repeat(16).try_into().expect("32 bytes"), voters)
        .expect("valid policy")
}

fn signed(secret: u8, index: u16, digest: &H256) -> IndexedSignature {
    IndexedSignature { index, signature: key(secret).sign_digest(digest) }
}

/// Every vector of §16, computed by the encoder.
fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let policy = example_policy(1000, 3_360_000);
    let digest = custom_signing_digest(&MESSAGE_HASH, CHAIN_BOUND_14);
    let sig = signed(1, 0, &digest);
    let next = example_policy(1001, 3_363_360);
    let update_digest = policy_update_digest(&next, CHAIN_BOUND_14);
    let update_sig = signed(1, 0, &update_digest);
    vec![
        ("relay.customMessage", custom_message(&MESSAGE_HASH).to_vec()),
        ("relay.customDigest.legacy", custom_signing_digest(&MESSAGE_HASH, PolicyHashScheme::Legacy).to_vec()),
        ("relay.customDigest.chainBound14", digest.to_vec()),
        ("relay.customSignature", sig.signature.to_vec()),
        ("relay.customRelayMessage", encode_custom_signature(&policy, &MESSAGE_HASH, &[sig]).expect("encodes")),
        ("relay.nextPolicy", next.encode()),
        ("relay.policyUpdateDigest.chainBound14", update_digest.to_vec()),
        ("relay.policyRelayMessage", encode_policy_update(&policy, &next, &[update_sig]).expect("encodes")),
    ]
}

/// The ```` ```relay-vectors ```` blocks of PROTOCOL.md: `name = 0xHEX`, continued on indented lines.
fn doc_vectors() -> BTreeMap<String, Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/PROTOCOL.md");
    let text = std::fs::read_to_string(&path).expect("docs/PROTOCOL.md");
    let (mut out, mut in_block, mut current) = (BTreeMap::new(), false, None::<(String, String)>);
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            if let Some((name, hex)) = current.take() {
                out.insert(name, alloy::primitives::hex::decode(hex).expect("hex"));
            }
            in_block = t == "```relay-vectors";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some((name, value)) = t.split_once(" = ") {
            if let Some((name, hex)) = current.take() {
                out.insert(name, alloy::primitives::hex::decode(hex).expect("hex"));
            }
            current = Some((name.to_string(), value.trim_start_matches("0x").to_string()));
        } else if let Some((_, hex)) = current.as_mut() {
            hex.push_str(t);
        }
    }
    out
}

#[test]
fn protocol_md_relay_vectors_match_the_encoder() {
    let code = vectors();
    if std::env::var_os("FCC_PRINT_VECTORS").is_some() {
        for (name, bytes) in &code {
            let hex = alloy::primitives::hex::encode(bytes);
            if bytes.len() <= 32 {
                println!("{name} = 0x{hex}");
            } else {
                println!("{name} = 0x");
                for chunk in hex.as_bytes().chunks(64) {
                    println!("    {}", std::str::from_utf8(chunk).expect("ascii"));
                }
            }
        }
    }
    let doc = doc_vectors();
    let names: Vec<&str> = code.iter().map(|(n, _)| *n).collect();
    assert_eq!(doc.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted
    });
    for (name, bytes) in code {
        assert_eq!(doc[name], bytes, "{name} differs from docs/PROTOCOL.md");
    }
}

/// The digests and layout recomputed with alloy's keccak and EIP-191, independently of fcc-core.
#[test]
fn layout_and_digests_match_an_independent_computation() {
    let inner = keccak256([&[1u8, 0, 0, 0, 0, 0][..], &MESSAGE_HASH].concat());
    assert_eq!(custom_signing_digest(&MESSAGE_HASH, PolicyHashScheme::Legacy), eip191_hash_message(inner).0);
    let bound = keccak256([U256::from(14).to_be_bytes::<32>().as_slice(), inner.as_slice()].concat());
    assert_eq!(custom_signing_digest(&MESSAGE_HASH, CHAIN_BOUND_14), eip191_hash_message(bound).0);
    assert_eq!(RELAY_SELECTOR, keccak256("relay()")[..4]);

    let policy = example_policy(1000, 3_360_000);
    let digest = custom_signing_digest(&MESSAGE_HASH, CHAIN_BOUND_14);
    let (a, b) = (signed(1, 0, &digest), signed(3, 1, &digest));
    let m = encode_custom_signature(&policy, &MESSAGE_HASH, &[a, b]).expect("encodes");
    let p = policy.encode();
    assert_eq!(m.len(), 4 + p.len() + 38 + 2 + 2 * 67);
    assert_eq!(&m[..4], &RELAY_SELECTOR);
    assert_eq!(&m[4..4 + p.len()], &p[..]);
    let rest = &m[4 + p.len()..];
    assert_eq!(&rest[..38], &custom_message(&MESSAGE_HASH));
    assert_eq!(&rest[38..40], &[0, 2], "signature count");
    for (k, s) in [a, b].iter().enumerate() {
        let e = &rest[40 + 67 * k..40 + 67 * (k + 1)];
        assert_eq!(e[0], 27 + s.signature[64], "v as 27/28");
        assert_eq!(&e[1..65], &s.signature[..64], "r ‖ s");
        assert_eq!(&e[65..], &s.index.to_be_bytes(), "index");
    }
    assert_eq!(B256::from(digest), B256::from(custom_signing_digest(&MESSAGE_HASH, CHAIN_BOUND_14)));
}

#[test]
fn v_27_28_and_0_1_encode_alike() {
    let policy = example_policy(1000, 3_360_000);
    let digest = custom_signing_digest(&MESSAGE_HASH, CHAIN_BOUND_14);
    let go_style = signed(1, 0, &digest);
    let mut eth_style = go_style;
    eth_style.signature[64] += 27;
    assert_eq!(
        encode_custom_signature(&policy, &MESSAGE_HASH, &[go_style]),
        encode_custom_signature(&policy, &MESSAGE_HASH, &[eth_style])
    );
}

#[test]
fn check_signatures_counts_weight_strictly_above_threshold() {
    let policy = example_policy(1000, 3_360_000);
    let digest = custom_signing_digest(&MESSAGE_HASH, CHAIN_BOUND_14);
    assert_eq!(check_signatures(&policy, &digest, &[signed(1, 0, &digest)]), Ok(600));
    assert_eq!(check_signatures(&policy, &digest, &[signed(1, 0, &digest), signed(3, 1, &digest)]), Ok(1000));
    assert_eq!(
        check_signatures(&policy, &digest, &[signed(3, 1, &digest)]),
        Err(RelayMessageError::ThresholdNotReached { weight: 400, threshold: 500 })
    );
    assert_eq!(
        check_signatures(&policy, &digest, &[]),
        Err(RelayMessageError::ThresholdNotReached { weight: 0, threshold: 500 })
    );
}

#[test]
fn refusals_are_typed() {
    let policy = example_policy(1000, 3_360_000);
    let digest = custom_signing_digest(&MESSAGE_HASH, CHAIN_BOUND_14);
    let (a, b) = (signed(1, 0, &digest), signed(3, 1, &digest));
    let encode = |sigs: &[IndexedSignature]| encode_custom_signature(&policy, &MESSAGE_HASH, sigs);

    assert_eq!(encode(&[b, a]), Err(RelayMessageError::IndexOutOfOrder { index: 0, previous: 1 }));
    assert_eq!(encode(&[a, a]), Err(RelayMessageError::IndexOutOfOrder { index: 0, previous: 0 }));
    let far = IndexedSignature { index: 2, ..b };
    assert_eq!(encode(&[a, far]), Err(RelayMessageError::IndexOutOfRange { index: 2, voters: 2 }));
    let mut bad_v = a;
    bad_v.signature[64] = 2;
    assert_eq!(encode(&[bad_v]), Err(RelayMessageError::SignatureMalformed { index: 0 }));
    let mut zero_r = a;
    zero_r.signature[..32].fill(0);
    assert_eq!(encode(&[zero_r]), Err(RelayMessageError::SignatureMalformed { index: 0 }));
    // the high-S twin: s' = n − s, parity flipped
    let n = U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).expect("n");
    let mut high = a;
    let s = U256::from_be_slice(&a.signature[32..64]);
    high.signature[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    high.signature[64] ^= 1;
    assert_eq!(encode(&[high]), Err(RelayMessageError::SignatureHighS { index: 0 }));
    // provider 2's signature claimed for provider 1's index: well formed, refused by the check
    let swapped = IndexedSignature { index: 0, signature: b.signature };
    assert!(encode(&[swapped]).is_ok(), "the encoder does not recover");
    assert_eq!(
        check_signatures(&policy, &digest, &[swapped]),
        Err(RelayMessageError::WrongSigner { index: 0, signer: key(3).address(), voter: key(1).address() })
    );
    // every error explains itself
    for e in [
        RelayMessageError::IndexOutOfOrder { index: 0, previous: 1 },
        RelayMessageError::WrongSigner { index: 0, signer: [1; 20], voter: [2; 20] },
        RelayMessageError::ThresholdNotReached { weight: 400, threshold: 500 },
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn policy_update_is_signed_over_the_new_policys_hash() {
    let current = example_policy(1000, 3_360_000);
    let next = example_policy(1001, 3_363_360);
    let digest = policy_update_digest(&next, CHAIN_BOUND_14);
    assert_eq!(digest, eip191_hash_message(next.hash(CHAIN_BOUND_14)).0);
    let m = encode_policy_update(&current, &next, &[signed(1, 0, &digest)]).expect("encodes");
    let (p, n) = (current.encode(), next.encode());
    assert_eq!(m.len(), 4 + p.len() + 1 + n.len() + 2 + 67);
    assert_eq!(m[4 + p.len()], 0, "protocol id 0");
    assert_eq!(&m[5 + p.len()..5 + p.len() + n.len()], &n[..]);
    assert_eq!(check_signatures(&current, &digest, &[signed(1, 0, &digest)]), Ok(600));
}
