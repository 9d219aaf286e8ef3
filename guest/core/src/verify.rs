//! Who signed, and is it enough: signature verification against a signing policy and an
//! instruction's cosigners, with a cache of signer keys and their precomputed tables.
//!
//! Each vote carries an optional, untrusted hint from the proxy: the signer's index (voters
//! first, then cosigners) and the y coordinate of the signature's `R`. With a hint and a cached
//! key a vote joins the batch (see `batch`); otherwise it is recovered like `ecrecover`. Either
//! way the decision equals `ecrecover`'s; a wrong hint can only make the guest refuse.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use k256::elliptic_curve::point::{AffineCoordinates, DecompressPoint};
use k256::elliptic_curve::sec1::FromSec1Point;
use k256::{AffinePoint, Sec1Point};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchItem, BatchScratch, KeyTable, generator_table, verify_batch};
use crate::ecdsa::{ParsedSignature, SIGNATURE_LEN, address_of, verify_exact};
use crate::error::Error;
use crate::hash::H256;
use crate::limits::{MAX_COSIGNERS, MAX_MESSAGE_LEN, MAX_SIGNATURES, MAX_VOTERS};
use crate::policy::{Address, SigningPolicy, Voter};

/// The proxy's untrusted hint for one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerHint {
    /// Index of the signer: `0..voters` names a voter, `voters..voters+cosigners` a cosigner.
    pub signer_index: u16,
    /// The y coordinate of the signature's `R` point (saves the guest a square root).
    #[serde(with = "crate::serde_fixed::option")]
    pub r_y: Option<[u8; 32]>,
}

impl SignerHint {
    /// The hint a proxy computes for a signature it has already attributed to `signer_index`:
    /// the index and the y coordinate of `R` (recovered from `r` and `v`).
    pub fn compute(signature: &[u8; SIGNATURE_LEN], signer_index: u16) -> Result<Self, Error> {
        use k256::elliptic_curve::sec1::ToSec1Point;
        let parsed = ParsedSignature::parse(signature, 0)?;
        let r = r_point(&parsed, signature, None, 0)?;
        let r_y = r.to_sec1_point(false).as_bytes()[33..].try_into().expect("32 bytes");
        Ok(Self { signer_index, r_y: Some(r_y) })
    }
}

/// One signature over an instruction, with the signer's additional variable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// `r ‖ s ‖ v`, v ∈ {0, 1, 27, 28}.
    #[serde(with = "crate::serde_fixed")]
    pub signature: [u8; SIGNATURE_LEN],
    /// The signer's `additionalVariableMessage` (part of what it signed).
    pub additional_variable_message: Vec<u8>,
    /// Optional untrusted hint.
    pub hint: Option<SignerHint>,
}

impl Vote {
    /// Checks the size bound of the variable message.
    pub fn validate(&self) -> Result<(), Error> {
        let len = self.additional_variable_message.len();
        if len > MAX_MESSAGE_LEN {
            return Err(Error::TooLarge { what: "additionalVariableMessage", len, max: MAX_MESSAGE_LEN });
        }
        Ok(())
    }
}

/// The addresses allowed to sign: the policy's voters, then the instruction's cosigners.
#[derive(Debug, Clone, Copy)]
pub struct Candidates<'a> {
    /// The cited policy.
    pub policy: &'a SigningPolicy,
    /// The instruction's cosigners (distinct, at most `MAX_COSIGNERS`).
    pub cosigners: &'a [Address],
}

impl Candidates<'_> {
    fn by_index(&self, i: u16) -> Option<Address> {
        let voters = self.policy.voters();
        let i = usize::from(i);
        match voters.get(i) {
            Some(v) => Some(v.address),
            None => self.cosigners.get(i - voters.len()).copied(),
        }
    }

    fn voter(&self, a: &Address) -> Option<&Voter> {
        self.policy.voter_index(a).map(|i| &self.policy.voters()[usize::from(i)])
    }

    fn contains(&self, a: &Address) -> bool {
        self.voter(a).is_some() || self.cosigners.contains(a)
    }
}

/// The tally of a set of verified signers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Total weight of the voters who signed.
    pub weight: u32,
    /// How many listed cosigners signed.
    pub cosigners: u16,
}

