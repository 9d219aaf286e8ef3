//! Our `F_BTC/PAY` and `REISSUE` message — Flare has op codes but no processor or message yet;
//! this one follows its XRPL message (`xrpl::payment`: same pairs, amounts, fee schedule,
//! reference, nonce) and adds what a Bitcoin signature commits to and a TEE cannot look up: the
//! wallet's keys and threshold (the witness script) and every input with its amount (BIP143).
//! One transaction per fee tier; a nullify tier spends the same inputs back to the wallet, so it
//! conflicts with every version of the payment.
//!
//! ```text
//! message = abi.encode((bytes32 walletId, (address teeId, uint64 keyId)[] teeIdKeyIdPairs, bytes32 sourceId,
//!           uint8 threshold, bytes publicKeys, bytes inputs, bytes recipientScript, uint256 amount,
//!           uint256 maxFee, bytes feeSchedule, bytes32 paymentReference, uint64 nonce, uint64 paymentId))
//! publicKeys = n × 33-byte compressed keys (any order; the script sorts them, BIP67), 1 ≤ threshold ≤ n ≤ 16
//! inputs     = m × (txid[32] in internal order ‖ vout u32 ‖ valueSat u64), big-endian integers, 1 ≤ m ≤ 64;
//!              all spend the wallet's P2WSH output; inputs[0] is the anchor every version of the nonce spends
//! tx (tier)  = version 2, lockTime 0, inputs in order with nSequence 0xfffffffd (replaceable), outputs:
//!              payment: recipient (amount) ‖ [OP_RETURN reference] ‖ [change to the wallet, if any]
//!              nullify: the wallet (Σ inputs − fee) ‖ [OP_RETURN reference]
//!              fee = floor(|bips| · maxFee / 10000) sat; a reference of zero adds no OP_RETURN
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::abi::{self, Reader, Token};
use crate::btc::{self, Input, Output, Transaction};
use crate::error::Error;
use crate::hash::{H256, keccak256_concat};
use crate::policy::Address;
use crate::wallet::json::hex;
use crate::xrpl::payment::{
    FeeTier, MAX_FEE_ENTRIES, fee, key_pair_words, keys_in, parse_schedule, read_key_pairs, small,
};

/// Most inputs of one payment.
pub const MAX_INPUTS: usize = 64;
/// Most (TEE, key) pairs one message names.
pub const MAX_KEY_PAIRS: usize = btc::MAX_MULTISIG_KEYS;
/// Longest recipient script read (the standard ones are at most 34 bytes).
pub const MAX_SCRIPT_LEN: usize = 64;
/// Bitcoin's 21 million coins, in satoshis.
pub const MAX_MONEY: u64 = 2_100_000_000_000_000;
/// nSequence of every input: final for lock time, replaceable by fee (BIP125).
pub const SEQUENCE: u32 = 0xffff_fffd;
/// The smallest change or nullify output to the wallet (Bitcoin Core's dust limit of a P2WSH
/// output); smaller change is refused, not given to the miner.
pub const WALLET_DUST: u64 = 330;

const INPUT_LEN: usize = 44;

/// One output the wallet spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utxo {
    /// Its transaction's id, in internal (serialization) order.
    pub txid: H256,
    /// Its index.
    pub vout: u32,
    /// Its value in satoshis.
    pub value: u64,
}

/// A Bitcoin payment message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtcPaymentMessage {
    /// The wallet.
    pub wallet_id: H256,
    /// The keys that sign: (TEE, key id).
    pub key_pairs: Vec<(Address, u64)>,
    /// The payment source (not used by the TEE).
    pub source_id: H256,
    /// Signatures the wallet's script needs.
    pub threshold: u8,
    /// The wallet's keys, compressed.
    pub public_keys: Vec<[u8; 33]>,
    /// What the payment spends.
    pub inputs: Vec<Utxo>,
    /// The recipient's output script.
    pub recipient_script: Vec<u8>,
    /// Satoshis (`uint256`, big-endian).
    pub amount: H256,
    /// Satoshis (`uint256`, big-endian).
    pub max_fee: H256,
    /// The fee schedule (as XRPL's).
    pub fee_schedule: Vec<u8>,
    /// The OP_RETURN reference (zero: none).
    pub payment_reference: H256,
    /// The payment's nonce in the key's ledger.
    pub nonce: u64,
    /// The payment's number (not used by the TEE).
    pub payment_id: u64,
}

/// The dust limit of a standard output script, or `None` for a script that is not one of
/// P2PKH, P2SH, P2WPKH, P2WSH, P2TR (Bitcoin Core's limits at 3 sat/vB).
pub fn standard_dust(script: &[u8]) -> Option<u64> {
    match script {
        [0x76, 0xa9, 0x14, h @ .., 0x88, 0xac] if h.len() == 20 => Some(546),
        [0xa9, 0x14, h @ .., 0x87] if h.len() == 20 => Some(540),
        [0x00, 0x14, h @ ..] if h.len() == 20 => Some(294),
        [0x00, 0x20, h @ ..] if h.len() == 32 => Some(330),
        [0x51, 0x20, h @ ..] if h.len() == 32 => Some(330),
        _ => None,
    }
}

