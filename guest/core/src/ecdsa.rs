//! Ethereum-style secp256k1 signatures: 65-byte `r ‖ s ‖ v`, low-S only, public-key recovery and
//! addresses.
//!
//! `v` may be 27/28 (what `eth_sign`, Solidity's `ecrecover` and Flare's providers use) or 0/1
//! (the raw recovery id that Go's `crypto.Sign` returns). Recovery ids 2 and 3 (an `r` that
//! overflowed the group order) are refused, as Ethereum's `ecrecover` precompile does.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::{AffinePoint, ProjectivePoint, Scalar};

use crate::error::Error;
use crate::hash::{H256, keccak256};
use crate::policy::Address;

/// Length of a serialized signature.
pub const SIGNATURE_LEN: usize = 65;

/// A parsed, range-checked, low-S signature over some 32-byte digest.
#[derive(Debug, Clone, Copy)]
pub struct ParsedSignature {
    pub(crate) sig: Signature,
    /// 0 or 1: the parity of the y coordinate of `R`.
    pub(crate) y_odd: bool,
}

impl ParsedSignature {
    /// Parses `r ‖ s ‖ v`. `index` only labels errors.
    pub fn parse(bytes: &[u8; SIGNATURE_LEN], index: u16) -> Result<Self, Error> {
        let y_odd = match bytes[64] {
            0 | 27 => false,
            1 | 28 => true,
            _ => return Err(Error::SignatureMalformed { index }),
        };
        // `from_slice` rejects r or s equal to zero or not below the group order.
        let sig = Signature::from_slice(&bytes[..64]).map_err(|_| Error::SignatureMalformed { index })?;
        if sig.normalize_s() != sig {
            return Err(Error::SignatureHighS { index });
        }
        Ok(Self { sig, y_odd })
    }

    /// `r` as a scalar.
    pub(crate) fn r(&self) -> Scalar {
        *self.sig.r()
    }

    /// `s` as a scalar.
    pub(crate) fn s(&self) -> Scalar {
        *self.sig.s()
    }

    /// Recovers the signer's public key for `digest`, as `ecrecover` does.
    pub fn recover(&self, digest: &H256, index: u16) -> Result<VerifyingKey, Error> {
        let recid = RecoveryId::new(self.y_odd, false);
        VerifyingKey::recover_from_prehash(digest, &self.sig, recid).map_err(|_| Error::SignatureInvalid { index })
    }
}

/// The Ethereum address of a public key: the last 20 bytes of keccak(x ‖ y).
pub fn address_of(key: &AffinePoint) -> Address {
    let encoded = key.to_sec1_point(false);
    let digest = keccak256(&encoded.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[12..]);
    out
}

/// Recovers the signer's address of `bytes` over `digest` (parse + recover + hash).
pub fn recover_address(bytes: &[u8; SIGNATURE_LEN], digest: &H256) -> Result<Address, Error> {
    let sig = ParsedSignature::parse(bytes, 0)?;
    Ok(address_of(sig.recover(digest, 0)?.as_affine()))
}

