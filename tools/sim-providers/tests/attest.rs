//! The providers' TEE check (`fcc_sim_providers::attest`) against a real fcc-proxy with the
//! in-process stand-in guest (plain QEMU's simulated evidence): accepted in test mode with the
//! guest's identity; refused in production mode; refused when the proxy lies about the public key
//! or the TEE id, or when the provider serves another chain; and the `check` subcommand.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fcc_attest::{Manifest, Verifier};
use fcc_sim_providers::attest::{CheckError, Collateral, TeeInfo, address_of, unix_now, verify_info};
use fcc_sim_providers::client::ProxyClient;
use serde_json::Value;

const CHAIN_ID: u64 = 14;

fn manifest_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reproducible/MEASUREMENTS.json")
}

fn verifier(allow_simulated: bool) -> Verifier {
    let m = Manifest::from_json(&std::fs::read(manifest_path()).unwrap()).unwrap();
    Verifier { allow_simulated, ..Verifier::new(m) }
}

/// A proxy (no attestation check of its own) with a stand-in guest that has greeted it.
async fn proxy(dir: &tempfile::TempDir) -> (fcc_proxy::Running, [u8; 20]) {
    let running =
        fcc_proxy_testing::start_sqlite(dir.path(), fcc_proxy_testing::loopback_config(CHAIN_ID)).await.unwrap();
    let tee = Arc::new(Mutex::new(fcc_proxy_testing::new_tee(CHAIN_ID).unwrap()));
    let tee_id = tee.lock().unwrap().state().identity.address();
    fcc_proxy_testing::spawn_guest(running.link_addr, tee);
    let deadline = Instant::now() + Duration::from_secs(20);
    while running.shared.sessions.tee().await.is_none() {
        assert!(Instant::now() < deadline, "the guest did not greet");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (running, tee_id)
}

fn client(running: &fcc_proxy::Running, chain_id: u64) -> ProxyClient {
    ProxyClient::new(&format!("http://{}", running.http_addr), chain_id, Duration::from_secs(10)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_tee_is_accepted_only_in_test_mode_with_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (running, tee_id) = proxy(&dir).await;
    let c = client(&running, CHAIN_ID);

    let checked = c.check_tee(&verifier(true), &Collateral::default()).await.expect("test mode accepts");
    let v = checked.verdict;
    assert_eq!(v.platform, "plain (simulated, not a TEE)");
    assert!(v.simulated);
    let id = v.identity.expect("identity binding");
    assert_eq!(id.address, format!("0x{}", hex::encode(tee_id)));
    assert_eq!(id.chain_id, CHAIN_ID);
    assert_eq!(id.challenge, hex::encode([0u8; 32]));
    assert_eq!(checked.info.tee_id, tee_id);

    // Production mode: the same evidence is refused, typed.
    let e = c.check_tee(&verifier(false), &Collateral::default()).await.unwrap_err();
    assert!(matches!(e, CheckError::Refused(fcc_attest::Error::SimulatedAttestation)), "{e}");

    // A provider serving another chain: the evidence binds chain 14, not 15.
    let e = client(&running, CHAIN_ID + 1).check_tee(&verifier(true), &Collateral::default()).await.unwrap_err();
    assert!(matches!(e, CheckError::Refused(fcc_attest::Error::ReportDataMismatch { .. })), "{e}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_lying_about_the_key_or_the_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (running, _) = proxy(&dir).await;
    let url = format!("http://{}/info", running.http_addr);
    let info: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let v = verifier(true);
    let none = Collateral::default();
    // The untampered answer passes.
    verify_info(&TeeInfo::from_json(&info).unwrap(), &v, &none, CHAIN_ID, unix_now()).unwrap();

    // Another key (a provider's) with the real TEE id: the id is not that key's address.
    let other = *fcc_sim_providers::providers("attest test", 1).unwrap()[0].key.public_key();
    let mut lie = info.clone();
    lie["publicKey"] = Value::from(format!("0x{}", hex::encode(other)));
    let e = verify_info(&TeeInfo::from_json(&lie).unwrap(), &v, &none, CHAIN_ID, unix_now()).unwrap_err();
    assert!(matches!(e, CheckError::TeeIdMismatch { .. }), "{e}");

    // Another key and its matching id: the evidence does not bind that key.
    lie["teeId"] = Value::from(format!("0x{}", hex::encode(address_of(&other))));
    let e = verify_info(&TeeInfo::from_json(&lie).unwrap(), &v, &none, CHAIN_ID, unix_now()).unwrap_err();
    assert!(matches!(e, CheckError::Refused(fcc_attest::Error::ReportDataMismatch { .. })), "{e}");

    // Hardware platforms need their certificates; unknown ones and malformed fields are refused.
    let mut snp = info.clone();
    snp["platform"] = Value::from("SevSnp");
    let e = verify_info(&TeeInfo::from_json(&snp).unwrap(), &v, &none, CHAIN_ID, unix_now()).unwrap_err();
    assert!(matches!(e, CheckError::MissingCollateral { platform: "sev-snp", .. }), "{e}");
    let mut odd = info.clone();
    odd["platform"] = Value::from("Nitro");
    let e = verify_info(&TeeInfo::from_json(&odd).unwrap(), &v, &none, CHAIN_ID, unix_now()).unwrap_err();
    assert!(matches!(e, CheckError::UnknownPlatform(_)), "{e}");
    let mut short = info.clone();
    short["publicKey"] = Value::from("0x0102");
    assert!(matches!(TeeInfo::from_json(&short), Err(CheckError::Info(_))));
    running.shutdown().await;
}

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || Command::new(env!("CARGO_BIN_EXE_sim-providers")).args(args).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_subcommand_prints_the_verdict_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (running, tee_id) = proxy(&dir).await;
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["--chain-id", &CHAIN_ID.to_string(), "check", "--proxy"].map(String::from).to_vec();
        a.push(format!("http://{}", running.http_addr));
        a.extend(["--manifest".to_string(), manifest_path().display().to_string()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let out = run(args(&["--allow-simulated"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let verdict: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verdict["identity"]["address"], format!("0x{}", hex::encode(tee_id)).as_str());

    let out = run(args(&[])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("REFUSED: simulated attestation"), "{stdout}");
    running.shutdown().await;
}
