//! `sim-providers`: N simulated Flare data providers (keys and stakes derived from a label)
//! posting signed votes to an FCC proxy over HTTP.
//!
//! ```text
//! sim-providers --label devnet --count 10 --epoch 1 policy
//! sim-providers --label devnet --count 10 --epoch 1 sign --proxy http://127.0.0.1:6660 --wait-result 30
//! sim-providers --label devnet --count 10 follow --rpc http://127.0.0.1:8545 --instruction-sender 0x…
//! sim-providers --chain-id 14 check --proxy http://127.0.0.1:6660 --manifest reproducible/MEASUREMENTS.json
//! ```
//!
//! Progress goes to stdout one line per event (`VOTE …`, `DONE …`, `RESULT …`); logs to stderr.
//! Exits non-zero on the first failure (a refused vote, a bad receipt, no result in time).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::primitives::Address as AlloyAddress;
use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Parser, Subcommand};
use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::policy::PolicyHashScheme;
use fcc_sim_providers::attest::Collateral;
use fcc_sim_providers::client::{Posted, ProxyClient};
use fcc_sim_providers::follow::{FollowConfig, SigningSink};
use serde_json::json;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "sim-providers", about = "Simulated Flare data providers posting to an FCC proxy", version)]
struct Cli {
    /// Providers' keys and stakes derive from this label (same label, same providers).
    #[arg(long, global = true, env = "SIM_PROVIDERS_LABEL", default_value = "fcc devnet")]
    label: String,
    /// How many providers.
    #[arg(long, global = true, env = "SIM_PROVIDERS_COUNT", default_value_t = 10)]
    count: usize,
    /// Reward epoch of their policy (and of the instructions `sign` builds).
    #[arg(long, global = true, env = "SIM_PROVIDERS_EPOCH", default_value_t = 1)]
    epoch: u32,
    /// Chain id the providers sign for (the guest's and the proxy's).
    #[arg(long, global = true, env = "SIM_PROVIDERS_CHAIN_ID", default_value_t = 14)]
    chain_id: u64,
    /// Timeout of each HTTP request (ms).
    #[arg(long, global = true, default_value_t = 10_000)]
    timeout_ms: u64,
    /// PEM file of the CA certificates an `https://` RPC node must chain to (default: the
    /// platform's roots).
    #[arg(long, global = true, env = "SIM_PROVIDERS_RPC_CA_FILE")]
    rpc_ca_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the providers' signing policy as JSON: `policy` (bytes), `publicKeys`, hashes and
    /// voters. The `policy` and `publicKeys` fields are what fcc-proxy's `trust-root` file takes.
    Policy {
        /// Write the JSON here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Sign one instruction and post every chosen provider's vote to the proxy.
    Sign(SignArgs),
    /// Follow a chain's TeeInstructionsSent logs and sign every instruction, as data providers do.
    Follow(FollowArgs),
    /// Check the proxy's TEE before voting it into production: verify the attestation of
    /// `GET /info` against the manifest, bound to its public key and `--chain-id`. Prints the
    /// verdict as JSON, or `REFUSED: <reason>` and exits 1.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The proxy's base URL.
    #[arg(long, env = "SIM_PROVIDERS_PROXY")]
    proxy: String,
    /// Measurement manifest (reproducible/MEASUREMENTS.json).
    #[arg(long)]
    manifest: PathBuf,
    /// Test mode: accept plain QEMU's simulated attestation (the verdict says "simulated, not a
    /// TEE"). Never in production.
    #[arg(long)]
    allow_simulated: bool,
    /// SEV-SNP: the VCEK or VLEK certificate (DER or PEM).
    #[arg(long, requires = "chain")]
    vek: Option<PathBuf>,
    /// SEV-SNP: AMD's cert_chain, ASK (or ASVK) then ARK (PEM).
    #[arg(long, requires = "vek")]
    chain: Option<PathBuf>,
    /// TDX: collateral JSON (dcap-qvl's QuoteCollateralV3).
    #[arg(long, requires = "root")]
    collateral: Option<PathBuf>,
    /// TDX: Intel SGX Root CA certificate (DER).
    #[arg(long, requires = "collateral")]
    root: Option<PathBuf>,
    /// TDX: a cloud firmware the UEFI edition may run on (its MRTD, hex; repeat for several):
    /// such a quote is held to the manifest's UEFI edition RTMR1 instead of the ROM's MRTDs.
    #[arg(long, value_parser = parse_mrtd)]
    firmware_mrtd: Vec<[u8; 48]>,
    /// Keep retrying while the proxy has no TEE yet (503) for this long (ms).
    #[arg(long, default_value_t = 0)]
    retry_ms: u64,
    /// JSON-RPC URL of the chain whose Relay the TEE's trust root and active policy must match.
    #[arg(long, env = "SIM_PROVIDERS_RPC", requires = "relay")]
    rpc: Option<String>,
    /// The Relay (DevRelay) address.
    #[arg(long, env = "SIM_PROVIDERS_RELAY", requires = "rpc")]
    relay: Option<String>,
    /// Skip comparing the TEE's policies with the Relay's (no chain at hand). Never in
    /// production: a TEE rooted in the operator's own keys passes without it.
    #[arg(long, conflicts_with = "rpc")]
    no_relay_check: bool,
}

#[derive(Debug, Args)]
struct Common {
    /// Indices of the providers that sign, comma-separated (all when absent).
    #[arg(long, value_delimiter = ',')]
    signers: Vec<usize>,
    /// Additional fixed message (hex) every provider adds.
    #[arg(long, default_value = "0x")]
    additional_fixed_message: String,
}

#[derive(Debug, Args)]
struct SignArgs {
    /// The proxy's base URL.
    #[arg(long, env = "SIM_PROVIDERS_PROXY")]
    proxy: String,
    /// A JSON file with Flare's instruction `data` object (as in `POST /instruction`; its
    /// `additionalVariableMessage`, if any, is ignored). The flags below build one otherwise.
    #[arg(long, conflicts_with_all = ["instruction_id", "tee_id", "op_type", "op_command", "message", "timestamp"])]
    instruction: Option<PathBuf>,
    /// Instruction id (32 bytes hex); default keccak of `--id-label`.
    #[arg(long)]
    instruction_id: Option<String>,
    /// Text whose keccak is the instruction id when `--instruction-id` is absent.
    #[arg(long, default_value = "sim-providers instruction")]
    id_label: String,
    /// The TEE (address hex); default: the proxy's, from `GET /info`.
    #[arg(long)]
    tee_id: Option<String>,
    /// Operation type (ASCII).
    #[arg(long, default_value = "F_FDC2")]
    op_type: String,
    /// Operation command (ASCII).
    #[arg(long, default_value = "PROVE")]
    op_command: String,
    /// Original message (hex); default: an example FDC2 EVMTransaction request
    /// (`fcc_sim_providers::fdc2_request`, what F_FDC2/PROVE takes).
    #[arg(long)]
    message: Option<String>,
    /// Instruction timestamp (Unix seconds); default now.
    #[arg(long)]
    timestamp: Option<u64>,
    /// The proxy's receipt address (hex); default: from `GET /info`.
    #[arg(long)]
    proxy_address: Option<String>,
    /// Keep retrying a vote the proxy cannot take yet (unreachable, 429, 503 such as no TEE
    /// connected, an epoch it does not know yet) for this long (ms).
    #[arg(long, default_value_t = 30_000)]
    retry_ms: u64,
    /// After the votes, wait this long (s) for the stored result and print it (0: do not wait).
    #[arg(long, default_value_t = 0)]
    wait_result: u64,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct FollowArgs {
    /// JSON-RPC URL of the chain.
    #[arg(long, env = "SIM_PROVIDERS_RPC")]
    rpc: String,
    /// The TeeInstructionSender contract.
    #[arg(long)]
    instruction_sender: String,
    /// The relay (only logged: its policies are not signed here).
    #[arg(long)]
    relay: Option<String>,
    /// Post to this proxy instead of the URL each log names for its machine.
    #[arg(long)]
    proxy: Option<String>,
    /// Only instructions for this TEE (address hex).
    #[arg(long)]
    tee_id: Option<String>,
    /// First block to read.
    #[arg(long, default_value_t = 0)]
    start_block: u64,
    /// Blocks below the head before a block is read.
    #[arg(long, default_value_t = 0)]
    confirmations: u64,
    /// Poll interval when caught up (ms).
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Stop after this many instructions were signed (0: run until SIGINT/SIGTERM).
    #[arg(long, default_value_t = 0)]
    max_instructions: usize,
    #[command(flatten)]
    common: Common,
}

fn hex_bytes(what: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim().trim_start_matches("0x")).with_context(|| format!("{what} must be hex"))
}

fn hex_array<const N: usize>(what: &str, s: &str) -> Result<[u8; N]> {
    let b = hex_bytes(what, s)?;
    b.as_slice().try_into().map_err(|_| anyhow::anyhow!("{what} must be {N} bytes, got {}", b.len()))
}

fn op_name(what: &str, s: &str) -> Result<[u8; 32]> {
    ensure!(s.len() <= 32, "{what} {s:?} is longer than 32 bytes");
    let mut b = [0u8; 32];
    b[..s.len()].copy_from_slice(s.as_bytes());
    Ok(b)
}

fn print_vote(p: &Posted, address: &[u8; 20]) {
    println!(
        "VOTE provider={} address=0x{} sequence={} votes={} weight={} threshold={} state={}",
        p.provider,
        hex::encode(address),
        p.receipt.receipt.sequence,
        p.status.votes,
        p.status.weight,
        p.status.threshold,
        p.status.state
    );
}

fn signers(common: &Common, n: usize) -> Result<Vec<usize>> {
    if let Some(&bad) = common.signers.iter().find(|&&i| i >= n) {
        bail!("--signers names provider {bad}, but there are {n}");
    }
    Ok(if common.signers.is_empty() { (0..n).collect() } else { common.signers.clone() })
}

async fn sign(cli: &Cli, args: &SignArgs) -> Result<()> {
    let ps = fcc_sim_providers::providers(&cli.label, cli.count)?;
    let client = ProxyClient::new(&args.proxy, cli.chain_id, Duration::from_millis(cli.timeout_ms))?
        .with_retry(Duration::from_millis(args.retry_ms));
    let d = match &args.instruction {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let mut v: serde_json::Value = serde_json::from_str(&text).context("instruction JSON")?;
            if let Some(o) = v.as_object_mut() {
                o.remove("additionalVariableMessage");
            }
            instruction_from_json(v)?
        }
        None => {
            let tee_id = match &args.tee_id {
                Some(t) => hex_array::<20>("--tee-id", t)?,
                None => client.tee_id().await.context("asking the proxy for its TEE id (or give --tee-id)")?,
            };
            InstructionData {
                instruction_id: match &args.instruction_id {
                    Some(id) => hex_array::<32>("--instruction-id", id)?,
                    None => keccak256(args.id_label.as_bytes()),
                },
                tee_id,
                timestamp: args.timestamp.unwrap_or_else(|| {
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
                }),
                reward_epoch_id: cli.epoch,
                op_type: op_name("--op-type", &args.op_type)?,
                op_command: op_name("--op-command", &args.op_command)?,
                original_message: match &args.message {
                    Some(m) => hex_bytes("--message", m)?,
                    None => fcc_sim_providers::fdc2_request(),
                },
                additional_fixed_message: hex_bytes(
                    "--additional-fixed-message",
                    &args.common.additional_fixed_message,
                )?,
                ..Default::default()
            }
        }
    };
    d.validate().map_err(|e| anyhow::anyhow!("instruction: {e}"))?;
    let proxy = match &args.proxy_address {
        Some(a) => hex_array::<20>("--proxy-address", a)?,
        None => client.proxy_address().await.context("asking the proxy for its address (or give --proxy-address)")?,
    };
    let who = signers(&args.common, ps.len())?;
    let posted = client.sign_all(&ps, &who, &d, Some(proxy), |p| print_vote(p, &ps[p.provider].key.address())).await?;
    let last = posted.last().context("no signers")?;
    println!(
        "DONE instruction=0x{} epoch={} votes={} weight={} threshold={} state={}",
        hex::encode(d.instruction_id),
        d.reward_epoch_id,
        last.status.votes,
        last.status.weight,
        last.status.threshold,
        last.status.state
    );
    if args.wait_result > 0 {
        let url = format!("{}/action/result/0x{}", args.proxy.trim_end_matches('/'), hex::encode(d.instruction_id));
        let deadline = Instant::now() + Duration::from_secs(args.wait_result);
        let http = reqwest::Client::builder().timeout(Duration::from_millis(cli.timeout_ms)).build()?;
        loop {
            let r = http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
            if r.status().is_success() {
                let v: serde_json::Value = r.json().await.context("result JSON")?;
                println!("RESULT {v}");
                break;
            }
            ensure!(Instant::now() < deadline, "no result for the instruction within {} s", args.wait_result);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Flare's instruction `data` JSON (`fcc_flare_json::Data`), its fixed part.
fn instruction_from_json(v: serde_json::Value) -> Result<InstructionData> {
    let d: fcc_flare_json::Data = serde_json::from_value(v).context("instruction JSON")?;
    Ok(d.fixed())
}

async fn follow(cli: &Cli, args: &FollowArgs) -> Result<()> {
    let ps = fcc_sim_providers::providers(&cli.label, cli.count)?;
    let sender: AlloyAddress = args.instruction_sender.parse().context("--instruction-sender")?;
    let relay: AlloyAddress = match &args.relay {
        Some(r) => r.parse().context("--relay")?,
        None => AlloyAddress::ZERO,
    };
    let rpc = fcc_chain::http::provider(
        args.rpc.parse().context("--rpc")?,
        fcc_chain::http::client(cli.rpc_ca_file.as_deref())?,
    );
    let config = FollowConfig {
        proxy: args.proxy.clone(),
        tee_id: args.tee_id.as_deref().map(|t| hex_array::<20>("--tee-id", t)).transpose()?,
        chain_id: cli.chain_id,
        additional_fixed_message: hex_bytes("--additional-fixed-message", &args.common.additional_fixed_message)?,
        signers: signers(&args.common, ps.len())?,
        timeout: Duration::from_millis(cli.timeout_ms),
        restore_check: None,
    };
    let sink = SigningSink::new(rpc.clone(), ps, config);
    let mut chain = fcc_chain::Config::new(relay, sender);
    chain.confirmations = args.confirmations;
    chain.start_block = args.start_block;
    chain.poll_interval = Duration::from_millis(args.poll_ms.max(10));
    let mut monitor = fcc_chain::Monitor::new(rpc, chain);
    let max = args.max_instructions;
    let done = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            if max > 0 && sink.posted.lock().expect("lock").len() >= max {
                return;
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => return,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    };
    println!("FOLLOWING rpc={} instruction-sender={sender}", args.rpc);
    monitor.run(&sink, done).await;
    for d in sink.posted.lock().expect("lock").iter() {
        println!("SIGNED instruction=0x{} tee=0x{}", hex::encode(d.instruction_id), hex::encode(d.tee_id));
    }
    Ok(())
}

fn parse_mrtd(s: &str) -> std::result::Result<[u8; 48], String> {
    fcc_attest::manifest::measurement_from_hex(s).map_err(|e| e.to_string())
}

async fn check(cli: &Cli, args: &CheckArgs) -> Result<()> {
    let verifier = fcc_sim_providers::attest::Verifier {
        firmware_mrtds: args.firmware_mrtd.clone(),
        ..fcc_sim_providers::attest::verifier(&args.manifest, args.allow_simulated)?
    };
    let collateral = Collateral::from_files(
        args.vek.as_deref(),
        args.chain.as_deref(),
        args.collateral.as_deref(),
        args.root.as_deref(),
    )?;
    let client = ProxyClient::new(&args.proxy, cli.chain_id, Duration::from_millis(cli.timeout_ms))?
        .with_retry(Duration::from_millis(args.retry_ms));
    ensure!(args.rpc.is_some() || args.no_relay_check, "--rpc and --relay are required (or --no-relay-check)");
    let checked = match client.check_tee(&verifier, &collateral).await {
        Ok(checked) => checked,
        Err(e) => {
            println!("REFUSED: {e}");
            std::process::exit(1);
        }
    };
    if let (Some(rpc), Some(relay)) = (&args.rpc, &args.relay) {
        let client = fcc_chain::http::client(cli.rpc_ca_file.as_deref())?;
        let provider = fcc_chain::http::provider(rpc.parse().context("--rpc is not a URL")?, client);
        let relay: AlloyAddress = relay.parse().context("--relay is not an address")?;
        let epochs = [checked.statement.initial_policy.0, checked.statement.last_policy.0];
        let hashes = fcc_sim_providers::attest::relay_policy_hashes(&provider, relay, &epochs).await?;
        let relay_hash = |e: u32| hashes.get(&e).copied().flatten();
        if let Err(e) = fcc_sim_providers::attest::check_policies(&checked.statement, relay_hash) {
            println!("REFUSED: {e}");
            std::process::exit(1);
        }
    }
    println!("{}", serde_json::to_string_pretty(&checked.verdict)?);
    Ok(())
}

fn policy(cli: &Cli, out: Option<&PathBuf>) -> Result<()> {
    let ps = fcc_sim_providers::providers(&cli.label, cli.count)?;
    let p = fcc_sim_providers::policy(&ps, cli.epoch)?;
    let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
    // The trust-root file's two fields, and what an operator checks them against beside them.
    let mut v = fcc_sim_providers::trust_root_json(&ps, &p);
    v["rewardEpochId"] = cli.epoch.into();
    v["hashChainBound"] = hex0x(&p.hash(PolicyHashScheme::ChainBound { chain_id: cli.chain_id })).into();
    v["hashLegacy"] = hex0x(&p.hash(PolicyHashScheme::Legacy)).into();
    v["threshold"] = p.threshold().into();
    v["voters"] = p
        .voters()
        .iter()
        .map(|v| json!({ "address": hex0x(&v.address), "weight": v.weight }))
        .collect::<Vec<_>>()
        .into();
    let text = serde_json::to_string_pretty(&v)?;
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    ensure!(cli.count >= 1 && cli.count <= 300, "--count must be 1..=300 (Flare's voter bound)");
    match &cli.command {
        Command::Policy { out } => policy(&cli, out.as_ref()),
        Command::Sign(args) => sign(&cli, args).await,
        Command::Follow(args) => follow(&cli, args).await,
        Command::Check(args) => check(&cli, args).await,
    }
}
