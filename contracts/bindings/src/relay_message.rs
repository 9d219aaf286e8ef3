//! Flare's relay messages (docs/PROTOCOL.md §16), built on the host: the bytes that Flare's
//! `Relay.relay()` and `Relay.verifyCustomSignature(relayMessage, messageHash)` (and DevRelay)
//! take, the digests voters sign for them, and a check of collected signatures before a message
//! is sent (so a proxy does not pay for a transaction that must revert).
//!
//! ```text
//! custom:  b59589d1 ‖ policy ‖ 01 ‖ 00000000 ‖ 00 ‖ messageHash ‖ count u16 ‖ count × (v ‖ r ‖ s ‖ index u16)
//! policy:  b59589d1 ‖ policy ‖ 00 ‖ newPolicy                    ‖ count u16 ‖ count × (v ‖ r ‖ s ‖ index u16)
//! ```
//!
//! Signatures are listed in strictly increasing voter index with v ∈ {27, 28}; fcc-core's v ∈ {0, 1}
//! is converted here.

use std::fmt;

use fcc_core::ecdsa::{ParsedSignature, SIGNATURE_LEN};
use fcc_core::error::Error as CoreError;
use fcc_core::hash::{H256, eip191_hash, keccak256, keccak256_concat};
use fcc_core::identity::TeeIdentity;
use fcc_core::policy::{Address, PolicyHashScheme, SigningPolicy};

/// `bytes4(keccak256("relay()"))`: every relay message starts with it (it is `relay()`'s calldata).
pub const RELAY_SELECTOR: [u8; 4] = [0xb5, 0x95, 0x89, 0xd1];
/// The protocol id of a custom-signature message (Flare's "protocol message" with id 1).
pub const CUSTOM_PROTOCOL_ID: u8 = 1;
/// The protocol id that announces a new signing policy.
pub const POLICY_PROTOCOL_ID: u8 = 0;
/// Protocol message: id (1) ‖ voting round (4) ‖ secure-random flag (1) ‖ hash (32).
pub const MESSAGE_LEN: usize = 38;
/// One listed signature: v (1) ‖ r (32) ‖ s (32) ‖ voter index (2).
pub const SIGNATURE_WITH_INDEX_LEN: usize = 67;

/// A voter's signature and its index in the signing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedSignature {
    /// The voter's position in the policy.
    pub index: u16,
    /// `r ‖ s ‖ v`, v ∈ {0, 1, 27, 28} (what fcc-core and Go produce, or `eth_sign`).
    pub signature: [u8; SIGNATURE_LEN],
}

/// Why a relay message cannot be built (or would be refused on chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMessageError {
    /// A voter index is not below the policy's voter count.
    IndexOutOfRange {
        /// The index given.
        index: u16,
        /// The policy's voter count.
        voters: usize,
    },
    /// Voter indices are not strictly increasing (a voter listed twice, or out of order).
    IndexOutOfOrder {
        /// The index given.
        index: u16,
        /// The index before it.
        previous: u16,
    },
    /// Not `r ‖ s ‖ v` with r, s in range and v ∈ {0, 1, 27, 28}.
    SignatureMalformed {
        /// The voter index of the signature.
        index: u16,
    },
    /// `s` above n/2: the Relay refuses it.
    SignatureHighS {
        /// The voter index of the signature.
        index: u16,
    },
    /// The signature does not recover to the voter at its index.
    WrongSigner {
        /// The voter index of the signature.
        index: u16,
        /// Who signed.
        signer: Address,
        /// The voter at that index.
        voter: Address,
    },
    /// More signatures than a u16 counts (impossible with distinct indices of a valid policy).
    TooManySignatures {
        /// The number given.
        count: usize,
    },
    /// The signers' weight is not strictly above the policy's threshold.
    ThresholdNotReached {
        /// The signers' weight.
        weight: u32,
        /// The policy's threshold.
        threshold: u16,
    },
}

