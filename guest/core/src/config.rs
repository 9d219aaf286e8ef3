//! A TEE's fixed configuration: the chain it serves and how it hashes signing policies.

use crate::hash::H256;
use crate::policy::{Address, PolicyHashScheme};

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
    /// For whom the TEE signs its registration data; `None`: it signs none.
    pub registration: Option<Registration>,
}

/// The extension and owner a TEE's operator fixed at boot: the TEE signs registration data
/// (`statement::MachineData`) only for these, so nobody reaching its proxy can have it signed
/// for another owner and register (or squat) its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    /// The extension id (`uint256`, big-endian).
    pub extension_id: H256,
    /// The owner: who may call `register` (non-zero).
    pub owner: Address,
}
