//! Flare signing policies: the byte format the Relay contract stores and hashes, its hashes, and
//! the threshold rule.
//!
//! Layout (big-endian, 43 + 22·n bytes):
//! `voters u16 ‖ rewardEpochId u24 ‖ startVotingRoundId u32 ‖ threshold u16 ‖ seed 32 ‖
//!  n × (signingAddress 20 ‖ weight u16)`.

use alloc::vec::Vec;

use crate::error::Error;
use crate::hash::{H256, keccak256_concat};
use crate::limits::{MAX_POLICY_LEN, MAX_TOTAL_WEIGHT, MAX_VOTERS, POLICY_HEADER_LEN, POLICY_VOTER_LEN};

/// A 20-byte Ethereum address.
pub type Address = [u8; 20];

/// One voter of a signing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voter {
    /// The voter's signing address (what `ecrecover` yields for its signatures).
    pub address: Address,
    /// The voter's normalised weight.
    pub weight: u16,
}

/// A decoded and validated signing policy.
///
/// Invariants (checked by [`SigningPolicy::new`] and [`SigningPolicy::decode`]): 1..=300 voters,
/// distinct addresses, total weight ≤ 65535, threshold < total weight, epoch fits in 24 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningPolicy {
    reward_epoch_id: u32,
    start_voting_round_id: u32,
    threshold: u16,
    seed: [u8; 32],
    voters: Vec<Voter>,
    total_weight: u32,
    /// (address, voter index), sorted by address: O(log n) signer lookup.
    by_address: Vec<(Address, u16)>,
}

/// How a policy's bytes are hashed. Flare's Relay stores [`PolicyHashScheme::ChainBound`]
/// (go-flare-common `203057c`: no TEE component computes the legacy hash any more);
/// [`PolicyHashScheme::Legacy`] is the Relay before RLY-23;
/// [`PolicyHashScheme::ChainBound`] additionally commits to the chain id so a policy signed for
/// one network cannot be replayed on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyHashScheme {
    /// Chunked Keccak over 32-byte chunks, the last one zero-padded:
    /// `h = keccak(c0 ‖ c1)`, then `h = keccak(h ‖ ci)` for each later chunk.
    Legacy,
    /// `keccak(u256 chainId ‖ policyBytes)`, the hash of the current Relay (go-flare-common's
    /// `ChainBoundHash`).
    ChainBound {
        /// The EVM chain id, encoded as a 32-byte big-endian word.
        chain_id: u64,
    },
}

impl PolicyHashScheme {
    /// The scheme as a `bytes32` name (in the attestation statement): `CHAIN_BOUND` or
    /// `LEGACY` (the chain id is the statement's own).
    pub const fn id(self) -> [u8; 32] {
        match self {
            PolicyHashScheme::Legacy => crate::op::name("LEGACY"),
            PolicyHashScheme::ChainBound { .. } => crate::op::name("CHAIN_BOUND"),
        }
    }
}

/// Flare's threshold for a total weight: `ceil(total / 2)`. Signatures must carry weight
/// *strictly greater* than it (see [`SigningPolicy::is_satisfied_by`]).
pub const fn flare_threshold(total_weight: u32) -> u32 {
    total_weight.div_ceil(2)
}

