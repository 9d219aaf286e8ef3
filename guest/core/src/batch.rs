//! Batch verification of ECDSA signatures from known keys, with per-key precomputed tables.
//!
//! Why: Flare's node recovers every signature from scratch (one `ecrecover` each). Voter keys are
//! fixed for a whole reward epoch, so the guest caches each key with tables of precomputed
//! multiples and checks all signatures of an instruction at once with one multi-scalar
//! multiplication. The result is exactly what `ecrecover` would decide, signature by signature.
//!
//! For signature i, `ecrecover(z, r_i, s_i, v_i) == Q_i` iff `R_i = u1_i·G + u2_i·Q_i` where `R_i`
//! is the point with x = r_i and y parity from v_i, `u1_i = z/s_i`, `u2_i = r_i/s_i`. With secret
//! random coefficients `a_i` the batch checks
//!
//! `Σ a_i·R_i − (z·Σ a_i/s_i)·G − Σ (a_i·u2_i)·Q_i = O`.
//!
//! If any single equation fails, the sum is the identity with probability at most 2^-128 over
//! the choice of the `a_i` (each `a_i = a_i1 + λ·a_i2` with two secret 64-bit halves, distinct
//! halves giving distinct scalars), so a forged signature cannot ride along with valid ones.
//! The coefficients are a keyed hash (secret key from the TEE's entropy) of the whole batch.
//!
//! Cost: every scalar is split into 64-bit pieces so the whole sum needs only 65 shared
//! doublings. `G` and each `Q_i` have tables of odd multiples of `2^(64j)·P` (j = 0..4), so their
//! 256-bit coefficients cost about 4·65/(w+1) mixed additions; each `R_i` uses the GLV
//! endomorphism (`λ·R = (β·x, y)`) to take its 128-bit coefficient as two 64-bit halves.

use alloc::vec::Vec;

use k256::elliptic_curve::BatchNormalize;
use k256::elliptic_curve::ops::Reduce;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use sha3::{Digest, Keccak256};

use crate::ecdsa::ParsedSignature;
use crate::hash::H256;
use crate::jacobian::{Affine, Jacobian, batch_to_affine};

/// wNAF window of the per-key tables: 2^(w-2) odd multiples per 64-bit piece.
pub const KEY_WINDOW: u32 = 8;
const KEY_TABLE_LEN: usize = 1 << (KEY_WINDOW - 2);
/// wNAF window for the per-signature `R` points, whose tables are built on the fly.
const R_WINDOW: u32 = 4;
const R_TABLE_LEN: usize = 1 << (R_WINDOW - 2);
/// A wNAF of a 64-bit number has at most 65 digits.
const DIGITS: usize = 65;

/// The GLV eigenvalue λ with `λ·(x, y) = (β·x, y)` (what `ProjectivePoint::endomorphism` computes).
const LAMBDA_BE: [u8; 32] = [
    0x53, 0x63, 0xad, 0x4c, 0xc0, 0x5c, 0x30, 0xe0, 0xa5, 0x26, 0x1c, 0x02, 0x88, 0x12, 0x64, 0x5a, 0x12, 0x2e, 0x22,
    0xea, 0x20, 0x81, 0x66, 0x78, 0xdf, 0x02, 0x96, 0x7c, 0x1b, 0x23, 0xbd, 0x72,
];

fn lambda() -> Scalar {
    <Scalar as Reduce<k256::U256>>::reduce(&k256::U256::from_be_slice(&LAMBDA_BE))
}

/// Odd multiples `(2k+1)·2^(64j)·P`, k < 2^(w-2), for the four 64-bit pieces j of a scalar.
#[derive(Clone)]
pub struct KeyTable {
    key: AffinePoint,
    points: Vec<Affine>,
}

impl core::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyTable").field("key", &self.key).finish()
    }
}

