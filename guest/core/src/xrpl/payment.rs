//! Flare's `F_XRP/PAY` and `REISSUE` message (go-flare-common `pkg/tee/structs/payments`,
//! `ITeePayments.PaymentInstructionMessage`) and what it asks a wallet's XRP keys to sign: one
//! transaction per fee tier (`pkg/tee/xrpl/payment.go`), answered as the JSON Flare's TEE posts
//! (Go's `json.Marshal` of XRPL's JSON form: keys sorted, compact).
//!
//! ```text
//! message  = abi.encode((bytes32 walletId, (address teeId, uint64 keyId)[] teeIdKeyIdPairs, bytes32 sourceId,
//!            string senderAddress, string recipientAddress, bytes tokenId, uint256 amount, uint256 maxFee,
//!            bytes feeSchedule, bytes32 paymentReference, uint64 nonce, uint64 paymentId))
//! schedule = 4-byte entries: int16 bips (non-zero, |bips| ≤ 10000; negative: nullify), uint16 delay (s, ≤ 600);
//!            1 … 50 entries; fee of an entry = floor(|bips| · maxFee / 10000) drops, in 1 … 2^32−1
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::abi::{self, Reader, Token};
use crate::error::Error;
use crate::hash::H256;
use crate::policy::Address;
use crate::wallet::json::hex_digits;
use crate::xrpl::address::{self, MAX_ADDRESS_LEN};
use crate::xrpl::tx::{Kind, MAX_DROPS, MAX_SIGNERS, Signer, Transaction};

/// Most fee-schedule entries (tee-node's `MaxFeeEntries`).
pub const MAX_FEE_ENTRIES: usize = 50;
/// Latest delay of an entry, in seconds (tee-node's `MaxFeeScheduleTime`, 10 minutes).
pub const MAX_FEE_DELAY_SECONDS: u16 = 600;
/// Most (TEE, key) pairs one message names (a signer list's bound).
pub const MAX_KEY_PAIRS: usize = MAX_SIGNERS;
/// Longest `tokenId` read (it must be empty: native XRP only).
pub const MAX_TOKEN_ID_LEN: usize = 64;

/// A `PaymentInstructionMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMessage {
    /// The wallet.
    pub wallet_id: H256,
    /// The keys that sign: (TEE, key id).
    pub key_pairs: Vec<(Address, u64)>,
    /// The payment source (not used by the TEE).
    pub source_id: H256,
    /// The multisig account (a classic address).
    pub sender: String,
    /// The recipient (a classic or X-address).
    pub recipient: String,
    /// Must be empty (native XRP).
    pub token_id: Vec<u8>,
    /// Drops (`uint256`, big-endian).
    pub amount: H256,
    /// Drops (`uint256`, big-endian).
    pub max_fee: H256,
    /// The fee schedule.
    pub fee_schedule: Vec<u8>,
    /// The memo.
    pub payment_reference: H256,
    /// The account's Sequence for this payment.
    pub nonce: u64,
    /// The payment's number (not used by the TEE).
    pub payment_id: u64,
}

/// One fee tier of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeTier {
    /// A nullifying `AccountSet` instead of the payment.
    pub nullify: bool,
    /// |bips| of `maxFee`.
    pub bips: u16,
    /// Seconds after the instruction when Flare's TEE releases it.
    pub delay_seconds: u16,
}

fn text(bytes: &[u8]) -> Result<String, Error> {
    core::str::from_utf8(bytes).map(String::from).map_err(|_| Error::Malformed { what: "XRPL payment address (UTF-8)" })
}

