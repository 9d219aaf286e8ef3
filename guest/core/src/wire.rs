//! The guest <-> proxy link: versioned, length-prefixed postcard frames with hard size bounds.
//!
//! ```text
//! frame = length u32 (big-endian, of what follows, ≤ MAX_FRAME_LEN) ‖ version u8 ‖ postcard(message)
//! ```
//! The guest connects to the proxy; the proxy sends a fresh `Challenge`; the guest answers with
//! `Hello`, signed with the TEE key over the challenge and the greeting itself
//! ([`link_digest`]), so the proxy knows the link is the TEE's and no one else's; then they
//! alternate `Pull` → `Actions` and `Result` → `Ack`. Everything the proxy sends is hostile until
//! verified: the decoder never allocates more than the frame bound, and every decoded message is
//! validated before use.

use alloc::string::String;
use alloc::vec::Vec;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::attester::PlatformKind;
use crate::ecdsa::{SIGNATURE_LEN, recover_address};
use crate::error::Error;
use crate::hash::{H256, keccak256, keccak256_concat};
use crate::light_client::PublicKey;
use crate::limits::{
    MAX_ACTIONS_PER_PULL, MAX_ATTESTATION_LEN, MAX_DATA_CHUNK, MAX_EXTENSION_DATA_LEN, MAX_FRAME_LEN, MAX_REASON_LEN,
    MAX_STATE_LEN,
};
use crate::policy::Address;
use crate::result::SignedResult;
use crate::statement::Statement;

/// The link protocol version this code speaks (3: the proxy challenges, the guest signs its
/// `Hello`; 4: the `Hello` carries its statement; 5: refusals are tagged `Refused`, and `Actions`
/// only answer an outstanding `Pull`; 6: wallet operations, a backup's result up to
/// `MAX_BACKUP_DATA_LEN`; 7: the `key-backup` submission tag).
pub const PROTOCOL_VERSION: u8 = 7;
/// Domain of the link signature ([`link_digest`]).
pub const LINK_DOMAIN: [u8; 32] = crate::op::name("FCC_LINK_HELLO_V1");
/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// What the guest says when it connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The TEE id.
    pub tee_id: Address,
    /// Its public key.
    pub public_key: PublicKey,
    /// The platform.
    pub platform: PlatformKind,
    /// The chain the guest serves.
    pub chain_id: u64,
    /// Code version.
    pub version: String,
    /// Evidence (challenge zero) whose REPORT_DATA binds [`Hello::statement`].
    pub attestation: Vec<u8>,
    /// What the evidence vouches for (`statement`): the fields below, the active policy's
    /// hash, the platform, the policy hash scheme and the version.
    pub statement: alloc::boxed::Box<Statement>,
    /// The trust root, if set: (epoch, hash).
    pub initial_policy: Option<(u32, H256)>,
    /// The active policy's epoch.
    pub active_epoch: Option<u32>,
    /// Resumed from sealed state: the sealed trust root and epoch (the proxy must replay that
    /// root and the updates up to that epoch before instructions are served).
    pub sealed: Option<((u32, H256), u32)>,
    /// The TEE key's signature over [`link_digest`] of this connection's challenge and this
    /// greeting (with these 65 bytes zero).
    #[serde(with = "crate::serde_fixed")]
    pub link_signature: [u8; SIGNATURE_LEN],
}

/// What the TEE signs to greet on a link: `keccak(LINK_DOMAIN ‖ uint256 chainId ‖ challenge ‖
/// keccak(postcard(hello with link_signature zero)))` — the key's holder, this connection (the
/// proxy's fresh challenge) and everything it says in the greeting.
pub fn link_digest(challenge: &H256, hello: &Hello) -> Result<H256, Error> {
    let unsigned = Hello { link_signature: [0; SIGNATURE_LEN], ..hello.clone() };
    let body = postcard::to_allocvec(&unsigned).map_err(|_| Error::Malformed { what: "Hello (encode)" })?;
    Ok(keccak256_concat(&[&LINK_DOMAIN, &crate::abi::uint(hello.chain_id), challenge, &keccak256(&body)]))
}

impl Hello {
    /// The statement agrees with the greeting's own fields (key, chain, policies, platform, a
    /// zero challenge) and is bounded: what the evidence vouches for is what the greeting says.
    pub fn check_statement(&self) -> Result<(), Error> {
        let s = &self.statement;
        let state_len = s.state.len().max(s.system_state.len());
        if state_len > MAX_STATE_LEN {
            return Err(Error::TooLarge { what: "attestation statement state", len: state_len, max: MAX_STATE_LEN });
        }
        let agrees = s.public_key == self.public_key.0
            && s.chain_id == self.chain_id
            && s.challenge == [0; 32]
            && s.initial_policy == self.initial_policy.unwrap_or((0, [0; 32]))
            && (s.last_policy.0 == self.active_epoch.unwrap_or(0))
            && (self.active_epoch.is_some() || s.last_policy.1 == [0; 32])
            // Our state (`FccState`): after its offset word, the platform.
            && s.state_version == crate::statement::STATE_VERSION
            && s.state.get(32..64) == Some(&self.platform.id()[..]);
        if !agrees {
            return Err(Error::Malformed { what: "Hello (its statement disagrees with its fields)" });
        }
        Ok(())
    }

