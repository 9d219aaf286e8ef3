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
//! 256-bit coefficients cost about 4·64/(w+1) additions; each `R_i` uses the GLV endomorphism
//! (`λ·R = (β·x, y)`) to take its 128-bit coefficient as two 64-bit halves: about 54 additions
//! per signature in all. Those of one bit position are independent, so they are summed pairwise
//! in affine coordinates with one field inversion shared by a whole round (5M + 1S each instead
//! of a mixed Jacobian addition's 8M + 3S), and only the 65 position sums go through the
//! Jacobian chain. The buffers are reused from batch to batch ([`BatchScratch`]).

use alloc::vec::Vec;

use k256::elliptic_curve::BatchNormalize;
use k256::elliptic_curve::ops::Reduce;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use sha3::{Digest, Keccak256};

use crate::ecdsa::ParsedSignature;
use crate::hash::H256;
use crate::jacobian::{Affine, Fe, Jacobian, batch_to_affine, invert_all};

/// wNAF window of the per-key tables: 2^(w-2) odd multiples per 64-bit piece.
pub const KEY_WINDOW: u32 = 8;
const KEY_TABLE_LEN: usize = 1 << (KEY_WINDOW - 2);
/// Fewest keys [`KeyTable::build_many`] builds in lockstep: its 64 shared inversions cost more
/// than they save for fewer.
const BUILD_TOGETHER_MIN: usize = 4;
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

    /// The tables of many keys: the same as [`KeyTable::new`] gives for each, at under half the
    /// cost per key when there are several: each key's four bases `2^(64j)·Q` come from a
    /// Jacobian doubling chain, and the odd multiples of all bases of all keys are built in
    /// affine coordinates in lockstep, one field inversion shared by each step.
    pub fn build_many(keys: &[AffinePoint]) -> Vec<Self> {
        if keys.len() < BUILD_TOGETHER_MIN {
            return keys.iter().map(Self::new).collect();
        }
        Self::build_together(keys).unwrap_or_else(|| keys.iter().map(Self::new).collect())
    }

    /// [`KeyTable::build_many`]'s lockstep; `None` only on a point that is not a public key.
    fn build_together(keys: &[AffinePoint]) -> Option<Vec<Self>> {
        let mut bases = Vec::with_capacity(4 * keys.len());
        let mut shifted = Vec::with_capacity(3 * keys.len());
        for key in keys {
            let q = Affine::from_k256(key)?;
            bases.push(q);
            let mut b = Jacobian::from(&q);
            for _ in 1..4 {
                for _ in 0..64 {
                    b = b.double();
                }
                shifted.push(b);
            }
        }
        let shifted = batch_to_affine(&shifted)?;
        // Bases in table order: Q, 2^64·Q, 2^128·Q, 2^192·Q for each key.
        let bases: Vec<Affine> = bases
            .iter()
            .zip(shifted.chunks_exact(3))
            .flat_map(|(q, s)| core::iter::once(*q).chain(s.iter().copied()))
            .collect();
        // Each key's table in its final place (no second copy): piece j of key i is row 4i + j.
        let mut points: Vec<Vec<Affine>> = keys.iter().map(|_| alloc::vec![bases[0]; 4 * KEY_TABLE_LEN]).collect();
        let (mut inverses, mut prefix) = (Vec::with_capacity(bases.len()), Vec::with_capacity(bases.len()));
        let rows = points.iter_mut().flat_map(|p| p.chunks_exact_mut(KEY_TABLE_LEN)).collect();
        odd_multiples(&bases, KEY_TABLE_LEN, &mut inverses, &mut prefix, rows)?;
        Some(keys.iter().zip(points).map(|(key, points)| Self { key: *key, points }).collect())
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

/// Width-`w` non-adjacent form of a 64-bit number: `digit(position, d)` for each non-zero
/// digit, least significant first (odd, |d| < 2^(w-1), positions at most 64).
fn wnaf(value: u64, w: u32, mut digit: impl FnMut(usize, i8)) {
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
        digit(i, d as i8);
        k = (k as i128 - d) as u128;
        // After subtracting d, the low w bits are zero.
        k >>= w;
        i += w as usize;
    }
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

/// Checks all `items` at once. `true` iff every signature is valid for its key and digest (up to
/// the 2^-128 bound above). `g` is the generator's table; `secret` keys the coefficients and must
/// be unknown to whoever chooses the signatures.
pub fn verify_batch<'k>(
    items: &[BatchItem<'k>],
    g: &'k KeyTable,
    secret: &[u8; 32],
    scratch: &mut BatchScratch,
) -> bool {
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
        let a_s = a * s_inv;
        g_sum += a_s * z;
        q_coeffs.push(-(a_s * it.sig.r()));
        halves.push((a1, a2));
    }
    let BatchScratch { slots, work, inverses, prefix, rest, r_tables } = scratch;
    if r_tables_into(items, r_tables, inverses, prefix).is_none() {
        return false;
    }

    // The terms: (odd multiples of a point, 64-bit multiplier, window). About 7 additions per
    // 64-bit piece of a key coefficient, 13 per half of an `a_i`.
    let mut terms: Vec<(&[Affine], u64, u32)> = Vec::with_capacity(items.len() * 6 + 4);
    let mut push_fixed = |table: &'k KeyTable, coefficient: &Scalar| {
        for (j, piece) in pieces(coefficient).into_iter().enumerate() {
            terms.push((table.piece(j), piece, KEY_WINDOW));
        }
    };
    push_fixed(g, &-g_sum);
    for (it, q) in items.iter().zip(&q_coeffs) {
        push_fixed(it.key, q);
    }
    for (row, &(a1, a2)) in r_tables.chunks_exact(2 * R_TABLE_LEN).zip(&halves) {
        terms.push((&row[..R_TABLE_LEN], a1, R_WINDOW));
        terms.push((&row[R_TABLE_LEN..], a2, R_WINDOW));
    }

    // Straus: one shared chain of doublings; at each bit position every addition there is
    // made. The additions are first bucketed by position (a counting sort), each a packed slot.
    let mut starts = [0u32; DIGITS + 1];
    for &(_, value, w) in &terms {
        wnaf(value, w, |pos, _| starts[pos + 1] += 1);
    }
    for pos in 0..DIGITS {
        starts[pos + 1] += starts[pos];
    }
    let mut fill = starts;
    slots.clear();
    slots.resize(starts[DIGITS] as usize, 0);
    for (t, &(_, value, w)) in terms.iter().enumerate() {
        wnaf(value, w, |pos, d| {
            slots[fill[pos] as usize] = Slot::pack(t, d);
            fill[pos] += 1;
        });
    }
    let schedule = Schedule { terms: &terms, slots, starts };
    // The additions by position as independent sums in affine coordinates, which share their
    // field inversions; should two points of one sum meet (equal x), the shared Jacobian chain
    // (complete for every input) decides instead.
    let verdict = match sum_by_position(&schedule, AffineScratch { work, inverses, prefix, rest }) {
        Some(sum) => sum.is_identity(),
        None => straus(&schedule).is_identity(),
    };
    scratch.trim();
    verdict
}