/// Whether `sig` over `digest` was made by `key`, with `ecrecover` semantics: the parity of `R`
/// is checked too, so a signature with the wrong `v` is refused even though plain ECDSA would
/// accept it.
pub(crate) fn verify_exact(sig: &ParsedSignature, digest: &H256, key: &AffinePoint) -> bool {
    use k256::elliptic_curve::ops::{LinearCombination, Reduce};
    let z = <Scalar as Reduce<k256::U256>>::reduce(&k256::U256::from_be_slice(digest));
    let Some(s_inv) = Option::<Scalar>::from(sig.s().invert_vartime()) else { return false };
    let point = ProjectivePoint::lincomb_vartime(&[
        (ProjectivePoint::GENERATOR, z * s_inv),
        (ProjectivePoint::from(*key), sig.r() * s_inv),
    ]);
    let affine = point.to_affine();
    if bool::from(k256::elliptic_curve::group::Group::is_identity(&point)) {
        return false;
    }
    // x(R) mod n == r; with recovery ids 0/1 only, x(R) itself must equal r.
    affine.x() == sig.r().to_bytes() && bool::from(affine.y_is_odd()) == sig.y_odd
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;

    fn key(i: u8) -> SigningKey {
        let mut b = [0u8; 32];
        b[31] = i;
        b[0] = 1;
        SigningKey::from_bytes(&b.into()).unwrap()
    }

    fn sign(k: &SigningKey, digest: &H256) -> [u8; 65] {
        let (sig, recid) = k.sign_prehash_recoverable(digest);
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + recid.to_byte();
        out
    }

    #[test]
    fn recovers_address_and_accepts_both_v_conventions() {
        let k = key(7);
        let d = keccak256(b"message");
        let mut sig = sign(&k, &d);
        let want = address_of(k.verifying_key().as_affine());
        assert_eq!(recover_address(&sig, &d).unwrap(), want);
        sig[64] -= 27;
        assert_eq!(recover_address(&sig, &d).unwrap(), want);
        let p = ParsedSignature::parse(&sig, 0).unwrap();
        assert!(verify_exact(&p, &d, k.verifying_key().as_affine()));
    }

    #[test]
    fn wrong_parity_is_refused() {
        let k = key(9);
        let d = keccak256(b"m");
        let mut sig = sign(&k, &d);
        sig[64] = 55 - sig[64]; // 27 <-> 28
        let p = ParsedSignature::parse(&sig, 0).unwrap();
        assert!(!verify_exact(&p, &d, k.verifying_key().as_affine()));
        assert_ne!(recover_address(&sig, &d).ok(), Some(address_of(k.verifying_key().as_affine())));
    }

    #[test]
    fn high_s_and_bad_v_and_zero_r_are_refused() {
        let k = key(3);
        let d = keccak256(b"x");
        let sig = sign(&k, &d);
        let parsed = Signature::from_slice(&sig[..64]).unwrap();
        // n - s: the high-S twin of a valid signature.
        let high = Signature::from_scalars(parsed.r().to_bytes(), (-*parsed.s()).to_bytes()).unwrap();
        let mut hs = [0u8; 65];
        hs[..64].copy_from_slice(&high.to_bytes());
        hs[64] = 28;
        assert_eq!(ParsedSignature::parse(&hs, 4).unwrap_err(), Error::SignatureHighS { index: 4 });
        let mut bad_v = sig;
        bad_v[64] = 29;
        assert_eq!(ParsedSignature::parse(&bad_v, 1).unwrap_err(), Error::SignatureMalformed { index: 1 });
        let mut zero_r = sig;
        zero_r[..32].fill(0);
        assert_eq!(ParsedSignature::parse(&zero_r, 2).unwrap_err(), Error::SignatureMalformed { index: 2 });
        let mut big_s = sig;
        big_s[32..64].fill(0xff);
        assert!(ParsedSignature::parse(&big_s, 2).is_err());
    }

    /// Issue 21 item 6: the low-S bound at its edge — s = (n − 1)/2 is the largest accepted,
    /// s = (n + 1)/2 the smallest refused (as `ecrecover` callers and Flare's Go code decide).
    #[test]
    fn low_s_edge_is_exact() {
        let half_below: [u8; 32] = hex("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");
        let half_above: [u8; 32] = hex("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1");
        let mut sig = [0u8; 65];
        sig[31] = 1;
        sig[32..64].copy_from_slice(&half_below);
        assert!(ParsedSignature::parse(&sig, 0).is_ok(), "(n - 1)/2 is low");
        sig[32..64].copy_from_slice(&half_above);
        assert_eq!(ParsedSignature::parse(&sig, 7).unwrap_err(), Error::SignatureHighS { index: 7 });
    }

    fn hex(h: &str) -> [u8; 32] {
        ::hex::decode(h).unwrap().try_into().unwrap()
    }
}
