//! Load benchmark: a 100-voter policy, every provider posting its vote over HTTP on loopback,
//! a stand-in guest (`fcc_core::Tee` in-process) executing the queued actions. For SQLite and
//! PostgreSQL side by side it prints votes and instructions accepted per second, p50/p99 latency
//! from an instruction's first signature to its stored result, and the proxy's cost per
//! instruction against the guest's verification cost, measured in the same run.
//!
//! Phases per backend: (A) the guest is away — votes for N instructions are posted as fast as 32
//! concurrent clients can: wall time / N is the proxy's cost per instruction (an upper bound: the
//! load generator shares the two cores), and the CPU time of the proxy's threads / N is its CPU per
//! instruction (the load generator runs on a runtime of its own whose threads are counted apart;
//! the machine's CPU over the phase is printed beside it: for PostgreSQL the difference is mostly
//! the database server); (B) the guest connects and drains the queue; (C) the
//! guest stays connected while N more instructions are voted on as fast as possible: latency per
//! instruction at saturation; (D) N more, one started every 2·(A's time per instruction)
//! whatever the others do (open loop): latency at half the saturation rate.
//! Baseline: `Tee::handle` on the same kind of action (the votes that carry the threshold),
//! timed in-process on one core.
//!
//! `cargo bench -p fcc-proxy --bench load` (FCC_BENCH_INSTRUCTIONS, default 40). Under
//! `cargo test --all-targets` it is a smoke run: 2 instructions, SQLite only.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{CHAIN_ID, EPOCH, Providers, config, vote_json};
use fcc_core::attester::Simulated;
use fcc_core::instruction::InstructionData;
use fcc_proxy::store::{PgStore, SqliteStore, Store};
use serde_json::Value;
use tokio::net::TcpListener;

const VOTERS: usize = 100;
const CLIENTS: usize = 32;

/// CPU time from Linux's `/proc`, in seconds. `utime + stime` are in USER_HZ, which is 100 on
/// x86_64 whatever the kernel's tick (it is ABI).
mod cpu {
    use std::sync::Mutex;

