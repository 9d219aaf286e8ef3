//! Compute extensions: operations that are not Flare's system ones, compiled into the measured
//! image next to them. An extension declares its operations and their admission rule; the engine
//! authorises each instruction exactly as it does a system one (the declared rule can only be
//! stricter than Flare's default), streams the host's data to it in bounded chunks (the host is
//! not trusted: the extension checks what it is given, e.g. against a hash the instruction names),
//! and signs its output in an envelope that names the extension and the code that produced it.
//! Keys reach an extension only as signatures under the extension's own domain, which no system
//! signature shares; it never sees key bytes.
//!
//! ```text
//! result data        = abi.encode(uint256 extensionId, bytes32 codeHash, bytes32 opType,
//!                                 bytes32 opCommand, bytes output)
//! extension digest   = eip191(keccak(bytes32("TEE_EXTENSION") ‖ uint256 chainId ‖
//!                             keccak(uint256 extensionId ‖ bytes32 domain ‖ bytes32 dataHash)))
//! ```
//! `codeHash` is `keccak256` of the launch measurement the platform reports (the registry's
//! code version), zero where the platform reports none. The SDK developers build against is
//! `fcc-extension`, which re-exports this module.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::abi::{self, Token};
use crate::error::Error;
use crate::hash::{H256, eip191_hash, keccak256, keccak256_concat};
use crate::instruction::{InstructionData, payload_hash};
use crate::limits::{MAX_EXTENSION_DATA_LEN, MAX_RESULT_DATA_LEN};
use crate::op::{self, DEFAULT_THRESHOLD_BIPS, OpName};
use crate::policy::Address;
use crate::state::TeeState;
use crate::wallet::KeyIdPair;

/// Domain prefix of every signature an extension asks for.
pub const PREFIX_TEE_EXTENSION: [u8; 32] = op::name("TEE_EXTENSION");

/// Bytes the result envelope adds around an extension's output: five head words, the output's
/// length word and up to 31 bytes of padding.
pub const ENVELOPE_OVERHEAD: usize = 6 * 32 + 31;

/// Largest output an extension's operation may declare: what fits a result with its envelope.
pub const MAX_OUTPUT_LEN: usize = MAX_RESULT_DATA_LEN - ENVELOPE_OVERHEAD;

/// What an instruction of an extension's operation needs before the TEE runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Voter weight to exceed, in basis points of the policy's total weight: at least Flare's
    /// default (5000) and below 10000.
    pub threshold_bips: u16,
    /// The least `cosignersThreshold` an instruction must declare (its listed cosigners must then
    /// sign, as for any instruction).
    pub min_cosigners: u64,
}

impl Admission {
    /// Flare's default: more than half of the policy's weight, no cosigners required.
    pub const FLARE_DEFAULT: Self = Self { threshold_bips: DEFAULT_THRESHOLD_BIPS, min_cosigners: 0 };
}

/// One operation an extension serves (always an instruction: only signed instructions reach an
/// extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// Operation type; must not start with `F_` (Flare's system types).
    pub op_type: OpName,
    /// Operation command.
    pub op_command: OpName,
    /// What its instructions need.
    pub admission: Admission,
    /// Most bytes of host data one instruction may stream in (0: it takes none); at most
    /// `limits::MAX_EXTENSION_DATA_LEN`.
    pub max_data_len: u64,
    /// Largest output; at most [`MAX_OUTPUT_LEN`].
    pub max_output_len: usize,
}

/// Data an instruction needs from the host: the object it names and its exact length. The host
/// serves objects by this id (its SHA-256 by convention); the extension checks what arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRequest {
    /// The object.
    pub object: H256,
    /// Exactly how many bytes it has.
    pub len: u64,
}

/// An extension's failure: its own code (shown in the result's log) and a short reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionError {
    /// The extension's code for it.
    pub code: u16,
    /// Why, briefly (no secrets: it is signed into a public result).
    pub reason: &'static str,
}

impl ExtensionError {
    /// An error with `code` and `reason`.
    pub const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

impl From<ExtensionError> for Error {
    fn from(e: ExtensionError) -> Self {
        Error::ExtensionFailed { code: e.code, reason: e.reason }
    }
}

/// A started instruction: the job and the data it needs first.
pub struct Started {
    /// The work.
    pub job: Box<dyn Job>,
    /// The host data to stream into [`Job::feed`] before [`Job::finish`]; `None`: none.
    pub data: Option<DataRequest>,
}

/// One instruction's work in progress.
pub trait Job: Send {
    /// Takes the next chunk of the requested data, in order (`limits::MAX_DATA_CHUNK` bytes at
    /// most; exactly the requested length in all).
    fn feed(&mut self, chunk: &[u8]) -> Result<(), ExtensionError> {
        let _ = chunk;
        Err(ExtensionError::new(0, "this operation takes no data"))
    }