impl KeyTable {
    /// Precomputes the tables of `key` (~200 doublings and ~130 additions, once per key).
    pub fn new(key: &AffinePoint) -> Self {
        let mut proj = Vec::with_capacity(4 * KEY_TABLE_LEN);
        let mut base = ProjectivePoint::from(*key);
        for piece in 0..4 {
            if piece > 0 {
                for _ in 0..64 {
                    base = base.double();
                }
            }
            let twice = base.double();
            let mut m = base;
            for _ in 0..KEY_TABLE_LEN {
                proj.push(m);
                m += &twice;
            }
        }
        let affine = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize_vartime(&proj);
        // A public key is never the identity, nor is any multiple below the group order.
        let points = affine.iter().map(|p| Affine::from_k256(p).expect("finite multiple")).collect();
        Self { key: *key, points }
    }

    /// The key itself.
    pub fn key(&self) -> &AffinePoint {
        &self.key
    }

    fn piece(&self, j: usize) -> &[Affine] {
        &self.points[j * KEY_TABLE_LEN..(j + 1) * KEY_TABLE_LEN]
    }

    /// Bytes of heap this table holds (for memory accounting and the benchmark report).
    pub const BYTES: usize = 4 * KEY_TABLE_LEN * core::mem::size_of::<Affine>();
}

/// One signature of a batch: the parsed signature, its `R` point and the claimed signer's table.
pub struct BatchItem<'a> {
    /// The signature.
    pub sig: ParsedSignature,
    /// `R`, with x = r and the parity of `v` (decompressed or checked from the proxy's hint).
    pub r_point: AffinePoint,
    /// The claimed signer's precomputed table.
    pub key: &'a KeyTable,
    /// The 32-byte digest this signature signs.
    pub digest: H256,
}

/// Width-`w` non-adjacent form of a 64-bit number, least significant digit first.
fn wnaf(value: u64, w: u32) -> [i8; DIGITS] {
    let mut out = [0i8; DIGITS];
    let mut k = u128::from(value);
    let modulus = 1i128 << w;
    let mut i = 0;
    while k != 0 {
        // Skip runs of zero bits at once.
        let zeros = k.trailing_zeros();
        k >>= zeros;
        i += zeros as usize;
        let mut d = (k as i128) & (modulus - 1);
        if d >= modulus / 2 {
            d -= modulus;
        }
        out[i] = d as i8;
        k = (k as i128 - d) as u128;
        // After subtracting d, the low w bits are zero.
        k >>= w;
        i += w as usize;
    }
    out
}

/// The four little-endian 64-bit pieces of a scalar.
fn pieces(s: &Scalar) -> [u64; 4] {
    let be = s.to_bytes();
    core::array::from_fn(|j| {
        let start = 24 - 8 * j;
        u64::from_be_bytes(be[start..start + 8].try_into().expect("8 bytes"))
    })
}

/// Inverts every scalar with one field inversion (Montgomery's trick). All inputs are non-zero
/// (signature `s` values are range-checked at parse time).
fn batch_invert(values: &[Scalar]) -> Vec<Scalar> {
    let mut prefix = Vec::with_capacity(values.len());
    let mut acc = Scalar::ONE;
    for v in values {
        prefix.push(acc);
        acc *= v;
    }
    let mut inv = acc.invert_vartime().expect("product of non-zero scalars is non-zero");
    let mut out = alloc::vec![Scalar::ZERO; values.len()];
    for i in (0..values.len()).rev() {
        out[i] = inv * prefix[i];
        inv *= values[i];
    }
    out
}

struct Term<'t> {
    table: &'t [Affine],
    digits: [i8; DIGITS],
}

fn push_fixed<'t>(terms: &mut Vec<Term<'t>>, table: &'t KeyTable, coefficient: &Scalar) {
    for (j, piece) in pieces(coefficient).into_iter().enumerate() {
        if piece != 0 {
            terms.push(Term { table: table.piece(j), digits: wnaf(piece, KEY_WINDOW) });
        }
    }
}

