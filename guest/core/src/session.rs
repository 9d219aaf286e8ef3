//! The guest's side of the link as a sans-IO state machine: bytes from the proxy in, bytes for
//! the proxy out. The kernel only moves bytes between this and a TCP socket, so the protocol
//! logic is host-tested and identical on every platform.
//!
//! Conversation (see `docs/PROTOCOL.md`, "The guest link"): the proxy sends a `Challenge`; the
//! guest answers with its signed `Hello` and a `Pull`; the proxy answers a pull with `Actions` (long-polling while it has none, so an empty answer
//! is rare); the guest answers every action with a `Result` and pulls again; the proxy acks each
//! stored result. An extension's instruction that takes host data holds the batch: the guest
//! asks for the data with one `NeedData`, the proxy sends it as `Data` chunks in order, and the
//! batch goes on once the last chunk is in. Any malformed frame, unexpected message or oversized input ends the session
//! with an error: the caller closes the connection and reconnects with backoff.
//!
//! Backpressure: `Actions` are accepted only in answer to the one outstanding `Pull`, and the
//! next `Pull` is sent only once the unsent output is down to `OUTPUT_LOW_WATER`; a proxy that
//! stops reading stops getting pulls, so the output never exceeds `MAX_OUTPUT`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::action::Action;
use crate::attester::Attester;
use crate::error::Error;
use crate::limits::{MAX_ACTIONS_PER_PULL, MAX_BACKUP_FRAME_LEN, MAX_SEALED_FRAME_LEN};
use crate::result::SignedResult;
use crate::tee::{Pending, Step, Tee};
use crate::wire::{FrameReader, GuestMessage, ProxyMessage, decode_body, encode_frame};

/// Unsent output at or below which the guest pulls more actions.
pub const OUTPUT_LOW_WATER: usize = 64 * 1024;
/// Largest `NeedData` frame: prefix, version, tag, two words and two u64 varints.
pub const MAX_NEED_DATA_FRAME_LEN: usize = 4 + 1 + 1 + 2 * 32 + 2 * 10;
/// Most unsent output a session holds: the low-water mark, a pull, one data request per action
/// of a pull, then that pull's worth of results (each at most a backup's) after at most one
/// sealed blob.
pub const MAX_OUTPUT: usize = OUTPUT_LOW_WATER
    + 16
    + MAX_ACTIONS_PER_PULL * (MAX_NEED_DATA_FRAME_LEN + MAX_BACKUP_FRAME_LEN)
    + MAX_SEALED_FRAME_LEN;
const _: () = assert!(MAX_OUTPUT == 2_380_044, "docs/PROTOCOL.md §9 states it");

/// One connection's worth of protocol state.
#[derive(Debug)]
pub struct Session {
    reader: FrameReader,
    out: Vec<u8>,
    /// The proxy's challenge has been answered (`Hello` sent).
    greeted: bool,
    /// A `Pull` is outstanding: the proxy may answer it with one `Actions`.
    pulled: bool,
    /// A `Pull` waits for the output to drain to `OUTPUT_LOW_WATER`.
    pull_due: bool,
    /// The pulled actions not yet run (one waits for its data while `streaming`).
    batch: VecDeque<Action>,
    /// Their results so far, sent together once the batch is done.
    results: Vec<SignedResult>,
    /// The instruction whose data is streaming in.
    streaming: Option<Pending>,
    /// Actions handled in this session.
    pub handled: u64,
}

impl Session {
    /// Starts a session: nothing to send until the proxy's `Challenge` arrives.
    pub fn start() -> Self {
        Self {
            reader: FrameReader::new(),
            out: Vec::new(),
            greeted: false,
            pulled: false,
            pull_due: false,
            batch: VecDeque::new(),
            results: Vec::new(),
            streaming: None,
            handled: 0,
        }
    }

    fn queue(&mut self, msg: &GuestMessage) -> Result<(), Error> {
        self.out.extend_from_slice(&encode_frame(msg)?);
        Ok(())
    }

    /// At most one pull is outstanding: every `Actions` answers it and is followed by the next
    /// one, as soon as the unsent output is down to `OUTPUT_LOW_WATER`.
    fn pull(&mut self) -> Result<(), Error> {
        if self.out.len() > OUTPUT_LOW_WATER {
            self.pull_due = true;
            return Ok(());
        }
        self.queue(&GuestMessage::Pull { max_actions: MAX_ACTIONS_PER_PULL as u8 })?;
        self.pull_due = false;
        self.pulled = true;
        Ok(())
    }

