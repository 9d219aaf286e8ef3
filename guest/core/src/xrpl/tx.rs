//! The two XRPL transactions a protocol-managed wallet signs (Flare's `pkg/tee/xrpl/payment.go`),
//! in XRPL's canonical binary form, and their multisignatures.
//!
//! A native XRP `Payment` (or, for a nullifying fee tier, an `AccountSet` that only consumes the
//! Sequence) with exactly these fields, in canonical order (type code, then field code):
//!
//! ```text
//! Payment     12 0000 | 24 Sequence | [2E DestinationTag] | 61 Amount | 68 Fee | 73 00 | 81 14 Account | 83 14 Destination | [F3 Signers F1] | [F9 EA 7D 20 memo E1 F1]
//! AccountSet  12 0003 | 24 Sequence |                                   68 Fee | 73 00 | 81 14 Account |                     [F3 Signers F1] | [F9 EA 7D 20 memo E1 F1]
//! Signer      E0 10 | 73 21 compressed key | 74 len DER signature | 81 14 AccountID | E1     (Signers sorted by AccountID, strictly)
//! ```
//!
//! An XRP amount is eight bytes, `0x4000000000000000 | drops`. No `Flags`, no
//! `LastLedgerSequence`: the tiers of one payment share its Sequence, so the first to apply
//! consumes it and the others can never apply. A signer signs
//! `SHA-512-Half("SMT\0" ‖ signing fields ‖ its AccountID)` (the signing fields: all of the above
//! but `Signers`), with RFC 6979 and a low S, DER-encoded.

use alloc::vec::Vec;

use k256::sha2::{Digest, Sha512};

use crate::error::Error;
use crate::hash::H256;
use crate::xrpl::address::AccountId;

/// Prefix of a multisigning preimage ("SMT\0").
pub const MULTISIGN_PREFIX: [u8; 4] = *b"SMT\0";
/// Prefix of a transaction-id preimage ("TXN\0").
pub const TX_ID_PREFIX: [u8; 4] = *b"TXN\0";
/// Largest XRP amount in drops (100 billion XRP).
pub const MAX_DROPS: u64 = 100_000_000_000_000_000;
/// Most signers of one multisigned transaction (XRPL's SignerList bound).
pub const MAX_SIGNERS: usize = 32;

/// `SHA-512-Half`: the first 32 bytes of SHA-512.
pub fn sha512_half(data: &[u8]) -> H256 {
    let h = Sha512::digest(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&h[..32]);
    out
}

/// What a transaction moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A native XRP payment.
    Payment {
        /// The recipient.
        destination: AccountId,
        /// Its destination tag (from an X-address).
        destination_tag: Option<u32>,
        /// Drops, at most [`MAX_DROPS`].
        drops: u64,
    },
    /// An `AccountSet` that changes nothing but consumes the Sequence (a nullified payment).
    Nullify,
}

/// One transaction of a multisig account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transaction {
    /// The multisig account.
    pub account: AccountId,
    /// Its Sequence (the instruction's nonce).
    pub sequence: u32,
    /// The fee in drops.
    pub fee: u64,
    /// Payment or nullification.
    pub kind: Kind,
    /// The 32-byte memo (Flare's payment reference), if any.
    pub memo: Option<H256>,
}

/// One signer's multisignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Its AccountID (of `public_key`).
    pub account: AccountId,
    /// Its compressed secp256k1 key.
    pub public_key: [u8; 33],
    /// Its DER signature (at most 72 bytes).
    pub signature: Vec<u8>,
}

fn amount(out: &mut Vec<u8>, field: u8, drops: u64) -> Result<(), Error> {
    if drops > MAX_DROPS {
        return Err(Error::OperationFailed { reason: "XRP amount above 10^17 drops" });
    }
    out.push(field);
    out.extend_from_slice(&(0x4000_0000_0000_0000 | drops).to_be_bytes());
    Ok(())
}

/// A variable-length field of at most 192 bytes (one length byte: all ours are).
fn blob(out: &mut Vec<u8>, field: u8, data: &[u8]) {
    debug_assert!(data.len() <= 192);
    out.push(field);
    out.push(data.len() as u8);
    out.extend_from_slice(data);
}

