//! fcc-proxy following a real chain (anvil with the contracts deployed through the bindings):
//! the trust root is the operator's `INITIALIZE_POLICY`; a policy rotation through DevRelay's
//! `relay()` becomes one `UPDATE_POLICY` action whose signatures — parsed from the transaction's
//! calldata — fcc-core's light client accepts; a restart and a re-read of the whole chain queue
//! nothing twice; a stand-in guest then executes both actions through the proxy's link. A reorg
//! that replaces the rotation with another policy stops the follower until the chain agrees, and
//! a scripted lying node (`fcc_chain::testing`) gets nothing past the proxy's checks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::contract::RawCallBuilder;
use alloy::primitives::U256;
use alloy::providers::{DynProvider, Provider};
use anyhow::{Context, Result, ensure};
use fcc_contracts::anvil::{anvil_or_skip as anvil_bin, start as start_anvil_on, wallet_provider};
use fcc_contracts::relay_message::{encode_policy_update, policy_update_digest, sign_as_voters};
use fcc_contracts::{Devnet, deploy_devnet};
use fcc_core::action::Action;
use fcc_core::attester::Simulated;
use fcc_core::light_client::UpdatePolicy;
use fcc_core::ops::Registry;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy};
use fcc_core::result::status;
use fcc_core::{Config as TeeConfig, Tee};
use fcc_proxy::chain::PolicyCheckError;
use fcc_proxy::store::{SqliteStore, Store};
use fcc_sim_providers as sim;
use tokio::net::TcpListener;

const EPOCH: u32 = 40;
const SCHEME: PolicyHashScheme = PolicyHashScheme::ChainBound { chain_id: CHAIN_ID };

/// A proxy on `db` following `net` from block 0, with the trust root file `root`.
/// The devnet's chain id.
const CHAIN_ID: u64 = 14;

fn start_anvil(bin: &std::path::Path) -> Result<alloy::node_bindings::AnvilInstance> {
    start_anvil_on(bin, CHAIN_ID)
}

/// A proxy on the SQLite database `db` with `config` (`proxy_config`'s, maybe adjusted).
async fn start_proxy(db: &str, config: fcc_proxy::Config) -> Result<fcc_proxy::Running> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).await?);
    let http = TcpListener::bind(config.http).await?;
    let link = TcpListener::bind(config.link).await?;
    fcc_proxy::start_with(config, store, http, link).await
}

/// Loopback ports of its own, the test chain, the trust root at `root`, following `chain` if any.
fn proxy_config(root: &std::path::Path, chain: Option<fcc_proxy::config::ChainConfig>) -> fcc_proxy::Config {
    fcc_proxy::Config {
        http: "127.0.0.1:0".parse().expect("an address"),
        link: "127.0.0.1:0".parse().expect("an address"),
        chain_id: CHAIN_ID,
        trust_root: Some(root.to_path_buf()),
        chain,
        ..fcc_proxy::Config::default()
    }
}

/// Following the chain at `rpc_url` (relay, instruction sender) block by block, polling every
/// `poll_ms`, waiting at most `rpc_timeout_ms` per request.
fn follow(
    rpc_url: String,
    relay: [u8; 20],
    sender: [u8; 20],
    poll_ms: u64,
    rpc_timeout_ms: u64,
) -> fcc_proxy::config::ChainConfig {
    fcc_proxy::config::ChainConfig {
        rpc_url,
        rpc_ca_file: None,
        relay,
        instruction_sender: sender,
        confirmations: 0,
        start_block: 0,
        poll_ms,
        rpc_timeout_ms,
        reorg_depth: 4096,
        policy_hash: SCHEME,
    }
}

/// The proxy of the anvil tests: following `net`'s contracts, 1 s leases.
async fn proxy(db: &str, anvil_url: &str, net: &Devnet, root: &std::path::Path) -> Result<fcc_proxy::Running> {
    let chain = follow(anvil_url.to_owned(), net.relay.address().0.0, net.sender.address().0.0, 50, 10_000);
    start_proxy(db, fcc_proxy::Config { lease_ms: 1_000, ..proxy_config(root, Some(chain)) }).await
}

