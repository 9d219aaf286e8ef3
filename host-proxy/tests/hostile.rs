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

/// The proxy on loopback over a SQLite store in `dir` (its store returned beside it for checks).
async fn start(dir: &tempfile::TempDir, config: fcc_proxy::Config) -> (Arc<dyn Store>, fcc_proxy::Running) {
    let store = sqlite(dir).await;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let link = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = fcc_proxy::start_with(config, store.clone(), http, link).await.unwrap();
    (store, running)
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
    common::announce(s.running.shared.store.as_ref(), &d, 5).await;

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

/// Raw HTTP/1.1 on a new connection: `head` (request line and headers, without the blank line)
/// then `body` parts with `pause` between them, written while the answer is read; returns the
/// status code as soon as the status line arrives, or `None` when the proxy closed the
/// connection without an answer.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &[&'static [u8]], pause: Duration) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(format!("{head}\r\n\r\n").as_bytes()).await.ok()?;
    let parts: Vec<&'static [u8]> = body.to_vec();
    let writer = tokio::spawn(async move {
        for part in parts {
            tokio::time::sleep(pause).await;
            if wr.write_all(part).await.is_err() {
                break;
            }
        }
        wr
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Slow bodies: a body trickled in slower than `request-timeout-ms` gets 408 while other
/// clients are served; a body the client stops sending is 400 `incomplete_body`, not 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_abandoned_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = fcc_proxy::Config { header_timeout_ms: 200, request_timeout_ms: 600, ..config() };
    let s = setup(sqlite(&dir).await, config, 4).await;
    let addr = s.running.http_addr;
    let head = "POST /instruction HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100";
    let started = std::time::Instant::now();
    let trickle = tokio::spawn(async move { raw(addr, head, &[&b"{"[..]; 20], Duration::from_millis(100)).await });
    // Meanwhile the API answers others.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let healthy = reqwest::get(format!("http://{addr}/healthy")).await.unwrap();
    assert_eq!(healthy.status(), 200);
    assert_eq!(trickle.await.unwrap(), Some(408));
    assert!(started.elapsed() < Duration::from_secs(3), "cut off after {:?}", started.elapsed());

    // Ten bytes of a hundred, then the client's half of the connection closes.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("{head}\r\n\r\n{{\"data\": 1").as_bytes()).await.unwrap();
    c.shutdown().await.unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("incomplete_body"), "{answer}");
    s.running.shutdown().await;
}

/// One client holds at most `max-connections-per-client` connections: the next is closed at
/// once, and a slot is free again when one of its connections ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let config = fcc_proxy::Config { max_connections_per_client: 3, ..config() };
    let s = setup(sqlite(&dir).await, config, 4).await;
    let addr = s.running.http_addr;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(raw(addr, "GET /healthy HTTP/1.1\r\nHost: x", &[], Duration::ZERO).await, None, "a fourth connection");
    drop(idle.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        raw(addr, "GET /healthy HTTP/1.1\r\nHost: x\r\nConnection: close", &[], Duration::ZERO).await,
        Some(200)
    );
    s.running.shutdown().await;
}

/// Behind a trusted reverse proxy each forwarded client has its own rate bucket; from anyone
/// else `X-Forwarded-For` is ignored (all of it is one client: the peer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_clients_are_rate_limited_apart_only_behind_a_trusted_proxy() {
    let client = reqwest::Client::new();
    let get = async |base: &str, forwarded: &str| {
        let r = client.get(format!("{base}/healthy")).header("x-forwarded-for", forwarded).send().await.unwrap();
        r.status().as_u16()
    };
    for trusted in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = fcc_proxy::Config {
            rate_per_second: 1,
            rate_burst: 2,
            trusted_proxies: if trusted { vec!["127.0.0.1".parse().unwrap()] } else { vec![] },
            ..config()
        };
        let s = setup(sqlite(&dir).await, config, 4).await;
        let base = format!("http://{}", s.running.http_addr);
        let first: Vec<u16> = [get(&base, "198.51.100.1").await, get(&base, "198.51.100.1").await].into();
        assert_eq!(first, [200, 200]);
        assert_eq!(get(&base, "198.51.100.1").await, 429, "trusted {trusted}: the bucket is empty");
        let other = get(&base, "1.2.3.4, 198.51.100.2").await;
        assert_eq!(other, if trusted { 200 } else { 429 }, "trusted {trusted}: another forwarded client");
        s.running.shutdown().await;
    }
}

