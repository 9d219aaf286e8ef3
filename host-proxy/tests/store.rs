//! One test-suite for every storage backend: the same functions run against SQLite (always) and
//! PostgreSQL (a throwaway server; SKIPPED where the binaries are absent).

mod common;

use fcc_core::admission::Requirement;
use std::sync::Arc;

use fcc_core::action::ActionKind;
use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::result::{ActionResult, SignedResult, SubmissionTag, status};
use fcc_core::verify::SignerHint;
use fcc_proxy::store::{
    ChainApplied, ChainBatch, ChainInstruction, NewVote, PgStore, SqliteStore, Store, VoteRejection,
};

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
    let out = s.add_votes(&[vote(&d, 1, 6, 10), vote(&d, 2, 4, 10)], 100).await.unwrap();
    let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!((out[0].sequence, out[1].sequence), (1, 2));
    assert!(!out[0].queued_now && !out[1].queued_now);
    assert_eq!(s.lease("o", 4, 0, 1000).await.unwrap(), vec![]);
    let third = s.add_votes(&[vote(&d, 3, 1, 10)], 100).await.unwrap().remove(0).unwrap();
    assert!(third.queued_now && third.weight == 11 && third.sequence == 3);
    // Later votes are recorded but queue nothing more.
    let fourth = s.add_votes(&[vote(&d, 4, 5, 10)], 100).await.unwrap().remove(0).unwrap();
    assert!(!fourth.queued_now && fourth.sequence == 4);
    // A repeated vote reports its first acceptance and changes nothing.
    let again = s.add_votes(&[vote(&d, 2, 4, 10)], 100).await.unwrap().remove(0).unwrap();
    assert!(again.repeated && again.sequence == 2 && again.vote_hash == out[1].vote_hash && again.weight == 16);

    let st = s.status(7, &d.instruction_id).await.unwrap().unwrap();
    assert_eq!((st.state, st.votes, st.weight, st.threshold), ("queued", 4, 16, 10));
    assert!(s.status(8, &d.instruction_id).await.unwrap().is_none(), "another epoch");

    let leased = s.lease("o", 4, 0, 1000).await.unwrap();
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
    s.add_votes(&[vote(&d, 1, 11, 10)], 100).await.unwrap().remove(0).unwrap();
    assert_eq!(s.lease("o", 4, 0, 1000).await.unwrap().len(), 1);
    assert_eq!(s.store_results(&[result(d.instruction_id, 1)], 5).await.unwrap(), vec![true]);
    // A second result (a rebooted guest with a new key, a re-delivery) is dropped.
    assert_eq!(s.store_results(&[result(d.instruction_id, 2)], 6).await.unwrap(), vec![false]);
    assert_eq!(s.result(&d.instruction_id).await.unwrap(), Some(result(d.instruction_id, 1)));
    assert_eq!(s.result_stored_at(&d.instruction_id).await.unwrap(), Some(5));
    assert_eq!(s.status(7, &d.instruction_id).await.unwrap().unwrap().state, "done");
    // Answered actions are never leased again, even after the lease time.
    assert_eq!(s.lease("o", 4, 10_000, 1000).await.unwrap(), vec![]);
    assert_eq!(s.counts().await.unwrap().results, 1);
}

async fn leases_expire_and_can_be_given_back(s: Arc<dyn Store>) {
    let d = instruction("c");
    s.add_votes(&[vote(&d, 1, 11, 10)], 100).await.unwrap().remove(0).unwrap();
    assert_eq!(s.lease("a", 4, 1_000, 500).await.unwrap().len(), 1);
    assert_eq!(s.lease("b", 4, 1_499, 500).await.unwrap().len(), 0, "still leased to a");
    assert_eq!(s.lease("b", 4, 1_500, 500).await.unwrap().len(), 1, "a's lease expired");
    // Only the holder can give a lease back.
    s.release("a", &[d.instruction_id]).await.unwrap();
    assert_eq!(s.lease("c", 4, 1_600, 500).await.unwrap().len(), 0);
    s.release("b", &[d.instruction_id]).await.unwrap();
    assert_eq!(s.lease("c", 4, 1_600, 500).await.unwrap().len(), 1);
    let st = s.status(7, &d.instruction_id).await.unwrap().unwrap();
    assert_eq!(st.deliveries, 3);
}

async fn conflicting_data_and_the_open_bound_are_refused(s: Arc<dyn Store>) {
    let d = instruction("d");
    s.add_votes(&[vote(&d, 1, 1, 10)], 100).await.unwrap().remove(0).unwrap();
    let other = InstructionData { original_message: b"different".to_vec(), ..d.clone() };
    let out = s.add_votes(&[vote(&other, 2, 1, 10)], 100).await.unwrap();
    assert_eq!(out[0], Err(VoteRejection::Conflict));
    // One instruction open, bound 1: a new one is refused, votes on the open one still count.
    let out = s.add_votes(&[vote(&instruction("e"), 1, 1, 10), vote(&d, 3, 1, 10)], 1).await.unwrap();
    assert_eq!(out[0], Err(VoteRejection::QueueFull { max: 1 }));
    assert_eq!(out[1].as_ref().unwrap().sequence, 2);
    assert_eq!(s.counts().await.unwrap().open, 1);
}

