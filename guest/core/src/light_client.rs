//! The policy light client: which signing policies the TEE trusts.
//!
//! The first policy is the trust root, set once (`INITIALIZE_POLICY`); it is reported in
//! `TEE_INFO` so data providers check it before voting the TEE into production. After that a
//! policy is accepted only for epoch = active + 1 and only with signatures of the active
//! policy's voters over its hash whose weight is strictly greater than the active threshold
//! (what Flare's `signNewSigningPolicy` produces). Instructions may cite the active or the
//! previous policy, nothing else.

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hash::{H256, eip191_hash};
use crate::limits::MAX_VOTERS;
use crate::policy::{PolicyHashScheme, SigningPolicy};
use crate::verify::{Candidates, Verifier, Vote, tally};

/// A voter's uncompressed public key `x ‖ y`, offered by the proxy so the guest can build its
/// tables before the first instruction (checked against the voter's address). All zero: not
/// offered (no point has those coordinates); that voter's key is recovered from its first
/// signature instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey(#[serde(with = "crate::serde_fixed")] pub [u8; 64]);

/// The payload of `F_POLICY`/`INITIALIZE_POLICY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitializePolicy {
    /// The policy bytes (43 + 22·n).
    pub policy: Vec<u8>,
    /// Either empty or one key per voter, in policy order.
    pub public_keys: Vec<PublicKey>,
}

/// The payload of `F_POLICY`/`UPDATE_POLICY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePolicy {
    /// The new policy bytes.
    pub policy: Vec<u8>,
    /// Signatures of the active policy's voters over the new policy's hash (EIP-191), each
    /// optionally hinted like instruction votes (the variable message must be empty).
    pub signatures: Vec<Vote>,
    /// Either empty or one key per voter of the new policy, in policy order.
    pub public_keys: Vec<PublicKey>,
}

/// The trusted policies.
#[derive(Debug, Clone)]
pub struct PolicyStore {
    scheme: PolicyHashScheme,
    initial: Option<(u32, H256)>,
    active: Option<SigningPolicy>,
    previous: Option<SigningPolicy>,
    /// A resumed TEE's sealed trust root and epoch (see `seal`): the only trust root it accepts,
    /// and the epoch below which it serves no instruction.
    sealed: Option<((u32, H256), u32)>,
}

fn learn_keys(verifier: &mut Verifier, policy: &SigningPolicy, keys: &[PublicKey]) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    if keys.len() != policy.voters().len() {
        return Err(Error::Malformed { what: "public keys (one per voter expected)" });
    }
    let points: Vec<_> = keys
        .iter()
        .zip(policy.voters())
        .filter(|(k, _)| k.0 != [0; 64])
        .map(|(k, v)| Verifier::offered_key(&k.0, &v.address).map(|point| (v.address, point)))
        .collect::<Result<_, _>>()?;
    verifier.learn_all(&points);
    Ok(())
}

impl PolicyStore {
    /// An empty store that hashes policies with `scheme`.
    pub fn new(scheme: PolicyHashScheme) -> Self {
        Self { scheme, initial: None, active: None, previous: None, sealed: None }
    }

    /// A store for a TEE resumed from sealed state: it accepts only `trust_root` as its trust
    /// root and serves instructions only once the active epoch is back at `epoch`.
    pub fn resumed(scheme: PolicyHashScheme, trust_root: (u32, H256), epoch: u32) -> Self {
        Self { sealed: Some((trust_root, epoch)), ..Self::new(scheme) }
    }

    /// The sealed (trust root, epoch) this store was resumed with.
    pub fn sealed(&self) -> Option<((u32, H256), u32)> {
        self.sealed
    }

    /// The hash scheme in use.
    pub fn scheme(&self) -> PolicyHashScheme {
        self.scheme
    }

    /// The trust root: (reward epoch, policy hash).
    pub fn initial(&self) -> Option<(u32, H256)> {
        self.initial
    }

    /// The active policy.
    pub fn active(&self) -> Option<&SigningPolicy> {
        self.active.as_ref()
    }