    /// How many bytes the caller may read from the socket and pass to `receive` at most now.
    pub fn room(&self) -> usize {
        self.reader.room()
    }

    /// An instruction's data is streaming in: its action is handled only once the last chunk has
    /// come.
    pub fn streaming(&self) -> bool {
        self.streaming.is_some()
    }

    /// Bytes waiting to be sent.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Marks `n` bytes of `output()` as sent, and pulls again once enough of it has gone.
    pub fn consume(&mut self, n: usize) -> Result<(), Error> {
        self.out.drain(..n.min(self.out.len()));
        if self.pull_due { self.pull() } else { Ok(()) }
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
                // Actions nobody pulled for: a proxy flooding the guest past its backpressure.
                ProxyMessage::Actions(_) if !self.pulled => return Err(Error::UnexpectedMessage),
                ProxyMessage::Actions(actions) => {
                    self.pulled = false;
                    if actions.len() > MAX_ACTIONS_PER_PULL {
                        return Err(Error::TooMany {
                            what: "actions",
                            count: actions.len(),
                            max: MAX_ACTIONS_PER_PULL,
                        });
                    }
                    self.batch = actions.into();
                    self.run_batch(tee, attester)?;
                }
                ProxyMessage::Data { id, offset, bytes } => {
                    // Data nobody asked for, for another instruction, or out of order.
                    let pending = self.streaming.take().ok_or(Error::UnexpectedMessage)?;
                    if id != pending.id() || offset != pending.received() {
                        return Err(Error::UnexpectedMessage);
                    }
                    match tee.feed(pending, &bytes, attester)? {
                        Step::Stream(pending) => self.streaming = Some(pending),
                        Step::Done(result) => {
                            self.results.push(result);
                            self.run_batch(tee, attester)?;
                        }
                    }
                }
                ProxyMessage::Ack { .. } => {}
            }
        }
        Ok(())
    }

    /// Runs the batch's actions in order until one waits for data (asked for with one
    /// `NeedData`) or all are done. Each action is validated by the engine: a bad one gets a
    /// signed refusal. The state the batch left is sealed before any of its results goes out: a
    /// result is never released ahead of the state it depends on (the proxy keeps the blob
    /// before it reads on), and one blob (the latest) serves the batch.
    fn run_batch(&mut self, tee: &mut Tee, attester: &mut dyn Attester) -> Result<(), Error> {
        while let Some(action) = self.batch.pop_front() {
            match tee.begin(&action, attester) {
                Step::Done(result) => self.results.push(result),
                Step::Stream(pending) => {
                    let request = pending.request();
                    self.queue(&GuestMessage::NeedData {
                        id: pending.id(),
                        object: request.object,
                        offset: 0,
                        len: request.len,
                    })?;
                    self.streaming = Some(pending);
                    return Ok(());
                }
            }
        }
        if let Some(sealed) = tee.take_sealed() {
            self.queue(&GuestMessage::Sealed(sealed))?;
        }
        for result in core::mem::take(&mut self.results) {
            self.queue(&GuestMessage::Result(result))?;
            self.handled += 1;
        }
        self.pull()
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
        s.consume(s.output().len()).unwrap();
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

    /// Issue 21 item 3: a proxy that answers every pull but never reads gets no more pulls once
    /// the unsent output passes the low-water mark, and actions it sends anyway end the session;
    /// the output stays under `MAX_OUTPUT` throughout. Once the output drains, the guest pulls.
    #[test]
    fn a_proxy_that_stops_reading_stops_getting_pulls() {
        let mut tee = tee();
        let me = tee.state().identity.address();
        let mut s = greeted(&mut tee);
        let pulls = |s: &Session| frames(s.output()).iter().filter(|m| matches!(m, GuestMessage::Pull { .. })).count();
        let mut n = 0u8;
        let mut batch = || {
            n = n.wrapping_add(1);
            let actions = (0..MAX_ACTIONS_PER_PULL).map(|i| Action::tee_info(&me, &[n ^ i as u8; 32])).collect();
            encode_frame(&ProxyMessage::Actions(actions)).unwrap()
        };
        let mut rounds = 0;
        while s.output().len() <= OUTPUT_LOW_WATER {
            let before = pulls(&s);
            s.receive(&batch(), &mut tee, &mut Simulated).unwrap();
            let pulled = usize::from(s.output().len() <= OUTPUT_LOW_WATER);
            assert_eq!(pulls(&s), before + pulled, "a pull exactly while under the low-water mark");
            rounds += 1;
            assert!(rounds < 1000, "TEE_INFO answers must fill the output");
        }
        // Over the mark: the last batch was answered, but no pull followed it.
        assert!(matches!(frames(s.output()).last(), Some(GuestMessage::Result(_))));
        assert!(s.output().len() <= MAX_OUTPUT);
        let unsent = s.output().len();
        assert_eq!(s.receive(&batch(), &mut tee, &mut Simulated), Err(Error::UnexpectedMessage));
        assert_eq!(s.output().len(), unsent, "nothing answered for an unpulled batch");

        // Another session in the same state drains: the pull comes once at most the mark is left.
        let mut s = greeted(&mut tee);
        while s.pulled || s.output().len() <= OUTPUT_LOW_WATER {
            s.receive(&batch(), &mut tee, &mut Simulated).unwrap();
        }
        let over = s.output().len() - OUTPUT_LOW_WATER;
        s.consume(over - 1).unwrap();
        assert!(!s.pulled, "one byte over the mark: no pull yet");
        s.consume(1).unwrap();
        // (The output now starts mid-frame: compare bytes.)
        let pull = encode_frame(&GuestMessage::Pull { max_actions: MAX_ACTIONS_PER_PULL as u8 }).unwrap();
        assert!(s.pulled && s.output().ends_with(&pull));
        s.receive(&batch(), &mut tee, &mut Simulated).unwrap();
    }

    /// Issue 21 item 1: a `Result` frame at every bound fits `MAX_RESULT_FRAME_LEN` (and so the
    /// frame bound), and a `Sealed` frame fits `MAX_SEALED_FRAME_LEN`.
    #[test]
    fn the_largest_result_and_sealed_frames_fit_their_bounds() {
        use crate::limits::{MAX_REASON_LEN, MAX_RESULT_DATA_LEN, MAX_RESULT_FRAME_LEN};
        use crate::result::{ActionResult, SignedResult};
        use alloc::string::String;
        let long = String::from_utf8(alloc::vec![b'x'; MAX_REASON_LEN]).unwrap();
        let result = ActionResult {
            id: [0xff; 32],
            submission_tag: SubmissionTag::Refused,
            status: 0xff,
            log: long.clone(),
            op_type: [0xff; 32],
            op_command: [0xff; 32],
            additional_result_status: alloc::vec![0xff; MAX_REASON_LEN],
            version: long,
            data: alloc::vec![0xff; MAX_RESULT_DATA_LEN],
        };
        result.validate().unwrap();
        let frame = encode_frame(&GuestMessage::Result(SignedResult { result: result.clone(), signature: [0xff; 65] }))
            .unwrap();
        assert!(frame.len() <= MAX_RESULT_FRAME_LEN, "{} > {MAX_RESULT_FRAME_LEN}", frame.len());
        // A backup's result at its own bound fits its frame bound; one byte more is refused.
        let mut backup = ActionResult { op_type: op::F_GET, op_command: op::TEE_BACKUP, ..result };
        backup.data = alloc::vec![0xff; crate::limits::MAX_BACKUP_DATA_LEN];
        backup.validate().unwrap();
        let frame = encode_frame(&GuestMessage::Result(SignedResult { result: backup.clone(), signature: [0xff; 65] }))
            .unwrap();
        assert!(frame.len() <= MAX_BACKUP_FRAME_LEN, "{} > {MAX_BACKUP_FRAME_LEN}", frame.len());
        backup.data.push(0);
        assert!(backup.validate().is_err());
        let sealed = encode_frame(&GuestMessage::Sealed(alloc::vec![0xff; crate::limits::MAX_SEALED_LEN])).unwrap();
        assert!(sealed.len() <= MAX_SEALED_FRAME_LEN, "{} > {MAX_SEALED_FRAME_LEN}", sealed.len());
    }
}
