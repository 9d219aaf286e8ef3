//! XRPL for protocol-managed wallets (Flare's `F_XRP`, go-flare-common `pkg/tee/xrpl` and
//! `pkg/xrpl`): accounts and addresses (`address`), the payments a multisig account's signers
//! sign, in XRPL's canonical binary form with their multisignatures (`tx`), and Flare's payment
//! message with its fee tiers and the signed transactions' JSON (`payment`). Only what
//! the TEE signs is here — native XRP `Payment` and the nullifying `AccountSet` — not a general
//! XRPL codec; every format is checked against xrpl.js fixtures and xrpl-py in the tests.

pub mod address;
pub mod payment;
pub mod tx;
