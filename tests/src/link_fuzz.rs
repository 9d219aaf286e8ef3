//! A link fuzzer against the real ROM: it plays the proxy to a guest in QEMU and, burst after
//! burst, sends it hostile bytes — random, truncated, oversized, bit-flipped, out-of-turn,
//! wrong-direction, replayed, interleaved and byte-split frames and actions — from a seeded
//! generator, so a run is reproducible from its seed; the kinds take turns. Every burst starts on a fresh connection
//! with a valid action whose answer is checked (status, id, libsecp256k1 signer), so after each
//! burst the guest must still answer correctly; a guest that restarted would greet with another
//! TEE id and print READY again. The report counts what was sent and what went wrong.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use fcc_core::action::Action;
use fcc_core::limits::{MAX_ACTIONS_PER_PULL, MAX_FRAME_LEN};
use fcc_core::result::{SignedResult, SubmissionTag, status};
use fcc_core::wire::{GuestMessage, LENGTH_PREFIX, ProxyMessage, encode_frame};
use fcc_layout::interface::READY_PREFIX;
use fcc_qemu::Guest;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use crate::flare;
use crate::proxy::{Connection, TestProxy};

/// The hostile things a burst does, one per burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Random bytes, with or without a plausible length prefix.
    Garbage,
    /// A valid frame cut short, then the connection dropped.
    Truncated,
    /// A length prefix over `MAX_FRAME_LEN`.
    Oversized,
    /// A zero length prefix.
    Empty,
    /// A valid `Actions` frame with a few bytes flipped.
    BitFlip,
    /// A valid frame under another protocol version.
    BadVersion,
    /// A guest message sent by the proxy.
    WrongDirection,
    /// A second `Challenge` on a greeted link.
    SecondChallenge,
    /// More actions than one pull may carry.
    TooManyActions,
    /// A second `Actions` before the guest pulled again.
    Unpulled,
    /// The last executed instruction delivered again: the same signed result must come back.
    Replayed,
    /// `Ack`s for unknown ids around a valid action, whose answer must be right.
    Interleaved,
    /// A valid action written a few bytes at a time, whose answer must be right.
    Split,
}

const KINDS: [Kind; 13] = [
    Kind::Garbage,
    Kind::Truncated,
    Kind::Oversized,
    Kind::Empty,
    Kind::BitFlip,
    Kind::BadVersion,
    Kind::WrongDirection,
    Kind::SecondChallenge,
    Kind::TooManyActions,
    Kind::Unpulled,
    Kind::Replayed,
    Kind::Interleaved,
    Kind::Split,
];

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// The seed (a run is reproducible from it and the burst count).
    pub seed: u64,
    /// Bursts run.
    pub bursts: u64,
    /// Frames (or frame-like byte strings) sent, valid ones included.
    pub frames: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Connections the guest made again after a burst.
    pub reconnects: u64,
    /// Times the guest restarted (another TEE id, or another READY line): must be 0.
    pub restarts: u64,
    /// Valid actions answered wrongly (status, id, signer, or a replay not answered the same):
    /// must be 0.
    pub wrong_answers: u64,
    /// What went wrong, for the report.
    pub failures: Vec<String>,
    /// Bursts per kind, in `KINDS` order.
    pub per_kind: Vec<(Kind, u64)>,
}

impl Report {
    /// Whether the guest came through: no restart, no wrong answer.
    pub fn passed(&self) -> bool {
        self.restarts == 0 && self.wrong_answers == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "link fuzzer: seed {:#x}, {} bursts, {} frames ({} bytes) sent, {} reconnects, {} guest restarts, {} wrong answers",
            self.seed, self.bursts, self.frames, self.bytes, self.reconnects, self.restarts, self.wrong_answers
        )?;
        for (kind, n) in &self.per_kind {
            write!(f, "\n  {kind:?}: {n}")?;
        }
        for failure in &self.failures {
            write!(f, "\n  FAILED: {failure}")?;
        }
        Ok(())
    }
}

/// The fuzzer's side of the link.
struct Fuzzer<'a> {
    proxy: &'a TestProxy,
    tee: [u8; 20],
    rng: StdRng,
    providers: Vec<flare::Provider>,
    next_id: u64,
    /// The last instruction executed and its result (for `Replayed`).
    last: Option<(Action, SignedResult)>,
    report: Report,
}

