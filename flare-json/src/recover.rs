//! Signer recovery for host code: who signed a 65-byte `r ‖ s ‖ v` signature over a digest.
//! fcc-core's rules first (low S, v ∈ {0, 1, 27, 28}) so a host never counts a signature the
//! guest would refuse; then libsecp256k1's recovery, the fastest available and independent of
//! the guest's own k256 code.

use fcc_core::ecdsa::ParsedSignature;
use fcc_core::hash::{H256, keccak256};
use fcc_core::policy::Address;
use fcc_core::verify::SignerHint;

/// Why a signature names no signer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    /// Not 65 bytes.
    #[error("signature is {0} bytes, not 65")]
    Length(usize),
    /// The guest's rules refuse it (high S, bad v, zero r or s).
    #[error("{0}")]
    Refused(String),
    /// No public key recovers from it.
    #[error("no key recovers: {0}")]
    NoKey(String),
}

/// The address whose key signed `digest` with `signature`.
pub fn recover_signer(signature: &[u8], digest: &H256) -> Result<Address, RecoverError> {
    recover_key(signature, digest).map(|(address, _)| address)
}

/// `R`'s y parity from `v` ∈ {0, 1, 27, 28} (checked by `ParsedSignature::parse` first).
fn recovery_bit(v: u8) -> u8 {
    if v >= 27 { v - 27 } else { v }
}

/// The guest's hint for a signature already attributed to the voter or cosigner at
/// `signer_index`: the index and the y of `R` (x = r, y's parity from v), what
/// `fcc_core::verify::SignerHint::compute` gives, with libsecp256k1's faster square root.
pub fn signer_hint(signature: &[u8; 65], signer_index: u16) -> Result<SignerHint, RecoverError> {
    ParsedSignature::parse(signature, 0).map_err(|e| RecoverError::Refused(e.to_string()))?;
    let mut compressed = [0u8; 33];
    compressed[0] = 0x02 | recovery_bit(signature[64]);
    compressed[1..].copy_from_slice(&signature[..32]);
    let r = secp256k1::PublicKey::from_slice(&compressed).map_err(|e| RecoverError::NoKey(e.to_string()))?;
    let r_y = r.serialize_uncompressed()[33..].try_into().expect("32 bytes");
    Ok(SignerHint { signer_index, r_y: Some(r_y) })
}

/// The address and the uncompressed public key `x ‖ y` that signed `digest` with `signature`.
pub fn recover_key(signature: &[u8], digest: &H256) -> Result<(Address, [u8; 64]), RecoverError> {
    let signature: &[u8; 65] = signature.try_into().map_err(|_| RecoverError::Length(signature.len()))?;
    ParsedSignature::parse(signature, 0).map_err(|e| RecoverError::Refused(e.to_string()))?;
    let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(recovery_bit(signature[64])))
        .map_err(|e| RecoverError::Refused(e.to_string()))?;
    let sig = secp256k1::ecdsa::RecoverableSignature::from_compact(&signature[..64], id)
        .map_err(|e| RecoverError::NoKey(e.to_string()))?;
    let key =
        sig.recover_ecdsa(secp256k1::Message::from_digest(*digest)).map_err(|e| RecoverError::NoKey(e.to_string()))?;
    let xy: [u8; 64] = key.serialize_uncompressed()[1..].try_into().expect("64 bytes");
    Ok((keccak256(&xy)[12..].try_into().expect("20 bytes"), xy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_core::identity::TeeIdentity;

    #[test]
    fn recovery_agrees_with_fcc_core_and_refuses_what_the_guest_refuses() {
        let key = TeeIdentity::from_secret_for_tests(&[5; 32]).unwrap();
        let digest = keccak256(b"vote");
        let mut sig = key.sign_digest(&digest);
        assert_eq!(recover_signer(&sig, &digest).unwrap(), key.address());
        assert_eq!(fcc_core::ecdsa::recover_address(&sig, &digest).unwrap(), key.address());
        let (address, xy) = recover_key(&sig, &digest).unwrap();
        assert_eq!((address, &xy), (key.address(), key.public_key()));
        // The hint equals the guest's own computation, for either parity and v ∈ {27, 28}.
        for i in 0..16u8 {
            let mut s = key.sign_digest(&keccak256(&[i]));
            assert_eq!(signer_hint(&s, 7).unwrap(), SignerHint::compute(&s, 7).unwrap(), "{i}");
            s[64] += 27;
            assert_eq!(signer_hint(&s, 7).unwrap(), SignerHint::compute(&s, 7).unwrap(), "{i} (+27)");
        }
        sig[64] += 27;
        assert_eq!(recover_signer(&sig, &digest).unwrap(), key.address());
        // High S (n - s, v flipped) recovers the same key elsewhere but the guest refuses it.
        let n = alloy_primitives::U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap();
        let s = alloy_primitives::U256::from_be_slice(&sig[32..64]);
        let mut high = sig;
        high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        high[64] = 27 + (1 - (sig[64] - 27));
        assert!(matches!(recover_signer(&high, &digest), Err(RecoverError::Refused(_))));
        assert!(fcc_core::ecdsa::recover_address(&high, &digest).is_err());
        sig[64] = 5;
        assert!(recover_signer(&sig, &digest).is_err());
        assert_eq!(recover_signer(&sig[..64], &digest), Err(RecoverError::Length(64)));
    }
}
