//! The real guest ROM in QEMU behind the real host proxy (`fcc-proxy`): simulated data providers
//! post their signed votes over HTTP, the proxy aggregates them until the policy's threshold,
//! queues one action, the guest verifies every signature and signs, and the result is fetched
//! from `GET /action/result/{id}`; its signature is recovered independently (libsecp256k1) and
//! must name the TEE id of the guest's READY line.
//!
//! Faults: the proxy binary killed with SIGKILL mid-flight and restarted on its SQLite file; the
//! guest (QEMU) killed mid-action and booted again with a new identity, or from its sealed state
//! as the same TEE; a proxy forwarding a
//! below-threshold instruction anyway; a malicious proxy altering an instruction. And a policy
//! rotation mid-run: the proxy follows DevRelay on anvil and turns `SigningPolicyInitialized`
//! into `UPDATE_POLICY` for the guest. What
//! `guest_link.rs` already covers with its hand-written test proxy (malformed frames, a dropped
//! connection before the result is read) is not repeated here.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use fcc_core::instruction::InstructionData;
use fcc_core::result::status;
use fcc_devnet::process::{Api, ProxyCommand, ProxyProcess, free_port};
use fcc_e2e::flare::{self, CHAIN_ID, EPOCH, client, post_votes, signed_by, trust_root};
use fcc_e2e::proxy::TestProxy;
use fcc_e2e::stack::{InProcess, test_config};
use fcc_e2e::{TIMEOUT, boot_networked, boot_ready, run_checked};
use fcc_layout::interface::{HANDLED_PREFIX, SEALED_PREFIX};
use fcc_proxy::store::{SqliteStore, Store};

/// Waits for results this long (100-signature verifications under TCG on a loaded machine).
const RESULT_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn votes_over_http_reach_the_threshold_and_the_guest_signs_and_below_threshold_is_held_then_refused() {
    let proxy = InProcess::start(test_config(CHAIN_ID)).unwrap();
    let ps = flare::providers(100).unwrap();
    let policy = flare::policy(&ps).unwrap();
    let shared = proxy.running().shared.clone();
    let init = proxy.block_on(trust_root(shared.store.as_ref(), &ps, "e2e trust root")).unwrap();
    let (mut guest, tee) = boot_networked(proxy.link_port());
    let api = proxy.api.clone();
    run_checked(&mut guest, |_guest| {
        proxy.block_on(async {
            let (r, _) = api.wait_result(&init.instruction.instruction_id, RESULT_TIMEOUT).await?;
            ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
            let info = api.wait_info(TIMEOUT).await?;
            let tee_hex = format!("0x{}", hex::encode(tee));
            ensure!(info["teeId"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&tee_hex)), "/info: {info}");

            // Happy path: 100 voters, each posting one signature.
            let d = flare::fdc2_instruction(tee, "e2e proxy fdc2 #1");
            let all: Vec<usize> = (0..ps.len()).collect();
            let t = Instant::now();
            post_votes(&api, &ps, &all, &d).await?;
            let posted = t.elapsed();
            let (r, body) = api.wait_result(&d.instruction_id, RESULT_TIMEOUT).await?;
            eprintln!("100 votes posted in {posted:?}; result after {:?}", t.elapsed());
            ensure!(r.result.status == status::SUCCESS, "PROVE refused: {}", r.result.log);
            ensure!(r.result.id == d.instruction_id && !r.result.data.is_empty(), "{body}");
            signed_by(&r, tee)?;
            ensure!(body["proxySignature"].as_str().is_some_and(|s| s.len() == 2 + 130), "{body}");
            let st = api.status(EPOCH, &d.instruction_id).await?.context("status")?;
            ensure!(st["state"] == "done" && st["votes"] == 100, "{st}");

            // Below the threshold: the proxy holds it (never queued; the answer says how far it got).
            let (signers, weight) = flare::below_threshold(&policy);
            let low = flare::fdc2_instruction(tee, "e2e proxy fdc2 below threshold");
            post_votes(&api, &ps, &signers, &low).await?;
            let st = api.status(EPOCH, &low.instruction_id).await?.context("status")?;
            eprintln!("below threshold, the proxy's answer: {st}");
            ensure!(st["state"] == "collecting", "{st}");
            ensure!(st["weight"] == weight && st["threshold"] == u64::from(policy.threshold()), "{st}");
            ensure!(st["deliveries"] == 0, "{st}");
            // The guest stays idle: after the happy path's round trip time again, still no result.
            tokio::time::sleep(t.elapsed().min(Duration::from_secs(5))).await;
            ensure!(api.result(&low.instruction_id).await?.is_none(), "a below-threshold instruction got a result");

            // A proxy that forwards it anyway (its database edited): the guest refuses it with the
            // reason, signed, and the proxy stores and serves that refusal.
            let forced = flare::signed(&ps, &signers, low.clone())?;
            shared.store.enqueue_direct(&forced, 0).await?;
            shared.work.notify_waiters();
            let (r, _) = api.wait_result(&low.instruction_id, RESULT_TIMEOUT).await?;
            eprintln!(
                "forwarded anyway, the guest's answer: {} ({:?})",
                r.result.log, r.result.additional_result_status
            );
            ensure!(r.result.status == status::ERROR, "a below-threshold instruction was executed");
            ensure!(r.result.log.contains(&format!("signed weight {weight} ")), "reason: {}", r.result.log);
            ensure!(
                r.result.additional_result_status == 307u16.to_be_bytes(),
                "{:?}",
                r.result.additional_result_status
            );
            signed_by(&r, tee)?;
            Ok(())
        })
    });
}