impl fmt::Display for RelayMessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IndexOutOfRange { index, voters } => {
                write!(f, "voter index {index} is not below the policy's {voters} voters")
            }
            Self::IndexOutOfOrder { index, previous } => {
                write!(f, "voter index {index} follows {previous}: indices must strictly increase")
            }
            Self::SignatureMalformed { index } => write!(f, "signature of voter {index} is malformed"),
            Self::SignatureHighS { index } => write!(f, "signature of voter {index} has a high S"),
            Self::WrongSigner { index, signer, voter } => write!(
                f,
                "signature at index {index} is by 0x{} instead of voter 0x{}",
                alloy::primitives::hex::encode(signer),
                alloy::primitives::hex::encode(voter)
            ),
            Self::TooManySignatures { count } => write!(f, "{count} signatures do not fit a relay message"),
            Self::ThresholdNotReached { weight, threshold } => {
                write!(f, "signers' weight {weight} is not above the threshold {threshold}")
            }
        }
    }
}

impl std::error::Error for RelayMessageError {}

/// The 38-byte protocol message of a custom signature: `01 ‖ 00000000 ‖ 00 ‖ messageHash`.
pub fn custom_message(message_hash: &H256) -> [u8; MESSAGE_LEN] {
    let mut m = [0u8; MESSAGE_LEN];
    m[0] = CUSTOM_PROTOCOL_ID;
    m[6..].copy_from_slice(message_hash);
    m
}

/// What voters sign so that `verifyCustomSignature(_, message_hash)` accepts: EIP-191 of
/// `keccak(custom_message)`, bound to the chain as `keccak(uint256 chainId ‖ keccak(custom_message))`
/// under the chain-bound scheme (the Relay's own chain binding, RLY-23).
pub fn custom_signing_digest(message_hash: &H256, scheme: PolicyHashScheme) -> H256 {
    let inner = keccak256(&custom_message(message_hash));
    match scheme {
        PolicyHashScheme::Legacy => eip191_hash(&inner),
        PolicyHashScheme::ChainBound { chain_id } => eip191_hash(&keccak256_concat(&[&u256(chain_id), &inner])),
    }
}

/// What the voters of the latest policy sign to relay `new_policy`: EIP-191 of its hash.
pub fn policy_update_digest(new_policy: &SigningPolicy, scheme: PolicyHashScheme) -> H256 {
    eip191_hash(&new_policy.hash(scheme))
}

/// The relay message for `verifyCustomSignature(_, message_hash)` signed under `policy`.
/// Checks the signatures' form and order (not who signed: see [`check_signatures`]).
pub fn encode_custom_signature(
    policy: &SigningPolicy,
    message_hash: &H256,
    signatures: &[IndexedSignature],
) -> Result<Vec<u8>, RelayMessageError> {
    let mut out = Vec::with_capacity(
        RELAY_SELECTOR.len() + policy.encoded_len() + MESSAGE_LEN + 2 + SIGNATURE_WITH_INDEX_LEN * signatures.len(),
    );
    out.extend_from_slice(&RELAY_SELECTOR);
    out.extend_from_slice(&policy.encode());
    out.extend_from_slice(&custom_message(message_hash));
    encode_signatures(&mut out, policy.voters().len(), signatures)?;
    Ok(out)
}

/// The signatures over `digest` of the voters `(index, key)`, sorted by index as a relay message
/// lists them (building the message then checks range, order and signers).
pub fn sign_as_voters<'a>(
    voters: impl IntoIterator<Item = (u16, &'a TeeIdentity)>,
    digest: &H256,
) -> Vec<IndexedSignature> {
    let mut sigs: Vec<IndexedSignature> =
        voters.into_iter().map(|(index, key)| IndexedSignature { index, signature: key.sign_digest(digest) }).collect();
    sigs.sort_unstable_by_key(|s| s.index);
    sigs
}