/// A guest link that is given an instruction and never answers is closed when its lease is up
/// (it does not hold a link slot for ever), and the action goes to the next connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_never_answers_is_closed_when_its_lease_is_up() {
    use fcc_proxy_testing::{Mode, connect_once};
    let dir = tempfile::tempdir().unwrap();
    let (store, running) = start(&dir, fcc_proxy::Config { lease_ms: 500, ..config() }).await;
    let providers = common::Providers::new(10);
    running.shared.add_policy(&providers.policy.encode()).await.unwrap();
    let tee = Arc::new(std::sync::Mutex::new(fcc_proxy_testing::new_tee(common::CHAIN_ID).unwrap()));
    let tee_id = tee.lock().unwrap().state().identity.address();
    let init = fcc_sim_providers::initialize_policy(&providers.ps, &providers.policy).unwrap();
    running.shared.enqueue_direct(&init).await.unwrap();
    let link_addr = running.link_addr;
    let hanging = {
        let tee = tee.clone();
        tokio::spawn(async move { connect_once(link_addr, &tee, Mode::HangOnInstruction).await })
    };
    wait_result(store.as_ref(), &init.instruction.instruction_id, Duration::from_secs(20)).await.unwrap();
    let d = fcc_sim_providers::fdc2_instruction(tee_id, "hangs", EPOCH);
    let client = reqwest::Client::new();
    let base = format!("http://{}", running.http_addr);
    for p in &providers.ps {
        assert_eq!(post(&client, &base, &vote_json(p, &d)).await.0, 200);
    }
    let closed = tokio::time::timeout(Duration::from_secs(5), hanging).await;
    assert!(closed.is_ok(), "the proxy kept a silent link open past its lease");
    let guest = tokio::spawn(async move { connect_once(link_addr, &tee, Mode::Serve).await });
    let r = wait_result(store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, fcc_core::result::status::SUCCESS, "{}", r.result.log);
    running.shutdown().await;
    guest.abort();
}

/// A voter cannot fill the open slots for good: what it opened and nobody completed expires
/// after `open-ttl-ms` and genuine instructions find room again; an instruction citing an epoch
/// the guest no longer accepts is refused at the door (410 `stale_epoch`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_slots_free_up_and_stale_epochs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = fcc_proxy::Config { max_open: 4, open_ttl_ms: 400, ..config() };
    let s = setup(sqlite(&dir).await, config, 10).await;
    let base = format!("http://{}", s.running.http_addr);
    let client = reqwest::Client::new();
    let rogue = &s.providers.ps[9];
    for i in 0..4 {
        let junk = fcc_sim_providers::fdc2_instruction(s.tee_id, &format!("junk {i}"), EPOCH);
        assert_eq!(post(&client, &base, &vote_json(rogue, &junk)).await.0, 200);
    }
    let genuine = fcc_sim_providers::fdc2_instruction(s.tee_id, "genuine after junk", EPOCH);
    let (code, body) = post(&client, &base, &vote_json(&s.providers.ps[0], &genuine)).await;
    assert_eq!((code, body["error"].as_str()), (503, Some("queue_full")), "{body}");
    // The junk expires; the genuine instruction gets in and is executed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _) = post(&client, &base, &vote_json(&s.providers.ps[0], &genuine)).await;
        if code == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the junk never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for p in &s.providers.ps[1..] {
        assert_eq!(post(&client, &base, &vote_json(p, &genuine)).await.0, 200);
    }
    let r =
        wait_result(s.running.shared.store.as_ref(), &genuine.instruction_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.result.status, fcc_core::result::status::SUCCESS, "{}", r.result.log);
    assert!(s.running.shared.metrics.expired.get() >= 4);

    // A policy two epochs on: EPOCH is no longer accepted by the guest, nor at the door.
    let later = fcc_sim_providers::policy(&s.providers.ps, EPOCH + 2).unwrap();
    s.running.shared.add_policy(&later.encode()).await.unwrap();
    let old = fcc_sim_providers::fdc2_instruction(s.tee_id, "too old", EPOCH);
    let (code, body) = post(&client, &base, &vote_json(&s.providers.ps[0], &old)).await;
    assert_eq!((code, body["error"].as_str()), (410, Some("stale_epoch")), "{body}");
    s.running.shutdown().await;
}