    fn ticks(stat: &str) -> f64 {
        // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
        let rest = &stat[stat.rfind(')').expect("/proc stat line") + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15, i.e. the 12th and 13th after the name.
        (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) as f64 / 100.0
    }

    /// This process, every thread it has had.
    pub fn process() -> f64 {
        ticks(&std::fs::read_to_string("/proc/self/stat").unwrap())
    }

    /// The threads listed in `tids` (of this process). One that has exited counts 0 (its time
    /// stays in [`process`]): the generator's workers live as long as its runtime.
    pub fn threads(tids: &Mutex<Vec<String>>) -> f64 {
        tids.lock()
            .unwrap()
            .iter()
            .map(|t| std::fs::read_to_string(format!("/proc/self/task/{t}/stat")).map_or(0.0, |s| ticks(&s)))
            .sum()
    }

    /// The calling thread's id, for [`threads`].
    pub fn this_thread() -> String {
        let link = std::fs::read_link("/proc/thread-self").unwrap();
        link.file_name().unwrap().to_string_lossy().into_owned()
    }

    /// The whole machine's busy time (all cores; idle, iowait and the time the hypervisor gave
    /// other VMs excluded).
    pub fn machine() -> f64 {
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let line = stat.lines().next().unwrap();
        let f: Vec<u64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        (f[0] + f[1] + f[2] + f[5] + f[6]) as f64 / 100.0
    }
}

/// A load generator apart from the proxy's runtime, so the proxy's CPU can be told from its
/// clients'.
struct Generator {
    rt: tokio::runtime::Runtime,
    tids: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Generator {
    fn new() -> Self {
        let tids = Arc::new(std::sync::Mutex::new(Vec::new()));
        let t = tids.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("load-generator")
            .on_thread_start(move || t.lock().unwrap().push(cpu::this_thread()))
            .enable_all()
            .build()
            .unwrap();
        Generator { rt, tids }
    }

    /// Runs `f` on the generator's runtime.
    async fn run<T: Send + 'static>(&self, f: impl std::future::Future<Output = T> + Send + 'static) -> T {
        self.rt.spawn(f).await.unwrap()
    }
}

struct Row {
    backend: &'static str,
    votes_per_s: f64,
    instructions_per_s: f64,
    proxy_ms: f64,
    proxy_cpu_ms: f64,
    generator_cpu_ms: f64,
    machine_cpu_ms: f64,
    /// Receipt nonces precomputed, and dropped unused, by the end of (A).
    nonces: (u64, u64),
    drain_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    half_rate: f64,
    half_p50_ms: f64,
    half_p99_ms: f64,
}

/// The guest's cost per instruction: `Tee::handle` on actions signed by the voters that carry
/// the threshold (what the proxy queues), after the policy is installed. Returns (ms, votes).
fn guest_baseline(p: &Providers, n: usize) -> (f64, usize) {
    let mut tee = fcc_proxy_testing::new_tee(CHAIN_ID).unwrap();
    let init = fcc_sim_providers::initialize_policy(&p.ps, &p.policy).unwrap();
    assert_eq!(tee.handle(&init, &mut Simulated).result.status, 1);
    let tee_id = tee.state().identity.address();
    // Voters in policy order until the weight exceeds the threshold, as votes arrive in the bench.
    let mut weight = 0u32;
    let mut signers = Vec::new();
    for (i, v) in p.policy.voters().iter().enumerate() {
        signers.push(i);
        weight += u32::from(v.weight);
        if weight > u32::from(p.policy.threshold()) {
            break;
        }
    }
    let actions: Vec<_> = (0..n + 1)
        .map(|i| {
            let d = fcc_sim_providers::fdc2_instruction(tee_id, &format!("baseline {i}"), EPOCH);
            fcc_sim_providers::signed(&p.ps, &signers, d, CHAIN_ID).unwrap()
        })
        .collect();
    // The first one warms the key cache (keys learnt once per epoch).
    assert_eq!(tee.handle(&actions[0], &mut Simulated).result.status, 1);
    let start = Instant::now();
    for a in &actions[1..] {
        assert_eq!(tee.handle(a, &mut Simulated).result.status, 1);
    }
    (start.elapsed().as_secs_f64() * 1e3 / n as f64, signers.len())
}

/// The proxy's cryptography per instruction, one core: for each of the 100 votes, recover the
/// signer, compute the guest's hint and sign the receipt — as the proxy does now, and as it did
/// before (hint by fcc-core's k256 square root, receipt by libsecp256k1 through the secp256k1
/// crate; and receipts by k256's RFC 6979 signing, without precomputed nonces), measured side by
/// side. Returns ms per instruction: [recover, hint, receipt] now, and [hint, receipt, k256
/// RFC 6979 receipt] before.
fn proxy_crypto(p: &Providers, n: usize) -> ([f64; 3], [f64; 3]) {
    let key = fcc_proxy::receipt::ProxyKey::random();
    let libsecp_key = secp256k1::SecretKey::from_secret_bytes([0x5a; 32]).unwrap();
    let d = fcc_sim_providers::fdc2_instruction([0xee; 20], "floor", EPOCH);
    let digest = d.signing_digest(CHAIN_ID, &[]);
    let sigs: Vec<[u8; 65]> = p.ps.iter().map(|q| q.key.sign_digest(&digest)).collect();
    let time = |f: &dyn Fn(usize, &[u8; 65])| {
        let start = Instant::now();
        for _ in 0..n {
            for (i, sig) in sigs.iter().enumerate() {
                f(i, sig);
            }
        }
        start.elapsed().as_secs_f64() * 1e3 / n as f64
    };
    let recover =
        time(&|i, sig| assert_eq!(fcc_flare_json::recover_signer(sig, &digest).unwrap(), p.ps[i].key.address()));
    let hint = time(&|i, sig| {
        std::hint::black_box(fcc_flare_json::signer_hint(sig, i as u16).unwrap());
    });
    let hint_before = time(&|i, sig| {
        std::hint::black_box(fcc_core::verify::SignerHint::compute(sig, i as u16).unwrap());
    });
    let sign = time(&|_, _| {
        std::hint::black_box(key.sign_digest_precomputed(&digest));
    });
    let sign_before = time(&|_, _| {
        let m = secp256k1::Message::from_digest(digest);
        std::hint::black_box(secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(m, &libsecp_key));
    });
    let k256_key = k256::ecdsa::SigningKey::from_bytes(&[0x5a; 32].into()).unwrap();
    let sign_rfc6979 = time(&|_, _| {
        std::hint::black_box(k256_key.sign_prehash_recoverable(&digest));
    });
    ([recover, hint, sign], [hint_before, sign_before, sign_rfc6979])
}

/// Posts `votes` with `posters` concurrent requests on `client`; `sent`, if given, records when
/// each instruction's first vote (votes `VOTERS·i..`) went out.
async fn post_all(
    client: &reqwest::Client,
    base: &str,
    votes: Arc<Vec<Value>>,
    sent: Option<Arc<Vec<std::sync::OnceLock<Instant>>>>,
    posters: usize,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..posters {
        let (votes, next, client, sent) = (votes.clone(), next.clone(), client.clone(), sent.clone());
        let url = format!("{base}/instruction");
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= votes.len() {
                    return;
                }
                if let Some(sent) = &sent {
                    let _ = sent[i / VOTERS].set(Instant::now());
                }
                let r = client.post(&url).json(&votes[i]).send().await.unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Posts each instruction's votes (its 100 votes 8 at a time) starting `1 / rate` seconds after
/// the previous instruction's, whether or not that one is done: an open-loop load. Returns when
/// each instruction's first vote went out.
async fn post_paced(base: &str, votes: Vec<Vec<Value>>, rate: f64) -> Vec<Instant> {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, votes) in votes.into_iter().enumerate() {
        tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate)).into()).await;
        let (client, base) = (client.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            let first = Instant::now();
            post_all(&client, &base, Arc::new(votes), None, 8).await;
            first
        }));
    }
    let mut firsts = Vec::new();
    for t in tasks {
        firsts.push(t.await.unwrap());
    }
    firsts
}

