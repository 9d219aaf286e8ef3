//! What booting and registering a machine takes, shared by the run's stages: the guest's
//! handle, the proxy's command line, the TEE's registration data and the providers' check of its
//! registration.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use anyhow::{Context, Result, ensure};
use fcc_contracts::Devnet;
use fcc_core::policy::PolicyHashScheme;
use fcc_qemu::Guest;
use fcc_sim_providers as sim;

use crate::process::free_port;
use crate::stage::{CHAIN_ID, STEP_TIMEOUT};

/// The booted guest, its console copied to a file by a thread; QEMU is killed when dropped.
#[derive(Debug)]
pub struct GuestHandle {
    guest: Arc<Mutex<Option<Guest>>>,
    /// The console log.
    pub console: PathBuf,
}

impl GuestHandle {
    pub(crate) fn new(guest: Guest, first_lines: &str, console: &Path) -> Result<Self> {
        let mut file = std::fs::File::create(console)?;
        writeln!(file, "{first_lines}")?;
        let guest = Arc::new(Mutex::new(Some(guest)));
        let shared = guest.clone();
        std::thread::spawn(move || {
            loop {
                let mut g = shared.lock().expect("guest lock");
                let Some(guest) = g.as_mut() else { return };
                match guest.wait_for("", Duration::from_millis(200)) {
                    Ok((line, _)) => {
                        let _ = writeln!(file, "{line}");
                    }
                    Err(e) if e.to_string().starts_with("QEMU ended") => {
                        let _ = writeln!(file, "--- QEMU ended ---");
                        return;
                    }
                    Err(_) => {}
                }
                drop(g);
                std::thread::yield_now();
            }
        });
        Ok(Self { guest, console: console.to_path_buf() })
    }
}

impl Drop for GuestHandle {
    fn drop(&mut self) {
        // Dropping the Guest kills QEMU.
        let guest = self.guest.lock().map(|mut g| g.take()).unwrap_or(None);
        drop(guest);
    }
}

/// The devnet's policy hash scheme: the Relay's, bound to its chain.
pub(crate) fn scheme() -> PolicyHashScheme {
    PolicyHashScheme::ChainBound { chain_id: CHAIN_ID }
}

/// Polls `check` every 5 ms until it yields a value.
pub(crate) async fn until<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        ensure!(Instant::now() < deadline, "timed out after {STEP_TIMEOUT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The operator's step before `register`: the TEE's signed registration data, from its answer to
/// a challenge (`GET /info?challenge=`; any challenge will do, the data carries none), checked:
/// the answer and the data are the TEE's own signatures.
pub(crate) async fn registration_data(
    url: &str,
    tee_id: Address,
) -> Result<(
    fcc_contracts::machine_registry::ITeeMachineRegistry::TeeMachineData,
    fcc_contracts::machine_registry::ITeeMachineRegistry::Signature,
)> {
    let client = sim::client::ProxyClient::new(url, CHAIN_ID, Duration::from_secs(10))?;
    let info = client.tee_info(&[0x5e; 32]).await?;
    let answer = info.answer.context("the proxy gave no TEE answer")?;
    ensure!(sim::result_signer(&answer, CHAIN_ID)? == tee_id.0.0, "the answer is not the TEE's");
    let decoded = fcc_attest::statement::decode_tee_info(&answer.result.data)?;
    ensure!(
        decoded.registration_signer(CHAIN_ID) == Some(tee_id),
        "the TEE signed no registration data (opt/fcc/extension-id and opt/fcc/owner unset?)"
    );
    Ok((fcc_contracts::machine_data(&decoded.machine), fcc_contracts::signature(&decoded.data_signature)?))
}

/// The published manifest, reproducible/MEASUREMENTS.json: the measurements of this source's ROM.
pub(crate) fn published_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../reproducible/MEASUREMENTS.json")
}

/// The manifest the run checks its core machines against, when not the published one.
static OWN_MANIFEST: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The measurements the run's core machines are checked against: the published manifest, unless
/// the ROM built here is not the one it publishes (a fork whose workspace has other extensions:
/// Rust's crate hashes cover the dependency graph, so the core ROM's bytes move too), when the
/// run measured its own ([`use_own_manifest`]).
pub(crate) fn manifest() -> PathBuf {
    OWN_MANIFEST.get().cloned().unwrap_or_else(published_manifest)
}

