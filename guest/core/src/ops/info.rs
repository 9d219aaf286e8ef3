//! `F_GET`/`TEE_INFO`: the TEE's identity, trusted policies and a fresh attestation.
//!
//! Message: empty, or a 32-byte challenge that goes into REPORT_DATA[32..64]. Result data:
//! `abi.encode(TeeInfo)` with
//! `(bytes32 challenge, bytes32 publicKeyX, bytes32 publicKeyY, address teeId, uint256 chainId,
//!   uint8 platform, uint32 initialEpoch, bytes32 initialPolicyHash, uint32 activeEpoch,
//!   bytes32 activePolicyHash, bytes reportData, bytes evidence)`.

use alloc::vec::Vec;

use crate::abi::{self, Token};
use crate::action::Action;
use crate::attester::Attester;
use crate::error::Error;
use crate::limits::MAX_ATTESTATION_LEN;
use crate::state::TeeState;

/// `TEE_INFO`.
pub fn tee_info(state: &mut TeeState, action: &Action, attester: &mut dyn Attester) -> Result<Vec<u8>, Error> {
    let msg = &action.instruction.original_message;
    let challenge: [u8; 32] = match msg.len() {
        0 => [0; 32],
        32 => msg[..].try_into().expect("32 bytes"),
        _ => return Err(Error::Malformed { what: "TEE_INFO challenge (0 or 32 bytes)" }),
    };
    let report_data = state.identity.report_data(state.config.chain_id, &challenge);
    let evidence = attester.attest(&report_data)?;
    if evidence.len() > MAX_ATTESTATION_LEN {
        return Err(Error::TooLarge { what: "attestation", len: evidence.len(), max: MAX_ATTESTATION_LEN });
    }
    let (initial_epoch, initial_hash) = state.policies.initial().unwrap_or((0, [0; 32]));
    let (active_epoch, active_hash) =
        state.policies.active().map(|p| (p.reward_epoch_id(), p.hash(state.policies.scheme()))).unwrap_or((0, [0; 32]));
    let public = state.identity.public_key();
    Ok(abi::encode_dynamic_struct(&[
        Token::Word(challenge),
        Token::Word(public[..32].try_into().expect("32 bytes")),
        Token::Word(public[32..].try_into().expect("32 bytes")),
        Token::Word(abi::address(&state.identity.address())),
        Token::Word(abi::uint(state.config.chain_id)),
        Token::Word(abi::uint(u64::from(attester.kind().code()))),
        Token::Word(abi::uint(u64::from(initial_epoch))),
        Token::Word(initial_hash),
        Token::Word(abi::uint(u64::from(active_epoch))),
        Token::Word(active_hash),
        Token::Bytes(&report_data),
        Token::Bytes(&evidence),
    ]))
}
