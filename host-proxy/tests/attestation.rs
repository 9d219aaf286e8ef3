//! The proxy's attestation check of guests (`attestation-manifest`): with the published manifest
//! and test mode the stand-in guest (plain, simulated evidence) is verified, served, and its
//! verdict shown in `GET /info`; without test mode its link is refused before it gets any action
//! and `/info` says why; without the setting nothing changes.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{CHAIN_ID, config, setup};
use fcc_proxy::config::AttestationConfig;
use fcc_proxy::store::{SqliteStore, Store};
use serde_json::Value;
use tokio::net::TcpListener;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../reproducible/MEASUREMENTS.json")
}

fn checked(allow_simulated: bool) -> fcc_proxy::Config {
    fcc_proxy::Config {
        attestation: Some(AttestationConfig {
            manifest: manifest(),
            allow_simulated,
            vek: None,
            chain: None,
            tdx_collateral: None,
            tdx_root: None,
            tdx_firmware_mrtds: Vec::new(),
        }),
        ..config()
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&format!("sqlite://{}/proxy.db", dir.path().display())).await.unwrap())
}

/// The value of a counter in the metrics text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("{name} missing from the metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_guest_is_served_and_its_verdict_shown() {
    let dir = tempfile::tempdir().unwrap();
    // `setup` waits until the guest executed INITIALIZE_POLICY: the link was accepted.
    let s = setup(store(&dir).await, checked(true), 5).await;
    let (code, body) = get(s.running.http_addr, "/info").await;
    assert_eq!(code, 200, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    let v = &info["attestationVerdict"];
    assert_eq!(v["platform"], "plain (simulated, not a TEE)", "{info}");
    assert_eq!(v["simulated"], true);
    let tee_id = format!("0x{}", hex::encode(s.tee_id));
    assert_eq!(v["identity"]["address"], tee_id.as_str());
    assert_eq!(v["identity"]["chain_id"], CHAIN_ID);
    assert_eq!(info["attestationError"], Value::Null);
    // The evidence bytes are still served as before.
    assert!(info["attestation"].as_str().unwrap().starts_with("0x"));
    let (_, metrics) = get(s.running.http_addr, "/metrics").await;
    assert!(metric(&metrics, "fcc_proxy_attestations_verified_total") >= 1);
    assert_eq!(metric(&metrics, "fcc_proxy_attestations_refused_total"), 0);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_guest_is_refused_by_a_production_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let config = checked(false);
    let store = store(&dir).await;
    let http = TcpListener::bind(config.http).await.unwrap();
    let link = TcpListener::bind(config.link).await.unwrap();
    let running = fcc_proxy::start_with(config, store.clone(), http, link).await.unwrap();
    let providers = common::Providers::new(5);
    running.shared.add_policy(&providers.policy.encode()).await.unwrap();
    let init = fcc_sim_providers::initialize_policy(&providers.ps, &providers.policy).unwrap();
    running.shared.enqueue_direct(&init).await.unwrap();
    let tee = Arc::new(Mutex::new(fcc_proxy_testing::new_tee(CHAIN_ID).unwrap()));
    let tee_id = tee.lock().unwrap().state().identity.address();
    let guest = fcc_proxy_testing::spawn_guest(running.link_addr, tee);

    // The guest reconnects every 20 ms; wait for a few refusals.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, metrics) = get(running.http_addr, "/metrics").await;
        if metric(&metrics, "fcc_proxy_attestations_refused_total") >= 3 {
            assert_eq!(metric(&metrics, "fcc_proxy_attestations_verified_total"), 0);
            break;
        }
        assert!(Instant::now() < deadline, "the guest was not refused: {metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, body) = get(running.http_addr, "/info").await;
    assert_eq!(code, 503, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"], "attestation_refused", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains(&hex::encode(tee_id)) && message.contains("simulated attestation"), "{message}");
    // Never the served TEE, never given an action: the trust root is still unanswered.
    assert!(store.tee().await.unwrap().is_none());
    assert!(store.result(&init.instruction.instruction_id).await.unwrap().is_none());
    assert_eq!(store.counts().await.unwrap().pending_actions, 1);
    guest.abort();
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_info_has_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(store(&dir).await, config(), 5).await;
    let (code, body) = get(s.running.http_addr, "/info").await;
    assert_eq!(code, 200, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((&info["attestationVerdict"], &info["attestationError"]), (&Value::Null, &Value::Null));
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_manifest_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = checked(true);
    config.attestation.as_mut().unwrap().manifest = dir.path().join("missing.json");
    let http = TcpListener::bind(config.http).await.unwrap();
    let link = TcpListener::bind(config.link).await.unwrap();
    let e = fcc_proxy::start_with(config, store(&dir).await, http, link).await.unwrap_err();
    assert!(format!("{e:#}").contains("missing.json"), "{e:#}");
}
