//! The `sim-providers` binary against a real fcc-proxy (SQLite, loopback HTTP) with an in-process
//! stand-in guest: every provider's vote is accepted with a checked receipt, the weight climbs
//! past the threshold and the guest's signed result is served; a wrong proxy address or chain id
//! makes the binary fail with the reason.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fcc_core::hash::keccak256;
use fcc_core::result::status;
use fcc_sim_providers as sim;

const CHAIN_ID: u64 = 14;
const EPOCH: u32 = 3;
const LABEL: &str = "sim-providers cli test";
const COUNT: usize = 12;

struct Proxy {
    running: fcc_proxy::Running,
    tee_id: [u8; 20],
    init: [u8; 32],
    _dir: tempfile::TempDir,
}

/// A proxy on SQLite that knows the providers' policy, with a guest that executed
/// INITIALIZE_POLICY.
async fn proxy() -> Proxy {
    let (p, tee) = proxy_without_guest().await;
    start_guest(&p, tee).await;
    p
}

/// The proxy with INITIALIZE_POLICY queued, and the TEE that will connect.
async fn proxy_without_guest() -> (Proxy, Arc<Mutex<fcc_core::tee::Tee>>) {
    let dir = tempfile::tempdir().unwrap();
    let running =
        fcc_proxy_testing::start_sqlite(dir.path(), fcc_proxy_testing::loopback_config(CHAIN_ID)).await.unwrap();
    let ps = sim::providers(LABEL, COUNT).unwrap();
    let policy = sim::policy(&ps, EPOCH).unwrap();
    running.shared.add_policy(&policy.encode()).await.unwrap();
    let init = sim::initialize_policy(&ps, &policy).unwrap();
    running.shared.enqueue_direct(&init).await.unwrap();
    let tee = Arc::new(Mutex::new(fcc_proxy_testing::new_tee(CHAIN_ID).unwrap()));
    let tee_id = tee.lock().unwrap().state().identity.address();
    (Proxy { running, tee_id, init: init.instruction.instruction_id, _dir: dir }, tee)
}

/// Connects the stand-in guest and waits until it executed INITIALIZE_POLICY.
async fn start_guest(p: &Proxy, tee: Arc<Mutex<fcc_core::tee::Tee>>) {
    fcc_proxy_testing::spawn_guest(p.running.link_addr, tee);
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.running.shared.store.result(&p.init).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "INITIALIZE_POLICY not executed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the binary off the runtime's threads.
async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || Command::new(env!("CARGO_BIN_EXE_sim-providers")).args(args).output().unwrap())
        .await
        .unwrap()
}

