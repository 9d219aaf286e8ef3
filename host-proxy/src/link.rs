//! The guest link: a TCP server the guest connects out to (`docs/PROTOCOL.md` §9). Per
//! connection: send a fresh `Challenge`, read the `Hello` signed for it by the TEE key it names,
//! and a `Pull`; lease up to the pulled number of actions from the
//! store (holding the pull while there are none); read one `Result` per action, check it is
//! signed by this guest's key and answers an action it was given; store the results, then `Ack`
//! each. When a connection ends for any reason its unanswered leases are given back, so the
//! actions go to the next connection at once; if the proxy itself dies, the leases expire.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fcc_core::hash::H256;
use fcc_core::limits::{MAX_ACTIONS_PER_PULL, MAX_DATA_CHUNK};
use fcc_core::result::SignedResult;
use fcc_core::wire::{FrameReader, GuestMessage, Hello, ProxyMessage, decode_body, encode_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::state::{Shared, now_ms};

/// How long the guest may take to greet (its evidence may come from a throttled platform
/// request: an SEV-SNP host answers "busy" for seconds), and then to send its first pull.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// Most links from one peer (an IPv4 address, an IPv6 /64) at once.
const MAX_LINKS_PER_PEER: usize = 8;
/// How often a held pull re-checks the store (actions queued by another proxy on a shared
/// database do not wake this one).
const POLL: Duration = Duration::from_millis(250);

/// Most guest connections at once (a TEE machine has one guest; the rest are reconnects whose
/// old connection has not been noticed dead yet).
const MAX_LINKS: usize = 64;

/// Why a guest link was closed, as the `links_closed{reason}` metric counts it. Whatever the
/// reason, nothing the guest sent on the link after its last acked result is stored, and the
/// actions it held go back to the queue.
#[derive(Debug, thiserror::Error)]
pub enum LinkFault {
    /// A frame over the bound, of another version, that does not decode or breaks a bound.
    #[error("guest frame: {0}")]
    Frame(String),
    /// The guest closed the connection.
    #[error("the guest closed the connection{0}")]
    Closed(&'static str),
    /// A valid frame out of turn.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A result for an action this connection was not given.
    #[error("a result for 0x{}, which this connection was not given", hex::encode(.0))]
    ForeignResult(H256),
    /// A result not signed by the connected TEE (or whose signature does not recover).
    #[error("a result not signed by the connected TEE ({0})")]
    WrongSigner(String),
    /// The guest took too long (to greet, or to answer within the lease).
    #[error("timed out {0}")]
    Timeout(String),
    /// The guest is not one this proxy serves: its Hello is not signed for this link, names
    /// another pinned TEE or chain, or its attestation does not verify.
    #[error("refused: {0}")]
    Refused(String),
    /// The guest asked for extension data this proxy does not have.
    #[error("missing data: {0}")]
    MissingObject(String),
    /// The proxy is shutting down.
    #[error("the proxy is shutting down")]
    ShuttingDown,
}

impl LinkFault {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            LinkFault::Frame(_) => "bad_frame",
            LinkFault::Closed(_) => "guest_closed",
            LinkFault::Protocol(_) => "protocol",
            LinkFault::ForeignResult(_) => "foreign_result",
            LinkFault::WrongSigner(_) => "wrong_signer",
            LinkFault::Timeout(_) => "timeout",
            LinkFault::Refused(_) => "refused",
            LinkFault::MissingObject(_) => "missing_object",
            LinkFault::ShuttingDown => "shutdown",
        }
    }
}

/// The reason label of a link's end: its `LinkFault`, or `error` (the store, the socket).
fn close_reason(e: &anyhow::Error) -> &'static str {
    e.downcast_ref::<LinkFault>().map_or("error", LinkFault::label)
}

