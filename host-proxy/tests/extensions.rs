//! Compute extensions through the real proxy (docs/PROTOCOL.md §8.9): an extension's instruction
//! is admitted under its declared rule, its host data streamed from the objects directory to the
//! stand-in guest (the core's session, as the ROM runs it), its result stored; an object the proxy
//! lacks makes the instruction wait — the link ends, nothing is lost — until the operator files
//! it. Digests are judged by coreutils' `sha256sum`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CHAIN_ID, EPOCH, config, setup_with, vote_json, wait_result};
use fcc_core::config::{Governance, Registration};
use fcc_core::instruction::InstructionData;
use fcc_core::policy::PolicyHashScheme;
use fcc_core::result::status;
use fcc_ext_data_integrity::{PROVE, Request};
use fcc_proxy::store::{SqliteStore, Store};

fn sha256sum(data: &[u8]) -> [u8; 32] {
    let path = std::env::temp_dir().join(format!("fcc-proxy-ext-{}-{}", std::process::id(), data.len()));
    std::fs::write(&path, data).unwrap();
    let out = std::process::Command::new("sha256sum").arg(&path).output().expect("sha256sum");
    std::fs::remove_file(&path).unwrap();
    let hex = String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string();
    hex::decode(hex).unwrap().try_into().unwrap()
}

fn object(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_data_streams_from_the_objects_directory_and_a_missing_object_waits() {
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join("objects");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&format!("sqlite://{}/proxy.db", dir.path().display())).await.unwrap());
    let config = fcc_proxy::Config { objects: Some(objects.clone()), retry_ms: 200, ..config() };
    let mut extension_id = [0u8; 32];
    extension_id[31] = 1;
    let tee_config = fcc_core::Config {
        chain_id: CHAIN_ID,
        policy_hash: PolicyHashScheme::Legacy,
        registration: Some(Registration { extension_id, owner: [0xee; 20], governance: Governance::NONE }),
    };
    let registry = fcc_extensions::registry().unwrap();
    let tee = fcc_core::Tee::new(tee_config, &mut rand::rng(), registry).unwrap();
    let s = setup_with(store, config, 5, tee).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let instruction = |n: u8, request: &Request| InstructionData {
        instruction_id: [n; 32],
        tee_id: s.tee_id,
        timestamp: 1_800_000_000,
        reward_epoch_id: EPOCH,
        op_type: PROVE.op_type,
        op_command: PROVE.op_command,
        original_message: request.encode(),
        ..Default::default()
    };
    let post_all = async |d: &InstructionData| {
        for p in &s.providers.ps {
            let r = client.post(format!("{base}/instruction")).json(&vote_json(p, d)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    };
    let metric = |name: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        }
    };

    // An object in the directory: five chunks and a bit, streamed and hashed by the guest.
    let data = object(5 * 65_536 + 123, 7);
    let id = sha256sum(&data);
    std::fs::create_dir_all(&objects).unwrap();
    std::fs::write(objects.join(hex::encode(id)), &data).unwrap();
    let request = Request { object: id, size: data.len() as u64, challenge: [0xc1; 32] };
    let d = instruction(1, &request);
    post_all(&d).await;
    let r = wait_result(s.running.shared.store.as_ref(), &d.instruction_id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    assert_eq!(r.signer(CHAIN_ID).unwrap(), s.tee_id);
    // The envelope's output: object, size, challenge, digest, intact.
    let output = &r.result.data[192..];
    assert_eq!(output.len(), 160);
    assert_eq!(output[96..128], id, "the guest's digest is sha256sum's");
    assert_eq!(output[159], 1, "intact");
    assert_eq!(metric("fcc_proxy_object_bytes_total").await, data.len() as u64);

    // An object the proxy lacks: the instruction waits, the link ends each time it is asked for.
    let late = object(70_000, 9);
    let late_id = sha256sum(&late);
    let request = Request { object: late_id, size: late.len() as u64, challenge: [0xc2; 32] };
    let d = instruction(2, &request);
    post_all(&d).await;
    let store = s.running.shared.store.clone();
    assert!(wait_result(store.as_ref(), &d.instruction_id, Duration::from_secs(2)).await.is_err(), "no result yet");
    assert!(metric("fcc_proxy_objects_missing_total").await >= 1);
    // Filed by the operator (as `fcc object add` does): delivered again and answered.
    std::fs::write(objects.join(hex::encode(late_id)), &late).unwrap();
    let r = wait_result(store.as_ref(), &d.instruction_id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    assert_eq!(r.result.data[192 + 96..192 + 128], late_id);
    // A short object (the file ends before the size the instruction names) is missing data too:
    // the instruction waits rather than fail on the host's word.
    let short = object(1000, 3);
    let short_id = sha256sum(&short);
    std::fs::write(objects.join(hex::encode(short_id)), &short[..500]).unwrap();
    let d = instruction(3, &Request { object: short_id, size: 1000, challenge: [0xc3; 32] });
    let before = metric("fcc_proxy_objects_missing_total").await;
    post_all(&d).await;
    assert!(wait_result(store.as_ref(), &d.instruction_id, Duration::from_secs(2)).await.is_err());
    assert!(metric("fcc_proxy_objects_missing_total").await > before);
}