#[test]
fn proxy_killed_with_sigkill_mid_flight_and_restarted_loses_nothing() {
    const N: usize = 6;
    let bin = ProxyCommand::new(env!("CARGO_BIN_EXE_fcc-e2e-proxy"), None);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("proxy.db").display());
    let log = dir.path().join("proxy.log");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ps = flare::providers(100).unwrap();
    let init = rt
        .block_on(async {
            let store = SqliteStore::open(&db).await?;
            trust_root(&store, &ps, "e2e crash trust root").await
        })
        .unwrap();
    // Fixed ports: the guest reconnects to the same link address after the restart.
    let (http, link) = (free_port().unwrap(), free_port().unwrap());
    let args: Vec<String> = [
        "--database",
        &db,
        "--http",
        &format!("127.0.0.1:{http}"),
        "--link",
        &format!("127.0.0.1:{link}"),
        "--chain-id",
        &CHAIN_ID.to_string(),
        "--lease-ms",
        "3000",
        "--rate-per-second",
        "1000000",
        "--rate-burst",
        "1000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = [("RUST_LOG", "info".to_string()), ("FCC_PROXY_KEY", format!("0x{}", "5a".repeat(32)))];
    let mut proxy = ProxyProcess::spawn(&bin, &args, &env, &log).unwrap();
    let (mut guest, tee) = boot_networked(link);
    let api = Api::new(proxy.http);
    run_checked(&mut guest, |guest| {
        rt.block_on(async {
            api.wait_result(&init.instruction.instruction_id, RESULT_TIMEOUT).await?;
            let ds: Vec<InstructionData> =
                (0..N).map(|i| flare::fdc2_instruction(tee, &format!("e2e crash #{i}"))).collect();
            let all: Vec<usize> = (0..ps.len()).collect();
            // The second half only partly voted; then the first half fully voted, the proxy
            // killed right after the last vote: those are queued, in the guest or answered.
            for d in &ds[N / 2..] {
                post_votes(&api, &ps, &all[..30], d).await?;
            }
            for d in &ds[..N / 2] {
                post_votes(&api, &ps, &all, d).await?;
            }
            proxy.kill9()?;
            eprintln!("fcc-proxy (pid {}) killed with SIGKILL right after the last vote", proxy.pid());
            Ok::<_, anyhow::Error>(())
        })?;
        guest.wait_for(fcc_layout::interface::LINK_CLOSED_PREFIX, TIMEOUT)?;
        let restarted = ProxyProcess::spawn(&bin, &args, &env, &log)?;
        rt.block_on(async {
            // The providers re-post every vote (they cannot know which were durable); the proxy
            // answers the durable ones with their first receipt (checked by the client).
            let ds: Vec<InstructionData> =
                (0..N).map(|i| flare::fdc2_instruction(tee, &format!("e2e crash #{i}"))).collect();
            let all: Vec<usize> = (0..ps.len()).collect();
            for d in &ds {
                post_votes(&api, &ps, &all, d).await?;
            }
            for d in &ds {
                let (r, _) = api.wait_result(&d.instruction_id, RESULT_TIMEOUT).await?;
                ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
                signed_by(&r, tee)?;
                let st = api.status(EPOCH, &d.instruction_id).await?.context("status")?;
                ensure!(st["state"] == "done" && st["votes"] == 100, "{st}");
            }
            Ok::<_, anyhow::Error>(())
        })?;
        drop(restarted);
        let handled = guest.console().lines().filter(|l| l.starts_with(HANDLED_PREFIX)).count();
        eprintln!("the guest handled {handled} actions for {} results (re-deliveries answered again)", N + 1);
        rt.block_on(async {
            let store = SqliteStore::open(&db).await?;
            let c = store.counts().await?;
            ensure!(c.results == N as u64 + 1, "one result per instruction plus the trust root: {c:?}");
            ensure!(c.open == 0 && c.pending_actions == 0, "{c:?}");
            Ok(())
        })
    });
}

