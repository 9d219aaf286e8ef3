//! One test-suite for every storage backend: the same functions run against SQLite (always) and
//! PostgreSQL (a throwaway server; SKIPPED where the binaries are absent).

mod common;

use common::announce;

use fcc_core::admission::Requirement;
use std::sync::Arc;

use fcc_core::action::ActionKind;
use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::result::{ActionResult, SignedResult, SubmissionTag, status};
use fcc_core::verify::SignerHint;
use fcc_proxy::store::{
    Announced, ChainApplied, ChainBatch, ChainInstruction, NewVote, OpenLimits, PgStore, SqliteStore, Store,
    VoteRejection,
};

/// The TEE every test instruction is for.
const TEE: [u8; 20] = [0xee; 20];

/// Bounds no test reaches unless it means to.
const ROOMY: OpenLimits = OpenLimits { max_open: 100, max_open_per_signer: 100 };

fn instruction(id: &str) -> InstructionData {
    InstructionData {
        instruction_id: keccak256(id.as_bytes()),
        tee_id: [0xee; 20],
        reward_epoch_id: 7,
        op_type: fcc_core::op::F_FDC2,
        op_command: fcc_core::op::PROVE,
        original_message: b"message".to_vec(),
        ..Default::default()
    }
}

fn vote(d: &InstructionData, signer: u8, weight: u32, threshold: u32) -> NewVote {
    NewVote {
        instruction: d.clone(),
        hash_fixed: d.hash_fixed(),
        signer: [signer; 20],
        hint: SignerHint { signer_index: u16::from(signer), r_y: Some([signer; 32]) },
        weight,
        cosigner: false,
        signature: [signer; 65],
        additional_variable_message: vec![signer],
        requirement: Requirement { threshold_bips: 5000, weight_above: threshold, cosigners: d.cosigners_threshold },
        now_ms: 1_760_000_000_000 + i64::from(signer),
    }
}

fn result(id: [u8; 32], tag: u8) -> SignedResult {
    SignedResult {
        result: ActionResult {
            id,
            submission_tag: SubmissionTag::Threshold,
            status: status::SUCCESS,
            log: String::new(),
            op_type: fcc_core::op::F_FDC2,
            op_command: fcc_core::op::PROVE,
            additional_result_status: vec![],
            version: "test".into(),
            data: vec![tag],
        },
        signature: [tag; 65],
    }
}