fn base_args(chain_id: u64) -> Vec<String> {
    [
        "--label",
        LABEL,
        "--count",
        &COUNT.to_string(),
        "--epoch",
        &EPOCH.to_string(),
        "--chain-id",
        &chain_id.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_signs_an_instruction_through_a_real_proxy() {
    let p = proxy().await;
    let d = sim::fdc2_instruction(p.tee_id, "cli fdc2", EPOCH);
    let mut args = base_args(CHAIN_ID);
    args.extend(
        [
            "sign",
            "--proxy",
            &format!("http://{}", p.running.http_addr),
            "--instruction-id",
            &hex::encode(d.instruction_id),
            "--op-type",
            "F_FDC2",
            "--op-command",
            "PROVE",
            "--message",
            &hex::encode(&d.original_message),
            "--additional-fixed-message",
            &hex::encode(&d.additional_fixed_message),
            "--timestamp",
            &d.timestamp.to_string(),
            "--wait-result",
            "30",
        ]
        .map(String::from),
    );
    let out = run(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "sim-providers failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let votes: Vec<&str> = stdout.lines().filter(|l| l.starts_with("VOTE ")).collect();
    assert_eq!(votes.len(), COUNT, "{stdout}");
    // Sequences 0..COUNT in order (0-based, as tee-proxy), and the weight only grows until it
    // passes the threshold.
    for (i, line) in votes.iter().enumerate() {
        assert!(line.contains(&format!(" sequence={i} ")), "{line}");
    }
    assert!(votes[0].contains("state=collecting"), "{}", votes[0]);
    let done = stdout.lines().find(|l| l.starts_with("DONE ")).expect("DONE line");
    assert!(!done.contains("state=collecting"), "{done}");
    let result_line = stdout.lines().find(|l| l.starts_with("RESULT ")).expect("RESULT line");
    let v: serde_json::Value = serde_json::from_str(&result_line["RESULT ".len()..]).unwrap();
    assert_eq!(v["result"]["status"].as_u64(), Some(u64::from(status::SUCCESS)), "{v}");
    // The stored result is the TEE's, signed by its key.
    let r = p.running.shared.store.result(&d.instruction_id).await.unwrap().expect("stored result");
    assert_eq!(sim::result_signer(&r, CHAIN_ID).unwrap(), p.tee_id);
    assert_eq!(p.running.shared.store.status(EPOCH, &d.instruction_id).await.unwrap().unwrap().votes, COUNT as u64);
    p.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_fails_on_a_foreign_receipt_key_or_a_wrong_chain() {
    let p = proxy().await;
    let url = format!("http://{}", p.running.http_addr);
    // Receipts signed by the proxy's key, but the caller expects another address.
    let mut args = base_args(CHAIN_ID);
    args.extend(
        ["sign", "--proxy", &url, "--id-label", "cli foreign key", "--proxy-address", &hex::encode([7u8; 20])]
            .map(String::from),
    );
    let out = run(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bad receipt") && stderr.contains("not the proxy"), "{stderr}");
    // Signed for chain 15: the proxy recovers a stranger and refuses the vote (403).
    let mut args = base_args(CHAIN_ID + 1);
    args.extend(["sign", "--proxy", &url, "--id-label", "cli wrong chain"].map(String::from));
    let out = run(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("403") && stderr.contains("unknown_signer"), "{stderr}");
    let id = keccak256(b"cli wrong chain");
    assert!(p.running.shared.store.status(EPOCH, &id).await.unwrap().is_none(), "no vote was recorded");
    p.running.shutdown().await;
}

#[tokio::test]
async fn the_policy_command_prints_the_trust_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    let mut args = base_args(CHAIN_ID);
    args.extend(["policy", "--out", path.to_str().unwrap()].map(String::from));
    let out = run(args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ps = sim::providers(LABEL, COUNT).unwrap();
    let policy = sim::policy(&ps, EPOCH).unwrap();
    assert_eq!(v["policy"].as_str().unwrap(), format!("0x{}", hex::encode(policy.encode())));
    assert_eq!(v["publicKeys"].as_array().unwrap().len(), COUNT);
    assert_eq!(v["publicKeys"][2].as_str().unwrap(), format!("0x{}", hex::encode(ps[2].key.public_key())));
}

/// Started before any TEE has connected (the proxy answers 503 `no_tee`), the binary keeps
/// retrying and succeeds once the guest is there; with the default instruction (F_FDC2/PROVE of
/// the example request) the guest's result is a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_retries_until_the_proxy_has_a_tee() {
    let (p, tee) = proxy_without_guest().await;
    let mut args = base_args(CHAIN_ID);
    let url = format!("http://{}", p.running.http_addr);
    args.extend(
        ["sign", "--proxy", &url, "--id-label", "cli retry", "--retry-ms", "20000", "--wait-result", "30"]
            .map(String::from),
    );
    let run = tokio::spawn(run(args));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!run.is_finished(), "the binary gave up while the proxy had no TEE");
    start_guest(&p, tee).await;
    let out = run.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("VOTE ")).count(), COUNT);
    let r = p.running.shared.store.result(&keccak256(b"cli retry")).await.unwrap().expect("result");
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    p.running.shutdown().await;
}
