//! The proxy end to end on SQLite with an in-process stand-in guest: 100 providers' votes over
//! real HTTP, one action queued, its result signed by the TEE and served; bad input refused with
//! JSON errors; a guest dying mid-action gets the action again and one result is stored.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{CHAIN_ID, EPOCH, config, setup, vote_json, wait_result};
use fcc_core::ecdsa::recover_address;
use fcc_core::hash::keccak256;
use fcc_core::result::status;
use fcc_proxy::store::{SqliteStore, Store};
use fcc_proxy_testing::{Mode, connect_once};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&format!("sqlite://{}/proxy.db", dir.path().display())).await.unwrap())
}

fn b256(v: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap().trim_start_matches("0x"), &mut out).unwrap();
    out
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_voter_instruction_is_aggregated_executed_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 100).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let d = fcc_sim_providers::fdc2_instruction(s.tee_id, "api e2e", EPOCH);

    let mut sequences = Vec::new();
    for p in &s.providers.ps {
        let vote = vote_json(p, &d);
        let r = client.post(format!("{base}/instruction")).json(&vote).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let receipt = &body["receipt"];
        assert_eq!(b256(&receipt["instructionHash"]), d.hash_fixed());
        assert_eq!(b256(&receipt["additionalVariableMessageHash"]), keccak256(b""));
        assert_eq!(receipt["signature"], vote["signature"], "the vote's signature, echoed");
        // Signed by the proxy's key over tee-proxy's Payload{PROXY_VOTE_RECEIPT} for this chain.
        let signed: fcc_flare_json::SignedReceipt = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(signed.signer(CHAIN_ID).unwrap(), s.running.shared.proxy_address);
        assert_ne!(signed.signer(CHAIN_ID + 1).unwrap(), s.running.shared.proxy_address);
        sequences.push(receipt["sequence"].as_u64().unwrap());
    }
    assert_eq!(sequences, (0..100).collect::<Vec<u64>>(), "0-based, as tee-proxy");
    // Every voter's key, recovered from its vote, is ready to go with the next policy.
    let offered = s.running.shared.voter_keys.offer(&s.providers.policy);
    let keys: Vec<[u8; 64]> = s.providers.ps.iter().map(|p| *p.key.public_key()).collect();
    assert_eq!(offered.iter().map(|k| k.0).collect::<Vec<_>>(), keys);

    let r = wait_result(s.running.shared.store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    // Checked with libsecp256k1, not fcc-core: the TEE signed it.
    assert_eq!(fcc_sim_providers::result_signer(&r, CHAIN_ID).unwrap(), s.tee_id);

    let id = format!("0x{}", hex::encode(d.instruction_id));
    let body: Value = client.get(format!("{base}/action/result/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(bytes(&body["result"]["data"]), r.result.data);
    assert_eq!(body["result"]["submissionTag"], "threshold");
    assert_eq!(bytes(&body["signature"]), r.signature.to_vec());
    let proxy_sig: [u8; 65] = bytes(&body["proxySignature"]).try_into().unwrap();
    assert_eq!(
        recover_address(&proxy_sig, &fcc_flare_json::proxy_result_digest(&r.result, CHAIN_ID)).unwrap(),
        s.running.shared.proxy_address
    );

    let st: Value =
        client.get(format!("{base}/action/status/{EPOCH}/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(st["state"], "done");
    assert_eq!(st["votes"], 100);
    assert_eq!(st["deliveries"], 1);
    assert!(st["weight"].as_u64().unwrap() > st["threshold"].as_u64().unwrap());

    let info: Value = client.get(format!("{base}/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["teeId"].as_str().unwrap().to_lowercase(), format!("0x{}", hex::encode(s.tee_id)));
    assert_eq!(info["chainId"], CHAIN_ID);
    assert_eq!(info["platform"], "Plain");
    assert!(info["codeVersion"].as_str().unwrap().starts_with("fcc-core/"));
    // The statement the boot evidence binds, vouched for by the proxy as tee-proxy does.
    let statement = fcc_sim_providers::attest::decode_statement(&bytes(&info["statement"])).unwrap();
    assert_eq!(statement.tee_id(), s.tee_id);
    let info_sig: [u8; 65] = bytes(&info["proxySignature"]).try_into().unwrap();
    assert_eq!(
        recover_address(&info_sig, &fcc_flare_json::proxy_tee_info_digest(&statement)).unwrap(),
        s.running.shared.proxy_address
    );
    // Fresh answers to verifiers' challenges: the same answer for the same challenge, and none of
    // them left in the database (challenges cannot grow it).
    let results_before = s.running.shared.store.counts().await.unwrap().results;
    for i in 0..3u8 {
        let challenge = [i; 32];
        let url = format!("{base}/info?challenge=0x{}", hex::encode(challenge));
        let first: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        let again: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(first["teeInfo"], again["teeInfo"]);
        assert!(first["teeInfo"]["result"]["data"].as_str().is_some_and(|d| d.len() > 2), "{first}");
        let id = fcc_core::action::Action::tee_info(&s.tee_id, &challenge).instruction.instruction_id;
        let store = &s.running.shared.store;
        assert_eq!((store.result(&id).await.unwrap(), store.action(&id).await.unwrap()), (None, None));
    }
    assert_eq!(s.running.shared.store.counts().await.unwrap().results, results_before);
    assert_eq!(client.get(format!("{base}/ready")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{base}/healthy")).send().await.unwrap().status(), 200);

    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "fcc_proxy_votes_accepted_total 100",
        "fcc_proxy_actions_queued_total 1",
        "fcc_proxy_guests_connected 1",
        // The latency histograms: every vote timed, the one instruction from its first vote to
        // its queueing.
        "fcc_proxy_vote_seconds_count 100",
        "fcc_proxy_open_to_queued_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    let count = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(count("fcc_proxy_guest_action_seconds_count") >= 1, "the executed action was timed\n{metrics}");
    assert_eq!(count("fcc_proxy_queued_to_result_seconds_count"), 1, "queued to stored, once\n{metrics}");
    assert!(metrics.contains("fcc_proxy_vote_seconds_bucket{le=\"0.0005\"}"), "{metrics}");
    s.running.shutdown().await;
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let v: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{method} {uri}: not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, fcc_proxy::Config { max_body: 4096, ..config() }, 10).await;
    let app = fcc_proxy::http::router(s.running.shared.clone());
    let d = fcc_sim_providers::fdc2_instruction(s.tee_id, "bad input", EPOCH);
    let good = vote_json(&s.providers.ps[0], &d);

    let expect = |(code, body): (StatusCode, Value), want: u16, error: &str| {
        assert_eq!(code.as_u16(), want, "{body}");
        assert_eq!(body["error"], error, "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
        body
    };
    let b = expect(call(&app, "POST", "/instruction", "{not json").await, 400, "invalid_body");
    assert!(b["message"].as_str().unwrap().contains("instruction JSON"));
    let mut unknown = good.clone();
    unknown["data"]["surprise"] = json!(1);
    let b = expect(call(&app, "POST", "/instruction", unknown.to_string()).await, 400, "invalid_body");
    assert!(b["message"].as_str().unwrap().contains("surprise"), "{b}");
    let mut missing = good.clone();
    missing["data"].as_object_mut().unwrap().remove("teeId");
    let b = expect(call(&app, "POST", "/instruction", missing.to_string()).await, 400, "invalid_body");
    assert!(b["message"].as_str().unwrap().contains("teeId"), "{b}");
    let mut short = good.clone();
    short["signature"] = json!("0x1234");
    expect(call(&app, "POST", "/instruction", short.to_string()).await, 400, "invalid_signature");
    let mut wrong_tee = vote_json(&s.providers.ps[0], &fcc_sim_providers::fdc2_instruction([9; 20], "x", EPOCH));
    expect(call(&app, "POST", "/instruction", wrong_tee.to_string()).await, 400, "wrong_tee");
    wrong_tee = vote_json(&s.providers.ps[0], &fcc_sim_providers::fdc2_instruction(s.tee_id, "x", EPOCH + 5));
    expect(call(&app, "POST", "/instruction", wrong_tee.to_string()).await, 400, "unknown_epoch");
    // Signed by someone outside the policy.
    let stranger = &fcc_sim_providers::providers("stranger", 1).unwrap()[0];
    expect(call(&app, "POST", "/instruction", vote_json(stranger, &d).to_string()).await, 403, "unknown_signer");
    // A signature over other data recovers to a stranger too.
    let mut tampered = good.clone();
    tampered["data"]["timestamp"] = json!(1);
    expect(call(&app, "POST", "/instruction", tampered.to_string()).await, 403, "unknown_signer");
    let big = format!("{{\"pad\": \"{}\"}}", "a".repeat(5000));
    expect(call(&app, "POST", "/instruction", big).await, 413, "body_too_large");
    let mut cos = fcc_sim_providers::fdc2_instruction(s.tee_id, "cos", EPOCH);
    cos.cosigners_threshold = 1;
    expect(
        call(&app, "POST", "/instruction", vote_json(&s.providers.ps[0], &cos).to_string()).await,
        400,
        "invalid_instruction",
    );

    expect(call(&app, "GET", "/action/result/0x12", Body::empty()).await, 400, "invalid_parameter");
    let id = format!("0x{}", hex::encode(d.instruction_id));
    expect(call(&app, "GET", &format!("/action/result/{id}"), Body::empty()).await, 404, "no_result");
    expect(
        call(&app, "GET", &format!("/action/result/{id}?submissionTag=late"), Body::empty()).await,
        400,
        "invalid_parameter",
    );
    expect(call(&app, "GET", &format!("/action/status/x/{id}"), Body::empty()).await, 400, "invalid_parameter");
    expect(call(&app, "GET", &format!("/action/status/{EPOCH}/{id}"), Body::empty()).await, 404, "unknown_instruction");
    expect(call(&app, "GET", "/nowhere", Body::empty()).await, 404, "no_route");
    expect(call(&app, "DELETE", "/instruction", Body::empty()).await, 405, "method_not_allowed");

    // Nothing was recorded by any of that.
    assert_eq!(s.running.shared.store.counts().await.unwrap().open, 0);
    // The good vote still works.
    let (code, _) = call(&app, "POST", "/instruction", good.to_string()).await;
    assert_eq!(code, 200);
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, fcc_proxy::Config { rate_per_second: 1, rate_burst: 3, ..config() }, 4).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/healthy", s.running.http_addr);
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(client.get(&url).send().await.unwrap().status().as_u16());
    }
    assert_eq!(&codes[..3], &[200, 200, 200]);
    assert!(codes[3..].contains(&429), "{codes:?}");
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    s.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_whose_guest_died_is_delivered_again_and_yields_one_result() {
    let dir2 = tempfile::tempdir().unwrap();
    let store = sqlite(&dir2).await;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let link = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = fcc_proxy::start_with(config(), store.clone(), http, link).await.unwrap();
    let providers = common::Providers::new(20);
    running.shared.add_policy(&providers.policy.encode()).await.unwrap();
    let tee = std::sync::Mutex::new(fcc_proxy_testing::new_tee(CHAIN_ID).unwrap());
    let tee_id = tee.lock().unwrap().state().identity.address();
    let init = fcc_sim_providers::initialize_policy(&providers.ps, &providers.policy).unwrap();
    running.shared.enqueue_direct(&init).await.unwrap();

    // The guest serves the trust root, then dies when handed the instruction: nothing answered.
    let link_addr = running.link_addr;
    let tee = Arc::new(tee);
    let dying = {
        let tee = tee.clone();
        tokio::spawn(async move { connect_once(link_addr, &tee, Mode::DieOnInstruction).await })
    };
    wait_result(store.as_ref(), &init.instruction.instruction_id, Duration::from_secs(20)).await.unwrap();
    let d = fcc_sim_providers::fdc2_instruction(tee_id, "died mid-action", EPOCH);
    let app = fcc_proxy::http::router(running.shared.clone());
    for p in &providers.ps {
        let (code, body) = call(&app, "POST", "/instruction", vote_json(p, &d).to_string()).await;
        assert_eq!(code, 200, "{body}");
    }
    assert_eq!(dying.await.unwrap().unwrap(), 1, "only INITIALIZE_POLICY was answered");
    assert!(store.result(&d.instruction_id).await.unwrap().is_none());

    // The same guest reconnects: the released action is delivered again and answered once.
    let guest = tokio::spawn(async move { connect_once(link_addr, &tee, Mode::Serve).await });
    let r = wait_result(store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    assert_eq!(fcc_sim_providers::result_signer(&r, CHAIN_ID).unwrap(), tee_id);
    assert_eq!(store.counts().await.unwrap().results, 2, "INITIALIZE_POLICY and the instruction");
    let st = store.status(EPOCH, &d.instruction_id).await.unwrap().unwrap();
    assert_eq!((st.state, st.deliveries), ("done", 2));
    running.shutdown().await;
    guest.abort();
}

/// A wallet key generated by the providers' votes, then backed up through the proxy: the TEE's
/// backup is kept and served as Flare's `TEEBackupResponse`, and a provider opens its own split
/// from it with its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_key_is_backed_up_and_served_in_flares_form() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 10).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let admins: Vec<fcc_core::identity::TeeIdentity> =
        (1..=3u8).map(|i| fcc_core::identity::TeeIdentity::from_secret_for_tests(&[0x60 + i; 32]).unwrap()).collect();
    let admin_keys: Vec<[u8; 64]> = admins.iter().map(|a| *a.public_key()).collect();
    let d = fcc_sim_providers::key_generate_instruction(s.tee_id, "wallet key", EPOCH, ([0x22; 32], 1), &admin_keys, 3);
    for p in &s.providers.ps {
        let r = client.post(format!("{base}/instruction")).json(&vote_json(p, &d)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = wait_result(s.running.shared.store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    let proof: Value = serde_json::from_slice(&r.result.data).unwrap();
    let existence = bytes(&proof["keyExistence"]);

    let wallet = format!("0x{}", "22".repeat(32));
    let (code, made) =
        call_json(&client, &format!("{base}/wallet/backup"), json!({"walletId": wallet, "keyId": 1})).await;
    assert_eq!(code, 200, "{made}");
    assert_eq!(made["backupId"]["walletId"], wallet);
    assert_eq!(made["backupId"]["teeId"], format!("0x{}", hex::encode(s.tee_id)));
    // The key's public key, as its existence proof has it (ABI: the 64 bytes at word 13).
    assert_eq!(bytes(&made["backupId"]["publicKey"]), existence[13 * 32..13 * 32 + 64].to_vec());
    let path = made["path"].as_str().unwrap();
    let served: Value = client.get(format!("{base}{path}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(served["backupId"], made["backupId"]);
    let raw = base64::engine::general_purpose::STANDARD.decode(served["walletBackup"].as_str().unwrap()).unwrap();
    let backup: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(backup["ProvidersThreshold"], 666);
    // Provider 0 opens its split with its own key.
    let split = bytes(&backup["ProviderEncryptedParts"]["Splits"][0]);
    let plain = s.providers.ps[0].key.decrypt(&split).unwrap();
    let split: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(split["IsAdmin"], false);
    assert_eq!(split["OwnerPublicKey"]["x"], format!("0x{}", hex::encode(&s.providers.ps[0].key.public_key()[..32])));
    assert_eq!(
        split["Shares"].as_array().unwrap().len() as u64,
        backup["ProviderEncryptedParts"]["Weights"][0].as_u64().unwrap()
    );
    // Served again identically; a key the TEE does not hold is its signed refusal (422); an
    // unknown id is 404; a malformed request 400.
    let again = client.get(format!("{base}{path}")).send().await.unwrap().text().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), served);
    let (code, body) =
        call_json(&client, &format!("{base}/wallet/backup"), json!({"walletId": wallet, "keyId": 2})).await;
    assert_eq!((code, body["error"].as_str()), (422, Some("backup_refused")), "{body}");
    let missing = client.get(format!("{base}/wallet/backup/0x{}", "ab".repeat(32))).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let (code, body) =
        call_json(&client, &format!("{base}/wallet/backup"), json!({"walletId": "0x12", "keyId": 1})).await;
    assert_eq!(code, 400, "{body}");

    // The heartbeat (its success on chain is the devnet's): this test TEE has no registration,
    // so it signs none; a request the TEE would not read is 400 before it reaches the guest, and
    // a backup the proxy does not hold is 404.
    let heartbeat = json!({
        "backup": made["id"], "registry": format!("0x{}", "4b".repeat(20)),
        "extensionId": format!("0x{}", "00".repeat(31) + "01"), "referenceBlock": 9, "referenceHash": format!("0x{}", "99".repeat(32)),
    });
    let (code, body) = call_json(&client, &format!("{base}/wallet/heartbeat"), heartbeat.clone()).await;
    assert_eq!((code, body["error"].as_str()), (422, Some("heartbeat_refused")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("no registration configured"), "{body}");
    let with = |field: &str, value: Value| {
        let mut h = heartbeat.clone();
        h[field] = value;
        h
    };
    for (bad, code) in [
        (json!({"backup": made["id"]}), 400),
        (with("extra", 1.into()), 400),
        (with("referenceHash", format!("0x{}", "00".repeat(32)).into()), 400),
        (with("registry", "0x12".into()), 400),
        (with("backup", format!("0x{}", "ab".repeat(32)).into()), 404),
    ] {
        let (got, body) = call_json(&client, &format!("{base}/wallet/heartbeat"), bad.clone()).await;
        assert_eq!(got, code, "{bad}: {body}");
    }
    s.running.shutdown().await;
}

async fn call_json(client: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let r = client.post(url).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[test]
fn the_openapi_document_lists_every_route() {
    let doc: Value = serde_json::from_str(fcc_proxy::http::OPENAPI).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in fcc_proxy::http::ROUTES {
        assert!(paths.get(*path).and_then(|p| p.get(*method)).is_some(), "{method} {path} missing from openapi.json");
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, fcc_proxy::http::ROUTES.len(), "openapi.json documents a route the router lacks");
}

/// An instruction citing the next epoch before the guest has that policy is refused for now
/// (`PolicyEpochAhead`, retryable): the refusal is not kept as its result; once the policy update
/// reaches the guest, the action delivered again succeeds and that result is kept. An action
/// refused for now too often keeps its refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_for_now_is_delivered_again_and_the_later_success_kept() {
    use fcc_core::policy::PolicyHashScheme;
    let dir = tempfile::tempdir().unwrap();
    let patient = fcc_proxy::Config { retry_ms: 100, max_deliveries: 1_000, ..config() };
    let s = setup(sqlite(&dir).await, patient, 10).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    // The proxy knows epoch EPOCH + 1 (as from the chain); the guest does not yet.
    let next_ps = fcc_sim_providers::providers("next epoch", 10).unwrap();
    let next = fcc_sim_providers::policy(&next_ps, EPOCH + 1).unwrap();
    s.running.shared.add_policy(&next.encode()).await.unwrap();
    let d = fcc_sim_providers::fdc2_instruction(s.tee_id, "cites the next epoch", EPOCH + 1);
    for p in &next_ps {
        let r = client.post(format!("{base}/instruction")).json(&vote_json(p, &d)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // Refused for now, several times; nothing is kept.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.running.shared.metrics.deferred.get() < 2 {
        assert!(std::time::Instant::now() < deadline, "the action was not delivered again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.running.shared.store.result(&d.instruction_id).await.unwrap().is_none(), "a refusal for now was kept");
    // The update arrives; the next delivery succeeds.
    let update = fcc_sim_providers::update_policy(&s.providers.ps, &next_ps, &next, PolicyHashScheme::Legacy).unwrap();
    s.running.shared.enqueue_direct(&update).await.unwrap();
    let r = wait_result(s.running.shared.store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    s.running.shutdown().await;

    // Refused for now at every delivery: after max-deliveries the refusal is the result.
    let dir = tempfile::tempdir().unwrap();
    let impatient = fcc_proxy::Config { retry_ms: 50, max_deliveries: 3, ..config() };
    let s = setup(sqlite(&dir).await, impatient, 10).await;
    let base = format!("http://{}", s.running.http_addr);
    s.running.shared.add_policy(&next.encode()).await.unwrap();
    let d = fcc_sim_providers::fdc2_instruction(s.tee_id, "cites the next epoch", EPOCH + 1);
    for p in &next_ps {
        let r = client.post(format!("{base}/instruction")).json(&vote_json(p, &d)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = wait_result(s.running.shared.store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, status::ERROR);
    assert_eq!(r.result.additional_result_status, 212u16.to_be_bytes(), "{}", r.result.log);
    assert_eq!(s.running.shared.metrics.deferred.get(), 2, "delivered three times, deferred twice");
    s.running.shutdown().await;
}

/// `/metrics` reads its database gauges at most once per `DATABASE_GAUGES_TTL`, however often it
/// is scraped: a client scraping in a loop costs no `COUNT(*)`s, and the gauges catch up after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scrapes_do_not_each_count_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 5).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let scrape = async || client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(scrape().await.contains("fcc_proxy_open_instructions 0\n"));
    // One vote of five: an instruction is open from now on.
    let d = fcc_sim_providers::fdc2_instruction(s.tee_id, "metrics ttl", EPOCH);
    let r = client.post(format!("{base}/instruction")).json(&vote_json(&s.providers.ps[0], &d)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.running.shared.store.counts().await.unwrap().open, 1);
    for _ in 0..20 {
        assert!(scrape().await.contains("fcc_proxy_open_instructions 0\n"), "read again within the TTL");
    }
    tokio::time::sleep(fcc_proxy::metrics::DATABASE_GAUGES_TTL).await;
    assert!(scrape().await.contains("fcc_proxy_open_instructions 1\n"), "read again after it");
    s.running.shutdown().await;
}

/// With a metrics listener of its own (`metrics`), `/metrics` and the status page are served
/// there — and only there: the API's listener answers them 404, the metrics listener nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_a_listener_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = fcc_proxy::Config { metrics: Some("127.0.0.1:0".parse().unwrap()), ..config() };
    let s = setup(sqlite(&dir).await, config, 3).await;
    let metrics = s.running.metrics_addr.expect("a metrics listener");
    assert_ne!(metrics, s.running.http_addr);
    let client = reqwest::Client::new();
    let get = async |addr: std::net::SocketAddr, path: &str| {
        let r = client.get(format!("http://{addr}{path}")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (code, body) = get(metrics, "/metrics").await;
    assert_eq!(code, 200);
    assert!(body.contains("fcc_proxy_build_info{") && body.contains("fcc_proxy_guests_connected 1"), "{body}");
    assert_eq!(get(s.running.http_addr, "/metrics").await.0, 404, "the API does not answer scrapes");
    assert_eq!(get(metrics, "/info").await.0, 404, "the metrics listener serves /metrics and /status only");
    // The status page goes with the metrics.
    for path in ["/status", "/status/status.js", "/status/data"] {
        assert_eq!(get(metrics, path).await.0, 200, "{path}");
        assert_eq!(get(s.running.http_addr, path).await.0, 404, "{path} on the API's listener");
    }
    assert_eq!(get(s.running.http_addr, "/info").await.0, 200);
    s.running.shutdown().await;
}

/// The status page's data: the served TEE, its trusted epoch (the trust root's, then raised by
/// each policy update it answers), queue depth and the last actions with their times; the page
/// and its script are served as they are, under a policy that runs no other script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_data_shows_the_tee_its_policy_the_queue_and_recent_actions() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 3).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let data = async || -> Value {
        // Past the data's cache, so each read is the database's state now.
        tokio::time::sleep(fcc_proxy::http::status::DATA_TTL).await;
        client.get(format!("{base}/status/data")).send().await.unwrap().json().await.unwrap()
    };
    let first = data().await;
    assert_eq!(first["tee"]["teeId"], format!("0x{}", hex::encode(s.tee_id)));
    assert_eq!(first["tee"]["platform"], "Plain");
    assert_eq!(first["guestsConnected"], 1);
    assert_eq!(first["attestation"], json!({ "checked": false }));
    assert_eq!(
        (first["policy"]["trustedEpoch"].as_u64(), first["policy"]["latestEpoch"].as_u64()),
        (Some(EPOCH.into()), Some(EPOCH.into()))
    );
    assert_eq!(first["policy"]["source"], "trust root");
    assert_eq!(first["proxy"]["address"], format!("0x{}", hex::encode(s.running.shared.proxy_address)));
    let init = &first["recent"][0];
    assert_eq!(
        (init["op"].as_str(), init["kind"].as_str(), init["state"].as_str()),
        (Some("F_POLICY/INITIALIZE_POLICY"), Some("direct"), Some("done"))
    );

    // An instruction: voted, queued, executed; listed first with its three times in order.
    let d = fcc_sim_providers::fdc2_instruction(s.tee_id, "status page", EPOCH);
    for p in &s.providers.ps {
        assert_eq!(
            client.post(format!("{base}/instruction")).json(&vote_json(p, &d)).send().await.unwrap().status(),
            200
        );
    }
    wait_result(s.running.shared.store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    let after = data().await;
    let top = &after["recent"][0];
    assert_eq!(top["id"], format!("0x{}", hex::encode(d.instruction_id)));
    assert_eq!(
        (top["op"].as_str(), top["kind"].as_str(), top["state"].as_str()),
        (Some("F_FDC2/PROVE"), Some("instruction"), Some("done"))
    );
    assert_eq!((top["status"].as_u64(), top["deliveries"].as_u64()), (Some(status::SUCCESS.into()), Some(1)));
    let t = |k: &str| top[k].as_i64().unwrap_or_else(|| panic!("{k} in {top}"));
    assert!(
        t("openedMs") <= t("queuedMs")
            && t("queuedMs") <= t("resultMs")
            && t("resultMs") <= after["now"].as_i64().unwrap()
    );
    assert_eq!(after["queue"], json!({ "open": 0, "pending": 0, "results": 2 }));

    // A policy update the TEE answers raises its trusted epoch; the latest known moves first.
    let next = fcc_sim_providers::policy(&s.providers.ps, EPOCH + 1).unwrap();
    s.running.shared.add_policy(&next.encode()).await.unwrap();
    let update = fcc_sim_providers::update_policy(
        &s.providers.ps,
        &s.providers.ps,
        &next,
        fcc_core::policy::PolicyHashScheme::Legacy,
    )
    .unwrap();
    s.running.shared.enqueue_direct(&update).await.unwrap();
    let r = wait_result(s.running.shared.store.as_ref(), &update.instruction.instruction_id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    let updated = data().await;
    assert_eq!(updated["policy"]["trustedEpoch"].as_u64(), Some(u64::from(EPOCH) + 1));
    assert_eq!(updated["policy"]["latestEpoch"].as_u64(), Some(u64::from(EPOCH) + 1));

    let page = client.get(format!("{base}/status")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(page.text().await.unwrap(), fcc_proxy::http::status::PAGE);
    let script = client.get(format!("{base}/status/status.js")).send().await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.text().await.unwrap(), fcc_proxy::http::status::SCRIPT);
    s.running.shutdown().await;
}

/// The latest policy epoch, checked on every vote, is read once per `LATEST_EPOCH_TTL`: a policy
/// another proxy adds to a shared database is seen within it, one added through this proxy at
/// once.
#[tokio::test]
async fn the_latest_epoch_is_read_again_after_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 4).await;
    let shared = &s.running.shared;
    assert_eq!(shared.latest_epoch().await.unwrap(), Some(EPOCH));
    let next = fcc_sim_providers::policy(&s.providers.ps, EPOCH + 1).unwrap();
    shared.store.put_policy(EPOCH + 1, &next.encode()).await.unwrap();
    assert_eq!(shared.latest_epoch().await.unwrap(), Some(EPOCH), "read less than a TTL ago");
    tokio::time::sleep(fcc_proxy::state::LATEST_EPOCH_TTL).await;
    assert_eq!(shared.latest_epoch().await.unwrap(), Some(EPOCH + 1));
    let later = fcc_sim_providers::policy(&s.providers.ps, EPOCH + 2).unwrap();
    shared.add_policy(&later.encode()).await.unwrap();
    assert_eq!(shared.latest_epoch().await.unwrap(), Some(EPOCH + 2), "added here: seen at once");
    s.running.shutdown().await;
}