/// Writes the measurements of `image` (one vCPU of each default CPU model) to `path`: the manifest
/// the proxy and the providers check a machine of that image against.
pub(crate) fn write_manifest(image: &[u8], path: &Path) -> Result<()> {
    let request = fcc_image::measure::Request { vcpus: vec![1], ..Default::default() };
    std::fs::write(path, serde_json::to_vec_pretty(&fcc_image::measure::manifest(image, &request)?)?)?;
    Ok(())
}

/// Checks the core ROM `image` against the published manifest; if it is not the published ROM,
/// measures it into `dir` and has [`manifest`] name that. Returns whether it was the published one.
pub(crate) fn use_own_manifest_unless_published(image: &[u8], dir: &Path) -> Result<bool> {
    use sha2::{Digest, Sha384};
    let published: serde_json::Value = serde_json::from_slice(&std::fs::read(published_manifest())?)?;
    let sha384 = hex::encode(Sha384::digest(image));
    if published["rom"]["sha384"].as_str() == Some(sha384.as_str()) {
        return Ok(true);
    }
    let own = dir.join("core-manifest.json");
    write_manifest(image, &own)?;
    OWN_MANIFEST.set(own).map_err(|_| anyhow::anyhow!("the run's manifest was chosen twice"))?;
    Ok(false)
}

/// [`registration_check`] against the measurements in `manifest`.
pub(crate) async fn registration_check_against<P: alloy::providers::Provider>(
    url: &str,
    rpc: &P,
    net: &Devnet,
    tee_id: Address,
    manifest: &Path,
) -> Result<Result<(sim::attest::Statement, sim::attest::Verdict), sim::attest::CheckError>> {
    let verifier = sim::attest::verifier(manifest, true)?;
    let m = net.machines.machine(tee_id).call().await?;
    let registered = sim::attest::Registered {
        public_key: m.publicKey.as_ref().try_into().context("the machine is not registered")?,
        extension_id: m.extensionId.to_be_bytes(),
        owner: m.owner.0.0,
        code_hash: m.codeHash.0,
        platform: m.platform.0,
        challenge: m.challenge.0,
        governance_hash: m.governanceHash.0,
    };
    let instruction = m.attestationInstructionId.0;
    let client = sim::client::ProxyClient::new(url, CHAIN_ID, Duration::from_secs(10))?;
    let answer = client.wait_result(&instruction, STEP_TIMEOUT).await?;
    let (statement, verdict) = match sim::attest::check_registration(
        &answer,
        &registered,
        &verifier,
        &sim::attest::Collateral::default(),
        CHAIN_ID,
        sim::attest::unix_now(),
    ) {
        Ok(checked) => checked,
        Err(e) => return Ok(Err(e)),
    };
    let epochs = [statement.initial_policy.0, statement.last_policy.0];
    let hashes = sim::attest::relay_policy_hashes(rpc, *net.relay.address(), &epochs).await?;
    Ok(sim::attest::check_policies(&statement, |e| hashes.get(&e).copied().flatten()).map(|()| (statement, verdict)))
}

/// The proxy's command line on `db` (SQLite), loopback ports of its own and the devnet's chain
/// id, rooted in `policy` (voters `ps`), whose trust-root file it writes to `root`.
pub(crate) fn proxy_args(
    db: &str,
    root: &Path,
    ps: &[sim::Provider],
    policy: &fcc_core::policy::SigningPolicy,
) -> Result<Vec<String>> {
    std::fs::write(root, serde_json::to_vec_pretty(&sim::trust_root_json(ps, policy))?)?;
    let (http, link) = (free_port()?, free_port()?);
    Ok(vec![
        "--database".into(),
        db.into(),
        "--http".into(),
        format!("127.0.0.1:{http}"),
        "--link".into(),
        format!("127.0.0.1:{link}"),
        "--chain-id".into(),
        CHAIN_ID.to_string(),
        "--trust-root".into(),
        root.display().to_string(),
    ])
}

/// [`chain_args`], the guest's `Hello` checked against the measurements in `manifest`.
pub(crate) fn chain_args_with(rpc: &str, net: &Devnet, manifest: &Path) -> Vec<String> {
    vec![
        "--chain-rpc-url".into(),
        rpc.into(),
        "--chain-relay".into(),
        net.relay.address().to_string(),
        "--chain-instruction-sender".into(),
        net.sender.address().to_string(),
        "--chain-confirmations".into(),
        "0".into(),
        "--chain-poll-ms".into(),
        "100".into(),
        "--attestation-manifest".into(),
        manifest.display().to_string(),
        "--attestation-allow-simulated".into(),
    ]
}
