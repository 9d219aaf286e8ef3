//! Variable-time secp256k1 group arithmetic in Jacobian and affine coordinates, for the batch
//! verifier.
//!
//! Why: k256's `ProjectivePoint` uses complete, constant-time formulas (about 11 multiplications
//! per mixed addition). Batch verification handles only public data, so the classic incomplete
//! Jacobian formulas (8M + 3S per mixed addition, 2M + 5S per doubling) with explicit special
//! cases are safe here and about 1.5x faster. Where many independent additions are due at once,
//! affine ones given `1/(x2 − x1)` from a shared batch inversion (`invert_all`) are cheaper
//! still; their callers handle equal x themselves. The field arithmetic is k256's own (its
//! `hazmat` field element); only the short point formulas are ours, and the tests check them
//! against k256's `ProjectivePoint`.
//!
//! Field elements are lazily reduced: every value here is kept at magnitude 1 between
//! operations (k256 checks magnitudes in debug builds).

use alloc::vec::Vec;

use k256::elliptic_curve::hazmat::FieldArithmetic;
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::{AffinePoint, FieldBytes, Secp256k1};

/// k256's base-field element.
pub type Fe = <Secp256k1 as FieldArithmetic>::FieldElement;

/// β with `λ·(x, y) = (β·x, y)`: a primitive cube root of unity mod p.
const BETA_BE: [u8; 32] = [
    0x7a, 0xe9, 0x6a, 0x2b, 0x65, 0x7c, 0x07, 0x10, 0x6e, 0x64, 0x47, 0x9e, 0xac, 0x34, 0x34, 0xe9, 0x9c, 0xf0, 0x49,
    0x75, 0x12, 0xf5, 0x89, 0x95, 0xc1, 0x39, 0x6c, 0x28, 0x71, 0x95, 0x01, 0xee,
];

/// `a·b`, inlined: k256 marks only `FieldElement * &FieldElement` `#[inline(always)]`; its `mul`
/// method and the other operator forms are calls (the batch is about 4% faster inlined).
#[inline(always)]
fn mul(a: &Fe, b: &Fe) -> Fe {
    #[allow(clippy::op_ref)]
    let product = *a * b;
    product
}

fn fe(bytes: &[u8]) -> Option<Fe> {
    let bytes = FieldBytes::try_from(bytes).ok()?;
    Option::from(Fe::from_bytes(&bytes))
}

/// A finite affine point (never the identity).
#[derive(Debug, Clone, Copy)]
pub struct Affine {
    x: Fe,
    y: Fe,
}

impl Affine {
    /// From k256; `None` for the identity.
    pub fn from_k256(p: &AffinePoint) -> Option<Self> {
        let enc = p.to_sec1_point(false);
        let b = enc.as_bytes();
        if b.len() != 65 {
            return None;
        }
        Some(Self { x: fe(&b[1..33])?, y: fe(&b[33..])? })
    }

    /// `λ·P = (β·x, y)`.
    pub fn endomorphism(&self) -> Self {
        let beta = fe(&BETA_BE).expect("β is below p");
        Self { x: self.x.mul(&beta), y: self.y }
    }

    /// `−P`.
    pub fn negate(&self) -> Self {
        Self { x: self.x, y: self.y.negate(1).normalize_weak() }
    }

    /// `q.x − self.x`, or `None` when the x coordinates are equal (`q = ±self`).
    pub fn x_gap(&self, q: &Self) -> Option<Fe> {
        // Magnitude 3: fine for a multiplication; the zero test reduces it itself.
        let dx = q.x + self.x.negate(1);
        (!bool::from(dx.normalizes_to_zero())).then_some(dx)
    }

    /// `2y`, the denominator of [`Affine::double_with`]'s slope (never zero: secp256k1 has no
    /// point of order 2).
    pub fn double_denominator(&self) -> Fe {
        self.y.double().normalize_weak()
    }

    /// `2·self`, given `1 / 2y` (from a batch inversion): λ = 3x²/2y, x3 = λ² − 2x,
    /// y3 = λ(x − x3) − y.
    pub fn double_with(&self, inv_2y: &Fe) -> Self {
        let lambda = mul(&self.x.square().mul_single(3), inv_2y);
        let x3 = (lambda.square() + self.x.double().negate(2)).normalize_weak();
        let y3 = (mul(&lambda, &(self.x + x3.negate(1))) + self.y.negate(1)).normalize_weak();
        Self { x: x3, y: y3 }
    }