fn op_return(reference: &H256) -> Output {
    let mut script_pubkey = Vec::with_capacity(34);
    script_pubkey.extend_from_slice(&[0x6a, 0x20]);
    script_pubkey.extend_from_slice(reference);
    Output { value: 0, script_pubkey }
}

impl BtcPaymentMessage {
    /// Reads the message strictly: only its one canonical encoding (re-encoded and compared).
    pub fn decode(data: &[u8]) -> Result<Self, Error> {
        let r = Reader::new(data, "F_BTC payment message");
        let base = r.offset(0, 0)?;
        let at = |i: usize| base + 32 * i;
        let key_pairs =
            read_key_pairs(&r, r.offset(base, at(1))?, MAX_KEY_PAIRS, "F_BTC payment message (teeIdKeyIdPairs)")?;
        let bytes = |i: usize, max: usize| -> Result<&[u8], Error> { r.bytes_at(r.offset(base, at(i))?, max) };
        let keys = bytes(4, 33 * btc::MAX_MULTISIG_KEYS)?;
        let inputs = bytes(5, INPUT_LEN * MAX_INPUTS)?;
        if !keys.len().is_multiple_of(33) || !inputs.len().is_multiple_of(INPUT_LEN) {
            return Err(Error::Malformed { what: "F_BTC payment message (33-byte keys, 44-byte inputs)" });
        }
        let m = Self {
            wallet_id: *r.word(at(0))?,
            key_pairs,
            source_id: *r.word(at(2))?,
            threshold: r.uint(at(3), 8)? as u8,
            public_keys: keys.chunks_exact(33).map(|k| k.try_into().expect("33 bytes")).collect(),
            inputs: inputs
                .chunks_exact(INPUT_LEN)
                .map(|c| Utxo {
                    txid: c[..32].try_into().expect("32 bytes"),
                    vout: u32::from_be_bytes(c[32..36].try_into().expect("4 bytes")),
                    value: u64::from_be_bytes(c[36..].try_into().expect("8 bytes")),
                })
                .collect(),
            recipient_script: bytes(6, MAX_SCRIPT_LEN)?.to_vec(),
            amount: *r.word(at(7))?,
            max_fee: *r.word(at(8))?,
            fee_schedule: bytes(9, 4 * MAX_FEE_ENTRIES)?.to_vec(),
            payment_reference: *r.word(at(10))?,
            nonce: r.uint(at(11), 64)?,
            payment_id: r.uint(at(12), 64)?,
        };
        r.canonical(&m.encode())?;
        Ok(m)
    }

    /// `abi.encode(message)`.
    pub fn encode(&self) -> Vec<u8> {
        let pairs = key_pair_words(&self.key_pairs);
        let keys: Vec<u8> = self.public_keys.concat();
        let inputs: Vec<u8> = self
            .inputs
            .iter()
            .flat_map(|u| [&u.txid[..], &u.vout.to_be_bytes(), &u.value.to_be_bytes()].concat())
            .collect();
        abi::encode_dynamic_struct(&[
            Token::Word(self.wallet_id),
            Token::PublicKeys(&pairs),
            Token::Word(self.source_id),
            Token::Word(abi::uint(u64::from(self.threshold))),
            Token::Bytes(&keys),
            Token::Bytes(&inputs),
            Token::Bytes(&self.recipient_script),
            Token::Word(self.amount),
            Token::Word(self.max_fee),
            Token::Bytes(&self.fee_schedule),
            Token::Word(self.payment_reference),
            Token::Word(abi::uint(self.nonce)),
            Token::Word(abi::uint(self.payment_id)),
        ])
    }

    /// The key ids of `tee` among the message's pairs, in their order.
    pub fn keys_of(&self, tee: &Address) -> Vec<u64> {
        keys_in(&self.key_pairs, tee)
    }

    /// The wallet's witness script (BIP67).
    pub fn witness_script(&self) -> Result<Vec<u8>, Error> {
        btc::sorted_multisig_script(usize::from(self.threshold), &self.public_keys)
    }

    /// The wallet's P2WSH witness program: SHA-256 of its witness script.
    pub fn program(&self) -> Result<H256, Error> {
        let spk = btc::p2wsh_script_pubkey(&self.witness_script()?);
        Ok(spk[2..].try_into().expect("32 bytes"))
    }

    /// What the payment pays, as its nonce's ledger remembers it (`wallet::ledger`): the wallet,
    /// the anchor input, the recipient, the amount and the reference — not the fee, nor the
    /// inputs after the anchor (a reissue may add some to pay more).
    ///
    /// `keccak256(bytes32("FCC_BTC_PAYMENT") ‖ program[32] ‖ anchor txid[32] ‖ anchor vout u32 ‖ len u8 ‖ recipientScript ‖ amount u64 ‖ reference[32])`
    pub fn commitment(&self) -> Result<H256, Error> {
        let anchor = self.inputs.first().ok_or(Error::Malformed { what: "F_BTC payment (no inputs)" })?;
        let amount = small(&self.amount).ok_or(Error::OperationFailed { reason: "amount above 21 million BTC" })?;
        Ok(keccak256_concat(&[
            &crate::op::name("FCC_BTC_PAYMENT"),
            &self.program()?,
            &anchor.txid,
            &anchor.vout.to_be_bytes(),
            &[self.recipient_script.len() as u8],
            &self.recipient_script,
            &amount.to_be_bytes(),
            &self.payment_reference,
        ]))
    }

