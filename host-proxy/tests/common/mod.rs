//! Shared test support: simulated providers signing Flare
//! instruction JSON, and a proxy with a stand-in guest.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use fcc_core::instruction::InstructionData;
use fcc_core::policy::SigningPolicy;
use fcc_core::result::SignedResult;
use fcc_core::tee::Tee;
use fcc_proxy::Config;
use fcc_proxy::store::Store;
use fcc_sim_providers::Provider;
use serde_json::Value;
use tokio::net::TcpListener;

/// The chain of every test.
pub const CHAIN_ID: u64 = 14;
/// The epoch of every test's policy.
pub const EPOCH: u32 = 7;

/// Providers and their policy.
pub struct Providers {
    pub ps: Vec<Provider>,
    pub policy: SigningPolicy,
}

impl Providers {
    pub fn new(n: usize) -> Self {
        let ps = fcc_sim_providers::providers("fcc-proxy tests", n).unwrap();
        let policy = fcc_sim_providers::policy(&ps, EPOCH).unwrap();
        Self { ps, policy }
    }
}

/// Flare's `POST /instruction` body for `d` signed by `p` for [`CHAIN_ID`] (the simulated
/// providers' own, `fcc_sim_providers::vote_json`).
pub fn vote_json(p: &Provider, d: &InstructionData) -> Value {
    fcc_sim_providers::vote_json(p, d, CHAIN_ID)
}

/// Test configuration: loopback ports chosen by the OS, short leases, a generous rate.
pub fn config() -> Config {
    Config {
        http: "127.0.0.1:0".parse().unwrap(),
        link: "127.0.0.1:0".parse().unwrap(),
        chain_id: CHAIN_ID,
        lease_ms: 1_000,
        long_poll_ms: 60_000,
        rate_per_second: 1_000_000,
        rate_burst: 1_000_000,
        ..Config::default()
    }
}

/// A running proxy with a store, providers whose policy it knows, and a TEE that trusts it.
pub struct Setup {
    pub running: fcc_proxy::Running,
    pub providers: Providers,
    pub tee: Arc<Mutex<Tee>>,
    pub tee_id: [u8; 20],
}

/// Starts a proxy on `store`, registers the policy, connects a stand-in guest (reconnecting)
/// and waits until the guest has executed `INITIALIZE_POLICY`.
pub async fn setup(store: Arc<dyn Store>, config: Config, voters: usize) -> Setup {
    setup_with(store, config, voters, fcc_proxy_testing::new_tee(CHAIN_ID).unwrap()).await
}

/// [`setup`] with the stand-in guest's TEE `tee`.
pub async fn setup_with(store: Arc<dyn Store>, config: Config, voters: usize, tee: Tee) -> Setup {
    let http = TcpListener::bind(config.http).await.unwrap();
    let link = TcpListener::bind(config.link).await.unwrap();
    let running = fcc_proxy::start_with(config, store, http, link).await.unwrap();
    let providers = Providers::new(voters);
    running.shared.add_policy(&providers.policy.encode()).await.unwrap();
    let init = fcc_sim_providers::initialize_policy(&providers.ps, &providers.policy).unwrap();
    running.shared.enqueue_direct(&init).await.unwrap();
    let tee = Arc::new(Mutex::new(tee));
    let tee_id = tee.lock().unwrap().state().identity.address();
    fcc_proxy_testing::spawn_guest(running.link_addr, tee.clone());
    let r = wait_result(running.shared.store.as_ref(), &init.instruction.instruction_id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(r.result.status, fcc_core::result::status::SUCCESS, "{}", r.result.log);
    Setup { running, providers, tee, tee_id }
}

/// Announces `d` on chain in block `block`, as the chain follower records `TeeInstructionsSent`.
pub async fn announce(s: &dyn Store, d: &InstructionData, block: u64) {
    use fcc_proxy::store::{Announced, ChainBatch, ChainInstruction};
    let announced = Announced {
        tee_ids: vec![d.tee_id],
        op_type: d.op_type,
        op_command: d.op_command,
        message: d.original_message.clone(),
        cosigners: d.cosigners.clone(),
        cosigners_threshold: d.cosigners_threshold,
    };
    let seen = ChainInstruction {
        id: d.instruction_id,
        epoch: d.reward_epoch_id,
        block,
        tx: [0x77; 32],
        announced: Some(announced),
    };
    let batch = ChainBatch { instructions: vec![seen], ..Default::default() };
    s.commit_chain("announcer", &batch, block, &[0x41; 32], 0).await.unwrap().unwrap();
}

/// Polls the store until a result for `id` exists.
pub async fn wait_result(store: &dyn Store, id: &[u8; 32], timeout: Duration) -> Result<SignedResult> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = store.result(id).await? {
            return Ok(r);
        }
        if Instant::now() > deadline {
            bail!("no result for 0x{} within {timeout:?}", hex::encode(id));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
