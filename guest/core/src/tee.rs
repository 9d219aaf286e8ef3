//! The engine: one TEE's state (identity, trusted policies, key cache, replay guard) and the
//! path every action takes: authorise, execute, sign the result — or sign a refusal that names
//! its reason. It never panics on input.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use rand_core::TryCryptoRng;

use crate::action::{Action, ActionKind};
use crate::admission::{self, Rule};
use crate::attester::Attester;
use crate::config::{Config, VERSION};
use crate::entropy::draw32;
use crate::error::Error;
use crate::extension::{Call, DataRequest, Job, Operation, Started, TeeServices, code_hash, envelope};
use crate::hash::H256;
use crate::identity::TeeIdentity;
use crate::instruction::InstructionData;
use crate::light_client::{PolicyStore, PublicKey};
use crate::limits::{MAX_DATA_CHUNK, MAX_REASON_LEN, max_result_data_len};
use crate::ops::{Handler, Registry, Work};
use crate::replay::ReplayGuard;
use crate::result::{ActionResult, Output, SignedResult, SubmissionTag, bounded_log, status};
use crate::seal::{SealedState, SealingKey};
use crate::state::TeeState;
use crate::verify::{Candidates, Tally, Verifier, tally};
use crate::wire::Hello;

/// How many signed results of executed instructions the TEE keeps to answer re-deliveries. A
/// proxy leases at most `MAX_ACTIONS_PER_PULL` actions to a connection, so only those can be in
/// flight when a link drops; 32 covers eight such drops in a row at 2 MiB of the memory budget
/// (results of up to 64 KiB).
pub const RECENT_RESULTS: usize = 32;

/// What [`Tee::begin`] and [`Tee::feed`] leave: a signed result, or an instruction waiting for
/// more of its data.
pub enum Step {
    /// The action's signed result.
    Done(SignedResult),
    /// Authorised and started; the data comes next.
    Stream(Pending),
}

/// An extension's instruction waiting for host data: authorised, not yet recorded.
pub struct Pending {
    action: Action,
    job: Box<dyn Job>,
    request: DataRequest,
    received: u64,
    extension_id: H256,
    operation: &'static Operation,
}

impl Pending {
    /// The instruction's id.
    pub fn id(&self) -> H256 {
        self.action.instruction.instruction_id
    }

    /// The data it needs, in all.
    pub fn request(&self) -> DataRequest {
        self.request
    }

    /// How many bytes of it arrived.
    pub fn received(&self) -> u64 {
        self.received
    }
}

impl core::fmt::Debug for Pending {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.id())
            .field("request", &self.request)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

/// A TEE: state plus operations.
pub struct Tee {
    state: TeeState,
    registry: Registry,
    /// Results of the most recently executed instructions, oldest first. The proxy re-delivers
    /// an action whose result it did not store (the link dropped); the guest then answers with
    /// the same signed result instead of refusing a replay, so exactly one result exists.
    recent: VecDeque<SignedResult>,
    /// Where the platform can seal: the key, and a freshly sealed state not yet sent.
    sealing: Option<SealingKey>,
    sealed_out: Option<Vec<u8>>,
}

impl core::fmt::Debug for Tee {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tee").field("identity", &self.state.identity).finish_non_exhaustive()
    }
}

impl Tee {
    /// A fresh TEE with a new identity and batch secret drawn from `rng`.
    pub fn new(config: Config, rng: &mut impl TryCryptoRng, registry: Registry) -> Result<Self, Error> {
        let identity = TeeIdentity::generate(rng)?;
        Self::assemble(config, identity, PolicyStore::new(config.policy_hash), rng, registry)
    }

    /// The TEE that sealed `sealed` (opened by `key`), back with the same identity: it accepts
    /// only its sealed trust root and serves instructions once its light client is back at the
    /// sealed epoch (`seal`). It seals again under `key` as its policies move on.
    pub fn resume(
        config: Config,
        key: SealingKey,
        sealed: &SealedState,
        rng: &mut impl TryCryptoRng,
        registry: Registry,
    ) -> Result<Self, Error> {
        let identity = TeeIdentity::from_secret(&sealed.identity_secret)?;
        let policies = PolicyStore::resumed(config.policy_hash, sealed.trust_root, sealed.epoch);
        let mut tee = Self::assemble(config, identity, policies, rng, registry)?;
        tee.state.wallets = crate::wallet::WalletStore::from_snapshot(&sealed.wallets)?;
        tee.state.paths = sealed.paths.clone();
        tee.sealing = Some(key);
        Ok(tee)
    }

    /// Seals the identity, the light-client state and the wallet store under `key` whenever the
    /// trust root is set, the policy moves on or a wallet key or record changes;
    /// [`Tee::take_sealed`] hands the latest blob out once.
    pub fn with_sealing(mut self, key: SealingKey) -> Self {
        self.sealing = Some(key);
        self
    }

