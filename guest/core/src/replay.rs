//! Replay protection: an instruction id executes at most once.
//!
//! Window: instructions may only cite the active or the previous reward epoch (the light client
//! refuses the rest), so the guard only has to remember ids of those two epochs. Entries of
//! older epochs are dropped when the policy rotates. Memory is bounded by `REPLAY_CAPACITY`
//! entries; if that many instructions arrive within two epochs the guard fails closed rather
//! than forget one it has executed: new ids are refused with `ReplayFull`, a retryable refusal,
//! so the proxy keeps them and delivers them again after the next rotation has freed the oldest
//! epoch's ids.

use alloc::collections::BTreeMap;

use crate::error::Error;
use crate::hash::H256;
use crate::limits::REPLAY_CAPACITY;

/// Remembers executed (reward epoch, instruction id) pairs: one map from id to epoch, the
/// smallest of the guest's memory budget's choices (about 56 bytes an id; a second index by
/// epoch would double it for a pruning that happens once a policy rotation).
#[derive(Debug, Clone, Default)]
pub struct ReplayGuard {
    ids: BTreeMap<H256, u32>,
}

impl ReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails with `Replayed` if `id` was executed already (in any remembered epoch), or if the
    /// guard is full.
    pub fn check(&self, id: &H256) -> Result<(), Error> {
        if self.ids.contains_key(id) {
            return Err(Error::Replayed);
        }
        if self.ids.len() >= REPLAY_CAPACITY {
            return Err(Error::ReplayFull { capacity: REPLAY_CAPACITY });
        }
        Ok(())
    }

    /// Whether `id` is remembered as executed.
    pub fn contains(&self, id: &H256) -> bool {
        self.ids.contains_key(id)
    }

    /// Records `id` as executed under `epoch` (the first record of an id stands).
    pub fn record(&mut self, epoch: u32, id: H256) {
        self.ids.entry(id).or_insert(epoch);
    }

    /// Forgets ids of epochs before `oldest_kept` (one pass over the map, once per rotation).
    pub fn prune(&mut self, oldest_kept: u32) {
        self.ids.retain(|_, epoch| *epoch >= oldest_kept);
    }

    /// Number of remembered ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_id_and_pruned_by_epoch() {
        let mut g = ReplayGuard::new();
        g.check(&[1; 32]).unwrap();
        g.record(5, [1; 32]);
        assert_eq!(g.check(&[1; 32]), Err(Error::Replayed));
        g.record(6, [2; 32]);
        g.prune(6);
        assert_eq!(g.len(), 1);
        g.check(&[1; 32]).unwrap();
        assert_eq!(g.check(&[2; 32]), Err(Error::Replayed));
    }

    /// Issue 21 item 2: at capacity new ids are refused with a retryable `ReplayFull` (the proxy
    /// keeps the instruction and delivers it again) while executed ids stay refused as replays;
    /// the rotation that forgets the oldest epoch makes room again.
    #[test]
    fn a_full_window_defers_new_ids_until_a_rotation() {
        let mut g = ReplayGuard::new();
        let id = |i: usize| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_be_bytes());
            h
        };
        for i in 0..REPLAY_CAPACITY {
            g.check(&id(i)).unwrap();
            g.record(if i < REPLAY_CAPACITY / 2 { 7 } else { 8 }, id(i));
        }
        assert_eq!(g.len(), REPLAY_CAPACITY);
        let err = g.check(&id(REPLAY_CAPACITY)).unwrap_err();
        assert_eq!(err, Error::ReplayFull { capacity: REPLAY_CAPACITY });
        assert!(err.is_retryable(), "the proxy must keep and redeliver, not finalise, the refusal");
        assert_eq!(g.check(&id(0)), Err(Error::Replayed), "executed ids are still remembered");
        g.prune(8);
        assert_eq!(g.len(), REPLAY_CAPACITY / 2);
        g.check(&id(REPLAY_CAPACITY)).unwrap();
        assert_eq!(g.check(&id(REPLAY_CAPACITY - 1)), Err(Error::Replayed));
    }
}
