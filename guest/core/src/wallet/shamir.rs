//! Shamir secret sharing over the secp256k1 scalar field: a secret is the constant term of a
//! random polynomial of degree `threshold − 1`; each share is the polynomial at a non-zero x;
//! any `threshold` shares give the secret back by Lagrange interpolation at 0, fewer say
//! nothing about it.
//!
//! Field arithmetic is k256's (constant time); the only branches are on public data (share
//! counts and x coordinates). Coefficients are wiped when dropped.

use alloc::vec::Vec;

use k256::Scalar;
use k256::elliptic_curve::PrimeField;
use rand_core::TryCryptoRng;
use zeroize::Zeroizing;

use crate::entropy::draw32;
use crate::error::Error;

/// One share: the polynomial's value at `x`.
#[derive(Clone, PartialEq, Eq)]
pub struct Share {
    /// The evaluation point (never 0: that is the secret).
    pub x: u32,
    /// The value.
    pub y: Scalar,
}

impl core::fmt::Debug for Share {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // A share is secret material.
        f.debug_struct("Share").field("x", &self.x).finish_non_exhaustive()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.y);
    }
}

/// A uniformly random scalar (rejection sampling: a 32-byte draw is at or above the group
/// order with probability about 2^-128).
pub fn random_scalar(rng: &mut impl TryCryptoRng) -> Result<Scalar, Error> {
    for _ in 0..4 {
        let bytes = Zeroizing::new(draw32(rng)?);
        if let Some(s) = Option::<Scalar>::from(Scalar::from_repr((*bytes).into())) {
            return Ok(s);
        }
    }
    Err(Error::EntropyUnavailable)
}

/// Splits `secret` into shares at `xs` (distinct, non-zero), any `threshold` of which rebuild it.
pub fn split(secret: &Scalar, threshold: usize, xs: &[u32], rng: &mut impl TryCryptoRng) -> Result<Vec<Share>, Error> {
    if threshold == 0 || threshold > xs.len() {
        return Err(Error::OperationFailed { reason: "Shamir threshold must be in 1..=shares" });
    }
    check_points(xs.iter().copied())?;
    let mut coefficients: Zeroizing<Vec<Scalar>> = Zeroizing::new(Vec::with_capacity(threshold));
    coefficients.push(*secret);
    for _ in 1..threshold {
        coefficients.push(random_scalar(rng)?);
    }
    Ok(xs.iter().map(|&x| Share { x, y: evaluate(&coefficients, x) }).collect())
}

/// Horner's rule: c0 + x·(c1 + x·(c2 + …)).
fn evaluate(coefficients: &[Scalar], x: u32) -> Scalar {
    let x = Scalar::from(u64::from(x));
    coefficients.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
}

fn check_points(xs: impl Iterator<Item = u32>) -> Result<(), Error> {
    let mut seen: Vec<u32> = xs.collect();
    seen.sort_unstable();
    if seen.first() == Some(&0) {
        return Err(Error::Malformed { what: "Shamir share at x = 0" });
    }
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Malformed { what: "Shamir shares with the same x" });
    }
    Ok(())
}

/// The polynomial's value at 0 from `shares` (distinct, non-zero x). With at least `threshold`
/// correct shares this is the secret; with fewer, or a wrong one, it is an unrelated value —
/// callers check the result against the public key.
pub fn reconstruct(shares: &[&Share]) -> Result<Zeroizing<Scalar>, Error> {
    if shares.is_empty() {
        return Err(Error::OperationFailed { reason: "no Shamir shares" });
    }
    check_points(shares.iter().map(|s| s.x))?;
    // λ_i = Π_{j≠i} x_j / (x_j − x_i); one inversion for all denominators.
    let xs: Vec<Scalar> = shares.iter().map(|s| Scalar::from(u64::from(s.x))).collect();
    let mut numerators = Vec::with_capacity(xs.len());
    let mut denominators = Vec::with_capacity(xs.len());
    for (i, xi) in xs.iter().enumerate() {
        let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
        for (j, xj) in xs.iter().enumerate() {
            if i != j {
                num *= xj;
                den *= *xj - xi;
            }
        }
        numerators.push(num);
        denominators.push(den);
    }
    // Montgomery's trick: prefix products, one inversion, then each inverse on the way back.
    let mut prefix = Vec::with_capacity(denominators.len());
    let mut acc = Scalar::ONE;
    for d in &denominators {
        prefix.push(acc);
        acc *= d;
    }
    let mut inverse = Option::<Scalar>::from(acc.invert()).expect("distinct x: no zero denominator");
    let mut secret = Zeroizing::new(Scalar::ZERO);
    for i in (0..shares.len()).rev() {
        let inv_i = inverse * prefix[i];
        inverse *= denominators[i];
        *secret += shares[i].y * numerators[i] * inv_i;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::CountingRng;

    fn refs(s: &[Share]) -> Vec<&Share> {
        s.iter().collect()
    }

    #[test]
    fn any_threshold_subset_rebuilds_and_fewer_do_not() {
        let mut rng = CountingRng(9);
        let secret = random_scalar(&mut rng).unwrap();
        let shares = split(&secret, 3, &[1, 2, 3, 4, 5], &mut rng).unwrap();
        for a in 0..5 {
            for b in 0..5 {
                for c in 0..5 {
                    if a != b && b != c && a != c {
                        let got = reconstruct(&[&shares[a], &shares[b], &shares[c]]).unwrap();
                        assert_eq!(*got, secret);
                    }
                }
            }
        }
        assert_eq!(*reconstruct(&refs(&shares)).unwrap(), secret, "more than the threshold");
        assert_ne!(*reconstruct(&refs(&shares[..2])).unwrap(), secret, "below the threshold");
        let mut tampered = shares.clone();
        tampered[0].y += Scalar::ONE;
        assert_ne!(*reconstruct(&refs(&tampered[..3])).unwrap(), secret);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let mut rng = CountingRng(1);
        let s = Scalar::from(7u64);
        assert!(split(&s, 0, &[1, 2, 3], &mut rng).is_err());
        assert!(split(&s, 4, &[1, 2, 3], &mut rng).is_err());
        assert!(split(&s, 1, &[0, 1, 2], &mut rng).is_err());
        assert!(split(&s, 1, &[1, 1], &mut rng).is_err());
        let one = split(&s, 1, &[1], &mut rng).unwrap();
        assert_eq!(one[0].y, s, "threshold 1: every share is the secret");
        assert!(reconstruct(&[]).is_err());
        let dup = [&one[0], &one[0]];
        assert!(reconstruct(&dup).is_err());
    }
}