    fn assemble(
        config: Config,
        identity: TeeIdentity,
        policies: PolicyStore,
        rng: &mut impl TryCryptoRng,
        registry: Registry,
    ) -> Result<Self, Error> {
        let batch_secret = draw32(rng)?;
        let seed = zeroize::Zeroizing::new(draw32(rng)?);
        Ok(Self {
            state: TeeState {
                config,
                identity,
                policies,
                verifier: Verifier::new(batch_secret),
                replay: ReplayGuard::new(),
                rng: rand_core::SeedableRng::from_seed(*seed),
                wallets: crate::wallet::WalletStore::new(),
                paths: Default::default(),
            },
            registry,
            recent: VecDeque::with_capacity(RECENT_RESULTS),
            sealing: None,
            sealed_out: None,
        })
    }

    /// The state sealed since the last call (the latest), for the host to keep (opaque to it).
    pub fn take_sealed(&mut self) -> Option<Vec<u8>> {
        self.sealed_out.take()
    }

    /// Seals the current state if the platform can and a trust root is set. The epoch sealed
    /// never goes below the one resumed from, so a resumed TEE replaying old updates keeps its
    /// floor.
    fn reseal(&mut self) {
        let (Some(key), Some(trust_root), Some(active)) =
            (&self.sealing, self.state.policies.initial(), self.state.policies.active())
        else {
            return;
        };
        let floor = self.state.policies.sealed().map_or(0, |(_, epoch)| epoch);
        let state = SealedState {
            identity_secret: self.state.identity.secret(),
            trust_root,
            epoch: active.reward_epoch_id().max(floor),
            wallets: self.state.wallets.snapshot(),
            paths: self.state.paths.clone(),
        };
        // The store's bounds keep the state within MAX_SEALED_LEN (a test seals one at its
        // bounds); should that ever fail, the previous blob stands rather than none.
        if let Ok(blob) = key.seal(&state) {
            self.sealed_out = Some(blob);
        }
    }

    /// The state (read-only).
    pub fn state(&self) -> &TeeState {
        &self.state
    }

    /// The greeting the guest sends on a link whose proxy sent `challenge`, signed for it
    /// (`wire::link_digest`).
    pub fn hello(&self, attester: &mut dyn Attester, challenge: &H256) -> Result<Hello, Error> {
        let s = &self.state;
        let statement = s.statement(attester.kind(), &[0; 32], 0);
        let attestation = attester.attest(&statement.report_data())?;
        let mut hello = Hello {
            tee_id: s.identity.address(),
            public_key: PublicKey(*s.identity.public_key()),
            platform: attester.kind(),
            chain_id: s.config.chain_id,
            version: String::from(VERSION),
            attestation,
            statement: alloc::boxed::Box::new(statement),
            initial_policy: s.policies.initial(),
            active_epoch: s.policies.active().map(|p| p.reward_epoch_id()),
            sealed: s.policies.sealed(),
            link_signature: [0; crate::ecdsa::SIGNATURE_LEN],
        };
        hello.link_signature = s.identity.sign_digest(&crate::wire::link_digest(challenge, &hello)?);
        Ok(hello)
    }

    /// Handles one action and returns its signed result: success with the operation's data, or
    /// an error status whose log and additional status (the error code, u16 big-endian) say why.
    /// An error is the instruction's result only when the instruction was authorised and
    /// recorded now (its operation failed); every other error is a refusal — nothing was
    /// executed — tagged `Refused` and signed under its own domain, so it cannot stand in for the
    /// result a genuine delivery of the same id may still produce. Data over
    /// its operation's bound (`limits::max_result_data_len`) becomes an error: every result fits
    /// its bounds and its frame.
    ///
    /// An instruction executed before whose result is still among the recent ones gets that same
    /// signed result again (nothing is executed twice).
    pub fn handle(&mut self, action: &Action, attester: &mut dyn Attester) -> SignedResult {
        match self.begin(action, attester) {
            Step::Done(result) => result,
            // Nothing was recorded: the same action, delivered over a link, streams its data.
            Step::Stream(pending) => self.conclude(&pending.action, |_| {
                Err(Error::Malformed { what: "delivery: this operation streams host data over the guest link" })
            }),
        }
    }