/// The relay message that moves the Relay from `current` (its latest policy) to `new_policy`
/// (the next epoch's), signed by `current`'s voters. Checks form and order like
/// [`encode_custom_signature`].
pub fn encode_policy_update(
    current: &SigningPolicy,
    new_policy: &SigningPolicy,
    signatures: &[IndexedSignature],
) -> Result<Vec<u8>, RelayMessageError> {
    let mut out = Vec::with_capacity(
        RELAY_SELECTOR.len()
            + current.encoded_len()
            + 1
            + new_policy.encoded_len()
            + 2
            + SIGNATURE_WITH_INDEX_LEN * signatures.len(),
    );
    out.extend_from_slice(&RELAY_SELECTOR);
    out.extend_from_slice(&current.encode());
    out.push(POLICY_PROTOCOL_ID);
    out.extend_from_slice(&new_policy.encode());
    encode_signatures(&mut out, current.voters().len(), signatures)?;
    Ok(out)
}

/// Checks collected signatures of `digest` as the Relay will: form and order, each recovering
/// to the voter at its index, weight strictly above the threshold. Returns the weight.
pub fn check_signatures(
    policy: &SigningPolicy,
    digest: &H256,
    signatures: &[IndexedSignature],
) -> Result<u32, RelayMessageError> {
    let mut weight = 0u32;
    let mut previous: Option<u16> = None;
    for s in signatures {
        check_form(s, policy.voters().len(), previous)?;
        previous = Some(s.index);
        let voter = policy.voters()[usize::from(s.index)];
        // The form was checked above: what is left to fail is a signature no key recovers from.
        let signer = fcc_flare_json::recover_signer(&s.signature, digest)
            .map_err(|_| RelayMessageError::SignatureMalformed { index: s.index })?;
        if signer != voter.address {
            return Err(RelayMessageError::WrongSigner { index: s.index, signer, voter: voter.address });
        }
        weight += u32::from(voter.weight);
    }
    if !policy.is_satisfied_by(weight) {
        return Err(RelayMessageError::ThresholdNotReached { weight, threshold: policy.threshold() });
    }
    Ok(weight)
}

/// `count u16 ‖ (v ‖ r ‖ s ‖ index u16)*` with v ∈ {27, 28}.
fn encode_signatures(
    out: &mut Vec<u8>,
    voters: usize,
    signatures: &[IndexedSignature],
) -> Result<(), RelayMessageError> {
    let mut previous: Option<u16> = None;
    for s in signatures {
        check_form(s, voters, previous)?;
        previous = Some(s.index);
    }
    let count = u16::try_from(signatures.len())
        .map_err(|_| RelayMessageError::TooManySignatures { count: signatures.len() })?;
    out.extend_from_slice(&count.to_be_bytes());
    for s in signatures {
        // the parity of R's y as 27/28 (check_form refused any v but 0, 1, 27, 28)
        out.push(if matches!(s.signature[64], 1 | 28) { 28 } else { 27 });
        out.extend_from_slice(&s.signature[..64]);
        out.extend_from_slice(&s.index.to_be_bytes());
    }
    Ok(())
}

/// Index in range and after `previous`; signature well formed and low-S.
fn check_form(s: &IndexedSignature, voters: usize, previous: Option<u16>) -> Result<(), RelayMessageError> {
    if usize::from(s.index) >= voters {
        return Err(RelayMessageError::IndexOutOfRange { index: s.index, voters });
    }
    if let Some(previous) = previous
        && s.index <= previous
    {
        return Err(RelayMessageError::IndexOutOfOrder { index: s.index, previous });
    }
    ParsedSignature::parse(&s.signature, s.index).map_err(|e| signature_error(e, s.index))?;
    Ok(())
}

fn signature_error(e: CoreError, index: u16) -> RelayMessageError {
    match e {
        CoreError::SignatureHighS { .. } => RelayMessageError::SignatureHighS { index },
        _ => RelayMessageError::SignatureMalformed { index },
    }
}

fn u256(x: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&x.to_be_bytes());
    w
}
