//! What a wallet key has signed payments for, sealed with the key: the one account it pays from
//! and, per nonce (an XRPL Sequence, a Bitcoin payment number), a commitment to the payment it
//! signed. A nonce is signed for one payment only — a reissue may change the fee and nothing
//! else, a nullify consumes it without paying — so two different payments never share a nonce.
//! Flare's TEE keeps no such record (its contract alone binds a reissue to its payment); ours
//! is defence in depth below the contract (`docs/PROTOCOL.md` §8.7).
//!
//! The record is bounded: the [`LEDGER_WINDOW`] highest nonces signed are kept; when a higher
//! one arrives the lowest is dropped and becomes the floor, below which nothing is signed any
//! more (an account's payments execute in nonce order, so a nonce that many places behind is
//! spent or dead). A key binds to the first account it signs a payment for and signs for no
//! other.

use alloc::vec::Vec;

use crate::error::Error;
use crate::hash::H256;

/// How many nonces a key's ledger remembers.
pub const LEDGER_WINDOW: usize = 32;

/// The account a key pays from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Account {
    /// An XRPL AccountID (the multisig account).
    Xrpl([u8; 20]),
    /// A Bitcoin P2WSH witness program (SHA-256 of the multisig witness script).
    Bitcoin(H256),
}

/// One key's ledger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    account: Account,
    /// Nonces below are refused.
    floor: u64,
    /// nonce → commitment of the payment signed for it (at most [`LEDGER_WINDOW`]).
    signed: Vec<(u64, H256)>,
}

/// What an instruction asks of a key's ledger: to sign for `nonce` of `account`, paying what
/// `commitment` names (`None`: only nullifying transactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intent {
    /// The paying account.
    pub account: Account,
    /// The nonce.
    pub nonce: u64,
    /// The payment's commitment, if any tier pays.
    pub commitment: Option<H256>,
}

impl Ledger {
    /// A ledger bound to `account`.
    pub fn new(account: Account) -> Self {
        Self { account, floor: 0, signed: Vec::new() }
    }

    /// Whether the key may sign `intent`, and how the ledger looks afterwards.
    pub fn admit(&self, intent: &Intent) -> Result<Self, Error> {
        if intent.account != self.account {
            return Err(Error::OperationFailed { reason: "the key signs for another account (one account per key)" });
        }
        if intent.nonce < self.floor {
            return Err(Error::OperationFailed {
                reason: "nonce below the key's ledger window (spent or dead; nothing is signed for it)",
            });
        }
        let mut next = self.clone();
        let Some(commitment) = intent.commitment else {
            return Ok(next);
        };
        match self.signed.binary_search_by_key(&intent.nonce, |(n, _)| *n) {
            Ok(i) if self.signed[i].1 == commitment => {}
            Ok(_) => {
                return Err(Error::OperationFailed {
                    reason: "nonce already signed for another payment (a reissue may change only the fee)",
                });
            }
            Err(i) => {
                if self.signed.len() == LEDGER_WINDOW {
                    if i == 0 {
                        return Err(Error::OperationFailed {
                            reason: "nonce below the key's ledger window (spent or dead; nothing is signed for it)",
                        });
                    }
                    let (lowest, _) = next.signed.remove(0);
                    next.floor = lowest + 1;
                    next.signed.insert(i - 1, (intent.nonce, commitment));
                } else {
                    next.signed.insert(i, (intent.nonce, commitment));
                }
            }
        }
        Ok(next)
    }

    /// The account.
    pub fn account(&self) -> Account {
        self.account
    }

    /// Nonces below this are refused.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The remembered nonces with their commitments, ascending.
    pub fn signed(&self) -> &[(u64, H256)] {
        &self.signed
    }

    /// Checks a ledger read back from sealed state.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |what| Error::SealedStateInvalid { what };
        if self.signed.len() > LEDGER_WINDOW {
            return Err(bad("payment ledger beyond its window"));
        }
        if self.signed.windows(2).any(|w| w[0].0 >= w[1].0) || self.signed.first().is_some_and(|(n, _)| *n < self.floor)
        {
            return Err(bad("payment ledger out of order"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Account = Account::Xrpl([1; 20]);

    fn pay(nonce: u64, c: u8) -> Intent {
        Intent { account: A, nonce, commitment: Some([c; 32]) }
    }

    #[test]
    fn one_payment_per_nonce_reissues_and_nullifies() {
        let l = Ledger::new(A).admit(&pay(10, 1)).unwrap();
        assert_eq!(l.admit(&pay(10, 1)).unwrap(), l, "a reissue of the same payment");
        assert!(l.admit(&pay(10, 2)).is_err(), "another payment for a signed nonce");
        let nullify = Intent { commitment: None, ..pay(10, 0) };
        assert_eq!(l.admit(&nullify).unwrap(), l, "a nullify records nothing");
        assert!(l.admit(&Intent { account: Account::Xrpl([2; 20]), ..pay(11, 1) }).is_err(), "another account");
        assert!(l.admit(&Intent { account: Account::Bitcoin([1; 32]), ..pay(11, 1) }).is_err());
    }

    #[test]
    fn the_window_slides_and_its_floor_holds() {
        let mut l = Ledger::new(A);
        for n in 0..LEDGER_WINDOW as u64 {
            l = l.admit(&pay(100 + 2 * n, n as u8)).unwrap();
        }
        assert_eq!((l.signed().len(), l.floor()), (LEDGER_WINDOW, 0));
        // Full: a nonce below every remembered one would have to be remembered below the floor.
        assert!(l.admit(&pay(99, 9)).is_err());
        assert!(l.admit(&Intent { commitment: None, ..pay(99, 0) }).is_ok(), "nullify below the window's first");
        // A gap inside the window: the lowest goes, the floor rises past it.
        let m = l.admit(&pay(101, 7)).unwrap();
        assert_eq!((m.signed().len(), m.floor(), m.signed()[0].0), (LEDGER_WINDOW, 101, 101));
        assert!(m.admit(&pay(100, 0)).is_err(), "the dropped nonce is below the floor, even its own payment");
        assert!(m.admit(&Intent { commitment: None, ..pay(100, 0) }).is_err(), "and its nullify");
        // A higher nonce slides it again.
        let top = 100 + 2 * LEDGER_WINDOW as u64;
        let n = m.admit(&pay(top, 3)).unwrap();
        assert_eq!((n.floor(), n.signed().last().unwrap().0), (102, top));
        for ledger in [&l, &m, &n] {
            ledger.check().unwrap();
        }
        let mut broken = n.clone();
        broken.floor = top;
        assert!(broken.check().is_err());
        let mut broken = n.clone();
        broken.signed.swap(0, 1);
        assert!(broken.check().is_err());
        let mut broken = n;
        broken.signed.push((u64::MAX, [0; 32]));
        assert!(broken.check().is_err(), "beyond the window");
    }
}
