//! Keccak-256 and the EIP-191 message hash, the two hashes every Flare format is built from.

use sha3::{Digest, Keccak256};

/// A 32-byte hash.
pub type H256 = [u8; 32];

/// Keccak-256 of the concatenation of `parts`.
pub fn keccak256_concat(parts: &[&[u8]]) -> H256 {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Keccak-256 of `data`.
pub fn keccak256(data: &[u8]) -> H256 {
    keccak256_concat(&[data])
}

/// EIP-191 "personal message" hash of a 32-byte digest:
/// `keccak256("\x19Ethereum Signed Message:\n32" ‖ digest)`, what `eth_sign` and Flare's
/// providers sign and what contracts rebuild before `ecrecover`.
pub fn eip191_hash(digest: &H256) -> H256 {
    keccak256_concat(&[b"\x19Ethereum Signed Message:\n32", digest])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_empty_known_answer() {
        // Keccak-256 of the empty string, as published by the Keccak team and used by Ethereum.
        assert_eq!(
            keccak256(b""),
            *b"\xc5\xd2\x46\x01\x86\xf7\x23\x3c\x92\x7e\x7d\xb2\xdc\xc7\x03\xc0\xe5\x00\xb6\x53\xca\x82\x27\x3b\x7b\xfa\xd8\x04\x5d\x85\xa4\x70"
        );
    }

    #[test]
    fn concat_equals_single() {
        assert_eq!(keccak256_concat(&[b"ab", b"", b"c"]), keccak256(b"abc"));
    }
}
