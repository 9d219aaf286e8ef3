//! Wallet keys (issue 19's numbers): key generation, a backup for 100 providers and 3 admins
//! (Flare's example), and a restore from all their messages — each against the crypto floor
//! libsecp256k1 pays for the same work, run side by side in one process, interleaved; medians
//! and ratios printed, with the backup's size (ours and Flare's JSON). `cargo bench -p fcc-core
//! --bench wallet`.
//!
//! The floors: generation = one libsecp256k1 key pair; backup = per split one ephemeral key pair,
//! one ECDH (a scalar multiplication of the owner's key) and one ECDSA signature, plus the two
//! backup signatures; restore = per message one ECDH and one signature recovery. What fcc-core
//! pays above that is its Shamir polynomial (1,000 evaluations of degree 665), AES/HMAC, Go's JSON
//! and the checks.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fcc_core::hash::keccak256;
use fcc_core::identity::TeeIdentity;
use fcc_core::wallet::backup::{Metadata, backup_wallet, restore};
use fcc_core::wallet::{ConfigConstants, EVM_SIGN_ALGO, KEY_TYPE_EVM, KeyIdPair, Wallet, ecies};
use rand_core::TryRng;

const PROVIDERS: usize = 100;
const ADMINS: usize = 3;
const CHAIN_ID: u64 = 14;

/// Deterministic entropy (the bench measures time, not randomness).
struct Rng(u64);
impl rand_core::TryRng for Rng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Ok(self.0 ^ (self.0 >> 29))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for c in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Rng {}

fn identity(i: u64) -> TeeIdentity {
    TeeIdentity::from_secret_for_tests(&keccak256(&i.to_be_bytes())).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let providers: Vec<TeeIdentity> = (0..PROVIDERS as u64).map(identity).collect();
    let admins: Vec<TeeIdentity> = (1000..1000 + ADMINS as u64).map(identity).collect();
    let restorer = identity(5000);
    let tee = identity(6000);
    let provider_keys: Vec<[u8; 64]> = providers.iter().map(|p| *p.public_key()).collect();
    let weights: Vec<u16> = (0..PROVIDERS).map(|i| 100 + (i % 13) as u16).collect();
    let config = ConfigConstants {
        admins: admins.iter().map(|a| *a.public_key()).collect(),
        admins_threshold: 2,
        cosigners: vec![],
        cosigners_threshold: 0,
    };
    let id = KeyIdPair { wallet_id: [0x22; 32], key_id: 1 };
    let mut rng = Rng(7);
    let wallet = Wallet::generate(id, KEY_TYPE_EVM, EVM_SIGN_ALGO, config.clone(), &mut rng).unwrap();
    let made = backup_wallet(&wallet, &provider_keys, &weights, 3, &tee, CHAIN_ID, &mut rng).unwrap();
    let metadata: Metadata = made.metadata.clone();
    // The restore's messages: every owner's split re-encrypted to the restoring TEE.
    let owners: Vec<&TeeIdentity> = providers.iter().chain(&admins).collect();
    let splits: Vec<&Vec<u8>> = made.provider.splits.iter().chain(&made.admin.splits).collect();
    let messages: Vec<Vec<u8>> = owners
        .iter()
        .zip(&splits)
        .map(|(o, s)| ecies::encrypt(&mut rng, restorer.public_key(), &o.decrypt(s).unwrap(), &[], &[]).unwrap())
        .collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();

    // libsecp256k1 counterparts.
    let secp_keys: Vec<secp256k1::PublicKey> = provider_keys
        .iter()
        .chain(&config.admins)
        .map(|k| secp256k1::PublicKey::from_slice(&[&[4u8][..], k].concat()).unwrap())
        .collect();
    let secp_secret = secp256k1::SecretKey::from_secret_bytes(keccak256(b"wallet")).unwrap();
    let msg = secp256k1::Message::from_digest(keccak256(b"split"));
    let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(msg, &secp_secret);
    let tweak = secp256k1::Scalar::from(secp256k1::SecretKey::from_secret_bytes(keccak256(b"eph")).unwrap());

    let floor_rng = std::cell::RefCell::new(Rng(17));
    let floor_generate = || {
        let mut b = [0u8; 32];
        floor_rng.borrow_mut().try_fill_bytes(&mut b).unwrap();
        let sk = secp256k1::SecretKey::from_secret_bytes(b).unwrap();
        black_box(secp256k1::PublicKey::from_secret_key(&sk));
    };
    let mut gen_rng = Rng(11);
    let mut ours_generate = || {
        black_box(Wallet::generate(id, KEY_TYPE_EVM, EVM_SIGN_ALGO, config.clone(), &mut gen_rng).unwrap());
    };
    let floor_backup = || {
        for k in &secp_keys {
            black_box(secp256k1::PublicKey::from_secret_key(&secp_secret));
            black_box(k.mul_tweak(&tweak).unwrap());
            black_box(secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(msg, &secp_secret));
        }
        black_box(secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(msg, &secp_secret));
        black_box(secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(msg, &secp_secret));
    };
    let mut backup_rng = Rng(13);
    let mut ours_backup = || {
        black_box(backup_wallet(&wallet, &provider_keys, &weights, 3, &tee, CHAIN_ID, &mut backup_rng).unwrap());
    };
    let floor_restore = || {
        for k in &secp_keys {
            black_box(k.mul_tweak(&tweak).unwrap());
            black_box(sig.recover_ecdsa(msg).unwrap());
        }
    };
    let restorer_secret = k256::NonZeroScalar::from_repr(keccak256(&5000u64.to_be_bytes()).into()).unwrap();
    let ours_restore = || {
        let r = restore(&metadata, &message_refs, &restorer_secret, CHAIN_ID).unwrap();
        assert!(r.errors.is_empty());
        black_box(r);
    };

    let rounds = 15;
    let mut t = [(); 6].map(|_| Vec::new());
    let mut time = |i: usize, f: &mut dyn FnMut()| {
        let s = Instant::now();
        f();
        t[i].push(s.elapsed());
    };
    for _ in 0..rounds {
        time(0, &mut || floor_generate());
        time(1, &mut ours_generate);
        time(2, &mut || floor_backup());
        time(3, &mut ours_backup);
        time(4, &mut || floor_restore());
        time(5, &mut || ours_restore());
    }
    let m: Vec<Duration> = t.into_iter().map(median).collect();
    println!("wallet keys, {PROVIDERS} providers + {ADMINS} admins (median of {rounds}, host):");
    println!(
        "  key generation : libsecp256k1 {:>9.1} us   fcc-core {:>9.1} us   ratio {:.2}x",
        us(m[0]),
        us(m[1]),
        us(m[0]) / us(m[1])
    );
    println!(
        "  backup         : floor        {:>9.1} us   fcc-core {:>9.1} us   ratio {:.2}x",
        us(m[2]),
        us(m[3]),
        us(m[2]) / us(m[3])
    );
    println!(
        "  restore        : floor        {:>9.1} us   fcc-core {:>9.1} us   ratio {:.2}x",
        us(m[4]),
        us(m[5]),
        us(m[4]) / us(m[5])
    );
    println!(
        "  backup size    : {} bytes as the guest answers it, {} bytes as Flare's TEEBackupResponse JSON (Flare reports 420-560 KB)",
        made.to_blob().len(),
        made.response_json().len()
    );
}
