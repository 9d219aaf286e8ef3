//! XRPL payments (issue 20's numbers): what one wallet key's `F_XRP/PAY` costs the guest per
//! fee tier — the message read strictly, every tier's transaction built, its multisigning
//! digest, an RFC 6979 low-S DER signature, the Go-shaped JSON answer — against the floor
//! libsecp256k1 pays for the same signatures (SHA-512-Half of the same preimages, then
//! `sign_ecdsa`), run side by side in one process, interleaved; medians, ratios and answer sizes
//! printed. The engine's admission of the instruction (its votes) is `--bench verify`'s.
//! `cargo bench -p fcc-core --bench payments`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fcc_core::hash::keccak256;
use fcc_core::wallet::{ConfigConstants, KEY_TYPE_XRP, KeyIdPair, Wallet, XRP_SIGN_ALGO};
use fcc_core::xrpl::address;
use fcc_core::xrpl::payment::{PaymentMessage, signed_json};
use fcc_core::xrpl::tx::sha512_half;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn message(tiers: usize) -> Vec<u8> {
    let word = |v: u64| {
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&v.to_be_bytes());
        w
    };
    PaymentMessage {
        wallet_id: [0x22; 32],
        key_pairs: vec![([0x11; 20], 1), ([0x12; 20], 1), ([0x13; 20], 1)],
        source_id: [0; 32],
        sender: address::encode(&[0x5a; 20]),
        recipient: "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe".into(),
        token_id: vec![],
        amount: word(1_000_000),
        max_fee: word(1_000),
        // Rising fees, the last tier a nullify.
        fee_schedule: (0..tiers)
            .flat_map(|i| {
                let bips = if i + 1 == tiers && tiers > 1 { -10_000i16 } else { 1_000 + 100 * i as i16 };
                [bips.to_be_bytes(), (10 * i as u16).to_be_bytes()].concat()
            })
            .collect(),
        payment_reference: keccak256(b"fcc"),
        nonce: 77,
        payment_id: 1,
    }
    .encode()
}

fn main() {
    let secret = k256::SecretKey::from_slice(&keccak256(b"xrp key")).unwrap();
    let id = KeyIdPair { wallet_id: [0x22; 32], key_id: 1 };
    let key = Wallet::new(id, KEY_TYPE_XRP, XRP_SIGN_ALGO, secret, false, ConfigConstants::default());
    let secp_secret = secp256k1::SecretKey::from_secret_bytes(keccak256(b"xrp key")).unwrap();
    let signer = address::account_id(&key.compressed_public());

    let rounds = 31;
    println!("XRPL payment signed by one wallet key (median of {rounds}, host):");
    for tiers in [1usize, 3, 50] {
        let encoded = message(tiers);
        let txs: Vec<_> =
            PaymentMessage::decode(&encoded).unwrap().transactions().unwrap().into_iter().map(|(_, t)| t).collect();
        let blobs: Vec<Vec<u8>> = txs.iter().map(|t| t.signing_blob().unwrap()).collect();
        let floor = || {
            for blob in &blobs {
                let digest = sha512_half(&[&b"SMT\0"[..], blob, &signer].concat());
                let sig = secp256k1::ecdsa::sign(secp256k1::Message::from_digest(digest), &secp_secret);
                black_box(sig.serialize_der());
            }
        };
        let mut size = 0;
        let mut ours = || {
            let m = PaymentMessage::decode(black_box(&encoded)).unwrap();
            let txs: Vec<_> = m.transactions().unwrap().into_iter().map(|(_, t)| t).collect();
            let signers: Vec<Vec<_>> = txs.iter().map(|t| vec![key.xrpl_multisign(t).unwrap()]).collect();
            size = black_box(signed_json(&txs, &signers)).len();
        };
        let (mut f, mut o) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let s = Instant::now();
            floor();
            f.push(s.elapsed());
            let s = Instant::now();
            ours();
            o.push(s.elapsed());
        }
        let (f, o) = (median(f), median(o));
        println!(
            "  {tiers:>2} tier(s): libsecp256k1 floor {:>8.1} us   fcc-core {:>8.1} us ({:>6.1} us per tier)   ratio {:.2}x   answer {size} bytes",
            us(f),
            us(o),
            us(o) / tiers as f64,
            us(f) / us(o),
        );
    }
}