/// Checks all `items` at once. `true` iff every signature is valid for its key and digest (up to
/// the 2^-128 bound above). `g` is the generator's table; `secret` keys the coefficients and must
/// be unknown to whoever chooses the signatures.
pub fn verify_batch(items: &[BatchItem<'_>], g: &KeyTable, secret: &[u8; 32]) -> bool {
    if items.is_empty() {
        return true;
    }
    let lambda = lambda();

    // Coefficients: keccak(secret ‖ digest ‖ every (r, s, v, key)) seeds one keccak per item.
    let mut transcript = Keccak256::new();
    transcript.update(b"fcc-batch-ecdsa-v1");
    transcript.update(secret);
    for it in items {
        transcript.update(it.digest);
        transcript.update(it.sig.sig.to_bytes());
        transcript.update([u8::from(it.sig.y_odd)]);
        transcript.update(it.key.key().to_sec1_point_compressed());
    }
    let seed: H256 = transcript.finalize().into();

    let s_inv = batch_invert(&items.iter().map(|it| it.sig.s()).collect::<Vec<_>>());

    let mut terms: Vec<Term<'_>> = Vec::with_capacity(items.len() * 6 + 4);
    let mut halves: Vec<(u64, u64)> = Vec::with_capacity(items.len());
    let mut g_sum = Scalar::ZERO;
    let mut q_coeffs: Vec<Scalar> = Vec::with_capacity(items.len());
    let mut block: H256 = [0; 32];
    let mut z = Scalar::ZERO;
    for (i, (it, s_inv)) in items.iter().zip(&s_inv).enumerate() {
        // One keccak yields the two 64-bit halves of two coefficients.
        if i % 2 == 0 {
            block = Keccak256::new().chain_update(seed).chain_update((i as u32).to_be_bytes()).finalize().into();
        }
        let half = &block[16 * (i % 2)..16 * (i % 2) + 16];
        let a1 = u64::from_le_bytes(half[..8].try_into().expect("8 bytes")) | 1; // never both zero
        let a2 = u64::from_le_bytes(half[8..].try_into().expect("8 bytes"));
        let a = Scalar::from(a1) + lambda * Scalar::from(a2);
        if i == 0 || it.digest != items[i - 1].digest {
            z = <Scalar as Reduce<k256::U256>>::reduce(&k256::U256::from_be_slice(&it.digest));
        }
        g_sum += a * z * s_inv;
        q_coeffs.push(-(a * it.sig.r() * s_inv));
        halves.push((a1, a2));
    }
    let Some(r_tables) = r_tables(items) else { return false };

    let g_coeff = -g_sum;
    push_fixed(&mut terms, g, &g_coeff);
    for (i, it) in items.iter().enumerate() {
        push_fixed(&mut terms, it.key, &q_coeffs[i]);
        let base = i * 2 * R_TABLE_LEN;
        let (a1, a2) = halves[i];
        terms.push(Term { table: &r_tables[base..base + R_TABLE_LEN], digits: wnaf(a1, R_WINDOW) });
        if a2 != 0 {
            terms.push(Term {
                table: &r_tables[base + R_TABLE_LEN..base + 2 * R_TABLE_LEN],
                digits: wnaf(a2, R_WINDOW),
            });
        }
    }

    // Straus: one shared chain of doublings; at each bit position every term with a non-zero
    // digit adds its table entry. The additions are first bucketed by position (a counting
    // sort) so the main loop touches only non-zero digits.
    let mut starts = [0u32; DIGITS + 1];
    for t in &terms {
        for (pos, &d) in t.digits.iter().enumerate() {
            starts[pos + 1] += u32::from(d != 0);
        }
    }
    for pos in 0..DIGITS {
        starts[pos + 1] += starts[pos];
    }
    let mut fill = starts;
    let mut schedule: Vec<(&Affine, bool)> = alloc::vec![(&g.points[0], false); starts[DIGITS] as usize];
    for t in &terms {
        for (pos, &d) in t.digits.iter().enumerate() {
            if d != 0 {
                let entry = &t.table[(usize::from(d.unsigned_abs()) - 1) / 2];
                schedule[fill[pos] as usize] = (entry, d < 0);
                fill[pos] += 1;
            }
        }
    }
    let mut acc = Jacobian::IDENTITY;
    for pos in (0..DIGITS).rev() {
        acc = acc.double();
        for &(entry, negative) in &schedule[starts[pos] as usize..starts[pos + 1] as usize] {
            acc = acc.add_affine(entry, negative);
        }
    }
    acc.is_identity()
}

/// For each item, the odd multiples `R, 3R, ..` and then `λR, 3λR, ..`, all affine. Two batched
/// inversions: one for `2R`, one for the multiples. `None` only if some multiple is the
/// identity, which cannot happen for a point of prime order (then the batch is refused).
fn r_tables(items: &[BatchItem<'_>]) -> Option<Vec<Affine>> {
    let bases: Vec<Affine> = items.iter().map(|it| Affine::from_k256(&it.r_point)).collect::<Option<_>>()?;
    let doubles = batch_to_affine(&bases.iter().map(|r| Jacobian::from(r).double()).collect::<Vec<_>>())?;
    let mut odd = Vec::with_capacity(items.len() * R_TABLE_LEN);
    for (r, d) in bases.iter().zip(&doubles) {
        let mut m = Jacobian::from(r);
        odd.push(m);
        for _ in 1..R_TABLE_LEN {
            m = m.add_affine(d, false);
            odd.push(m);
        }
    }
    let odd = batch_to_affine(&odd)?;
    let mut out = Vec::with_capacity(items.len() * 2 * R_TABLE_LEN);
    for chunk in odd.chunks_exact(R_TABLE_LEN) {
        out.extend_from_slice(chunk);
        out.extend(chunk.iter().map(Affine::endomorphism));
    }
    Some(out)
}

trait CompressedBytes {
    fn to_sec1_point_compressed(&self) -> [u8; 33];
}

impl CompressedBytes for AffinePoint {
    fn to_sec1_point_compressed(&self) -> [u8; 33] {
        use k256::elliptic_curve::sec1::ToSec1Point;
        let p = self.to_sec1_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(p.as_bytes());
        out
    }
}

/// The generator's table, needed by every batch.
pub fn generator_table() -> KeyTable {
    KeyTable::new(&AffinePoint::GENERATOR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::ParsedSignature;
    use crate::hash::keccak256;
    use k256::ecdsa::SigningKey;
    use k256::elliptic_curve::point::DecompressPoint;
    use k256::elliptic_curve::scalar::IsHigh;

    #[test]
    fn lambda_matches_the_endomorphism() {
        let g = ProjectivePoint::GENERATOR;
        assert_eq!(g.endomorphism(), g * lambda());
    }

    #[test]
    fn wnaf_reconstructs_and_is_sparse() {
        for &v in &[0u64, 1, 2, 0x7f, 0x80, 0xdead_beef_cafe_f00d, u64::MAX, 1 << 63] {
            for w in [2u32, 4, 5, 7, 8] {
                let d = wnaf(v, w);
                let mut acc: i128 = 0;
                for (i, &x) in d.iter().enumerate() {
                    acc += i128::from(x) << i;
                    assert!(x == 0 || (x % 2 != 0 && i32::from(x).abs() < (1 << (w - 1))));
                }
                assert_eq!(acc, i128::from(v), "value {v:#x} width {w}");
            }
        }
    }

    #[test]
    fn key_table_entries_are_the_right_multiples() {
        let k = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let p = ProjectivePoint::from(*k.verifying_key().as_affine());
        let t = KeyTable::new(k.verifying_key().as_affine());
        let two64 = Scalar::from(u64::MAX) + Scalar::ONE;
        let mut base = p;
        for j in 0..4 {
            for kk in 0..KEY_TABLE_LEN {
                let want = Affine::from_k256(&(base * Scalar::from((2 * kk + 1) as u64)).to_affine()).unwrap();
                assert_eq!(t.piece(j)[kk].to_bytes(), want.to_bytes());
            }
            base *= two64;
        }
    }

    fn signed_batch(n: usize, digest: &H256) -> (Vec<ParsedSignature>, Vec<AffinePoint>, Vec<KeyTable>) {
        let keys: Vec<SigningKey> = (0..n)
            .map(|i| {
                let mut b = [0x11u8; 32];
                b[31] = i as u8;
                SigningKey::from_bytes(&b.into()).unwrap()
            })
            .collect();
        let mut sigs = Vec::new();
        let mut rs = Vec::new();
        for k in &keys {
            let (sig, recid) = k.sign_prehash_recoverable(digest);
            let mut raw = [0u8; 65];
            raw[..64].copy_from_slice(&sig.to_bytes());
            raw[64] = recid.to_byte();
            let p = ParsedSignature::parse(&raw, 0).unwrap();
            rs.push(AffinePoint::decompress(&sig.r().to_bytes(), u8::from(p.y_odd).into()).unwrap());
            sigs.push(p);
        }
        let tables = keys.iter().map(|k| KeyTable::new(k.verifying_key().as_affine())).collect();
        (sigs, rs, tables)
    }

    #[test]
    fn batch_accepts_valid_and_rejects_any_single_forgery() {
        let g = generator_table();
        let digest = keccak256(b"instruction");
        let secret = [9u8; 32];
        let (sigs, rs, tables) = signed_batch(6, &digest);
        let items = |sigs: &[ParsedSignature], rs: &[AffinePoint], order: &[usize]| -> bool {
            let items: Vec<BatchItem<'_>> = (0..sigs.len())
                .map(|i| BatchItem { sig: sigs[i], r_point: rs[i], key: &tables[order[i]], digest })
                .collect();
            verify_batch(&items, &g, &secret)
        };
        let identity: Vec<usize> = (0..6).collect();
        assert!(items(&sigs, &rs, &identity));
        // Swapped keys.
        let mut swapped = identity.clone();
        swapped.swap(1, 2);
        assert!(!items(&sigs, &rs, &swapped));
        // Negated R (wrong v).
        let mut neg = rs.clone();
        neg[3] = -neg[3];
        assert!(!items(&sigs, &neg, &identity));
        // Other digest.
        let mut it: Vec<BatchItem<'_>> =
            (0..6).map(|i| BatchItem { sig: sigs[i], r_point: rs[i], key: &tables[i], digest }).collect();
        assert!(verify_batch(&it[..1], &g, &secret));
        assert!(verify_batch(&[], &g, &secret));
        it[4].digest = keccak256(b"other");
        assert!(!verify_batch(&it, &g, &secret));
    }

    // --- Issue 21 item 6: the edge cases a reviewer found missing. ---

    fn scalar(bytes: &[u8; 32]) -> Scalar {
        <Scalar as Reduce<k256::U256>>::reduce(&k256::U256::from_be_slice(bytes))
    }

    /// An ECDSA signature by `d` over `z` with the chosen nonce `k` (low S, `v` = R's parity as
    /// signed), and its `R` as the verifier rebuilds it from `r` and `v`.
    fn sign_with_nonce(d: &Scalar, k: &Scalar, z: &H256) -> (ParsedSignature, AffinePoint) {
        let big_r = (ProjectivePoint::GENERATOR * k).to_affine();
        let enc = big_r.to_sec1_point_compressed();
        let x: [u8; 32] = enc.as_ref()[1..33].try_into().unwrap();
        let r = scalar(&x);
        let mut s = k.invert().unwrap() * (scalar(z) + r * d);
        let mut odd = enc.as_ref()[0] == 3;
        if bool::from(s.is_high()) {
            s = -s;
            odd = !odd;
        }
        let mut raw = [0u8; 65];
        raw[..32].copy_from_slice(&r.to_bytes());
        raw[32..64].copy_from_slice(&s.to_bytes());
        raw[64] = u8::from(odd);
        let p = ParsedSignature::parse(&raw, 0).unwrap();
        let rebuilt = AffinePoint::decompress(&r.to_bytes(), u8::from(odd).into()).unwrap();
        (p, rebuilt)
    }

    fn secret(i: u8) -> Scalar {
        let mut b = [0x22u8; 32];
        b[31] = i;
        scalar(&b)
    }

    fn key_of(d: &Scalar) -> AffinePoint {
        (ProjectivePoint::GENERATOR * d).to_affine()
    }

    /// Nonces that make the batch's internal additions meet their special cases — `R = G`
    /// (k = 1), `R = Q_j` (k = another signer's key), `R_i = −R_j` (k and n − k), `R_i = R_j`
    /// (one nonce twice) — are all valid signatures: accepted each alone, all together, and the
    /// batch still refuses any one of them forged.
    #[test]
    fn nonces_at_the_special_points_are_accepted_and_forgeries_among_them_refused() {
        let g = generator_table();
        let z = keccak256(b"special nonces");
        let ds: Vec<Scalar> = (1..=6).map(secret).collect();
        let qs: Vec<AffinePoint> = ds.iter().map(key_of).collect();
        let tables: Vec<KeyTable> = qs.iter().map(KeyTable::new).collect();
        let k7 = secret(7);
        let nonces = [Scalar::ONE, ds[0], k7, -k7, secret(9), secret(9)];
        let signed: Vec<(ParsedSignature, AffinePoint)> =
            ds.iter().zip(nonces.iter()).map(|(d, k)| sign_with_nonce(d, k, &z)).collect();
        // Each is a valid `ecrecover` signature for its key.
        for (i, (sig, _)) in signed.iter().enumerate() {
            assert_eq!(sig.recover(&z, 0).unwrap().as_affine(), &qs[i], "signature {i}");
        }
        assert!(signed[0].1 == AffinePoint::GENERATOR || signed[0].1 == -AffinePoint::GENERATOR);
        assert!(signed[1].1 == qs[0] || signed[1].1 == -qs[0]);
        assert!(signed[2].1 == -signed[3].1 || signed[2].1 == signed[3].1);
        // `key_at(i)` is the table signature i is checked against.
        let batch = |key_at: &dyn Fn(usize) -> usize| -> Vec<BatchItem<'_>> {
            signed
                .iter()
                .enumerate()
                .map(|(i, (sig, r))| BatchItem { sig: *sig, r_point: *r, key: &tables[key_at(i)], digest: z })
                .collect()
        };
        let items = batch(&|i| i);
        let secret_key = [3u8; 32];
        for one in items.chunks(1) {
            assert!(verify_batch(one, &g, &secret_key));
        }
        assert!(verify_batch(&items, &g, &secret_key));
        for forged in 0..items.len() {
            let bad = batch(&|i| if i == forged { (i + 1) % tables.len() } else { i });
            assert!(!verify_batch(&bad, &g, &secret_key), "forgery at {forged} accepted");
        }
    }

    /// Two forgeries whose errors cancel — `R_1 + D` and `R_2 − D` — pass a sum with equal
    /// coefficients; with the batch's secret distinct coefficients they are refused.
    #[test]
    fn correlated_forgeries_that_cancel_under_equal_coefficients_are_refused() {
        let g = generator_table();
        let z = keccak256(b"correlated");
        let (d1, d2) = (secret(1), secret(2));
        let (t1, t2) = (KeyTable::new(&key_of(&d1)), KeyTable::new(&key_of(&d2)));
        let (s1, r1) = sign_with_nonce(&d1, &secret(11), &z);
        let (s2, r2) = sign_with_nonce(&d2, &secret(12), &z);
        let shift = ProjectivePoint::GENERATOR * secret(13);
        let f1 = (ProjectivePoint::from(r1) + shift).to_affine();
        let f2 = (ProjectivePoint::from(r2) - shift).to_affine();
        // The forged equations cancel in an unweighted sum ...
        let sum = |a: AffinePoint, b: AffinePoint| ProjectivePoint::from(a) + ProjectivePoint::from(b);
        assert_eq!(sum(f1, f2), sum(r1, r2));
        // ... but not in the batch.
        let items = [
            BatchItem { sig: s1, r_point: f1, key: &t1, digest: z },
            BatchItem { sig: s2, r_point: f2, key: &t2, digest: z },
        ];
        for secret_key in [[0u8; 32], [1; 32], [0xff; 32]] {
            assert!(!verify_batch(&items, &g, &secret_key));
        }
        let honest = [
            BatchItem { sig: s1, r_point: r1, key: &t1, digest: z },
            BatchItem { sig: s2, r_point: r2, key: &t2, digest: z },
        ];
        assert!(verify_batch(&honest, &g, &[0; 32]));
    }

    /// A signature whose real `R` has x in [n, p) (so `r = x − n`) is valid ECDSA for the key
    /// recovered from it, but `ecrecover` (v ∈ {0, 1}) rebuilds `R` from x = r and finds another
    /// key; the batch, given the `R` the verifier rebuilds from `r`, refuses it too.
    #[test]
    fn an_r_whose_point_has_x_at_or_above_the_order_is_refused() {
        let g = generator_table();
        let z = keccak256(b"x above n");
        // The first t with both n + t (< p) and t x-coordinates of curve points.
        let n: [u8; 32] = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
            .unwrap()
            .try_into()
            .unwrap();
        let plus = |t: u64| -> [u8; 32] {
            let mut out = n;
            let mut carry = u16::from(0u8);
            for (i, b) in out.iter_mut().rev().enumerate() {
                let add = if i < 8 { (t >> (8 * i)) as u8 } else { 0 };
                let v = u16::from(*b) + u16::from(add) + carry;
                *b = v as u8;
                carry = v >> 8;
            }
            out
        };
        let point = |x: [u8; 32]| Option::<AffinePoint>::from(AffinePoint::decompress(&x.into(), 0u8.into()));
        let small = |t: u64| {
            let mut x = [0u8; 32];
            x[24..].copy_from_slice(&t.to_be_bytes());
            x
        };
        let mut t = 1u64;
        while point(plus(t)).is_none() || point(small(t)).is_none() {
            t += 1;
        }
        let true_r = point(plus(t)).unwrap();
        let r = Scalar::from(t);
        let s = secret(21);
        let s = if bool::from(s.is_high()) { -s } else { s };
        // The key for which (r, s) is valid with the true R: Q = r⁻¹·(s·R − z·G).
        let q = ((ProjectivePoint::from(true_r) * s - ProjectivePoint::GENERATOR * scalar(&z)) * r.invert().unwrap())
            .to_affine();
        let table = KeyTable::new(&q);
        let mut raw = [0u8; 65];
        raw[..32].copy_from_slice(&r.to_bytes());
        raw[32..64].copy_from_slice(&s.to_bytes());
        let sig = ParsedSignature::parse(&raw, 0).unwrap();
        let rebuilt = point(small(t)).unwrap();
        assert_ne!(rebuilt, true_r);
        assert_ne!(sig.recover(&z, 0).map(|k| *k.as_affine()).ok(), Some(q), "ecrecover finds another key");
        let g_ok = verify_batch(&[BatchItem { sig, r_point: true_r, key: &table, digest: z }], &g, &[5; 32]);
        assert!(g_ok, "the equation holds for the true R (the test is about which R is used)");
        assert!(!verify_batch(&[BatchItem { sig, r_point: rebuilt, key: &table, digest: z }], &g, &[5; 32]));
    }
}
