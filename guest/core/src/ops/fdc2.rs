//! `F_FDC2`/`PROVE`: sign an attestation response as Flare's TEE-based FDC does.
//!
//! The instruction's `originalMessage` is `abi.encode(Fdc2AttestationRequest)` with
//! `Fdc2AttestationRequest { (bytes32 attestationType, bytes32 sourceId, uint16 thresholdBIPS,
//! address proofOwner) header; bytes requestBody }` and `additionalFixedMessage` is the response
//! body the providers agreed on. The TEE builds
//!
//! ```text
//! responseHeader = abi.encode((bytes32 attestationType, bytes32 sourceId, uint16 thresholdBIPS,
//!                   address proofOwner, address[] cosigners, uint64 cosignersThreshold, uint64 timestamp))
//! dataHash    = keccak(keccak(responseHeader) ‖ keccak(requestBody) ‖ keccak(responseBody))
//! messageHash = keccak(bytes32("FDC2") ‖ uint256 chainId ‖ dataHash)
//! teeSignature = sign(EIP-191(messageHash))
//! ```
//! and returns `abi.encode((bytes responseHeader, bytes requestBody, bytes responseBody,
//! bytes teeSignature))`.

use alloc::vec::Vec;

use crate::abi::{self, Reader, Token};
use crate::action::Action;
use crate::attester::Attester;
use crate::error::Error;
use crate::hash::{H256, eip191_hash, keccak256, keccak256_concat};
use crate::instruction::{InstructionData, PREFIX_FDC2, payload_hash};
use crate::limits::MAX_MESSAGE_LEN;
use crate::policy::Address;
use crate::state::TeeState;

/// The decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Attestation type.
    pub attestation_type: [u8; 32],
    /// Source id.
    pub source_id: [u8; 32],
    /// Threshold in basis points (0 = Flare's default 5000).
    pub threshold_bips: u16,
    /// Who may use the proof.
    pub proof_owner: Address,
    /// The request body.
    pub request_body: &'a [u8],
}

/// Strictly decodes `abi.encode(Fdc2AttestationRequest)`.
pub fn decode_request(bytes: &[u8]) -> Result<Request<'_>, Error> {
    let r = Reader::new(bytes, "FDC2 request");
    if r.uint(0, 64)? != 32 {
        return Err(Error::Malformed { what: "FDC2 request" });
    }
    // Tuple at 32: the static header inline (4 words), then the offset of requestBody.
    let base = 32;
    let threshold_bips = r.uint(base + 64, 16)? as u16;
    let (request_body, end) = r.bytes(base, 128, base + 160, MAX_MESSAGE_LEN)?;
    r.finish(end)?;
    Ok(Request {
        attestation_type: *r.word(base)?,
        source_id: *r.word(base + 32)?,
        threshold_bips,
        proof_owner: r.address(base + 96)?,
        request_body,
    })
}

/// The threshold rule: the request's basis points (0 means 5000; below 4000 or from 10000 up
/// is refused; below 5000 needs a cosigner majority).
pub fn threshold_bips(d: &InstructionData) -> Result<u16, Error> {
    let req = decode_request(&d.original_message)?;
    match req.threshold_bips {
        0 => Ok(5000),
        b if !(4000..10_000).contains(&b) => {
            Err(Error::OperationFailed { reason: "FDC2 thresholdBIPS outside [4000, 10000)" })
        }
        b if b < 5000 && d.cosigners_threshold * 2 <= d.cosigners.len() as u64 => {
            Err(Error::OperationFailed { reason: "FDC2 threshold below 50% needs a cosigner majority" })
        }
        b => Ok(b),
    }
}

/// `messageHash` and the ABI-encoded response header for a request.
pub fn message_hash(chain_id: u64, req: &Request<'_>, d: &crate::instruction::InstructionData) -> (H256, Vec<u8>) {
    let header = abi::encode_dynamic_struct(&[
        Token::Word(req.attestation_type),
        Token::Word(req.source_id),
        Token::Word(abi::uint(u64::from(req.threshold_bips))),
        Token::Word(abi::address(&req.proof_owner)),
        Token::Addresses(&d.cosigners),
        Token::Word(abi::uint(d.cosigners_threshold)),
        Token::Word(abi::uint(d.timestamp)),
    ]);
    let data_hash =
        keccak256_concat(&[&keccak256(&header), &keccak256(req.request_body), &keccak256(&d.additional_fixed_message)]);
    (payload_hash(&PREFIX_FDC2, chain_id, &data_hash), header)
}

/// `PROVE`.
pub fn prove(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<crate::result::Output, Error> {
    let d = &action.instruction;
    let req = decode_request(&d.original_message)?;
    let (hash, header) = message_hash(state.config.chain_id, &req, d);
    let signature = state.identity.sign_digest(&eip191_hash(&hash));
    Ok(abi::encode_dynamic_struct(&[
        Token::Bytes(&header),
        Token::Bytes(req.request_body),
        Token::Bytes(&d.additional_fixed_message),
        Token::Bytes(&signature),
    ])
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bips: u16, body: &[u8]) -> Vec<u8> {
        // abi.encode((header tuple inline), bytes) — built by hand: 0x20 | 4 header words | 0xa0 | len | body
        let mut out = abi::uint(32).to_vec();
        out.extend_from_slice(&[0x11; 32]);
        out.extend_from_slice(&[0x22; 32]);
        out.extend_from_slice(&abi::uint(u64::from(bips)));
        out.extend_from_slice(&abi::address(&[0x33; 20]));
        out.extend_from_slice(&abi::encode_tuple(&[Token::Bytes(body)])[32..]);
        // fix the offset word: encode_tuple's own head was dropped, write ours
        let mut fixed = out[..32 + 128].to_vec();
        fixed.extend_from_slice(&abi::uint(160));
        fixed.extend_from_slice(&out[32 + 128..]);
        fixed
    }

    #[test]
    fn decodes_strictly() {
        let enc = request(5000, b"body");
        let r = decode_request(&enc).unwrap();
        assert_eq!(r.threshold_bips, 5000);
        assert_eq!(r.proof_owner, [0x33; 20]);
        assert_eq!(r.request_body, b"body");
        let mut long = enc.clone();
        long.push(0);
        assert!(decode_request(&long).is_err());
        assert!(decode_request(&enc[..enc.len() - 1]).is_err());
        let mut bad_bips = enc.clone();
        bad_bips[32 + 64 + 29] = 1; // above 16 bits
        assert!(decode_request(&bad_bips).is_err());
    }
}
