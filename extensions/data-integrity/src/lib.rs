//! Proof of data integrity (seed 003, "Attestation Runtime"): "a computation ingests some raw
//! data along with a random challenge; the output is an attestation with the hash of the data
//! next to the challenge" — whoever produced it had every bit of the data after the challenge was
//! drawn.
//!
//! ```text
//! DATA_INTEGRITY / PROVE
//!   originalMessage = abi.encode(bytes32 object, uint64 size, bytes32 challenge)
//!   data            = the object's `size` bytes, streamed from the host (object = its SHA-256)
//!   output          = abi.encode(bytes32 object, uint64 size, bytes32 challenge,
//!                                bytes32 digest, bool intact)      digest = SHA-256(data),
//!                                                                  intact = (digest == object)
//! ```
//! The TEE signs the output in the extension envelope, so a contract checks it with
//! `TeeResultVerifier.verifyExtensionResult` (and `DataIntegrity.sol` decodes it). Data that is
//! not the object is not an error: the result says `intact = false`, a failed challenge the
//! chain can act on. The challenge must not be zero (a contract draws it). One pass of SHA-256
//! over the stream, constant memory.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use fcc_extension::abi::{self, Reader, Token};
use fcc_extension::{
    Admission, Call, DataRequest, Extension, ExtensionError, H256, Job, MAX_EXTENSION_DATA_LEN, Operation, Services,
    Started, name,
};
use sha2::{Digest, Sha256};

/// `DATA_INTEGRITY / PROVE`.
pub const PROVE: Operation = Operation {
    op_type: name("DATA_INTEGRITY"),
    op_command: name("PROVE"),
    admission: Admission::FLARE_DEFAULT,
    max_data_len: MAX_EXTENSION_DATA_LEN,
    max_output_len: OUTPUT_LEN,
};

/// The output's length: five static words.
pub const OUTPUT_LEN: usize = 5 * 32;

/// The request length: three static words.
pub const REQUEST_LEN: usize = 3 * 32;

/// Error codes (the result's log names them).
pub mod code {
    /// The request does not decode (not exactly three words, a size over 64 bits).
    pub const MALFORMED: u16 = 1;
    /// The challenge is zero.
    pub const ZERO_CHALLENGE: u16 = 2;
}

/// What an instruction asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The object: the SHA-256 of its bytes.
    pub object: H256,
    /// Its size in bytes.
    pub size: u64,
    /// The challenge (non-zero).
    pub challenge: H256,
}

impl Request {
    /// Decodes `abi.encode(bytes32 object, uint64 size, bytes32 challenge)` strictly.
    pub fn decode(message: &[u8]) -> Result<Self, ExtensionError> {
        let malformed = abi::malformed("request: abi.encode(bytes32 object, uint64 size, bytes32 challenge)");
        let r = Reader::new(message, "data integrity request");
        let request = Self {
            object: *r.word(0).map_err(&malformed)?,
            size: r.uint(32, 64).map_err(&malformed)?,
            challenge: *r.word(64).map_err(&malformed)?,
        };
        r.finish(REQUEST_LEN).map_err(&malformed)?;
        if request.challenge == [0; 32] {
            return Err(ExtensionError::new(code::ZERO_CHALLENGE, "the challenge is zero"));
        }
        Ok(request)
    }

    /// The request's encoding.
    pub fn encode(&self) -> Vec<u8> {
        abi::encode_tuple(&[Token::Word(self.object), Token::Word(abi::uint(self.size)), Token::Word(self.challenge)])
    }
}

/// What the TEE found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    /// The request.
    pub request: Request,
    /// SHA-256 of the data streamed.
    pub digest: H256,
}

impl Proof {
    /// Whether the data was the object.
    pub fn intact(&self) -> bool {
        self.digest == self.request.object
    }

    /// The output: `abi.encode(object, size, challenge, digest, intact)`.
    pub fn encode(&self) -> Vec<u8> {
        abi::encode_tuple(&[
            Token::Word(self.request.object),
            Token::Word(abi::uint(self.request.size)),
            Token::Word(self.request.challenge),
            Token::Word(self.digest),
            Token::Word(abi::uint(u64::from(self.intact()))),
        ])
    }
}

/// The extension.
pub struct DataIntegrity;

/// The extension, for the image's list.
pub static EXTENSION: DataIntegrity = DataIntegrity;

impl Extension for DataIntegrity {
    fn name(&self) -> &'static str {
        "data-integrity"
    }

    fn operations(&self) -> &'static [Operation] {
        &[PROVE]
    }

    fn start(&self, call: &Call<'_>) -> Result<Started, ExtensionError> {
        let request = Request::decode(&call.instruction.original_message)?;
        Ok(Started {
            job: Box::new(Hashing { request, hasher: Sha256::new() }),
            data: Some(DataRequest { object: request.object, len: request.size }),
        })
    }
}

/// One object being hashed.
pub struct Hashing {
    request: Request,
    hasher: Sha256,
}

impl Job for Hashing {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), ExtensionError> {
        self.hasher.update(chunk);
        Ok(())
    }

    fn finish(self: Box<Self>, _: &mut dyn Services) -> Result<Vec<u8>, ExtensionError> {
        let digest: H256 = self.hasher.finalize().into();
        Ok(Proof { request: self.request, digest }.encode())
    }
}

/// What the devnet sends to show it working: the object "abc" (FIPS 180-2's first vector) under
/// a fixed challenge, whose proof is known in advance.
pub fn examples() -> Vec<fcc_extension::Example> {
    let object: H256 = Sha256::digest(b"abc").into();
    let request = Request { object, size: 3, challenge: [0xc1; 32] };
    let output = Proof { request, digest: object }.encode();
    alloc::vec![fcc_extension::Example {
        what: "the object \"abc\" intact",
        operation: PROVE,
        message: request.encode(),
        data: b"abc".to_vec(),
        output: Some(output),
    }]
}