impl Fuzzer<'_> {
    fn send(&mut self, conn: &mut Connection, bytes: &[u8]) {
        self.report.frames += 1;
        self.report.bytes += bytes.len() as u64;
        // The guest may have closed already: a write error is an expected outcome here.
        let _ = conn.send_raw(bytes);
    }

    fn frame(msg: &ProxyMessage) -> Vec<u8> {
        encode_frame(msg).expect("the fuzzer's own messages encode")
    }

    fn fresh_instruction(&mut self) -> Result<Action> {
        self.next_id += 1;
        let all: Vec<usize> = (0..self.providers.len()).collect();
        let d = flare::fdc2_instruction(self.tee, &format!("link fuzz {:#x} #{}", self.report.seed, self.next_id));
        flare::signed(&self.providers, &all, d)
    }

    fn fresh_info(&mut self) -> Action {
        self.next_id += 1;
        flare::tee_info(&format!("link fuzz info {:#x} #{}", self.report.seed, self.next_id))
    }

    /// Whether `r` is the right answer to `action`: success, for its id, signed by the TEE
    /// (libsecp256k1), with data.
    fn check(&mut self, action: &Action, r: &SignedResult, what: &str) {
        let signer = flare::result_signer(r).ok();
        let ok = r.result.status == status::SUCCESS
            && r.result.id == action.instruction.instruction_id
            && r.result.submission_tag != SubmissionTag::Refused
            && signer == Some(self.tee)
            && !r.result.data.is_empty();
        if !ok {
            self.report.wrong_answers += 1;
            self.report.failures.push(format!(
                "burst {}: {what}: status {} tag {:?} log {:?} signer {:?}",
                self.report.bursts,
                r.result.status,
                r.result.submission_tag,
                r.result.log,
                signer.map(hex::encode)
            ));
        }
    }

    /// Runs `action` on `conn` and checks the answer; a link error counts as a wrong answer.
    fn run_checked(&mut self, conn: &mut Connection, action: &Action, what: &str) -> Option<SignedResult> {
        self.report.frames += 2; // the actions and the ack
        match conn.run(action) {
            Ok(r) => {
                self.check(action, &r, what);
                Some(r)
            }
            Err(e) => {
                self.report.wrong_answers += 1;
                self.report.failures.push(format!("burst {}: {what}: {e:#}", self.report.bursts));
                None
            }
        }
    }

    /// A connection from the guest, which must still be the same TEE.
    fn accept(&mut self) -> Result<Connection> {
        let conn = self.proxy.accept(crate::TIMEOUT).context("the guest did not come back after a burst")?;
        if conn.hello().tee_id != self.tee {
            self.report.restarts += 1;
            self.report.failures.push(format!(
                "burst {}: the guest greeted as 0x{} (a restart)",
                self.report.bursts,
                hex::encode(conn.hello().tee_id)
            ));
            self.tee = conn.hello().tee_id;
        }
        Ok(conn)
    }

    fn burst(&mut self, conn: &mut Connection, kind: Kind) -> Result<()> {
        let action = self.fresh_instruction()?;
        let valid = Self::frame(&ProxyMessage::Actions(vec![action]));
        match kind {
            Kind::Garbage => {
                let len = self.rng.random_range(1..=96usize);
                let mut bytes = vec![0u8; len];
                self.rng.fill_bytes(&mut bytes);
                if self.rng.random::<bool>() && len > LENGTH_PREFIX {
                    bytes[..LENGTH_PREFIX].copy_from_slice(&((len - LENGTH_PREFIX) as u32).to_be_bytes());
                }
                self.send(conn, &bytes);
            }
            Kind::Truncated => {
                let cut = self.rng.random_range(1..valid.len());
                self.send(conn, &valid[..cut]);
            }
            Kind::Oversized => {
                let len = self.rng.random_range(MAX_FRAME_LEN as u32 + 1..=u32::MAX);
                let mut bytes = len.to_be_bytes().to_vec();
                bytes.extend_from_slice(&[1; 64]);
                self.send(conn, &bytes);
            }
            Kind::Empty => self.send(conn, &[0, 0, 0, 0]),
            Kind::BitFlip => {
                let mut bytes = valid.clone();
                for _ in 0..self.rng.random_range(1..=4) {
                    let at = self.rng.random_range(LENGTH_PREFIX..bytes.len());
                    bytes[at] ^= 1 << self.rng.random_range(0..8);
                }
                self.send(conn, &bytes);
            }
            Kind::BadVersion => {
                let mut bytes = valid.clone();
                bytes[LENGTH_PREFIX] = bytes[LENGTH_PREFIX].wrapping_add(self.rng.random_range(1..=255));
                self.send(conn, &bytes);
            }
            Kind::WrongDirection => {
                let guest = encode_frame(&GuestMessage::Pull { max_actions: 4 }).expect("encodes");
                self.send(conn, &guest);
            }
            Kind::SecondChallenge => {
                let nonce: [u8; 32] = self.rng.random();
                self.send(conn, &Self::frame(&ProxyMessage::Challenge { nonce }));
            }
            Kind::TooManyActions => {
                let actions = (0..=MAX_ACTIONS_PER_PULL).map(|_| self.fresh_info()).collect();
                self.send(conn, &Self::frame(&ProxyMessage::Actions(actions)));
            }
            Kind::Unpulled => {
                // Two batches of the largest answers at once: the second answers no pull when the
                // first batch's output has not drained; either way the guest must survive it.
                for _ in 0..2 {
                    let actions = (0..MAX_ACTIONS_PER_PULL).map(|_| self.fresh_info()).collect();
                    self.send(conn, &Self::frame(&ProxyMessage::Actions(actions)));
                }
            }
            Kind::Replayed => {
                if let Some((action, first)) = self.last.clone() {
                    self.report.frames += 2;
                    match conn.run(&action) {
                        Ok(again) if again == first => {}
                        Ok(again) => {
                            self.report.wrong_answers += 1;
                            self.report.failures.push(format!(
                                "burst {}: a replay got another answer: {:?}",
                                self.report.bursts, again.result.log
                            ));
                        }
                        Err(e) => {
                            self.report.wrong_answers += 1;
                            self.report.failures.push(format!("burst {}: replay: {e:#}", self.report.bursts));
                        }
                    }
                }
            }
            Kind::Interleaved => {
                for _ in 0..self.rng.random_range(1..=5) {
                    let id: [u8; 32] = self.rng.random();
                    self.send(conn, &Self::frame(&ProxyMessage::Ack { id }));
                }
                let info = self.fresh_info();
                self.run_checked(conn, &info, "TEE_INFO after unknown acks");
            }
            Kind::Split => {
                let action = self.fresh_instruction()?;
                let bytes = Self::frame(&ProxyMessage::Actions(vec![action.clone()]));
                self.report.frames += 1;
                self.report.bytes += bytes.len() as u64;
                let mut at = 0;
                while at < bytes.len() {
                    let n = self.rng.random_range(1..=7).min(bytes.len() - at);
                    conn.send_raw(&bytes[at..at + n])?;
                    at += n;
                }
                let r = conn.read_result()?;
                self.check(&action, &r, "an action written a few bytes at a time");
            }
        }
        Ok(())
    }
}