    /// The transaction of every fee tier, checked: the wallet's script, inputs (1 … 64,
    /// distinct, no value above 21 million BTC), a standard recipient that is not the wallet,
    /// an amount above its dust limit, fees that leave no negative or dust change.
    pub fn transactions(&self) -> Result<Vec<(FeeTier, Transaction)>, Error> {
        let tiers = parse_schedule(&self.fee_schedule)?;
        let witness_script = self.witness_script()?;
        let wallet = btc::p2wsh_script_pubkey(&witness_script);
        if self.inputs.is_empty() || self.inputs.len() > MAX_INPUTS {
            return Err(Error::TooMany { what: "F_BTC payment inputs", count: self.inputs.len(), max: MAX_INPUTS });
        }
        let mut outpoints: Vec<(H256, u32)> = self.inputs.iter().map(|u| (u.txid, u.vout)).collect();
        outpoints.sort_unstable();
        if outpoints.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::Malformed { what: "F_BTC payment inputs (an outpoint twice)" });
        }
        let total = self.inputs.iter().try_fold(0u64, |sum, u| sum.checked_add(u.value).filter(|s| *s <= MAX_MONEY));
        let total = total.ok_or(Error::OperationFailed { reason: "inputs worth more than 21 million BTC" })?;
        let dust = standard_dust(&self.recipient_script)
            .ok_or(Error::OperationFailed { reason: "recipient script is not a standard output" })?;
        if self.recipient_script == wallet {
            return Err(Error::OperationFailed { reason: "payment to the wallet itself" });
        }
        let amount = small(&self.amount).filter(|a| *a <= MAX_MONEY);
        let amount = amount.ok_or(Error::OperationFailed { reason: "amount above 21 million BTC" })?;
        if amount < dust {
            return Err(Error::OperationFailed { reason: "amount below the recipient's dust limit" });
        }
        let inputs: Vec<Input> = self
            .inputs
            .iter()
            .map(|u| Input { txid: u.txid, vout: u.vout, script_sig: Vec::new(), sequence: SEQUENCE, amount: u.value })
            .collect();
        let reference = (self.payment_reference != [0; 32]).then(|| op_return(&self.payment_reference));
        let to_wallet = |value: u64| Output { value, script_pubkey: wallet.clone() };
        tiers
            .into_iter()
            .map(|tier| {
                let fee = fee(tier.bips, &self.max_fee)?;
                let mut outputs = Vec::with_capacity(3);
                let spent = if tier.nullify { fee } else { amount + fee };
                let rest = total
                    .checked_sub(spent)
                    .ok_or(Error::OperationFailed { reason: "inputs do not cover the amount and the fee" })?;
                if (tier.nullify || rest > 0) && rest < WALLET_DUST {
                    return Err(Error::OperationFailed { reason: "change (or nullify) output below dust" });
                }
                if !tier.nullify {
                    outputs.push(Output { value: amount, script_pubkey: self.recipient_script.clone() });
                }
                if tier.nullify {
                    outputs.push(to_wallet(rest));
                }
                outputs.extend(reference.clone());
                if !tier.nullify && rest > 0 {
                    outputs.push(to_wallet(rest));
                }
                Ok((tier, Transaction { version: 2, inputs: inputs.clone(), outputs, lock_time: 0 }))
            })
            .collect()
    }
}

/// One key's signature of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSignature {
    /// The wallet key's id.
    pub key_id: u64,
    /// The input.
    pub index: usize,
    /// DER, without the sighash byte (`SIGHASH_ALL` is appended at assembly).
    pub signature: Vec<u8>,
    /// The key, compressed.
    pub public_key: [u8; 33],
}

/// The answer: per tier go-flare-common's `SignResponse` (`pkg/btc/witness`, branch csp-e2e)
/// `{"txid","signatures":[{"keyId","index","signature","pubKey"}]}` with the unsigned
/// transaction beside it (`"tx"`), as there is no envelope to rebuild it from; txid in internal
/// order, hex `0x`-prefixed lower case.
pub fn signed_json(txs: &[Transaction], signatures: &[Vec<InputSignature>]) -> Result<String, Error> {
    use core::fmt::Write;
    let mut out = String::from("[");
    for (i, (tx, sigs)) in txs.iter().zip(signatures).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"tx\":");
        hex(&mut out, &tx.serialize_unsigned()?);
        out.push_str(",\"txid\":");
        hex(&mut out, &tx.txid()?);
        out.push_str(",\"signatures\":[");
        for (j, s) in sigs.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"keyId\":{},\"index\":{},\"signature\":", s.key_id, s.index);
            hex(&mut out, &s.signature);
            out.push_str(",\"pubKey\":");
            hex(&mut out, &s.public_key);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push(']');
    Ok(out)
}
