//! High availability: two `fcc-proxy` processes on one PostgreSQL database behind one address
//! (a TCP balancer, `fcc_e2e::balancer`), the real guest ROM in QEMU linked through it. Votes
//! posted through either proxy are counted once (a vote repeated through the other gets its
//! first receipt back); the proxy holding the guest's link is killed with SIGKILL right after
//! an instruction's last vote; the guest reconnects through the balancer to the survivor, which
//! serves what the dead one had leased once the lease expires (the guest answers a re-delivered
//! instruction with the result it signed before: `Tee::recent`), and new instructions at once.
//! Nothing accepted is lost, nothing gets two results. The failover gaps are printed.
//!
//! Needs PostgreSQL's server binaries (SKIPPED without them, a failure with
//! `FCC_REQUIRE_POSTGRES=1`, as in CI).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use fcc_core::instruction::InstructionData;
use fcc_core::result::status;
use fcc_devnet::process::{Api, ProxyCommand, ProxyProcess};
use fcc_e2e::balancer::Balancer;
use fcc_e2e::flare::{self, CHAIN_ID, EPOCH, post_votes, signed_by, trust_root};
use fcc_e2e::{boot_networked, run_checked};
use fcc_proxy::store::{PgStore, Store};

/// Waits for results this long (signature verification under TCG on a loaded machine).
const RESULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The proxies' action lease: how long the survivor waits before it hands the guest again what
/// the dead proxy had handed it.
const LEASE_MS: u64 = 2_000;
/// Providers.
const VOTERS: usize = 40;

/// The guest links `api`'s proxy holds now (`GET /ready`).
async fn guests(api: &Api) -> Result<u64> {
    let body: serde_json::Value = reqwest::get(format!("{}/ready", api.base)).await?.json().await?;
    body["guests"].as_u64().context("ready.guests")
}

