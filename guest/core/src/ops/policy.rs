//! `F_POLICY`: set the trust root and follow policy rotations. The message is the postcard
//! encoding of `InitializePolicy` / `UpdatePolicy`; the result data is
//! `abi.encode(uint32 rewardEpochId, bytes32 policyHash)` of the now active policy.

use alloc::vec::Vec;

use crate::abi::{self, Token};
use crate::action::Action;
use crate::attester::Attester;
use crate::error::Error;
use crate::light_client::{InitializePolicy, UpdatePolicy};
use crate::policy::SigningPolicy;
use crate::state::TeeState;

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, Error> {
    match postcard::take_from_bytes(bytes) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(Error::TrailingBytes { what, extra: rest.len() }),
        Err(_) => Err(Error::Malformed { what }),
    }
}

fn summary(state: &TeeState, p: &SigningPolicy) -> Vec<u8> {
    abi::encode_tuple(&[
        Token::Word(abi::uint(u64::from(p.reward_epoch_id()))),
        Token::Word(p.hash(state.policies.scheme())),
    ])
}

/// `INITIALIZE_POLICY`.
pub fn initialize(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<crate::result::Output, Error> {
    let msg: InitializePolicy = decode(&action.instruction.original_message, "INITIALIZE_POLICY message")?;
    let epoch = state.policies.initialize(&msg, &mut state.verifier)?.reward_epoch_id();
    state.replay.prune(epoch.saturating_sub(1));
    let active = state.policies.active().expect("just initialised");
    Ok(summary(state, active).into())
}

/// `UPDATE_POLICY`.
pub fn update(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<crate::result::Output, Error> {
    let msg: UpdatePolicy = decode(&action.instruction.original_message, "UPDATE_POLICY message")?;
    let epoch = state.policies.update(&msg, &mut state.verifier)?.reward_epoch_id();
    state.replay.prune(epoch.saturating_sub(1));
    let active = state.policies.active().expect("just updated");
    Ok(summary(state, active).into())
}