/// One addition, packed: the term's index (bits 8..), the entry's index in the term's table
/// (bits 1..8) and whether it is subtracted (bit 0).
struct Slot;

impl Slot {
    fn pack(term: usize, digit: i8) -> u32 {
        ((term as u32) << 8) | (u32::from(digit.unsigned_abs() - 1) / 2) << 1 | u32::from(digit < 0)
    }
}

/// The additions of a batch sorted by bit position.
struct Schedule<'s, 't> {
    terms: &'s [(&'t [Affine], u64, u32)],
    slots: &'s [u32],
    starts: [u32; DIGITS + 1],
}

impl Schedule<'_, '_> {
    /// The slots of positions `first..last`.
    fn at(&self, first: usize, last: usize) -> &[u32] {
        &self.slots[self.starts[first] as usize..self.starts[last] as usize]
    }

    /// The entry a slot adds and whether it is subtracted.
    fn entry(&self, slot: u32) -> (&Affine, bool) {
        (&self.terms[(slot >> 8) as usize].0[((slot >> 1) & 0x7f) as usize], slot & 1 == 1)
    }

    /// How many additions positions `first..last` hold.
    fn count(&self, first: usize, last: usize) -> usize {
        (self.starts[last] - self.starts[first]) as usize
    }
}

/// Buffers [`verify_batch`] reuses from call to call, so a batch allocates next to nothing: up
/// to [`BatchScratch::KEPT`] bytes stay allocated between calls (an instruction of 100 votes
/// needs about 330 KiB; a larger batch's are freed after it).
#[derive(Default)]
pub struct BatchScratch {
    slots: Vec<u32>,
    work: Vec<Affine>,
    inverses: Vec<Fe>,
    prefix: Vec<Fe>,
    rest: Vec<Affine>,
    r_tables: Vec<Affine>,
}