async fn votes_queue_one_action_when_the_weight_first_exceeds_the_threshold(s: Arc<dyn Store>) {
    let d = instruction("a");
    // Threshold 10: 6 + 4 = 10 is not enough (strictly greater), the third vote queues.
    let out = s.add_votes(&[vote(&d, 1, 6, 10), vote(&d, 2, 4, 10)], ROOMY).await.unwrap();
    let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!((out[0].sequence, out[1].sequence), (0, 1), "0-based, as tee-proxy");
    assert!(!out[0].queued_now && !out[1].queued_now);
    assert_eq!(s.lease("o", &TEE, 4, 0, 1000).await.unwrap(), vec![]);
    let third = s.add_votes(&[vote(&d, 3, 1, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    assert!(third.queued_now && third.weight == 11 && third.sequence == 2);
    // Later votes are recorded but queue nothing more.
    let fourth = s.add_votes(&[vote(&d, 4, 5, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    assert!(!fourth.queued_now && fourth.sequence == 3);
    // A repeated vote (with another variable message) reports its first acceptance — that
    // vote's message hash included — and changes nothing.
    let repeat = NewVote { additional_variable_message: vec![0x99], ..vote(&d, 2, 4, 10) };
    let again = s.add_votes(&[repeat], ROOMY).await.unwrap().remove(0).unwrap();
    assert!(again.repeated && again.sequence == 1 && again.vote_hash == out[1].vote_hash && again.weight == 16);
    assert_eq!((again.avm_hash, out[1].avm_hash), (keccak256(&[2]), keccak256(&[2])));
    assert_eq!(again.signature, out[1].signature, "the first vote's signature, echoed");

    let st = s.status(7, &d.instruction_id).await.unwrap().unwrap();
    assert_eq!((st.state, st.votes, st.weight, st.threshold), ("queued", 4, 16, 10));
    assert!(s.status(8, &d.instruction_id).await.unwrap().is_none(), "another epoch");

    let leased = s.lease("o", &TEE, 4, 0, 1000).await.unwrap();
    assert_eq!(leased.len(), 1);
    let a = &leased[0];
    assert_eq!((a.kind, a.instruction.clone()), (ActionKind::Instruction, d.clone()));
    // The action carries the votes up to the one that passed the threshold, in order, with hints.
    let signers: Vec<u8> = a.votes.iter().map(|v| v.signature[0]).collect();
    assert_eq!(signers, vec![1, 2, 3]);
    assert_eq!(a.votes[1].hint, Some(SignerHint { signer_index: 2, r_y: Some([2; 32]) }));
    assert_eq!(a.votes[2].additional_variable_message, vec![3]);
    assert_eq!(s.status(7, &d.instruction_id).await.unwrap().unwrap().state, "delivered");
}

async fn the_first_result_for_an_id_is_the_only_one(s: Arc<dyn Store>) {
    let d = instruction("b");
    s.add_votes(&[vote(&d, 1, 11, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    assert_eq!(s.lease("o", &TEE, 4, 0, 1000).await.unwrap().len(), 1);
    assert_eq!(s.store_results(&[result(d.instruction_id, 1)], 5).await.unwrap(), vec![true]);
    // A second result (a rebooted guest with a new key, a re-delivery) is dropped.
    assert_eq!(s.store_results(&[result(d.instruction_id, 2)], 6).await.unwrap(), vec![false]);
    assert_eq!(s.result(&d.instruction_id).await.unwrap(), Some(result(d.instruction_id, 1)));
    assert_eq!(s.result_stored_at(&d.instruction_id).await.unwrap(), Some(5));
    assert_eq!(s.status(7, &d.instruction_id).await.unwrap().unwrap().state, "done");
    // Answered actions are never leased again, even after the lease time.
    assert_eq!(s.lease("o", &TEE, 4, 10_000, 1000).await.unwrap(), vec![]);
    assert_eq!(s.counts().await.unwrap().results, 1);
}

async fn leases_expire_and_can_be_given_back(s: Arc<dyn Store>) {
    let d = instruction("c");
    s.add_votes(&[vote(&d, 1, 11, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    assert_eq!(s.lease("a", &TEE, 4, 1_000, 500).await.unwrap().len(), 1);
    assert_eq!(s.lease("b", &TEE, 4, 1_499, 500).await.unwrap().len(), 0, "still leased to a");
    assert_eq!(s.lease("b", &TEE, 4, 1_500, 500).await.unwrap().len(), 1, "a's lease expired");
    // Only the holder can give a lease back.
    s.release("a", &[d.instruction_id]).await.unwrap();
    assert_eq!(s.lease("c", &TEE, 4, 1_600, 500).await.unwrap().len(), 0);
    s.release("b", &[d.instruction_id]).await.unwrap();
    assert_eq!(s.lease("c", &TEE, 4, 1_600, 500).await.unwrap().len(), 1);
    let st = s.status(7, &d.instruction_id).await.unwrap().unwrap();
    assert_eq!(st.deliveries, 3);
}

/// Votes for other data under the same id collect beside the genuine ones and cannot pin the
/// id: the first candidate to pass decides it, the others are closed and refused from then on.
async fn other_data_under_an_id_cannot_pin_it(s: Arc<dyn Store>) {
    let d = instruction("d");
    let squat = InstructionData { original_message: b"squatter's data".to_vec(), ..d.clone() };
    // The squatter votes first, with a little weight.
    let first = s.add_votes(&[vote(&squat, 9, 1, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    assert_eq!((first.sequence, first.queued_now), (0, false));
    // The genuine voters' votes collect in their own chain and pass.
    let out = s.add_votes(&[vote(&d, 1, 6, 10), vote(&d, 2, 5, 10)], ROOMY).await.unwrap();
    let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!((out[0].sequence, out[1].sequence), (0, 1), "a chain of its own");
    assert!(out[1].queued_now);
    let st = s.status(7, &d.instruction_id).await.unwrap().unwrap();
    assert_eq!((st.state, st.weight, st.candidates), ("queued", 11, 2));
    let leased = s.lease("o", &TEE, 4, 0, 1000).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].instruction, d, "the genuine data were queued");
    // The id is decided: other data are refused, the genuine data still take votes.
    assert_eq!(s.add_votes(&[vote(&squat, 3, 6, 10)], ROOMY).await.unwrap()[0], Err(VoteRejection::Conflict));
    let late = s.add_votes(&[vote(&d, 3, 6, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    assert_eq!((late.sequence, late.queued_now), (2, false));
    // The squatter's candidate is closed: it holds no slot.
    assert_eq!(s.counts().await.unwrap().open, 1);
    // Answered: done, and other data are still refused.
    s.store_results(&[result(d.instruction_id, 1)], 5).await.unwrap();
    assert_eq!(s.status(7, &d.instruction_id).await.unwrap().unwrap().state, "done");
    assert_eq!(s.counts().await.unwrap().open, 0);
    let other = InstructionData { original_message: b"third".to_vec(), ..d.clone() };
    assert_eq!(s.add_votes(&[vote(&other, 4, 20, 10)], ROOMY).await.unwrap()[0], Err(VoteRejection::Conflict));
    // A late vote for the decided data is still recorded.
    assert!(s.add_votes(&[vote(&d, 4, 1, 10)], ROOMY).await.unwrap()[0].is_ok());
}

/// Anyone can list themselves as a cosigner: a vote without voter weight joins an instruction
/// a voter opened, or one announced on chain whose data it matches, and opens nothing else.
async fn a_cosigner_cannot_open_an_instruction(s: Arc<dyn Store>) {
    let d = InstructionData { cosigners: vec![[0xc1; 20]], cosigners_threshold: 1, ..instruction("cosigned") };
    let cosigner = || NewVote { weight: 0, cosigner: true, ..vote(&d, 0xc1, 0, 10) };
    assert_eq!(s.add_votes(&[cosigner()], ROOMY).await.unwrap()[0], Err(VoteRejection::NoVoterYet));
    assert!(s.status(7, &d.instruction_id).await.unwrap().is_none(), "nothing was opened");
    assert_eq!(s.counts().await.unwrap().open, 0);
    // After a voter, the cosigner's vote counts.
    s.add_votes(&[vote(&d, 1, 11, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    let joined = s.add_votes(&[cosigner()], ROOMY).await.unwrap().remove(0).unwrap();
    assert!(joined.queued_now, "weight and the cosigner threshold are met");
    assert_eq!(s.status(7, &d.instruction_id).await.unwrap().unwrap().cosigners, 1);
    // Announced on chain: a listed cosigner may open it, but not for other data under its id.
    let e = InstructionData { cosigners: vec![[0xc1; 20]], cosigners_threshold: 1, ..instruction("announced") };
    announce(s.as_ref(), &e, 1).await;
    let other = InstructionData { original_message: b"other".to_vec(), ..e.clone() };
    let first = |d: &InstructionData| NewVote { weight: 0, cosigner: true, ..vote(d, 0xc1, 0, 10) };
    let refused = s.add_votes(&[first(&other), vote(&other, 1, 11, 10)], ROOMY).await.unwrap();
    assert_eq!(refused, vec![Err(VoteRejection::NotAsAnnounced { field: "originalMessage" }); 2]);
    assert_eq!(s.add_votes(&[first(&e)], ROOMY).await.unwrap()[0].as_ref().map(|o| o.sequence), Ok(0));
}

/// An action addressed to a TEE is leased only to a link of that TEE; one addressed to none (a
/// policy action) to any.
async fn actions_go_only_to_their_tee(s: Arc<dyn Store>) {
    let d = instruction("addressed");
    s.add_votes(&[vote(&d, 1, 11, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    let info = fcc_sim_providers::tee_info("for any TEE");
    assert_eq!(info.instruction.tee_id, [0; 20]);
    s.enqueue_direct(&info, 0).await.unwrap();
    let other = s.lease("other", &[0x11; 20], 4, 0, 1000).await.unwrap();
    assert_eq!(other, vec![info], "only the unaddressed action");
    let mine = s.lease("mine", &TEE, 4, 0, 1000).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].instruction, d);
}

/// Collecting candidates close when their epoch is too old or they are open too long; queued
/// ones are the guest's and stay; a closed candidate takes no more votes.
async fn open_instructions_expire_by_epoch_and_age(s: Arc<dyn Store>) {
    let at = |name: &str, epoch: u32| InstructionData { reward_epoch_id: epoch, ..instruction(name) };
    let (old, old_queued, fresh) = (at("old", 5), at("old queued", 5), at("fresh", 7));
    s.add_votes(&[vote(&old, 1, 1, 10), vote(&old_queued, 1, 11, 10), vote(&fresh, 1, 1, 10)], ROOMY).await.unwrap();
    assert_eq!(s.counts().await.unwrap().open, 3);
    // Epoch 5 is before the previous of latest 7: closed, unless queued.
    assert_eq!(s.expire(6, 0).await.unwrap(), 1);
    assert_eq!(s.status(5, &old.instruction_id).await.unwrap().unwrap().state, "expired");
    assert_eq!(s.status(5, &old_queued.instruction_id).await.unwrap().unwrap().state, "queued");
    assert_eq!(s.add_votes(&[vote(&old, 2, 20, 10)], ROOMY).await.unwrap()[0], Err(VoteRejection::Expired));
    // By age: `vote` opens at 1_760_000_000_000 + signer ms.
    assert_eq!(s.expire(0, 1_760_000_000_001).await.unwrap(), 0, "opened at ..._001: not before it");
    assert_eq!(s.expire(0, 1_760_000_000_002).await.unwrap(), 1);
    assert_eq!(s.status(7, &fresh.instruction_id).await.unwrap().unwrap().state, "expired");
    assert_eq!(s.counts().await.unwrap().open, 1, "the queued one");
    // The latest policy epoch known.
    assert_eq!(s.latest_epoch().await.unwrap(), None);
    let ps = fcc_sim_providers::providers("latest", 2).unwrap();
    for e in [9, 12, 10] {
        s.put_policy(e, &fcc_sim_providers::policy(&ps, e).unwrap().encode()).await.unwrap();
    }
    assert_eq!(s.latest_epoch().await.unwrap(), Some(12));
}

/// The open bounds: in all, and per signer that opened (voting on open instructions is free).
async fn the_open_bounds_hold_in_all_and_per_signer(s: Arc<dyn Store>) {
    let per_signer = OpenLimits { max_open: 100, max_open_per_signer: 2 };
    for name in ["p1", "p2"] {
        s.add_votes(&[vote(&instruction(name), 1, 1, 10)], per_signer).await.unwrap().remove(0).unwrap();
    }
    let third = s.add_votes(&[vote(&instruction("p3"), 1, 1, 10)], per_signer).await.unwrap();
    assert_eq!(third[0], Err(VoteRejection::SignerFull { max: 2 }));
    // Another signer opens it; signer 1 may still vote on it.
    let out = s
        .add_votes(&[vote(&instruction("p3"), 2, 1, 10), vote(&instruction("p3"), 1, 1, 10)], per_signer)
        .await
        .unwrap();
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    // When one of signer 1's instructions is answered, it may open another.
    s.add_votes(&[vote(&instruction("p1"), 3, 20, 10)], per_signer).await.unwrap().remove(0).unwrap();
    s.store_results(&[result(instruction("p1").instruction_id, 1)], 1).await.unwrap();
    assert!(s.add_votes(&[vote(&instruction("p4"), 1, 1, 10)], per_signer).await.unwrap()[0].is_ok());

    // In all: three open, bound 3: a new one is refused, votes on the open ones still count.
    let all = OpenLimits { max_open: 3, max_open_per_signer: 100 };
    assert_eq!(s.counts().await.unwrap().open, 3);
    let out = s.add_votes(&[vote(&instruction("e"), 5, 1, 10), vote(&instruction("p2"), 5, 1, 10)], all).await.unwrap();
    assert_eq!(out[0], Err(VoteRejection::QueueFull { max: 3 }));
    assert_eq!(out[1].as_ref().unwrap().sequence, 1);
    assert_eq!(s.counts().await.unwrap().open, 3);
}

async fn direct_actions_policies_tee_and_cursors_round_trip(s: Arc<dyn Store>) {
    let init = fcc_sim_providers::tee_info("info 1");
    assert!(s.enqueue_direct(&init, 0).await.unwrap());
    assert!(!s.enqueue_direct(&init, 0).await.unwrap(), "same id twice");
    assert_eq!(s.lease("o", &TEE, 4, 0, 1000).await.unwrap(), vec![init.clone()]);
    let ps = fcc_sim_providers::providers("store", 3).unwrap();
    let policy = fcc_sim_providers::policy(&ps, 9).unwrap();
    s.put_policy(9, &policy.encode()).await.unwrap();
    assert_eq!(s.policy(9).await.unwrap(), Some(policy.encode()));
    assert_eq!(s.policy(10).await.unwrap(), None);
    let tee = fcc_proxy_testing::new_tee(14).unwrap();
    let hello = tee.hello(&mut fcc_core::attester::Simulated, &[0; 32]).unwrap();
    assert_eq!(s.tee().await.unwrap(), None);
    assert!(!s.known_tee(&hello.tee_id).await.unwrap());
    s.put_tee(&hello, 1).await.unwrap();
    s.put_tee(&hello, 2).await.unwrap();
    assert_eq!(s.tee().await.unwrap(), Some(hello.clone()));
    assert!(s.known_tee(&hello.tee_id).await.unwrap());
    assert!(!s.known_tee(&[9; 20]).await.unwrap());
    assert_eq!(s.cursor("relay").await.unwrap(), None);
    s.set_cursor("relay", 5, &[5; 32]).await.unwrap();
    s.set_cursor("relay", 6, &[6; 32]).await.unwrap();
    assert_eq!(s.cursor("relay").await.unwrap(), Some((6, Some([6; 32]))));
    s.ping().await.unwrap();
}

/// A forgotten direct action leaves nothing behind: not its row, not its result, and a late
/// answer to it is not stored (a result for an id never queued neither).
async fn forgotten_actions_leave_nothing(s: Arc<dyn Store>) {
    let info = fcc_sim_providers::tee_info("info 2");
    let id = info.instruction.instruction_id;
    assert!(s.enqueue_direct(&info, 0).await.unwrap());
    assert_eq!(s.lease("o", &TEE, 4, 0, 1000).await.unwrap().len(), 1);
    assert_eq!(s.store_results(&[result(id, 1)], 5).await.unwrap(), vec![true]);
    s.forget(&id).await.unwrap();
    assert_eq!((s.result(&id).await.unwrap(), s.action(&id).await.unwrap()), (None, None));
    assert_eq!(s.store_results(&[result(id, 2)], 6).await.unwrap(), vec![false], "a late answer");
    assert_eq!(s.result(&id).await.unwrap(), None);
    // Forgotten before its answer (the HTTP caller gave up): not leased, and the answer dropped.
    let info = fcc_sim_providers::tee_info("info 3");
    let id = info.instruction.instruction_id;
    assert!(s.enqueue_direct(&info, 0).await.unwrap());
    s.forget(&id).await.unwrap();
    assert_eq!(s.lease("o", &TEE, 4, 0, 1000).await.unwrap(), vec![]);
    assert_eq!(s.store_results(&[result(id, 1)], 7).await.unwrap(), vec![false]);
    assert_eq!(s.store_results(&[result([0x42; 32], 1)], 7).await.unwrap(), vec![false], "never queued");
    assert_eq!(s.counts().await.unwrap().results, 0);
    s.forget(&[0x43; 32]).await.unwrap();
}

/// A chain range's policies, actions and instructions land with the cursor and its checkpoint in
/// one transaction; reading the range again (a rewind, a restart before the next range) changes
/// nothing; other bytes for a known epoch's policy apply nothing of their range; a rewind
/// forgets what was announced above the ancestor.
async fn chain_ranges_commit_once_with_their_cursor(s: Arc<dyn Store>) {
    let ps = fcc_sim_providers::providers("chain store", 3).unwrap();
    let p9 = fcc_sim_providers::policy(&ps, 9).unwrap().encode();
    let update = fcc_sim_providers::tee_info("update policy 9");
    let announced = Announced {
        tee_ids: vec![[0xee; 20]],
        op_type: fcc_core::op::F_FDC2,
        op_command: fcc_core::op::PROVE,
        message: b"message".to_vec(),
        cosigners: vec![],
        cosigners_threshold: 0,
    };
    let seen = ChainInstruction { id: [0x51; 32], epoch: 9, block: 40, tx: [0x77; 32], announced: Some(announced) };
    let batch = ChainBatch {
        policies: vec![(9, p9.clone())],
        actions: vec![update.clone()],
        instructions: vec![seen.clone()],
        now_ms: 0,
    };
    let applied = s.commit_chain("chain", &batch, 41, &[0x41; 32], 0).await.unwrap().unwrap();
    assert_eq!(applied, ChainApplied { policies_new: 1, actions_queued: 1, instructions_new: 1 });
    assert_eq!(s.cursor("chain").await.unwrap(), Some((41, Some([0x41; 32]))));
    assert_eq!(s.policy(9).await.unwrap(), Some(p9.clone()));
    assert_eq!(s.chain_instruction(&seen.id).await.unwrap(), Some(seen.clone()));
    assert_eq!(s.chain_instruction(&[0x52; 32]).await.unwrap(), None);
    // The same range again: nothing new, the action is queued once.
    let again = s.commit_chain("chain", &batch, 41, &[0x41; 32], 0).await.unwrap().unwrap();
    assert_eq!(again, ChainApplied::default());
    assert_eq!(s.counts().await.unwrap().pending_actions, 1);
    assert_eq!(s.chain_instruction_count().await.unwrap(), 1);

    // Another policy for epoch 9 (and an instruction beside it): refused whole, the cursor stays.
    let other = fcc_sim_providers::policy(&fcc_sim_providers::providers("chain store fork", 2).unwrap(), 9).unwrap();
    let moved = ChainInstruction { block: 42, tx: [0x78; 32], ..seen.clone() };
    let later = ChainInstruction { id: [0x53; 32], block: 42, ..seen.clone() };
    let fork = ChainBatch {
        policies: vec![(9, other.encode())],
        actions: vec![],
        instructions: vec![moved.clone(), later.clone()],
        now_ms: 0,
    };
    let conflict = s.commit_chain("chain", &fork, 43, &[0x43; 32], 0).await.unwrap().unwrap_err();
    assert_eq!((conflict.epoch, &conflict.stored, &conflict.offered), (9, &p9, &other.encode()));
    assert_eq!(s.policy(9).await.unwrap(), Some(p9.clone()));
    assert_eq!(s.chain_instruction(&seen.id).await.unwrap(), Some(seen.clone()));
    assert_eq!(s.chain_instruction(&later.id).await.unwrap(), None);
    assert_eq!(s.cursor("chain").await.unwrap(), Some((41, Some([0x41; 32]))));
    // Without the conflicting policy the range applies; the instruction keeps its latest place.
    let fork = ChainBatch { policies: vec![(9, p9.clone())], ..fork };
    let applied = s.commit_chain("chain", &fork, 43, &[0x43; 32], 0).await.unwrap().unwrap();
    assert_eq!((applied.policies_new, applied.instructions_new), (0, 1));
    assert_eq!(s.chain_instruction(&seen.id).await.unwrap(), Some(moved.clone()));

    // Checkpoints: one per range, newest first; those below forget_below go but the newest.
    for block in [50u64, 60, 70] {
        s.commit_chain("chain", &ChainBatch::default(), block, &[block as u8; 32], block.saturating_sub(15))
            .await
            .unwrap()
            .unwrap();
    }
    let kept: Vec<u64> = s.checkpoints("chain").await.unwrap().iter().map(|c| c.0).collect();
    assert_eq!(kept, [70, 60, 50], "43 and 41 are below 55; 50 is the newest below it");
    assert_eq!(s.checkpoints("chain").await.unwrap()[1], (60, [60; 32]));
    // A rewind to 41 forgets what was announced above it and the checkpoints above it.
    s.rewind_chain("chain", Some((41, [0x41; 32]))).await.unwrap();
    assert_eq!(s.cursor("chain").await.unwrap(), Some((41, Some([0x41; 32]))));
    assert!(s.checkpoints("chain").await.unwrap().is_empty(), "41 was dropped at 70's commit");
    assert_eq!(s.chain_instruction(&seen.id).await.unwrap(), None, "it was last seen in block 42");
    assert_eq!(s.chain_instruction(&later.id).await.unwrap(), None);
    assert_eq!(s.policy(9).await.unwrap(), Some(p9.clone()), "policies stay");
    // Committing below a kept checkpoint drops those at and above it (they were rewound).
    s.commit_chain("chain", &ChainBatch::default(), 45, &[0x45; 32], 0).await.unwrap().unwrap();
    s.commit_chain("chain", &ChainBatch::default(), 44, &[0x44; 32], 0).await.unwrap().unwrap();
    assert_eq!(s.checkpoints("chain").await.unwrap(), vec![(44, [0x44; 32])]);
    // A rewind to nothing: no cursor, no checkpoint.
    s.rewind_chain("chain", None).await.unwrap();
    assert_eq!((s.cursor("chain").await.unwrap(), s.checkpoints("chain").await.unwrap()), (None, vec![]));
    // Cursors are per name.
    assert_eq!(s.cursor("other").await.unwrap(), None);
}

/// The status page's list: newest first, bounded, with each action's times and its result.
async fn recent_actions_come_newest_first_with_their_times(s: Arc<dyn Store>) {
    assert_eq!(s.recent_actions(10).await.unwrap(), vec![]);
    let d = instruction("recent");
    // Two votes: the first opens the candidate (its time is the first vote's), the second queues.
    s.add_votes(&[vote(&d, 1, 6, 10)], ROOMY).await.unwrap();
    s.add_votes(&[vote(&d, 2, 6, 10)], ROOMY).await.unwrap();
    let info = fcc_sim_providers::tee_info("recent info");
    assert!(s.enqueue_direct(&info, 1_770_000_000_000).await.unwrap());
    s.lease("o", &TEE, 4, 0, 1000).await.unwrap();
    s.store_results(&[result(d.instruction_id, 1)], 1_770_000_000_500).await.unwrap();
    let recent = s.recent_actions(10).await.unwrap();
    assert_eq!(recent.len(), 2);
    let (direct, voted) = (&recent[0], &recent[1]);
    assert_eq!(direct.id, info.instruction.instruction_id, "newest first");
    assert_eq!((direct.kind, direct.done, direct.status, direct.deliveries), (ActionKind::Direct, false, None, 1));
    assert_eq!((direct.opened_ms, direct.queued_ms, direct.result_ms), (None, Some(1_770_000_000_000), None));
    assert_eq!(direct.op_type, info.instruction.op_type);
    assert_eq!((voted.kind, voted.done, voted.status), (ActionKind::Instruction, true, Some(status::SUCCESS)));
    assert_eq!((voted.op_type, voted.op_command), (fcc_core::op::F_FDC2, fcc_core::op::PROVE));
    let first = vote(&d, 1, 6, 10).now_ms;
    assert_eq!(voted.opened_ms, Some(first), "the first vote opened it");
    assert_eq!(voted.queued_ms, Some(vote(&d, 2, 6, 10).now_ms), "the second vote queued it");
    assert_eq!(voted.result_ms, Some(1_770_000_000_500));
    assert_eq!(s.recent_actions(1).await.unwrap(), vec![direct.clone()], "bounded by the caller");
    // And by the store, whatever the caller asks.
    for i in 0..=fcc_proxy::store::MAX_RECENT_ACTIONS {
        s.enqueue_direct(&fcc_sim_providers::tee_info(&format!("many {i}")), 0).await.unwrap();
    }
    assert_eq!(s.recent_actions(usize::MAX).await.unwrap().len(), fcc_proxy::store::MAX_RECENT_ACTIONS);
}

/// A small seeded generator: the batches below are random but the same every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// A batch decides exactly as its votes would one at a time in the order the store applies them
/// (by id and `hashFixed`, arrival order within): the same outcomes, the same queued actions, the
/// same progress of every candidate. Random batches mix candidates of one id, repeated signers
/// (with another variable message), cosigners, announcements on chain (matching one candidate
/// of an id), votes past the threshold and open bounds that bite; the reference store takes the
/// same votes one per call.
async fn a_batch_decides_as_its_votes_one_at_a_time(batched: Arc<dyn Store>, single: Arc<dyn Store>) {
    let mut rng = Lcg(0x5eed);
    let mut block = 0;
    for round in 0..60u8 {
        let mut candidates = Vec::new();
        for i in 0..1 + rng.below(3) {
            let d = instruction(&format!("round {round} id {i}"));
            if rng.below(2) == 0 {
                candidates.push(InstructionData { original_message: b"other data".to_vec(), ..d.clone() });
            }
            candidates.push(d);
        }
        // Some ids announced on chain, for one of their candidates: a cosigner may open that one,
        // the other is refused.
        for d in &candidates {
            if rng.below(4) == 0 {
                block += 1;
                announce(batched.as_ref(), d, block).await;
                announce(single.as_ref(), d, block).await;
            }
        }
        let mut votes = Vec::new();
        for n in 0..1 + rng.below(40) {
            let d = &candidates[rng.below(candidates.len())];
            let weight = rng.below(5) as u32;
            let mut v = vote(d, 1 + rng.below(10) as u8, weight, 10);
            // Signers of this round only: the per-signer bound counts from zero.
            v.signer[0] = round;
            v.cosigner = weight == 0 || rng.below(4) == 0;
            v.additional_variable_message = vec![rng.below(3) as u8];
            v.now_ms += n as i64 * 1000;
            votes.push(v);
        }
        let open = batched.counts().await.unwrap().open;
        assert_eq!(open, single.counts().await.unwrap().open, "round {round}");
        let room = if rng.below(3) == 0 { rng.below(3) } else { 100 };
        let limits = OpenLimits { max_open: open + room as u64, max_open_per_signer: 1 + rng.below(2) as u64 };
        // In one to three batches: later ones meet the candidates earlier ones opened.
        let mut rest = &votes[..];
        while !rest.is_empty() {
            let (batch, tail) = rest.split_at(1 + rng.below(rest.len()));
            rest = tail;
            let together = batched.add_votes(batch, limits).await.unwrap();
            let mut order: Vec<usize> = (0..batch.len()).collect();
            order.sort_by_key(|&i| (batch[i].instruction.instruction_id, batch[i].hash_fixed));
            let mut apart = vec![None; batch.len()];
            for i in order {
                apart[i] = Some(single.add_votes(&batch[i..=i], limits).await.unwrap().remove(0));
            }
            let apart: Vec<_> = apart.into_iter().map(Option::unwrap).collect();
            assert_eq!(together, apart, "round {round}");
        }
        for d in &candidates {
            let id = &d.instruction_id;
            assert_eq!(batched.action(id).await.unwrap(), single.action(id).await.unwrap(), "round {round}");
            assert_eq!(batched.status(7, id).await.unwrap(), single.status(7, id).await.unwrap(), "round {round}");
        }
    }
}

/// A batch of more signers than one lookup holds finds every earlier vote: 150 signers, the
/// first 70 of them voted in an earlier batch; the next batch carries all 150 (repeats first).
async fn a_large_batch_finds_every_earlier_vote(s: Arc<dyn Store>) {
    let d = instruction("large");
    let signer = |i: u8| vote(&d, i, 1, 1000);
    let first: Vec<NewVote> = (1..=70).map(signer).collect();
    let earlier = s.add_votes(&first, ROOMY).await.unwrap();
    let all: Vec<NewVote> = (1..=150).map(signer).collect();
    let out = s.add_votes(&all, ROOMY).await.unwrap();
    for (i, o) in out.iter().enumerate() {
        let o = o.as_ref().unwrap();
        if i < 70 {
            assert!(o.repeated, "signer {}", i + 1);
            assert_eq!(o.sequence, earlier[i].as_ref().unwrap().sequence);
        } else {
            assert!(!o.repeated, "signer {}", i + 1);
            assert_eq!(o.sequence, i as u64);
        }
    }
    assert_eq!(s.status(7, &d.instruction_id).await.unwrap().unwrap().votes, 150);
}

/// A candidate superseded by its id's decision frees its slot for the rest of the same batch, as
/// it would for the next vote alone.
async fn a_slot_freed_in_a_batch_is_free_for_the_rest_of_it(s: Arc<dyn Store>) {
    let (a, b) = (instruction("freed a"), instruction("freed b"));
    // `b` must be applied after `a` (the store goes by id).
    let (a, b) = if a.instruction_id < b.instruction_id { (a, b) } else { (b, a) };
    let squat = InstructionData { original_message: b"squatter".to_vec(), ..a.clone() };
    let two = OpenLimits { max_open: 2, max_open_per_signer: 2 };
    s.add_votes(&[vote(&squat, 9, 1, 10)], two).await.unwrap().remove(0).unwrap();
    let out = s.add_votes(&[vote(&a, 1, 11, 10), vote(&b, 2, 1, 10)], two).await.unwrap();
    assert!(out[0].as_ref().unwrap().queued_now, "a decides its id and supersedes the squatter");
    assert_eq!(out[1].as_ref().map(|o| o.sequence), Ok(0), "the squatter's slot is free for b");
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        async fn run_suite(open: impl AsyncFn() -> Arc<dyn Store>) {
            $(
                eprintln!("suite: {}", stringify!($name));
                $name(open().await).await;
            )*
            eprintln!("suite: a_batch_decides_as_its_votes_one_at_a_time");
            a_batch_decides_as_its_votes_one_at_a_time(open().await, open().await).await;
        }
    };
}

suite!(
    votes_queue_one_action_when_the_weight_first_exceeds_the_threshold,
    the_first_result_for_an_id_is_the_only_one,
    leases_expire_and_can_be_given_back,
    other_data_under_an_id_cannot_pin_it,
    a_cosigner_cannot_open_an_instruction,
    the_open_bounds_hold_in_all_and_per_signer,
    open_instructions_expire_by_epoch_and_age,
    actions_go_only_to_their_tee,
    direct_actions_policies_tee_and_cursors_round_trip,
    forgotten_actions_leave_nothing,
    chain_ranges_commit_once_with_their_cursor,
    recent_actions_come_newest_first_with_their_times,
    a_slot_freed_in_a_batch_is_free_for_the_rest_of_it,
    a_large_batch_finds_every_earlier_vote,
);

#[tokio::test]
async fn sqlite_passes_the_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicU32::new(0);
    run_suite(async || {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = format!("sqlite://{}/s{i}.db", dir.path().display());
        Arc::new(SqliteStore::open(&url).await.unwrap()) as Arc<dyn Store>
    })
    .await;
}

#[tokio::test]
async fn postgres_passes_the_store_suite() {
    let Some(pg) = fcc_proxy_testing::pg::Postgres::start("postgres_passes_the_store_suite") else { return };
    run_suite(async || Arc::new(PgStore::open(&pg.database().await).await.unwrap()) as Arc<dyn Store>).await;
}

/// A database made before cursors had a hash column opens, keeps its cursor (without a hash, so
/// the chain follower reads from its first block again) and stores hashes from then on.
async fn old_cursor_table_is_migrated(s: impl AsyncFn() -> Arc<dyn Store>) {
    let store = s().await;
    assert_eq!(store.cursor("relay").await.unwrap(), Some((12, None)));
    store.set_cursor("relay", 13, &[13; 32]).await.unwrap();
    assert_eq!(store.cursor("relay").await.unwrap(), Some((13, Some([13; 32]))));
}

#[tokio::test]
async fn sqlite_migrates_an_old_cursor_table() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.db", dir.path().display());
    let options =
        <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url).unwrap().create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql("CREATE TABLE cursors (name TEXT PRIMARY KEY, block INTEGER NOT NULL); INSERT INTO cursors VALUES ('relay', 12);")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    old_cursor_table_is_migrated(async || Arc::new(SqliteStore::open(&url).await.unwrap()) as Arc<dyn Store>).await;
}

#[tokio::test]
async fn postgres_migrates_an_old_cursor_table() {
    use sqlx::Connection;
    let Some(pg) = fcc_proxy_testing::pg::Postgres::start("postgres_migrates_an_old_cursor_table") else { return };
    let url = pg.database().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE cursors (name TEXT PRIMARY KEY, block BIGINT NOT NULL); INSERT INTO cursors VALUES ('relay', 12);")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    old_cursor_table_is_migrated(async || Arc::new(PgStore::open(&url).await.unwrap()) as Arc<dyn Store>).await;
}

/// Schema 1: one instruction row per id, votes keyed by (id, signer).
const V1_TABLES: &str = "
CREATE TABLE instructions (id BYTEA PRIMARY KEY, epoch BIGINT NOT NULL, hash_fixed BYTEA NOT NULL,
    data BYTEA NOT NULL, threshold BIGINT NOT NULL, weight BIGINT NOT NULL, cosigners BIGINT NOT NULL,
    votes BIGINT NOT NULL, last_vote_hash BYTEA NOT NULL, state BIGINT NOT NULL, created_ms BIGINT NOT NULL);
CREATE INDEX instructions_state ON instructions (state);
CREATE TABLE votes (instruction_id BYTEA NOT NULL, signer BYTEA NOT NULL, seq BIGINT NOT NULL,
    signature BYTEA NOT NULL, avm BYTEA NOT NULL, signer_index BIGINT NOT NULL, r_y BYTEA, vote_hash BYTEA NOT NULL,
    ts BIGINT NOT NULL, PRIMARY KEY (instruction_id, signer));
";

/// Writes a schema-1 database through `conn`: instruction "old" collecting with signer 1's
/// vote (weight 6 of threshold 10) and instruction "decided" queued.
async fn write_v1<DB: sqlx::Database>(conn: &mut DB::Connection)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::raw_sql(V1_TABLES).execute(&mut *conn).await.unwrap();
    for (name, state) in [("old", 0i64), ("decided", 1)] {
        let d = instruction(name);
        let v = vote(&d, 1, 6, 10);
        sqlx::query("INSERT INTO instructions VALUES ($1, 7, $2, $3, 10, 6, 0, 1, $4, $5, 1)")
            .bind(d.instruction_id.to_vec())
            .bind(d.hash_fixed().to_vec())
            .bind(postcard::to_stdvec(&d).unwrap())
            .bind(vec![0x5au8; 32])
            .bind(state)
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO votes VALUES ($1, $2, 1, $3, $4, 1, $5, $6, 1000)")
            .bind(d.instruction_id.to_vec())
            .bind(v.signer.to_vec())
            .bind(v.signature.to_vec())
            .bind(v.additional_variable_message.clone())
            .bind(vec![1u8; 32])
            .bind(vec![0x5au8; 32])
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// After the migration the collecting instruction goes on collecting — its vote chain continues
/// from the stored hash and the action carries the old vote — and the queued one stays decided.
async fn schema_1_instructions_are_migrated(s: Arc<dyn Store>) {
    let old = instruction("old");
    let st = s.status(7, &old.instruction_id).await.unwrap().unwrap();
    assert_eq!((st.state, st.votes, st.weight, st.candidates), ("collecting", 1, 6, 1));
    let next = s.add_votes(&[vote(&old, 2, 5, 10)], ROOMY).await.unwrap().remove(0).unwrap();
    // One vote stored: the next is sequence 1 (0-based).
    assert_eq!((next.sequence, next.queued_now), (1, true));
    let avm_hash = keccak256(&[2]);
    let want = fcc_flare_json::receipt::next_vote_hash(&[0x5a; 32], 1, &[2; 65], &avm_hash, next.timestamp);
    assert_eq!(next.vote_hash, want, "the chain continues from the stored hash");
    let leased = s.lease("o", &TEE, 4, 0, 1000).await.unwrap();
    let signers: Vec<u8> = leased[0].votes.iter().map(|v| v.signature[0]).collect();
    assert_eq!(signers, vec![1, 2]);
    let decided = instruction("decided");
    let other = InstructionData { original_message: b"other".to_vec(), ..decided.clone() };
    assert_eq!(s.add_votes(&[vote(&other, 3, 20, 10)], ROOMY).await.unwrap()[0], Err(VoteRejection::Conflict));
    assert_eq!(s.status(7, &decided.instruction_id).await.unwrap().unwrap().state, "queued");
}

#[tokio::test]
async fn sqlite_migrates_schema_1_instructions() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/v1.db", dir.path().display());
    let options =
        <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url).unwrap().create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    write_v1::<sqlx::Sqlite>(&mut conn).await;
    conn.close().await.unwrap();
    schema_1_instructions_are_migrated(Arc::new(SqliteStore::open(&url).await.unwrap())).await;
    // Opening again changes nothing.
    let again = SqliteStore::open(&url).await.unwrap();
    assert_eq!(again.status(7, &instruction("old").instruction_id).await.unwrap().unwrap().votes, 2);
}

#[tokio::test]
async fn postgres_migrates_schema_1_instructions() {
    use sqlx::Connection;
    let Some(pg) = fcc_proxy_testing::pg::Postgres::start("postgres_migrates_schema_1_instructions") else { return };
    let url = pg.database().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    write_v1::<sqlx::Postgres>(&mut conn).await;
    conn.close().await.unwrap();
    schema_1_instructions_are_migrated(Arc::new(PgStore::open(&url).await.unwrap())).await;
    let again = PgStore::open(&url).await.unwrap();
    assert_eq!(again.status(7, &instruction("old").instruction_id).await.unwrap().unwrap().votes, 2);
}