    /// Sets the trust root. Fails if one is set already.
    pub fn initialize(&mut self, msg: &InitializePolicy, verifier: &mut Verifier) -> Result<&SigningPolicy, Error> {
        if self.initial.is_some() {
            return Err(Error::PolicyAlreadyInitialized);
        }
        check_key_count(&msg.public_keys)?;
        let policy = SigningPolicy::decode(&msg.policy)?;
        let root = (policy.reward_epoch_id(), policy.hash(self.scheme));
        if self.sealed.is_some_and(|(sealed, _)| sealed != root) {
            return Err(Error::PolicyRootMismatch);
        }
        // Pin before learning: the cache evicts unpinned keys once it holds `MAX_EXTRA_KEYS`
        // of them, which would drop most keys of a policy with more voters than that.
        verifier.pin(policy.voters().iter().map(|v| v.address));
        learn_keys(verifier, &policy, &msg.public_keys)?;
        self.initial = Some(root);
        Ok(self.active.insert(policy))
    }

    /// Moves to the next epoch's policy if the active voters signed it with enough weight.
    pub fn update(&mut self, msg: &UpdatePolicy, verifier: &mut Verifier) -> Result<&SigningPolicy, Error> {
        let active = self.active.as_ref().ok_or(Error::PolicyNotInitialized)?;
        check_key_count(&msg.public_keys)?;
        let policy = SigningPolicy::decode(&msg.policy)?;
        let (active_epoch, got) = (active.reward_epoch_id(), policy.reward_epoch_id());
        if got > active_epoch.saturating_add(1) {
            return Err(Error::PolicyUpdateGap { active: active_epoch, got });
        }
        if got != active_epoch + 1 {
            return Err(Error::PolicyEpochNotNext { active: active_epoch, got });
        }
        if msg.signatures.iter().any(|v| !v.additional_variable_message.is_empty()) {
            return Err(Error::Malformed { what: "policy signature (variable message must be empty)" });
        }
        let digest = eip191_hash(&policy.hash(self.scheme));
        let candidates = Candidates { policy: active, cosigners: &[] };
        let signers = verifier.signers(&msg.signatures, candidates, |_| digest)?;
        let weight = tally(&signers, candidates)?.weight;
        if !active.is_satisfied_by(weight) {
            return Err(Error::InsufficientWeight { weight, threshold: u32::from(active.threshold()) });
        }
        // Pin the voters of the policies kept after the update before learning the new keys (see
        // `initialize`): the retired policy's tables go first, so at most two policies' tables
        // (`MAX_CACHED_KEYS`) are ever held. Should the keys be refused, the previous policy is
        // still trusted, its keys relearned by recovery when used.
        verifier.pin(active.voters().iter().chain(policy.voters()).map(|v| v.address));
        learn_keys(verifier, &policy, &msg.public_keys)?;
        self.previous = self.active.replace(policy);
        Ok(self.active.as_ref().expect("just set"))
    }

    /// The policy an instruction citing `reward_epoch_id` must be signed under: the active or the
    /// previous one. A resumed TEE answers none until it is back at its sealed epoch.
    pub fn policy_for(&self, reward_epoch_id: u32) -> Result<&SigningPolicy, Error> {
        let active = self.active.as_ref().ok_or(Error::PolicyNotInitialized)?;
        if let Some((_, sealed)) = self.sealed
            && active.reward_epoch_id() < sealed
        {
            return Err(Error::PolicyBelowSealed { active: active.reward_epoch_id(), sealed });
        }
        if active.reward_epoch_id() == reward_epoch_id {
            return Ok(active);
        }
        match &self.previous {
            Some(p) if p.reward_epoch_id() == reward_epoch_id => Ok(p),
            _ if reward_epoch_id > active.reward_epoch_id() => {
                Err(Error::PolicyEpochAhead { active: active.reward_epoch_id(), got: reward_epoch_id })
            }
            _ => Err(Error::PolicyEpochUnknown { active: active.reward_epoch_id(), got: reward_epoch_id }),
        }
    }

    /// The reward epochs instructions may cite now (previous, active).
    pub fn accepted_epochs(&self) -> (Option<u32>, Option<u32>) {
        (
            self.previous.as_ref().map(SigningPolicy::reward_epoch_id),
            self.active.as_ref().map(SigningPolicy::reward_epoch_id),
        )
    }
}

fn check_key_count(keys: &[PublicKey]) -> Result<(), Error> {
    if keys.len() > MAX_VOTERS {
        return Err(Error::TooMany { what: "public keys", count: keys.len(), max: MAX_VOTERS });
    }
    Ok(())
}