impl BatchScratch {
    /// Most bytes kept between calls.
    pub const KEPT: usize = 512 * 1024;

    fn bytes(&self) -> usize {
        use core::mem::size_of;
        self.slots.capacity() * size_of::<u32>()
            + (self.work.capacity() + self.rest.capacity() + self.r_tables.capacity()) * size_of::<Affine>()
            + (self.inverses.capacity() + self.prefix.capacity()) * size_of::<Fe>()
    }

    /// Frees the buffers when they hold more than [`Self::KEPT`].
    fn trim(&mut self) {
        if self.bytes() > Self::KEPT {
            *self = Self::default();
        }
    }
}

/// `Σ_pos 2^pos · Σ (entries scheduled at pos)` with one chain of doublings and one mixed
/// Jacobian addition per entry (8M + 3S); handles every special case.
fn straus(schedule: &Schedule<'_, '_>) -> Jacobian {
    let mut acc = Jacobian::IDENTITY;
    for pos in (0..DIGITS).rev() {
        acc = acc.double();
        for &slot in schedule.at(pos, pos + 1) {
            let (entry, negative) = schedule.entry(slot);
            acc = acc.add_affine(entry, negative);
        }
    }
    acc
}

/// Most entries summed at once by [`sum_by_position`]: bounds its buffers (about 160 bytes
/// per entry) while keeping a field inversion shared by hundreds of additions.
const AFFINE_CHUNK: usize = 2048;
/// Fewest additions worth a round in affine coordinates: below this, the round's field
/// inversion costs more than the mixed Jacobian additions it saves.
const MIN_AFFINE_PAIRS: usize = 32;