impl PaymentMessage {
    /// Reads the message strictly: only its one canonical encoding (re-encoded and compared).
    pub fn decode(data: &[u8]) -> Result<Self, Error> {
        let r = Reader::new(data, "F_XRP payment message");
        let base = r.offset(0, 0)?;
        let at = |i: usize| base + 32 * i;
        let key_pairs =
            read_key_pairs(&r, r.offset(base, at(1))?, MAX_KEY_PAIRS, "F_XRP payment message (teeIdKeyIdPairs)")?;
        let string = |i: usize| -> Result<String, Error> { text(r.bytes_at(r.offset(base, at(i))?, MAX_ADDRESS_LEN)?) };
        let m = Self {
            wallet_id: *r.word(at(0))?,
            key_pairs,
            source_id: *r.word(at(2))?,
            sender: string(3)?,
            recipient: string(4)?,
            token_id: r.bytes_at(r.offset(base, at(5))?, MAX_TOKEN_ID_LEN)?.to_vec(),
            amount: *r.word(at(6))?,
            max_fee: *r.word(at(7))?,
            fee_schedule: r.bytes_at(r.offset(base, at(8))?, 4 * MAX_FEE_ENTRIES)?.to_vec(),
            payment_reference: *r.word(at(9))?,
            nonce: r.uint(at(10), 64)?,
            payment_id: r.uint(at(11), 64)?,
        };
        r.canonical(&m.encode())?;
        Ok(m)
    }