    /// `self + q` for `q` with another x, given `1 / (q.x − self.x)` (from a batch inversion):
    /// λ = (y2 − y1)/(x2 − x1), x3 = λ² − x1 − x2, y3 = λ(x1 − x3) − y1.
    pub fn add_distinct(&self, q: &Self, inv_dx: &Fe) -> Self {
        let lambda = mul(&(q.y + self.y.negate(1)), inv_dx);
        let x3 = (mul(&lambda, &lambda) + self.x.negate(1) + q.x.negate(1)).normalize_weak();
        let y3 = (mul(&lambda, &(self.x + x3.negate(1))) + self.y.negate(1)).normalize_weak();
        Self { x: x3, y: y3 }
    }

    /// The coordinates as big-endian bytes (tests and conversions).
    pub fn to_bytes(&self) -> ([u8; 32], [u8; 32]) {
        (self.x.to_bytes().into(), self.y.to_bytes().into())
    }
}

/// A point in Jacobian coordinates: (X / Z², Y / Z³), or the identity.
#[derive(Debug, Clone, Copy)]
pub struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
    infinity: bool,
}

impl From<&Affine> for Jacobian {
    fn from(p: &Affine) -> Self {
        Self { x: p.x, y: p.y, z: Fe::ONE, infinity: false }
    }
}

impl Jacobian {
    /// The identity.
    pub const IDENTITY: Self = Self { x: Fe::ZERO, y: Fe::ONE, z: Fe::ZERO, infinity: true };

    /// Whether this is the identity.
    pub fn is_identity(&self) -> bool {
        self.infinity
    }

    /// `2·self` (dbl-2009-l for a = 0). secp256k1 has no point of order 2, so y ≠ 0.
    pub fn double(&self) -> Self {
        if self.infinity {
            return *self;
        }
        let a = self.x.square();
        let b = self.y.square();
        let c = b.square();
        let d = ((self.x + b).square() + a.negate(1) + c.negate(1)).double().normalize_weak();
        let e = a.mul_single(3);
        let f = e.square();
        let x3 = (f + d.double().negate(2)).normalize_weak();
        let y3 = (e.mul(&(d + x3.negate(1))) + c.mul_single(8).negate(8)).normalize_weak();
        let z3 = self.y.mul(&self.z).double().normalize_weak();
        Self { x: x3, y: y3, z: z3, infinity: false }
    }

    /// `self + q`, or `self − q` when `negate`.
    pub fn add_affine(&self, q: &Affine, negate: bool) -> Self {
        let qy = if negate { q.y.negate(1).normalize_weak() } else { q.y };
        if self.infinity {
            return Self { x: q.x, y: qy, z: Fe::ONE, infinity: false };
        }
        let z2 = self.z.square();
        let u2 = q.x.mul(&z2);
        let s2 = qy.mul(&z2).mul(&self.z);
        let h = u2 + self.x.negate(1);
        let i = s2 + self.y.negate(1);
        if bool::from(h.normalizes_to_zero()) {
            return if bool::from(i.normalizes_to_zero()) { self.double() } else { Self::IDENTITY };
        }
        let h2 = h.square();
        let h3 = h.mul(&h2);
        let t = self.x.mul(&h2);
        let x3 = (i.square() + h3.negate(1) + t.double().negate(2)).normalize_weak();
        let y3 = (i.mul(&(t + x3.negate(1))) + self.y.mul(&h3).negate(1)).normalize_weak();
        let z3 = self.z.mul(&h).normalize_weak();
        Self { x: x3, y: y3, z: z3, infinity: false }
    }
}

/// Replaces every element by its inverse with one field inversion and 3 multiplications each
/// (Montgomery's trick); `prefix` is scratch. `None` if any element is zero. The running
/// products go in four interleaved lanes: one lane is a chain of dependent multiplications the
/// processor must wait out, four keep it busy.
pub fn invert_all(values: &mut [Fe], prefix: &mut Vec<Fe>) -> Option<()> {
    const LANES: usize = 4;
    prefix.clear();
    prefix.reserve_exact(values.len());
    let mut product = [Fe::ONE; LANES];
    for (i, v) in values.iter().enumerate() {
        let lane = &mut product[i % LANES];
        prefix.push(*lane);
        *lane = mul(lane, v);
    }
    let (low, high) = (product[0].mul(&product[1]), product[2].mul(&product[3]));
    let all: Fe = Option::from(low.mul(&high).invert_vartime())?;
    let (low_inv, high_inv) = (all.mul(&high), all.mul(&low));
    let mut inv =
        [low_inv.mul(&product[1]), low_inv.mul(&product[0]), high_inv.mul(&product[3]), high_inv.mul(&product[2])];
    for (i, (v, before)) in values.iter_mut().zip(prefix.iter()).enumerate().rev() {
        let lane = &mut inv[i % LANES];
        let this = mul(lane, before);
        *lane = mul(lane, v);
        *v = this;
    }
    Some(())
}