/// What [`straus`] computes, faster: a chunk of positions at a time, the entries of each
/// position are summed pairwise in rounds, every addition of a round in affine coordinates
/// (5M + 1S with its share of one inversion, Montgomery's trick), until a round would be too
/// small; then one Horner pass adds what is left of each position. `None` when a pair has equal
/// x (a doubling or a cancellation these formulas do not cover): the caller falls back.
fn sum_by_position(schedule: &Schedule<'_, '_>, scratch: AffineScratch<'_>) -> Option<Jacobian> {
    let AffineScratch { work, inverses, prefix, rest } = scratch;
    // What is left to add at each position: `rest[rest_starts[pos]..rest_starts[pos + 1]]`.
    rest.clear();
    let mut rest_starts = [0u32; DIGITS + 1];
    let mut first = 0;
    while first < DIGITS {
        // Positions first..last (at least one), as many as fit the chunk.
        let mut last = first + 1;
        while last < DIGITS && schedule.count(first, last + 1) <= AFFINE_CHUNK {
            last += 1;
        }
        // Exact reservations: the buffers keep the size of the largest chunk, not twice it.
        work.clear();
        work.reserve_exact(schedule.count(first, last));
        work.extend(schedule.at(first, last).iter().map(|&slot| match schedule.entry(slot) {
            (p, true) => p.negate(),
            (p, false) => *p,
        }));
        // (start in `work`, count) of each position's partial sums.
        let mut segments = [(0usize, 0usize); DIGITS];
        let segments = &mut segments[..last - first];
        for (pos, segment) in (first..).zip(segments.iter_mut()) {
            *segment = (schedule.count(first, pos), schedule.count(pos, pos + 1));
        }
        while halve(work, segments, inverses, prefix)? {}
        for (pos, &(start, count)) in (first..).zip(segments.iter()) {
            rest.extend_from_slice(&work[start..start + count]);
            rest_starts[pos + 1] = rest.len() as u32;
        }
        first = last;
    }
    let mut acc = Jacobian::IDENTITY;
    for pos in (0..DIGITS).rev() {
        acc = acc.double();
        for p in &rest[rest_starts[pos] as usize..rest_starts[pos + 1] as usize] {
            acc = acc.add_affine(p, false);
        }
    }
    Some(acc)
}

/// The buffers of [`sum_by_position`].
struct AffineScratch<'s> {
    work: &'s mut Vec<Affine>,
    inverses: &'s mut Vec<Fe>,
    prefix: &'s mut Vec<Fe>,
    rest: &'s mut Vec<Affine>,
}

/// One round: within every segment of `work`, replaces points 2k and 2k+1 by their sum at k (an
/// odd last point moves down). `Some(false)`, having changed nothing, when the round would have
/// fewer than [`MIN_AFFINE_PAIRS`] additions; `None` on a pair with equal x.
fn halve(
    work: &mut [Affine],
    segments: &mut [(usize, usize)],
    inverses: &mut Vec<Fe>,
    prefix: &mut Vec<Fe>,
) -> Option<bool> {
    let pairs: usize = segments.iter().map(|&(_, count)| count / 2).sum();
    if pairs < MIN_AFFINE_PAIRS {
        return Some(false);
    }
    inverses.clear();
    inverses.reserve_exact(pairs);
    for &(start, count) in segments.iter() {
        for k in 0..count / 2 {
            inverses.push(work[start + 2 * k].x_gap(&work[start + 2 * k + 1])?);
        }
    }
    invert_all(inverses, prefix)?;
    let mut next = 0;
    for (start, count) in segments.iter_mut() {
        for k in 0..*count / 2 {
            let (a, b) = (work[*start + 2 * k], work[*start + 2 * k + 1]);
            work[*start + k] = a.add_distinct(&b, &inverses[next]);
            next += 1;
        }
        if *count % 2 == 1 {
            work[*start + *count / 2] = work[*start + *count - 1];
        }
        *count = count.div_ceil(2);
    }
    Some(true)
}

/// For each base `B`, its odd multiples `B, 3B, .., (2·len − 1)·B` into its row (`rows[t]` for
/// `bases[t]`), in affine coordinates across all bases at once: one shared inversion per step
/// (`2B`, then each next multiple). `None` only if two multiples meet, which cannot happen for a
/// point of prime order.
fn odd_multiples(
    bases: &[Affine],
    len: usize,
    inverses: &mut Vec<Fe>,
    prefix: &mut Vec<Fe>,
    mut rows: Vec<&mut [Affine]>,
) -> Option<()> {
    inverses.clear();
    inverses.extend(bases.iter().map(Affine::double_denominator));
    invert_all(inverses, prefix)?;
    let doubles: Vec<Affine> = bases.iter().zip(inverses.iter()).map(|(b, inv)| b.double_with(inv)).collect();
    for (r, b) in rows.iter_mut().zip(bases) {
        r[0] = *b;
    }
    for k in 1..len {
        for ((inv, d), r) in inverses.iter_mut().zip(&doubles).zip(&rows) {
            *inv = r[k - 1].x_gap(d)?;
        }
        invert_all(inverses, prefix)?;
        for ((inv, d), r) in inverses.iter().zip(&doubles).zip(rows.iter_mut()) {
            r[k] = r[k - 1].add_distinct(d, inv);
        }
    }
    Some(())
}