    /// `abi.encode(message)`.
    pub fn encode(&self) -> Vec<u8> {
        let pairs = key_pair_words(&self.key_pairs);
        abi::encode_dynamic_struct(&[
            Token::Word(self.wallet_id),
            Token::PublicKeys(&pairs),
            Token::Word(self.source_id),
            Token::Bytes(self.sender.as_bytes()),
            Token::Bytes(self.recipient.as_bytes()),
            Token::Bytes(&self.token_id),
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

    /// The transaction of every fee tier, checked as Flare's TEE checks them (recipient, sender
    /// ≠ recipient, native XRP only, Sequence in 32 bits, amount and fees in range).
    pub fn transactions(&self) -> Result<Vec<(FeeTier, Transaction)>, Error> {
        let tiers = parse_schedule(&self.fee_schedule)?;
        let to = address::decode(&self.recipient)?;
        if self.sender == address::encode(&to.account) {
            return Err(Error::OperationFailed { reason: "XRPL payment to its own account" });
        }
        if !self.token_id.is_empty() {
            return Err(Error::OperationFailed { reason: "only native XRP payments are signed" });
        }
        let sequence =
            u32::try_from(self.nonce).map_err(|_| Error::OperationFailed { reason: "XRPL Sequence above 2^32-1" })?;
        let from = address::decode(&self.sender)?;
        if from.tag.is_some() || !self.sender.starts_with('r') {
            return Err(Error::Malformed { what: "XRPL sender (a classic address)" });
        }
        let drops = small(&self.amount).filter(|d| *d <= MAX_DROPS);
        let drops = drops.ok_or(Error::OperationFailed { reason: "XRP amount above 10^17 drops" })?;
        tiers
            .into_iter()
            .map(|tier| {
                let tx = Transaction {
                    account: from.account,
                    sequence,
                    fee: fee(tier.bips, &self.max_fee)?,
                    kind: if tier.nullify {
                        Kind::Nullify
                    } else {
                        Kind::Payment { destination: to.account, destination_tag: to.tag, drops }
                    },
                    memo: Some(self.payment_reference),
                };
                Ok((tier, tx))
            })
            .collect()
    }
}

/// The `(address teeId, uint64 keyId)[]` of a payment message at `at`, at most `max` (`what`
/// names it in errors).
pub(crate) fn read_key_pairs(
    r: &Reader<'_>,
    at: usize,
    max: usize,
    what: &'static str,
) -> Result<Vec<(Address, u64)>, Error> {
    r.public_keys_at(at, max)?
        .iter()
        .map(|p| {
            let words = Reader::new(p, what);
            Ok((words.address(0)?, words.uint(32, 64)?))
        })
        .collect()
}

/// `pairs` as their ABI words: an array of two-word static tuples is laid out as
/// `(bytes32, bytes32)[]`.
pub(crate) fn key_pair_words(pairs: &[(Address, u64)]) -> Vec<[u8; 64]> {
    pairs
        .iter()
        .map(|(tee, key)| {
            let mut p = [0u8; 64];
            p[..32].copy_from_slice(&abi::address(tee));
            p[32..].copy_from_slice(&abi::uint(*key));
            p
        })
        .collect()
}

/// The key ids of `tee` among `pairs`, in their order.
pub(crate) fn keys_in(pairs: &[(Address, u64)], tee: &Address) -> Vec<u64> {
    pairs.iter().filter(|(t, _)| t == tee).map(|(_, k)| *k).collect()
}

/// A `uint256` that fits 64 bits.
pub(crate) fn small(v: &H256) -> Option<u64> {
    v[..24].iter().all(|&b| b == 0).then(|| u64::from_be_bytes(v[24..].try_into().expect("8 bytes")))
}

/// Reads a fee schedule (see the module docs).
pub fn parse_schedule(s: &[u8]) -> Result<Vec<FeeTier>, Error> {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return Err(Error::Malformed { what: "XRPL fee schedule (4-byte entries, at least one)" });
    }
    if s.len() / 4 > MAX_FEE_ENTRIES {
        return Err(Error::TooMany { what: "fee schedule entries", count: s.len() / 4, max: MAX_FEE_ENTRIES });
    }
    s.chunks_exact(4)
        .map(|e| {
            let bips = i16::from_be_bytes([e[0], e[1]]);
            let delay_seconds = u16::from_be_bytes([e[2], e[3]]);
            if bips == 0 || bips.unsigned_abs() > 10_000 {
                return Err(Error::Malformed { what: "fee schedule bips (non-zero, at most 10000)" });
            }
            if delay_seconds > MAX_FEE_DELAY_SECONDS {
                return Err(Error::OperationFailed { reason: "fee schedule entry later than 10 minutes" });
            }
            Ok(FeeTier { nullify: bips < 0, bips: bips.unsigned_abs(), delay_seconds })
        })
        .collect()
}

/// `floor(bips · maxFee / 10000)` drops, which must be in 1 … 2^32−1.
pub fn fee(bips: u16, max_fee: &H256) -> Result<u64, Error> {
    let out_of_range = Error::OperationFailed { reason: "payment fee outside 1..=2^32-1 (drops or satoshis)" };
    let max = small(max_fee).ok_or(out_of_range)?;
    let drops = u128::from(bips) * u128::from(max) / 10_000;
    match u32::try_from(drops) {
        Ok(d) if d > 0 => Ok(u64::from(d)),
        _ => Err(out_of_range),
    }
}

/// The signed transactions as Flare's TEE answers them: a JSON array of XRPL's JSON form, keys
/// sorted as Go's `json.Marshal` sorts a map's, amounts as decimal strings, `MemoData` lower-case
/// hex, `SigningPubKey` upper-case, `TxnSignature` lower-case; `signers[i]` signs `txs[i]`.
pub fn signed_json(txs: &[Transaction], signers: &[Vec<Signer>]) -> String {
    use core::fmt::Write;
    let mut out = String::from("[");
    for (i, (tx, signed)) in txs.iter().zip(signers).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let mut sorted = signed.clone();
        sorted.sort_by_key(|s| s.account);
        let _ = write!(out, "{{\"Account\":\"{}\"", address::encode(&tx.account));
        if let Kind::Payment { destination, destination_tag, drops } = tx.kind {
            let _ = write!(out, ",\"Amount\":\"{drops}\",\"Destination\":\"{}\"", address::encode(&destination));
            if let Some(tag) = destination_tag {
                let _ = write!(out, ",\"DestinationTag\":{tag}");
            }
        }
        let _ = write!(out, ",\"Fee\":\"{}\"", tx.fee);
        if let Some(memo) = &tx.memo {
            out.push_str(",\"Memos\":[{\"Memo\":{\"MemoData\":\"");
            hex_digits(&mut out, memo, false);
            out.push_str("\"}}]");
        }
        let _ = write!(out, ",\"Sequence\":{},\"Signers\":[", tx.sequence);
        for (j, s) in sorted.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"Signer\":{{\"Account\":\"{}\",\"SigningPubKey\":\"", address::encode(&s.account));
            hex_digits(&mut out, &s.public_key, true);
            out.push_str("\",\"TxnSignature\":\"");
            hex_digits(&mut out, &s.signature, false);
            out.push_str("\"}}");
        }
        let kind = if matches!(tx.kind, Kind::Nullify) { "AccountSet" } else { "Payment" };
        let _ = write!(out, "],\"SigningPubKey\":\"\",\"TransactionType\":\"{kind}\"}}");
    }
    out.push(']');
    out
}
