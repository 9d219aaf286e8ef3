//! Payments of protocol-managed wallets: every key of this TEE among the message's
//! `teeIdKeyIdPairs` signs the transaction of every fee tier, answered at once.
//!
//! - `F_XRP/PAY` and `REISSUE` (instructions, `abi.encode(PaymentInstructionMessage)`,
//!   `xrpl::payment`) → the JSON array Flare's TEE posts last (its signers only; the consumer
//!   joins several TEEs' signers into one transaction).
//! - `F_BTC/PAY` and `REISSUE` (instructions, ours: `btc::payment`) → per tier the unsigned
//!   transaction, its id and this TEE's keys' signature of every input.
//!
//! Checks, in tee-node's order, then ours: the additional messages are empty; the schedule and
//! the transactions are valid; some pair names this TEE, and none twice; each key is stored,
//! of the chain's type and algorithm; the instruction's cosigners are the key's, with its
//! threshold; the key's payment ledger admits the nonce for this payment (`wallet::ledger`: one
//! payment per nonce, one account per key); the answer fits a result (checked roughly before
//! signing, so an answer that cannot fit costs no signatures, and exactly after). Only then is
//! the ledger written.
//!
//! Differences from Flare's TEE (`docs/PROTOCOL.md` §8.7): every tier is signed and answered at
//! once (Flare's posts tier i at its delay, cumulatively; the delays are the submitter's to
//! keep); REISSUE runs PAY's path, as in Flare, but the ledger refuses a reissue that changes
//! anything but the fee (and, for Bitcoin, the inputs after the anchor, which may pay it).

use alloc::vec::Vec;

use crate::action::Action;
use crate::attester::Attester;
use crate::btc;
use crate::btc::payment::{BtcPaymentMessage, InputSignature, signed_json as btc_json};
use crate::error::Error;
use crate::limits::MAX_RESULT_DATA_LEN;
use crate::result::Output;
use crate::state::TeeState;
use crate::wallet::ledger::{Account, Intent};
use crate::wallet::{BTC_SIGN_ALGO, KEY_TYPE_BTC, KEY_TYPE_XRP, KeyIdPair, Wallet, XRP_SIGN_ALGO};
use crate::xrpl::payment::{PaymentMessage, signed_json};
use crate::xrpl::tx::Transaction;

/// tee-node's `CheckMatchingCosigners`: the instruction's cosigners are the key's, as sets, and
/// its threshold is the key's.
fn check_cosigners(action: &Action, wallet: &Wallet) -> Result<(), Error> {
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
fn check_no_additional(action: &Action) -> Result<(), Error> {
    let extra = !action.instruction.additional_fixed_message.is_empty()
        || action.votes.iter().any(|v| !v.additional_variable_message.is_empty());
    if extra {
        return Err(Error::Malformed { what: "payment instruction (additional messages must be empty)" });
    }
    Ok(())
}

/// The keys of this TEE a payment names, each once.
fn own_keys(wallet_id: &[u8; 32], key_ids: Vec<u64>) -> Result<Vec<KeyIdPair>, Error> {
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

/// Fewer bytes than a signature's entry in an answer takes (XRPL's `{"Signer":{…}}` with its
/// account, 33-byte key and DER signature; Bitcoin's `{"keyId",…,"pubKey"}`) unless its DER is
/// under 41 bytes, which happens with a probability below 2^-100: an instruction whose answer
/// would exceed `MAX_RESULT_DATA_LEN` even so is refused before anything is signed.
const MIN_SIGNATURE_JSON: usize = 200;

/// Refuses, before signing, an answer of `signatures` entries that cannot fit a result.
fn check_answer_floor(what: &'static str, signatures: usize) -> Result<(), Error> {
    let floor = signatures.saturating_mul(MIN_SIGNATURE_JSON);
    if floor > MAX_RESULT_DATA_LEN {
        return Err(Error::TooLarge { what, len: floor, max: MAX_RESULT_DATA_LEN });
    }
    Ok(())
}

/// `F_XRP/PAY` and `REISSUE`.
pub fn xrp_pay(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    check_no_additional(action)?;
    let m = PaymentMessage::decode(&action.instruction.original_message)?;
    let tiers = m.transactions()?;
    let ids = own_keys(&m.wallet_id, m.keys_of(&state.identity.address()))?;
    check_answer_floor("XRPL payment answer (at least)", tiers.len() * ids.len())?;
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

/// `F_BTC/PAY` and `REISSUE`.
pub fn btc_pay(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    check_no_additional(action)?;
    let m = BtcPaymentMessage::decode(&action.instruction.original_message)?;
    let tiers = m.transactions()?;
    let ids = own_keys(&m.wallet_id, m.keys_of(&state.identity.address()))?;
    check_answer_floor("F_BTC payment answer (at least)", tiers.len() * m.inputs.len() * ids.len())?;
    let witness_script = m.witness_script()?;
    let txs: Vec<btc::Transaction> = tiers.iter().map(|(_, tx)| tx.clone()).collect();
    let pays = tiers.iter().any(|(tier, _)| !tier.nullify);
    let intent = Intent {
        account: Account::Bitcoin(m.program()?),
        nonce: m.nonce,
        commitment: if pays { Some(m.commitment()?) } else { None },
    };
    let mut ledgers = Vec::with_capacity(ids.len());
    let mut signatures = alloc::vec![Vec::new(); txs.len()];
    for id in &ids {
        let wallet = state.wallets.get(id).ok_or(Error::OperationFailed { reason: "wallet key not stored" })?;
        wallet.require(&KEY_TYPE_BTC, &BTC_SIGN_ALGO)?;
        check_cosigners(action, wallet)?;
        let public_key = wallet.compressed_public();
        if !m.public_keys.contains(&public_key) {
            return Err(Error::OperationFailed { reason: "the key is not one of the wallet's publicKeys" });
        }
        ledgers.push(state.wallets.admit_payment(id, &intent)?);
        for (tx, sigs) in txs.iter().zip(signatures.iter_mut()) {
            for index in 0..tx.inputs.len() {
                let signature = wallet.btc_sign_input(tx, index, &witness_script)?;
                sigs.push(InputSignature { key_id: id.key_id, index, signature, public_key });
            }
        }
    }
    let data = btc_json(&txs, &signatures)?.into_bytes();
    if data.len() > MAX_RESULT_DATA_LEN {
        return Err(Error::TooLarge { what: "F_BTC payment answer", len: data.len(), max: MAX_RESULT_DATA_LEN });
    }
    for (id, ledger) in ids.iter().zip(ledgers) {
        state.wallets.record_payment(id, ledger);
    }
    Ok(data.into())
}