    /// Completes the work and returns the output; `tee` signs what it says it signs.
    fn finish(self: Box<Self>, tee: &mut dyn Services) -> Result<Vec<u8>, ExtensionError>;
}

/// The instruction an extension runs: authorised by the policy (and its cosigners) before the
/// extension sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The instruction.
    pub instruction: &'a InstructionData,
    /// The operation (as the extension declared it).
    pub operation: &'a Operation,
}

/// An extension: a named set of operations.
pub trait Extension: Sync {
    /// A short name (logs and docs).
    fn name(&self) -> &'static str;

    /// The operations it serves.
    fn operations(&self) -> &'static [Operation];

    /// Decodes and checks `call` strictly and starts its work.
    fn start(&self, call: &Call<'_>) -> Result<Started, ExtensionError>;
}

/// What the TEE does for an extension. Every signature is over [`signing_digest`], so it
/// names this extension and its domain and can stand in for no system signature.
pub trait Services {
    /// The TEE's id (its key's address: the signer of the results).
    fn tee_id(&self) -> Address;
    /// The chain the TEE serves.
    fn chain_id(&self) -> u64;
    /// The extension this TEE was booted for.
    fn extension_id(&self) -> H256;
    /// Signs `data_hash` under `domain` with the TEE key.
    fn sign(&mut self, domain: &OpName, data_hash: &H256) -> [u8; 65];
    /// Signs `data_hash` under `domain` with the wallet key `key`.
    fn sign_with_wallet_key(
        &mut self,
        key: &KeyIdPair,
        domain: &OpName,
        data_hash: &H256,
    ) -> Result<[u8; 65], ExtensionError>;
    /// Fills `out` from the TEE's random generator.
    fn fill_random(&mut self, out: &mut [u8]);
}

/// The digest every extension signature is over.
pub fn signing_digest(chain_id: u64, extension_id: &H256, domain: &OpName, data_hash: &H256) -> H256 {
    let inner = keccak256_concat(&[extension_id, domain, data_hash]);
    eip191_hash(&payload_hash(&PREFIX_TEE_EXTENSION, chain_id, &inner))
}

/// The result data of an extension's `output`.
pub fn envelope(
    extension_id: &H256,
    code_hash: &H256,
    op_type: &OpName,
    op_command: &OpName,
    output: &[u8],
) -> Vec<u8> {
    abi::encode_tuple(&[
        Token::Word(*extension_id),
        Token::Word(*code_hash),
        Token::Word(*op_type),
        Token::Word(*op_command),
        Token::Bytes(output),
    ])
}

/// `keccak256` of a launch measurement (the registry's code hash), zero if none.
pub fn code_hash(measurement: Option<&[u8; 48]>) -> H256 {
    measurement.map_or([0; 32], |m| keccak256(m))
}

/// Checks what an extension declares against what the core allows.
pub fn check_operation(o: &Operation) -> Result<(), Error> {
    let refuse = |reason| Err(Error::OperationFailed { reason });
    if op::is_system(&o.op_type) {
        return refuse("an extension's operation type starts with F_ (Flare's system types)");
    }
    if o.op_type == [0; 32] || o.op_command == [0; 32] {
        return refuse("an extension's operation has an empty type or command");
    }
    if o.admission.threshold_bips < DEFAULT_THRESHOLD_BIPS || o.admission.threshold_bips >= 10_000 {
        return refuse("an extension's threshold is below Flare's default (5000 bips) or unreachable");
    }
    if o.max_data_len > MAX_EXTENSION_DATA_LEN {
        return refuse("an extension's operation declares more data than the core streams");
    }
    if o.max_output_len > MAX_OUTPUT_LEN {
        return refuse("an extension's operation declares a larger output than a result holds");
    }
    Ok(())
}

/// The TEE's services for one instruction of one extension.
pub(crate) struct TeeServices<'a> {
    pub state: &'a mut TeeState,
    pub extension_id: H256,
}

impl Services for TeeServices<'_> {
    fn tee_id(&self) -> Address {
        self.state.identity.address()
    }

    fn chain_id(&self) -> u64 {
        self.state.config.chain_id
    }

    fn extension_id(&self) -> H256 {
        self.extension_id
    }

    fn sign(&mut self, domain: &OpName, data_hash: &H256) -> [u8; 65] {
        let digest = signing_digest(self.state.config.chain_id, &self.extension_id, domain, data_hash);
        self.state.identity.sign_digest(&digest)
    }

    fn sign_with_wallet_key(
        &mut self,
        key: &KeyIdPair,
        domain: &OpName,
        data_hash: &H256,
    ) -> Result<[u8; 65], ExtensionError> {
        let wallet = self.state.wallets.get(key).ok_or(ExtensionError::new(0, "no such wallet key"))?;
        let digest = signing_digest(self.state.config.chain_id, &self.extension_id, domain, data_hash);
        Ok(wallet.sign_digest(&digest))
    }

    fn fill_random(&mut self, out: &mut [u8]) {
        rand_core::Rng::fill_bytes(&mut self.state.rng, out);
    }
}
