//! Crash test: the `fcc-proxy` binary is killed with SIGKILL in the middle of a load of N
//! instructions (100 votes each over HTTP, a stand-in guest executing them) and started again
//! on the same SQLite file. Every vote acknowledged before the kill must still be there (a
//! re-sent vote gets the identical receipt), and once the providers re-send what was not
//! acknowledged, every instruction gets exactly one result, signed by the TEE.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{CHAIN_ID, EPOCH, Providers, vote_json};
use fcc_core::result::status;
use fcc_proxy::store::{SqliteStore, Store};
use serde_json::Value;

const INSTRUCTIONS: usize = 24;
const VOTERS: usize = 100;

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(db: &str, http: u16, link: u16) -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fcc-proxy"))
        .args(["--database", db, "--http", &format!("127.0.0.1:{http}"), "--link", &format!("127.0.0.1:{link}")])
        .args(["--chain-id", &CHAIN_ID.to_string(), "--lease-ms", "1000", "--long-poll-ms", "60000"])
        .args(["--rate-per-second", "1000000", "--rate-burst", "1000000"])
        .env("RUST_LOG", "warn")
        // Through the environment, as an operator would pass a secret.
        .env("FCC_PROXY_KEY", format!("0x{}", "42".repeat(32)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("LISTENING "), "{line}");
    Proxy(child)
}

/// Posts a vote until the proxy answers (it may be down); returns the receipt.
async fn post_until_answered(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    loop {
        if let Ok(r) = client.post(url).json(body).send().await {
            assert_eq!(r.status(), 200);
            return r.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_load_loses_no_acknowledged_vote_and_each_instruction_gets_one_result() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/proxy.db", dir.path().display());
    let providers = Providers::new(VOTERS);
    let init = fcc_sim_providers::initialize_policy(&providers.ps, &providers.policy).unwrap();
    {
        let store = SqliteStore::open(&db).await.unwrap();
        store.put_policy(EPOCH, &providers.policy.encode()).await.unwrap();
        store.enqueue_direct(&init, 0).await.unwrap();
    }
    let (http, link) = (free_port(), free_port());
    let mut proxy = spawn(&db, http, link);
    let tee = Arc::new(Mutex::new(fcc_proxy_testing::new_tee(CHAIN_ID).unwrap()));
    let tee_id = tee.lock().unwrap().state().identity.address();
    let guest = fcc_proxy_testing::spawn_guest(format!("127.0.0.1:{link}").parse().unwrap(), tee.clone());
    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/info")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the guest never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let instructions: Vec<_> =
        (0..INSTRUCTIONS).map(|i| fcc_sim_providers::fdc2_instruction(tee_id, &format!("crash {i}"), EPOCH)).collect();
    let votes: Arc<Vec<Value>> =
        Arc::new(instructions.iter().flat_map(|d| providers.ps.iter().map(move |p| vote_json(p, d))).collect());
    // Votes go out from 8 workers; after a third are acknowledged the proxy is killed.
    let receipts: Arc<Mutex<Vec<Option<Value>>>> = Arc::new(Mutex::new(vec![None; votes.len()]));
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (votes, receipts, next, acked, client) =
            (votes.clone(), receipts.clone(), next.clone(), acked.clone(), client.clone());
        let url = format!("{base}/instruction");
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= votes.len() {
                    return;
                }
                match client.post(&url).json(&votes[i]).send().await {
                    Ok(r) if r.status() == 200 => {
                        if let Ok(body) = r.json::<Value>().await {
                            receipts.lock().unwrap()[i] = Some(body);
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(r) => panic!("vote {i}: {}", r.status()),
                    // The proxy is gone: this vote is not acknowledged.
                    Err(_) => {}
                }
            }
        }));
    }
    while acked.load(Ordering::Relaxed) < votes.len() / 3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    proxy.0.kill().unwrap(); // SIGKILL
    proxy.0.wait().unwrap();
    let at_kill = acked.load(Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let before: Vec<Option<Value>> = receipts.lock().unwrap().clone();
    let acknowledged = before.iter().filter(|r| r.is_some()).count();
    eprintln!("killed after {at_kill} acknowledged votes ({acknowledged} in all) of {}", votes.len());
    assert!(acknowledged < votes.len(), "the kill came too late to test anything");

    let _proxy = spawn(&db, http, link);
    let url = format!("{base}/instruction");
    for (i, vote) in votes.iter().enumerate() {
        let receipt = post_until_answered(&client, &url, vote).await;
        if let Some(first) = &before[i] {
            // Durable: the same sequence, vote hash and time as acknowledged before the crash,
            // signed by the same key (receipts are signed with random nonces: other bytes).
            assert_eq!(receipt["receipt"], first["receipt"], "vote {i} changed across the crash");
            let signer = |r: &Value| {
                serde_json::from_value::<fcc_flare_json::SignedReceipt>(r.clone()).unwrap().signer(CHAIN_ID).unwrap()
            };
            assert_eq!(signer(&receipt), signer(first), "vote {i}: another signer across the crash");
        }
    }

    for d in &instructions {
        let id = format!("0x{}", hex::encode(d.instruction_id));
        let deadline = Instant::now() + Duration::from_secs(60);
        let body: Value = loop {
            let r = client.get(format!("{base}/action/result/{id}")).send().await.unwrap();
            if r.status() == 200 {
                break r.json().await.unwrap();
            }
            assert_eq!(r.status(), 404);
            assert!(Instant::now() < deadline, "no result for {id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(body["result"]["status"], u64::from(status::SUCCESS), "{body}");
    }
    drop(_proxy);
    guest.abort();
    let store = SqliteStore::open(&db).await.unwrap();
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.results, INSTRUCTIONS as u64 + 1, "one result per instruction, plus INITIALIZE_POLICY");
    assert_eq!((counts.open, counts.pending_actions), (0, 0));
    for d in &instructions {
        let r = store.result(&d.instruction_id).await.unwrap().unwrap();
        assert_eq!(fcc_sim_providers::result_signer(&r, CHAIN_ID).unwrap(), tee_id);
        assert_eq!(store.status(EPOCH, &d.instruction_id).await.unwrap().unwrap().votes, VOTERS as u64);
    }
}
