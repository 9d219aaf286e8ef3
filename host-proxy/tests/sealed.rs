//! Sealed state through the proxy: a guest that can seal sends its state after the trust root;
//! the proxy keeps it in the sealed-state file; the TEE resumed from that file is the same TEE,
//! gets its trust root replayed by the proxy and executes instructions addressed to it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{CHAIN_ID, EPOCH, Providers, config, vote_json, wait_result};
use fcc_core::ops::Registry;
use fcc_core::policy::PolicyHashScheme;
use fcc_core::result::status;
use fcc_core::seal::{MIN_SEALED_LEN, SealingKey};
use fcc_core::tee::Tee;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sealed_state_is_kept_and_the_resumed_tee_is_the_same_tee() {
    let dir = tempfile::tempdir().unwrap();
    let providers = Providers::new(10);
    let root_file = dir.path().join("trust-root.json");
    let root_json = serde_json::json!({ "policy": format!("0x{}", hex::encode(providers.policy.encode())) });
    std::fs::write(&root_file, root_json.to_string()).unwrap();
    let sealed_file = dir.path().join("state").join("sealed.bin");
    std::fs::create_dir_all(sealed_file.parent().unwrap()).unwrap();
    let config =
        fcc_proxy::Config { trust_root: Some(root_file.clone()), sealed_state: Some(sealed_file.clone()), ..config() };
    let running = fcc_proxy_testing::start_sqlite(dir.path(), config).await.unwrap();
    // Created empty at start, so QEMU's -fw_cfg file= can name it before the first boot.
    assert_eq!(std::fs::read(&sealed_file).unwrap(), b"");

    let tee_config = fcc_core::Config { chain_id: CHAIN_ID, policy_hash: PolicyHashScheme::Legacy, registration: None };
    let key = || SealingKey::simulated(&tee_config);
    let tee = Tee::new(tee_config, &mut rand::rng(), Registry::system()).unwrap().with_sealing(key());
    let tee_id = tee.state().identity.address();
    let guest = fcc_proxy_testing::spawn_guest(running.link_addr, Arc::new(Mutex::new(tee)));
    let init = fcc_proxy::trust_root::TrustRoot::load(&root_file).unwrap().action;
    let store = running.shared.store.clone();
    let r = wait_result(store.as_ref(), &init.instruction.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);

    let deadline = Instant::now() + Duration::from_secs(20);
    let blob = loop {
        let blob = std::fs::read(&sealed_file).unwrap();
        if blob.len() >= MIN_SEALED_LEN {
            break blob;
        }
        assert!(blob.is_empty(), "a partial sealed state: {} bytes", blob.len());
        assert!(Instant::now() < deadline, "no sealed state written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let sealed = key().open(&blob).unwrap();
    assert_eq!(sealed.trust_root, (EPOCH, providers.policy.hash(PolicyHashScheme::Legacy)));
    assert_eq!(sealed.epoch, EPOCH);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&sealed_file).unwrap().permissions().mode() & 0o077, 0, "readable by the owner only");

    // The guest "reboots": its connection drops; the TEE comes back from the kept state.
    guest.abort();
    let _ = guest.await;
    let resumed = Tee::resume(tee_config, key(), &sealed, &mut rand::rng(), Registry::system()).unwrap();
    assert_eq!(resumed.state().identity.address(), tee_id);
    assert_eq!(resumed.state().policies.initial(), None);
    let resumed = Arc::new(Mutex::new(resumed));
    let guest = fcc_proxy_testing::spawn_guest(running.link_addr, resumed.clone());

    // An instruction addressed to the TEE id registered before the reboot executes.
    let d = fcc_sim_providers::fdc2_instruction(tee_id, "after the reboot", EPOCH);
    let client = reqwest::Client::new();
    for p in &providers.ps {
        let r = client
            .post(format!("http://{}/instruction", running.http_addr))
            .json(&vote_json(p, &d))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = wait_result(store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    assert_eq!(fcc_sim_providers::result_signer(&r, CHAIN_ID).unwrap(), tee_id);
    // The proxy replayed the trust root, which is the sealed one.
    assert_eq!(resumed.lock().unwrap().state().policies.initial(), Some(sealed.trust_root));
    guest.abort();
    running.shutdown().await;
}
