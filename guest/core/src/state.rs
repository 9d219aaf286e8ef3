//! A TEE's state — everything an operation handler may touch: configuration, identity key,
//! trusted policies, the signature key cache, the replay guard, wallet keys and the random
//! generator keys are drawn from.

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
    /// Random bits for wallet keys, splits and encryption: ChaCha20 seeded at boot with 32
    /// bytes of the platform's entropy (wiped when dropped).
    pub rng: chacha20::ChaCha20Rng,
    /// Wallet keys and their records.
    pub wallets: crate::wallet::WalletStore,
    /// The governance-signed machine paths wallet keys may move along.
    pub paths: crate::wallet::direct::MachinePaths,
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
        let mut statement = crate::statement::Statement::new(
            self.config.chain_id,
            *challenge,
            *self.identity.public_key(),
            self.policies.initial(),
            active,
            &state,
            timestamp,
        );
        statement.machine_path_list_nonce = self.paths.nonce();
        statement.machine_path_list_hash = self.paths.hash();
        statement
    }

    /// This TEE's registration data on `platform` with launch measurement `measurement`, and its
    /// signature (`statement::MachineData::signing_digest`) — empty unless its operator fixed a
    /// registration and the measurement is known: the TEE signs only for the owner it was given
    /// and only the code it measured.
    pub fn machine_data(
        &self,
        platform: crate::attester::PlatformKind,
        measurement: Option<&[u8; 48]>,
    ) -> (crate::statement::MachineData, alloc::vec::Vec<u8>) {
        let registration = self.config.registration;
        let data = crate::statement::MachineData {
            extension_id: registration.map_or([0; 32], |r| r.extension_id),
            initial_owner: registration.map_or([0; 20], |r| r.owner),
            code_hash: measurement.map_or([0; 32], |m| crate::hash::keccak256(m)),
            platform: platform.id(),
            public_key: *self.identity.public_key(),
            governance_hash: registration.map_or([0; 32], |r| r.governance.hash()),
        };
        let signature = match (registration, measurement) {
            (Some(_), Some(_)) => self.identity.sign_digest(&data.signing_digest(self.config.chain_id)).to_vec(),
            _ => alloc::vec::Vec::new(),
        };
        (data, signature)
    }
}
