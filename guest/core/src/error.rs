//! The one error type of the core. Every rejection names its reason, and each reason has a
//! stable numeric code that travels in results and logs (`docs/PROTOCOL.md`, "Error codes").

use core::fmt;

/// Why the core refused an input. Small and `Copy` so it can be logged, returned and embedded in
/// results without allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // variant fields are named for what they hold
pub enum Error {
    // --- Decoding (1xx) ---
    /// The input ended before `what` was complete.
    Truncated { what: &'static str, need: usize, got: usize },
    /// Bytes were left over after a complete `what`.
    TrailingBytes { what: &'static str, extra: usize },
    /// `what` is longer than its bound.
    TooLarge { what: &'static str, len: usize, max: usize },
    /// `what` has more elements than its bound.
    TooMany { what: &'static str, count: usize, max: usize },
    /// `what` is structurally invalid (bad ABI offset, non-canonical padding, bad tag...).
    Malformed { what: &'static str },

    // --- Signing policies and the light client (2xx) ---
    /// A signing policy has no voters.
    PolicyNoVoters,
    /// A signing policy's voter weights add up to more than 65535.
    PolicyWeightOverflow { total: u32 },
    /// A signing policy lists the same address twice.
    PolicyDuplicateVoter { index: u16 },
    /// A signing policy's threshold is not below its total weight, so nothing could ever pass.
    PolicyUnsatisfiable { threshold: u16, total: u32 },
    /// The light client already has a trust root.
    PolicyAlreadyInitialized,
    /// The light client has no trust root yet.
    PolicyNotInitialized,
    /// A policy update is not for the epoch after the active one.
    PolicyEpochNotNext { active: u32, got: u32 },
    /// An instruction cites a policy that is neither the active nor the previous one.
    PolicyEpochUnknown { active: u32, got: u32 },
    /// A policy update's bytes are not the policy the signatures were made over.
    PolicyMismatch,
    /// A resumed TEE was offered a trust root other than the one it sealed.
    PolicyRootMismatch,
    /// A resumed TEE's light client is not yet back at the epoch it had reached when sealed.
    PolicyBelowSealed { active: u32, sealed: u32 },
    /// An instruction cites an epoch after the active one: the TEE has not seen that policy yet.
    PolicyEpochAhead { active: u32, got: u32 },
    /// A policy update for an epoch beyond the next: an update in between is missing.
    PolicyUpdateGap { active: u32, got: u32 },

    // --- Signatures and thresholds (3xx) ---
    /// Signature `index` is not a well-formed 65-byte `r ‖ s ‖ v` (zero or out-of-range scalar,
    /// bad `v`).
    SignatureMalformed { index: u16 },
    /// Signature `index` has a high `s` (> n/2); only the canonical low-S form is accepted.
    SignatureHighS { index: u16 },
    /// Signature `index` does not verify for the signer it names or recovers to.
    SignatureInvalid { index: u16 },
    /// Signature `index` was made by an address that is neither a voter nor a listed cosigner.
    UnknownSigner { index: u16 },
    /// Signature `index` is from a signer who already signed this message.
    DuplicateSigner { index: u16 },
    /// The proxy's hint for signature `index` is out of range or inconsistent.
    BadSignerHint { index: u16 },
    /// The voters' weight is not strictly greater than the policy threshold.
    InsufficientWeight { weight: u32, threshold: u32 },
    /// Fewer distinct cosigners signed than the instruction's `cosignersThreshold`.
    InsufficientCosigners { count: u16, required: u64 },
    /// The instruction lists the same cosigner twice, or more cosigners than allowed.
    BadCosignerList,

    // --- Instructions and execution (4xx) ---
    /// The instruction is addressed to another TEE.
    WrongTee,
    /// This instruction id was executed already.
    Replayed,
    /// No handler is registered for this (opType, opCommand).
    UnknownOperation { op_type: [u8; 32], op_command: [u8; 32] },
    /// A handler refused its input.
    OperationFailed { reason: &'static str },
    /// The replay memory holds `REPLAY_CAPACITY` ids of the current window: new instructions wait
    /// until a policy rotation frees the oldest epoch's.
    ReplayFull { capacity: usize },
    /// A compute extension refused or failed the instruction; `code` is its own.
    ExtensionFailed { code: u16, reason: &'static str },

    // --- Platform and link (5xx) ---
    /// The entropy source failed; the core fails closed.
    EntropyUnavailable,
    /// A frame of an unsupported protocol version.
    UnsupportedVersion { got: u8 },
    /// A frame that is valid but not expected in this state of the conversation.
    UnexpectedMessage,
    /// A sealed-state blob that does not open (see `seal`): `what` says why.
    SealedStateInvalid { what: &'static str },
}

/// Whether a refusal with `code` may turn into a success when the same action is delivered again
/// later, with nothing but time and the policy actions queued before it (a light client catching
/// up, a trust root still to come, an entropy source recovering). The proxy delivers such an
/// action again instead of keeping the refusal as its result.
pub const fn retryable(code: u16) -> bool {
    matches!(code, 206 | 211 | 212 | 213 | 405 | 501)
}

impl Error {
    /// See [`retryable`].
    pub const fn is_retryable(&self) -> bool {
        retryable(self.code())
    }

    /// The stable numeric code of this error (see `docs/PROTOCOL.md`).
    pub const fn code(&self) -> u16 {
        match self {
            Error::Truncated { .. } => 101,
            Error::TrailingBytes { .. } => 102,
            Error::TooLarge { .. } => 103,
            Error::TooMany { .. } => 104,
            Error::Malformed { .. } => 105,
            Error::PolicyNoVoters => 201,
            Error::PolicyWeightOverflow { .. } => 202,
            Error::PolicyDuplicateVoter { .. } => 203,
            Error::PolicyUnsatisfiable { .. } => 204,
            Error::PolicyAlreadyInitialized => 205,
            Error::PolicyNotInitialized => 206,
            Error::PolicyEpochNotNext { .. } => 207,
            Error::PolicyEpochUnknown { .. } => 208,
            Error::PolicyMismatch => 209,
            Error::PolicyRootMismatch => 210,
            Error::PolicyBelowSealed { .. } => 211,
            Error::PolicyEpochAhead { .. } => 212,
            Error::PolicyUpdateGap { .. } => 213,
            Error::SignatureMalformed { .. } => 301,
            Error::SignatureHighS { .. } => 302,
            Error::SignatureInvalid { .. } => 303,
            Error::UnknownSigner { .. } => 304,
            Error::DuplicateSigner { .. } => 305,
            Error::BadSignerHint { .. } => 306,
            Error::InsufficientWeight { .. } => 307,
            Error::InsufficientCosigners { .. } => 308,
            Error::BadCosignerList => 309,
            Error::WrongTee => 401,
            Error::Replayed => 402,
            Error::UnknownOperation { .. } => 403,
            Error::OperationFailed { .. } => 404,
            Error::ReplayFull { .. } => 405,
            Error::ExtensionFailed { .. } => 406,
            Error::EntropyUnavailable => 501,
            Error::UnsupportedVersion { .. } => 502,
            Error::UnexpectedMessage => 503,
            Error::SealedStateInvalid { .. } => 504,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { what, need, got } => write!(f, "{what}: truncated, need {need} bytes, got {got}"),
            Error::TrailingBytes { what, extra } => write!(f, "{what}: {extra} trailing bytes"),
            Error::TooLarge { what, len, max } => write!(f, "{what}: {len} bytes exceeds the bound of {max}"),
            Error::TooMany { what, count, max } => write!(f, "{what}: {count} elements exceed the bound of {max}"),
            Error::Malformed { what } => write!(f, "malformed {what}"),
            Error::PolicyNoVoters => f.write_str("signing policy has no voters"),
            Error::PolicyWeightOverflow { total } => write!(f, "signing policy weights sum to {total} > 65535"),
            Error::PolicyDuplicateVoter { index } => write!(f, "signing policy voter {index} is listed twice"),
            Error::PolicyUnsatisfiable { threshold, total } => {
                write!(f, "signing policy threshold {threshold} is not below its total weight {total}")
            }
            Error::PolicyAlreadyInitialized => f.write_str("initial signing policy is already set"),
            Error::PolicyNotInitialized => f.write_str("no signing policy yet: initialize first"),
            Error::PolicyEpochNotNext { active, got } => {
                write!(f, "policy update for epoch {got}, but only epoch {} may follow active {active}", active + 1)
            }
            Error::PolicyEpochUnknown { active, got } => {
                write!(f, "reward epoch {got} is neither the active ({active}) nor the previous policy")
            }
            Error::PolicyMismatch => f.write_str("policy bytes do not match the signed policy"),
            Error::PolicyRootMismatch => f.write_str("trust root differs from the one this TEE sealed"),
            Error::PolicyBelowSealed { active, sealed } => {
                write!(f, "active policy epoch {active} is below epoch {sealed} this TEE had reached before it resumed")
            }
            Error::PolicyEpochAhead { active, got } => {
                write!(f, "reward epoch {got} is after the active policy's ({active}): not seen yet")
            }
            Error::PolicyUpdateGap { active, got } => {
                write!(f, "policy update for epoch {got}, but epoch {} must come first", active + 1)
            }
            Error::SignatureMalformed { index } => write!(f, "signature {index} is malformed"),
            Error::SignatureHighS { index } => write!(f, "signature {index} has a high S value"),
            Error::SignatureInvalid { index } => write!(f, "signature {index} does not verify"),
            Error::UnknownSigner { index } => {
                write!(f, "signature {index} is from neither a voter nor a listed cosigner")
            }
            Error::DuplicateSigner { index } => write!(f, "signature {index} repeats a signer"),
            Error::BadSignerHint { index } => write!(f, "signer hint for signature {index} is inconsistent"),
            Error::InsufficientWeight { weight, threshold } => {
                write!(f, "signed weight {weight} is not greater than the threshold {threshold}")
            }
            Error::InsufficientCosigners { count, required } => {
                write!(f, "{count} cosigners signed, {required} required")
            }
            Error::BadCosignerList => f.write_str("cosigner list has duplicates"),
            Error::WrongTee => f.write_str("instruction is addressed to another TEE"),
            Error::Replayed => f.write_str("instruction id was already executed"),
            Error::UnknownOperation { ref op_type, ref op_command } => {
                write!(f, "no handler for operation {}/{}", crate::op::text(op_type), crate::op::text(op_command))
            }
            Error::OperationFailed { reason } => write!(f, "operation failed: {reason}"),
            Error::ReplayFull { capacity } => {
                write!(f, "replay memory full ({capacity} ids in the window): retry after the next policy rotation")
            }
            Error::ExtensionFailed { code, reason } => write!(f, "extension failed (its code {code}): {reason}"),
            Error::EntropyUnavailable => f.write_str("entropy source failed"),
            Error::UnsupportedVersion { got } => write!(f, "unsupported link protocol version {got}"),
            Error::UnexpectedMessage => f.write_str("unexpected message"),
            Error::SealedStateInvalid { what } => write!(f, "sealed state refused: {what}"),
        }
    }
}

#[cfg(feature = "std")]
extern crate std;
#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn unknown_operation_prints_names() {
        let mut t = [0u8; 32];
        t[..3].copy_from_slice(b"F_X");
        let mut c = [0u8; 32];
        c[..2].copy_from_slice(b"GO");
        let e = Error::UnknownOperation { op_type: t, op_command: c };
        assert_eq!(e.to_string(), "no handler for operation F_X/GO");
        assert_eq!(e.code(), 403);
    }
}