/// Polls (every millisecond) until the proxy has handed instruction `id` to a guest.
fn wait_delivered(proxy: &InProcess, id: &[u8; 32]) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let st = proxy.block_on(proxy.api.status(EPOCH, id))?.context("status")?;
        if st["deliveries"].as_u64() >= Some(1) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "never delivered: {st}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn guest_killed_mid_action_reboots_with_a_new_identity_which_never_gets_the_old_tees_action() {
    // The operator's trust root as a file, as in production: the proxy queues INITIALIZE_POLICY
    // for the first boot and replays it to a guest that connects without one (a reboot).
    let ps = flare::providers(100).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (root, init_id) = flare::trust_root_file(dir.path(), &ps, true);
    let proxy = InProcess::start(fcc_proxy::Config { trust_root: Some(root), ..test_config(CHAIN_ID) }).unwrap();
    let shared = proxy.running().shared.clone();
    let api = proxy.api.clone();
    let (mut first, old_tee) = boot_networked(proxy.link_port());
    // QEMU is frozen while the guest idles in its long poll (its pull outstanding, the trust
    // root answered), so the action the proxy hands it next reaches a guest that cannot answer:
    // killed mid-action, deterministically (freezing after the hand-out raced a guest that
    // answers in milliseconds).
    let d = flare::fdc2_instruction(old_tee, "e2e reboot fdc2");
    run_checked(&mut first, |first| {
        proxy.block_on(api.wait_result(&init_id, RESULT_TIMEOUT))?;
        first.freeze()?;
        let _ = first.console();
        proxy.block_on(async {
            let all: Vec<usize> = (0..ps.len()).collect();
            post_votes(&api, &ps, &all, &d).await
        })?;
        wait_delivered(&proxy, &d.instruction_id)
    });
    assert!(proxy.block_on(api.result(&d.instruction_id)).unwrap().is_none(), "a frozen guest answered");
    drop(first); // SIGKILL to the frozen QEMU
    let st = proxy.block_on(api.status(EPOCH, &d.instruction_id)).unwrap().unwrap();
    eprintln!("QEMU killed mid-action; proxy status {st}");

    // The same ROM boots with a fresh identity key: a new TEE id, without a trust root. The
    // proxy replays the trust root to it on connect (its id keeps the first boot's result).
    let (mut second, new_tee) = boot_networked(proxy.link_port());
    assert_ne!(new_tee, old_tee, "a rebooted guest must draw a new identity");
    run_checked(&mut second, |_| {
        proxy.block_on(async {
            let (r0, _) = api.wait_result(&init_id, RESULT_TIMEOUT).await?;
            signed_by(&r0, old_tee)?;
            // Votes for the new TEE are taken once it has greeted the proxy.
            let deadline = Instant::now() + TIMEOUT;
            while shared.sessions.tee().await.map(|h| h.tee_id) != Some(new_tee) {
                ensure!(Instant::now() < deadline, "the new TEE never connected");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }

            // The providers sign the instruction again for the new TEE id: executed and signed.
            let again = flare::fdc2_instruction(new_tee, "e2e reboot fdc2, for the new TEE");
            let all: Vec<usize> = (0..ps.len()).collect();
            post_votes(&api, &ps, &all, &again).await?;
            let (r, _) = api.wait_result(&again.instruction_id, RESULT_TIMEOUT).await?;
            ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
            signed_by(&r, new_tee)?;
            // The interrupted action names the old TEE: the new one never gets it (only a link
            // of its addressee does), so it stays queued for the old TEE, unanswered.
            ensure!(api.result(&d.instruction_id).await?.is_none(), "the old TEE's action was answered");
            let st = api.status(EPOCH, &d.instruction_id).await?.context("status")?;
            ensure!(st["state"] == "delivered" && st["deliveries"].as_u64() == Some(1), "{st}");
            let c = shared.store.counts().await?;
            // The trust root (first boot's) and the re-signed instruction: the second boot
            // executed it, so the replayed trust root reached it.
            ensure!(c.results == 2 && c.pending_actions == 1, "{c:?}");
            Ok(())
        })
    });
}

