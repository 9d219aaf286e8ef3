//! Hostile clients against the real proxy on loopback (real HTTP, SQLite, a stand-in guest): the
//! attacks of the proxy's security review, each refused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{EPOCH, config, setup, vote_json, wait_result};
use fcc_core::instruction::InstructionData;
use fcc_proxy::store::{SqliteStore, Store};
use serde_json::Value;

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&format!("sqlite://{}/proxy.db", dir.path().display())).await.unwrap())
}

/// A well-formed FDC2 request other than the simulated providers' one.
fn other_request() -> Vec<u8> {
    let mut r = fcc_sim_providers::fdc2_request();
    let at = r.windows(6).position(|w| w == b"0xabcd").unwrap();
    r[at + 5] = b'e';
    r
}

async fn post(client: &reqwest::Client, base: &str, vote: &Value) -> (u16, Value) {
    let r = client.post(format!("{base}/instruction")).json(vote).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A stranger lists itself as the only cosigner (threshold 0) of a predictable future
/// instruction id, and a provider votes other data for it first: neither pins the id. The
/// stranger's vote opens nothing (425), the genuine providers' votes are all accepted, their data
/// are executed, and afterwards other data under the id are refused (409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_can_squat_an_instruction_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 10).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let genuine = fcc_sim_providers::fdc2_instruction(s.tee_id, "predictable id", EPOCH);

    let stranger = &fcc_sim_providers::providers("squatter", 1).unwrap()[0];
    let squat = InstructionData {
        cosigners: vec![stranger.key.address()],
        cosigners_threshold: 0,
        additional_fixed_message: b"the squatter's data".to_vec(),
        ..genuine.clone()
    };
    let (code, body) = post(&client, &base, &vote_json(stranger, &squat)).await;
    assert_eq!((code, body["error"].as_str()), (425, Some("no_voter_yet")), "{body}");
    // A provider (a voter with weight) votes other data first: accepted, but it pins nothing.
    let rogue = &s.providers.ps[9];
    let (code, body) = post(&client, &base, &vote_json(rogue, &squat)).await;
    assert_eq!(code, 200, "{body}");
    // Now the stranger's vote joins the rogue provider's candidate (it is listed there).
    let (code, body) = post(&client, &base, &vote_json(stranger, &squat)).await;
    assert_eq!(code, 200, "{body}");

    for p in &s.providers.ps[..9] {
        let (code, body) = post(&client, &base, &vote_json(p, &genuine)).await;
        assert_eq!(code, 200, "a genuine vote was refused: {body}");
    }
    let r =
        wait_result(s.running.shared.store.as_ref(), &genuine.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, fcc_core::result::status::SUCCESS, "{}", r.result.log);

    let status: Value = client
        .get(format!("{base}/action/status/{EPOCH}/0x{}", hex::encode(genuine.instruction_id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((status["state"].as_str(), status["candidates"].as_u64()), (Some("done"), Some(2)), "{status}");
    let (code, body) = post(&client, &base, &vote_json(&s.providers.ps[0], &squat)).await;
    assert_eq!((code, body["error"].as_str()), (409, Some("conflict")), "{body}");
    assert_eq!(s.running.shared.store.counts().await.unwrap().open, 0, "the squatter's candidate was closed");
    s.running.shutdown().await;
}

/// Once the chain monitor has seen an instruction announced, votes for data that disagree with
/// the announcement are refused (409 `not_as_announced`), and a cosigner the announcement lists
/// may open the instruction (its data are the chain's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_must_match_the_announcement_on_chain() {
    use fcc_proxy::store::{Announced, ChainBatch, ChainInstruction};
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 10).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let cosigner = &fcc_sim_providers::providers("listed cosigner", 1).unwrap()[0];
    let d = InstructionData {
        cosigners: vec![cosigner.key.address()],
        cosigners_threshold: 1,
        ..fcc_sim_providers::fdc2_instruction(s.tee_id, "announced", EPOCH)
    };
    let announced = Announced {
        tee_ids: vec![s.tee_id],
        op_type: d.op_type,
        op_command: d.op_command,
        message: d.original_message.clone(),
        cosigners: d.cosigners.clone(),
        cosigners_threshold: d.cosigners_threshold,
    };
    let seen =
        ChainInstruction { id: d.instruction_id, epoch: EPOCH, block: 5, tx: [5; 32], announced: Some(announced) };
    let batch = ChainBatch { instructions: vec![seen], ..ChainBatch::default() };
    s.running.shared.store.commit_chain("test", &batch, 5, &[5; 32]).await.unwrap();

    for (what, bad) in [
        ("cosigners", InstructionData { cosigners: vec![], cosigners_threshold: 0, ..d.clone() }),
        ("cosignersThreshold", InstructionData { cosigners_threshold: 0, ..d.clone() }),
        ("originalMessage", InstructionData { original_message: other_request(), ..d.clone() }),
    ] {
        let (code, body) = post(&client, &base, &vote_json(&s.providers.ps[0], &bad)).await;
        assert_eq!((code, body["error"].as_str()), (409, Some("not_as_announced")), "{what}: {body}");
        assert!(body["message"].as_str().unwrap().starts_with(what), "{body}");
    }
    // The listed cosigner opens it; the providers complete it.
    let (code, body) = post(&client, &base, &vote_json(cosigner, &d)).await;
    assert_eq!(code, 200, "{body}");
    for p in &s.providers.ps {
        let (code, body) = post(&client, &base, &vote_json(p, &d)).await;
        assert_eq!(code, 200, "{body}");
    }
    let r = wait_result(s.running.shared.store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, fcc_core::result::status::SUCCESS, "{}", r.result.log);
    s.running.shutdown().await;
}

/// A voter who is also a listed cosigner counts towards both the weight and the cosigner
/// threshold, as the guest counts (`fcc_core::verify`): the action is queued when the guest
/// will accept it, not never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_listed_as_cosigner_counts_for_both() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 10).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let d = InstructionData {
        cosigners: vec![s.providers.ps[0].key.address()],
        cosigners_threshold: 1,
        ..fcc_sim_providers::fdc2_instruction(s.tee_id, "voter and cosigner", EPOCH)
    };
    for p in &s.providers.ps {
        let (code, body) = post(&client, &base, &vote_json(p, &d)).await;
        assert_eq!(code, 200, "{body}");
    }
    let r = wait_result(s.running.shared.store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, fcc_core::result::status::SUCCESS, "{}", r.result.log);
    s.running.shutdown().await;
}