/// Reads proxy frames from `s` until one decodes (or the proxy closes: `None`).
async fn next_proxy_message(
    s: &mut tokio::net::TcpStream,
    reader: &mut fcc_core::wire::FrameReader,
) -> Option<fcc_core::wire::ProxyMessage> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(body) = reader.next_body().ok()? {
            return fcc_core::wire::decode_body(&body).ok();
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        reader.push(&buf[..n]).ok()?;
    }
}

/// A Hello that is not signed for this connection's challenge — the served TEE's greeting as
/// `GET /info` shows it, signed for another connection — is refused: the link is closed before
/// the impostor gets anything, and the served TEE stays the served TEE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_hello_does_not_make_anyone_the_tee() {
    use fcc_core::wire::{GuestMessage, ProxyMessage, encode_frame};
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let s = setup(sqlite(&dir).await, config(), 4).await;
    // The genuine TEE's greeting, signed for some other challenge.
    let replayed = s.tee.lock().unwrap().hello(&mut fcc_core::attester::Simulated, &[0x99; 32]).unwrap();
    let mut link = tokio::net::TcpStream::connect(s.running.link_addr).await.unwrap();
    let mut reader = fcc_core::wire::FrameReader::new();
    let Some(ProxyMessage::Challenge { nonce }) = next_proxy_message(&mut link, &mut reader).await else {
        panic!("the proxy speaks first with a challenge")
    };
    assert_ne!(nonce, [0x99; 32]);
    link.write_all(&encode_frame(&GuestMessage::Hello(replayed)).unwrap()).await.unwrap();
    link.write_all(&encode_frame(&GuestMessage::Pull { max_actions: 4 }).unwrap()).await.unwrap();
    assert_eq!(next_proxy_message(&mut link, &mut reader).await, None, "closed without an answer");
    assert_eq!(s.running.shared.metrics.links_refused.get(), 1);
    assert_eq!(s.running.shared.sessions.tee().await.unwrap().tee_id, s.tee_id);
    s.running.shutdown().await;
}