    /// Checks the greeting is the TEE's answer to `challenge`: its public key is its `tee_id`'s
    /// and its signature over [`link_digest`] recovers to that id.
    pub fn verify_link(&self, challenge: &H256) -> Result<(), Error> {
        let from_key: Address = keccak256(&self.public_key.0)[12..].try_into().expect("20 bytes");
        if from_key != self.tee_id {
            return Err(Error::Malformed { what: "Hello (public key is not the TEE id's)" });
        }
        if recover_address(&self.link_signature, &link_digest(challenge, self)?)? != self.tee_id {
            return Err(Error::UnknownSigner { index: 0 });
        }
        Ok(())
    }
}

/// Guest → proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GuestMessage {
    /// First message of a connection.
    Hello(Hello),
    /// Asks for up to `max_actions` actions.
    Pull {
        /// At most `MAX_ACTIONS_PER_PULL`.
        max_actions: u8,
    },
    /// A signed result.
    Result(SignedResult),
    /// The TEE's state sealed for the next boot (`seal`): opaque to the proxy, which keeps the
    /// latest one per TEE for the operator to hand back (`opt/fcc/sealed-state`).
    Sealed(Vec<u8>),
    /// Asks for `len` bytes of the object `object` from `offset`, for the extension instruction
    /// `id` (`extension`): the proxy answers with `Data` frames, in order, until all are sent.
    NeedData {
        /// The instruction.
        id: H256,
        /// The object (its SHA-256, by convention).
        object: H256,
        /// Where to start.
        offset: u64,
        /// How many bytes, in all (at most `MAX_EXTENSION_DATA_LEN`).
        len: u64,
    },
}

impl GuestMessage {
    /// Checks every bound (the proxy calls this on what it receives).
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            GuestMessage::Hello(h) => {
                if h.attestation.len() > MAX_ATTESTATION_LEN {
                    return Err(Error::TooLarge {
                        what: "attestation",
                        len: h.attestation.len(),
                        max: MAX_ATTESTATION_LEN,
                    });
                }
                if h.version.len() > MAX_REASON_LEN {
                    return Err(Error::TooLarge { what: "version", len: h.version.len(), max: MAX_REASON_LEN });
                }
                h.check_statement()
            }
            GuestMessage::Pull { .. } => Ok(()),
            GuestMessage::Sealed(blob) if blob.len() > crate::limits::MAX_SEALED_LEN => {
                Err(Error::TooLarge { what: "sealed state", len: blob.len(), max: crate::limits::MAX_SEALED_LEN })
            }
            GuestMessage::Sealed(_) => Ok(()),
            GuestMessage::Result(r) => r.result.validate(),
            GuestMessage::NeedData { offset, len, .. } => {
                if *len == 0 || offset.saturating_add(*len) > MAX_EXTENSION_DATA_LEN {
                    return Err(Error::Malformed { what: "data request (empty, or past MAX_EXTENSION_DATA_LEN)" });
                }
                Ok(())
            }
        }
    }
}

/// Proxy → guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyMessage {
    /// Up to `MAX_ACTIONS_PER_PULL` actions; empty when there is nothing to do.
    Actions(Vec<Action>),
    /// The result for this id is stored durably.
    Ack {
        /// The action id.
        id: H256,
    },
    /// The first message of a connection: a fresh value the guest signs in its `Hello`.
    Challenge {
        /// Fresh per connection.
        nonce: H256,
    },
    /// The next chunk of the data the guest asked for (`GuestMessage::NeedData`).
    Data {
        /// The instruction.
        id: H256,
        /// Where this chunk starts in the object.
        offset: u64,
        /// At most `MAX_DATA_CHUNK` bytes, never empty.
        bytes: Vec<u8>,
    },
}

