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
