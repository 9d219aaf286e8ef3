//! What attestation evidence vouches for: the TEE's **statement** — Flare's `Attestation` struct
//! (go-flare-common `pkg/tee/structs/tee`, tee-node `pkg/types/tee.go` `TeeInfo.Hash`), filled
//! with this TEE's state — and the REPORT_DATA made of it (docs/PROTOCOL.md §7).
//!
//! ```text
//! Attestation = (uint256 chainId, bytes32 challenge, (bytes32 x, bytes32 y) publicKey,
//!                uint32 initialSigningPolicyId, bytes32 initialSigningPolicyHash,
//!                uint32 lastSigningPolicyId, bytes32 lastSigningPolicyHash,
//!                (bytes systemState, bytes32 systemStateVersion, bytes state, bytes32 stateVersion) state,
//!                uint64 teeTimestamp, uint256 machinePathListNonce, bytes32 machinePathListHash)
//! REPORT_DATA = keccak256(abi.encode(Attestation)) ‖ bytes32("FCC_ATTESTATION_V1")
//! ```
//!
//! Flare leaves `state` empty; ours carries what a verifier must also know and Flare's struct
//! has no field for: `stateVersion = bytes32("FCC_STATE_V1")`, `state = abi.encode((bytes32
//! platform, bytes32 policyHashScheme, uint256 policyHashChainId, bytes version))`
//! ([`FccState`]; the chain id is 0 for the legacy scheme). `teeTimestamp` is the
//! signed `timestamp` of the instruction that asked (0 when none did): the guest has no clock it
//! can trust. The machine-path list does not exist yet: nonce 0, hash zero.
//!
//! The TEE also signs its registration data, [`MachineData`] (Flare's `TeeMachineData`): the
//! extension and owner its operator fixed at boot, the code and platform it measured, its key.
//!
//! ```text
//! TeeMachineData = (uint256 extensionId, address initialOwner, bytes32 codeHash, bytes32 platform,
//!                   (bytes32 x, bytes32 y) publicKey, bytes32 governanceHash)
//! signed: EIP-191(keccak(abi.encode(bytes32("TEE_MACHINE_REGISTER"), chainId,
//!                                   keccak(abi.encode(TeeMachineData)))))
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::abi::{self, Token};
use crate::attester::PlatformKind;
use crate::hash::{H256, keccak256};
use crate::op;
use crate::policy::{Address, PolicyHashScheme};

/// The second half of REPORT_DATA: which statement format the first half hashes.
pub const REPORT_DATA_DOMAIN: H256 = op::name("FCC_ATTESTATION_V1");
/// `stateVersion` of [`FccState`].
pub const STATE_VERSION: H256 = op::name("FCC_STATE_V1");
/// Domain of the registration signature (Flare's `TEE_MACHINE_REGISTER`).
pub const PREFIX_TEE_MACHINE_REGISTER: H256 = op::name("TEE_MACHINE_REGISTER");

/// What the TEE signs to be registered (Flare's `IMachineManager.TeeMachineData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineData {
    /// The extension, as its operator fixed it (`uint256`, big-endian).
    pub extension_id: H256,
    /// Who may register it, as its operator fixed it (zero when unset: nothing is signed then).
    pub initial_owner: Address,
    /// keccak256 of the 48-byte launch measurement the platform reports (zero when unknown).
    pub code_hash: H256,
    /// The platform's `bytes32` name.
    pub platform: H256,
    /// The TEE key `x ‖ y`.
    #[serde(with = "crate::serde_fixed")]
    pub public_key: [u8; 64],
    /// The governance the TEE's operator fixed (`config::Governance::hash`; zero: none).
    pub governance_hash: H256,
}

impl MachineData {
    /// The seven words of `abi.encode(TeeMachineData)` (a static struct: no offset).
    pub fn words(&self) -> [H256; 7] {
        [
            self.extension_id,
            abi::address(&self.initial_owner),
            self.code_hash,
            self.platform,
            self.public_key[..32].try_into().expect("32 bytes"),
            self.public_key[32..].try_into().expect("32 bytes"),
            self.governance_hash,
        ]
    }

