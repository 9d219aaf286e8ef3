//! The TEE's identity: a secp256k1 key generated at boot from injected entropy, never leaving
//! the guest; its public key and its Ethereum address (the TEE id). Attestation evidence binds
//! it through the TEE's statement (`crate::statement`).

use k256::ecdsa::SigningKey;
use k256::elliptic_curve::sec1::ToSec1Point;
use rand_core::TryCryptoRng;
use zeroize::Zeroize;

use crate::ecdsa::{SIGNATURE_LEN, address_of};
use crate::entropy::draw32;
use crate::error::Error;
use crate::hash::H256;
use crate::policy::Address;

/// The TEE identity key.
pub struct TeeIdentity {
    key: SigningKey,
    public: [u8; 64],
    address: Address,
}

impl core::fmt::Debug for TeeIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("TeeIdentity").field("address", &self.address).finish_non_exhaustive()
    }
}

impl TeeIdentity {
    /// Generates a fresh key. Draws until a valid scalar appears (probability of a retry is
    /// about 2^-128), failing closed after a few attempts.
    pub fn generate(rng: &mut impl TryCryptoRng) -> Result<Self, Error> {
        for _ in 0..4 {
            let mut bytes = draw32(rng)?;
            let key = SigningKey::from_bytes(&bytes.into());
            bytes.zeroize();
            if let Ok(key) = key {
                return Ok(Self::from_key(key));
            }
        }
        Err(Error::EntropyUnavailable)
    }

    fn from_key(key: SigningKey) -> Self {
        let affine = *key.verifying_key().as_affine();
        let mut public = [0u8; 64];
        public.copy_from_slice(&affine.to_sec1_point(false).as_bytes()[1..]);
        Self { key, public, address: address_of(&affine) }
    }

    /// A fixed key for tests and the devnet's simulated providers. Never use in a guest.
    pub fn from_secret_for_tests(secret: &[u8; 32]) -> Result<Self, Error> {
        Self::from_secret(secret)
    }

    /// The key back from its secret scalar (sealed state).
    pub(crate) fn from_secret(secret: &[u8; 32]) -> Result<Self, Error> {
        SigningKey::from_bytes(&(*secret).into())
            .map(Self::from_key)
            .map_err(|_| Error::Malformed { what: "secret key" })
    }

    /// The secret scalar, for sealing only (wiped when dropped).
    pub(crate) fn secret(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.key.to_bytes().into())
    }

    /// Decrypts what was ECIES-encrypted to this key (go-ethereum's ECIES, no shared infos:
    /// key splits, restore messages).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<alloc::vec::Vec<u8>>, Error> {
        crate::wallet::ecies::decrypt(self.key.as_nonzero_scalar(), ciphertext, &[], &[])
    }

    /// Runs `f` with the secret scalar (ECIES decryption of what was encrypted to this TEE).
    pub(crate) fn with_secret<R>(&self, f: impl FnOnce(&k256::NonZeroScalar) -> R) -> R {
        f(self.key.as_nonzero_scalar())
    }

    /// The uncompressed public key `x ‖ y`.
    pub fn public_key(&self) -> &[u8; 64] {
        &self.public
    }

    /// The TEE id: the Ethereum address of the public key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte digest (already EIP-191-prefixed where needed). Deterministic (RFC 6979),
    /// low-S, v ∈ {0, 1}.
    pub fn sign_digest(&self, digest: &H256) -> [u8; SIGNATURE_LEN] {
        let (sig, recid) = self.key.sign_prehash_recoverable(digest);
        let mut out = [0u8; SIGNATURE_LEN];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = recid.to_byte() & 1;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::recover_address;

    use crate::testing::{CountingRng, StuckRng};

    #[test]
    fn signs_recoverably_and_fails_closed() {
        let id = TeeIdentity::generate(&mut CountingRng(1)).unwrap();
        let d = [0x42; 32];
        let sig = id.sign_digest(&d);
        assert!(sig[64] <= 1);
        assert_eq!(recover_address(&sig, &d).unwrap(), id.address());
        assert_eq!(TeeIdentity::generate(&mut StuckRng).unwrap_err(), Error::EntropyUnavailable);
    }
}