async fn direct_actions_policies_tee_and_cursors_round_trip(s: Arc<dyn Store>) {
    let init = fcc_sim_providers::tee_info("info 1");
    assert!(s.enqueue_direct(&init, 0).await.unwrap());
    assert!(!s.enqueue_direct(&init, 0).await.unwrap(), "same id twice");
    assert_eq!(s.lease("o", 4, 0, 1000).await.unwrap(), vec![init.clone()]);
    let ps = fcc_sim_providers::providers("store", 3).unwrap();
    let policy = fcc_sim_providers::policy(&ps, 9).unwrap();
    s.put_policy(9, &policy.encode()).await.unwrap();
    assert_eq!(s.policy(9).await.unwrap(), Some(policy.encode()));
    assert_eq!(s.policy(10).await.unwrap(), None);
    let tee = fcc_proxy_testing::new_tee(14).unwrap();
    let hello = tee.hello(&mut fcc_core::attester::Simulated).unwrap();
    assert_eq!(s.tee().await.unwrap(), None);
    s.put_tee(&hello).await.unwrap();
    s.put_tee(&hello).await.unwrap();
    assert_eq!(s.tee().await.unwrap(), Some(hello));
    assert_eq!(s.cursor("relay").await.unwrap(), None);
    s.set_cursor("relay", 5, &[5; 32]).await.unwrap();
    s.set_cursor("relay", 6, &[6; 32]).await.unwrap();
    assert_eq!(s.cursor("relay").await.unwrap(), Some((6, Some([6; 32]))));
    s.ping().await.unwrap();
}

/// A chain range's policies, actions and instructions land with the cursor in one transaction;
/// reading the range again (a rewind, a restart before the next range) changes nothing, and a
/// reorg's other policy for a known epoch replaces it.
async fn chain_ranges_commit_once_with_their_cursor(s: Arc<dyn Store>) {
    let ps = fcc_sim_providers::providers("chain store", 3).unwrap();
    let p9 = fcc_sim_providers::policy(&ps, 9).unwrap().encode();
    let update = fcc_sim_providers::tee_info("update policy 9");
    let seen = ChainInstruction { id: [0x51; 32], epoch: 9, block: 40, tx: [0x77; 32] };
    let batch = ChainBatch { policies: vec![(9, p9.clone())], actions: vec![update.clone()], instructions: vec![seen] };
    let applied = s.commit_chain("chain", &batch, 41, &[0x41; 32]).await.unwrap();
    assert_eq!(
        applied,
        ChainApplied { policies_new: 1, policies_replaced: vec![], actions_queued: 1, instructions_new: 1 }
    );
    assert_eq!(s.cursor("chain").await.unwrap(), Some((41, Some([0x41; 32]))));
    assert_eq!(s.policy(9).await.unwrap(), Some(p9.clone()));
    assert_eq!(s.chain_instruction(&seen.id).await.unwrap(), Some(seen));
    assert_eq!(s.chain_instruction(&[0x52; 32]).await.unwrap(), None);
    // The same range again: nothing new, the action is queued once.
    let again = s.commit_chain("chain", &batch, 41, &[0x41; 32]).await.unwrap();
    assert_eq!(again, ChainApplied::default());
    assert_eq!(s.counts().await.unwrap().pending_actions, 1);
    assert_eq!(s.chain_instruction_count().await.unwrap(), 1);
    // A reorg: epoch 9 now has other voters and the instruction moved to block 42.
    let other = fcc_sim_providers::policy(&fcc_sim_providers::providers("chain store fork", 2).unwrap(), 9).unwrap();
    let moved = ChainInstruction { block: 42, tx: [0x78; 32], ..seen };
    let fork = ChainBatch { policies: vec![(9, other.encode())], actions: vec![], instructions: vec![moved] };
    let applied = s.commit_chain("chain", &fork, 43, &[0x43; 32]).await.unwrap();
    assert_eq!(applied.policies_replaced, vec![9]);
    assert_eq!(applied.instructions_new, 0);
    assert_eq!(s.policy(9).await.unwrap(), Some(other.encode()));
    assert_eq!(s.chain_instruction(&seen.id).await.unwrap(), Some(moved));
    assert_eq!(s.cursor("chain").await.unwrap(), Some((43, Some([0x43; 32]))));
    // Cursors are per name.
    assert_eq!(s.cursor("other").await.unwrap(), None);
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        async fn run_suite(open: impl AsyncFn() -> Arc<dyn Store>) {
            $(
                eprintln!("suite: {}", stringify!($name));
                $name(open().await).await;
            )*
        }
    };
}

suite!(
    votes_queue_one_action_when_the_weight_first_exceeds_the_threshold,
    the_first_result_for_an_id_is_the_only_one,
    leases_expire_and_can_be_given_back,
    conflicting_data_and_the_open_bound_are_refused,
    direct_actions_policies_tee_and_cursors_round_trip,
    chain_ranges_commit_once_with_their_cursor,
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
    let Some(pg) = common::pg::Postgres::start("postgres_passes_the_store_suite") else { return };
    run_suite(async || Arc::new(PgStore::open(&pg.database().await).await.unwrap()) as Arc<dyn Store>).await;
}

/// A database made before cursors had a hash column opens, keeps its cursor (without a hash, so
/// the monitor rewinds) and stores hashes from then on.
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
    let Some(pg) = common::pg::Postgres::start("postgres_migrates_an_old_cursor_table") else { return };
    let url = pg.database().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE cursors (name TEXT PRIMARY KEY, block BIGINT NOT NULL); INSERT INTO cursors VALUES ('relay', 12);")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    old_cursor_table_is_migrated(async || Arc::new(PgStore::open(&url).await.unwrap()) as Arc<dyn Store>).await;
}
