//! The proxy's signing key: vote receipts, the results and TEE statements it serves
//! (`fcc_flare_json::receipt`: tee-proxy's Payload digests). Results and statements are signed
//! deterministically (RFC 6979, k256): an answer served again is byte-identical. A receipt is
//! signed per vote, so on the proxy's hot path, and differently.
//!
//! Most of an ECDSA signature does not depend on the message: a secret random nonce `k`,
//! `R = k·G` and `k⁻¹`. The key precomputes them [`NONCE_BATCH`] at a time — each `k·G` with
//! k256's precomputed generator table, every `R` to affine with one field inversion and every
//! `k⁻¹` with one scalar inversion (Montgomery's trick), all constant-time — and a signature is
//! then `s = k⁻¹·(z + r·d)`. `cargo bench -p fcc-proxy --bench load` prints it against k256's
//! RFC 6979 signing and libsecp256k1's (through the secp256k1 crate, which also re-randomises
//! its context after every signature). Nonces come from the thread's CSPRNG (rand's, seeded by
//! the operating system) and each signs once: every clone of the key draws from one pool, and a
//! nonce leaves the pool before it is used. A caller that finds the pool empty refills it; the
//! pool has room for [`POOL_BATCHES`] batches from the start, so refills made at the same time on
//! several threads are all kept (discarding the losers' had doubled the receipts' cost under
//! load) without the pool ever reallocating.

use std::sync::{Arc, Mutex};

use alloy_primitives::Bytes;
use fcc_core::hash::H256;
use fcc_core::policy::Address;
use fcc_flare_json::{Receipt, SignedReceipt};
use k256::ecdsa::SigningKey;
use k256::elliptic_curve::BatchNormalize;
use k256::elliptic_curve::ff::BatchInverter;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::subtle::ConditionallySelectable;
use k256::elliptic_curve::zeroize::{Zeroize, Zeroizing};
use k256::{FieldBytes, NonZeroScalar, ProjectivePoint, Scalar};

/// Nonces precomputed together: the two inversions are shared by this many signatures.
pub const NONCE_BATCH: usize = 64;

/// The pool holds this many batches (its capacity, allocated once): refills that ran at the same
/// time on up to this many threads all fit; one past it is dropped.
pub const POOL_BATCHES: usize = 8;

/// One signature's message-independent part. `k⁻¹` is as secret as the key (with a signature it
/// gives the key), so it is zeroised wherever it was: on drop, in the pool's slot when taken, in
/// the buffers it was computed in.
#[derive(Default)]
struct Nonce {
    /// `k⁻¹` (secret).
    k_inv: Scalar,
    /// `r`: the x coordinate of `R = k·G` (below the group order: see [`precompute`]).
    r: Scalar,
    /// The parity of `R`'s y coordinate.
    y_odd: bool,
}

impl Drop for Nonce {
    fn drop(&mut self) {
        self.k_inv.zeroize();
    }
}

/// A uniformly random non-zero scalar from the thread's CSPRNG.
fn random_scalar() -> Scalar {
    loop {
        let mut bytes = FieldBytes::default();
        rand::fill(&mut bytes[..]);
        let k = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr(bytes));
        bytes.zeroize();
        if let Some(k) = k {
            return *k.as_ref();
        }
    }
}

/// `n` fresh nonces, constant-time throughout. An `R` whose x is not below the group order (the
/// recovery id would need its second bit; probability about 2⁻¹²⁸) is dropped.
fn precompute(n: usize) -> Vec<Nonce> {
    let mut ks: Zeroizing<Vec<Scalar>> = Zeroizing::new((0..n).map(|_| random_scalar()).collect());
    let points: Vec<ProjectivePoint> = ks.iter().map(ProjectivePoint::mul_by_generator).collect();
    let affine = ProjectivePoint::batch_normalize(points.as_slice());
    // In place, with a scratch of our own (zeroised) rather than one the library allocates.
    let mut scratch: Zeroizing<Vec<Scalar>> = Zeroizing::new(vec![Scalar::ZERO; n]);
    BatchInverter::invert_with_external_scratch(&mut ks, &mut scratch);
    affine
        .iter()
        .zip(ks.iter())
        .filter_map(|(p, k_inv)| {
            let x = p.x();
            let r = <Scalar as Reduce<FieldBytes>>::reduce(&x);
            let nonce = Nonce { k_inv: *k_inv, r, y_odd: bool::from(p.y_is_odd()) };
            (r.to_bytes() == x).then_some(nonce)
        })
        .collect()
}

/// The proxy's secp256k1 key (zeroised on drop) and its pool of precomputed nonces, shared by
/// every clone. `Debug` shows the address only.
#[derive(Clone)]
pub struct ProxyKey {
    key: SigningKey,
    pool: Arc<Pool>,
}