/// Accepts guests until `stop` turns true, then closes every link and returns once they are
/// closed (their leases given back).
pub async fn serve(shared: Arc<Shared>, listener: TcpListener, stop: watch::Receiver<bool>) {
    let mut n = 0u64;
    let mut conns = tokio::task::JoinSet::new();
    let per_peer = crate::peer::Connections::new(MAX_LINKS_PER_PEER);
    let stopped = crate::shutdown::until_stopped(stop.clone());
    tokio::pin!(stopped);
    loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) if conns.len() >= MAX_LINKS => {
                tracing::warn!(%peer, "{MAX_LINKS} guest links open: refusing one");
                drop(stream);
            }
            Ok((stream, peer)) => {
                let Some(slot) = per_peer.open(peer.ip()) else {
                    tracing::warn!(%peer, "{MAX_LINKS_PER_PEER} guest links open from this peer: refusing one");
                    continue;
                };
                n += 1;
                let shared = shared.clone();
                let owner = format!("{}-{n}", shared.instance);
                let stop = stop.clone();
                conns.spawn(async move {
                    let _slot = slot;
                    let mut conn = Conn {
                        stream,
                        reader: FrameReader::new(),
                        leased: HashSet::new(),
                        sealed: None,
                        lease_ms: shared.config.lease_ms,
                        counted: false,
                        action_seconds: shared.metrics.guest_action_seconds.clone(),
                    };
                    // A proxy shutting down closes its links: results not yet stored are
                    // given back with the leases, and the guest reconnects to the next proxy.
                    let outcome = tokio::select! {
                        r = conn.run(&shared, &owner) => r,
                        _ = crate::shutdown::until_stopped(stop) => Err(LinkFault::ShuttingDown.into()),
                    };
                    let unanswered: Vec<H256> = conn.leased.drain().collect();
                    if !unanswered.is_empty()
                        && let Err(e) = shared.store.release(&owner, &unanswered).await
                    {
                        tracing::warn!("releasing leases of a closed link: {e}; they expire instead");
                    }
                    if conn.counted {
                        shared.sessions.link_closed();
                    }
                    let reason = outcome.as_ref().err().map_or("ok", close_reason);
                    shared.metrics.links_closed.get_or_create(&vec![("reason".into(), reason.into())]).inc();
                    match outcome {
                        Ok(()) => tracing::info!(%peer, "guest link closed"),
                        Err(e) => tracing::warn!(%peer, reason, "guest link closed: {e:#}"),
                    }
                });
            }
            Err(e) => {
                tracing::warn!("accepting a guest: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

struct Conn {
    stream: TcpStream,
    reader: FrameReader,
    /// Actions handed out on this connection and not yet answered.
    leased: HashSet<H256>,
    /// The guest's latest sealed state of the exchange in progress, kept once its results are.
    sealed: Option<Vec<u8>>,
    /// How long the guest has to answer the actions it is given.
    lease_ms: u64,
    /// Counted as a connected guest (`/ready`, `guests_connected`): authenticated, and accepted
    /// by the attestation check where it is on.
    counted: bool,
    /// Where the time from handing actions over to each result goes.
    action_seconds: prometheus_client::metrics::histogram::Histogram,
}

impl Conn {
    async fn read(&mut self) -> Result<GuestMessage> {
        loop {
            let frame = |e: fcc_core::Error| LinkFault::Frame(e.to_string());
            if let Some(body) = self.reader.next_body().map_err(frame)? {
                let msg: GuestMessage = decode_body(&body).map_err(frame)?;
                msg.validate().map_err(frame)?;
                return Ok(msg);
            }
            let mut buf = vec![0u8; self.reader.room().min(64 * 1024)];
            let n = self.stream.read(&mut buf).await.context("reading from the guest")?;
            if n == 0 {
                return Err(LinkFault::Closed("").into());
            }
            self.reader.push(&buf[..n]).map_err(frame)?;
        }
    }

    async fn send(&mut self, msg: &ProxyMessage) -> Result<()> {
        let frame = encode_frame(msg).map_err(|e| anyhow::anyhow!("encoding a frame: {e}"))?;
        self.stream.write_all(&frame).await.context("writing to the guest")
    }

    async fn expect_pull(&mut self) -> Result<usize> {
        match self.read().await? {
            GuestMessage::Pull { max_actions } => Ok(usize::from(max_actions).clamp(1, MAX_ACTIONS_PER_PULL)),
            other => Err(LinkFault::Protocol(format!("expected Pull, got {}", kind(&other))).into()),
        }
    }

    async fn run(&mut self, shared: &Shared, owner: &str) -> Result<()> {
        self.stream.set_nodelay(true)?;
        // A fresh challenge: the Hello must be signed for it by the key it names, so only the
        // holder of a TEE key can be that TEE on this link (a Hello copied from `GET /info` or an
        // earlier connection does not verify).
        let nonce: [u8; 32] = rand::random();
        self.send(&ProxyMessage::Challenge { nonce }).await?;
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, self.read())
            .await
            .map_err(|_| LinkFault::Timeout(format!("waiting for Hello ({HELLO_TIMEOUT:?})")))??
        {
            GuestMessage::Hello(h) => h,
            other => {
                return Err(LinkFault::Protocol(format!("the first message is {}, not Hello", kind(&other))).into());
            }
        };
        if let Err(e) = hello.verify_link(&nonce) {
            shared.metrics.links_refused.inc();
            return Err(
                LinkFault::Refused(format!("the Hello is not signed by its TEE key for this link ({e})")).into()
            );
        }
        if let Some(pin) = shared.config.tee_id
            && hello.tee_id != pin
        {
            shared.metrics.links_refused.inc();
            return Err(LinkFault::Refused(format!(
                "TEE 0x{} is not the one this proxy serves (tee-id 0x{})",
                hex::encode(hello.tee_id),
                hex::encode(pin)
            ))
            .into());
        }
        if hello.chain_id != shared.config.chain_id {
            return Err(LinkFault::Refused(format!(
                "the guest serves chain {} but this proxy chain {}",
                hello.chain_id, shared.config.chain_id
            ))
            .into());
        }
        let tee = hello.tee_id;
        let chain_id = hello.chain_id;
        log_hello(&hello);
        // Before the guest becomes the served TEE or gets any action.
        if let Err(refusal) = shared.sessions.check_attestation(&hello, shared.config.chain_id).await {
            tracing::error!(tee = %hex::encode(tee), reason = %refusal, "guest refused: its attestation does not verify");
            return Err(LinkFault::Refused(format!("attestation: {refusal}")).into());
        }
        shared.sessions.link_opened();
        self.counted = true;
        let mut bring_up: std::collections::VecDeque<_> = shared.sessions.bring_up(&hello).await?.into();
        if hello.sealed.is_some() && hello.initial_policy.is_none() && bring_up.is_empty() {
            tracing::warn!(
                tee = %hex::encode(tee),
                "the guest resumed from sealed state but this proxy has no answered trust root to replay \
                 (--trust-root): it serves no instruction until it gets its sealed trust root"
            );
        }
        shared.sessions.set_tee(hello, now_ms()).await?;
        let mut max = tokio::time::timeout(HELLO_TIMEOUT, self.expect_pull())
            .await
            .map_err(|_| LinkFault::Timeout(format!("waiting for the first Pull ({HELLO_TIMEOUT:?})")))??;
        if !bring_up.is_empty() {
            tracing::info!(
                actions = bring_up.len(),
                "a guest without a trust root (a new boot): replaying the trust root and the policy updates since"
            );
        }
        // Session-only: these ids keep the result of the boot that first answered them.
        while !bring_up.is_empty() {
            let batch: Vec<_> = bring_up.drain(..max.min(bring_up.len())).collect();
            let (results, next) = self.exchange(shared, owner, batch, tee, chain_id).await?;
            max = next;
            // The state these results depend on is kept before anything is acked.
            if let Some(blob) = self.sealed.take() {
                shared.sessions.keep_sealed(tee, blob, shared.config.tee_id).await;
            }
            for r in &results {
                if r.result.status != fcc_core::result::status::SUCCESS {
                    tracing::warn!(id = %hex::encode(r.result.id), log = %r.result.log, "the guest refused a policy action");
                }
                shared.sessions.policy_answered(&tee, &r.result);
                self.leased.remove(&r.result.id);
                self.send(&ProxyMessage::Ack { id: r.result.id }).await?;
            }
        }
        loop {
            let actions = self.wait_for_work(shared, owner, &tee, max).await?;
            shared.metrics.delivered.inc_by(actions.len() as u64);
            let (results, next) = self.exchange(shared, owner, actions, tee, chain_id).await?;
            max = next;
            // The state the results depend on (the guest sealed it before sending them) is kept
            // before any of them is stored or acked.
            if let Some(blob) = self.sealed.take() {
                shared.sessions.keep_sealed(tee, blob, shared.config.tee_id).await;
            }
            if results.is_empty() {
                continue;
            }
            // A refusal for now (the light client catching up, …) is not the action's result: the
            // action is delivered again later, until it has been delivered too often.
            let mut kept = Vec::with_capacity(results.len());
            for r in results {
                if let Some(code) = retryable_refusal(&r) {
                    let id = r.result.id;
                    let until = now_ms() + shared.config.retry_ms as i64;
                    // A full replay memory frees only at the guest's next policy rotation, which
                    // may be days away: such an instruction waits however many deliveries it
                    // takes (once its epoch leaves the guest's window it gets a final refusal).
                    let max = if code == REPLAY_FULL { u64::MAX } else { shared.config.max_deliveries };
                    if shared.store.defer(owner, &id, until, max).await? {
                        tracing::info!(id = %hex::encode(id), log = %r.result.log, "refused for now: delivered again later");
                        shared.metrics.deferred.inc();
                        self.leased.remove(&id);
                        continue;
                    }
                    tracing::warn!(id = %hex::encode(id), log = %r.result.log, "refused for now too often: kept as the result");
                }
                kept.push(r);
            }
            let results = kept;
            if results.is_empty() {
                continue;
            }
            // Durable first, then acked: an ack promises the result survives a crash.
            let stored = shared.store.store_results(&results, now_ms()).await?;
            for (r, new) in results.iter().zip(stored) {
                shared.sessions.policy_answered(&tee, &r.result);
                if new {
                    shared.metrics.results.inc();
                    if let Some(waited) = shared.metrics.queue_clock.answered(&r.result.id) {
                        shared.metrics.queued_to_result_seconds.observe(waited.as_secs_f64());
                    }
                } else {
                    shared.metrics.duplicate_results.inc();
                }
                self.leased.remove(&r.result.id);
            }
            for r in &results {
                self.send(&ProxyMessage::Ack { id: r.result.id }).await?;
            }
        }
    }

    /// Sends `actions` (possibly none: a long poll that timed out), then reads the guest's
    /// results up to its next `Pull`: one per action, each for an action of this connection and
    /// signed by the connected TEE, serving the data its extension instructions ask for on the
    /// way. Returns them and the next pull's size.
    async fn exchange(
        &mut self,
        shared: &Shared,
        owner: &str,
        actions: Vec<fcc_core::action::Action>,
        tee: fcc_core::policy::Address,
        chain_id: u64,
    ) -> Result<(Vec<SignedResult>, usize)> {
        self.leased.extend(actions.iter().map(|a| a.instruction.instruction_id));
        let expected = actions.len();
        self.send(&ProxyMessage::Actions(actions)).await?;
        let sent = std::time::Instant::now();
        let mut results: Vec<SignedResult> = Vec::with_capacity(expected);
        // The answers are due within the lease: a silent guest does not hold the link (the
        // leases are given back when it closes). Data served renews it.
        let due = Duration::from_millis(self.lease_ms);
        let mut deadline = tokio::time::Instant::now() + due;
        let timeout = || LinkFault::Timeout(format!("for the answer to {expected} actions (lease {due:?})"));
        let max = loop {
            match tokio::time::timeout_at(deadline, self.read()).await.map_err(|_| timeout())?? {
                GuestMessage::Result(r) => {
                    if !self.leased.contains(&r.result.id) {
                        return Err(LinkFault::ForeignResult(r.result.id).into());
                    }
                    let signer = r.signer(chain_id).map_err(|e| LinkFault::WrongSigner(e.to_string()))?;
                    if signer != tee {
                        return Err(LinkFault::WrongSigner(format!("signed by 0x{}", hex::encode(signer))).into());
                    }
                    self.action_seconds.observe(sent.elapsed().as_secs_f64());
                    results.push(r);
                }
                // The guest seals the state a batch left once, before the batch's results
                // (PROTOCOL.md §7.1, §9).
                GuestMessage::Sealed(blob) => {
                    if !results.is_empty() || self.sealed.is_some() || expected == 0 {
                        return Err(LinkFault::Protocol(
                            "a sealed state after a result, twice, or without actions".into(),
                        )
                        .into());
                    }
                    self.sealed = Some(blob);
                }
                GuestMessage::NeedData { id, object, offset, len } => {
                    if !self.leased.contains(&id) || results.iter().any(|r| r.result.id == id) {
                        return Err(
                            LinkFault::Protocol("data for an action this connection does not hold".into()).into()
                        );
                    }
                    self.serve_data(shared, owner, id, &object, offset, len).await?;
                    deadline = tokio::time::Instant::now() + due;
                }
                GuestMessage::Pull { max_actions } => break usize::from(max_actions).clamp(1, MAX_ACTIONS_PER_PULL),
                GuestMessage::Hello(_) => return Err(LinkFault::Protocol("a second Hello".into()).into()),
            }
        };
        if results.len() != expected {
            return Err(LinkFault::Protocol(format!("{} results for {expected} actions", results.len())).into());
        }
        Ok((results, max))
    }

    /// Streams `len` bytes of `object` from `offset` to the guest as `Data` chunks, each due
    /// within the lease, then renews the leases this connection holds. An object this proxy
    /// does not have ends the link, and its instruction waits (`retry-ms`, however many times
    /// it takes) for the operator to file it; the others go back to the queue.
    async fn serve_data(
        &mut self,
        shared: &Shared,
        owner: &str,
        id: H256,
        object: &H256,
        offset: u64,
        len: u64,
    ) -> Result<()> {
        let opened = match &shared.objects {
            Some(objects) => objects.open_range(object, offset, len).await.map_err(|e| e.to_string()),
            None => Err(format!("object 0x{} asked for, but no objects directory is configured", hex::encode(object))),
        };
        let mut file = match opened {
            Ok(file) => file,
            Err(why) => {
                shared.metrics.objects_missing.inc();
                let until = now_ms() + shared.config.retry_ms as i64;
                if shared.store.defer(owner, &id, until, u64::MAX).await? {
                    self.leased.remove(&id);
                }
                return Err(LinkFault::MissingObject(why).into());
            }
        };
        let step = Duration::from_millis(self.lease_ms);
        let mut buf = vec![0u8; MAX_DATA_CHUNK];
        let mut sent = 0u64;
        let mut renewed = Instant::now();
        while sent < len {
            let n = usize::try_from(len - sent).unwrap_or(usize::MAX).min(MAX_DATA_CHUNK);
            file.read_exact(&mut buf[..n])
                .await
                .with_context(|| format!("reading object 0x{}", hex::encode(object)))?;
            let chunk = ProxyMessage::Data { id, offset: offset + sent, bytes: buf[..n].to_vec() };
            tokio::time::timeout(step, self.send(&chunk))
                .await
                .map_err(|_| LinkFault::Timeout(format!("the guest read no data for {step:?}")))??;
            sent += n as u64;
            shared.metrics.object_bytes.inc_by(n as u64);
            // A stream longer than a lease keeps the connection's leases.
            if renewed.elapsed() > step / 3 {
                self.renew_leases(shared, owner).await?;
                renewed = Instant::now();
            }
        }
        self.renew_leases(shared, owner).await
    }

    /// Renews every lease of this connection for another lease period (not a new delivery: the
    /// count of deliveries does not move).
    async fn renew_leases(&self, shared: &Shared, owner: &str) -> Result<()> {
        let until = now_ms() + self.lease_ms as i64;
        for leased in &self.leased {
            shared.store.defer(owner, leased, until, u64::MAX).await?;
        }
        Ok(())
    }

    /// Leases work for the outstanding pull, holding it up to the long-poll time.
    async fn wait_for_work(
        &mut self,
        shared: &Shared,
        owner: &str,
        tee: &fcc_core::policy::Address,
        max: usize,
    ) -> Result<Vec<fcc_core::action::Action>> {
        let deadline = Instant::now() + Duration::from_millis(shared.config.long_poll_ms);
        loop {
            let notified = shared.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Only what is for this TEE (or for any): another TEE never holds its actions.
            let actions = shared
                .store
                .lease(owner, tee, max, now_ms(), shared.config.lease_ms as i64)
                .await
                .context("leasing")?;
            if !actions.is_empty() || Instant::now() >= deadline {
                return Ok(actions);
            }
            let wait = POLL.min(deadline.saturating_duration_since(Instant::now()));
            let mut probe = [0u8; 1];
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
                // The guest must not speak while its pull is held; EOF means it is gone.
                r = self.stream.peek(&mut probe) => {
                    match r {
                        Ok(0) | Err(_) => return Err(LinkFault::Closed(" while waiting for work").into()),
                        Ok(_) => return Err(LinkFault::Protocol("a frame while its pull was outstanding".into()).into()),
                    }
                }
            }
        }
    }
}

