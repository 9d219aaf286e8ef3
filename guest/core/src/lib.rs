//! `fcc-core`: the platform-independent verify-and-sign core of the FCC unikernel.
//!
//! It decides whether an instruction carries enough weight of the current Flare signing policy,
//! executes it through a registry of operation handlers and signs the result with the TEE's
//! identity key. It knows nothing about hardware, networking or time: the guest kernel brings
//! entropy, attestation and bytes from the proxy; host tools reuse the same code.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod abi;
pub mod action;
pub mod admission;
pub mod aead;
pub mod attester;
pub mod batch;
pub mod btc;
pub mod config;
pub mod ecdsa;
pub mod entropy;
pub mod error;
pub mod extension;
pub mod hash;
pub mod identity;
pub mod instruction;
pub mod jacobian;
pub mod light_client;
pub mod limits;
pub mod op;
pub mod ops;
pub mod policy;
pub mod replay;
pub mod result;
pub mod seal;
pub mod serde_fixed;
pub mod session;
pub mod state;
pub mod statement;
pub mod tee;
#[cfg(test)]
mod testing;
pub mod verify;
pub mod wallet;
pub mod wire;
pub mod xrpl;

pub use config::{Config, Registration};
pub use error::Error;
pub use tee::Tee;
