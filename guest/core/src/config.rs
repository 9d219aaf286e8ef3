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
    /// Who may set the machine paths wallet keys move along (`Governance::NONE`: nobody).
    pub governance: Governance,
}

pub use crate::limits::MAX_GOVERNANCE_SIGNERS;

/// The extension's governance as the TEE's operator fixed it at boot (tee-node's
/// `GOVERNANCE_SIGNERS` / `GOVERNANCE_THRESHOLD`): `threshold` distinct signers of the list must
/// sign a machine path list. Committed in the registration data as `governanceHash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Governance {
    signers: [Address; MAX_GOVERNANCE_SIGNERS],
    count: u8,
    threshold: u8,
}

impl Governance {
    /// No governance: no machine path list is ever accepted; `governanceHash` is zero.
    pub const NONE: Self = Self { signers: [[0; 20]; MAX_GOVERNANCE_SIGNERS], count: 0, threshold: 0 };

    /// `signers` (distinct, non-zero, at most `MAX_GOVERNANCE_SIGNERS`) of whom `threshold`
    /// (1 ..= count) must sign.
    pub fn new(signers: &[Address], threshold: u8) -> Result<Self, crate::error::Error> {
        use crate::error::Error;
        if signers.is_empty() || signers.len() > MAX_GOVERNANCE_SIGNERS {
            return Err(Error::TooMany {
                what: "governance signers",
                count: signers.len(),
                max: MAX_GOVERNANCE_SIGNERS,
            });
        }
        if threshold == 0 || usize::from(threshold) > signers.len() {
            return Err(Error::OperationFailed { reason: "governance threshold must be in 1..=signers" });
        }
        if signers.contains(&[0; 20]) {
            return Err(Error::OperationFailed { reason: "a governance signer is the zero address" });
        }
        let mut g = Self::NONE;
        for (i, a) in signers.iter().enumerate() {
            if signers[..i].contains(a) {
                return Err(Error::OperationFailed { reason: "a governance signer is listed twice" });
            }
            g.signers[i] = *a;
        }
        g.count = signers.len() as u8;
        g.threshold = threshold;
        Ok(g)
    }

    /// The signers.
    pub fn signers(&self) -> &[Address] {
        &self.signers[..usize::from(self.count)]
    }

    /// Distinct signers needed.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// Whether any governance is set.
    pub fn is_set(&self) -> bool {
        self.count > 0
    }

    /// tee-node's `GovernanceHash`: `keccak256(abi.encode(address[] signers, uint256 threshold))`,
    /// zero without governance.
    pub fn hash(&self) -> H256 {
        if !self.is_set() {
            return [0; 32];
        }
        use crate::abi::{self, Token};
        crate::hash::keccak256(&abi::encode_tuple(&[
            Token::Addresses(self.signers()),
            Token::Word(abi::uint(u64::from(self.threshold))),
        ]))
    }
}
