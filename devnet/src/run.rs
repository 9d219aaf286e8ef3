//! The devnet's run: the whole system on one machine, each part real. A local chain (anvil) with the
//! contracts deployed, the `fcc-proxy` binary on SQLite, the guest ROM booted in QEMU (KVM or
//! TCG), simulated data providers following the chain, and instructions sent through the
//! instruction contract whose results are verified on chain. Every step is checked (a failure
//! is an error, never a message) and printed with its time.
//!
//! Everything started here is a child owned by a value that kills it when dropped (anvil's
//! `AnvilInstance`, [`ProxyProcess`], [`GuestHandle`]), so an error, a panic or Ctrl-C (the
//! binary drops the run's future on SIGINT) leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::contract::RawCallBuilder;
use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::DynProvider;
use anyhow::{Context, Result, bail, ensure};
use fcc_chain::{Config as ChainConfig, Monitor};
use fcc_contracts::relay_message::{
    custom_signing_digest, encode_custom_signature, encode_policy_update, policy_update_digest, sign_as_voters,
};
use fcc_contracts::{Devnet, action_result, deploy_devnet, platform};
use fcc_core::hash::{H256, keccak256};
use fcc_core::result::status;
use fcc_core::wallet::backup::WalletBackup;
use fcc_core::wallet::codec::KeyDataProviderRestore;
use fcc_core::wallet::{KeyIdPair, address_of_xy};
use fcc_layout::interface::READY_PREFIX;
use fcc_qemu::{Guest, parse_ready};
use fcc_sim_providers as sim;
use fcc_sim_providers::follow::{FollowConfig, RestoreCheck, SigningSink};
use sha2::{Digest, Sha384};

use crate::PROXY_SUBCOMMAND;
use crate::machine::{
    GuestHandle, chain_args_with, manifest, proxy_args, registration_check_against, registration_data, scheme, until,
};
use crate::process::{Api, ProxyCommand, ProxyProcess};
use crate::stage::{CHAIN_ID, EPOCH, EXTENSION, STEP_TIMEOUT, TEST_MODE_VERSION, Trace, send_instruction, send_ok};

/// Label of the simulated providers' keys.
const PROVIDERS: &str = "fcc devnet provider";
/// The wallet the devnet's TEE keeps a key of (key id 1), registered in `KeyBackupRegistry`.
pub const WALLET: [u8; 32] = *b"fcc devnet wallet\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
/// Its silence period: the registry's minimum (the devnet moves anvil's clock past it).
const SILENCE: u64 = 3600;
/// Label of the wallet's admins' keys (two of three rebuild the admin part).
const ADMINS: &str = "fcc devnet wallet admin";

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of simulated data providers (voters).
    pub voters: usize,
    /// Leave everything running after the trace and print the endpoints.
    pub keep_running: bool,
    /// Working directory (database, logs, guest console); a temporary one when `None`.
    pub workdir: Option<PathBuf>,
    /// Guests: 1 (the default), or 3 to add the payments stage — a wallet across three TEEs
    /// signing XRPL and Bitcoin payments.
    pub guests: usize,
    /// Check the live TEE's status page in headless Chromium at the end, keeping its DOM and a
    /// screenshot in this directory.
    pub status_page: Option<PathBuf>,
    /// The compute extensions of the compute machine's image (`compute`): its own ROM, code
    /// version and extension id; each extension's examples go through the chain.
    pub extensions: Vec<String>,
}

