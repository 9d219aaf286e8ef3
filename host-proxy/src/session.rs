//! The guests as the proxy sees them: which TEE it serves (the last `Hello`, also kept in the
//! store), how many guest links are open, the optional attestation check of each `Hello` and its
//! outcome for `GET /info`, the policy bring-up a guest without a trust root gets before its
//! queue, and the sealed state a guest hands over for its next boot. `link` drives one
//! connection; this is what outlives it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use fcc_core::action::{Action, update_policy_id};
use fcc_core::policy::Address;
use fcc_core::wire::Hello;
use tokio::sync::RwLock;

use crate::attestation::{self, Checker, Refusal};
use crate::metrics::Metrics;
use crate::store::{Store, StoreResult};
use crate::trust_root::TrustRoot;

/// Policy updates replayed to a guest at most (a policy a week on Flare: twenty years).
const MAX_BRING_UP: u32 = 1024;

/// How often a proxy without a guest of its own reads the served TEE from the shared store.
pub const PEER_TEE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// The guests' state beyond one connection.
pub struct Sessions {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    trust_root: Option<TrustRoot>,
    sealed_state: Option<PathBuf>,
    checker: Option<Checker>,
    outcome: RwLock<Option<attestation::Outcome>>,
    tee: RwLock<Option<Hello>>,
    /// When `tee` was last read from the store (only while no guest is linked here).
    tee_read: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// The served TEE's active policy epoch, as far as this process has seen: its `Hello`'s,
    /// then the epoch of each policy action it answered.
    trusted_epoch: std::sync::Mutex<Option<(Address, u32)>>,
    connected: AtomicUsize,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("connected", &self.connected).finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions that remember the TEE in `store`; `sealed_state` is where a guest's sealed state
    /// is kept (created now if missing: QEMU's `-fw_cfg …,file=` refuses a missing file, and the
    /// guest takes an empty one as "no sealed state").
    pub async fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        trust_root: Option<TrustRoot>,
        sealed_state: Option<PathBuf>,
        checker: Option<Checker>,
    ) -> Result<Self> {
        if let Some(path) = &sealed_state {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| anyhow::anyhow!("sealed-state file {}: {e}", path.display()))?;
        }
        let tee = store.tee().await?;
        Ok(Self {
            store,
            metrics,
            trust_root,
            sealed_state,
            checker,
            outcome: RwLock::new(None),
            trusted_epoch: std::sync::Mutex::new(
                tee.as_ref().and_then(|h: &Hello| h.active_epoch.map(|e| (h.tee_id, e))),
            ),
            tee: RwLock::new(tee),
            tee_read: tokio::sync::Mutex::new(Some(std::time::Instant::now())),
            connected: AtomicUsize::new(0),
        })
    }

    /// The trust root, if the operator configured one.
    pub fn trust_root(&self) -> Option<&TrustRoot> {
        self.trust_root.as_ref()
    }

    /// The connected (or last connected) TEE. While no guest is linked to this process, it is
    /// the one the store names, read again at most every [`PEER_TEE_TTL`]: proxies sharing a
    /// database serve the TEE linked to any of them (each checked the guest it took, as
    /// configured; they are one operator's), so a standby takes votes before the guest fails
    /// over to it. Until one is known the store is asked each time.
    pub async fn tee(&self) -> Option<Hello> {
        if self.connected() == 0 {
            let mut read = self.tee_read.lock().await;
            // None known yet: asked every time (a vote for a TEE just linked to a peer).
            let stale = read.is_none_or(|at| at.elapsed() >= PEER_TEE_TTL) || self.tee.read().await.is_none();
            if stale {
                *read = Some(std::time::Instant::now());
                match self.store.tee().await {
                    Ok(Some(hello)) if self.connected() == 0 => {
                        let mut served = self.tee.write().await;
                        if served.as_ref().is_none_or(|h| h.tee_id != hello.tee_id) {
                            *self.trusted_epoch.lock().unwrap_or_else(|e| e.into_inner()) =
                                hello.active_epoch.map(|e| (hello.tee_id, e));
                        }
                        *served = Some(hello);
                    }
                    Ok(_) => {}
                    // The database's trouble is the vote's to report; the last known stands.
                    Err(e) => tracing::debug!("reading the served TEE from the store: {e}"),
                }
            }
        }
        self.tee.read().await.clone()
    }

    /// Makes `hello`'s TEE the served one (stored first), at `now_ms`.
    pub async fn set_tee(&self, hello: Hello, now_ms: i64) -> StoreResult<()> {
        self.store.put_tee(&hello, now_ms).await?;
        *self.trusted_epoch.lock().unwrap_or_else(|e| e.into_inner()) = hello.active_epoch.map(|e| (hello.tee_id, e));
        *self.tee.write().await = Some(hello);
        Ok(())
    }

    /// The served TEE's active policy epoch (see [`Sessions::policy_answered`]), if it has one.
    pub async fn trusted_epoch(&self) -> Option<u32> {
        let served = self.tee.read().await.as_ref().map(|h| h.tee_id)?;
        let known = *self.trusted_epoch.lock().unwrap_or_else(|e| e.into_inner());
        known.filter(|(tee, _)| *tee == served).map(|(_, epoch)| epoch)
    }

    /// Notes the active epoch a policy action's successful result from `tee` names (its data is
    /// `abi.encode(uint32 epoch, bytes32 hash)`); other results change nothing.
    pub fn policy_answered(&self, tee: &Address, result: &fcc_core::result::ActionResult) {
        let is_policy = result.op_type == fcc_core::op::F_POLICY && result.status == fcc_core::result::status::SUCCESS;
        let Some(word) = result.data.get(..32).filter(|_| is_policy) else { return };
        let Ok(epoch) = <[u8; 4]>::try_from(&word[28..]) else { return };
        if word[..28].iter().any(|b| *b != 0) {
            return;
        }
        let mut known = self.trusted_epoch.lock().unwrap_or_else(|e| e.into_inner());
        // A re-answered older update (a replay after a reboot) does not move it back.
        let epoch = u32::from_be_bytes(epoch);
        if known.is_none_or(|(t, e)| t != *tee || e < epoch) {
            *known = Some((*tee, epoch));
        }
    }

    /// Guest links open now.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// A guest link opened.
    pub fn link_opened(&self) {
        self.connected.fetch_add(1, Ordering::Relaxed);
        self.metrics.guests.inc();
    }

    /// A guest link closed.
    pub fn link_closed(&self) {
        self.connected.fetch_sub(1, Ordering::Relaxed);
        self.metrics.guests.dec();
    }

    /// Whether guests' attestations are checked.
    pub fn checks_attestation(&self) -> bool {
        self.checker.is_some()
    }

    /// Checks a guest's Hello for `chain_id` when the check is on (always passes when off) and
    /// records the outcome for `GET /info`.
    pub async fn check_attestation(&self, hello: &Hello, chain_id: u64) -> Result<(), Refusal> {
        let Some(checker) = &self.checker else { return Ok(()) };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let (outcome, result) = match checker.check(hello, chain_id, now) {
            Ok(verdict) => {
                self.metrics.attestations_verified.inc();
                (attestation::Outcome::Accepted(hello.tee_id, Box::new(verdict)), Ok(()))
            }
            Err(refusal) => {
                self.metrics.attestations_refused.inc();
                (attestation::Outcome::Refused(hello.tee_id, refusal.to_string()), Err(refusal))
            }
        };
        *self.outcome.write().await = Some(outcome);
        result
    }

    /// The outcome of the last attestation check (None when off or no guest was checked yet).
    pub async fn attestation_outcome(&self) -> Option<attestation::Outcome> {
        self.outcome.read().await.clone()
    }

    /// The policy actions a guest that connects without a trust root needs before its queue:
    /// the trust root's INITIALIZE_POLICY and the UPDATE_POLICY actions of the epochs after it,
    /// in order — but only those already answered (by an earlier boot, whose answers stand).
    /// Unanswered ones reach it through the queue as usual. Empty when the guest has a trust
    /// root or the proxy none.
    pub async fn bring_up(&self, hello: &Hello) -> Result<Vec<Action>> {
        let Some(root) = &self.trust_root else { return Ok(Vec::new()) };
        if hello.initial_policy.is_some() || self.store.result(&root.action.instruction.instruction_id).await?.is_none()
        {
            return Ok(Vec::new());
        }
        let first = root.signing_policy()?.reward_epoch_id().saturating_add(1);
        let mut actions = vec![root.action.clone()];
        for epoch in first..first.saturating_add(MAX_BRING_UP) {
            let Some(bytes) = self.store.policy(epoch).await? else { break };
            let id = update_policy_id(&bytes);
            if self.store.result(&id).await?.is_none() {
                break;
            }
            match self.store.action(&id).await? {
                Some(action) => actions.push(action),
                None => break,
            }
        }
        Ok(actions)
    }

    /// Keeps `blob`, the sealed state of the (authenticated) TEE `tee` (opaque here), where the
    /// operator's next boot picks it up. Without a sealed-state file it is dropped, with a note.
    ///
    /// One file per TEE: the sealed-state file belongs to the TEE whose state it first held (its
    /// id in `<file>.tee`; the pinned `tee-id` where one is configured). Another TEE's state goes
    /// to `<file>.0x<its id>` instead, so no other guest can overwrite the file the operator's
    /// VM boots from.
    pub async fn keep_sealed(&self, tee: Address, blob: Vec<u8>, pinned: Option<Address>) {
        let Some(path) = self.sealed_state.clone() else {
            tracing::info!(tee = %hex::encode(tee), "the guest sealed its state; not kept (no sealed-state file configured)");
            return;
        };
        let write = move || -> std::io::Result<PathBuf> {
            let owner_file = suffixed(&path, ".tee");
            let owner = match pinned {
                Some(pin) => Some(pin),
                None => match std::fs::read_to_string(&owner_file) {
                    Ok(text) => parse_tee(&text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(e),
                },
            };
            let target = match owner {
                Some(owner) if owner != tee => suffixed(&path, &format!(".0x{}", hex::encode(tee))),
                Some(_) => path,
                None => {
                    replace_file(&owner_file, format!("0x{}\n", hex::encode(tee)).as_bytes())?;
                    path
                }
            };
            replace_file(&target, &blob)?;
            Ok(target)
        };
        match tokio::task::spawn_blocking(write).await {
            Ok(Ok(path)) => {
                self.metrics.sealed_states.inc();
                tracing::info!(tee = %hex::encode(tee), path = %path.display(), "sealed state kept");
            }
            // The guest keeps working; only its next boot would come back as a new TEE.
            Ok(Err(e)) => tracing::error!(tee = %hex::encode(tee), error = %e, "writing the sealed state failed"),
            Err(e) => tracing::error!(error = %e, "writing the sealed state panicked"),
        }
    }
}

/// `path` with `suffix` appended to its file name.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A TEE id written as `0x` and 40 hex digits (surrounding white space ignored).
fn parse_tee(text: &str) -> Option<Address> {
    let mut id = [0u8; 20];
    hex::decode_to_slice(text.trim().strip_prefix("0x")?, &mut id).ok()?;
    Some(id)
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old or the new contents,
/// never a mix: a new temporary file beside it (a name nobody can predict, created exclusively
/// — never through a link planted there — readable by the owner only), synced, renamed over it,
/// the directory synced.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = suffixed(path, &format!(".{}.tmp", hex::encode(rand::random::<[u8; 8]>())));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all()).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_holds_the_new_bytes_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealed");
        std::fs::write(&path, b"old").unwrap();
        replace_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