/// A refusal the same action may not meet when delivered again (`fcc_core::error::retryable`).
/// Its error code when it is one.
fn retryable_refusal(r: &SignedResult) -> Option<u16> {
    let code = match r.result.additional_result_status[..] {
        [hi, lo] => u16::from_be_bytes([hi, lo]),
        _ => return None,
    };
    (r.result.status == fcc_core::result::status::ERROR && fcc_core::error::retryable(code)).then_some(code)
}

/// The code of the guest's `ReplayFull` refusal.
const REPLAY_FULL: u16 = fcc_core::Error::ReplayFull { capacity: 0 }.code();

fn kind(m: &GuestMessage) -> &'static str {
    match m {
        GuestMessage::Hello(_) => "Hello",
        GuestMessage::Pull { .. } => "Pull",
        GuestMessage::Result(_) => "Result",
        GuestMessage::Sealed(_) => "Sealed",
        GuestMessage::NeedData { .. } => "NeedData",
    }
}

fn log_hello(h: &Hello) {
    tracing::info!(
        tee = %hex::encode(h.tee_id),
        platform = ?h.platform,
        version = %h.version,
        active_epoch = ?h.active_epoch,
        resumed_at_epoch = ?h.sealed.map(|(_, epoch)| epoch),
        "guest connected"
    );
}