impl ProxyMessage {
    /// Checks every bound (the guest calls this on what it receives).
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            ProxyMessage::Actions(a) => {
                if a.len() > MAX_ACTIONS_PER_PULL {
                    return Err(Error::TooMany { what: "actions", count: a.len(), max: MAX_ACTIONS_PER_PULL });
                }
                a.iter().try_for_each(Action::validate)
            }
            ProxyMessage::Ack { .. } | ProxyMessage::Challenge { .. } => Ok(()),
            ProxyMessage::Data { bytes, .. } if bytes.is_empty() => {
                Err(Error::Malformed { what: "data chunk (empty)" })
            }
            ProxyMessage::Data { bytes, .. } if bytes.len() > MAX_DATA_CHUNK => {
                Err(Error::TooLarge { what: "data chunk", len: bytes.len(), max: MAX_DATA_CHUNK })
            }
            ProxyMessage::Data { .. } => Ok(()),
        }
    }
}

/// Encodes `msg` as one complete frame (length prefix included).
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, Error> {
    let mut out = alloc::vec![0u8; LENGTH_PREFIX + 1];
    out[LENGTH_PREFIX] = PROTOCOL_VERSION;
    let out = postcard::to_extend(msg, out).map_err(|_| Error::Malformed { what: "frame (encode)" })?;
    let body = out.len() - LENGTH_PREFIX;
    if body > MAX_FRAME_LEN {
        return Err(Error::TooLarge { what: "frame", len: body, max: MAX_FRAME_LEN });
    }
    let mut out = out;
    out[..LENGTH_PREFIX].copy_from_slice(&(body as u32).to_be_bytes());
    Ok(out)
}

/// Decodes a frame body (after the length prefix): version check, postcard, no trailing bytes.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let (&version, payload) = body.split_first().ok_or(Error::Truncated { what: "frame", need: 1, got: 0 })?;
    if version != PROTOCOL_VERSION {
        return Err(Error::UnsupportedVersion { got: version });
    }
    let (msg, rest) = postcard::take_from_bytes(payload).map_err(|_| Error::Malformed { what: "frame body" })?;
    if !rest.is_empty() {
        return Err(Error::TrailingBytes { what: "frame", extra: rest.len() });
    }
    Ok(msg)
}

/// Reassembles frames from a byte stream, never buffering more than one maximal frame.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many more bytes may be pushed now without exceeding the bound.
    pub fn room(&self) -> usize {
        (LENGTH_PREFIX + MAX_FRAME_LEN).saturating_sub(self.buf.len())
    }

    /// Appends received bytes. Fails (and the connection must be closed) if they overflow the
    /// bound; callers read at most `room()` bytes at a time.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.len() > self.room() {
            return Err(Error::TooLarge {
                what: "frame",
                len: self.buf.len() + bytes.len(),
                max: LENGTH_PREFIX + MAX_FRAME_LEN,
            });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete frame body, if one has arrived. A length over the bound is an error.
    pub fn next_body(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.buf.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let len = u32::from_be_bytes(self.buf[..LENGTH_PREFIX].try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME_LEN {
            return Err(Error::TooLarge { what: "frame", len, max: MAX_FRAME_LEN });
        }
        if len == 0 {
            return Err(Error::Truncated { what: "frame", need: 1, got: 0 });
        }
        if self.buf.len() < LENGTH_PREFIX + len {
            return Ok(None);
        }
        let body = self.buf[LENGTH_PREFIX..LENGTH_PREFIX + len].to_vec();
        self.buf.drain(..LENGTH_PREFIX + len);
        Ok(Some(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_split_stream() {
        let msg = GuestMessage::Pull { max_actions: 3 };
        let frame = encode_frame(&msg).unwrap();
        assert_eq!(&frame[..5], &[0, 0, 0, 3, PROTOCOL_VERSION]);
        let mut r = FrameReader::new();
        let mut frames = frame.clone();
        frames.extend_from_slice(&frame);
        for chunk in frames.chunks(3) {
            r.push(chunk).unwrap();
        }
        for _ in 0..2 {
            let body = r.next_body().unwrap().unwrap();
            assert_eq!(decode_body::<GuestMessage>(&body).unwrap(), msg);
        }
        assert_eq!(r.next_body().unwrap(), None);
    }

    #[test]
    fn oversized_and_bad_frames_are_refused() {
        let mut r = FrameReader::new();
        r.push(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes()).unwrap();
        assert!(matches!(r.next_body(), Err(Error::TooLarge { .. })));
        assert_eq!(decode_body::<GuestMessage>(&[9, 0]), Err(Error::UnsupportedVersion { got: 9 }));
        assert!(decode_body::<GuestMessage>(&[PROTOCOL_VERSION, 0xff]).is_err());
        let mut body = encode_frame(&GuestMessage::Pull { max_actions: 1 }).unwrap()[4..].to_vec();
        body.push(0);
        assert!(matches!(decode_body::<GuestMessage>(&body), Err(Error::TrailingBytes { .. })));
        assert!(FrameReader::new().push(&alloc::vec![0; MAX_FRAME_LEN + 5]).is_err());
    }
}
