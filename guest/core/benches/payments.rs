//! Payments (issue 20's numbers): what one wallet key's `F_XRP/PAY` and a 2-input `F_BTC/PAY`
//! cost the guest per fee tier — the message read strictly, every tier's transaction built, its
//! digest (XRPL multisigning; BIP143 per input), RFC 6979 low-S DER signatures, the JSON answer —
//! against the floor libsecp256k1 pays for the same signatures over the same digests, run side
//! by side in one process, interleaved; medians, ratios and answer sizes printed. The engine's
//! admission of the instruction (its votes) is `--bench verify`'s.
//! `cargo bench -p fcc-core --bench payments`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fcc_core::btc::payment::{BtcPaymentMessage, InputSignature, Utxo};
use fcc_core::hash::keccak256;
use fcc_core::wallet::{BTC_SIGN_ALGO, ConfigConstants, KEY_TYPE_BTC, KEY_TYPE_XRP, KeyIdPair, Wallet, XRP_SIGN_ALGO};
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

fn word(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

/// Rising fees, the last tier (of several) a nullify.
fn schedule(tiers: usize) -> Vec<u8> {
    (0..tiers)
        .flat_map(|i| {
            let bips = if i + 1 == tiers && tiers > 1 { -10_000i16 } else { 1_000 + 100 * i as i16 };
            [bips.to_be_bytes(), (10 * i as u16).to_be_bytes()].concat()
        })
        .collect()
}

fn message(tiers: usize) -> Vec<u8> {
    PaymentMessage {
        wallet_id: [0x22; 32],
        key_pairs: vec![([0x11; 20], 1), ([0x12; 20], 1), ([0x13; 20], 1)],
        source_id: [0; 32],
        sender: address::encode(&[0x5a; 20]),
        recipient: "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe".into(),
        token_id: vec![],
        amount: word(1_000_000),
        max_fee: word(1_000),
        fee_schedule: schedule(tiers),
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
    btc(rounds);
}

/// A 2-input payment of a 2-of-3 wallet whose first key is `key`.
fn btc_message(key: &Wallet, tiers: usize) -> Vec<u8> {
    let others = [keccak256(b"b"), keccak256(b"c")].map(|s| {
        let sk = k256::SecretKey::from_slice(&s).unwrap();
        let id = KeyIdPair { wallet_id: [0x22; 32], key_id: 2 };
        Wallet::new(id, KEY_TYPE_BTC, BTC_SIGN_ALGO, sk, false, ConfigConstants::default()).compressed_public()
    });
    BtcPaymentMessage {
        wallet_id: [0x22; 32],
        key_pairs: vec![([0x11; 20], 1)],
        source_id: [0; 32],
        threshold: 2,
        public_keys: vec![key.compressed_public(), others[0], others[1]],
        inputs: vec![
            Utxo { txid: [0xa1; 32], vout: 0, value: 600_000 },
            Utxo { txid: [0xb2; 32], vout: 3, value: 500_000 },
        ],
        recipient_script: [&[0x00, 0x14][..], &[0x77; 20]].concat(),
        amount: word(700_000),
        max_fee: word(20_000),
        fee_schedule: schedule(tiers),
        payment_reference: keccak256(b"btc"),
        nonce: 5,
        payment_id: 1,
    }
    .encode()
}

fn btc(rounds: usize) {
    let secret = k256::SecretKey::from_slice(&keccak256(b"btc key")).unwrap();
    let id = KeyIdPair { wallet_id: [0x22; 32], key_id: 1 };
    let key = Wallet::new(id, KEY_TYPE_BTC, BTC_SIGN_ALGO, secret, false, ConfigConstants::default());
    let secp_secret = secp256k1::SecretKey::from_secret_bytes(keccak256(b"btc key")).unwrap();
    println!("Bitcoin 2-input payment of a 2-of-3 wallet signed by one key (median of {rounds}, host):");
    for tiers in [1usize, 3, 50] {
        let encoded = btc_message(&key, tiers);
        let m = BtcPaymentMessage::decode(&encoded).unwrap();
        let script = m.witness_script().unwrap();
        let digests: Vec<[u8; 32]> = m
            .transactions()
            .unwrap()
            .iter()
            .flat_map(|(_, tx)| (0..2).map(|i| tx.sighash_all(i, &script).unwrap()).collect::<Vec<_>>())
            .collect();
        let floor = || {
            for d in &digests {
                let sig = secp256k1::ecdsa::sign(secp256k1::Message::from_digest(*d), &secp_secret);
                black_box(sig.serialize_der());
            }
        };
        let mut size = 0;
        let mut ours = || {
            let m = BtcPaymentMessage::decode(black_box(&encoded)).unwrap();
            let script = m.witness_script().unwrap();
            let txs: Vec<_> = m.transactions().unwrap().into_iter().map(|(_, t)| t).collect();
            let sigs: Vec<Vec<InputSignature>> = txs
                .iter()
                .map(|tx| {
                    (0..tx.inputs.len())
                        .map(|index| InputSignature {
                            key_id: 1,
                            index,
                            signature: key.btc_sign_input(tx, index, &script).unwrap(),
                            public_key: key.compressed_public(),
                        })
                        .collect()
                })
                .collect();
            size = black_box(fcc_core::btc::payment::signed_json(&txs, &sigs).unwrap()).len();
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