impl Transaction {
    /// What a payment pays, as its nonce's ledger remembers it (`wallet::ledger`): the same for
    /// every fee of one payment, different for any other recipient, tag, amount or memo; `None`
    /// for a nullification, which pays nothing.
    ///
    /// `keccak256(bytes32("FCC_XRPL_PAYMENT") ‖ account[20] ‖ destination[20] ‖ tagged u8 ‖ tag u32 ‖ drops u64 ‖ memoed u8 ‖ memo[32])`
    /// (integers big-endian; absent tag and memo as zeros).
    pub fn payment_commitment(&self) -> Option<H256> {
        let Kind::Payment { destination, destination_tag, drops } = self.kind else {
            return None;
        };
        Some(crate::hash::keccak256_concat(&[
            &crate::op::name("FCC_XRPL_PAYMENT"),
            &self.account,
            &destination,
            &[u8::from(destination_tag.is_some())],
            &destination_tag.unwrap_or(0).to_be_bytes(),
            &drops.to_be_bytes(),
            &[u8::from(self.memo.is_some())],
            &self.memo.unwrap_or([0; 32]),
        ]))
    }

    /// The canonical encoding, with `signers` (sorted by AccountID, strictly) or, with none,
    /// the signing fields only.
    fn encode(&self, signers: &[Signer]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(160 + signers.len() * 140);
        let (tx_type, destination) = match self.kind {
            Kind::Payment { destination, destination_tag, drops } => {
                (0u16, Some((destination, destination_tag, drops)))
            }
            Kind::Nullify => (3u16, None),
        };
        out.push(0x12);
        out.extend_from_slice(&tx_type.to_be_bytes());
        out.push(0x24);
        out.extend_from_slice(&self.sequence.to_be_bytes());
        if let Some((_, Some(tag), _)) = destination {
            out.push(0x2E);
            out.extend_from_slice(&tag.to_be_bytes());
        }
        if let Some((_, _, drops)) = destination {
            amount(&mut out, 0x61, drops)?;
        }
        if self.fee == 0 || self.fee > u64::from(u32::MAX) {
            return Err(Error::OperationFailed { reason: "XRPL fee outside 1..=2^32-1 drops" });
        }
        amount(&mut out, 0x68, self.fee)?;
        blob(&mut out, 0x73, &[]);
        blob(&mut out, 0x81, &self.account);
        if let Some((to, _, _)) = destination {
            blob(&mut out, 0x83, &to);
        }
        if !signers.is_empty() {
            if signers.len() > MAX_SIGNERS {
                return Err(Error::TooMany { what: "XRPL signers", count: signers.len(), max: MAX_SIGNERS });
            }
            if signers.windows(2).any(|w| w[0].account >= w[1].account) {
                return Err(Error::OperationFailed { reason: "XRPL signers not strictly sorted by account" });
            }
            out.push(0xF3);
            for s in signers {
                if s.signature.len() > 72 {
                    return Err(Error::Malformed { what: "DER signature" });
                }
                out.extend_from_slice(&[0xE0, 0x10]);
                blob(&mut out, 0x73, &s.public_key);
                blob(&mut out, 0x74, &s.signature);
                blob(&mut out, 0x81, &s.account);
                out.push(0xE1);
            }
            out.push(0xF1);
        }
        if let Some(memo) = &self.memo {
            out.extend_from_slice(&[0xF9, 0xEA]);
            blob(&mut out, 0x7D, memo);
            out.extend_from_slice(&[0xE1, 0xF1]);
        }
        Ok(out)
    }

    /// The signing fields' encoding (no `Signers`).
    pub fn signing_blob(&self) -> Result<Vec<u8>, Error> {
        self.encode(&[])
    }

    /// What `signer` signs: `SHA-512-Half("SMT\0" ‖ signing fields ‖ signer)`.
    pub fn multisign_digest(&self, signer: &AccountId) -> Result<H256, Error> {
        let mut preimage = Vec::with_capacity(200);
        preimage.extend_from_slice(&MULTISIGN_PREFIX);
        preimage.extend_from_slice(&self.signing_blob()?);
        preimage.extend_from_slice(signer);
        Ok(sha512_half(&preimage))
    }

    /// The multisigned transaction (`signers` in any order; sorted here, duplicates refused).
    pub fn multisigned(&self, signers: &[Signer]) -> Result<Vec<u8>, Error> {
        if signers.is_empty() {
            return Err(Error::OperationFailed { reason: "a multisigned XRPL transaction needs a signer" });
        }
        let mut sorted = signers.to_vec();
        sorted.sort_by_key(|s| s.account);
        self.encode(&sorted)
    }
}

/// A transaction's id: `SHA-512-Half("TXN\0" ‖ full encoding)`.
pub fn tx_id(multisigned: &[u8]) -> H256 {
    let mut preimage = Vec::with_capacity(4 + multisigned.len());
    preimage.extend_from_slice(&TX_ID_PREFIX);
    preimage.extend_from_slice(multisigned);
    sha512_half(&preimage)
}
