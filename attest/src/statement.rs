//! The TEE's attestation statement as verifiers receive it: `TEE_INFO` / `TEE_ATTESTATION`
//! result data (Flare's `TeeInfoResponse`: `abi.encode((Attestation teeInfo, TeeMachineData
//! machineData, bytes dataSignature, bytes evidence))`) and a bare `abi.encode(Attestation)`,
//! decoded with alloy's ABI decoder (not the guest's encoder, so the two check each other), our
//! `state` read back (`fcc_core::statement`) and the registration signature recovered with alloy.

use alloy_sol_types::{SolValue, sol};
use fcc_core::attester::PlatformKind;
use fcc_core::policy::PolicyHashScheme;
pub use fcc_core::statement::{FccState, MachineData, STATE_VERSION, Statement};

sol! {
    /// Flare's `TeeState` inside `Attestation`.
    struct AbiTeeState {
        bytes systemState;
        bytes32 systemStateVersion;
        bytes state;
        bytes32 stateVersion;
    }

    /// `x ‖ y`.
    struct AbiPublicKey {
        bytes32 x;
        bytes32 y;
    }

    /// Flare's `Attestation` (go-flare-common `pkg/tee/structs/tee`).
    struct AbiAttestation {
        uint256 chainId;
        bytes32 challenge;
        AbiPublicKey publicKey;
        uint32 initialSigningPolicyId;
        bytes32 initialSigningPolicyHash;
        uint32 lastSigningPolicyId;
        bytes32 lastSigningPolicyHash;
        AbiTeeState state;
        uint64 teeTimestamp;
        uint256 machinePathListNonce;
        bytes32 machinePathListHash;
    }

    /// Flare's `IMachineManager.TeeMachineData`.
    struct AbiTeeMachineData {
        uint256 extensionId;
        address initialOwner;
        bytes32 codeHash;
        bytes32 platform;
        AbiPublicKey publicKey;
        bytes32 governanceHash;
    }

    /// What `TEE_INFO` and `TEE_ATTESTATION` return (Flare's `TeeInfoResponse`).
    struct AbiTeeInfo {
        AbiAttestation teeInfo;
        AbiTeeMachineData machineData;
        bytes dataSignature;
        bytes evidence;
    }

    /// Our `state`.
    struct AbiFccState {
        bytes32 platform;
        bytes32 policyHashScheme;
        uint256 policyHashChainId;
        bytes version;
    }
}

/// Why bytes are not a statement we can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not the ABI encoding (alloy refused it).
    #[error("not an ABI-encoded {what}: {reason}")]
    Abi {
        /// What was expected.
        what: &'static str,
        /// alloy's reason.
        reason: String,
    },
    /// Decodes, but does not re-encode to the same bytes (non-canonical: another hash).
    #[error("{0} is not in canonical ABI form")]
    NotCanonical(&'static str),
    /// A number out of our range.
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// `stateVersion` is not `FCC_STATE_V1`, or `state` is not ours.
    #[error("the statement's state is not FCC_STATE_V1: {0}")]
    NotOurState(String),
}

fn small(v: alloy_primitives::U256, what: &'static str) -> Result<u64, StatementError> {
    u64::try_from(v).map_err(|_| StatementError::OutOfRange(what))
}

fn from_abi(a: AbiAttestation) -> Result<Statement, StatementError> {
    let mut public_key = [0u8; 64];
    public_key[..32].copy_from_slice(a.publicKey.x.as_slice());
    public_key[32..].copy_from_slice(a.publicKey.y.as_slice());
    Ok(Statement {
        chain_id: small(a.chainId, "chainId")?,
        challenge: a.challenge.0,
        public_key,
        initial_policy: (a.initialSigningPolicyId, a.initialSigningPolicyHash.0),
        last_policy: (a.lastSigningPolicyId, a.lastSigningPolicyHash.0),
        system_state: a.state.systemState.to_vec(),
        system_state_version: a.state.systemStateVersion.0,
        state: a.state.state.to_vec(),
        state_version: a.state.stateVersion.0,
        tee_timestamp: a.teeTimestamp,
        machine_path_list_nonce: small(a.machinePathListNonce, "machinePathListNonce")?,
        machine_path_list_hash: a.machinePathListHash.0,
    })
}

/// `abi.encode(Attestation)` → the statement (canonical encodings only).
pub fn decode_statement(bytes: &[u8]) -> Result<Statement, StatementError> {
    let a = AbiAttestation::abi_decode(bytes)
        .map_err(|e| StatementError::Abi { what: "Attestation", reason: e.to_string() })?;
    let s = from_abi(a)?;
    if s.encode() != bytes {
        return Err(StatementError::NotCanonical("Attestation"));
    }
    Ok(s)
}

/// A decoded `TEE_INFO` / `TEE_ATTESTATION` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeeInfo {
    /// What the evidence binds.
    pub statement: Statement,
    /// The registration data.
    pub machine: MachineData,
    /// The TEE's signature over it (65 bytes `r ‖ s ‖ v`), empty when it signs none.
    pub data_signature: Vec<u8>,
    /// The platform's evidence.
    pub evidence: Vec<u8>,
}

