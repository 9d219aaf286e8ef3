//! `fcc-extension`: build a compute extension for the FCC unikernel.
//!
//! An extension is a named set of operations compiled into the measured image next to the
//! core's. The core authorises each instruction before the extension sees it (the policy's
//! weight, never less than Flare's default; the cosigners it asks for), streams the host's data
//! to it in bounded chunks, signs its output in an envelope that names the extension and the
//! code, and keeps its keys: an extension gets signatures under its own domain, never key bytes.
//!
//! ```text
//! Extension::start(call)  → Started { job, data }   decode the instruction strictly, say what
//!                                                   data it needs (an object id and its length)
//! Job::feed(chunk) …                                the data, in order, ≤ 64 KiB at a time;
//!                                                   untrusted: check it (e.g. its hash)
//! Job::finish(tee)        → output                  sign through `tee` what you attest
//! ```
//!
//! The guide is `docs/EXTENSIONS.md`; `extensions/template` is a working extension to copy.
//! Everything here is `no_std` + `alloc` and `#![forbid(unsafe_code)]`; `testing` (feature) runs
//! an extension through the real engine on the host.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub use fcc_core::extension::{
    Admission, Call, DataRequest, ENVELOPE_OVERHEAD, Extension, ExtensionError, Job, MAX_OUTPUT_LEN, Operation,
    PREFIX_TEE_EXTENSION, Services, Started, envelope, signing_digest,
};
pub use fcc_core::hash::{H256, keccak256};
pub use fcc_core::instruction::InstructionData;
pub use fcc_core::limits::{MAX_DATA_CHUNK, MAX_EXTENSION_DATA_LEN, MAX_MESSAGE_LEN};
pub use fcc_core::op::{OpName, name};
pub use fcc_core::policy::Address;
pub use fcc_core::wallet::KeyIdPair;

/// Solidity ABI encoding and strict decoding (the core's: one implementation of the format).
pub mod abi {
    pub use fcc_core::abi::{Reader, Token, Word, address, encode_tuple, uint};

    use crate::ExtensionError;

    /// The extension error for input that does not decode: code 1, `what`.
    pub fn malformed(what: &'static str) -> impl Fn(fcc_core::Error) -> ExtensionError {
        move |_| ExtensionError::new(1, what)
    }
}

/// An instruction that shows an operation at work, with the host data it streams: the devnet
/// sends every example of the extensions in its image (`cargo xtask devnet --extensions …`)
/// through the instruction contract and checks each result on chain.
#[derive(Debug, Clone)]
pub struct Example {
    /// What it shows, in a few words.
    pub what: &'static str,
    /// The operation.
    pub operation: Operation,
    /// Its `originalMessage`.
    pub message: alloc::vec::Vec<u8>,
    /// The host data it asks for (filed under its SHA-256; empty: none).
    pub data: alloc::vec::Vec<u8>,
    /// The output, where it does not depend on the TEE (its key, its randomness).
    pub output: Option<alloc::vec::Vec<u8>>,
}

#[cfg(feature = "testing")]
pub mod testing;