    /// `keccak256(abi.encode(TeeMachineData))`.
    pub fn hash(&self) -> H256 {
        let words = self.words();
        let parts: [&[u8]; 7] = words.each_ref().map(|w| &w[..]);
        crate::hash::keccak256_concat(&parts)
    }

    /// What the TEE signs: EIP-191 over `Payload{TEE_MACHINE_REGISTER, chainId, hash}`, as
    /// Flare's `MachineManagerFacet.register` recovers it.
    pub fn signing_digest(&self, chain_id: u64) -> H256 {
        crate::hash::eip191_hash(&crate::instruction::payload_hash(
            &PREFIX_TEE_MACHINE_REGISTER,
            chain_id,
            &self.hash(),
        ))
    }
}

/// Flare's `Attestation`, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// The chain the TEE serves.
    pub chain_id: u64,
    /// The verifier's challenge (zero for the boot-time greeting).
    pub challenge: H256,
    /// The TEE key `x ‖ y`.
    #[serde(with = "crate::serde_fixed")]
    pub public_key: [u8; 64],
    /// The trust root: (epoch, policy hash), zero when none is set.
    pub initial_policy: (u32, H256),
    /// The active policy: (epoch, policy hash), zero when none is set.
    pub last_policy: (u32, H256),
    /// `state.systemState` (empty: Flare's contracts accept no other without a state verifier).
    pub system_state: Vec<u8>,
    /// `state.systemStateVersion`.
    pub system_state_version: H256,
    /// `state.state`: [`FccState`] encoded.
    pub state: Vec<u8>,
    /// `state.stateVersion`: [`STATE_VERSION`].
    pub state_version: H256,
    /// When, as the asking instruction says (0 when nothing signed said).
    pub tee_timestamp: u64,
    /// The machine-path list's nonce (0: none).
    pub machine_path_list_nonce: u64,
    /// Its hash (zero: none).
    pub machine_path_list_hash: H256,
}

/// What [`Statement::state`] says: the platform the guest runs on, the policy hash scheme its
/// light client uses (a verifier must check it is the Relay's) and its code version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FccState {
    /// The platform.
    pub platform: PlatformKind,
    /// The policy hash scheme.
    pub policy_hash: PolicyHashScheme,
    /// The code version string.
    pub version: String,
}

impl FccState {
    /// `abi.encode((bytes32 platform, bytes32 policyHashScheme, uint256 policyHashChainId,
    /// bytes version))`.
    pub fn encode(&self) -> Vec<u8> {
        let scheme_chain = match self.policy_hash {
            PolicyHashScheme::ChainBound { chain_id } => chain_id,
            PolicyHashScheme::Legacy => 0,
        };
        abi::encode_dynamic_struct(&[
            Token::Word(self.platform.id()),
            Token::Word(self.policy_hash.id()),
            Token::Word(abi::uint(scheme_chain)),
            Token::Bytes(self.version.as_bytes()),
        ])
    }
}

impl Statement {
    /// A statement of `state` with the policies as given, no system state and no machine paths.
    pub fn new(
        chain_id: u64,
        challenge: H256,
        public_key: [u8; 64],
        initial_policy: Option<(u32, H256)>,
        last_policy: Option<(u32, H256)>,
        state: &FccState,
        tee_timestamp: u64,
    ) -> Self {
        Self {
            chain_id,
            challenge,
            public_key,
            initial_policy: initial_policy.unwrap_or((0, [0; 32])),
            last_policy: last_policy.unwrap_or((0, [0; 32])),
            system_state: Vec::new(),
            system_state_version: [0; 32],
            state: state.encode(),
            state_version: STATE_VERSION,
            tee_timestamp,
            machine_path_list_nonce: 0,
            machine_path_list_hash: [0; 32],
        }
    }