/// Polls until `done` or `timeout`; how long it took.
async fn until(what: &str, timeout: Duration, done: impl AsyncFn() -> Result<bool>) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if done().await? {
            return Ok(start.elapsed());
        }
        ensure!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn two_proxies_on_one_postgres_behind_one_address_fail_over_and_lose_nothing() {
    let Some(pg) = fcc_proxy_testing::pg::Postgres::start("proxy_ha") else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let db = rt.block_on(pg.database());
    let ps = flare::providers(VOTERS).unwrap();
    let store = rt.block_on(PgStore::open(&db)).unwrap();
    let init = rt.block_on(trust_root(&store, &ps, "ha trust root")).unwrap();

    let bin = ProxyCommand::new(env!("CARGO_BIN_EXE_fcc-e2e-proxy"), None);
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--database",
        &db,
        "--http",
        "127.0.0.1:0",
        "--link",
        "127.0.0.1:0",
        "--chain-id",
        &CHAIN_ID.to_string(),
        "--lease-ms",
        &LEASE_MS.to_string(),
        "--rate-per-second",
        "1000000",
        "--rate-burst",
        "1000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut proxies: Vec<ProxyProcess> = ["5a", "5b"]
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let env = [("RUST_LOG", "info".to_string()), ("FCC_PROXY_KEY", format!("0x{}", key.repeat(32)))];
            ProxyProcess::spawn(&bin, &args, &env, &dir.path().join(format!("proxy{i}.log"))).unwrap()
        })
        .collect();
    let apis: Vec<Api> = proxies.iter().map(|p| Api::new(p.http)).collect();
    let (link, http) = rt
        .block_on(async {
            let link = Balancer::start(proxies.iter().map(|p| p.link).collect()).await?;
            let http = Balancer::start(proxies.iter().map(|p| p.http).collect()).await?;
            anyhow::Ok((link, http))
        })
        .unwrap();
    let front = Api::new(http.addr);
    let (mut guest, tee) = boot_networked(link.addr.port());
    let all: Vec<usize> = (0..ps.len()).collect();
    run_checked(&mut guest, |_| {
        rt.block_on(async {
            front.wait_result(&init.instruction.instruction_id, RESULT_TIMEOUT).await?;

            // Both up: each provider votes through one proxy or the other, and some again through
            // the other one; every vote counts once, and a repeat gets its first receipt.
            let ds: Vec<InstructionData> =
                (0..3).map(|i| flare::fdc2_instruction(tee, &format!("ha both up #{i}"))).collect();
            let (even, odd): (Vec<usize>, Vec<usize>) = all.iter().partition(|i| *i % 2 == 0);
            for d in &ds {
                let first = post_votes(&apis[0], &ps, &even, d).await?;
                post_votes(&apis[1], &ps, &odd, d).await?;
                let again = post_votes(&apis[1], &ps, &even[..4], d).await?;
                for (a, b) in first.iter().zip(&again) {
                    ensure!(
                        a.receipt.sequence == b.receipt.sequence && a.receipt.vote_hash == b.receipt.vote_hash,
                        "a vote repeated through the other proxy got another receipt"
                    );
                }
            }
            for d in &ds {
                let (r, _) = front.wait_result(&d.instruction_id, RESULT_TIMEOUT).await?;
                ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
                signed_by(&r, tee)?;
                for api in &apis {
                    let st = api.status(EPOCH, &d.instruction_id).await?.context("status")?;
                    ensure!(st["state"] == "done" && st["votes"] == VOTERS, "{st}");
                }
            }

            // The proxy that holds the guest's link dies right after an instruction's last vote.
            let holder = if guests(&apis[0]).await? > 0 { 0 } else { 1 };
            let survivor = 1 - holder;
            ensure!(guests(&apis[survivor]).await? == 0, "both proxies say they hold the one guest");
            let in_flight = flare::fdc2_instruction(tee, "ha in flight at the kill");
            post_votes(&apis[holder], &ps, &all, &in_flight).await?;
            // Killed once it has handed the action to the guest (the guest may have answered).
            until("the action handed to the guest", RESULT_TIMEOUT, async || {
                let st = apis[holder].status(EPOCH, &in_flight.instruction_id).await?;
                Ok(st.is_some_and(|st| st["deliveries"].as_u64() >= Some(1)))
            })
            .await?;
            proxies[holder].kill9()?;
            let killed = Instant::now();
            eprintln!(
                "fcc-proxy {holder} (pid {}), holding the guest's link, killed with SIGKILL",
                proxies[holder].pid()
            );

            // The guest reconnects through the balancer, which finds the dead proxy refusing.
            let link_gap = until("the guest's link to the survivor", RESULT_TIMEOUT, async || {
                Ok(guests(&apis[survivor]).await? > 0)
            })
            .await?;
            // The instruction the dead proxy had queued (and maybe handed over): once its lease
            // expires the survivor hands it over, and the guest answers.
            let (r, _) = apis[survivor].wait_result(&in_flight.instruction_id, RESULT_TIMEOUT).await?;
            let in_flight_done = killed.elapsed();
            ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
            signed_by(&r, tee)?;
            // New instructions, through the one address: served at once.
            let after: Vec<InstructionData> =
                (0..3).map(|i| flare::fdc2_instruction(tee, &format!("ha after the kill #{i}"))).collect();
            let survivor_api = &apis[survivor];
            let mut slowest = Duration::ZERO;
            for d in &after {
                post_votes(&front, &ps, &all, d).await?;
                let voted = Instant::now();
                let (r, _) = survivor_api.wait_result(&d.instruction_id, RESULT_TIMEOUT).await?;
                slowest = slowest.max(voted.elapsed());
                ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
                signed_by(&r, tee)?;
            }
            let st = survivor_api.status(EPOCH, &in_flight.instruction_id).await?.context("status")?;
            // Answered on its first hand-out (the guest can beat the SIGKILL: the dead proxy
            // stored the result), or unanswered at the kill and handed over again by the
            // survivor, once, after the lease. Never a third time.
            let answered_before = st["deliveries"] == 1;
            ensure!(answered_before || st["deliveries"] == 2, "{st}");
            eprintln!(
                "failover (lease {LEASE_MS} ms): the guest linked to the survivor {} ms after the kill; a new \
                 instruction's result at most {} ms after its last vote; the one voted just before the kill answered \
                 {} (delivered {} times); \
                 balancer connections: link {:?}, HTTP {:?}",
                link_gap.as_millis(),
                slowest.as_millis(),
                if answered_before {
                    "through the dead proxy, before the kill took effect".to_string()
                } else {
                    format!("{} ms after the kill", in_flight_done.as_millis())
                },
                st["deliveries"],
                (link.routed_to(0), link.routed_to(1)),
                (http.routed_to(0), http.routed_to(1)),
            );

            // Nothing lost, nothing twice: one result per id, every queue empty.
            let c = store.counts().await?;
            let expected = 1 + ds.len() + 1 + after.len();
            ensure!(c.results == expected as u64, "{expected} results expected: {c:?}");
            ensure!(c.open == 0 && c.pending_actions == 0, "{c:?}");
            Ok(())
        })
    });
    drop(proxies);
}
