//! A compute extension (docs/EXTENSIONS.md). As it comes, it has one operation that needs no
//! host data — change it into yours:
//!
//! ```text
//! TEMPLATE / SIGN
//!   originalMessage = abi.encode(bytes32 digest)                     (exactly one word)
//!   output          = abi.encode(bytes32 digest, bytes signature)    the TEE key's signature of
//!                     `digest` under the domain "TEMPLATE" (`fcc_extension::signing_digest`)
//! ```
//! A contract that trusts this extension's results can then also accept the bare signature
//! (e.g. relayed elsewhere), because it names the extension, the domain and the chain.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use fcc_extension::abi::{self, Reader, Token};
use fcc_extension::{
    Admission, Call, Example, Extension, ExtensionError, H256, Job, OpName, Operation, Services, Started, keccak256,
    name,
};

/// `TEMPLATE / SIGN`. Rename the type (your extension's name, not `F_…`), say how much of the
/// policy must sign (never less than Flare's default), how much data and output at most.
pub const SIGN: Operation = Operation {
    op_type: name("TEMPLATE"),
    op_command: name("SIGN"),
    admission: Admission::FLARE_DEFAULT,
    max_data_len: 0,
    max_output_len: 4 * 32 + 65,
};

/// The domain the TEE signs under for this extension.
pub const DOMAIN: OpName = name("TEMPLATE");

/// The extension.
pub struct Template;

/// The extension, for the image's list (`extensions/set`).
pub static EXTENSION: Template = Template;

impl Extension for Template {
    fn name(&self) -> &'static str {
        "template"
    }

    fn operations(&self) -> &'static [Operation] {
        &[SIGN]
    }

    /// Decode strictly: anything but exactly one word is refused (the error is the result).
    fn start(&self, call: &Call<'_>) -> Result<Started, ExtensionError> {
        let malformed = abi::malformed("request: abi.encode(bytes32 digest)");
        let r = Reader::new(&call.instruction.original_message, "template request");
        let digest = *r.word(0).map_err(&malformed)?;
        r.finish(32).map_err(&malformed)?;
        Ok(Started { job: Box::new(Signing(digest)), data: None })
    }
}

/// The work: one signature.
struct Signing(H256);

impl Job for Signing {
    fn finish(self: Box<Self>, tee: &mut dyn Services) -> Result<Vec<u8>, ExtensionError> {
        let signature = tee.sign(&DOMAIN, &self.0);
        Ok(abi::encode_tuple(&[Token::Word(self.0), Token::Bytes(&signature)]))
    }
}

/// What the devnet sends to show it working (`cargo xtask devnet --extensions template`): a
/// signature over the hash of a greeting (the output holds the TEE's signature, so no expected
/// output). Add yours: each goes through the chain to a result verified on chain.
pub fn examples() -> Vec<Example> {
    let digest = keccak256(b"hello, extension");
    alloc::vec![Example {
        what: "a signed digest",
        operation: SIGN,
        message: digest.to_vec(),
        data: Vec::new(),
        output: None
    }]
}