/// Another TEE key on the link. Pinned (`tee-id`): refused outright. Not pinned: it may connect
/// (it holds its own key), but it takes nothing from the served TEE — votes for the served TEE
/// are still accepted, its instructions go to its own link only, and the sealed-state file
/// stays the served TEE's (the other's state goes beside it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tee_key_takes_nothing_from_the_served_tee() {
    use fcc_core::seal::SealingKey;
    use fcc_proxy_testing::{Mode, connect_once};
    let tee_config = fcc_core::Config {
        chain_id: common::CHAIN_ID,
        policy_hash: fcc_core::policy::PolicyHashScheme::Legacy,
        registration: None,
    };
    let sealing_tee = || {
        fcc_core::tee::Tee::new(tee_config, &mut rand::rng(), fcc_core::ops::Registry::system())
            .unwrap()
            .with_sealing(SealingKey::simulated(&tee_config))
    };
    for pinned in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let sealed_file = dir.path().join("sealed.bin");
        let providers = common::Providers::new(10);
        let real = Arc::new(std::sync::Mutex::new(sealing_tee()));
        let real_id = real.lock().unwrap().state().identity.address();
        let config = fcc_proxy::Config {
            tee_id: pinned.then_some(real_id),
            sealed_state: Some(sealed_file.clone()),
            ..config()
        };
        let (store, running) = start(&dir, config).await;
        running.shared.add_policy(&providers.policy.encode()).await.unwrap();
        let init = fcc_sim_providers::initialize_policy(&providers.ps, &providers.policy).unwrap();
        running.shared.enqueue_direct(&init).await.unwrap();
        let guest = fcc_proxy_testing::spawn_guest(running.link_addr, real.clone());
        wait_result(store.as_ref(), &init.instruction.instruction_id, Duration::from_secs(20)).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&sealed_file).unwrap().len() == 0 {
            assert!(std::time::Instant::now() < deadline, "the real TEE's state was not kept");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let real_state = std::fs::read(&sealed_file).unwrap();

        // The other key connects (and, unpinned, is replayed the trust root and seals).
        let other = std::sync::Mutex::new(sealing_tee());
        let other_id = other.lock().unwrap().state().identity.address();
        let link_addr = running.link_addr;
        let other_link = tokio::spawn(async move { connect_once(link_addr, &other, Mode::Serve).await });
        if pinned {
            let handled = tokio::time::timeout(Duration::from_secs(5), other_link).await.unwrap().unwrap();
            assert!(matches!(handled, Ok(0) | Err(_)), "the other TEE got work: {handled:?}");
            assert_eq!(running.shared.metrics.links_refused.get(), 1);
        } else {
            // It authenticates and becomes the TEE `GET /info` shows…
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while running.shared.sessions.tee().await.unwrap().tee_id != other_id {
                assert!(std::time::Instant::now() < deadline, "the other TEE did not connect");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // …but a state it seals goes beside the file the VM boots from.
            running.shared.sessions.keep_sealed(other_id, vec![1, 2, 3], None).await;
            let side = dir.path().join(format!("sealed.bin.0x{}", hex::encode(other_id)));
            assert_eq!(std::fs::read(&side).unwrap(), vec![1, 2, 3]);
            other_link.abort();
        }
        assert_eq!(std::fs::read(&sealed_file).unwrap(), real_state, "pinned {pinned}: the file was overwritten");

        // Votes for the served TEE are accepted and its instruction is executed by it.
        let d = fcc_sim_providers::fdc2_instruction(real_id, "for the real TEE", EPOCH);
        let client = reqwest::Client::new();
        let base = format!("http://{}", running.http_addr);
        for p in &providers.ps {
            let (code, body) = post(&client, &base, &vote_json(p, &d)).await;
            assert_eq!(code, 200, "pinned {pinned}: {body}");
        }
        let r = wait_result(store.as_ref(), &d.instruction_id, Duration::from_secs(20)).await.unwrap();
        assert_eq!(fcc_sim_providers::result_signer(&r, common::CHAIN_ID).unwrap(), real_id);
        // Votes for a TEE that never connected here are refused.
        let stray = fcc_sim_providers::fdc2_instruction([0x77; 20], "for nobody", EPOCH);
        let (code, body) = post(&client, &base, &vote_json(&providers.ps[0], &stray)).await;
        assert_eq!((code, body["error"].as_str()), (400, Some("wrong_tee")), "{body}");
        guest.abort();
        running.shutdown().await;
    }
}

