//! A TEE's fixed configuration: the chain it serves and how it hashes signing policies.

use crate::policy::PolicyHashScheme;

/// Code version reported in results, greetings and attestation statements.
pub const VERSION: &str = concat!("fcc-core/", env!("CARGO_PKG_VERSION"));

/// Fixed configuration of a TEE (in a confidential guest it is part of the measured image or
/// of the runtime configuration extended into the attestation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The chain whose signatures and results this TEE deals in.
    pub chain_id: u64,
    /// How policy hashes are computed (legacy or chain-bound Relay).
    pub policy_hash: PolicyHashScheme,
}