/// Most cached keys of signers who are not voters of a kept policy (cosigners): one
/// instruction's worth.
const MAX_EXTRA_KEYS: usize = MAX_COSIGNERS;
/// Most keys the verifier caches: the voters of the two kept policies (active and previous) and
/// `MAX_EXTRA_KEYS` others. Part of the guest's memory budget (`limits::HEAP_BUDGET`).
pub const MAX_CACHED_KEYS: usize = 2 * MAX_VOTERS + MAX_EXTRA_KEYS;

/// Verifies signatures; owns the key cache and the batch secret.
pub struct Verifier {
    generator: KeyTable,
    batch_secret: [u8; 32],
    keys: BTreeMap<Address, KeyTable>,
    pinned: Vec<Address>,
    scratch: BatchScratch,
}

impl core::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verifier").field("cached_keys", &self.keys.len()).finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier whose batch coefficients are keyed by `batch_secret` (from the TEE's entropy;
    /// it must stay unknown to the proxy and providers).
    pub fn new(batch_secret: [u8; 32]) -> Self {
        Self {
            generator: generator_table(),
            batch_secret,
            keys: BTreeMap::new(),
            pinned: Vec::new(),
            scratch: BatchScratch::default(),
        }
    }

    /// Number of cached keys.
    pub fn cached_keys(&self) -> usize {
        self.keys.len()
    }

    /// Whether the key of `address` is cached.
    pub fn knows(&self, address: &Address) -> bool {
        self.keys.contains_key(address)
    }

    /// The cached public key `x ‖ y` of `address`.
    pub fn public_key(&self, address: &Address) -> Option<[u8; 64]> {
        use k256::elliptic_curve::sec1::ToSec1Point;
        let p = self.keys.get(address)?.key().to_sec1_point(false);
        p.as_bytes()[1..].try_into().ok()
    }

    /// Caches `key` and its tables; returns its address.
    pub fn learn(&mut self, key: &AffinePoint) -> Address {
        let address = address_of(key);
        if !self.keys.contains_key(&address) {
            self.insert(address, KeyTable::new(key));
        }
        address
    }

    /// Caches `keys` (each with its address, which the caller has computed to check it) and
    /// their tables, built together (`KeyTable::build_many`: much cheaper per key than one at a
    /// time), as [`Verifier::learn`] would one after the other.
    pub fn learn_all(&mut self, keys: &[(Address, AffinePoint)]) {
        let mut new: Vec<(Address, AffinePoint)> =
            keys.iter().filter(|(a, _)| !self.keys.contains_key(a)).copied().collect();
        debug_assert!(new.iter().all(|(a, k)| address_of(k) == *a), "each key with its own address");
        new.sort_unstable_by_key(|(a, _)| *a);
        new.dedup_by_key(|(a, _)| *a);
        let points: Vec<AffinePoint> = new.iter().map(|(_, k)| *k).collect();
        for ((address, _), table) in new.into_iter().zip(KeyTable::build_many(&points)) {
            self.insert(address, table);
        }
    }

    fn insert(&mut self, address: Address, table: KeyTable) {
        if self.keys.len() >= self.pinned.len() + MAX_EXTRA_KEYS {
            // Forget the unpinned (cosigner) keys; they are relearned by recovery.
            let pinned = &self.pinned;
            self.keys.retain(|a, _| pinned.binary_search(a).is_ok());
        }
        self.keys.insert(address, table);
    }

    /// Parses an uncompressed `x ‖ y` public key offered by the proxy; it must belong to
    /// `expected`.
    pub fn offered_key(xy: &[u8; 64], expected: &Address) -> Result<AffinePoint, Error> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 4;
        sec1[1..].copy_from_slice(xy);
        let point = Sec1Point::from_bytes(sec1)
            .ok()
            .and_then(|p| Option::<AffinePoint>::from(AffinePoint::from_sec1_point(&p)))
            .ok_or(Error::Malformed { what: "public key" })?;
        if &address_of(&point) != expected {
            return Err(Error::Malformed { what: "public key (does not match the voter address)" });
        }
        Ok(point)
    }

    /// Keeps the keys of `addresses` (the voters of the kept policies) across evictions and drops
    /// cached voter keys of policies no longer kept.
    pub fn pin(&mut self, addresses: impl IntoIterator<Item = Address>) {
        let mut pinned: Vec<Address> = addresses.into_iter().collect();
        pinned.sort_unstable();
        pinned.dedup();
        self.keys.retain(|a, _| pinned.binary_search(a).is_ok());
        self.pinned = pinned;
    }

    /// Determines and verifies the signer of every vote. `digest_of` maps a vote's additional
    /// variable message to the digest it signed. Returns the signer addresses in vote order.
    pub fn signers(
        &mut self,
        votes: &[Vote],
        candidates: Candidates<'_>,
        digest_of: impl Fn(&[u8]) -> H256,
    ) -> Result<Vec<Address>, Error> {
        if votes.len() > MAX_SIGNATURES {
            return Err(Error::TooMany { what: "signatures", count: votes.len(), max: MAX_SIGNATURES });
        }
        if candidates.cosigners.len() > MAX_COSIGNERS {
            return Err(Error::TooMany { what: "cosigners", count: candidates.cosigners.len(), max: MAX_COSIGNERS });
        }
        let mut parsed = Vec::with_capacity(votes.len());
        for (i, v) in votes.iter().enumerate() {
            v.validate()?;
            parsed.push(ParsedSignature::parse(&v.signature, i as u16)?);
        }
        // Most votes carry the same (often empty) variable message: hash each distinct one once.
        let mut digests: Vec<H256> = Vec::with_capacity(votes.len());
        for (i, v) in votes.iter().enumerate() {
            let avm = &v.additional_variable_message;
            let reuse = (0..i).rev().take(4).find(|&j| &votes[j].additional_variable_message == avm);
            digests.push(match reuse {
                Some(j) => digests[j],
                None => digest_of(avm),
            });
        }

        let mut signers: Vec<Option<Address>> = alloc::vec![None; votes.len()];
        // (vote index, R) of the votes that go to the batch.
        let mut fast: Vec<(usize, AffinePoint)> = Vec::new();
        for (i, v) in votes.iter().enumerate() {
            let index = i as u16;
            let Some(hint) = v.hint else { continue };
            let address = candidates.by_index(hint.signer_index).ok_or(Error::BadSignerHint { index })?;
            if !self.keys.contains_key(&address) {
                continue;
            }
            let r_point = r_point(&parsed[i], &v.signature, hint.r_y, index)?;
            signers[i] = Some(address);
            fast.push((i, r_point));
        }
        if !fast.is_empty() {
            let items: Vec<BatchItem<'_>> = fast
                .iter()
                .map(|&(i, r_point)| BatchItem {
                    sig: parsed[i],
                    r_point,
                    key: &self.keys[&signers[i].expect("set above")],
                    digest: digests[i],
                })
                .collect();
            if !verify_batch(&items, &self.generator, &self.batch_secret, &mut self.scratch) {
                return Err(self.diagnose(&fast, &parsed, &digests, &signers, candidates));
            }
        }
        // Everything else: recover, as `ecrecover` does, and cache the keys of allowed signers
        // (those recovered before a refused vote too), all at once: tables are cheaper built
        // together.
        let mut recovered = Vec::new();
        let outcome = recover_rest(votes, &parsed, &digests, candidates, &mut signers, &mut recovered);
        self.learn_all(&recovered);
        outcome?;
        Ok(signers.into_iter().map(|s| s.expect("every vote resolved")).collect())
    }

    /// After a failed batch, finds the first bad vote and says precisely what is wrong with it.
    fn diagnose(
        &self,
        fast: &[(usize, AffinePoint)],
        parsed: &[ParsedSignature],
        digests: &[H256],
        signers: &[Option<Address>],
        candidates: Candidates<'_>,
    ) -> Error {
        for &(i, _) in fast {
            let claimed = signers[i].expect("batched votes have a claimed signer");
            let index = i as u16;
            if verify_exact(&parsed[i], &digests[i], self.keys[&claimed].key()) {
                continue;
            }
            return match parsed[i].recover(&digests[i], index).map(|k| address_of(k.as_affine())) {
                Ok(a) if candidates.contains(&a) => Error::BadSignerHint { index },
                Ok(_) => Error::UnknownSigner { index },
                Err(e) => e,
            };
        }
        // Every vote verified on its own, so the batch can only have failed through a bad `R`
        // hint that passed its checks; refuse rather than guess.
        Error::BadSignerHint { index: fast[0].0 as u16 }
    }
}

