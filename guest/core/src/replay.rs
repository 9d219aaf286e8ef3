//! Replay protection: an instruction id executes at most once.
//!
//! Window: instructions may only cite the active or the previous reward epoch (the light client
//! refuses the rest), so the guard only has to remember ids of those two epochs. Entries of
//! older epochs are dropped when the policy rotates. Memory is bounded by `REPLAY_CAPACITY`
//! entries; if that many instructions arrive within two epochs the guard fails closed
//! (refuses new ids with an error) rather than forget one it has executed.

use alloc::collections::BTreeSet;

use crate::error::Error;
use crate::hash::H256;
use crate::limits::REPLAY_CAPACITY;

/// Remembers executed (reward epoch, instruction id) pairs.
#[derive(Debug, Clone, Default)]
pub struct ReplayGuard {
    ids: BTreeSet<H256>,
    by_epoch: BTreeSet<(u32, H256)>,
}

impl ReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails with `Replayed` if `id` was executed already (in any remembered epoch), or if the
    /// guard is full.
    pub fn check(&self, id: &H256) -> Result<(), Error> {
        if self.ids.contains(id) {
            return Err(Error::Replayed);
        }
        if self.ids.len() >= REPLAY_CAPACITY {
            return Err(Error::TooMany {
                what: "executed instructions in the replay window",
                count: self.ids.len(),
                max: REPLAY_CAPACITY,
            });
        }
        Ok(())
    }

    /// Whether `id` is remembered as executed.
    pub fn contains(&self, id: &H256) -> bool {
        self.ids.contains(id)
    }

    /// Records `id` as executed under `epoch`.
    pub fn record(&mut self, epoch: u32, id: H256) {
        if self.ids.insert(id) {
            self.by_epoch.insert((epoch, id));
        }
    }

    /// Forgets ids of epochs before `oldest_kept`.
    pub fn prune(&mut self, oldest_kept: u32) {
        let kept = self.by_epoch.split_off(&(oldest_kept, [0; 32]));
        for (_, id) in core::mem::replace(&mut self.by_epoch, kept) {
            self.ids.remove(&id);
        }
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
}