#[test]
fn guest_killed_mid_action_reboots_from_its_sealed_state_as_the_same_tee_and_executes_the_action() {
    // As above, but the proxy keeps the guest's sealed state and QEMU hands it back at the next
    // boot (`-fw_cfg name=opt/fcc/sealed-state,file=…`): the same TEE id comes back, stays
    // registered, and the interrupted action, delivered again, is executed.
    let ps = flare::providers(100).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (proxy, init_id, sealed) = InProcess::with_sealed_state(dir.path(), &ps, false).unwrap();
    let shared = proxy.running().shared.clone();
    let api = proxy.api.clone();
    let options = fcc_e2e::options().network(proxy.link_port()).sealed_state(&sealed);
    // The file is empty before the first boot: a fresh identity.
    let (mut first, tee) = boot_ready(&options);
    let d = flare::fdc2_instruction(tee, "e2e sealed reboot fdc2");
    run_checked(&mut first, |first| {
        ensure!(!first.console().contains(SEALED_PREFIX), "sealed state on a first boot");
        proxy.block_on(api.wait_result(&init_id, RESULT_TIMEOUT))?;
        let deadline = Instant::now() + TIMEOUT;
        while std::fs::metadata(&sealed)?.len() < fcc_core::seal::MIN_SEALED_LEN as u64 {
            ensure!(Instant::now() < deadline, "the proxy never kept a sealed state");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Frozen in its long poll, as above: the action it is handed is never answered.
        first.freeze()?;
        let all: Vec<usize> = (0..ps.len()).collect();
        proxy.block_on(post_votes(&api, &ps, &all, &d))?;
        wait_delivered(&proxy, &d.instruction_id)
    });
    drop(first); // SIGKILL to QEMU
    assert!(proxy.block_on(api.result(&d.instruction_id)).unwrap().is_none(), "a frozen guest answered");

    let (mut second, resumed) = boot_ready(&options);
    assert_eq!(resumed, tee, "a guest resumed from its sealed state must keep its identity");
    run_checked(&mut second, |second| {
        // Printed before READY, which `boot_ready` already waited for.
        let console = second.console();
        let line = console.lines().find(|l| l.starts_with(SEALED_PREFIX)).context("no SEALED line")?;
        ensure!(line.starts_with("SEALED resumed: trust root epoch"), "{line}");
        proxy.block_on(async {
            // Delivered again to the same TEE: executed, one result, signed by the same key.
            let (r, _) = api.wait_result(&d.instruction_id, RESULT_TIMEOUT).await?;
            ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
            signed_by(&r, tee)?;
            let st = api.status(EPOCH, &d.instruction_id).await?.context("status")?;
            ensure!(st["deliveries"].as_u64() >= Some(2), "{st}");
            let again = flare::fdc2_instruction(tee, "e2e sealed reboot, second instruction");
            let all: Vec<usize> = (0..ps.len()).collect();
            post_votes(&api, &ps, &all, &again).await?;
            let (r, _) = api.wait_result(&again.instruction_id, RESULT_TIMEOUT).await?;
            ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
            signed_by(&r, tee)?;
            let c = shared.store.counts().await?;
            ensure!(c.results == 3 && c.pending_actions == 0, "{c:?}");
            Ok(())
        })
    });
}

/// A change a malicious proxy makes to an instruction.
type Alteration = fn(&mut InstructionData);

#[test]
fn malicious_proxy_altering_an_instruction_is_caught_by_the_guest() {
    let proxy = TestProxy::bind().unwrap();
    let (mut guest, tee) = boot_networked(proxy.port);
    run_checked(&mut guest, |_| {
        let mut conn = proxy.accept(TIMEOUT)?;
        let ps = flare::providers(20)?;
        let policy = flare::policy(&ps)?;
        let r = conn.run(&flare::initialize_policy(&ps, &policy)?)?;
        ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
        let all: Vec<usize> = (0..ps.len()).collect();
        let genuine = flare::signed(&ps, &all, flare::fdc2_instruction(tee, "e2e altered"))?;

        // Each alteration keeps the providers' signatures but changes what they signed.
        let alterations: [(&str, Alteration); 4] = [
            ("the request (originalMessage)", |d| d.original_message[40] ^= 1),
            ("the providers' data (additionalFixedMessage)", |d| d.additional_fixed_message.push(b'!')),
            ("the command", |d| d.op_command = fcc_core::op::name("VERIFY")),
            ("the timestamp", |d| d.timestamp += 1),
        ];
        for (what, alter) in alterations {
            let mut forged = genuine.clone();
            alter(&mut forged.instruction);
            let r = conn.run(&forged)?;
            eprintln!("altered {what}: {} {:?}", r.result.log, r.result.additional_result_status);
            ensure!(r.result.status == status::ERROR, "altered {what}: executed");
            ensure!(r.result.data.is_empty(), "altered {what}: data returned");
            signed_by(&r, tee)?;
        }
        // The refusals did not burn the id: the genuine instruction still executes.
        let r = conn.run(&genuine)?;
        ensure!(r.result.status == status::SUCCESS, "the genuine instruction: {}", r.result.log);
        signed_by(&r, tee)?;
        Ok(())
    });
}

/// anvil from the contracts' pinned npm toolchain (`contracts/setup.sh`), if installed.
fn anvil_bin() -> Option<std::path::PathBuf> {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/anvil");
    bin.exists().then_some(bin)
}

#[test]
fn policy_rotation_by_a_signing_policy_initialized_event_mid_run() {
    use alloy::contract::RawCallBuilder;
    use alloy::node_bindings::Anvil;
    use alloy::providers::{DynProvider, Provider as _, ProviderBuilder};
    use fcc_contracts::relay_message::{encode_policy_update, policy_update_digest, sign_as_voters};
    use fcc_core::policy::PolicyHashScheme;

    let Some(anvil_bin) = anvil_bin() else {
        eprintln!(
            "SKIPPED: policy rotation on anvil (contracts/node_modules/.bin/anvil missing: run contracts/setup.sh)"
        );
        return;
    };
    let scheme = PolicyHashScheme::ChainBound { chain_id: CHAIN_ID };
    let ps = flare::providers(100).unwrap();
    let policy = flare::policy(&ps).unwrap();
    // The next epoch's voters: the same keys in another order, so other weights and indices.
    let mut next_ps = flare::providers(100).unwrap();
    next_ps.rotate_left(7);
    let next = fcc_sim_providers::policy(&next_ps, EPOCH + 1).unwrap();

    let anvil = Anvil::at(anvil_bin).chain_id(CHAIN_ID).try_spawn().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let wallet = anvil.wallet().unwrap();
    let provider: DynProvider = ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased();
    let net = rt
        .block_on(fcc_contracts::deploy_devnet(provider.clone(), anvil.addresses()[0], Some(policy.encode().into())))
        .unwrap();
    // `rt` stays alive: the provider's block-watching task runs on it.

    // The proxy follows the relay from block 0, reading every block as soon as it is mined.
    let mut config = test_config(CHAIN_ID);
    config.chain = Some(fcc_proxy::config::ChainConfig {
        rpc_url: anvil.endpoint(),
        rpc_ca_file: None,
        relay: net.relay.address().0.0,
        instruction_sender: net.sender.address().0.0,
        confirmations: 0,
        start_block: 0,
        poll_ms: 50,
        rpc_timeout_ms: 10_000,
        reorg_depth: 4096,
        policy_hash: scheme,
    });
    let proxy = InProcess::start(config).unwrap();
    let shared = proxy.running().shared.clone();
    let api = proxy.api.clone();
    let init = proxy.block_on(trust_root(shared.store.as_ref(), &ps, "e2e rotation trust root")).unwrap();
    let (mut guest, tee) = boot_networked(proxy.link_port());
    run_checked(&mut guest, |_| {
        proxy.block_on(async {
            api.wait_result(&init.instruction.instruction_id, RESULT_TIMEOUT).await?;
            let all: Vec<usize> = (0..ps.len()).collect();
            let prove = |label: &str, epoch: u32| fcc_sim_providers::fdc2_instruction(tee, label, epoch);

            // Before the rotation: epoch 201 is unknown to the proxy, a vote citing it is refused.
            let early = prove("e2e rotation: too early", EPOCH + 1);
            let refused = client(&api)?.post_vote(0, &next_ps[0], &early, None).await;
            eprintln!("a vote for epoch {} before its event: {refused:?}", EPOCH + 1);
            ensure!(format!("{refused:?}").contains("unknown_epoch"), "a vote for an unknown epoch: {refused:?}");

            // Mid-run: an instruction half-voted under epoch 200 when the policy changes.
            let b = prove("e2e rotation: straddling", EPOCH);
            post_votes(&api, &ps, &all[..30], &b).await?;

            // The providers relay epoch 201's policy with epoch 200's signatures: the relay emits
            // SigningPolicyInitialized; the proxy reads it and the relay() calldata and queues
            // UPDATE_POLICY for the guest.
            let digest = policy_update_digest(&next, scheme);
            let sigs = sign_as_voters(fcc_sim_providers::signers(&ps, &all), &digest);
            let calldata = encode_policy_update(&policy, &next, &sigs)?;
            let t = Instant::now();
            let receipt = RawCallBuilder::new_raw(provider.clone(), calldata.into())
                .to(*net.relay.address())
                .send()
                .await?
                .get_receipt()
                .await?;
            ensure!(receipt.status(), "relay() reverted");
            let update_id = fcc_core::action::update_policy_id(&next.encode());
            let (r, _) = api.wait_result(&update_id, RESULT_TIMEOUT).await?;
            eprintln!("SigningPolicyInitialized → UPDATE_POLICY signed by the guest in {:?}", t.elapsed());
            ensure!(r.result.status == status::SUCCESS, "UPDATE_POLICY refused: {}", r.result.log);
            signed_by(&r, tee)?;

            // The straddling instruction completes under epoch 200 (the previous policy is still
            // accepted)...
            post_votes(&api, &ps, &all[30..], &b).await?;
            let (r, _) = api.wait_result(&b.instruction_id, RESULT_TIMEOUT).await?;
            ensure!(r.result.status == status::SUCCESS, "epoch {EPOCH} after the rotation: {}", r.result.log);
            signed_by(&r, tee)?;
            // ...and a new one is signed by epoch 201's voters, weighed by their new weights.
            let c = prove("e2e rotation: new epoch", EPOCH + 1);
            post_votes(&api, &next_ps, &all, &c).await?;
            let (r, _) = api.wait_result(&c.instruction_id, RESULT_TIMEOUT).await?;
            ensure!(r.result.status == status::SUCCESS, "epoch {}: {}", EPOCH + 1, r.result.log);
            signed_by(&r, tee)?;
            // Below epoch 201's threshold: held by the proxy.
            let (light, weight) = fcc_sim_providers::below_threshold(&next);
            let d = prove("e2e rotation: new epoch, too light", EPOCH + 1);
            post_votes(&api, &next_ps, &light, &d).await?;
            let st = api.status(EPOCH + 1, &d.instruction_id).await?.context("status")?;
            ensure!(st["state"] == "collecting" && st["weight"] == weight, "{st}");
            ensure!(st["threshold"] == u64::from(next.threshold()), "{st}");
            Ok(())
        })
    });
}