/// Converts finite points to affine with one field inversion (Montgomery's trick). Returns
/// `None` if any point is the identity.
pub fn batch_to_affine(points: &[Jacobian]) -> Option<Vec<Affine>> {
    if points.iter().any(|p| p.infinity) {
        return None;
    }
    let mut z_inv: Vec<Fe> = points.iter().map(|p| p.z).collect();
    invert_all(&mut z_inv, &mut Vec::new())?;
    let out = points
        .iter()
        .zip(&z_inv)
        .map(|(p, z_inv)| {
            let z_inv2 = z_inv.square();
            Affine { x: p.x.mul(&z_inv2), y: p.y.mul(&z_inv2).mul(z_inv) }
        })
        .collect();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::sec1::FromSec1Point;
    use k256::{ProjectivePoint, Scalar, Sec1Point};

    fn to_k256(p: &Jacobian) -> ProjectivePoint {
        if p.infinity {
            return ProjectivePoint::IDENTITY;
        }
        let a = &batch_to_affine(&[*p]).unwrap()[0];
        let (x, y) = a.to_bytes();
        let mut sec1 = [4u8; 65];
        sec1[1..33].copy_from_slice(&x);
        sec1[33..].copy_from_slice(&y);
        let enc = Sec1Point::from_bytes(sec1).unwrap();
        ProjectivePoint::from(AffinePoint::from_sec1_point(&enc).unwrap())
    }

    fn aff(k: u64) -> Affine {
        Affine::from_k256(&(ProjectivePoint::GENERATOR * Scalar::from(k)).to_affine()).unwrap()
    }

    #[test]
    fn matches_k256_including_special_cases() {
        let g = ProjectivePoint::GENERATOR;
        let mut j = Jacobian::IDENTITY;
        let mut k = ProjectivePoint::IDENTITY;
        for step in 1..60u64 {
            let q = aff(step * 7919);
            let neg = step % 3 == 0;
            j = j.add_affine(&q, neg);
            let qk = g * Scalar::from(step * 7919);
            k = if neg { k - qk } else { k + qk };
            assert_eq!(to_k256(&j), k, "after add {step}");
            if step % 5 == 0 {
                j = j.double();
                k = k.double();
                assert_eq!(to_k256(&j), k, "after double {step}");
            }
        }
        // P + P doubles, P − P is the identity.
        let p = Jacobian::from(&aff(5)).double();
        let p_aff = batch_to_affine(&[p]).unwrap()[0];
        assert_eq!(to_k256(&p.add_affine(&p_aff, false)), g * Scalar::from(20u64));
        assert!(p.add_affine(&p_aff, true).is_identity());
        assert!(Jacobian::IDENTITY.double().is_identity());
        assert!(batch_to_affine(&[p, Jacobian::IDENTITY]).is_none());
    }

    /// The batch inversion at every lane count (fewer values than lanes included) and the
    /// affine formulas against k256.
    #[test]
    fn batch_inversion_and_affine_formulas_match_k256() {
        let mut prefix = Vec::new();
        for n in 0..11u64 {
            let values: Vec<Fe> = (0..n).map(|i| aff(1000 + i).x).collect();
            let mut inverses = values.clone();
            invert_all(&mut inverses, &mut prefix).unwrap();
            for (v, inv) in values.iter().zip(&inverses) {
                assert!(bool::from((v.mul(inv) + Fe::ONE.negate(1)).normalizes_to_zero()), "n = {n}");
            }
        }
        let mut with_zero = [aff(3).x, Fe::ZERO, aff(4).x];
        assert!(invert_all(&mut with_zero, &mut prefix).is_none());

        let g = ProjectivePoint::GENERATOR;
        let (p, q) = (aff(11), aff(29));
        let mut gap = [p.x_gap(&q).unwrap()];
        invert_all(&mut gap, &mut prefix).unwrap();
        assert_eq!(to_k256(&Jacobian::from(&p.add_distinct(&q, &gap[0]))), g * Scalar::from(40u64));
        let mut twice = [p.double_denominator()];
        invert_all(&mut twice, &mut prefix).unwrap();
        assert_eq!(to_k256(&Jacobian::from(&p.double_with(&twice[0]))), g * Scalar::from(22u64));
        assert_eq!(to_k256(&Jacobian::from(&p.negate())), -(g * Scalar::from(11u64)));
        assert!(p.x_gap(&p).is_none() && p.x_gap(&p.negate()).is_none());
    }

    #[test]
    fn endomorphism_is_lambda() {
        let p = ProjectivePoint::GENERATOR * Scalar::from(12345u64);
        let a = Affine::from_k256(&p.to_affine()).unwrap().endomorphism();
        assert_eq!(to_k256(&Jacobian::from(&a)), p.endomorphism());
    }
}