/// For each item, the odd multiples `R, 3R, ..` and then `λR, 3λR, ..`, all affine, into `out`
/// (a row of `2·R_TABLE_LEN` per item). `None` only if two multiples meet (then the batch is
/// refused).
fn r_tables_into(
    items: &[BatchItem<'_>],
    out: &mut Vec<Affine>,
    inverses: &mut Vec<Fe>,
    prefix: &mut Vec<Fe>,
) -> Option<()> {
    let bases: Vec<Affine> = items.iter().map(|it| Affine::from_k256(&it.r_point)).collect::<Option<_>>()?;
    let width = 2 * R_TABLE_LEN;
    out.clear();
    out.resize(items.len() * width, bases[0]);
    let rows = out.chunks_exact_mut(width).map(|row| &mut row[..R_TABLE_LEN]).collect();
    odd_multiples(&bases, R_TABLE_LEN, inverses, prefix, rows)?;
    for row in out.chunks_exact_mut(width) {
        for k in 0..R_TABLE_LEN {
            row[R_TABLE_LEN + k] = row[k].endomorphism();
        }
    }
    Some(())
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
                let mut d = [0i8; DIGITS];
                wnaf(v, w, |i, x| d[i] = x);
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

    fn same_point(a: &Jacobian, b: &Jacobian) -> bool {
        match (batch_to_affine(&[*a]), batch_to_affine(&[*b])) {
            (Some(a), Some(b)) => a[0].to_bytes() == b[0].to_bytes(),
            (None, None) => true,
            _ => false,
        }
    }

    /// `count` points with unrelated discrete logs (keccak of `seed`, k), so no sum of some of
    /// them meets another.
    fn points(seed: u64, count: usize) -> Vec<Affine> {
        let proj: Vec<ProjectivePoint> = (0..count as u64)
            .map(|k| ProjectivePoint::GENERATOR * scalar(&keccak256(&[seed.to_be_bytes(), k.to_be_bytes()].concat())))
            .collect();
        let affine = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize_vartime(&proj);
        affine.iter().map(|a| Affine::from_k256(a).unwrap()).collect()
    }

    /// Terms, slots and starts of a schedule adding each of `entries` (negated where `negated`)
    /// at its position `position_of`: each entry is a term of its own, its table the entry.
    #[allow(clippy::type_complexity)]
    fn schedule_of(
        entries: &[Affine],
        position_of: impl Fn(usize) -> usize,
        negated: impl Fn(usize) -> bool,
    ) -> (Vec<(&[Affine], u64, u32)>, Vec<u32>, [u32; DIGITS + 1]) {
        let terms: Vec<(&[Affine], u64, u32)> = entries.chunks(1).map(|e| (e, 1, 2)).collect();
        let mut by_pos: Vec<Vec<u32>> = (0..DIGITS).map(|_| Vec::new()).collect();
        for i in 0..entries.len() {
            by_pos[position_of(i)].push(Slot::pack(i, if negated(i) { -1 } else { 1 }));
        }
        let mut starts = [0u32; DIGITS + 1];
        for pos in 0..DIGITS {
            starts[pos + 1] = starts[pos] + by_pos[pos].len() as u32;
        }
        (terms, by_pos.into_iter().flatten().collect(), starts)
    }

    /// [`sum_by_position`] with fresh buffers.
    fn affine_sum(schedule: &Schedule<'_, '_>) -> Option<Jacobian> {
        let (mut work, mut inverses, mut prefix, mut rest) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let scratch = AffineScratch { work: &mut work, inverses: &mut inverses, prefix: &mut prefix, rest: &mut rest };
        sum_by_position(schedule, scratch)
    }

    /// The affine rounds compute exactly the Jacobian chain's sum: odd and even counts, empty
    /// positions, one position alone larger than a chunk, and several chunks.
    #[test]
    fn affine_sums_by_position_equal_the_jacobian_chain() {
        let entries = points(1000, 3 * AFFINE_CHUNK + 77);
        let cases: [(&dyn Fn(usize) -> usize, usize); 4] = [
            (&|i| (i * 7 + i / 3) % DIGITS, entries.len()),
            (&|i| if i % 5 == 0 { 64 } else { (i * 13) % 40 }, entries.len()),
            (&|_| 3, AFFINE_CHUNK + 1),
            (&|i| i % 2 * 17, 9),
        ];
        for (case, (position_of, n)) in cases.iter().enumerate() {
            let (terms, slots, starts) = schedule_of(&entries[..*n], position_of, |i| i % 3 == 1);
            let schedule = Schedule { terms: &terms, slots: &slots, starts };
            let fast = affine_sum(&schedule).expect("distinct points never meet");
            let chain = straus(&schedule);
            assert!(!chain.is_identity());
            assert!(same_point(&fast, &chain), "case {case}");
        }
        let (terms, slots, starts) = schedule_of(&entries[..1], |_| 0, |_| false);
        let schedule = Schedule { terms: &terms, slots: &slots, starts };
        assert!(same_point(&affine_sum(&schedule).unwrap(), &Jacobian::from(&entries[0])));
        let empty = Schedule { terms: &[], slots: &[], starts: [0; DIGITS + 1] };
        assert!(affine_sum(&empty).unwrap().is_identity());
    }

    /// Points that meet in a round (P + P, P − P, and two equal partial sums)
    /// make the affine rounds give up; the chain then decides, correctly. Too few additions for
    /// a round go to the chain directly.
    #[test]
    fn affine_sums_give_up_when_two_points_meet() {
        let p = points(5, 3);
        let cases: [(Vec<Affine>, Vec<bool>); 3] = [
            (alloc::vec![p[1], p[1], p[2]], alloc::vec![false, false, false]),
            (alloc::vec![p[1], p[1], p[2]], alloc::vec![false, true, false]),
            // p0 + p1 meets p1 + p0 in the second round.
            (alloc::vec![p[0], p[1], p[1], p[0]], alloc::vec![false, false, false, false]),
        ];
        // Enough other additions (at position 20) that the second round is worth doing too.
        let filler = points(9, 4 * MIN_AFFINE_PAIRS + 2);
        for (entries, negated) in &cases {
            let padded: Vec<Affine> = entries.iter().chain(&filler).copied().collect();
            let at = |i: usize| if i < entries.len() { 10 } else { 20 };
            let (terms, slots, starts) = schedule_of(&padded, at, |i| i < entries.len() && negated[i]);
            assert!(affine_sum(&Schedule { terms: &terms, slots: &slots, starts }).is_none());
            let (terms, slots, starts) = schedule_of(entries, |_| 10, |i| negated[i]);
            let schedule = Schedule { terms: &terms, slots: &slots, starts };
            assert!(affine_sum(&schedule).is_some(), "too few additions for an affine round");
        }
        // The verifier's answer in those cases is the chain's, checked against k256 in
        // `nonces_at_the_special_points_are_accepted_and_forgeries_among_them_refused`.
        let (entries, negated) = &cases[1];
        let (terms, slots, starts) = schedule_of(entries, |_| 10, |i| negated[i]);
        let want = Jacobian::from(&p[2]);
        let mut shifted = want;
        for _ in 0..10 {
            shifted = shifted.double();
        }
        assert!(same_point(&straus(&Schedule { terms: &terms, slots: &slots, starts }), &shifted));
    }

    /// Built together or one by one, a key's table is the same (several keys, and fewer than
    /// `BUILD_TOGETHER_MIN`, the generator among them).
    #[test]
    fn tables_built_together_equal_tables_built_alone() {
        let keys: Vec<AffinePoint> = core::iter::once(AffinePoint::GENERATOR)
            .chain((1..9u64).map(|i| (ProjectivePoint::GENERATOR * scalar(&keccak256(&i.to_be_bytes()))).to_affine()))
            .collect();
        for n in [0, 1, BUILD_TOGETHER_MIN - 1, BUILD_TOGETHER_MIN, keys.len()] {
            let together = KeyTable::build_many(&keys[..n]);
            assert_eq!(together.len(), n);
            for (key, t) in keys.iter().zip(&together) {
                let alone = KeyTable::new(key);
                assert_eq!(t.key(), alone.key());
                let bytes = |t: &KeyTable| t.points.iter().map(Affine::to_bytes).collect::<Vec<_>>();
                assert_eq!(bytes(t), bytes(&alone), "{n} keys");
            }
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
            verify_batch(&items, &g, &secret, &mut BatchScratch::default())
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
        assert!(verify_batch(&it[..1], &g, &secret, &mut BatchScratch::default()));
        assert!(verify_batch(&[], &g, &secret, &mut BatchScratch::default()));
        it[4].digest = keccak256(b"other");
        assert!(!verify_batch(&it, &g, &secret, &mut BatchScratch::default()));
    }

    /// An instruction's worth of signatures leaves its buffers for the next batch; more than
    /// `KEPT` bytes of them are freed.
    #[test]
    fn the_scratch_is_kept_for_the_next_batch_within_its_bound() {
        let g = generator_table();
        let digest = keccak256(b"scratch");
        let (sigs, rs, tables) = signed_batch(100, &digest);
        let items: Vec<BatchItem<'_>> =
            (0..100).map(|i| BatchItem { sig: sigs[i], r_point: rs[i], key: &tables[i], digest }).collect();
        let mut scratch = BatchScratch::default();
        assert!(verify_batch(&items, &g, &[1; 32], &mut scratch));
        let kept = scratch.bytes();
        assert!(kept > 100 * 1024 && kept <= BatchScratch::KEPT, "{kept}");
        // Other coefficients, other chunk sizes: the buffers may grow a little, not be freed.
        assert!(verify_batch(&items, &g, &[2; 32], &mut scratch));
        assert!(scratch.bytes() >= kept && scratch.bytes() <= BatchScratch::KEPT, "{}", scratch.bytes());
        scratch.work.reserve(BatchScratch::KEPT / core::mem::size_of::<Affine>());
        scratch.trim();
        assert_eq!(scratch.bytes(), 0);
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
            assert!(verify_batch(one, &g, &secret_key, &mut BatchScratch::default()));
        }
        assert!(verify_batch(&items, &g, &secret_key, &mut BatchScratch::default()));
        for forged in 0..items.len() {
            let bad = batch(&|i| if i == forged { (i + 1) % tables.len() } else { i });
            assert!(!verify_batch(&bad, &g, &secret_key, &mut BatchScratch::default()), "forgery at {forged} accepted");
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
            assert!(!verify_batch(&items, &g, &secret_key, &mut BatchScratch::default()));
        }
        let honest = [
            BatchItem { sig: s1, r_point: r1, key: &t1, digest: z },
            BatchItem { sig: s2, r_point: r2, key: &t2, digest: z },
        ];
        assert!(verify_batch(&honest, &g, &[0; 32], &mut BatchScratch::default()));
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
        let g_ok = verify_batch(
            &[BatchItem { sig, r_point: true_r, key: &table, digest: z }],
            &g,
            &[5; 32],
            &mut BatchScratch::default(),
        );
        assert!(g_ok, "the equation holds for the true R (the test is about which R is used)");
        assert!(!verify_batch(
            &[BatchItem { sig, r_point: rebuilt, key: &table, digest: z }],
            &g,
            &[5; 32],
            &mut BatchScratch::default()
        ));
    }
}
