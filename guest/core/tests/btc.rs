//! Bitcoin formats (`fcc_core::btc`) against BIP143's own examples (bitcoin/bips
//! `bip-0143.mediawiki`): the P2SH-P2WSH 6-of-6 multisig's witness script, P2WSH program and
//! `SIGHASH_ALL` hash with its signature (RFC 6979, low S, as Bitcoin Core signs), and the native
//! P2WPKH example's hash and fully serialized signed transaction.

use fcc_core::btc::{
    Input, MAX_MULTISIG_KEYS, Output, Transaction, multisig_script, multisig_witness, p2wsh_script_pubkey,
    sorted_multisig_script,
};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn h32(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}

fn key(s: &str) -> [u8; 33] {
    unhex(s).try_into().unwrap()
}

/// DER ‖ SIGHASH_ALL of `digest` by `secret`, as Bitcoin Core signs (RFC 6979, low S).
fn sign(secret: &str, digest: &[u8; 32]) -> Vec<u8> {
    let sk = k256::ecdsa::SigningKey::from_slice(&unhex(secret)).unwrap();
    let (sig, _) = sk.sign_prehash_recoverable(digest);
    let sig: k256::ecdsa::Signature = sig.normalize_s();
    [sig.to_der().as_bytes(), &[1u8]].concat()
}

const SIX_KEYS: [&str; 6] = [
    "0307b8ae49ac90a048e9b53357a2354b3334e9c8bee813ecb98e99a7e07e8c3ba3",
    "03b28f0c28bfab54554ae8c658ac5c3e0ce6e79ad336331f78c428dd43eea8449b",
    "034b8113d703413d57761b8b9781957b8c0ac1dfe69f492580ca4195f50376ba4a",
    "033400f6afecb833092a9a21cfdf1ed1376e58c5d1f47de74683123987e967a8f4",
    "03a6d48b1131e94ba04d9737d61acdaa1322008af9602b3b14862c07a1789aac16",
    "02d8b661b0b3302ee2f162b09e07a55ad5dfbe673a9f01d9f0c19617681024306b",
];

#[test]
fn bip143_p2sh_p2wsh_multisig_sighash_all() {
    let keys: Vec<[u8; 33]> = SIX_KEYS.iter().map(|k| key(k)).collect();
    let ws = multisig_script(6, &keys).unwrap();
    assert_eq!(
        hex::encode(&ws),
        "56210307b8ae49ac90a048e9b53357a2354b3334e9c8bee813ecb98e99a7e07e8c3ba32103b28f0c28bfab54554ae8c658ac5c3e0ce6e79ad336331f78c428dd43eea8449b21034b8113d703413d57761b8b9781957b8c0ac1dfe69f492580ca4195f50376ba4a21033400f6afecb833092a9a21cfdf1ed1376e58c5d1f47de74683123987e967a8f42103a6d48b1131e94ba04d9737d61acdaa1322008af9602b3b14862c07a1789aac162102d8b661b0b3302ee2f162b09e07a55ad5dfbe673a9f01d9f0c19617681024306b56ae"
    );
    assert_eq!(
        hex::encode(p2wsh_script_pubkey(&ws)),
        "0020a16b5755f7f6f96dbd65f5f0d6ab9418b89af4b1f14a1bb8a09062c35f0dcb54"
    );
    let tx = Transaction {
        version: 1,
        inputs: vec![Input {
            txid: h32("36641869ca081e70f394c6948e8af409e18b619df2ed74aa106c1ca29787b96e"),
            vout: 1,
            script_sig: vec![],
            sequence: 0xffff_ffff,
            amount: 987_654_321,
        }],
        outputs: vec![
            Output { value: 900_000_000, script_pubkey: unhex("76a914389ffce9cd9ae88dcc0631e88a821ffdbe9bfe2688ac") },
            Output { value: 87_000_000, script_pubkey: unhex("76a9147480a33f950689af511e6e84c138dbbd3c3ee41588ac") },
        ],
        lock_time: 0,
    };
    let digest = tx.sighash_all(0, &ws).unwrap();
    assert_eq!(hex::encode(digest), "185c0be5263dce5b4bb50a047973c1b6272bfbd0103a89444597dc40b248ee7c");
    assert_eq!(
        hex::encode(sign("730fff80e1413068a05b57d6a58261f07551163369787f349438ea38ca80fac6", &digest)),
        "304402206ac44d672dac41f9b00e28f4df20c52eeb087207e8d758d76d92c6fab3b73e2b0220367750dbbe19290069cba53d096f44530e4f98acaa594810388cf7409a1870ce01"
    );
    // The amount is signed: another amount, another hash.
    let mut other = tx.clone();
    other.inputs[0].amount += 1;
    assert_ne!(other.sighash_all(0, &ws).unwrap(), digest);
}

#[test]
fn bip143_native_p2wpkh_hash_and_signed_transaction() {
    let tx = Transaction {
        version: 1,
        inputs: vec![
            Input {
                txid: h32("fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f"),
                vout: 0,
                script_sig: unhex(
                    "4830450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be022040529b194ba3f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01",
                ),
                sequence: 0xffff_ffee,
                amount: 625_000_000,
            },
            Input {
                txid: h32("ef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a"),
                vout: 1,
                script_sig: vec![],
                sequence: 0xffff_ffff,
                amount: 600_000_000,
            },
        ],
        outputs: vec![
            Output { value: 112_340_000, script_pubkey: unhex("76a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac") },
            Output { value: 223_450_000, script_pubkey: unhex("76a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac") },
        ],
        lock_time: 17,
    };
    let digest = tx.sighash_all(1, &unhex("76a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac")).unwrap();
    assert_eq!(hex::encode(digest), "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670");
    let sig = sign("619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9", &digest);
    assert_eq!(
        hex::encode(&sig[..sig.len() - 1]),
        "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee"
    );
    let witnesses =
        vec![vec![], vec![sig, unhex("025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee6357")]];
    assert_eq!(
        hex::encode(tx.serialize_with_witness(&witnesses).unwrap()),
        "01000000000102fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f00000000494830450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be022040529b194ba3f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01eeffffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac000247304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee0121025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee635711000000"
    );
}

