//! The voters' public keys the proxy has seen, so it can hand them to the guest with the next
//! signing policy (`UpdatePolicy.public_keys`): the guest then builds its tables when it
//! installs the policy, and the epoch's first instruction is verified like any other instead
//! of recovering every signature. Only an optimisation: the guest checks each key against the
//! voter's address, and recovers the signers of keys it was not given.
//!
//! Keys come from signatures the proxy recovers anyway: votes of a known policy's voters and
//! the policy relay's signatures. Kept in memory only (a restarted proxy offers fewer until it
//! has seen votes again).

use std::collections::HashMap;
use std::sync::Mutex;

use fcc_core::light_client::PublicKey;
use fcc_core::policy::{Address, SigningPolicy};

/// Keys kept at most (a few policies' voters); when full, the book starts over.
pub const MAX_KEYS: usize = 4 * fcc_core::limits::MAX_VOTERS;

/// Address → uncompressed key `x ‖ y`, as recovered.
#[derive(Debug, Default)]
pub struct VoterKeys(Mutex<HashMap<Address, [u8; 64]>>);

impl VoterKeys {
    /// Notes the key a signature of `address` recovered to.
    pub fn note(&self, address: Address, key: [u8; 64]) {
        let mut keys = self.0.lock().expect("voter keys");
        if keys.len() >= MAX_KEYS && !keys.contains_key(&address) {
            keys.clear();
        }
        keys.insert(address, key);
    }

    /// The keys to offer with `policy`: one per voter in policy order, all-zero where unknown
    /// (the guest recovers those voters' keys from their signatures); empty if none is known.
    pub fn offer(&self, policy: &SigningPolicy) -> Vec<PublicKey> {
        let keys = self.0.lock().expect("voter keys");
        let offered: Vec<PublicKey> =
            policy.voters().iter().map(|v| PublicKey(keys.get(&v.address).copied().unwrap_or([0; 64]))).collect();
        if offered.iter().all(|k| k.0 == [0; 64]) { Vec::new() } else { offered }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_core::policy::Voter;

    #[test]
    fn offers_known_keys_in_policy_order_and_zeros_for_the_others() {
        let voters = (1..=3u8).map(|i| Voter { address: [i; 20], weight: 10 }).collect();
        let policy = SigningPolicy::new(5, 1000, 15, [0; 32], voters).unwrap();
        let book = VoterKeys::default();
        assert!(book.offer(&policy).is_empty());
        book.note([3; 20], [0x33; 64]);
        book.note([9; 20], [0x99; 64]);
        let offered: Vec<[u8; 64]> = book.offer(&policy).iter().map(|k| k.0).collect();
        assert_eq!(offered, vec![[0; 64], [0; 64], [0x33; 64]]);
        for i in 0..MAX_KEYS as u32 {
            let mut a = [0u8; 20];
            a[..4].copy_from_slice(&i.to_be_bytes());
            book.note(a, [1; 64]);
        }
        assert!(book.0.lock().unwrap().len() <= MAX_KEYS);
    }
}
