//! What the TEE attests about itself: `F_GET/TEE_INFO` (a direct action) and
//! `F_REG/TEE_ATTESTATION` (an instruction the machine registry sends with a challenge drawn on
//! chain). Both answer Flare's `TeeInfoResponse` ABI-encoded, `abi.encode((Attestation teeInfo,
//! TeeMachineData machineData, bytes dataSignature, bytes evidence))`: the statement
//! (`crate::statement`, Flare's `Attestation`), the registration data and the TEE's signature
//! over it (empty when its operator fixed no owner), and fresh evidence whose REPORT_DATA binds
//! the statement.
//!
//! `TEE_INFO` message: empty, or a 32-byte challenge; `teeTimestamp` 0 (nobody signed a time).
//! `TEE_ATTESTATION` message: Flare's `abi.encode(TeeAttestation)`,
//! `((address teeId, address initialTeeId, string url, bytes32 codeHash, bytes32 platform)
//! teeMachine, bytes32 challenge)`; the TEE must be `teeId` and the challenge non-zero;
//! `teeTimestamp` is the instruction's signed `timestamp`.

use alloc::vec::Vec;

use crate::abi::Reader;
use crate::action::Action;
use crate::attester::Attester;
use crate::error::Error;
use crate::hash::H256;
use crate::limits::{MAX_ATTESTATION_LEN, MAX_URL_LEN};
use crate::policy::Address;
use crate::state::TeeState;

/// The statement of `state` for `challenge` at `timestamp`, with evidence binding it and the
/// signed registration data.
fn attest(state: &TeeState, attester: &mut dyn Attester, challenge: &H256, timestamp: u64) -> Result<Vec<u8>, Error> {
    let statement = state.statement(attester.kind(), challenge, timestamp);
    let evidence = attester.attest(&statement.report_data())?;
    if evidence.len() > MAX_ATTESTATION_LEN {
        return Err(Error::TooLarge { what: "attestation", len: evidence.len(), max: MAX_ATTESTATION_LEN });
    }
    let measurement = attester.measurement();
    let (machine, signature) = state.machine_data(attester.kind(), measurement.as_ref());
    Ok(statement.encode_answer(&machine, &signature, &evidence))
}

/// `TEE_INFO`.
pub fn tee_info(
    state: &mut TeeState,
    action: &Action,
    attester: &mut dyn Attester,
) -> Result<crate::result::Output, Error> {
    let msg = &action.instruction.original_message;
    let challenge: [u8; 32] = match msg.len() {
        0 => [0; 32],
        32 => msg[..].try_into().expect("32 bytes"),
        _ => return Err(Error::Malformed { what: "TEE_INFO challenge (0 or 32 bytes)" }),
    };
    attest(state, attester, &challenge, 0).map(Into::into)
}

/// Flare's `TeeAttestation` request, as far as the TEE reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRequest<'a> {
    /// The machine asked.
    pub tee_id: Address,
    /// The machine it was restored from (zero when none).
    pub initial_tee_id: Address,
    /// Its proxy's URL.
    pub url: &'a [u8],
    /// The registered code hash.
    pub code_hash: H256,
    /// The registered platform.
    pub platform: H256,
    /// The registry's challenge.
    pub challenge: H256,
}

/// Decodes `abi.encode(TeeAttestation)` strictly (canonical offsets, zero padding, no trailing
/// bytes, a URL of at most `MAX_URL_LEN`).
pub fn decode_attestation_request(bytes: &[u8]) -> Result<AttestationRequest<'_>, Error> {
    const WHAT: &str = "TEE_ATTESTATION request";
    let r = Reader::new(bytes, WHAT);
    // The outer offset, then (offset of teeMachine, challenge), then teeMachine's five words.
    if r.uint(0, 32)? != 32 || r.uint(32, 32)? != 64 {
        return Err(Error::Malformed { what: WHAT });
    }
    let challenge = *r.word(64)?;
    let m = 96;
    let (url, end) = r.bytes(m, 64, m + 160, MAX_URL_LEN)?;
    let request = AttestationRequest {
        tee_id: r.address(m)?,
        initial_tee_id: r.address(m + 32)?,
        url,
        code_hash: *r.word(m + 96)?,
        platform: *r.word(m + 128)?,
        challenge,
    };
    r.finish(end)?;
    Ok(request)
}

/// `TEE_ATTESTATION`.
pub fn tee_attestation(
    state: &mut TeeState,
    action: &Action,
    attester: &mut dyn Attester,
) -> Result<crate::result::Output, Error> {
    let d = &action.instruction;
    let request = decode_attestation_request(&d.original_message)?;
    if request.tee_id != state.identity.address() {
        return Err(Error::OperationFailed { reason: "TEE_ATTESTATION is for another TEE" });
    }
    if request.challenge == [0; 32] {
        return Err(Error::Malformed { what: "TEE_ATTESTATION challenge (zero)" });
    }
    attest(state, attester, &request.challenge, d.timestamp).map(Into::into)
}