/// Recovers the signer of every vote not yet resolved in `signers`, pushing each allowed
/// signer's key to `recovered`; stops at the first vote refused.
fn recover_rest(
    votes: &[Vote],
    parsed: &[ParsedSignature],
    digests: &[H256],
    candidates: Candidates<'_>,
    signers: &mut [Option<Address>],
    recovered: &mut Vec<(Address, AffinePoint)>,
) -> Result<(), Error> {
    for (i, signer) in signers.iter_mut().enumerate() {
        if signer.is_some() {
            continue;
        }
        let index = i as u16;
        let key = parsed[i].recover(&digests[i], index)?;
        let address = address_of(key.as_affine());
        if !candidates.contains(&address) {
            return Err(Error::UnknownSigner { index });
        }
        if let Some(h) = votes[i].hint
            && candidates.by_index(h.signer_index) != Some(address)
        {
            return Err(Error::BadSignerHint { index });
        }
        recovered.push((address, *key.as_affine()));
        *signer = Some(address);
    }
    Ok(())
}

/// The signature's `R`: from the hinted y (checked on the curve and against v's parity) or by
/// decompressing r.
fn r_point(
    sig: &ParsedSignature,
    raw: &[u8; SIGNATURE_LEN],
    r_y: Option<[u8; 32]>,
    index: u16,
) -> Result<AffinePoint, Error> {
    let x: [u8; 32] = raw[..32].try_into().expect("32 bytes");
    let point = match r_y {
        Some(y) => {
            let mut sec1 = [0u8; 65];
            sec1[0] = 4;
            sec1[1..33].copy_from_slice(&x);
            sec1[33..].copy_from_slice(&y);
            let p = Sec1Point::from_bytes(sec1)
                .ok()
                .and_then(|p| Option::<AffinePoint>::from(AffinePoint::from_sec1_point(&p)))
                .ok_or(Error::BadSignerHint { index })?;
            if bool::from(p.y_is_odd()) != sig.y_odd {
                return Err(Error::BadSignerHint { index });
            }
            p
        }
        None => Option::from(AffinePoint::decompress(&x.into(), u8::from(sig.y_odd).into()))
            .ok_or(Error::SignatureInvalid { index })?,
    };
    Ok(point)
}