/// Precomputed nonces; `nonces`' capacity is fixed at `NONCE_BATCH · POOL_BATCHES`.
struct Pool {
    nonces: Mutex<Vec<Nonce>>,
    /// Nonces computed, and those dropped unused because the pool was full (tests and benches).
    computed: std::sync::atomic::AtomicU64,
    dropped: std::sync::atomic::AtomicU64,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            nonces: Mutex::new(Vec::with_capacity(NONCE_BATCH * POOL_BATCHES)),
            computed: Default::default(),
            dropped: Default::default(),
        }
    }
}

impl std::fmt::Debug for ProxyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyKey(0x{})", hex::encode(self.address()))
    }
}

impl ProxyKey {
    /// From 32 secret bytes (must be a valid scalar).
    pub fn from_bytes(bytes: &[u8; 32]) -> anyhow::Result<Self> {
        let key = SigningKey::from_bytes(&(*bytes).into()).map_err(|_| anyhow::anyhow!("not a valid secp256k1 key"))?;
        Ok(Self { key, pool: Arc::default() })
    }

    /// A fresh random key.
    pub fn random() -> Self {
        loop {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            let key = Self::from_bytes(&bytes);
            bytes.zeroize();
            if let Ok(k) = key {
                return k;
            }
        }
    }

    /// The Ethereum address.
    pub fn address(&self) -> Address {
        fcc_core::ecdsa::address_of(self.key.verifying_key().as_affine())
    }

    /// A nonce no other signature has used or will use: taken out of the pool, which is
    /// refilled (outside the lock) when empty.
    fn nonce(&self) -> Nonce {
        use std::sync::atomic::Ordering::Relaxed;
        loop {
            {
                let mut pool = self.pool.nonces.lock().expect("nonce pool");
                if let Some(slot) = pool.last_mut() {
                    // Taken, not moved out: the slot is left zeroed before it is dropped.
                    let n = std::mem::take(slot);
                    pool.pop();
                    return n;
                }
            }
            let mut fresh = precompute(NONCE_BATCH);
            self.pool.computed.fetch_add(fresh.len() as u64, Relaxed);
            let mut pool = self.pool.nonces.lock().expect("nonce pool");
            // Only within the capacity the pool was made with, so it never reallocates (which
            // would leave copies of live nonces in the freed buffer), taken one by one so
            // `fresh`'s buffer is left zeroed; other threads' refills made at the same time are
            // kept beside this one. Past the capacity `fresh` is dropped (each nonce zeroised).
            if pool.len() + fresh.len() <= pool.capacity() {
                pool.extend(fresh.iter_mut().map(std::mem::take));
            } else {
                self.pool.dropped.fetch_add(fresh.len() as u64, Relaxed);
            }
        }
    }