/// Everything the devnet started, stopped in reverse order when dropped.
pub struct Running {
    /// The live guest, TEE B (dropped first: its proxy link just closes). TEE A was killed.
    pub guest: GuestHandle,
    /// With `--guests 3`: TEEs C and D with their proxies.
    pub others: Vec<(GuestHandle, ProxyProcess)>,
    /// The compute machine (the image with the seed-003 extensions) and its proxy.
    pub compute: crate::compute::Machine,
    /// The providers' chain follower.
    pub follower: tokio::task::JoinHandle<()>,
    /// TEE A's proxy (it still serves A's wallet backup).
    pub proxy: ProxyProcess,
    /// TEE B's proxy.
    pub proxy_b: ProxyProcess,
    /// The chain.
    pub anvil: AnvilInstance,
    /// The deployed contracts.
    pub net: Devnet,
    /// TEE A's id (killed in the wallet stage).
    pub tee_a: Address,
    /// TEE B's id (it holds the wallet key now).
    pub tee_b: Address,
    /// Working directory (kept if it was given, removed otherwise).
    pub dir: WorkDir,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("tee_a", &self.tee_a).field("tee_b", &self.tee_b).finish_non_exhaustive()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl Running {
    /// The endpoints for manual use.
    pub fn endpoints(&self) -> String {
        let n = &self.net;
        format!(
            "TEE B's proxy   http://{}  (GET /info, /metrics, /action/result/<id>, POST /instruction, /wallet/backup)\n\
             TEE B's link    {} (the live guest connects here)\n\
             TEE A's proxy   http://{}  (A was killed; its proxy still serves A's wallet backup)\n\
             anvil RPC       {}  (chain {CHAIN_ID}; deployer = anvil account 0, wallet recovery = account 1)\n\
             DevRelay              {}\n\
             TeeExtensionRegistry  {}  (extension {EXTENSION})\n\
             TeeMachineRegistry    {}\n\
             TeeResultVerifier     {}\n\
             TeeInstructionSender  {}\n\
             KeyBackupRegistry     {}  (wallet 0x{})\n\
             TEE ids         A {} (killed), B {}\n\
             guest console   {}\n\
             proxy logs      {}, {}\n\
             work dir        {}",
            self.proxy_b.http,
            self.proxy_b.link,
            self.proxy.http,
            self.anvil.endpoint(),
            n.relay.address(),
            n.extensions.address(),
            n.machines.address(),
            n.verifier.address(),
            n.sender.address(),
            n.backups.address(),
            hex::encode(WALLET),
            self.tee_a,
            self.tee_b,
            self.guest.console.display(),
            self.proxy.log.display(),
            self.proxy_b.log.display(),
            self.dir.path().display(),
        )
    }
}

/// The working directory: given (kept) or temporary (removed when dropped).
#[derive(Debug)]
pub enum WorkDir {
    /// Kept.
    Given(PathBuf),
    /// Removed on drop.
    Temp(tempfile::TempDir),
}

impl WorkDir {
    /// Its path.
    pub fn path(&self) -> &Path {
        match self {
            WorkDir::Given(p) => p,
            WorkDir::Temp(t) => t.path(),
        }
    }
}

/// Follows one instruction from its on-chain event to the verified result, printing each stage.
async fn follow_instruction(
    trace: &Trace,
    api: &Api,
    net: &Devnet,
    tee_id: Address,
    id: B256,
    epoch: u32,
) -> Result<()> {
    let id32: H256 = id.0;
    let first = until("the first provider signature", || async {
        Ok(api.status(epoch, &id32).await?.filter(|s| s["votes"].as_u64() > Some(0)))
    })
    .await?;
    trace.step(format!("provider signatures arriving at the proxy (first: weight {})", first["weight"]));
    let queued = until("the threshold", || async {
        Ok(api.status(epoch, &id32).await?.filter(|s| s["state"].as_str() != Some("collecting")))
    })
    .await?;
    trace.step(format!(
        "threshold reached: {} signatures, weight {} > threshold {}; one action queued for the guest",
        queued["votes"], queued["weight"], queued["threshold"]
    ));
    let (r, _) = api.wait_result(&id32, STEP_TIMEOUT).await?;
    ensure!(r.result.status == status::SUCCESS, "the guest refused: {}", r.result.log);
    let signer = sim::result_signer(&r, CHAIN_ID)?;
    ensure!(Address::from(signer) == tee_id, "result signed by 0x{}, not the TEE", hex::encode(signer));
    trace.step(format!(
        "guest verified the action's signatures and signed the result ({} bytes of data; the signature recovers to the TEE)",
        r.result.data.len()
    ));
    let verified = net
        .verifier
        .verifyResult(EXTENSION, action_result(&r.result), Bytes::copy_from_slice(&r.signature))
        .call()
        .await
        .context("TeeResultVerifier.verifyResult")?;
    ensure!(verified == tee_id, "verifyResult named {verified}, not the TEE {tee_id}");
    trace.step(format!("result verified on chain: TeeResultVerifier.verifyResult -> {verified} (production TEE)"));
    Ok(())
}

/// Sends an `F_FDC2/PROVE` through the instruction contract; returns its id and epoch.
async fn send_prove(trace: &Trace, net: &Devnet, tee_id: Address, from: Address) -> Result<(B256, u32)> {
    let e = send_instruction(trace, net, tee_id, from, ("F_FDC2", "PROVE"), sim::fdc2_request(), (vec![], 0)).await?;
    Ok((e.instruction_id, e.reward_epoch_id))
}

/// The providers' check of the TEE behind the proxy at `url` (`fcc_sim_providers::attest`):
/// its signed answer to a fresh challenge, the evidence against the published manifest (test
/// mode), and its trust root and active policy against the Relay's. The outer error is the
/// devnet's; the inner one is the providers' refusal.
async fn providers_check<P: alloy::providers::Provider>(
    url: &str,
    rpc: &P,
    relay: Address,
) -> Result<Result<sim::attest::Checked, sim::attest::CheckError>> {
    let manifest = manifest();
    let verifier = sim::attest::verifier(&manifest, true)?;
    let checker = sim::client::ProxyClient::new(url, CHAIN_ID, Duration::from_secs(10))?;
    let checked = match checker.check_tee(&verifier, &sim::attest::Collateral::default()).await {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let epochs = [checked.statement.initial_policy.0, checked.statement.last_policy.0];
    let hashes = sim::attest::relay_policy_hashes(rpc, relay, &epochs).await?;
    Ok(sim::attest::check_policies(&checked.statement, |e| hashes.get(&e).copied().flatten()).map(|()| checked))
}

/// What the TEE's signature on its registration stops, tried on chain before the real
/// registration: a stranger registering the key with the TEE's own signature (it is not the owner
/// the TEE signed for), and the owner registering data the TEE did not sign (another extension).
async fn registration_attacks_refused(
    trace: &Trace,
    net: &Devnet,
    data: &fcc_contracts::machine_registry::ITeeMachineRegistry::TeeMachineData,
    signature: &fcc_contracts::machine_registry::ITeeMachineRegistry::Signature,
    proxy_id: Address,
    url: &str,
) -> Result<()> {
    let started = Instant::now();
    let stranger = Address::repeat_byte(0x57);
    let call = net.machines.register(data.clone(), signature.clone(), proxy_id, url.into()).from(stranger);
    let refused = call.call().await.expect_err("a stranger registered the TEE");
    ensure!(refused.to_string().contains("revert"), "not a revert: {refused}");
    let mut other = data.clone();
    other.extensionId += U256::from(1);
    let refused = net
        .machines
        .register(other, signature.clone(), proxy_id, url.into())
        .call()
        .await
        .expect_err("data the TEE did not sign was registered");
    let decoded = refused.as_decoded_error::<fcc_contracts::TeeMachineRegistry::RegistrationSignatureInvalid>();
    ensure!(decoded.is_some(), "unexpected refusal: {refused}");
    trace.step(format!(
        "attacks refused: a stranger registering the TEE with its signature (not the owner it signed for), and its owner registering data it did not sign (RegistrationSignatureInvalid), in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    ));
    Ok(())
}

/// The providers' check of the registration of `tee_id` (`fcc_sim_providers::attest::
/// check_registration`): the TEE's signed answer to the registry's `F_REG/TEE_ATTESTATION`
/// (signed by the following providers, read from the proxy at `url`) against the registry's
/// record and challenge, the published manifest (test mode) and the Relay. The outer error is the
/// devnet's; the inner one is the providers' refusal.
async fn registration_check<P: alloy::providers::Provider>(
    url: &str,
    rpc: &P,
    net: &Devnet,
    tee_id: Address,
) -> Result<Result<(sim::attest::Statement, sim::attest::Verdict), sim::attest::CheckError>> {
    registration_check_against(url, rpc, net, tee_id, &manifest()).await
}

/// The trust-chain attack: an operator boots a fresh guest (the real ROM) behind its own proxy
/// whose trust root is a policy of keys it controls, for the Relay's epoch. The guest's
/// evidence verifies and is fresh (on hardware it would be genuine), so only the providers'
/// comparison with the Relay can refuse it — and does.
async fn rogue_trust_root_refused<P: alloy::providers::Provider>(
    trace: &Trace,
    setup: &RogueSetup<'_>,
    rpc: &P,
    relay: Address,
) -> Result<()> {
    let started = Instant::now();
    let operator = sim::providers("the operator's own keys", 4)?;
    let policy = sim::policy(&operator, EPOCH)?;
    let db = format!("sqlite://{}", setup.dir.join("rogue.db").display());
    let args = proxy_args(&db, &setup.dir.join("rogue-trust-root.json"), &operator, &policy)?;
    let proxy =
        ProxyProcess::spawn(setup.proxy, &args, &[("NO_COLOR", "1".into())], &setup.dir.join("rogue-proxy.log"))?;
    let api = Api::new(proxy.http);
    let boot = fcc_qemu::BootOptions::on_host(setup.rom.to_path_buf(), setup.host).network(proxy.link.port());
    let mut guest = Guest::boot(&boot)?;
    tokio::task::block_in_place(|| guest.wait_for(READY_PREFIX, STEP_TIMEOUT))?;
    let (r, _) = api.wait_result(&fcc_core::action::initialize_policy_id(&policy.encode()), STEP_TIMEOUT).await?;
    ensure!(r.result.status == status::SUCCESS, "the rogue INITIALIZE_POLICY was refused: {}", r.result.log);
    match providers_check(&format!("http://{}", proxy.http), rpc, relay).await? {
        Err(e @ sim::attest::CheckError::PolicyNotRelays { .. }) => trace.step(format!(
            "attack refused: a guest (the same ROM) rooted by its operator in a policy of its own keys for epoch \
             {EPOCH} answers the providers' challenge with evidence that verifies (test mode), but they refuse it: \
             {e}, in {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        )),
        Err(e) => bail!("the rogue guest was refused, but not for its trust root: {e}"),
        Ok(_) => bail!("the providers accepted a guest rooted in the operator's own policy"),
    }
    drop(guest);
    drop(proxy);
    Ok(())
}

/// The proxy's arguments for following the devnet's chain (relay, instruction sender) and
/// checking its guest's `Hello` against the published manifest (test mode: plain QEMU's evidence
/// is simulated).
fn chain_args(rpc: &str, net: &Devnet) -> Vec<String> {
    chain_args_with(rpc, net, &manifest())
}

/// What booting a second guest behind a second proxy needs.
struct RogueSetup<'a> {
    dir: &'a Path,
    proxy: &'a ProxyCommand,
    rom: &'a Path,
    host: &'a fcc_qemu::HostAccel,
}

/// The two attacks of the proxy's security review, run against the real proxy and refused: a
/// stranger listing itself as an instruction's only cosigner cannot open (and so pin) an
/// instruction id, and a link greeting as the TEE without its key — its `GET /info` fields with
/// a signature for no challenge — is closed before it gets anything.
async fn attacks_refused(trace: &Trace, api: &Api, link: std::net::SocketAddr, tee: [u8; 20]) -> Result<()> {
    use fcc_core::wire::{FrameReader, GuestMessage, Hello, ProxyMessage, decode_body, encode_frame};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let stranger = &sim::providers("fcc devnet squatter", 1)?[0];
    let mut squat = sim::fdc2_instruction(tee, "a predictable future instruction id", EPOCH);
    squat.cosigners = vec![stranger.key.address()];
    let r = reqwest::Client::new()
        .post(format!("{}/instruction", api.base))
        .json(&sim::vote_json(stranger, &squat, CHAIN_ID))
        .send()
        .await?;
    let code = r.status().as_u16();
    let body: serde_json::Value = r.json().await?;
    ensure!(code == 425 && body["error"] == "no_voter_yet", "the squatter's vote was taken: {code} {body}");
    ensure!(api.status(EPOCH, &squat.instruction_id).await?.is_none(), "the squatter opened the instruction");

    let before = links_refused(api).await?;
    let info = api.wait_info(STEP_TIMEOUT).await?;
    let public_key: [u8; 64] = hex::decode(info["publicKey"].as_str().context("publicKey")?.trim_start_matches("0x"))?
        .try_into()
        .map_err(|_| anyhow::anyhow!("publicKey is not 64 bytes"))?;
    let forged = Hello {
        tee_id: tee,
        public_key: fcc_core::light_client::PublicKey(public_key),
        platform: fcc_core::attester::PlatformKind::Plain,
        chain_id: CHAIN_ID,
        version: info["codeVersion"].as_str().unwrap_or_default().into(),
        attestation: hex::decode(info["attestation"].as_str().unwrap_or_default().trim_start_matches("0x"))?,
        statement: Box::new(sim::attest::decode_statement(&hex::decode(
            info["statement"].as_str().unwrap_or_default().trim_start_matches("0x"),
        )?)?),
        initial_policy: None,
        active_epoch: None,
        sealed: None,
        link_signature: [0x11; 65],
    };
    let mut s = tokio::net::TcpStream::connect(link).await?;
    s.write_all(&encode_frame(&GuestMessage::Hello(forged)).map_err(|e| anyhow::anyhow!("{e}"))?).await?;
    s.write_all(&encode_frame(&GuestMessage::Pull { max_actions: 4 }).map_err(|e| anyhow::anyhow!("{e}"))?).await?;
    let (mut reader, mut buf, mut got) = (FrameReader::new(), vec![0u8; 4096], Vec::new());
    loop {
        let n = match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .context("the link stayed open")?
        {
            // Closed with our unread Pull still in its buffer, the socket is reset, not shut.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            other => other?,
        };
        if n == 0 {
            break;
        }
        reader.push(&buf[..n]).map_err(|e| anyhow::anyhow!("{e}"))?;
        while let Some(b) = reader.next_body().map_err(|e| anyhow::anyhow!("{e}"))? {
            got.push(decode_body::<ProxyMessage>(&b).map_err(|e| anyhow::anyhow!("{e}"))?);
        }
    }
    ensure!(
        got.iter().all(|m| matches!(m, ProxyMessage::Challenge { .. })),
        "the impostor link was given something: {got:?}"
    );
    ensure!(links_refused(api).await? > before, "the proxy did not count the refused link");
    let served = api.wait_info(STEP_TIMEOUT).await?;
    ensure!(served["teeId"] == info["teeId"], "the served TEE changed: {}", served["teeId"]);
    trace.step(format!(
        "attacks refused: a stranger listing itself as cosigner cannot open an instruction id (425 no_voter_yet); \
         a link greeting as the TEE without its key is closed unanswered (links_refused), in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    ));
    Ok(())
}

/// The proxy's `links_refused` counter.
async fn links_refused(api: &Api) -> Result<u64> {
    let metrics = api.metrics().await?;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("fcc_proxy_links_refused_total "))
        .context("links_refused is not in /metrics")?;
    Ok(line.rsplit(' ').next().unwrap_or_default().parse()?)
}

/// The providers' rule for restoring a wallet key (`sim::follow::RestoreCheck`): the registry
/// has the wallet in recovery, and the backup is of the key, and is the backup, it recorded.
#[derive(Debug)]
struct RegistryRecovery {
    backups: fcc_contracts::KeyBackupRegistry::KeyBackupRegistryInstance<DynProvider>,
}

#[async_trait::async_trait]
impl RestoreCheck for RegistryRecovery {
    async fn allow(&self, extension_id: U256, backup: &WalletBackup) -> Result<()> {
        let b = &backup.metadata.backup_id;
        let w = self.backups.wallet(extension_id, b.id.wallet_id.into()).call().await?;
        ensure!(w.custody == CUSTODY_RECOVERY, "KeyBackupRegistry: the wallet is not in recovery");
        ensure!(
            w.keyId == b.id.key_id && w.keyAddress == Address::from(address_of_xy(&b.public_key)),
            "KeyBackupRegistry recorded another key"
        );
        ensure!(w.backupHash.0 == backup.content_hash(), "KeyBackupRegistry recorded another backup");
        Ok(())
    }
}

/// `IKeyBackupRegistry.Custody`.
const CUSTODY_TEE: u8 = 1;
const CUSTODY_RECOVERY: u8 = 2;

/// The TEE behind `api` signs a heartbeat naming `backup` (made through its proxy) after the
/// latest block, and it is relayed to `KeyBackupRegistry.submitBackup`; returns the wallet's
/// record then.
async fn heartbeat(
    net: &Devnet,
    rpc: &DynProvider,
    from: Address,
    api: &Api,
    backup: &crate::process::MadeBackup,
) -> Result<fcc_contracts::key_backup::IKeyBackupRegistry::Wallet> {
    use alloy::providers::Provider;
    let block = rpc.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await?.context("no latest block")?;
    let registry = net.backups.address().0.0;
    let r = api
        .wallet_heartbeat(&backup.id, &registry, &EXTENSION.to_be_bytes(), (block.header.number, block.header.hash.0))
        .await?;
    send_ok(
        "submitBackup",
        net.backups
            .submitBackup(fcc_contracts::backup_result(&r.result), Bytes::copy_from_slice(&r.signature))
            .from(from),
    )
    .await?;
    Ok(net.backups.wallet(EXTENSION, WALLET.into()).call().await?)
}

/// Another machine, TEE `name` ("B", "C"…): the ROM booted behind a proxy of its own (rooted
/// in the current `policy` of voters `ps`), registered by the deployer and voted into production
/// by the providers after their check of its attestation, like the first.
async fn another_machine(
    s: &WalletSetup<'_>,
    name: &str,
    ps: &[sim::Provider],
    policy: &fcc_core::policy::SigningPolicy,
) -> Result<(GuestHandle, ProxyProcess, Api, Address, [u8; 64])> {
    let (trace, net, dir) = (s.trace, s.net, s.dir);
    let file = |stem: &str, ext: &str| dir.join(format!("{stem}-{}.{ext}", name.to_lowercase()));
    let db = format!("sqlite://{}", file("proxy", "db").display());
    let mut args = proxy_args(&db, &file("trust-root", "json"), ps, policy)?;
    args.extend(chain_args(&s.rpc_url, net));
    let proxy = ProxyProcess::spawn(s.proxy, &args, &[("NO_COLOR", "1".into())], &file("proxy", "log"))?;
    let api = Api::new(proxy.http);
    let boot = fcc_qemu::BootOptions::on_host(s.rom.to_path_buf(), s.host)
        .network(proxy.link.port())
        .registration(EXTENSION.to::<u64>(), s.deployer.0.0);
    let mut guest = Guest::boot(&boot)?;
    let (ready, took) = tokio::task::block_in_place(|| guest.wait_for(READY_PREFIX, STEP_TIMEOUT))?;
    let tee_id = Address::from(parse_ready(&ready)?.tee);
    let first_lines = guest.console();
    let guest = GuestHandle::new(guest, &first_lines, &file("guest", "console.log"))?;
    let (r, _) = api.wait_result(&fcc_core::action::initialize_policy_id(&policy.encode()), STEP_TIMEOUT).await?;
    ensure!(r.result.status == status::SUCCESS, "{name}'s INITIALIZE_POLICY refused: {}", r.result.log);
    let info = api.wait_info(STEP_TIMEOUT).await?;
    let public: [u8; 64] = hex::decode(info["publicKey"].as_str().context("publicKey")?.trim_start_matches("0x"))?
        .try_into()
        .map_err(|_| anyhow::anyhow!("publicKey is not 64 bytes"))?;
    let url = format!("http://{}", proxy.http);
    let proxy_id: Address = info["proxyAddress"].as_str().context("proxyAddress")?.parse()?;
    let (data, data_signature) = registration_data(&url, tee_id).await?;
    send_ok(
        &format!("register {name}"),
        net.machines.register(data, data_signature, proxy_id, url.clone()).from(s.deployer),
    )
    .await?;
    registration_check(&url, s.rpc, net, tee_id)
        .await?
        .map_err(|e| anyhow::anyhow!("the providers refuse TEE {tee_id}: {e}"))?;
    let all: Vec<usize> = (0..ps.len()).collect();
    let hash = net.machines.productionHash(tee_id).call().await?;
    let digest = custom_signing_digest(&hash.0, scheme());
    let message = encode_custom_signature(policy, &hash.0, &sign_as_voters(sim::signers(ps, &all), &digest))?;
    send_ok(&format!("toProduction {name}"), net.machines.toProduction(tee_id, message.into()).from(s.deployer))
        .await?;
    ensure!(net.machines.isProductionTee(EXTENSION, tee_id).call().await?, "{name} not in production");
    trace.step(format!(
        "TEE {name} {tee_id}: a fresh guest (booted in {} ms) behind its own proxy, registered, its attestation checked by the providers, moved to production",
        took.as_millis()
    ));
    Ok((guest, proxy, api, tee_id, public))
}

/// What the wallet stages need beyond the first machine.
struct WalletSetup<'a> {
    trace: &'a Trace,
    net: &'a Devnet,
    rpc: &'a DynProvider,
    rpc_url: String,
    deployer: Address,
    /// The wallet's recovery address (an anvil account).
    recovery: Address,
    dir: &'a Path,
    proxy: &'a ProxyCommand,
    rom: &'a Path,
    host: &'a fcc_qemu::HostAccel,
}

/// Seed 001's dead-man's switch, end to end: TEE A generates a wallet key on the providers'
/// votes; its backup is made and its heartbeat records the key's address in `KeyBackupRegistry`;
/// A is killed for good; after the silence the recovery address opens recovery; TEE B, a fresh
/// registered machine, restores the key from the providers' and admins' splits (the providers
/// vote only because the registry is in recovery for that key and backup); recovery closes and
/// B's heartbeat takes custody with the same key, which B signs with. Returns B's guest and proxy.
async fn wallet_recovery(
    s: &WalletSetup<'_>,
    first: (GuestHandle, &Api, Address),
    voters: (&[sim::Provider], &fcc_core::policy::SigningPolicy),
) -> Result<(GuestHandle, ProxyProcess, Address)> {
    let (trace, net) = (s.trace, s.net);
    let (guest_a, api_a, tee_a) = first;
    let key = KeyIdPair { wallet_id: WALLET, key_id: 1 };
    send_ok(
        "registerWallet",
        net.backups.registerWallet(EXTENSION, WALLET.into(), s.recovery, SILENCE).from(s.deployer),
    )
    .await?;
    trace.step(format!(
        "wallet \"fcc devnet wallet\" registered in KeyBackupRegistry by the extension owner: recovery {}, silence {SILENCE} s",
        s.recovery
    ));

    // 1. The key, generated by A on the providers' votes; the existence proof is verified on chain.
    let admins = sim::providers(ADMINS, 3)?;
    let admin_keys: Vec<[u8; 64]> = admins.iter().map(|a| *a.key.public_key()).collect();
    let generate = sim::key_generate_instruction(tee_a.0.0, "", 0, (WALLET, 1), &admin_keys, 2).original_message;
    let e =
        send_instruction(trace, net, tee_a, s.deployer, ("F_WALLET", "KEY_GENERATE"), generate, (vec![], 0)).await?;
    follow_instruction(trace, api_a, net, tee_a, e.instruction_id, e.reward_epoch_id).await?;
    let (public, _) = sim::wallet::proven_key(&api_a.wait_result(&e.instruction_id.0, STEP_TIMEOUT).await?.0)?;
    let address = Address::from(address_of_xy(&public));
    trace.step(format!("TEE A holds wallet key (wallet, 1): address {address}; the key never left the guest"));

    // 2. A's backup and its heartbeat: the registry records the key.
    let made = api_a.wallet_backup(&key).await?;
    let (url, body) = (&made.url, &made.json);
    let backup = WalletBackup::from_response_json(body.as_bytes(), CHAIN_ID)?;
    let w = heartbeat(net, s.rpc, s.deployer, api_a, &made).await?;
    ensure!(
        (w.custody, w.custodian, w.keyId, w.keyAddress) == (CUSTODY_TEE, tee_a, 1, address),
        "the registry did not record A's key: {w:?}"
    );
    ensure!(w.backupHash.0 == backup.content_hash(), "the registry recorded another backup");
    trace.step(format!(
        "A's backup ({} bytes of Flare's JSON, {} provider and {} admin splits) kept by its proxy at {url}; A's signed heartbeat relayed: KeyBackupRegistry recorded key {address}, backup hash {}…, custodian A (KeyRecorded, KeyHandover)",
        body.len(),
        backup.provider.splits.len(),
        backup.admin.splits.len(),
        &w.backupHash.to_string()[..10]
    ));

    // 3. A dies; recovery opens only after the silence.
    let early = net.backups.openRecovery(EXTENSION, WALLET.into()).from(s.recovery).call().await;
    let refused = early.err().context("recovery opened while A was alive")?;
    ensure!(
        refused.as_decoded_error::<fcc_contracts::KeyBackupRegistry::HeartbeatNotStale>().is_some(),
        "unexpected refusal: {refused}"
    );
    let providers_rule = RegistryRecovery { backups: net.backups.clone() };
    let early = providers_rule.allow(EXTENSION, &backup).await;
    ensure!(early.is_err(), "the providers would help restore the key of a live TEE");
    drop(guest_a); // killed for good: its memory, and the key in it, are gone
    {
        use alloy::providers::Provider;
        s.rpc.raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (SILENCE + 1,)).await?;
        s.rpc.raw_request::<_, serde_json::Value>("evm_mine".into(), ()).await?;
    }
    send_ok("openRecovery", net.backups.openRecovery(EXTENSION, WALLET.into()).from(s.recovery)).await?;
    trace.step(format!(
        "TEE A killed for good (while it was alive, recovery was refused — HeartbeatNotStale — and so was the providers' help to restore: {}); anvil's clock moved {} s: the recovery address opened recovery",
        early.err().map(|e| e.to_string()).unwrap_or_default(),
        SILENCE + 1
    ));

    // 4. B restores the key from the splits.
    let (guest_b, proxy_b, api_b, tee_b, public_b) = another_machine(s, "B", voters.0, voters.1).await?;
    let restore = KeyDataProviderRestore {
        tee_public_key: public_b,
        backup_id: backup.metadata.backup_id.clone(),
        backup_url: url.as_bytes(),
        nonce: 1,
    }
    .encode();
    let admin_ids: Vec<Address> = admins.iter().map(|a| Address::from(a.key.address())).collect();
    let e = send_instruction(
        trace,
        net,
        tee_b,
        s.recovery,
        ("F_WALLET", "KEY_DATA_PROVIDER_RESTORE"),
        restore,
        (admin_ids, 2),
    )
    .await?;
    // Two admins vote too (cosigners), each with its own split, once a provider opened it.
    until("the first provider's split", || async {
        Ok(api_b.status(e.reward_epoch_id, &e.instruction_id.0).await?.filter(|st| st["votes"].as_u64() > Some(0)))
    })
    .await?;
    let timestamp = {
        use alloy::providers::Provider;
        s.rpc.get_block_by_hash(e.origin.block_hash).await?.context("the event's block")?.header.timestamp
    };
    let d = sim::follow::instruction_of(&e, tee_b.0.0, timestamp, backup.metadata.to_json().as_bytes());
    let client = sim::client::ProxyClient::new(&api_b.base, CHAIN_ID, Duration::from_secs(30))?;
    let mut rng = rand::rng();
    for (i, admin) in admins.iter().take(2).enumerate() {
        let avm = sim::wallet::restore_message(&backup, &admin.key, &public_b, CHAIN_ID, &mut rng)?
            .context("the admin holds no split")?;
        client.post_vote_with(i, admin, &d, &avm, None).await?;
    }
    follow_instruction(trace, &api_b, net, tee_b, e.instruction_id, e.reward_epoch_id).await?;
    let (restored_key, restored) =
        sim::wallet::proven_key(&api_b.wait_result(&e.instruction_id.0, STEP_TIMEOUT).await?.0)?;
    ensure!(restored_key == public && restored, "TEE B holds another key");
    trace.step(format!(
        "TEE B restored key {address} from the splits: the providers fetched A's backup, saw the registry in recovery for that key and backup, and each re-encrypted its split to B in its vote; two admins did the same"
    ));

    // 5. Recovery closes; B's heartbeat takes custody with the same key, and B signs with it.
    send_ok("closeRecovery", net.backups.closeRecovery(EXTENSION, WALLET.into()).from(s.recovery)).await?;
    let made_b = api_b.wallet_backup(&key).await?;
    let backup_b = WalletBackup::from_response_json(made_b.json.as_bytes(), CHAIN_ID)?;
    let signer = Address::from(sim::wallet::backup_signer(&backup_b, CHAIN_ID)?);
    ensure!(signer == address, "B's wallet signature recovers to {signer}, not {address}");
    let w = heartbeat(net, s.rpc, s.deployer, &api_b, &made_b).await?;
    ensure!(
        (w.custody, w.custodian, w.keyAddress) == (CUSTODY_TEE, tee_b, address),
        "B did not take custody of the key: {w:?}"
    );
    trace.step(format!(
        "recovery closed; B's heartbeat accepted: custody handed to B (KeyHandover), key {address} unchanged; B signs with it (its backup's wallet signature recovers to {signer}, alloy)"
    ));
    Ok((guest_b, proxy_b, tee_b))
}

/// Starts everything, runs the instructions and prints the trace; returns what is running.
pub async fn run(options: &Options) -> Result<Running> {
    ensure!((3..=300).contains(&options.voters), "--voters must be in 3..=300");
    ensure!(matches!(options.guests, 1 | 3), "--guests must be 1 or 3");
    ensure!(!options.extensions.is_empty(), "--extensions names at least one compute extension");
    fcc_image::build::check_extensions(&options.extensions)?;
    let trace = Trace::new();
    let dir = match &options.workdir {
        Some(p) => {
            std::fs::create_dir_all(p)?;
            WorkDir::Given(p.clone())
        }
        None => WorkDir::Temp(tempfile::Builder::new().prefix("fcc-devnet-").tempdir()?),
    };
    println!(
        "fcc-unikernel devnet: anvil, the contracts, fcc-proxy (SQLite), the guest ROM in QEMU, simulated providers"
    );
    println!("{:>12}  {:>10}  step", "took", "total");

    // 1. The image.
    let rom = tokio::task::spawn_blocking(|| {
        let workspace = fcc_image::build::workspace_root();
        let out = workspace.join(fcc_image::build::ROM_PATH);
        fcc_image::build::build_rom(&workspace, &out).map(|_| out)
    })
    .await??;
    let bytes = std::fs::read(&rom)?;
    let measurement = Sha384::digest(&bytes).to_vec();
    trace.step(format!(
        "image: {} ({} KiB, SHA-384 {}…)",
        rom.display(),
        bytes.len() / 1024,
        &hex::encode(&measurement)[..16]
    ));
    if !crate::machine::use_own_manifest_unless_published(&bytes, dir.path())? {
        trace.note(format!(
            "NOT the published ROM (reproducible/MEASUREMENTS.json): this source differs (its workspace's extensions, \
             say); the machines are checked against its own measurements, {}",
            manifest().display()
        ));
    }
    fcc_qemu::find_qemu()?;
    let host = fcc_qemu::choose()?;
    trace.note(format!("QEMU accelerator: {} -cpu {} ({})", host.accel.name(), host.cpu, host.why));

    // 2. The chain and the contracts, with the providers' first policy in the relay.
    let anvil_bin = fcc_contracts::anvil::anvil_path();
    ensure!(anvil_bin.exists(), "{} missing: run contracts/setup.sh (cargo xtask devnet does)", anvil_bin.display());
    let anvil = fcc_contracts::anvil::start(&anvil_bin, CHAIN_ID)?;
    let deployer = anvil.addresses()[0];
    let provider = fcc_contracts::anvil::wallet_provider(&anvil)?;
    trace.step(format!("chain: anvil at {} (chain {CHAIN_ID})", anvil.endpoint()));
    let ps = sim::providers(PROVIDERS, options.voters)?;
    let policy = sim::policy(&ps, EPOCH)?;
    let net = deploy_devnet(provider.clone(), deployer, Some(policy.encode().into())).await?;
    send_ok("createExtension", net.extensions.createExtension("fcc devnet".into()).from(deployer)).await?;
    let code_hash = net.extensions.codeHashOf(measurement.clone().into()).call().await?;
    send_ok(
        "addTeeVersion",
        net.extensions
            .addTeeVersion(EXTENSION, TEST_MODE_VERSION.into(), code_hash, vec![platform("plain")?])
            .from(deployer),
    )
    .await?;
    trace.step(format!(
        "contracts deployed; policy epoch {EPOCH} ({} voters, threshold {}/{}) set in DevRelay",
        options.voters,
        policy.threshold(),
        policy.total_weight()
    ));
    trace.note(format!("code version \"{TEST_MODE_VERSION}\" = keccak(SHA-384(ROM)) {code_hash}"));

    // 3. The proxy binary on SQLite. The guest's trust root (INITIALIZE_POLICY: the policy and
    // the voters' public keys, which the chain does not carry) is the operator's to provision.
    let db = format!("sqlite://{}", dir.path().join("proxy.db").display());
    let proxy_cmd =
        ProxyCommand::new(std::env::current_exe().context("the devnet's own executable")?, Some(PROXY_SUBCOMMAND));
    // The trust-root file, and the proxy follows the relay and the instruction sender.
    let mut args = proxy_args(&db, &dir.path().join("trust-root.json"), &ps, &policy)?;
    args.extend(chain_args(&anvil.endpoint(), &net));
    let init_id = fcc_core::action::initialize_policy_id(&policy.encode());
    let proxy_key = format!("0x{}", hex::encode(keccak256(b"fcc devnet proxy key")));
    let log = dir.path().join("proxy.log");
    let proxy =
        ProxyProcess::spawn(&proxy_cmd, &args, &[("FCC_PROXY_KEY", proxy_key), ("NO_COLOR", "1".into())], &log)?;
    let api = Api::new(proxy.http);
    trace.step(format!("fcc-proxy (pid {}) on {db}: HTTP {}, guest link {}", proxy.pid(), proxy.http, proxy.link));
    trace.note(format!("it follows the chain (relay, instruction sender) and holds the trust root of epoch {EPOCH}"));
    trace.note(format!("it checks each guest's attestation against {} (test mode)", manifest().display()));

    // 4. The guest.
    // The operator fixes whom the guest signs its registration for: the devnet's extension and
    // the deployer, who registers it.
    let boot = fcc_qemu::BootOptions::on_host(rom.clone(), &host)
        .network(proxy.link.port())
        .registration(EXTENSION.to::<u64>(), deployer.0.0);
    let mut guest = Guest::boot(&boot)?;
    let (ready, took) = tokio::task::block_in_place(|| guest.wait_for(READY_PREFIX, STEP_TIMEOUT))?;
    let tee = parse_ready(&ready)?.tee;
    let tee_id = Address::from(tee);
    let first_lines = guest.console();
    let console = dir.path().join("guest-console.log");
    let guest = GuestHandle::new(guest, &first_lines, &console)?;
    trace.step(format!("guest booted under {} in {} ms: {ready}", host.accel.name(), took.as_millis()));
    let (r, _) = api.wait_result(&init_id, STEP_TIMEOUT).await?;
    ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
    let info = api.wait_info(STEP_TIMEOUT).await?;
    ensure!(
        info["attestationVerdict"]["identity"]["address"].as_str().and_then(|a| a.parse::<Address>().ok())
            == Some(tee_id),
        "the proxy did not verify the guest's attestation: {}",
        info["attestationError"]
    );
    trace.step(format!("guest connected to the proxy and trusts policy epoch {EPOCH} (INITIALIZE_POLICY signed)"));

    // 5. The providers follow the chain and sign every instruction for this TEE — from its
    // registration's attestation request on.
    let follower = {
        let sink = SigningSink::new(
            provider.clone(),
            sim::providers(PROVIDERS, options.voters)?,
            FollowConfig {
                proxy: None,
                tee_id: None,
                chain_id: CHAIN_ID,
                additional_fixed_message: Vec::new(),
                signers: Vec::new(),
                timeout: Duration::from_secs(30),
                restore_check: Some(Arc::new(RegistryRecovery { backups: net.backups.clone() })),
            },
        );
        let mut config = ChainConfig::new(*net.relay.address(), *net.sender.address());
        config.confirmations = 0;
        config.poll_interval = Duration::from_millis(100);
        let mut monitor = Monitor::new(provider.clone(), config);
        tokio::spawn(async move { monitor.run(&sink, std::future::pending()).await })
    };
    let url = format!("http://{}", proxy.http);
    trace.note(format!(
        "{} simulated providers follow the chain, signing each instruction at its machine's registered proxy",
        options.voters
    ));

    // 6. Registration as Flare's: the TEE's signed registration data, then the registry's
    // attestation request with its on-chain challenge, checked by the providers before they
    // vote the machine into production.
    let registered_at = Instant::now();
    let proxy_id: Address = info["proxyAddress"].as_str().context("proxyAddress")?.parse()?;
    let (data, data_signature) = registration_data(&url, tee_id).await?;
    registration_attacks_refused(&trace, &net, &data, &data_signature, proxy_id, &url).await?;
    send_ok("register", net.machines.register(data, data_signature, proxy_id, url.clone()).from(deployer)).await?;
    let machine = net.machines.machine(tee_id).call().await?;
    trace.step(format!(
        "TEE {tee_id} registered by its owner with its own signature (TEE_MACHINE_REGISTER: extension {EXTENSION}, owner {deployer}, platform plain, code {}…); the registry sent F_REG/TEE_ATTESTATION {}… with challenge {}…, in {:.1} ms",
        &format!("{}", machine.codeHash)[..10],
        &format!("{}", machine.attestationInstructionId)[..10],
        &format!("{}", machine.challenge)[..10],
        registered_at.elapsed().as_secs_f64() * 1e3
    ));
    let checked_at = Instant::now();
    let (statement, verdict) = registration_check(&url, &provider, &net, tee_id)
        .await?
        .map_err(|e| anyhow::anyhow!("the providers refuse TEE {tee_id}: {e}"))?;
    trace.step(format!(
        "providers checked the TEE's answer to the registry's challenge (test mode, the image's manifest): signed by the TEE, platform {}, measurement {} = the registered code, its signed registration data = the record, trust root epoch {} and active epoch {} equal to the Relay's, in {:.1} ms",
        verdict.platform,
        verdict.measurement,
        statement.initial_policy.0,
        statement.last_policy.0,
        checked_at.elapsed().as_secs_f64() * 1e3
    ));
    // The same check on demand, as before any vote (GET /info?challenge=): a fresh challenge of
    // the providers' own.
    let checked_at = Instant::now();
    let checked = providers_check(&url, &provider, *net.relay.address())
        .await?
        .map_err(|e| anyhow::anyhow!("the providers refuse TEE {tee_id}: {e}"))?;
    let identity = checked.verdict.identity.as_ref().context("the verdict binds no identity")?;
    ensure!(
        identity.address.parse::<Address>()? == tee_id,
        "the attestation binds {}, not the registered TEE {tee_id}",
        identity.address
    );
    trace.step(format!(
        "providers' own fresh challenge (GET /info?challenge=) answered too: identity {} (chain {}), epochs {}/{} the Relay's, in {:.1} ms",
        identity.address,
        identity.chain_id,
        identity.initial_policy.0,
        identity.active_policy.0,
        checked_at.elapsed().as_secs_f64() * 1e3
    ));
    let rogue = RogueSetup { dir: dir.path(), proxy: &proxy_cmd, rom: &rom, host: &host };
    rogue_trust_root_refused(&trace, &rogue, &provider, *net.relay.address()).await?;
    let hash = net.machines.productionHash(tee_id).call().await?;
    let all: Vec<usize> = (0..ps.len()).collect();
    let digest = custom_signing_digest(&hash.0, scheme());
    let message = encode_custom_signature(&policy, &hash.0, &sign_as_voters(sim::signers(&ps, &all), &digest))?;
    send_ok("toProduction", net.machines.toProduction(tee_id, message.into()).from(deployer)).await?;
    ensure!(net.machines.isProductionTee(EXTENSION, tee_id).call().await?, "not in production");
    trace.step(format!(
        "TEE {tee_id} moved to production by the providers (their vote covers the registration and the challenge they checked)"
    ));

    // The review's two critical attacks, refused by the running proxy.
    attacks_refused(&trace, &api, proxy.link, tee).await?;

    // 7. An FDC2 proof through the instruction contract.
    let (id, epoch) = send_prove(&trace, &net, tee_id, deployer).await?;
    ensure!(epoch == EPOCH, "the instruction cites epoch {epoch}, not {EPOCH}");
    follow_instruction(&trace, &api, &net, tee_id, id, epoch).await?;

    // 8. A policy update: the providers relay the next epoch's policy (DevRelay.relay()).
    let mut next_ps = sim::providers(PROVIDERS, options.voters)?;
    next_ps.rotate_left(1);
    let next = sim::policy(&next_ps, EPOCH + 1)?;
    let digest = policy_update_digest(&next, scheme());
    let calldata = encode_policy_update(&policy, &next, &sign_as_voters(sim::signers(&ps, &all), &digest))?;
    let receipt = RawCallBuilder::new_raw(provider.clone(), calldata.into())
        .to(*net.relay.address())
        .send()
        .await
        .context("DevRelay.relay()")?
        .get_receipt()
        .await?;
    ensure!(receipt.status(), "relay() reverted");
    trace.step(format!(
        "event: SigningPolicyInitialized epoch {} (block {}), relayed with the signatures of epoch {EPOCH}'s voters",
        EPOCH + 1,
        receipt.block_number.unwrap_or_default()
    ));
    // The proxy reads the event and the relay() calldata, checks the signatures and queues
    // UPDATE_POLICY under this id.
    let update_id = fcc_core::action::update_policy_id(&next.encode());
    let (r, _) = api.wait_result(&update_id, STEP_TIMEOUT).await?;
    ensure!(r.result.status == status::SUCCESS, "UPDATE_POLICY refused: {}", r.result.log);
    ensure!(sim::result_signer(&r, CHAIN_ID)? == tee, "UPDATE_POLICY result not signed by the TEE");
    trace.step(format!(
        "proxy followed the event and queued UPDATE_POLICY; the guest verified epoch {EPOCH}'s signatures over the new policy and now trusts epoch {}",
        EPOCH + 1
    ));

    // 9. The providers' availability check under the new policy: the TEE answers their fresh
    // challenge, its policies are the Relay's and its active one the Relay's latest, so they
    // confirm it available for another period.
    let checked_at = Instant::now();
    let checked = providers_check(&url, &provider, *net.relay.address())
        .await?
        .map_err(|e| anyhow::anyhow!("the providers refuse TEE {tee_id}: {e}"))?;
    let latest = sim::attest::relay_last_epoch(&provider, *net.relay.address()).await?;
    sim::attest::check_current(&checked.statement, latest)
        .map_err(|e| anyhow::anyhow!("the providers do not confirm TEE {tee_id}: {e}"))?;
    let before = net.machines.machine(tee_id).call().await?.availableUntil;
    let hash = net.machines.availabilityHash(tee_id).call().await?;
    let digest = custom_signing_digest(&hash.0, scheme());
    let message = encode_custom_signature(&next, &hash.0, &sign_as_voters(sim::signers(&next_ps, &all), &digest))?;
    send_ok("confirmAvailability", net.machines.confirmAvailability(tee_id, message.into()).from(deployer)).await?;
    let after = net.machines.machine(tee_id).call().await?.availableUntil;
    ensure!(after >= before, "availability did not move: {before} → {after}");
    trace.step(format!(
        "availability confirmed by epoch {}'s voters: the TEE answered their fresh challenge and is current (active epoch {} = the Relay's latest); available until {after} (was {before}, period {} s), in {:.1} ms",
        EPOCH + 1,
        checked.statement.last_policy.0,
        fcc_contracts::AVAILABILITY_PERIOD,
        checked_at.elapsed().as_secs_f64() * 1e3
    ));

    // 10. An FDC2 proof under the new policy.
    let (id, epoch) = send_prove(&trace, &net, tee_id, deployer).await?;
    ensure!(epoch == EPOCH + 1, "the instruction cites epoch {epoch}, not {}", EPOCH + 1);
    follow_instruction(&trace, &api, &net, tee_id, id, epoch).await?;

    // 11. A wallet key that outlives its TEE (seed 001's dead-man's switch).
    let setup = WalletSetup {
        trace: &trace,
        net: &net,
        rpc: &provider,
        rpc_url: anvil.endpoint(),
        deployer,
        recovery: anvil.addresses()[1],
        dir: dir.path(),
        proxy: &proxy_cmd,
        rom: &rom,
        host: &host,
    };
    let (guest_b, proxy_b, tee_b) = wallet_recovery(&setup, (guest, &api, tee_id), (&next_ps, &next)).await?;

    // 12. Compute extensions: the image with seed 003's two on a machine of its own, their
    // results verified on chain.
    let compute = crate::compute::compute(&crate::compute::Setup {
        trace: &trace,
        net: &net,
        rpc: &provider,
        rpc_url: anvil.endpoint(),
        deployer,
        dir: dir.path(),
        proxy: &proxy_cmd,
        host: &host,
        ps: &next_ps,
        policy: &next,
        extensions: &options.extensions,
    })
    .await?;

    // 13. (--guests 3) A wallet across three TEEs: XRPL and Bitcoin payments, each machine
    // behind its own proxy.
    let mut others = Vec::new();
    if options.guests == 3 {
        let api_b = Api::new(proxy_b.http);
        for name in ["C", "D"] {
            let (guest, proxy, api, tee, _) = another_machine(&setup, name, &next_ps, &next).await?;
            others.push((name, guest, proxy, api, tee));
        }
        let mut signers = vec![crate::payments::Signer { name: "B", api: &api_b, tee: tee_b }];
        signers.extend(others.iter().map(|(name, _, _, api, tee)| crate::payments::Signer { name, api, tee: *tee }));
        let stage = crate::payments::Setup { trace: &trace, net: &net, deployer };
        crate::payments::payments(&stage, &signers).await?;
    }
    // 14. (--status-page) What an operator sees of the live TEE.
    if let Some(out) = &options.status_page {
        let expected = crate::status_page::Expected { tee: tee_b, epoch: next.reward_epoch_id() };
        crate::status_page::check(&trace, proxy_b.http, &expected, out).await?;
    }
    println!("devnet run passed");
    let others = others.into_iter().map(|(_, guest, proxy, _, _)| (guest, proxy)).collect();
    Ok(Running { guest: guest_b, others, compute, follower, proxy, proxy_b, anvil, net, tee_a: tee_id, tee_b, dir })
}