/// p50 and p99 of first vote → stored result, in ms.
async fn latency(store: &dyn Store, ids: &[[u8; 32]], firsts: &[Instant], epoch: (i64, Instant)) -> (f64, f64) {
    let mut latencies: Vec<f64> = Vec::new();
    for (id, first) in ids.iter().zip(firsts) {
        let stored = store.result_stored_at(id).await.unwrap().unwrap();
        latencies.push((stored - (epoch.0 + first.duration_since(epoch.1).as_millis() as i64)) as f64);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    (pct(0.5), pct(0.99))
}

async fn wait_all(store: &dyn Store, ids: &[[u8; 32]]) {
    for id in ids {
        common::wait_result(store, id, Duration::from_secs(120)).await.unwrap();
    }
}

fn instructions(tee_id: [u8; 20], label: &str, n: usize) -> Vec<InstructionData> {
    (0..n).map(|i| fcc_sim_providers::fdc2_instruction(tee_id, &format!("{label} {i}"), EPOCH)).collect()
}

async fn run(backend: &'static str, store: Arc<dyn Store>, n: usize, generator: &Generator) -> Row {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let link = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = fcc_proxy::start_with(config(), store.clone(), http, link).await.unwrap();
    let p = Providers::new(VOTERS);
    running.shared.add_policy(&p.policy.encode()).await.unwrap();
    let init = fcc_sim_providers::initialize_policy(&p.ps, &p.policy).unwrap();
    running.shared.enqueue_direct(&init).await.unwrap();
    let tee = Arc::new(std::sync::Mutex::new(fcc_proxy_testing::new_tee(CHAIN_ID).unwrap()));
    let tee_id = tee.lock().unwrap().state().identity.address();
    let guest = fcc_proxy_testing::spawn_guest(running.link_addr, tee.clone());
    common::wait_result(store.as_ref(), &init.instruction.instruction_id, Duration::from_secs(20)).await.unwrap();
    guest.abort();
    let _ = guest.await;
    let base = format!("http://{}", running.http_addr);

    // (A) proxy alone.
    let a = instructions(tee_id, "phase A", n);
    let votes: Arc<Vec<Value>> = Arc::new(a.iter().flat_map(|d| p.ps.iter().map(move |q| vote_json(q, d))).collect());
    let (process0, generator0, machine0) = (cpu::process(), cpu::threads(&generator.tids), cpu::machine());
    let start = Instant::now();
    let b = base.clone();
    generator.run(async move { post_all(&reqwest::Client::new(), &b, votes, None, CLIENTS).await }).await;
    let t_a = start.elapsed().as_secs_f64();
    let generator_cpu = cpu::threads(&generator.tids) - generator0;
    let proxy_cpu = cpu::process() - process0 - generator_cpu;
    let machine_cpu = cpu::machine() - machine0;
    let (nonces, nonces_dropped) = running.shared.receipt_nonce_counts();

    // (B) the guest drains the queue.
    let start = Instant::now();
    let guest = fcc_proxy_testing::spawn_guest(running.link_addr, tee.clone());
    let ids: Vec<[u8; 32]> = a.iter().map(|d| d.instruction_id).collect();
    wait_all(store.as_ref(), &ids).await;
    let t_b = start.elapsed().as_secs_f64();

    // (C) steady state with the guest connected: first signature → stored result.
    let c = instructions(tee_id, "phase C", n);
    let votes: Arc<Vec<Value>> = Arc::new(c.iter().flat_map(|d| p.ps.iter().map(move |q| vote_json(q, d))).collect());
    let sent: Arc<Vec<std::sync::OnceLock<Instant>>> = Arc::new((0..n).map(|_| std::sync::OnceLock::new()).collect());
    let epoch_ms = fcc_proxy::state::now_ms();
    let epoch = Instant::now();
    let (b, s) = (base.clone(), sent.clone());
    generator.run(async move { post_all(&reqwest::Client::new(), &b, votes, Some(s), CLIENTS).await }).await;
    let ids: Vec<[u8; 32]> = c.iter().map(|d| d.instruction_id).collect();
    wait_all(store.as_ref(), &ids).await;
    let firsts: Vec<Instant> = sent.iter().map(|s| *s.get().unwrap()).collect();
    let (p50_ms, p99_ms) = latency(store.as_ref(), &ids, &firsts, (epoch_ms, epoch)).await;

    // (D) half the saturation rate measured in (A), paced: first signature → stored result.
    let half_rate = 0.5 * n as f64 / t_a;
    let d = instructions(tee_id, "phase D", n);
    let votes: Vec<Vec<Value>> = d.iter().map(|d| p.ps.iter().map(|q| vote_json(q, d)).collect()).collect();
    let b = base.clone();
    let firsts = generator.run(async move { post_paced(&b, votes, half_rate).await }).await;
    let ids: Vec<[u8; 32]> = d.iter().map(|d| d.instruction_id).collect();
    wait_all(store.as_ref(), &ids).await;
    let (half_p50_ms, half_p99_ms) = latency(store.as_ref(), &ids, &firsts, (epoch_ms, epoch)).await;
    guest.abort();
    running.shutdown().await;
    Row {
        backend,
        votes_per_s: (n * VOTERS) as f64 / t_a,
        instructions_per_s: n as f64 / t_a,
        proxy_ms: t_a * 1e3 / n as f64,
        proxy_cpu_ms: proxy_cpu * 1e3 / n as f64,
        generator_cpu_ms: generator_cpu * 1e3 / n as f64,
        machine_cpu_ms: machine_cpu * 1e3 / n as f64,
        nonces: (nonces, nonces_dropped),
        drain_ms: t_b * 1e3 / n as f64,
        p50_ms,
        p99_ms,
        half_rate,
        half_p50_ms,
        half_p99_ms,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not: then a smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = match std::env::var("FCC_BENCH_INSTRUCTIONS").ok().and_then(|s| s.parse().ok()) {
        Some(n) => n,
        None if bench => 40,
        None => 2,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let providers = Providers::new(VOTERS);
    let (guest_ms, guest_votes) = guest_baseline(&providers, n);
    let ([recover_ms, hint_ms, sign_ms], [hint_before_ms, sign_before_ms, sign_rfc6979_ms]) =
        proxy_crypto(&providers, n.min(20));
    let floor_ms = recover_ms + hint_ms + sign_ms;
    let before_ms = recover_ms + hint_before_ms + sign_before_ms;
    let generator = Generator::new();
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        rows.push(run("sqlite", Arc::new(SqliteStore::open(&url).await.unwrap()), n, &generator).await);
    });
    let pg = if bench { fcc_proxy_testing::pg::Postgres::start("bench: postgres") } else { None };
    if let Some(pg) = &pg {
        rt.block_on(async {
            let url = pg.database().await;
            rows.push(run("postgres", Arc::new(PgStore::open(&url).await.unwrap()), n, &generator).await);
        });
    }
    println!("fcc-proxy load: {n} instructions per phase, {VOTERS} voters each voting over HTTP, {CLIENTS} clients");
    println!(
        "guest baseline: Tee::handle of one instruction with the {guest_votes} votes that pass the threshold: {guest_ms:.3} ms"
    );
    println!(
        "proxy crypto per instruction: 100 × (recover {recover_ms:.3} + hint {hint_ms:.3} + receipt \
         signature {sign_ms:.3}) = {floor_ms:.3} ms = {:.0}% of the guest",
        100.0 * floor_ms / guest_ms
    );
    println!(
        "  baseline (k256 hint {hint_before_ms:.3}, libsecp256k1 receipt {sign_before_ms:.3}): {before_ms:.3} ms; \
         ratio {:.2}x",
        before_ms / floor_ms
    );
    println!(
        "  receipts with precomputed nonces {sign_ms:.3} ms vs k256 RFC 6979 {sign_rfc6979_ms:.3} ms: ratio {:.2}x",
        sign_rfc6979_ms / sign_ms
    );
    println!(
        "{:<9} {:>10} {:>12} {:>14} {:>12} {:>9} {:>9} {:>16}",
        "backend", "votes/s", "instr/s", "proxy ms/instr", "drain ms/in", "p50 ms", "p99 ms", "proxy/guest"
    );
    for r in &rows {
        println!(
            "{:<9} {:>10.0} {:>12.1} {:>14.3} {:>12.3} {:>9.1} {:>9.1} {:>15.1}%",
            r.backend,
            r.votes_per_s,
            r.instructions_per_s,
            r.proxy_ms,
            r.drain_ms,
            r.p50_ms,
            r.p99_ms,
            100.0 * r.proxy_ms / guest_ms
        );
    }
    for r in &rows {
        println!(
            "{}: CPU per instruction while the votes are posted: proxy {:.3} ms ({:.0}% of the guest), \
             load generator {:.3} ms, the whole machine {:.3} ms; receipt nonces precomputed {} for {} votes \
             ({} dropped unused)",
            r.backend,
            r.proxy_cpu_ms,
            100.0 * r.proxy_cpu_ms / guest_ms,
            r.generator_cpu_ms,
            r.machine_cpu_ms,
            r.nonces.0,
            n * VOTERS,
            r.nonces.1
        );
    }
    for r in &rows {
        println!(
            "{}: at half the saturation rate ({:.1} instr/s), first vote -> stored result p50 {:.1} ms, p99 {:.1} ms",
            r.backend, r.half_rate, r.half_p50_ms, r.half_p99_ms
        );
    }
}