#[test]
fn multisig_scripts_at_their_bounds() {
    let keys: Vec<[u8; 33]> = (1..=17u8)
        .map(|i| {
            let mut k = [i; 33];
            k[0] = 2 + (i & 1);
            k
        })
        .collect();
    assert!(multisig_script(16, &keys[..MAX_MULTISIG_KEYS]).is_ok());
    assert!(multisig_script(1, &keys).is_err(), "17 keys");
    assert!(multisig_script(0, &keys[..3]).is_err(), "threshold 0");
    assert!(multisig_script(4, &keys[..3]).is_err(), "threshold above n");
    assert!(multisig_script(1, &[]).is_err(), "no key");
    assert!(multisig_script(1, &[[4; 33]]).is_err(), "not a compressed key");
    // BIP67: the same script whatever order the keys come in; a key twice is refused.
    let mut reversed = keys[..3].to_vec();
    reversed.reverse();
    assert_eq!(sorted_multisig_script(2, &keys[..3]).unwrap(), sorted_multisig_script(2, &reversed).unwrap());
    assert!(sorted_multisig_script(2, &[keys[0], keys[0]]).is_err());
    let ws = sorted_multisig_script(2, &keys[..3]).unwrap();
    let w = multisig_witness(&[vec![1], vec![2]], &ws);
    assert_eq!(w, vec![vec![], vec![1], vec![2], ws]);
}

/// Bitcoin Core's own script interpreter (libbitcoinconsensus 26, all pre-taproot rules) accepts
/// both inputs of a 2-input spend from a BIP67 2-of-3 P2WSH wallet signed by two of its keys with
/// the real amounts — and refuses an input signed over another amount, the signatures out of key
/// order, or one signature.
#[test]
fn libbitcoinconsensus_accepts_a_2_of_3_p2wsh_spend() {
    let secrets = ["11".repeat(32), "22".repeat(32), "33".repeat(32)];
    let public = |s: &str| -> [u8; 33] {
        let sk = k256::ecdsa::SigningKey::from_slice(&unhex(s)).unwrap();
        sk.verifying_key().to_sec1_point(true).as_bytes().try_into().unwrap()
    };
    let keys: Vec<[u8; 33]> = secrets.iter().map(|s| public(s)).collect();
    let ws = sorted_multisig_script(2, &keys).unwrap();
    let spk = p2wsh_script_pubkey(&ws);
    // The signers in the script's key order (BIP67).
    let mut signers: Vec<(&str, [u8; 33])> = secrets.iter().map(|s| s.as_str()).zip(keys.iter().copied()).collect();
    signers.sort_by_key(|(_, k)| *k);
    let (first, third) = (signers[0].0, signers[2].0);
    let amounts = [150_000u64, 70_000];
    let tx = Transaction {
        version: 2,
        inputs: amounts
            .iter()
            .enumerate()
            .map(|(i, &amount)| Input {
                txid: [0xa0 + i as u8; 32],
                vout: i as u32,
                script_sig: vec![],
                sequence: 0xffff_fffd,
                amount,
            })
            .collect(),
        outputs: vec![
            Output { value: 200_000, script_pubkey: unhex("0014751e76e8199196d454941c45d1b3a323f1433bd6") },
            Output { value: 19_000, script_pubkey: spk.clone() },
        ],
        lock_time: 0,
    };
    let witness = |tx: &Transaction, order: &[&str]| -> Vec<Vec<Vec<u8>>> {
        (0..tx.inputs.len())
            .map(|i| {
                let digest = tx.sighash_all(i, &ws).unwrap();
                multisig_witness(&order.iter().map(|s| sign(s, &digest)).collect::<Vec<_>>(), &ws)
            })
            .collect()
    };
    let verify = |bytes: &[u8], i: usize| {
        bitcoinconsensus::verify_with_flags(&spk, amounts[i], bytes, None, i, bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT)
    };
    let good = tx.serialize_with_witness(&witness(&tx, &[first, third])).unwrap();
    for i in 0..2 {
        verify(&good, i).unwrap_or_else(|e| panic!("input {i}: {e:?}"));
    }
    let mut other_amount = tx.clone();
    other_amount.inputs[1].amount += 1;
    let signed_other = witness(&other_amount, &[first, third]);
    let bad = tx.serialize_with_witness(&signed_other).unwrap();
    // BIP143 commits each signature to its own input's amount only (BIP341 would commit to all).
    assert!(verify(&bad, 0).is_ok(), "input 0 signed over its own, unchanged amount");
    assert!(verify(&bad, 1).is_err(), "signed over another amount");
    let swapped = tx.serialize_with_witness(&witness(&tx, &[third, first])).unwrap();
    assert!(verify(&swapped, 0).is_err(), "signatures out of key order");
    let one = tx.serialize_with_witness(&witness(&tx, &[first])).unwrap();
    assert!(verify(&one, 0).is_err(), "one signature of two");
}
