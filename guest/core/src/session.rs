//! The guest's side of the link as a sans-IO state machine: bytes from the proxy in, bytes for
//! the proxy out. The kernel only moves bytes between this and a TCP socket, so the protocol
//! logic is host-tested and identical on every platform.
//!
//! Conversation (see `docs/PROTOCOL.md`, "The guest link"): the proxy sends a `Challenge`; the
//! guest answers with its signed `Hello` and a `Pull`; the proxy answers a pull with `Actions` (long-polling while it has none, so an empty answer
//! is rare); the guest answers every action with a `Result` and pulls again; the proxy acks each
//! stored result. Any malformed frame, unexpected message or oversized input ends the session
//! with an error: the caller closes the connection and reconnects with backoff.

use alloc::vec::Vec;

use crate::attester::Attester;
use crate::error::Error;
use crate::limits::MAX_ACTIONS_PER_PULL;
use crate::tee::Tee;
use crate::wire::{FrameReader, GuestMessage, ProxyMessage, decode_body, encode_frame};

/// One connection's worth of protocol state.
#[derive(Debug)]
pub struct Session {
    reader: FrameReader,
    out: Vec<u8>,
    /// The proxy's challenge has been answered (`Hello` sent).
    greeted: bool,
    /// Actions handled in this session.
    pub handled: u64,
}

impl Session {
    /// Starts a session: nothing to send until the proxy's `Challenge` arrives.
    pub fn start() -> Self {
        Self { reader: FrameReader::new(), out: Vec::new(), greeted: false, handled: 0 }
    }

    fn queue(&mut self, msg: &GuestMessage) -> Result<(), Error> {
        self.out.extend_from_slice(&encode_frame(msg)?);
        Ok(())
    }

    /// Exactly one pull is outstanding at any time: every `Actions` answers it and is followed
    /// by the next one.
    fn pull(&mut self) -> Result<(), Error> {
        self.queue(&GuestMessage::Pull { max_actions: MAX_ACTIONS_PER_PULL as u8 })
    }

    /// How many bytes the caller may read from the socket and pass to `receive` at most now.
    pub fn room(&self) -> usize {
        self.reader.room()
    }

    /// Bytes waiting to be sent.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Marks `n` bytes of `output()` as sent.
    pub fn consume(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
    }