/// Counts the signers: weights of distinct voters and the number of distinct listed cosigners.
/// A signer may be both. Fails on a repeated signer or one that is neither.
pub fn tally(signers: &[Address], candidates: Candidates<'_>) -> Result<Tally, Error> {
    let mut sorted: Vec<(Address, u16)> = signers.iter().enumerate().map(|(i, a)| (*a, i as u16)).collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::DuplicateSigner { index: w[1].1 });
    }
    let mut t = Tally { weight: 0, cosigners: 0 };
    for (i, s) in signers.iter().enumerate() {
        let index = i as u16;
        let voter = candidates.voter(s);
        let cosigner = candidates.cosigners.contains(s);
        if voter.is_none() && !cosigner {
            return Err(Error::UnknownSigner { index });
        }
        if let Some(v) = voter {
            t.weight += u32::from(v.weight);
        }
        if cosigner {
            t.cosigners += 1;
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ProjectivePoint;

    /// The key cache's bound at its edge: with two policies' voters pinned it holds
    /// `MAX_CACHED_KEYS` tables, and the next unpinned key evicts the unpinned ones first.
    #[test]
    fn the_key_cache_stops_at_max_cached_keys() {
        let point = |i: u64| (ProjectivePoint::GENERATOR * k256::Scalar::from(i + 1)).to_affine();
        let mut v = Verifier::new([1; 32]);
        v.pin((0..2 * MAX_VOTERS as u64).map(|i| address_of(&point(i))));
        for i in 0..MAX_CACHED_KEYS as u64 {
            v.learn(&point(i));
        }
        assert_eq!(v.cached_keys(), MAX_CACHED_KEYS);
        v.learn(&point(MAX_CACHED_KEYS as u64));
        assert_eq!(v.cached_keys(), 2 * MAX_VOTERS + 1, "the unpinned keys went, the new one came");
        assert!(v.knows(&address_of(&point(0))), "pinned voters stay");
    }
}