/// Issue 21 item 8: a malicious guest on the link — an oversized frame, a result for an id it was
/// not given, a result for its action signed by another key — has its link closed with a typed
/// reason (`links_closed{reason}`), nothing it sent is stored, and the action it held goes back
/// to the queue: the honest guest answers it next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_guest_is_cut_off_and_nothing_it_sends_is_stored() {
    use fcc_core::result::SignedResult;
    use fcc_core::wire::{GuestMessage, ProxyMessage, encode_frame};
    use fcc_proxy_testing::{Mode, connect_once};
    use tokio::io::AsyncWriteExt;
    for (label, attack) in [("bad_frame", 0), ("foreign_result", 1), ("wrong_signer", 2)] {
        let dir = tempfile::tempdir().unwrap();
        let (store, running) = start(&dir, config()).await;
        let providers = common::Providers::new(4);
        running.shared.add_policy(&providers.policy.encode()).await.unwrap();
        let tee = Arc::new(std::sync::Mutex::new(fcc_proxy_testing::new_tee(common::CHAIN_ID).unwrap()));
        let init = fcc_sim_providers::initialize_policy(&providers.ps, &providers.policy).unwrap();
        let id = init.instruction.instruction_id;
        running.shared.enqueue_direct(&init).await.unwrap();

        // The malicious guest holds the TEE's key (its Hello is genuine) but lies afterwards.
        let mut s = tokio::net::TcpStream::connect(running.link_addr).await.unwrap();
        let mut reader = fcc_core::wire::FrameReader::new();
        let Some(ProxyMessage::Challenge { nonce }) = next_proxy_message(&mut s, &mut reader).await else {
            panic!("the proxy speaks first with a challenge")
        };
        let hello = tee.lock().unwrap().hello(&mut fcc_core::attester::Simulated, &nonce).unwrap();
        s.write_all(&encode_frame(&GuestMessage::Hello(hello)).unwrap()).await.unwrap();
        s.write_all(&encode_frame(&GuestMessage::Pull { max_actions: 4 }).unwrap()).await.unwrap();
        let Some(ProxyMessage::Actions(actions)) = next_proxy_message(&mut s, &mut reader).await else {
            panic!("the queued action is delivered")
        };
        assert_eq!(actions[0].instruction.instruction_id, id);
        let honest: SignedResult = tee.lock().unwrap().handle(&actions[0], &mut fcc_core::attester::Simulated);
        let lie = match attack {
            0 => (fcc_core::limits::MAX_FRAME_LEN as u32 + 1).to_be_bytes().to_vec(),
            1 => {
                // Signed by the TEE, for another id.
                let mut other = actions[0].clone();
                other.instruction.instruction_id = [0xee; 32];
                let r = tee.lock().unwrap().handle(&other, &mut fcc_core::attester::Simulated);
                encode_frame(&GuestMessage::Result(r)).unwrap()
            }
            _ => {
                // The honest result's fields, signed by another key.
                let stranger = fcc_core::identity::TeeIdentity::from_secret_for_tests(&[0x42; 32]).unwrap();
                let mut r = honest.clone();
                r.signature = stranger.sign_digest(&r.result.signing_digest(common::CHAIN_ID));
                encode_frame(&GuestMessage::Result(r)).unwrap()
            }
        };
        s.write_all(&lie).await.unwrap();
        assert_eq!(next_proxy_message(&mut s, &mut reader).await, None, "{label}: the link is closed");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let closed =
            |r: &str| running.shared.metrics.links_closed.get_or_create(&vec![("reason".into(), r.into())]).get();
        while closed(label) == 0 {
            assert!(std::time::Instant::now() < deadline, "{label}: not counted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(store.result(&id).await.unwrap().is_none(), "{label}: nothing stored");
        assert!(store.result(&[0xee; 32]).await.unwrap().is_none(), "{label}: nothing stored for the foreign id");
        let metrics =
            reqwest::get(format!("http://{}/metrics", running.http_addr)).await.unwrap().text().await.unwrap();
        assert!(metrics.contains(&format!("links_closed_total{{reason=\"{label}\"}} 1")), "{metrics}");

        // The action went back to the queue: the honest guest (a fresh TEE) answers it.
        let fresh = Arc::new(std::sync::Mutex::new(fcc_proxy_testing::new_tee(common::CHAIN_ID).unwrap()));
        let link_addr = running.link_addr;
        let guest = tokio::spawn(async move { connect_once(link_addr, &fresh, Mode::Serve).await });
        let r = wait_result(store.as_ref(), &id, Duration::from_secs(20)).await.unwrap();
        assert_eq!(r.result.status, fcc_core::result::status::SUCCESS, "{label}: {}", r.result.log);
        running.shutdown().await;
        guest.abort();
    }
}

/// Issue 21 item 2, the proxy's side: a guest whose replay memory is full refuses new
/// instructions with `ReplayFull` (retryable) until a policy rotation frees room — possibly days.
/// The proxy keeps such an instruction however many deliveries it takes (here five, with
/// `max-deliveries` 2), and stores the result once the guest executes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instruction_refused_for_a_full_replay_memory_is_kept_until_executed() {
    use fcc_core::result::{ActionResult, SignedResult, SubmissionTag, status};
    use fcc_core::wire::{GuestMessage, ProxyMessage, encode_frame};
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let (store, running) = start(&dir, fcc_proxy::Config { retry_ms: 50, max_deliveries: 2, ..config() }).await;
    let providers = common::Providers::new(4);
    running.shared.add_policy(&providers.policy.encode()).await.unwrap();
    let mut tee = fcc_proxy_testing::new_tee(common::CHAIN_ID).unwrap();
    let tee_id = tee.state().identity.address();
    let init = fcc_sim_providers::initialize_policy(&providers.ps, &providers.policy).unwrap();
    running.shared.enqueue_direct(&init).await.unwrap();

    let mut s = tokio::net::TcpStream::connect(running.link_addr).await.unwrap();
    let mut reader = fcc_core::wire::FrameReader::new();
    let Some(ProxyMessage::Challenge { nonce }) = next_proxy_message(&mut s, &mut reader).await else {
        panic!("the proxy speaks first with a challenge")
    };
    let hello = tee.hello(&mut fcc_core::attester::Simulated, &nonce).unwrap();
    s.write_all(&encode_frame(&GuestMessage::Hello(hello)).unwrap()).await.unwrap();
    let answer = |r: SignedResult| {
        let mut bytes = encode_frame(&GuestMessage::Result(r)).unwrap();
        bytes.extend(encode_frame(&GuestMessage::Pull { max_actions: 1 }).unwrap());
        bytes
    };
    s.write_all(&encode_frame(&GuestMessage::Pull { max_actions: 1 }).unwrap()).await.unwrap();
    let mut next_actions = async |s: &mut tokio::net::TcpStream| loop {
        match next_proxy_message(s, &mut reader).await {
            Some(ProxyMessage::Actions(a)) if !a.is_empty() => return a,
            Some(_) => {}
            None => panic!("the proxy closed the link"),
        }
    };
    let a = next_actions(&mut s).await;
    let r = tee.handle(&a[0], &mut fcc_core::attester::Simulated);
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    s.write_all(&answer(r)).await.unwrap();

    let d = fcc_sim_providers::fdc2_instruction(tee_id, "waits for room", EPOCH);
    let client = reqwest::Client::new();
    let base = format!("http://{}", running.http_addr);
    for p in &providers.ps {
        assert_eq!(post(&client, &base, &vote_json(p, &d)).await.0, 200);
    }
    let full = fcc_core::Error::ReplayFull { capacity: fcc_core::limits::REPLAY_CAPACITY };
    for _ in 0..5 {
        let a = next_actions(&mut s).await;
        assert_eq!(a[0].instruction.instruction_id, d.instruction_id, "delivered again");
        let mut refusal = ActionResult {
            id: d.instruction_id,
            submission_tag: SubmissionTag::Refused,
            status: status::ERROR,
            log: full.to_string(),
            op_type: d.op_type,
            op_command: d.op_command,
            additional_result_status: full.code().to_be_bytes().to_vec(),
            version: "test".into(),
            data: vec![],
        };
        refusal.log.truncate(fcc_core::limits::MAX_REASON_LEN);
        let signature = tee.state().identity.sign_digest(&refusal.signing_digest(common::CHAIN_ID));
        s.write_all(&answer(SignedResult { result: refusal, signature })).await.unwrap();
    }
    assert!(store.result(&d.instruction_id).await.unwrap().is_none(), "a refusal for now is no result");
    // Room again: the guest executes it.
    let a = next_actions(&mut s).await;
    let r = tee.handle(&a[0], &mut fcc_core::attester::Simulated);
    s.write_all(&answer(r)).await.unwrap();
    let stored = wait_result(store.as_ref(), &d.instruction_id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(stored.result.status, status::SUCCESS, "{}", stored.result.log);
    assert!(running.shared.metrics.deferred.get() >= 5);
    running.shutdown().await;
}