    /// As [`Tee::handle`], except that an extension's instruction that takes host data is
    /// authorised and started but neither recorded nor finished: the caller streams the data
    /// ([`Pending::request`]) into [`Tee::feed`]. If the stream breaks off, the pending work is
    /// dropped and nothing happened: the same action can be delivered again.
    pub fn begin(&mut self, action: &Action, attester: &mut dyn Attester) -> Step {
        let d = &action.instruction;
        if action.kind == ActionKind::Instruction
            && let Some(done) = self.recent.iter().find(|r| r.result.id == d.instruction_id)
        {
            return Step::Done(done.clone());
        }
        let Some(handler) = self.registry.find(&d.op_type, &d.op_command).copied() else {
            let unknown = Error::UnknownOperation { op_type: d.op_type, op_command: d.op_command };
            return Step::Done(self.conclude(action, |_| Err(unknown)));
        };
        let (extension, operation) = match handler.work {
            Work::System(execute) => {
                return Step::Done(self.conclude(action, |tee| {
                    tee.admit(action, &handler)?;
                    // Recorded before executing: an instruction's effects happen at most once.
                    tee.record(action);
                    execute(&mut tee.state, action, attester)
                }));
            }
            Work::Extension { extension, operation } => (extension, operation),
        };
        // An extension's operation, with data or without. Authorised now; recorded only once
        // the data (if any) is in.
        let started = self
            .admit(action, &handler)
            .and_then(|()| self.extension_id())
            .map(|extension_id| (extension_id, extension.start(&Call { instruction: d, operation })));
        match started {
            Err(refusal) => Step::Done(self.conclude(action, |_| Err(refusal))),
            Ok((_, Err(failed))) => Step::Done(self.conclude(action, |tee| {
                tee.record(action);
                Err(failed.into())
            })),
            Ok((extension_id, Ok(Started { job, data }))) => {
                let request = data.unwrap_or(DataRequest { object: [0; 32], len: 0 });
                // The instruction names more data than its operation takes (any, for one that
                // takes none): its result.
                if request.len > operation.max_data_len {
                    let max = usize::try_from(operation.max_data_len).unwrap_or(usize::MAX);
                    let len = usize::try_from(request.len).unwrap_or(usize::MAX);
                    return Step::Done(self.conclude(action, |tee| {
                        tee.record(action);
                        Err(Error::TooLarge { what: "extension data", len, max })
                    }));
                }
                let pending = Pending { action: action.clone(), job, request, received: 0, extension_id, operation };
                if request.len == 0 { Step::Done(self.complete(pending, attester)) } else { Step::Stream(pending) }
            }
        }
    }

    /// Feeds the next `chunk` of a pending instruction's data. A chunk that is empty, over
    /// `MAX_DATA_CHUNK` or past the requested length is the link's fault: an error, and the
    /// pending work is dropped (nothing was recorded). Once the last byte is in, the instruction
    /// is recorded and finished.
    pub fn feed(&mut self, mut pending: Pending, chunk: &[u8], attester: &mut dyn Attester) -> Result<Step, Error> {
        if chunk.is_empty() {
            return Err(Error::Malformed { what: "data chunk (empty)" });
        }
        if chunk.len() > MAX_DATA_CHUNK {
            return Err(Error::TooLarge { what: "data chunk", len: chunk.len(), max: MAX_DATA_CHUNK });
        }
        let left = pending.request.len - pending.received;
        if chunk.len() as u64 > left {
            return Err(Error::TooLarge {
                what: "data chunk (past the object's length)",
                len: chunk.len(),
                max: usize::try_from(left).unwrap_or(usize::MAX),
            });
        }
        pending.received += chunk.len() as u64;
        if let Err(e) = pending.job.feed(chunk) {
            let action = pending.action;
            return Ok(Step::Done(self.conclude(&action, |tee| {
                tee.record(&action);
                Err(e.into())
            })));
        }
        if pending.received < pending.request.len {
            return Ok(Step::Stream(pending));
        }
        Ok(Step::Done(self.complete(pending, attester)))
    }

    /// Records a pending instruction whose data is in and finishes it.
    fn complete(&mut self, pending: Pending, attester: &mut dyn Attester) -> SignedResult {
        let Pending { action, job, extension_id, operation, .. } = pending;
        self.conclude(&action, |tee| {
            tee.state.replay.check(&action.instruction.instruction_id)?;
            tee.record(&action);
            tee.finish(job, extension_id, operation, &action.instruction, attester)
        })
    }