impl SigningPolicy {
    /// Builds a policy from its parts, checking every invariant.
    pub fn new(
        reward_epoch_id: u32,
        start_voting_round_id: u32,
        threshold: u16,
        seed: [u8; 32],
        voters: Vec<Voter>,
    ) -> Result<Self, Error> {
        if reward_epoch_id >= 1 << 24 {
            return Err(Error::Malformed { what: "reward epoch id (over 24 bits)" });
        }
        if voters.is_empty() {
            return Err(Error::PolicyNoVoters);
        }
        if voters.len() > MAX_VOTERS {
            return Err(Error::TooMany { what: "policy voters", count: voters.len(), max: MAX_VOTERS });
        }
        let total_weight: u32 = voters.iter().map(|v| u32::from(v.weight)).sum();
        if total_weight > MAX_TOTAL_WEIGHT {
            return Err(Error::PolicyWeightOverflow { total: total_weight });
        }
        if u32::from(threshold) >= total_weight {
            return Err(Error::PolicyUnsatisfiable { threshold, total: total_weight });
        }
        // 300 voters: a sorted copy keeps the duplicate check O(n log n) without hashing.
        let mut by_address: Vec<(Address, u16)> =
            voters.iter().enumerate().map(|(i, v)| (v.address, i as u16)).collect();
        by_address.sort_unstable();
        if let Some(w) = by_address.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::PolicyDuplicateVoter { index: w[0].1.max(w[1].1) });
        }
        Ok(Self { reward_epoch_id, start_voting_round_id, threshold, seed, voters, total_weight, by_address })
    }

    /// Decodes and validates policy bytes. The length must be exactly `43 + 22·n`.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "signing policy";
        if bytes.len() > MAX_POLICY_LEN {
            return Err(Error::TooLarge { what: WHAT, len: bytes.len(), max: MAX_POLICY_LEN });
        }
        if bytes.len() < POLICY_HEADER_LEN {
            return Err(Error::Truncated { what: WHAT, need: POLICY_HEADER_LEN, got: bytes.len() });
        }
        let count = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        if count > MAX_VOTERS {
            return Err(Error::TooMany { what: "policy voters", count, max: MAX_VOTERS });
        }
        let need = POLICY_HEADER_LEN + count * POLICY_VOTER_LEN;
        if bytes.len() < need {
            return Err(Error::Truncated { what: WHAT, need, got: bytes.len() });
        }
        if bytes.len() > need {
            return Err(Error::TrailingBytes { what: WHAT, extra: bytes.len() - need });
        }
        let reward_epoch_id = u32::from_be_bytes([0, bytes[2], bytes[3], bytes[4]]);
        let start_voting_round_id = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        let threshold = u16::from_be_bytes([bytes[9], bytes[10]]);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes[11..43]);
        let voters = bytes[POLICY_HEADER_LEN..]
            .chunks_exact(POLICY_VOTER_LEN)
            .map(|c| {
                let mut address = [0u8; 20];
                address.copy_from_slice(&c[..20]);
                Voter { address, weight: u16::from_be_bytes([c[20], c[21]]) }
            })
            .collect();
        Self::new(reward_epoch_id, start_voting_round_id, threshold, seed, voters)
    }

    /// The canonical encoding; `decode(encode(p)) == p`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&(self.voters.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.reward_epoch_id.to_be_bytes()[1..]);
        out.extend_from_slice(&self.start_voting_round_id.to_be_bytes());
        out.extend_from_slice(&self.threshold.to_be_bytes());
        out.extend_from_slice(&self.seed);
        for v in &self.voters {
            out.extend_from_slice(&v.address);
            out.extend_from_slice(&v.weight.to_be_bytes());
        }
        out
    }

    /// Length of [`SigningPolicy::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        POLICY_HEADER_LEN + self.voters.len() * POLICY_VOTER_LEN
    }

    /// The policy hash under `scheme`.
    pub fn hash(&self, scheme: PolicyHashScheme) -> H256 {
        policy_hash(&self.encode(), scheme)
    }

    /// The reward epoch this policy governs.
    pub fn reward_epoch_id(&self) -> u32 {
        self.reward_epoch_id
    }
    /// The first voting round of the epoch.
    pub fn start_voting_round_id(&self) -> u32 {
        self.start_voting_round_id
    }
    /// Weight that signatures must strictly exceed.
    pub fn threshold(&self) -> u16 {
        self.threshold
    }
    /// The epoch's random seed.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }
    /// The voters, in policy order (their index is the signer hint).
    pub fn voters(&self) -> &[Voter] {
        &self.voters
    }
    /// Sum of all voter weights (≤ 65535).
    pub fn total_weight(&self) -> u32 {
        self.total_weight
    }
    /// Index of the voter with this signing address.
    pub fn voter_index(&self, address: &Address) -> Option<u16> {
        self.by_address.binary_search_by(|(a, _)| a.cmp(address)).ok().map(|i| self.by_address[i].1)
    }
    /// Whether `weight` passes this policy: strictly greater than the threshold.
    pub fn is_satisfied_by(&self, weight: u32) -> bool {
        weight > u32::from(self.threshold)
    }
}

/// Hashes encoded policy bytes under `scheme` (the bytes are not validated here).
pub fn policy_hash(bytes: &[u8], scheme: PolicyHashScheme) -> H256 {
    match scheme {
        PolicyHashScheme::Legacy => legacy_chunked_hash(bytes),
        PolicyHashScheme::ChainBound { chain_id } => {
            let mut word = [0u8; 32];
            word[24..].copy_from_slice(&chain_id.to_be_bytes());
            keccak256_concat(&[&word, bytes])
        }
    }
}

