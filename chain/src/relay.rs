//! Parsing the calldata of a `relay()` transaction that carried a new signing policy
//! (docs/PROTOCOL.md §16), so the signatures the Relay checked can be handed to the guest's light
//! client as an `UPDATE_POLICY`:
//!
//! ```text
//! b59589d1 ‖ policy ‖ 00 ‖ newPolicy ‖ count u16 ‖ count × (v u8 ‖ r 32 ‖ s 32 ‖ voter index u16)
//! ```
//!
//! Policies are Flare's bytes (43 + 22·n, n the leading u16). Parsed here rather than through the
//! contract bindings so the proxy builds without the forge artifacts.

use alloy::primitives::{B256, Bytes};
use alloy::providers::Provider;

/// `bytes4(keccak256("relay()"))`.
pub const RELAY_SELECTOR: [u8; 4] = [0xb5, 0x95, 0x89, 0xd1];
/// Protocol id of a new-policy relay message.
const PROTOCOL_NEW_POLICY: u8 = 0;
/// Most signatures a relay message may carry (a policy has at most this many voters).
pub const MAX_SIGNATURES: usize = 300;

/// One voter's signature in a relay message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelaySignature {
    /// The voter's index in the signing policy.
    pub index: u16,
    /// `r ‖ s ‖ v` with v ∈ {0, 1} (the message carries `v + 27` first).
    pub signature: [u8; 65],
}

/// A new-policy relay message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRelay {
    /// The signing policy (the latest stored when the transaction ran).
    pub policy: Bytes,
    /// The new policy.
    pub new_policy: Bytes,
    /// The signatures, in the message's order.
    pub signatures: Vec<RelaySignature>,
}

/// Why calldata is not a well-formed new-policy relay message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayParseError {
    /// The calldata ends inside a field.
    #[error("relay message truncated in {field} (needs {need} bytes at offset {at}, has {len})")]
    Truncated {
        /// The field.
        field: &'static str,
        /// Its offset.
        at: usize,
        /// Bytes needed.
        need: usize,
        /// Calldata length.
        len: usize,
    },
    /// A relay message of another protocol (a custom signature, a Merkle root).
    #[error("relay message of protocol {0}, not a new policy (0)")]
    NotNewPolicy(u8),
    /// `v` is not 27 or 28.
    #[error("signature {position} has v = {v} (27 or 28 expected)")]
    BadV {
        /// Position in the message.
        position: usize,
        /// The byte.
        v: u8,
    },
    /// More signatures than a policy has voters.
    #[error("{0} signatures (at most {MAX_SIGNATURES})")]
    TooMany(usize),
    /// Bytes after the last signature.
    #[error("{0} bytes after the last signature")]
    Trailing(usize),
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], RelayParseError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or(RelayParseError::Truncated { field, at: self.at, need: n, len: self.data.len() })?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, RelayParseError> {
        let b = self.take(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A policy: its length follows from the voter count in its first two bytes.
    fn policy(&mut self, field: &'static str) -> Result<Bytes, RelayParseError> {
        let head = self.data.get(self.at..self.at + 2).ok_or(RelayParseError::Truncated {
            field,
            at: self.at,
            need: 2,
            len: self.data.len(),
        })?;
        let n = usize::from(u16::from_be_bytes([head[0], head[1]]));
        Ok(Bytes::copy_from_slice(self.take(field, 43 + 22 * n)?))
    }
}

/// Parses `relay()` calldata. `Ok(None)` when the calldata is not a `relay()` call at all (the
/// policy came through another path, such as the owner's setter).
pub fn parse_policy_relay(calldata: &[u8]) -> Result<Option<PolicyRelay>, RelayParseError> {
    if calldata.len() < 4 || calldata[..4] != RELAY_SELECTOR {
        return Ok(None);
    }
    let mut r = Reader { data: calldata, at: 4 };
    let policy = r.policy("signing policy")?;
    let protocol = r.take("protocol id", 1)?[0];
    if protocol != PROTOCOL_NEW_POLICY {
        return Err(RelayParseError::NotNewPolicy(protocol));
    }
    let new_policy = r.policy("new signing policy")?;
    let count = usize::from(r.u16("signature count")?);
    if count > MAX_SIGNATURES {
        return Err(RelayParseError::TooMany(count));
    }
    let mut signatures = Vec::with_capacity(count);
    for position in 0..count {
        let v = r.take("signature", 1)?[0];
        if v != 27 && v != 28 {
            return Err(RelayParseError::BadV { position, v });
        }
        let rs = r.take("signature", 64)?;
        let index = r.u16("signer index")?;
        let mut signature = [0u8; 65];
        signature[..64].copy_from_slice(rs);
        signature[64] = v - 27;
        signatures.push(RelaySignature { index, signature });
    }
    if r.at != calldata.len() {
        return Err(RelayParseError::Trailing(calldata.len() - r.at));
    }
    Ok(Some(PolicyRelay { policy, new_policy, signatures }))
}

/// The input (calldata) of transaction `tx`, `None` if the node does not know it.
pub async fn transaction_input<P: Provider>(provider: &P, tx: B256) -> anyhow::Result<Option<Bytes>> {
    use alloy::consensus::Transaction as _;
    let t = provider.get_transaction_by_hash(tx).await?;
    Ok(t.map(|t| t.input().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(n: u16, fill: u8) -> Vec<u8> {
        let mut p = vec![fill; 43 + 22 * usize::from(n)];
        p[..2].copy_from_slice(&n.to_be_bytes());
        p
    }

    fn message(sigs: &[(u8, u16)]) -> Vec<u8> {
        let mut m = RELAY_SELECTOR.to_vec();
        m.extend(policy(2, 0xaa));
        m.push(0);
        m.extend(policy(3, 0xbb));
        m.extend((sigs.len() as u16).to_be_bytes());
        for &(v, index) in sigs {
            m.push(v);
            m.extend([0x11; 32]);
            m.extend([0x22; 32]);
            m.extend(index.to_be_bytes());
        }
        m
    }

    #[test]
    fn a_policy_relay_parses_and_bad_ones_are_named() {
        let r = parse_policy_relay(&message(&[(27, 0), (28, 1)])).unwrap().unwrap();
        assert_eq!(r.policy.len(), 43 + 44);
        assert_eq!(r.new_policy.len(), 43 + 66);
        assert_eq!(r.signatures.len(), 2);
        assert_eq!((r.signatures[1].index, r.signatures[1].signature[64]), (1, 1));
        assert_eq!(&r.signatures[0].signature[..32], &[0x11; 32]);

        assert_eq!(parse_policy_relay(&[0xde, 0xad, 0xbe, 0xef, 0]).unwrap(), None);
        let m = message(&[(27, 0)]);
        assert!(matches!(parse_policy_relay(&m[..m.len() - 1]), Err(RelayParseError::Truncated { .. })));
        let mut trailing = m.clone();
        trailing.push(0);
        assert_eq!(parse_policy_relay(&trailing), Err(RelayParseError::Trailing(1)));
        assert_eq!(parse_policy_relay(&message(&[(27, 0), (5, 1)])), Err(RelayParseError::BadV { position: 1, v: 5 }));
        let mut custom = m;
        custom[4 + 43 + 44] = 1;
        assert_eq!(parse_policy_relay(&custom), Err(RelayParseError::NotNewPolicy(1)));
    }
}