    /// Signs the outcome of `work` on `action` as its result (see [`Tee::handle`]).
    fn conclude(&mut self, action: &Action, work: impl FnOnce(&mut Self) -> Result<Output, Error>) -> SignedResult {
        let d = &action.instruction;
        let is_instruction = action.kind == ActionKind::Instruction;
        let executed_before = self.state.replay.contains(&d.instruction_id);
        let light_client_before = (self.state.policies.initial(), self.state.policies.accepted_epochs());
        let wallets_before = (self.state.wallets.changes(), self.state.paths.nonce());
        let outcome = work(self).and_then(|out| {
            let max = max_result_data_len(&d.op_type, &d.op_command);
            if out.data.len() > max {
                return Err(Error::TooLarge { what: "result data", len: out.data.len(), max });
            }
            if out.status.len() > MAX_REASON_LEN {
                return Err(Error::TooLarge {
                    what: "additional result status",
                    len: out.status.len(),
                    max: MAX_REASON_LEN,
                });
            }
            Ok(out)
        });
        let executed_now = is_instruction && !executed_before && self.state.replay.contains(&d.instruction_id);
        let (status, data, log, code) = match outcome {
            Ok(out) => (status::SUCCESS, out.data, String::new(), out.status),
            Err(e) => (status::ERROR, Vec::new(), bounded_log(e.to_string()), e.code().to_be_bytes().to_vec()),
        };
        let submission_tag =
            if status == status::ERROR && !executed_now { SubmissionTag::Refused } else { action.submission_tag };
        let result = ActionResult {
            id: d.instruction_id,
            submission_tag,
            status,
            log,
            op_type: d.op_type,
            op_command: d.op_command,
            additional_result_status: code,
            version: String::from(VERSION),
            data,
        };
        let signature = self.state.identity.sign_digest(&result.signing_digest(self.state.config.chain_id));
        let signed = SignedResult { result, signature };
        if light_client_before != (self.state.policies.initial(), self.state.policies.accepted_epochs())
            || wallets_before != (self.state.wallets.changes(), self.state.paths.nonce())
        {
            self.reseal();
        }
        if executed_now {
            if self.recent.len() == RECENT_RESULTS {
                self.recent.pop_front();
            }
            self.recent.push_back(signed.clone());
        }
        signed
    }

    /// Checks an action against its handler (kind, tag) and authorises an instruction under its
    /// operation's rule.
    fn admit(&mut self, action: &Action, handler: &Handler) -> Result<(), Error> {
        action.validate()?;
        if handler.kind != action.kind {
            return Err(Error::Malformed { what: "action kind (instruction vs direct) for this operation" });
        }
        if action.submission_tag != handler.tag {
            return Err(Error::Malformed { what: "submission tag (not the one this operation's actions carry)" });
        }
        if action.kind == ActionKind::Instruction {
            let rule = Rule::of(handler, &action.instruction)?;
            self.authorise_under(action, &rule)?;
        }
        Ok(())
    }

    /// Records an instruction as executed: from here on its effects have happened at most once.
    fn record(&mut self, action: &Action) {
        if action.kind == ActionKind::Instruction {
            self.state.replay.record(action.instruction.reward_epoch_id, action.instruction.instruction_id);
        }
    }

    /// The extension id this TEE's operator fixed (its registration), which every extension
    /// result names.
    fn extension_id(&self) -> Result<H256, Error> {
        self.state.config.registration.map(|r| r.extension_id).ok_or(Error::OperationFailed {
            reason: "this TEE was booted without an extension id, which extension results name",
        })
    }

    /// Finishes an extension's job and wraps its output in the envelope (`extension`).
    fn finish(
        &mut self,
        job: Box<dyn Job>,
        extension_id: H256,
        operation: &Operation,
        d: &InstructionData,
        attester: &mut dyn Attester,
    ) -> Result<Output, Error> {
        let output = job.finish(&mut TeeServices { state: &mut self.state, extension_id })?;
        if output.len() > operation.max_output_len {
            return Err(Error::TooLarge { what: "extension output", len: output.len(), max: operation.max_output_len });
        }
        let code_hash = code_hash(attester.measurement().as_ref());
        Ok(envelope(&extension_id, &code_hash, &d.op_type, &d.op_command, &output).into())
    }

    /// Checks an instruction's addressee, freshness, signatures and the admission rule of its
    /// operation (`admission`).
    pub fn authorise(&mut self, action: &Action) -> Result<Tally, Error> {
        let rule = admission::rule(&self.registry, &action.instruction)?;
        self.authorise_under(action, &rule)
    }

    fn authorise_under(&mut self, action: &Action, rule: &Rule) -> Result<Tally, Error> {
        let s = &mut self.state;
        let d = &action.instruction;
        if d.tee_id != s.identity.address() {
            return Err(Error::WrongTee);
        }
        s.replay.check(&d.instruction_id)?;
        let policy = s.policies.policy_for(d.reward_epoch_id)?;
        let candidates = Candidates { policy, cosigners: &d.cosigners };
        let hash_fixed = d.hash_fixed();
        let chain_id = s.config.chain_id;
        let signers = s.verifier.signers(&action.votes, candidates, |avm| {
            InstructionData::signing_digest_from(&hash_fixed, chain_id, avm)
        })?;
        let t = tally(&signers, candidates)?;
        rule.requirement(policy.total_weight()).check(t.weight, u64::from(t.cosigners))?;
        Ok(t)
    }
}
