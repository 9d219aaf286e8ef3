//! The proxy's signing key: vote receipts, the results and TEE statements it serves
//! (`fcc_flare_json::receipt`: tee-proxy's Payload digests). A receipt is signed per vote, so
//! this is on the proxy's hot path: k256 signs, constant-time and deterministic (RFC 6979), with
//! its precomputed generator table — 32.7 µs a signature against libsecp256k1's 47.5 µs through
//! the secp256k1 crate, which re-randomises its context (another multiplication by the
//! generator) after every signature (`cargo bench -p fcc-proxy --bench load` prints both).

use alloy_primitives::Bytes;
use fcc_core::hash::H256;
use fcc_core::policy::Address;
use fcc_flare_json::{Receipt, SignedReceipt};
use k256::ecdsa::SigningKey;

/// The proxy's secp256k1 key (zeroised on drop). `Debug` shows the address only.
#[derive(Clone)]
pub struct ProxyKey(SigningKey);

impl std::fmt::Debug for ProxyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyKey(0x{})", hex::encode(self.address()))
    }
}

impl ProxyKey {
    /// From 32 secret bytes (must be a valid scalar).
    pub fn from_bytes(bytes: &[u8; 32]) -> anyhow::Result<Self> {
        Ok(Self(SigningKey::from_bytes(&(*bytes).into()).map_err(|_| anyhow::anyhow!("not a valid secp256k1 key"))?))
    }

    /// A fresh random key.
    pub fn random() -> Self {
        loop {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            if let Ok(k) = Self::from_bytes(&bytes) {
                return k;
            }
        }
    }

    /// The Ethereum address.
    pub fn address(&self) -> Address {
        fcc_core::ecdsa::address_of(self.0.verifying_key().as_affine())
    }

    /// Signs a 32-byte digest: `r ‖ s ‖ v`, low S, v ∈ {0, 1}, deterministic (RFC 6979).
    pub fn sign_digest(&self, digest: &H256) -> [u8; 65] {
        let (sig, id) = self.0.sign_prehash_recoverable(digest);
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = id.to_byte() & 1;
        out
    }

    /// Signs `receipt` for `chain_id` (`Payload{PROXY_VOTE_RECEIPT}`).
    pub fn sign_receipt(&self, receipt: Receipt, chain_id: u64) -> SignedReceipt {
        let signature = self.sign_digest(&receipt.signing_digest(chain_id));
        SignedReceipt { receipt, signature: Bytes::from(signature.to_vec()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;
    use fcc_core::hash::keccak256;

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