impl TeeInfo {
    /// Who signed the registration data for `chain_id` (recovered with alloy), `None` when
    /// unsigned or not a recoverable signature.
    pub fn registration_signer(&self, chain_id: u64) -> Option<alloy_primitives::Address> {
        let bytes: &[u8; 65] = self.data_signature.as_slice().try_into().ok()?;
        let signature = alloy_primitives::Signature::from_raw_array(bytes).ok()?;
        let digest = self.machine.signing_digest(chain_id);
        signature.recover_address_from_prehash(&digest.into()).ok()
    }
}

/// `TEE_INFO` / `TEE_ATTESTATION` result data → [`TeeInfo`] (canonical only).
pub fn decode_tee_info(bytes: &[u8]) -> Result<TeeInfo, StatementError> {
    let t =
        AbiTeeInfo::abi_decode(bytes).map_err(|e| StatementError::Abi { what: "TeeInfo", reason: e.to_string() })?;
    let m = &t.machineData;
    let mut public_key = [0u8; 64];
    public_key[..32].copy_from_slice(m.publicKey.x.as_slice());
    public_key[32..].copy_from_slice(m.publicKey.y.as_slice());
    let machine = MachineData {
        extension_id: m.extensionId.to_be_bytes(),
        initial_owner: m.initialOwner.0.0,
        code_hash: m.codeHash.0,
        platform: m.platform.0,
        public_key,
        governance_hash: m.governanceHash.0,
    };
    let info = TeeInfo {
        statement: from_abi(t.teeInfo)?,
        machine,
        data_signature: t.dataSignature.to_vec(),
        evidence: t.evidence.to_vec(),
    };
    if info.statement.encode_answer(&info.machine, &info.data_signature, &info.evidence) != bytes {
        return Err(StatementError::NotCanonical("TeeInfo"));
    }
    Ok(info)
}

/// Our `state` of a statement: platform, policy hash scheme, version.
pub fn fcc_state(s: &Statement) -> Result<FccState, StatementError> {
    if s.state_version != STATE_VERSION {
        return Err(StatementError::NotOurState(format!("stateVersion 0x{}", hex::encode(s.state_version))));
    }
    let a = AbiFccState::abi_decode(&s.state).map_err(|e| StatementError::NotOurState(e.to_string()))?;
    let platform = [PlatformKind::Plain, PlatformKind::SevSnp, PlatformKind::Tdx]
        .into_iter()
        .find(|p| p.id() == a.platform.0)
        .ok_or_else(|| StatementError::NotOurState(format!("platform 0x{}", hex::encode(a.platform))))?;
    let chain = small(a.policyHashChainId, "policyHashChainId")?;
    let policy_hash = if a.policyHashScheme.0 == PolicyHashScheme::Legacy.id() && chain == 0 {
        PolicyHashScheme::Legacy
    } else if a.policyHashScheme.0 == (PolicyHashScheme::ChainBound { chain_id: chain }).id() {
        PolicyHashScheme::ChainBound { chain_id: chain }
    } else {
        return Err(StatementError::NotOurState(format!("policy hash scheme 0x{}", hex::encode(a.policyHashScheme))));
    };
    let version = String::from_utf8(a.version.to_vec()).map_err(|_| StatementError::NotOurState("version".into()))?;
    let state = FccState { platform, policy_hash, version };
    if state.encode() != s.state {
        return Err(StatementError::NotCanonical("state"));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(scheme: PolicyHashScheme) -> Statement {
        let state = FccState { platform: PlatformKind::Tdx, policy_hash: scheme, version: "fcc-core/9".into() };
        Statement::new(14, [1; 32], [2; 64], Some((3, [4; 32])), Some((5, [6; 32])), &state, 77)
    }

    #[test]
    fn the_guests_encodings_decode_back_and_nothing_else_does() {
        for scheme in [PolicyHashScheme::Legacy, PolicyHashScheme::ChainBound { chain_id: 19 }] {
            let s = statement(scheme);
            assert_eq!(decode_statement(&s.encode()).unwrap(), s);
            let machine = MachineData {
                extension_id: [3; 32],
                initial_owner: [4; 20],
                code_hash: [5; 32],
                platform: PlatformKind::Tdx.id(),
                public_key: [2; 64],
                governance_hash: [0; 32],
            };
            let info = decode_tee_info(&s.encode_answer(&machine, &[9; 65], b"evidence")).unwrap();
            assert_eq!(
                info,
                TeeInfo {
                    statement: s.clone(),
                    machine: machine.clone(),
                    data_signature: vec![9; 65],
                    evidence: b"evidence".to_vec()
                }
            );
            assert_eq!(fcc_state(&s).unwrap().policy_hash, scheme);
            assert_eq!(fcc_state(&s).unwrap().platform, PlatformKind::Tdx);
        }
        let s = statement(PolicyHashScheme::Legacy);
        // Trailing bytes, a truncated encoding, a dirty high byte: refused.
        let mut long = s.encode();
        long.extend_from_slice(&[0; 32]);
        assert!(decode_statement(&long).is_err());
        assert!(decode_statement(&s.encode()[..100]).is_err());
        let mut dirty = s.encode();
        dirty[32 + 4 * 32 + 27] = 1; // initialSigningPolicyId is a uint32
        assert!(decode_statement(&dirty).is_err());
        // Not our state: another version tag, another platform name.
        let mut other = s.clone();
        other.state_version = [0; 32];
        assert!(matches!(fcc_state(&other), Err(StatementError::NotOurState(_))));
        let mut other = s.clone();
        other.state[32 + 5] ^= 1;
        assert!(matches!(fcc_state(&other), Err(StatementError::NotOurState(_))));
    }
}