    /// Feeds bytes received from the proxy: answers the challenge with the signed `Hello` and
    /// the first pull, then runs every complete action through `tee` and queues the signed
    /// results and the next pull.
    pub fn receive(&mut self, bytes: &[u8], tee: &mut Tee, attester: &mut dyn Attester) -> Result<(), Error> {
        self.reader.push(bytes)?;
        while let Some(body) = self.reader.next_body()? {
            match decode_body::<ProxyMessage>(&body)? {
                ProxyMessage::Challenge { nonce } if !self.greeted => {
                    self.queue(&GuestMessage::Hello(tee.hello(attester, &nonce)?))?;
                    self.greeted = true;
                    self.pull()?;
                }
                // A second challenge, or anything before the first.
                ProxyMessage::Challenge { .. } => return Err(Error::UnexpectedMessage),
                _ if !self.greeted => return Err(Error::UnexpectedMessage),
                ProxyMessage::Actions(actions) => {
                    if actions.len() > MAX_ACTIONS_PER_PULL {
                        return Err(Error::TooMany {
                            what: "actions",
                            count: actions.len(),
                            max: MAX_ACTIONS_PER_PULL,
                        });
                    }
                    // Each action is validated by `handle`: a bad one gets a signed refusal.
                    for action in &actions {
                        let result = tee.handle(action, attester);
                        self.queue(&GuestMessage::Result(result))?;
                        if let Some(sealed) = tee.take_sealed() {
                            self.queue(&GuestMessage::Sealed(sealed))?;
                        }
                        self.handled += 1;
                    }
                    self.pull()?;
                }
                ProxyMessage::Ack { .. } => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Action, ActionKind};
    use crate::attester::Simulated;
    use crate::ops::Registry;
    use crate::policy::PolicyHashScheme;
    use crate::result::{SubmissionTag, status};
    use crate::wire::{FrameReader, GuestMessage, ProxyMessage};
    use crate::{Config, op};

    fn tee_info() -> Action {
        Action {
            kind: ActionKind::Direct,
            submission_tag: SubmissionTag::Submit,
            instruction: crate::instruction::InstructionData {
                op_type: op::F_GET,
                op_command: op::TEE_INFO,
                ..Default::default()
            },
            votes: alloc::vec![],
        }
    }

    fn tee() -> Tee {
        let config = Config { chain_id: 14, policy_hash: PolicyHashScheme::Legacy, registration: None };
        Tee::new(config, &mut crate::testing::CountingRng(1), Registry::system()).unwrap()
    }

    fn frames(bytes: &[u8]) -> alloc::vec::Vec<GuestMessage> {
        let mut r = FrameReader::new();
        r.push(bytes).unwrap();
        let mut out = alloc::vec::Vec::new();
        while let Some(b) = r.next_body().unwrap() {
            out.push(decode_body(&b).unwrap());
        }
        out
    }

    /// A session past the proxy's challenge (its greeting consumed).
    fn greeted(tee: &mut Tee) -> Session {
        let mut s = Session::start();
        let challenge = encode_frame(&ProxyMessage::Challenge { nonce: [0x42; 32] }).unwrap();
        s.receive(&challenge, tee, &mut Simulated).unwrap();
        s.consume(s.output().len());
        s
    }

    #[test]
    fn the_challenge_is_answered_with_a_signed_hello_then_pull() {
        let mut tee = tee();
        let mut s = Session::start();
        assert!(s.output().is_empty(), "the guest waits for the challenge");
        let challenge = encode_frame(&ProxyMessage::Challenge { nonce: [0x42; 32] }).unwrap();
        s.receive(&challenge, &mut tee, &mut Simulated).unwrap();
        let first = frames(s.output());
        let GuestMessage::Hello(ref hello) = first[0] else { panic!("Hello first") };
        assert_eq!(hello.tee_id, tee.state().identity.address());
        assert!(matches!(first[1], GuestMessage::Pull { max_actions: 4 }));
        // Signed for this challenge and these contents only.
        assert_eq!(hello.verify_link(&[0x42; 32]), Ok(()));
        assert!(hello.verify_link(&[0x43; 32]).is_err(), "another connection's challenge");
        let mut altered = hello.clone();
        altered.active_epoch = Some(9);
        assert!(altered.verify_link(&[0x42; 32]).is_err(), "a changed greeting");
        let mut other_key = hello.clone();
        other_key.public_key.0[0] ^= 1;
        assert!(other_key.verify_link(&[0x42; 32]).is_err(), "a public key that is not the TEE id's");
        // A second challenge ends the session.
        assert_eq!(s.receive(&challenge, &mut tee, &mut Simulated), Err(Error::UnexpectedMessage));
    }

    #[test]
    fn nothing_but_a_challenge_comes_first() {
        let mut tee = tee();
        for first in [ProxyMessage::Actions(alloc::vec![tee_info()]), ProxyMessage::Ack { id: [1; 32] }] {
            let mut s = Session::start();
            let frame = encode_frame(&first).unwrap();
            assert_eq!(s.receive(&frame, &mut tee, &mut Simulated), Err(Error::UnexpectedMessage));
            assert!(s.output().is_empty() && s.handled == 0);
        }
    }

    #[test]
    fn hello_pull_actions_results_pull() {
        let mut tee = tee();
        let mut s = greeted(&mut tee);

        let info = tee_info();
        let unknown = Action {
            instruction: crate::instruction::InstructionData { op_type: op::name("NOPE"), ..info.instruction.clone() },
            ..info.clone()
        };
        let frame = encode_frame(&ProxyMessage::Actions(alloc::vec![info, unknown])).unwrap();
        // Delivered in two pieces.
        s.receive(&frame[..7], &mut tee, &mut Simulated).unwrap();
        assert!(s.output().is_empty());
        s.receive(&frame[7..], &mut tee, &mut Simulated).unwrap();
        let out = frames(s.output());
        assert_eq!(out.len(), 3);
        assert!(matches!(out[0], GuestMessage::Result(ref r) if r.result.status == status::SUCCESS));
        assert!(matches!(out[1], GuestMessage::Result(ref r) if r.result.status == status::ERROR));
        assert!(matches!(out[2], GuestMessage::Pull { .. }));
        assert_eq!(s.handled, 2);
    }

    #[test]
    fn bad_input_ends_the_session_without_panicking() {
        let mut tee = tee();
        let mut s = greeted(&mut tee);
        assert!(s.receive(&[0, 0, 0, 2, 1, 0xff], &mut tee, &mut Simulated).is_err());
        let mut s = greeted(&mut tee);
        assert!(s.receive(&[0xff, 0xff, 0xff, 0xff], &mut tee, &mut Simulated).is_err());
        // A frame from the guest's side of the protocol is not a proxy message.
        let mut s = greeted(&mut tee);
        let wrong = encode_frame(&GuestMessage::Pull { max_actions: 1 }).unwrap();
        assert!(s.receive(&wrong, &mut tee, &mut Simulated).is_err());
        // More actions than one pull may carry.
        let flood = encode_frame(&ProxyMessage::Actions(alloc::vec![tee_info(); MAX_ACTIONS_PER_PULL + 1])).unwrap();
        let mut s = greeted(&mut tee);
        assert!(matches!(s.receive(&flood, &mut tee, &mut Simulated), Err(Error::TooMany { .. })));
    }
}