    fn with_tokens<R>(&self, f: impl FnOnce(&[Token<'_>]) -> R) -> R {
        let state = [
            Token::Bytes(&self.system_state),
            Token::Word(self.system_state_version),
            Token::Bytes(&self.state),
            Token::Word(self.state_version),
        ];
        f(&[
            Token::Word(abi::uint(self.chain_id)),
            Token::Word(self.challenge),
            Token::Word(self.public_key[..32].try_into().expect("32 bytes")),
            Token::Word(self.public_key[32..].try_into().expect("32 bytes")),
            Token::Word(abi::uint(u64::from(self.initial_policy.0))),
            Token::Word(self.initial_policy.1),
            Token::Word(abi::uint(u64::from(self.last_policy.0))),
            Token::Word(self.last_policy.1),
            Token::Tuple(&state),
            Token::Word(abi::uint(self.tee_timestamp)),
            Token::Word(abi::uint(self.machine_path_list_nonce)),
            Token::Word(self.machine_path_list_hash),
        ])
    }

    /// `abi.encode(Attestation)`.
    pub fn encode(&self) -> Vec<u8> {
        self.with_tokens(abi::encode_dynamic_struct)
    }

    /// `keccak256(abi.encode(Attestation))`: Flare's attestation nonce.
    pub fn hash(&self) -> H256 {
        keccak256(&self.encode())
    }

    /// The REPORT_DATA (SEV-SNP) / REPORTDATA (TDX) binding this statement.
    pub fn report_data(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.hash());
        out[32..].copy_from_slice(&REPORT_DATA_DOMAIN);
        out
    }

    /// The TEE id: the public key's address.
    pub fn tee_id(&self) -> crate::policy::Address {
        keccak256(&self.public_key)[12..].try_into().expect("20 bytes")
    }

    /// `abi.encode((Attestation teeInfo, TeeMachineData machineData, bytes dataSignature, bytes
    /// evidence))`: what `TEE_INFO` and `TEE_ATTESTATION` return (Flare's `TeeInfoResponse`, field
    /// for field; `dataSignature` is empty when the TEE signs no registration).
    pub fn encode_answer(&self, machine: &MachineData, data_signature: &[u8], evidence: &[u8]) -> Vec<u8> {
        let words = machine.words();
        self.with_tokens(|tokens| {
            let mut answer = alloc::vec![Token::Tuple(tokens)];
            // A static struct is encoded in place: its words.
            answer.extend(words.iter().map(|w| Token::Word(*w)));
            answer.push(Token::Bytes(data_signature));
            answer.push(Token::Bytes(evidence));
            abi::encode_dynamic_struct(&answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement {
        let state = FccState {
            platform: PlatformKind::SevSnp,
            policy_hash: PolicyHashScheme::ChainBound { chain_id: 14 },
            version: String::from("fcc-core/0.1.0"),
        };
        Statement::new(14, [7; 32], [9; 64], Some((5, [1; 32])), Some((6, [2; 32])), &state, 1_700_000_000)
    }

    #[test]
    fn report_data_is_the_hash_and_the_domain() {
        let s = statement();
        let rd = s.report_data();
        assert_eq!(rd[..32], s.hash());
        assert_eq!(&rd[32..50], b"FCC_ATTESTATION_V1");
        // Every field is bound.
        let mut other = s.clone();
        other.last_policy.1[0] ^= 1;
        assert_ne!(other.hash(), s.hash());
        let mut other = s.clone();
        other.state = FccState {
            platform: PlatformKind::SevSnp,
            policy_hash: PolicyHashScheme::Legacy,
            version: "fcc-core/0.1.0".into(),
        }
        .encode();
        assert_ne!(other.hash(), s.hash());
    }

    #[test]
    fn the_encoding_starts_with_the_offset_and_nests_the_state_tuple() {
        let enc = statement().encode();
        assert_eq!(enc[31], 0x20);
        // Twelve head words; the state tuple's offset (word 8 of the head) points past them.
        let at = 32 + 8 * 32;
        assert_eq!(u16::from_be_bytes([enc[at + 30], enc[at + 31]]), 12 * 32);
        assert_eq!(enc.len() % 32, 0);
    }
}