/// The Relay's chunked hash, as go-flare-common computes it: zero-pad to a multiple of 32 bytes
/// (and to at least 64), `h = keccak(c0 ‖ c1)`, then `h = keccak(h ‖ ci)`. Every valid policy is at
/// least 65 bytes, where Relay.sol's assembly agrees.
fn legacy_chunked_hash(bytes: &[u8]) -> H256 {
    let chunk = |i: usize| -> [u8; 32] {
        let mut c = [0u8; 32];
        let start = i * 32;
        let end = bytes.len().min(start + 32);
        if start < end {
            c[..end - start].copy_from_slice(&bytes[start..end]);
        }
        c
    };
    let chunks = bytes.len().div_ceil(32).max(2);
    let mut h = keccak256_concat(&[&chunk(0), &chunk(1)]);
    for i in 2..chunks {
        h = keccak256_concat(&[&h, &chunk(i)]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;
    use alloc::vec;

    fn voters(n: usize, w: u16) -> Vec<Voter> {
        (0..n)
            .map(|i| {
                let mut address = [0u8; 20];
                address[0] = 0xa5;
                address[18..].copy_from_slice(&(i as u16).to_be_bytes());
                Voter { address, weight: w }
            })
            .collect()
    }

    #[test]
    fn encode_layout_is_exact() {
        let p = SigningPolicy::new(0x0a0b0c, 0x01020304, 3, [0x5e; 32], voters(2, 2)).unwrap();
        let b = p.encode();
        assert_eq!(b.len(), 43 + 44);
        assert_eq!(&b[..11], &[0, 2, 0x0a, 0x0b, 0x0c, 1, 2, 3, 4, 0, 3]);
        assert_eq!(&b[11..43], &[0x5e; 32]);
        assert_eq!(&b[43..63], &voters(2, 2)[0].address);
        assert_eq!(&b[63..65], &[0, 2]);
        assert_eq!(SigningPolicy::decode(&b).unwrap(), p);
    }

    #[test]
    fn decode_rejects_every_bound() {
        let good = SigningPolicy::new(1, 2, 5, [0; 32], voters(10, 1)).unwrap().encode();
        assert!(matches!(SigningPolicy::decode(&good[..42]), Err(Error::Truncated { .. })));
        assert!(matches!(SigningPolicy::decode(&good[..good.len() - 1]), Err(Error::Truncated { .. })));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(SigningPolicy::decode(&long), Err(Error::TrailingBytes { what: "signing policy", extra: 1 }));
        let mut many = good.clone();
        many[..2].copy_from_slice(&301u16.to_be_bytes());
        assert!(matches!(SigningPolicy::decode(&many), Err(Error::TooMany { count: 301, .. })));
        let mut zero = good[..43].to_vec();
        zero[..2].copy_from_slice(&[0, 0]);
        assert_eq!(SigningPolicy::decode(&zero), Err(Error::PolicyNoVoters));
        assert!(matches!(SigningPolicy::decode(&vec![0u8; MAX_POLICY_LEN + 1]), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn weights_and_threshold_are_checked() {
        assert_eq!(
            SigningPolicy::new(1, 0, 1, [0; 32], voters(2, 40000)),
            Err(Error::PolicyWeightOverflow { total: 80000 })
        );
        assert_eq!(
            SigningPolicy::new(1, 0, 20, [0; 32], voters(10, 2)),
            Err(Error::PolicyUnsatisfiable { threshold: 20, total: 20 })
        );
        // The largest legal total weight.
        let mut v = voters(2, 0);
        v[0].weight = 65535;
        assert!(SigningPolicy::new(1, 0, 32768, [0; 32], v).is_ok());
        let mut dup = voters(3, 1);
        dup[2].address = dup[0].address;
        assert_eq!(SigningPolicy::new(1, 0, 1, [0; 32], dup), Err(Error::PolicyDuplicateVoter { index: 2 }));
        assert!(SigningPolicy::new(1 << 24, 0, 1, [0; 32], voters(3, 1)).is_err());
    }

    #[test]
    fn strict_threshold() {
        let p = SigningPolicy::new(1, 0, 50, [0; 32], voters(100, 1)).unwrap();
        assert!(!p.is_satisfied_by(50));
        assert!(p.is_satisfied_by(51));
        assert_eq!(flare_threshold(100), 50);
        assert_eq!(flare_threshold(101), 51);
    }

    #[test]
    fn legacy_hash_chains_chunks() {
        // 65 bytes = chunks c0, c1, c2 (c2 = 1 byte + 31 zero bytes).
        let bytes: Vec<u8> = (0..65u8).collect();
        let mut c2 = [0u8; 32];
        c2[0] = 64;
        let h01 = keccak256(&bytes[..64]);
        assert_eq!(policy_hash(&bytes, PolicyHashScheme::Legacy), keccak256_concat(&[&h01, &c2]));
        // Exactly two chunks: one hash, no padding; shorter inputs pad to two chunks.
        assert_eq!(policy_hash(&bytes[..64], PolicyHashScheme::Legacy), h01);
        let mut padded = [0u8; 64];
        padded[..10].copy_from_slice(&bytes[..10]);
        assert_eq!(policy_hash(&bytes[..10], PolicyHashScheme::Legacy), keccak256(&padded));
    }
}