    /// Nonces precomputed so far and those of them dropped unused (a full pool).
    pub(crate) fn nonce_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.pool.computed.load(Relaxed), self.pool.dropped.load(Relaxed))
    }

    /// Signs a 32-byte digest: `r ‖ s ‖ v`, low S, v ∈ {0, 1}, deterministic (RFC 6979).
    pub fn sign_digest(&self, digest: &H256) -> [u8; 65] {
        let (sig, id) = self.key.sign_prehash_recoverable(digest);
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = id.to_byte() & 1;
        out
    }

    /// Signs a 32-byte digest like [`Self::sign_digest`] but with a precomputed random nonce
    /// (receipts: see the module's documentation).
    pub fn sign_digest_precomputed(&self, digest: &H256) -> [u8; 65] {
        let z = <Scalar as Reduce<FieldBytes>>::reduce(&(*digest).into());
        let d: &Scalar = self.key.as_nonzero_scalar().as_ref();
        loop {
            let nonce = self.nonce();
            let s = nonce.k_inv * (z + nonce.r * d);
            if bool::from(s.is_zero()) {
                // Probability about 2⁻²⁵⁶; the standard answer is another nonce.
                continue;
            }
            // Low S: −s signs with −k, whose R has the other y.
            let high = s.is_high();
            let s = Scalar::conditional_select(&s, &-s, high);
            let mut out = [0u8; 65];
            out[..32].copy_from_slice(&nonce.r.to_bytes());
            out[32..64].copy_from_slice(&s.to_bytes());
            out[64] = u8::from(nonce.y_odd ^ bool::from(high));
            return out;
        }
    }

    /// Signs `receipt` for `chain_id` (`Payload{PROXY_VOTE_RECEIPT}`).
    pub fn sign_receipt(&self, receipt: Receipt, chain_id: u64) -> SignedReceipt {
        let signature = self.sign_digest_precomputed(&receipt.signing_digest(chain_id));
        SignedReceipt { receipt, signature: Bytes::from(signature.to_vec()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;
    use fcc_core::hash::keccak256;

    /// libsecp256k1 (through fcc-flare-json, which also refuses high S as the guest does) is the
    /// judge: every signature recovers to the key with its own v, for digests at the edges of
    /// the scalar range too (0, n − 1, n, 2²⁵⁶ − 1 reduce as ECDSA says), across several
    /// refills of the pool.
    #[test]
    fn signatures_verify_under_libsecp256k1_with_low_s_and_the_right_v() {
        let key = ProxyKey::random();
        let order: [u8; 32] = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
            .unwrap()
            .try_into()
            .unwrap();
        let mut n_minus_1 = order;
        n_minus_1[31] -= 1;
        let mut digests = vec![[0u8; 32], n_minus_1, order, [0xff; 32]];
        digests.extend((0..3 * NONCE_BATCH as u32).map(|i| keccak256(&i.to_be_bytes())));
        let (mut odd, mut even) = (0, 0);
        for d in &digests {
            let sig = key.sign_digest_precomputed(d);
            let (address, _) = fcc_flare_json::recover_key(&sig, d).expect("a valid, low-S signature");
            assert_eq!(address, key.address(), "digest {}", hex::encode(d));
            if sig[64] == 1 { odd += 1 } else { even += 1 }
        }
        assert!(odd > 0 && even > 0, "both parities of R occur ({odd}, {even})");
    }

    /// No nonce signs twice: a key and its clone draw from one pool, so over several refills every
    /// `r` is new, even for one digest, and the pool never outgrows the capacity it was made with.
    #[test]
    fn a_key_and_its_clones_never_reuse_a_nonce() {
        let key = ProxyKey::random();
        let clone = key.clone();
        let digest = keccak256(b"the same message");
        let mut rs = std::collections::HashSet::new();
        for i in 0..3 * NONCE_BATCH {
            let k = if i % 2 == 0 { &key } else { &clone };
            let sig = k.sign_digest_precomputed(&digest);
            assert!(rs.insert(sig[..32].to_vec()), "r repeated at signature {i}");
        }
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let k = key.clone();
                std::thread::spawn(move || {
                    (0..NONCE_BATCH).map(|_| k.sign_digest_precomputed(&digest)[..32].to_vec()).collect::<Vec<_>>()
                })
            })
            .collect();
        for t in threads {
            for r in t.join().unwrap() {
                assert!(rs.insert(r), "r repeated across threads");
            }
        }
        // The pool never grew (a reallocation would leave copies of live nonces behind).
        assert_eq!(key.pool.nonces.lock().unwrap().capacity(), NONCE_BATCH * POOL_BATCHES);
    }

    /// Refills that run at the same time are kept, not thrown away: threads signing together
    /// leave at most what is still in the pool unused, and nothing is dropped.
    #[test]
    fn concurrent_refills_are_all_used() {
        let key = ProxyKey::random();
        let digest = keccak256(b"many at once");
        let (threads, each) = (4, 3 * NONCE_BATCH + 5);
        let barrier = Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (k, barrier) = (key.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..each).map(|_| k.sign_digest_precomputed(&digest)[..32].to_vec()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut rs = std::collections::HashSet::new();
        for h in handles {
            for r in h.join().unwrap() {
                assert!(rs.insert(r), "r repeated across threads");
            }
        }
        let (computed, dropped) = key.nonce_counts();
        let left = key.pool.nonces.lock().unwrap().len() as u64;
        assert_eq!(dropped, 0);
        // Every nonce computed was used or is still in the pool (an `R` with x ≥ n would be
        // neither: probability about 2⁻¹²⁸ each).
        assert_eq!(computed, (threads * each) as u64 + left);
        assert_eq!(key.pool.nonces.lock().unwrap().capacity(), NONCE_BATCH * POOL_BATCHES);
    }

    #[test]
    fn a_signed_receipt_recovers_to_the_proxy_address_and_debug_hides_the_key() {
        let key = ProxyKey::from_bytes(&[7u8; 32]).unwrap();
        let r = Receipt {
            instruction_hash: B256::repeat_byte(1),
            sequence: 3,
            signature: Bytes::from(vec![0x22; 65]),
            additional_variable_message_hash: B256::from(keccak256(b"")),
            timestamp: 1_760_000_000,
            vote_hash: B256::repeat_byte(2),
        };
        let signed = key.sign_receipt(r, 14);
        assert_eq!(signed.signer(14).unwrap(), key.address());
        assert!(!format!("{key:?}").contains(&hex::encode([7u8; 32])));
    }
}