/// Waits until the proxy's chain cursor has reached the node's head.
async fn caught_up(running: &fcc_proxy::Running, rpc: &DynProvider) -> Result<()> {
    let head = rpc.get_block_number().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((block, _)) = running.shared.store.cursor(fcc_proxy::chain::CURSOR).await?
            && block >= head
        {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "the proxy did not reach block {head}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The extension every machine test registers in.
const EXTENSION: U256 = U256::from_limbs([1, 0, 0, 0]);

/// A custom-signature relay message over `hash` signed by every provider of `policy`.
fn signed_by_all(ps: &[sim::Provider], policy: &SigningPolicy, hash: [u8; 32]) -> Result<Vec<u8>> {
    use fcc_contracts::relay_message::{custom_signing_digest, encode_custom_signature, sign_as_voters};
    let all: Vec<usize> = (0..ps.len()).collect();
    let sigs = sign_as_voters(sim::signers(ps, &all), &custom_signing_digest(&hash, SCHEME));
    Ok(encode_custom_signature(policy, &hash, &sigs)?)
}

/// The stand-in measurement of the machines these tests register (`plain`).
const MEASUREMENT: [u8; 48] = {
    let mut m = [0u8; 48];
    let mut i = 0;
    while i < 48 {
        m[i] = i as u8;
        i += 1;
    }
    m
};

/// Extension `EXTENSION` (`name`) with a plain code version; `tee` registered by its owner (the
/// deployer) with the data it signed and its proxy's `url`, and moved to production by all of
/// `ps` (the voters of `policy`).
async fn into_production(
    net: &Devnet,
    ps: &[sim::Provider],
    policy: &SigningPolicy,
    tee: &Mutex<Tee>,
    url: &str,
    name: &str,
) -> Result<()> {
    use alloy::primitives::keccak256;
    use fcc_contracts::{machine_data, platform, signature};
    let code_hash = keccak256(MEASUREMENT);
    net.extensions.createExtension(name.into()).send().await?.get_receipt().await?;
    let r = net.extensions.addTeeVersion(EXTENSION, "v1".into(), code_hash, vec![platform("plain")?]).send().await?;
    ensure!(r.get_receipt().await?.status(), "addTeeVersion reverted");
    let (data, sig, tee_id) = {
        let t = tee.lock().unwrap();
        let (data, sig) = t.state().machine_data(fcc_core::attester::PlatformKind::Plain, Some(&MEASUREMENT));
        (data, sig, alloy::primitives::Address::from(t.state().identity.address()))
    };
    let proxy_id = alloy::primitives::Address::repeat_byte(0x9a);
    let r = net.machines.register(machine_data(&data), signature(&sig)?, proxy_id, url.into());
    ensure!(r.send().await?.get_receipt().await?.status(), "register reverted");
    let hash = net.machines.productionHash(tee_id).call().await?;
    let r = net.machines.toProduction(tee_id, signed_by_all(ps, policy, hash.0)?.into()).send().await?;
    ensure!(r.get_receipt().await?.status(), "toProduction reverted");
    Ok(())
}

/// Polls `done` every 20 ms for up to 20 s.
async fn wait_for(what: &str, done: impl AsyncFn() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await? {
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Every unanswered action addressed to no TEE in particular (the policy actions), leased for
/// 1 ms so it stays deliverable.
async fn queued(store: &dyn Store) -> Result<Vec<Action>> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    let now = fcc_proxy::state::now_ms();
    Ok(store.lease("inspector", &[0; 20], 100, now, 1).await?)
}

fn trust_root(dir: &std::path::Path, ps: &[sim::Provider], policy: &SigningPolicy) -> Result<std::path::PathBuf> {
    let path = dir.join("trust-root.json");
    std::fs::write(&path, serde_json::to_vec(&sim::trust_root_json(ps, policy))?)?;
    Ok(path)
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `relay()` rotating `policy` (voters `ps`, all signing) to `next`.
async fn rotate(
    rpc: &DynProvider,
    net: &Devnet,
    ps: &[sim::Provider],
    policy: &SigningPolicy,
    next: &SigningPolicy,
) -> Result<()> {
    let digest = policy_update_digest(next, SCHEME);
    let all: Vec<usize> = (0..ps.len()).collect();
    let sigs = sign_as_voters(sim::signers(ps, &all), &digest);
    let message = encode_policy_update(policy, next, &sigs)?;
    let call = RawCallBuilder::new_raw(rpc.clone(), message.into()).to(*net.relay.address());
    let receipt = call.send().await?.with_timeout(Some(Duration::from_secs(30))).get_receipt().await?;
    ensure!(receipt.status(), "relay() reverted");
    Ok(())
}

fn tee() -> Result<Tee> {
    let config = TeeConfig { chain_id: CHAIN_ID, policy_hash: SCHEME, registration: None };
    Ok(Tee::new(config, &mut rand::rng(), Registry::system())?)
}

/// A TEE whose operator fixed `EXTENSION` and `owner` for its registration.
fn tee_owned_by(owner: alloy::primitives::Address) -> Result<Tee> {
    let registration = fcc_core::Registration {
        extension_id: EXTENSION.to_be_bytes(),
        owner: owner.0.0,
        governance: fcc_core::config::Governance::NONE,
    };
    let config = TeeConfig { chain_id: CHAIN_ID, policy_hash: SCHEME, registration: Some(registration) };
    Ok(Tee::new(config, &mut rand::rng(), Registry::system())?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_turns_a_relayed_policy_into_one_update_the_light_client_accepts() -> Result<()> {
    let Some(bin) = anvil_bin("the_proxy_turns_a_relayed_policy_into_one_update_the_light_client_accepts") else {
        return Ok(());
    };
    let anvil = start_anvil(&bin)?;
    let rpc = wallet_provider(&anvil)?;
    let ps = sim::providers("proxy chain test", 6)?;
    let policy = sim::policy(&ps, EPOCH)?;
    // The first policy goes through the owner's setter: the trust root, not an update.
    let net = deploy_devnet(rpc.clone(), anvil.addresses()[0], Some(policy.encode().into())).await?;
    let next_ps = sim::providers("proxy chain test, next", 4)?;
    let next = sim::policy(&next_ps, EPOCH + 1)?;
    rotate(&rpc, &net, &ps, &policy, &next).await?;
    assert_eq!(net.relay.toSigningPolicyHash(U256::from(EPOCH + 1)).call().await?.0, next.hash(SCHEME));

    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}/proxy.db", dir.path().display());
    let root = trust_root(dir.path(), &ps, &policy)?;
    let url = anvil.endpoint();
    let running = proxy(&db, &url, &net, &root).await?;
    caught_up(&running, &rpc).await?;

    // Both policies are known to aggregation; two actions are queued: the trust root and the update.
    let store = running.shared.store.clone();
    assert_eq!(store.policy(EPOCH).await?, Some(policy.encode()));
    assert_eq!(store.policy(EPOCH + 1).await?, Some(next.encode()));
    let actions = queued(store.as_ref()).await?;
    let ops: Vec<_> = actions.iter().map(|a| a.instruction.op_command).collect();
    assert_eq!(ops, [fcc_core::op::INITIALIZE_POLICY, fcc_core::op::UPDATE_POLICY], "{actions:?}");
    let update_action = &actions[1];
    assert_eq!(update_action.instruction.instruction_id, fcc_core::action::update_policy_id(&next.encode()));
    let update: UpdatePolicy = postcard::from_bytes(&update_action.instruction.original_message)?;
    assert_eq!(update.policy, next.encode());
    assert_eq!(update.signatures.len(), ps.len(), "the signatures of the relay() calldata");

    // fcc-core's engine accepts them: trust root first, then the update.
    let mut offline = tee()?;
    for a in &actions {
        let r = offline.handle(a, &mut Simulated);
        assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    }
    assert_eq!(offline.state().policies.active().map(|p| p.reward_epoch_id()), Some(EPOCH + 1));
    // Tampered signatures are refused by the same engine (the test above can fail).
    let mut tampered = update.clone();
    tampered.signatures.truncate(1);
    let mut bad = update_action.clone();
    bad.instruction.original_message = postcard::to_stdvec(&tampered)?;
    let mut offline = tee()?;
    offline.handle(&actions[0], &mut Simulated);
    assert_ne!(offline.handle(&bad, &mut Simulated).result.status, status::SUCCESS, "one voter is below the threshold");

    // Restart on the same database, then read the whole chain again from block 0: nothing new.
    running.shutdown().await;
    let running = proxy(&db, &url, &net, &root).await?;
    let genesis = rpc.get_block_by_number(0.into()).await?.context("genesis")?.header.hash;
    running.shared.store.set_cursor(fcc_proxy::chain::CURSOR, 0, &genesis.0).await?;
    let _: String = rpc.raw_request("evm_mine".into(), ()).await?;
    caught_up(&running, &rpc).await?;
    let again = queued(running.shared.store.as_ref()).await?;
    let ids = |a: &[Action]| a.iter().map(|a| a.instruction.instruction_id).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&actions), "the restart and the re-read queued nothing twice");

    // A stand-in guest with the same hash scheme executes both through the link.
    let guest = Arc::new(Mutex::new(tee()?));
    let task = fcc_proxy_testing::spawn_guest(running.link_addr, guest.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    for a in &actions {
        let id = a.instruction.instruction_id;
        let r = loop {
            if let Some(r) = running.shared.store.result(&id).await? {
                break r;
            }
            ensure!(Instant::now() < deadline, "no result for {}", hex_of(&id));
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    }
    let active = guest.lock().unwrap().state().policies.active().map(|p| p.reward_epoch_id());
    assert_eq!(active, Some(EPOCH + 1));
    task.abort();
    running.shutdown().await;

    // A proxy whose trust root is the relayed epoch's policy already queues no update to it:
    // its guest, started from that root, would refuse it.
    let late_dir = tempfile::tempdir()?;
    let late_root = trust_root(late_dir.path(), &next_ps, &next)?;
    let late = proxy(&format!("sqlite://{}/proxy.db", late_dir.path().display()), &url, &net, &late_root).await?;
    caught_up(&late, &rpc).await?;
    let ops: Vec<_> = queued(late.shared.store.as_ref()).await?.iter().map(|a| a.instruction.op_command).collect();
    assert_eq!(ops, [fcc_core::op::INITIALIZE_POLICY]);
    assert_eq!(late.shared.store.policy(EPOCH + 1).await?, Some(next.encode()), "known, for weighing votes");
    late.shutdown().await;
    Ok(())
}

/// Confirmation depth 0, so the proxy sees a rotation that a reorg then replaces with another
/// policy for the same epoch: the proxy walks back, refuses the new fork's policy (an epoch's
/// policy is written once: the guest may already run on the first), keeps weighing with the
/// first, queues nothing of the new fork and stops there (`chain_conflicts`); once the chain
/// carries the first rotation again it goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_that_replaces_a_rotation_stops_the_follower_until_the_chain_agrees() -> Result<()> {
    let Some(bin) = anvil_bin("a_reorg_that_replaces_a_rotation_stops_the_follower_until_the_chain_agrees") else {
        return Ok(());
    };
    let anvil = start_anvil(&bin)?;
    let rpc = wallet_provider(&anvil)?;
    let ps = sim::providers("proxy reorg test", 5)?;
    let policy = sim::policy(&ps, EPOCH)?;
    let net = deploy_devnet(rpc.clone(), anvil.addresses()[0], Some(policy.encode().into())).await?;
    let snapshot: U256 = rpc.raw_request("evm_snapshot".into(), ()).await?;
    let fork_a = sim::policy(&sim::providers("reorg fork a", 3)?, EPOCH + 1)?;
    rotate(&rpc, &net, &ps, &policy, &fork_a).await?;

    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}/proxy.db", dir.path().display());
    let root = trust_root(dir.path(), &ps, &policy)?;
    let running = proxy(&db, &anvil.endpoint(), &net, &root).await?;
    caught_up(&running, &rpc).await?;
    let store = running.shared.store.clone();
    assert_eq!(store.policy(EPOCH + 1).await?, Some(fork_a.encode()));
    let update_a = fcc_core::action::update_policy_id(&fork_a.encode());

    // Fork B: the same epoch, other voters; longer than fork A, so the cursor's block goes.
    let snapshot_b: U256 = {
        let reverted: bool = rpc.raw_request("evm_revert".into(), (snapshot,)).await?;
        ensure!(reverted, "evm_revert");
        rpc.raw_request("evm_snapshot".into(), ()).await?
    };
    let rpc = wallet_provider(&anvil)?;
    let fork_b = sim::policy(&sim::providers("reorg fork b", 4)?, EPOCH + 1)?;
    rotate(&rpc, &net, &ps, &policy, &fork_b).await?;
    for _ in 0..3 {
        let _: String = rpc.raw_request("evm_mine".into(), ()).await?;
    }
    let metrics = running.shared.metrics.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while metrics.chain_conflicts.get() == 0 {
        ensure!(Instant::now() < deadline, "the proxy did not notice fork B's policy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.chain_reorgs.get() >= 1, "it walked back first");
    assert_eq!(store.policy(EPOCH + 1).await?, Some(fork_a.encode()), "the first policy stays");
    let weighed = running.shared.policy(EPOCH + 1).await?.context("policy")?;
    assert_eq!(weighed.encode(), fork_a.encode());
    let ids: Vec<_> = queued(store.as_ref()).await?.iter().map(|a| a.instruction.instruction_id).collect();
    assert!(!ids.contains(&fcc_core::action::update_policy_id(&fork_b.encode())), "fork B's update is not queued");
    assert!(ids.contains(&update_a), "fork A's stays");
    let head = rpc.get_block_number().await?;
    let stuck = store.cursor(fcc_proxy::chain::CURSOR).await?.map_or(0, |c| c.0);
    assert!(stuck < head, "the follower stays before the conflicting range ({stuck} < {head})");

    // The chain carries fork A's rotation again (the same calldata, so the same policy): on.
    let reverted: bool = rpc.raw_request("evm_revert".into(), (snapshot_b,)).await?;
    ensure!(reverted, "evm_revert");
    let rpc = wallet_provider(&anvil)?;
    rotate(&rpc, &net, &ps, &policy, &fork_a).await?;
    for _ in 0..5 {
        let _: String = rpc.raw_request("evm_mine".into(), ()).await?;
    }
    caught_up(&running, &rpc).await?;
    assert_eq!(store.policy(EPOCH + 1).await?, Some(fork_a.encode()));
    running.shutdown().await;
    Ok(())
}

/// A scripted node that lies to the proxy (no anvil: `fcc_chain::testing`): a policy for the
/// trust root's epoch with other voters is refused (and so is a database holding one at start);
/// a `relay()` whose signing policy the proxy never saw queues no `UPDATE_POLICY`; a reorg below
/// every checkpoint reads everything again and forgets what the orphaned blocks announced; and a
/// node that stops answering holds up neither a step nor the shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_holds_against_a_lying_node() -> Result<()> {
    use alloy::primitives::{Address, B256, Bytes, FixedBytes};
    use alloy::sol_types::SolEvent;
    use fcc_chain::testing::{Chain, ScriptedNode};
    const RELAY: Address = Address::repeat_byte(0x11);
    const SENDER: Address = Address::repeat_byte(0x22);
    let announce = |c: &mut Chain, block: u64, message: &'static [u8]| {
        let e = fcc_chain::TeeInstructionsSent {
            extensionId: U256::from(1),
            instructionId: B256::repeat_byte(0x51),
            rewardEpochId: EPOCH,
            teeMachines: vec![],
            opType: FixedBytes::repeat_byte(3),
            opCommand: FixedBytes::repeat_byte(4),
            message: Bytes::from_static(message),
            cosigners: vec![],
            cosignersThreshold: 0,
            claimBackAddress: Address::ZERO,
            fee: U256::ZERO,
        };
        c.log(SENDER, e.encode_log_data(), block, B256::repeat_byte(0x61));
    };

    let ps = sim::providers("lying node", 5)?;
    let policy = sim::policy(&ps, EPOCH)?;
    let liar = sim::policy(&sim::providers("lying node's voters", 3)?, EPOCH)?;
    let node = ScriptedNode::start(Chain::default()).await?;
    node.with(|c| {
        c.grow(10, 0);
        c.policy(RELAY, &liar.encode(), 3, B256::repeat_byte(1), Bytes::new());
        announce(c, 5, b"first");
    });
    let dir = tempfile::tempdir()?;
    let root = trust_root(dir.path(), &ps, &policy)?;
    let db = format!("sqlite://{}/proxy.db", dir.path().display());
    let start = async |db: &str| {
        start_proxy(db, proxy_config(&root, Some(follow(node.url(), RELAY.0.0, SENDER.0.0, 20, 500)))).await
    };

    // A database that already holds another policy for the trust root's epoch is refused.
    let polluted = format!("sqlite://{}/polluted.db", dir.path().display());
    SqliteStore::open(&polluted).await?.put_policy(EPOCH, &liar.encode()).await?;
    let err = start(&polluted).await.err().context("a proxy started on a polluted database")?;
    assert!(format!("{err:#}").contains("trust root's epoch has another policy"), "{err:#}");

    // The trust root's epoch with the liar's voters: the range is refused whole.
    let running = start(&db).await?;
    let (store, metrics) = (running.shared.store.clone(), running.shared.metrics.clone());
    wait_for("a conflict counted", async || Ok(metrics.chain_conflicts.get() >= 1)).await?;
    assert_eq!(store.policy(EPOCH).await?, Some(policy.encode()), "the trust root stays");
    assert_eq!(store.cursor(fcc_proxy::chain::CURSOR).await?, None);
    assert_eq!(store.chain_instruction(&[0x51; 32]).await?, None, "nothing of the range applied");
    // The node stops lying: the follower goes on.
    node.with(|c| c.logs.retain(|l| l.address() != RELAY));
    let at = async |block: u64| Ok(store.cursor(fcc_proxy::chain::CURSOR).await?.map(|c| c.0) == Some(block));
    wait_for("the follower going on", async || at(10).await).await?;
    let seen = store.chain_instruction(&[0x51; 32]).await?.context("the instruction")?;
    assert_eq!(seen.block, 5);

    // A relay() of epoch +2 signed by an epoch +1 policy the proxy never saw: no UPDATE_POLICY.
    let strangers = sim::providers("lying node's strangers", 3)?;
    let unknown = sim::policy(&strangers, EPOCH + 1)?;
    let next = sim::policy(&sim::providers("lying node's next", 3)?, EPOCH + 2)?;
    let sigs = sign_as_voters(sim::signers(&strangers, &[0, 1, 2]), &policy_update_digest(&next, SCHEME));
    let input = encode_policy_update(&unknown, &next, &sigs)?;
    node.with(|c| {
        for n in 11..=14 {
            c.blocks.insert(n, Chain::hash(n, 0));
        }
        c.head = 14;
        c.policy(RELAY, &next.encode(), 12, B256::repeat_byte(2), input.into());
    });
    wait_for("block 14 read", async || at(14).await).await?;
    let ids: Vec<_> = queued(store.as_ref()).await?.iter().map(|a| a.instruction.instruction_id).collect();
    assert!(!ids.contains(&fcc_core::action::update_policy_id(&next.encode())), "{ids:?}");

    // A reorg from block 4: the instruction is announced again in block 6 with another message.
    node.with(|c| {
        c.reorg(4, 16, 1);
        announce(c, 6, b"second");
    });
    wait_for("the reorg followed", async || at(16).await).await?;
    assert!(metrics.chain_reorgs.get() >= 1);
    let seen = store.chain_instruction(&[0x51; 32]).await?.context("the instruction")?;
    assert_eq!((seen.block, seen.announced.map(|a| a.message)), (6, Some(b"second".to_vec())));
    assert_eq!(store.cursor(fcc_proxy::chain::CURSOR).await?.map(|c| c.1), Some(Some(Chain::hash(16, 1).0)));

    // The node stops answering: the shutdown does not wait for it.
    node.with(|c| c.stall = ["eth_blockNumber".to_owned(), "eth_getBlockByNumber".to_owned()].into());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    running.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
    Ok(())
}

/// An `https://` RPC node (Flare's public RPCs are HTTPS): the proxy follows one whose
/// certificate chains to the CA file it is given, and reads nothing from the same node when it
/// trusts only the platform's roots (the follower keeps retrying, and says why in its log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_follows_an_https_node_it_trusts_and_no_other() -> Result<()> {
    use alloy::primitives::{Address, B256, Bytes, FixedBytes};
    use alloy::sol_types::SolEvent;
    use fcc_chain::testing::{Chain, ScriptedNode, TestCa};
    const RELAY: Address = Address::repeat_byte(0x11);
    const SENDER: Address = Address::repeat_byte(0x22);
    let ca = TestCa::new();
    let node = ScriptedNode::start_tls(Chain::default(), &ca).await?;
    let e = fcc_chain::TeeInstructionsSent {
        extensionId: U256::from(1),
        instructionId: B256::repeat_byte(0x71),
        rewardEpochId: EPOCH,
        teeMachines: vec![],
        opType: FixedBytes::repeat_byte(3),
        opCommand: FixedBytes::repeat_byte(4),
        message: Bytes::from_static(b"over TLS"),
        cosigners: vec![],
        cosignersThreshold: 0,
        claimBackAddress: Address::ZERO,
        fee: U256::ZERO,
    };
    node.with(|c| {
        c.grow(6, 0);
        c.log(SENDER, e.encode_log_data(), 4, B256::repeat_byte(0x62));
    });
    let dir = tempfile::tempdir()?;
    let ps = sim::providers("tls node", 3)?;
    let root = trust_root(dir.path(), &ps, &sim::policy(&ps, EPOCH)?)?;
    let ca_file = dir.path().join("rpc-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem)?;
    assert!(node.url().starts_with("https://localhost:"), "{}", node.url());

    // Trusting only the platform's roots: the handshake fails, nothing is read.
    let untrusting = follow(node.url(), RELAY.0.0, SENDER.0.0, 20, 500);
    let db = format!("sqlite://{}/untrusting.db", dir.path().display());
    let running = start_proxy(&db, proxy_config(&root, Some(untrusting))).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(running.shared.store.cursor(fcc_proxy::chain::CURSOR).await?, None);
    assert!(node.with(|c| c.asked.is_empty()), "a request passed an untrusted handshake");
    assert!(node.refused_handshakes() >= 1, "the follower did try");
    running.shutdown().await;

    // Trusting the node's CA: followed to the head, the instruction read.
    let trusting = fcc_proxy::config::ChainConfig {
        rpc_ca_file: Some(ca_file),
        ..follow(node.url(), RELAY.0.0, SENDER.0.0, 20, 2_000)
    };
    let db = format!("sqlite://{}/proxy.db", dir.path().display());
    let running = start_proxy(&db, proxy_config(&root, Some(trusting))).await?;
    let store = running.shared.store.clone();
    wait_for("block 6 read over TLS", async || {
        Ok(store.cursor(fcc_proxy::chain::CURSOR).await?.map(|c| c.0) == Some(6))
    })
    .await?;
    let seen = store.chain_instruction(&[0x71; 32]).await?.context("the instruction")?;
    assert_eq!(seen.announced.map(|a| a.message), Some(b"over TLS".to_vec()));
    running.shutdown().await;
    Ok(())
}

/// The relay encoder's policy update (docs/PROTOCOL.md §16) parses back in fcc-chain, which the
/// proxy uses without the bindings.
#[test]
fn fcc_chain_parses_what_the_relay_encoder_builds() -> Result<()> {
    let ps = sim::providers("relay parse", 5)?;
    let policy = sim::policy(&ps, EPOCH)?;
    let next = sim::policy(&sim::providers("relay parse next", 2)?, EPOCH + 1)?;
    let digest = policy_update_digest(&next, SCHEME);
    let sigs = sign_as_voters(sim::signers(&ps, &[0, 2, 4]), &digest);
    let message = encode_policy_update(&policy, &next, &sigs)?;
    let parsed = fcc_chain::relay::parse_policy_relay(&message)?.context("a relay() call")?;
    assert_eq!((parsed.policy.to_vec(), parsed.new_policy.to_vec()), (policy.encode(), next.encode()));
    let got: Vec<(u16, [u8; 65])> = parsed.signatures.iter().map(|s| (s.index, s.signature)).collect();
    let want: Vec<(u16, [u8; 65])> = sigs.iter().map(|s| (s.index, s.signature)).collect();
    assert_eq!(got, want);
    // And the proxy's check accepts it only against the right signing policy.
    let keys = fcc_proxy::voter_keys::VoterKeys::default();
    let action = fcc_proxy::chain::update_policy_action(&next.encode(), &parsed, Some(&policy), SCHEME, &keys)?;
    assert_eq!(action.instruction.op_command, fcc_core::op::UPDATE_POLICY);
    // The next voters are others: no key of theirs is known, none offered.
    let offered = |action: &Action| -> Result<Vec<[u8; 64]>> {
        let msg: UpdatePolicy = postcard::from_bytes(&action.instruction.original_message)?;
        Ok(msg.public_keys.iter().map(|k| k.0).collect())
    };
    assert!(offered(&action)?.is_empty());
    // The same voters again: the keys of those who signed (recovered from their signatures) go
    // with the update, all-zero for the two who did not.
    let again = sim::policy(&ps, EPOCH + 1)?;
    let sigs = sign_as_voters(sim::signers(&ps, &[0, 2, 4]), &policy_update_digest(&again, SCHEME));
    let relay =
        fcc_chain::relay::parse_policy_relay(&encode_policy_update(&policy, &again, &sigs)?)?.context("relay")?;
    let action = fcc_proxy::chain::update_policy_action(&again.encode(), &relay, Some(&policy), SCHEME, &keys)?;
    let key = |i: usize| *ps[i].key.public_key();
    assert_eq!(offered(&action)?, vec![key(0), [0; 64], key(2), [0; 64], key(4)]);
    let other = sim::policy(&sim::providers("relay parse other", 5)?, EPOCH)?;
    assert!(fcc_proxy::chain::update_policy_action(&next.encode(), &parsed, Some(&other), SCHEME, &keys).is_err());
    assert!(
        fcc_proxy::chain::update_policy_action(&next.encode(), &parsed, Some(&policy), PolicyHashScheme::Legacy, &keys)
            .is_err()
    );
    // Without the signing epoch's policy known nothing is queued: the calldata's is not trusted.
    let unknown = fcc_proxy::chain::update_policy_action(&next.encode(), &parsed, None, SCHEME, &keys);
    assert_eq!(unknown.err(), Some(PolicyCheckError::SigningPolicyUnknown(EPOCH)));
    // Two of five voters sign (below the threshold); repeating them must not make weight.
    let two = sign_as_voters(sim::signers(&ps, &[0, 2]), &digest);
    let mut repeated =
        fcc_chain::relay::parse_policy_relay(&encode_policy_update(&policy, &next, &two)?)?.context("relay")?;
    assert!(matches!(
        fcc_proxy::chain::update_policy_action(&next.encode(), &repeated, Some(&policy), SCHEME, &keys),
        Err(PolicyCheckError::BelowThreshold { .. })
    ));
    repeated.signatures.extend(repeated.signatures.clone());
    let err =
        fcc_proxy::chain::update_policy_action(&next.encode(), &repeated, Some(&policy), SCHEME, &keys).unwrap_err();
    assert!(matches!(err, PolicyCheckError::BadSignature { position: 2, index: 0, .. }), "{err}");
    Ok(())
}

/// Data providers following the chain (`fcc_sim_providers::follow`, what `sim-providers follow`
/// runs) sign the instruction the sender emitted and post it to the proxy URL the machine
/// registered; the proxy, following the same chain, knows the instruction is on chain; its
/// guest executes it and the result is the TEE's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_following_the_chain_get_an_instruction_executed_through_the_proxy() -> Result<()> {
    use alloy::primitives::B256;
    let Some(bin) = anvil_bin("providers_following_the_chain_get_an_instruction_executed_through_the_proxy") else {
        return Ok(());
    };
    let anvil = start_anvil(&bin)?;
    let rpc = wallet_provider(&anvil)?;
    let deployer = anvil.addresses()[0];
    let ps = sim::providers("proxy follow test", 5)?;
    let policy = sim::policy(&ps, EPOCH)?;
    let net = deploy_devnet(rpc.clone(), deployer, Some(policy.encode().into())).await?;

    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}/proxy.db", dir.path().display());
    let root = trust_root(dir.path(), &ps, &policy)?;
    let running = proxy(&db, &anvil.endpoint(), &net, &root).await?;
    let guest = Arc::new(Mutex::new(tee_owned_by(deployer)?));
    let tee_id = alloy::primitives::Address::from(guest.lock().unwrap().state().identity.address());
    let guest_task = fcc_proxy_testing::spawn_guest(running.link_addr, guest.clone());

    // The machine: an extension, a code version, registration with the proxy's URL, production.
    let url = format!("http://{}", running.http_addr);
    into_production(&net, &ps, &policy, &guest, &url, "follow test").await?;

    let op = |name: &str| B256::right_padding_from(name.as_bytes());
    let request = sim::fdc2_request();
    let receipt = net
        .sender
        .sendInstructions(EXTENSION, vec![tee_id], op("F_FDC2"), op("PROVE"), request.into(), vec![], 0, deployer)
        .send()
        .await?
        .get_receipt()
        .await?;
    ensure!(receipt.status(), "sendInstructions reverted");

    // The providers follow the chain and post to the URL the log names.
    let follow = fcc_sim_providers::follow::FollowConfig {
        proxy: None,
        tee_id: Some(tee_id.0.0),
        chain_id: CHAIN_ID,
        additional_fixed_message: b"response body: 12 confirmations".to_vec(),
        signers: vec![],
        timeout: Duration::from_secs(10),
        restore_check: None,
    };
    let sink = fcc_sim_providers::follow::SigningSink::new(rpc.clone(), ps, follow);
    let mut chain = fcc_chain::Config::new(*net.relay.address(), *net.sender.address());
    chain.confirmations = 0;
    let mut monitor = fcc_chain::Monitor::new(rpc.clone(), chain);
    let deadline = Instant::now() + Duration::from_secs(60);
    // The registration's F_REG/TEE_ATTESTATION comes first; the FDC2 instruction is the one here.
    let fdc2 = |posted: &[fcc_core::instruction::InstructionData]| {
        posted.iter().find(|d| d.op_type == fcc_core::op::F_FDC2).cloned()
    };
    while fdc2(&sink.posted.lock().unwrap()).is_none() {
        ensure!(Instant::now() < deadline, "the providers did not post the instruction");
        // Errors (no TEE connected yet) are retried as `Monitor::run` does.
        if monitor.step(&sink).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let d = fdc2(&sink.posted.lock().unwrap()).context("posted")?;
    let id = d.instruction_id;
    let r = loop {
        if let Some(r) = running.shared.store.result(&id).await? {
            break r;
        }
        ensure!(Instant::now() < deadline, "no result for the instruction");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    assert_eq!(sim::result_signer(&r, CHAIN_ID)?, tee_id.0.0);
    // The proxy saw the instruction on chain, in the sender's transaction.
    caught_up(&running, &rpc).await?;
    let seen = running.shared.store.chain_instruction(&id).await?.context("instruction not seen on chain")?;
    assert_eq!((seen.tx, seen.epoch), (receipt.transaction_hash.0, EPOCH));
    // What the announcement fixes is what the providers signed (votes that differ are refused).
    assert!(seen.announced.is_some(), "the event's fields were kept");
    assert_eq!(seen.mismatch(&d), None);
    let mut other = d.clone();
    other.original_message.push(0);
    assert_eq!(seen.mismatch(&other), Some("originalMessage"));
    let status_url = format!("http://{}/action/status/{EPOCH}/0x{}", running.http_addr, hex_of(&id));
    let body: serde_json::Value = reqwest_get(&status_url).await?;
    assert_eq!(body["state"], "done", "{body}");
    assert_eq!(body["onChain"]["tx"].as_str().unwrap_or_default(), format!("{}", receipt.transaction_hash), "{body}");
    guest_task.abort();
    running.shutdown().await;
    Ok(())
}

/// A GET through a plain TCP request (no HTTP client dependency here).
async fn reqwest_get(url: &str) -> Result<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("http URL")?;
    let (host, path) = rest.split_once('/').context("path")?;
    let mut s = tokio::net::TcpStream::connect(host).await?;
    s.write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8(buf)?;
    let (head, body) = text.split_once("\r\n\r\n").context("HTTP answer")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    Ok(serde_json::from_str(body)?)
}

/// Rollback and staleness (the trust-chain issue, item 3): a production TEE whose proxy withholds
/// the policy updates stays on its old policy; the providers' availability check (its fresh
/// statement against the Relay's latest epoch) confirms it while it is current and refuses once
/// the Relay has rotated twice; its availability then lapses, anyone pauses it, and its results
/// are refused on chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tee_kept_behind_the_relay_lapses_is_paused_and_its_results_refused() -> Result<()> {
    let Some(bin) = anvil_bin("a_tee_kept_behind_the_relay_lapses_is_paused_and_its_results_refused") else {
        return Ok(());
    };
    let anvil = start_anvil(&bin)?;
    let rpc = wallet_provider(&anvil)?;
    let ps = sim::providers("staleness test", 5)?;
    let policy = sim::policy(&ps, EPOCH)?;
    let net = deploy_devnet(rpc.clone(), anvil.addresses()[0], Some(policy.encode().into())).await?;

    // A proxy that does not follow the chain: the guest never hears of a rotation.
    let dir = tempfile::tempdir()?;
    let root = trust_root(dir.path(), &ps, &policy)?;
    let running =
        start_proxy(&format!("sqlite://{}/proxy.db", dir.path().display()), proxy_config(&root, None)).await?;
    let guest = Arc::new(Mutex::new(tee_owned_by(anvil.addresses()[0])?));
    let tee_id = alloy::primitives::Address::from(guest.lock().unwrap().state().identity.address());
    let _guest = fcc_proxy_testing::spawn_guest(running.link_addr, guest.clone());
    let init = fcc_core::action::initialize_policy_id(&policy.encode());
    let deadline = Instant::now() + Duration::from_secs(30);
    while running.shared.store.result(&init).await?.is_none() {
        ensure!(Instant::now() < deadline, "INITIALIZE_POLICY not executed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Registration and production, signed by all providers of the current policy.
    let url = format!("http://{}", running.http_addr);
    into_production(&net, &ps, &policy, &guest, &url, "staleness").await?;

    // The providers' availability check: the TEE's fresh statement, its policies the Relay's,
    // its active one the Relay's latest. Current: they confirm.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../reproducible/MEASUREMENTS.json");
    let verifier = sim::attest::verifier(&manifest, true)?;
    let client = sim::client::ProxyClient::new(&url, CHAIN_ID, Duration::from_secs(10))?;
    let relay = *net.relay.address();
    let availability_check = async || -> Result<Result<(), sim::attest::CheckError>> {
        let checked = client.check_tee(&verifier, &sim::attest::Collateral::default()).await?;
        let s = &checked.statement;
        let hashes = sim::attest::relay_policy_hashes(&rpc, relay, &[s.initial_policy.0, s.last_policy.0]).await?;
        if let Err(e) = sim::attest::check_policies(s, |e| hashes.get(&e).copied().flatten()) {
            return Ok(Err(e));
        }
        Ok(sim::attest::check_current(s, sim::attest::relay_last_epoch(&rpc, relay).await?))
    };
    availability_check().await??;
    let hash = net.machines.availabilityHash(tee_id).call().await?;
    let r = net.machines.confirmAvailability(tee_id, signed_by_all(&ps, &policy, hash.0)?.into()).send().await?;
    ensure!(r.get_receipt().await?.status(), "confirmAvailability reverted");
    let until = net.machines.machine(tee_id).call().await?.availableUntil;

    // The Relay rotates twice; the proxy withholds both updates.
    let next = sim::policy(&ps, EPOCH + 1)?;
    rotate(&rpc, &net, &ps, &policy, &next).await?;
    let after = sim::policy(&ps, EPOCH + 2)?;
    rotate(&rpc, &net, &ps, &next, &after).await?;
    match availability_check().await? {
        Err(sim::attest::CheckError::Stale { active, relay }) => assert_eq!((active, relay), (EPOCH, EPOCH + 2)),
        other => panic!("a stale TEE was not refused: {other:?}"),
    }

    // Nobody confirms: the availability lapses, a stranger pauses it, results are refused.
    let stranger = fcc_contracts::TeeMachineRegistry::new(*net.machines.address(), wallet_provider_of(&anvil, 3)?);
    let early = stranger.pause(tee_id).call().await;
    ensure!(early.is_err(), "a stranger paused an available machine");
    let now = rpc.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await?.context("head")?.header.timestamp;
    let _: serde_json::Value = rpc.raw_request("evm_increaseTime".into(), (until.saturating_sub(now) + 1,)).await?;
    let _: String = rpc.raw_request("evm_mine".into(), ()).await?;
    ensure!(!net.machines.isProductionTee(EXTENSION, tee_id).call().await?, "still productive after the lapse");
    let r = guest.lock().unwrap().handle(&Action::tee_info(&tee_id.0.0, &[0x77; 32]), &mut Simulated);
    let refused = net
        .verifier
        .verifyResult(EXTENSION, fcc_contracts::action_result(&r.result), r.signature.to_vec().into())
        .call()
        .await;
    ensure!(refused.is_err(), "the lapsed TEE's result was accepted");
    stranger.pause(tee_id).call().await.context("a stranger's pause of the lapsed machine")?;
    let r = stranger.pause(tee_id).send().await?.get_receipt().await?;
    ensure!(r.status(), "the stranger could not pause the lapsed machine");
    // Status::Paused (None 0, Pending 1, Production 2, Paused 3, Banned 4).
    let status = net.machines.machine(tee_id).call().await?.status;
    assert_eq!(status, 3, "paused");
    running.shutdown().await;
    Ok(())
}

/// A provider signing with anvil's account `index`.
fn wallet_provider_of(anvil: &alloy::node_bindings::AnvilInstance, index: usize) -> Result<DynProvider> {
    use alloy::providers::ProviderBuilder;
    let key: alloy::signers::local::PrivateKeySigner = anvil.keys()[index].clone().into();
    Ok(ProviderBuilder::new().wallet(key).connect_http(anvil.endpoint_url()).erased())
}
