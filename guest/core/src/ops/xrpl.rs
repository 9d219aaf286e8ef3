//! `F_XRP/PAY` and `F_XRP/REISSUE` (instructions, `abi.encode(PaymentInstructionMessage)`,
//! `xrpl::payment`): every key of this TEE among the message's `teeIdKeyIdPairs` multisigns
//! the transaction of every fee tier; → the JSON array Flare's TEE posts last (its signers
//! only; the consumer joins several TEEs' signers into one transaction).
//!
//! Checks, in tee-node's order, then ours: the additional messages are empty; the schedule and
//! the transactions are valid (`PaymentMessage::transactions`); some pair names this TEE, and
//! none twice; each key is stored, of type XRP with XRPL's algorithm; the instruction's
//! cosigners are the key's, with its threshold; the key's payment ledger admits the nonce for
//! this payment (`wallet::ledger`: one payment per Sequence, one account per key); the answer
//! fits a result.
//!
//! Differences from Flare's TEE (`docs/PROTOCOL.md` §8.7): every tier is signed and answered at
//! once (Flare's posts tier i at its delay, cumulatively; the delays are the submitter's to
//! keep); REISSUE runs PAY's path, as in Flare, but the ledger refuses a reissue that changes
//! anything but the fee.

use alloc::vec::Vec;

use crate::action::Action;
use crate::attester::Attester;
use crate::error::Error;
use crate::limits::MAX_RESULT_DATA_LEN;
use crate::result::Output;
use crate::state::TeeState;
use crate::wallet::ledger::{Account, Intent};
use crate::wallet::{KEY_TYPE_XRP, KeyIdPair, Wallet, XRP_SIGN_ALGO};
use crate::xrpl::payment::{PaymentMessage, signed_json};
use crate::xrpl::tx::Transaction;

/// tee-node's `CheckMatchingCosigners`: the instruction's cosigners are the key's, as sets, and
/// its threshold is the key's.
pub(crate) fn check_cosigners(action: &Action, wallet: &Wallet) -> Result<(), Error> {
    let d = &action.instruction;
    let mut given = d.cosigners.clone();
    given.sort_unstable();
    let mut wanted = wallet.config.cosigners.clone();
    wanted.sort_unstable();
    if given != wanted || d.cosigners_threshold != wallet.config.cosigners_threshold {
        return Err(Error::OperationFailed { reason: "cosigners must be the wallet key's, with its threshold" });
    }
    Ok(())
}

/// Payment instructions carry everything in their original message.
pub(crate) fn check_no_additional(action: &Action) -> Result<(), Error> {
    let extra = !action.instruction.additional_fixed_message.is_empty()
        || action.votes.iter().any(|v| !v.additional_variable_message.is_empty());
    if extra {
        return Err(Error::Malformed { what: "payment instruction (additional messages must be empty)" });
    }
    Ok(())
}

/// The keys of this TEE a payment names, each once.
pub(crate) fn own_keys(wallet_id: &[u8; 32], key_ids: Vec<u64>) -> Result<Vec<KeyIdPair>, Error> {
    if key_ids.is_empty() {
        return Err(Error::OperationFailed { reason: "no keys of this TEE in teeIdKeyIdPairs" });
    }
    let mut sorted = key_ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != key_ids.len() {
        return Err(Error::Malformed { what: "teeIdKeyIdPairs (a key listed twice)" });
    }
    Ok(key_ids.into_iter().map(|key_id| KeyIdPair { wallet_id: *wallet_id, key_id }).collect())
}

/// `PAY` and `REISSUE`.
pub fn pay(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    check_no_additional(action)?;
    let m = PaymentMessage::decode(&action.instruction.original_message)?;
    let tiers = m.transactions()?;
    let ids = own_keys(&m.wallet_id, m.keys_of(&state.identity.address()))?;
    let txs: Vec<Transaction> = tiers.iter().map(|(_, tx)| *tx).collect();
    let intent = Intent {
        account: Account::Xrpl(txs[0].account),
        nonce: m.nonce,
        commitment: txs.iter().find_map(Transaction::payment_commitment),
    };
    let mut ledgers = Vec::with_capacity(ids.len());
    let mut signers = alloc::vec![Vec::with_capacity(ids.len()); txs.len()];
    for id in &ids {
        let wallet = state.wallets.get(id).ok_or(Error::OperationFailed { reason: "wallet key not stored" })?;
        wallet.require(&KEY_TYPE_XRP, &XRP_SIGN_ALGO)?;
        check_cosigners(action, wallet)?;
        ledgers.push(state.wallets.admit_payment(id, &intent)?);
        for (tx, s) in txs.iter().zip(signers.iter_mut()) {
            s.push(wallet.xrpl_multisign(tx)?);
        }
    }
    let data = signed_json(&txs, &signers).into_bytes();
    if data.len() > MAX_RESULT_DATA_LEN {
        return Err(Error::TooLarge { what: "XRPL payment answer", len: data.len(), max: MAX_RESULT_DATA_LEN });
    }
    for (id, ledger) in ids.iter().zip(ledgers) {
        state.wallets.record_payment(id, ledger);
    }
    Ok(data.into())
}
