//! A TEE's state — everything an operation handler may touch: configuration, identity key,
//! trusted policies, the signature key cache and the replay guard.

use crate::config::Config;
use crate::identity::TeeIdentity;
use crate::light_client::PolicyStore;
use crate::replay::ReplayGuard;
use crate::verify::Verifier;

/// Everything a handler may touch.
pub struct TeeState {
    /// Configuration.
    pub config: Config,
    /// The identity key.
    pub identity: TeeIdentity,
    /// Trusted policies.
    pub policies: PolicyStore,
    /// Signature verification and the key cache.
    pub verifier: Verifier,
    /// Executed instruction ids.
    pub replay: ReplayGuard,
}

impl TeeState {
    /// What evidence taken now on `platform` vouches for: this TEE's key, chain and policies,
    /// the verifier's `challenge`, and `timestamp` (what the asking instruction says).
    pub fn statement(
        &self,
        platform: crate::attester::PlatformKind,
        challenge: &crate::hash::H256,
        timestamp: u64,
    ) -> crate::statement::Statement {
        let state = crate::statement::FccState {
            platform,
            policy_hash: self.policies.scheme(),
            version: alloc::string::String::from(crate::config::VERSION),
        };
        let active = self.policies.active().map(|p| (p.reward_epoch_id(), p.hash(self.policies.scheme())));
        crate::statement::Statement::new(
            self.config.chain_id,
            *challenge,
            *self.identity.public_key(),
            self.policies.initial(),
            active,
            &state,
            timestamp,
        )
    }
}
