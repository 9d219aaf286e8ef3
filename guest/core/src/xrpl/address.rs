//! XRPL accounts: the AccountID of a secp256k1 key (`RIPEMD-160(SHA-256(compressed key))`), and
//! its classic `r…` address (base58 in the XRPL alphabet of version byte 0 ‖ AccountID ‖ the
//! first four bytes of a double SHA-256) or an X-address (`X…`/`T…`, XLS-5: a classic account
//! with an optional destination tag).

use alloc::string::String;
use alloc::vec::Vec;

use k256::sha2::{Digest, Sha256};
use ripemd::Ripemd160;

use crate::error::Error;

/// An XRPL AccountID.
pub type AccountId = [u8; 20];

/// Longest address text read (an X-address is 47 characters).
pub const MAX_ADDRESS_LEN: usize = 64;

/// Version byte of a classic address.
const CLASSIC: u8 = 0x00;
/// Version bytes of an X-address on the main and the test network.
const X_MAIN: [u8; 2] = [0x05, 0x44];
const X_TEST: [u8; 2] = [0x04, 0x93];

/// The AccountID of the compressed secp256k1 key `public` (33 bytes).
pub fn account_id(public: &[u8; 33]) -> AccountId {
    Ripemd160::digest(Sha256::digest(public)).into()
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let h = Sha256::digest(Sha256::digest(payload));
    [h[0], h[1], h[2], h[3]]
}

/// The classic address of `id`.
pub fn encode(id: &AccountId) -> String {
    let mut payload = Vec::with_capacity(25);
    payload.push(CLASSIC);
    payload.extend_from_slice(id);
    let check = checksum(&payload);
    payload.extend_from_slice(&check);
    bs58::encode(payload).with_alphabet(bs58::Alphabet::RIPPLE).into_string()
}

/// A destination as an instruction names it: a classic address, or an X-address (its tag, if it
/// has one, becomes the transaction's `DestinationTag`; its network flag is not checked, as
/// Flare's decoder does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// The account.
    pub account: AccountId,
    /// The X-address's destination tag.
    pub tag: Option<u32>,
}

/// Reads a classic or X-address; anything else (another alphabet, length, version, checksum, a
/// non-zero reserved field) is refused.
pub fn decode(text: &str) -> Result<Destination, Error> {
    let bad = Error::Malformed { what: "XRPL address" };
    if text.len() > MAX_ADDRESS_LEN || !(text.starts_with('r') || text.starts_with('X') || text.starts_with('T')) {
        return Err(bad);
    }
    let raw = bs58::decode(text).with_alphabet(bs58::Alphabet::RIPPLE).into_vec().map_err(|_| bad)?;
    if raw.len() < 4 {
        return Err(bad);
    }
    let (payload, check) = raw.split_at(raw.len() - 4);
    if checksum(payload) != check {
        return Err(bad);
    }
    let mut account = [0u8; 20];
    match payload {
        [CLASSIC, rest @ ..] if rest.len() == 20 && text.starts_with('r') => {
            account.copy_from_slice(rest);
            Ok(Destination { account, tag: None })
        }
        [a, b, rest @ ..] if rest.len() == 29 && ([*a, *b] == X_MAIN || [*a, *b] == X_TEST) => {
            account.copy_from_slice(&rest[..20]);
            let tag = u32::from_le_bytes(rest[21..25].try_into().expect("4 bytes"));
            let reserved = &rest[25..29];
            match (rest[20], tag, reserved) {
                (0, 0, [0, 0, 0, 0]) => Ok(Destination { account, tag: None }),
                (1, _, [0, 0, 0, 0]) => Ok(Destination { account, tag: Some(tag) }),
                _ => Err(bad),
            }
        }
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex33(s: &str) -> [u8; 33] {
        let mut out = [0u8; 33];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    /// rippled's `SecretKey_test.cpp` keys (via go-flare-common's tests) and xrpl.js's signAs key.
    #[test]
    fn addresses_of_known_keys() {
        for (public, address) in [
            (
                "0330E7FC9D56BB25D6893BA3F317AE5BCF33B3291BD63DB32654A313222F7FD020",
                "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh",
            ),
            (
                "02A8A44DB3D4C73EEEE11DFE54D2029103B776AA8A8D293A91D645977C9DF5F544",
                "rHLEki8gPUMnF72JnuALvnAMRhRemzhRke",
            ),
        ] {
            let id = account_id(&hex33(public));
            assert_eq!(encode(&id), address);
            assert_eq!(decode(address), Ok(Destination { account: id, tag: None }));
        }
    }

    #[test]
    fn bad_addresses_are_refused() {
        let good = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";
        let mut typo = String::from(good);
        typo.replace_range(5..6, "C");
        for bad in ["", "0x1234", "xHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", &typo, &good[..20]] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        let long = "r".repeat(MAX_ADDRESS_LEN + 1);
        assert!(decode(&long).is_err());
    }
}
