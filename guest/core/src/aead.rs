//! AES-256-GCM behind two plain functions. They are the guest's only instantiation of the
//! cipher — sealed state (`seal`) and SEV-SNP guest messages (`fcc-cvm-abi`) both call them —
//! so the ROM holds one copy of the software AES and GHASH rather than one per caller.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit};

/// Encryption refused (input beyond GCM's limits) or decryption failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AeadError;

/// Encrypts `buf` in place under `key` and `nonce`, authenticating `aad` too; returns the tag.
#[inline(never)]
pub fn encrypt(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<[u8; 16], AeadError> {
    Aes256Gcm::new(key.into()).encrypt_in_place_detached(nonce.into(), aad, buf).map(Into::into).map_err(|_| AeadError)
}

/// Checks `tag` over `aad` and the ciphertext in `buf`, then decrypts `buf` in place. On failure
/// `buf` holds nothing usable and the caller must drop it.
#[inline(never)]
pub fn decrypt(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8; 16]) -> Result<(), AeadError> {
    Aes256Gcm::new(key.into()).decrypt_in_place_detached(nonce.into(), aad, buf, tag.into()).map_err(|_| AeadError)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST GCM test vector (gcmEncryptExtIV256.rsp, Count 0 with 128-bit PT, 96-bit IV):
    /// the two functions agree with the published ciphertext and tag.
    #[test]
    fn nist_known_answer() {
        let key: [u8; 32] = hex("31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22");
        let iv: [u8; 12] = hex("0d18e06c7c725ac9e362e1ce");
        let mut buf: [u8; 16] = hex("2db5168e932556f8089a0622981d017d");
        let tag = encrypt(&key, &iv, &[], &mut buf).unwrap();
        assert_eq!(buf, hex::<16>("fa4362189661d163fcd6a56d8bf0405a"));
        assert_eq!(tag, hex::<16>("d636ac1bbedd5cc3ee727dc2ab4a9489"));
        decrypt(&key, &iv, &[], &mut buf, &tag).unwrap();
        assert_eq!(buf, hex::<16>("2db5168e932556f8089a0622981d017d"));
        let mut bad = tag;
        bad[0] ^= 1;
        assert_eq!(decrypt(&key, &iv, &[], &mut buf, &bad), Err(AeadError));
    }

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