/// Fuzzes the guest behind `proxy` (already booted, TEE id `tee`) for `bursts` bursts from
/// `seed`. Errors only when the guest stops talking to the fuzzer at all; everything else is in
/// the report.
pub fn run(proxy: &TestProxy, guest: &mut Guest, tee: [u8; 20], seed: u64, bursts: u64) -> Result<Report> {
    let mut fz = Fuzzer {
        proxy,
        tee,
        rng: StdRng::seed_from_u64(seed),
        providers: flare::providers(8)?,
        next_id: 0,
        last: None,
        report: Report { seed, per_kind: KINDS.iter().map(|&k| (k, 0)).collect(), ..Report::default() },
    };
    let mut conn = fz.accept()?;
    let policy = flare::policy(&fz.providers)?;
    let r = conn.run(&flare::initialize_policy(&fz.providers, &policy)?)?;
    anyhow::ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
    for burst in 0..bursts {
        fz.report.bursts = burst + 1;
        // The check first: the guest answers a valid action correctly (and a connection that
        // served keeps the guest's reconnect backoff short).
        let action = fz.fresh_instruction()?;
        if let Some(r) = fz.run_checked(&mut conn, &action, "a valid instruction") {
            fz.last = Some((action, r));
        }
        // Every kind in turn (each burst's bytes are drawn from the seed), so a short run covers
        // them all.
        let kind = KINDS[(burst % KINDS.len() as u64) as usize];
        fz.report.per_kind.iter_mut().find(|(k, _)| *k == kind).expect("listed").1 += 1;
        if let Err(e) = fz.burst(&mut conn, kind) {
            fz.report.wrong_answers += 1;
            fz.report.failures.push(format!("burst {}: {kind:?}: {e:#}", burst + 1));
        }
        // Whatever the burst left behind, the next one starts on a new connection.
        drop(conn);
        conn = fz.accept()?;
        fz.report.reconnects += 1;
    }
    let action = fz.fresh_instruction()?;
    fz.run_checked(&mut conn, &action, "a valid instruction after the last burst");
    let readies = guest.console().lines().filter(|l| l.starts_with(READY_PREFIX)).count() as u64;
    fz.report.restarts += readies.saturating_sub(1);
    // Let the guest settle its last console lines before the caller inspects them.
    std::thread::sleep(Duration::from_millis(50));
    Ok(fz.report)
}
