//! The compute stage: the two extensions of seed 003 on a machine of their own. The image with
//! them compiled in (its own ROM, measurement and code version) is registered as a second
//! extension; its machine is booted, registered and voted into production like the first, behind
//! a proxy with an objects directory; then a proof of data integrity (and one of a damaged copy:
//! the challenge fails, on chain) and an attested query go through the instruction contract,
//! their results checked on chain by `TeeResultVerifier.verifyExtensionResult`. The expected
//! digests and answers are computed here, apart from the extensions.

use std::path::Path;
use std::time::Instant;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::DynProvider;
use anyhow::{Context, Result, ensure};
use fcc_contracts::relay_message::{custom_signing_digest, encode_custom_signature, sign_as_voters};
use fcc_contracts::{Devnet, action_result, platform};
use fcc_core::hash::keccak256;
use fcc_core::result::status;
use fcc_ext_attested_query as query;
use fcc_ext_data_integrity as integrity;
use fcc_layout::interface::{HANDLED_PREFIX, READY_PREFIX};
use fcc_qemu::{Guest, parse_ready};
use fcc_sim_providers as sim;
use sha2::{Digest, Sha256, Sha384};

use crate::machine::{
    GuestHandle, chain_args_with, proxy_args, registration_check_against, registration_data, scheme, until,
    write_manifest,
};
use crate::process::{Api, ProxyCommand, ProxyProcess};
use crate::stage::{STEP_TIMEOUT, Trace, op, send_for, send_ok};

/// The extensions of the compute machine's image by default: seed 003's two.
pub const SEED_EXTENSIONS: [&str; 2] = ["data-integrity", "attested-query"];
/// The object the providers' challenge covers: 8 MiB.
const OBJECT_LEN: usize = 8 << 20;
/// Records of the attested query.
const RECORDS: usize = 20_000;

/// What the stage needs from the run.
pub(crate) struct Setup<'a> {
    pub trace: &'a Trace,
    pub net: &'a Devnet,
    pub rpc: &'a DynProvider,
    pub rpc_url: String,
    pub deployer: Address,
    pub dir: &'a Path,
    pub proxy: &'a ProxyCommand,
    pub host: &'a fcc_qemu::HostAccel,
    /// The current policy and its voters (the machine's trust root).
    pub ps: &'a [sim::Provider],
    pub policy: &'a fcc_core::policy::SigningPolicy,
    /// The extensions of its image (`fcc-image build --extensions`).
    pub extensions: &'a [String],
}

/// The compute machine, left running.
pub struct Machine {
    /// Its guest.
    pub guest: GuestHandle,
    /// Its proxy.
    pub proxy: ProxyProcess,
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The object: `len` bytes of a fixed pseudo-random stream.
fn object(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Records "a,b,c" of small integers, and the expected answer to SUM(c) WHERE b == 3, by a plain
/// loop over the numbers as generated (not by parsing the text).
fn records() -> (Vec<u8>, u64, u64, i128) {
    let mut text = String::new();
    let (mut matched, mut sum) = (0u64, 0i128);
    for i in 0..RECORDS as i64 {
        let (a, b, c) = (i, i % 7, (i * 7919) % 10_007 - 5_000);
        text.push_str(&format!("{a},{b},{c}\n"));
        if b == 3 {
            matched += 1;
            sum += i128::from(c);
        }
    }
    (text.into_bytes(), RECORDS as u64, matched, sum)
}

/// Runs the stage; returns the machine (its guest and proxy stay up with the run).
pub(crate) async fn compute(s: &Setup<'_>) -> Result<Machine> {
    let (trace, net) = (s.trace, s.net);
    // 1. The image with the extensions compiled in.
    let (rom, image) = {
        let extensions = s.extensions.to_vec();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let workspace = fcc_image::build::workspace_root();
            let out = workspace.join(fcc_image::build::rom_path(&extensions));
            let rom = fcc_image::build::build_rom_with(&workspace, &out, &extensions)?;
            Ok((out, rom.bytes))
        })
        .await??
    };
    let measurement = Sha384::digest(&image).to_vec();
    let manifest = s.dir.join("compute-manifest.json");
    write_manifest(&image, &manifest)?;
    trace.step(format!(
        "image with extensions {}: {} (SHA-384 {}…), its measurements in {}",
        s.extensions.join(", "),
        rom.display(),
        &hex::encode(&measurement)[..16],
        manifest.display()
    ));

    // 2. On chain: the image's code version under an extension of its own.
    send_ok("createExtension", net.extensions.createExtension("fcc devnet compute".into()).from(s.deployer)).await?;
    let extension = net.extensions.extensionCount().call().await?;
    let code_hash = net.extensions.codeHashOf(measurement.into()).call().await?;
    let version = format!("TEST-MODE {} (plain QEMU, unattested)", s.extensions.join("+"));
    send_ok(
        "addTeeVersion",
        net.extensions.addTeeVersion(extension, version.clone(), code_hash, vec![platform("plain")?]).from(s.deployer),
    )
    .await?;
    trace.step(format!("extension {extension} created with code version \"{version}\" = {code_hash}"));

    // 3. Its machine, behind a proxy that keeps the objects.
    let objects = s.dir.join("objects");
    std::fs::create_dir_all(&objects)?;
    let file = |stem: &str, ext: &str| s.dir.join(format!("{stem}-compute.{ext}"));
    let db = format!("sqlite://{}", file("proxy", "db").display());
    let mut args = proxy_args(&db, &file("trust-root", "json"), s.ps, s.policy)?;
    args.extend(chain_args_with(&s.rpc_url, net, &manifest));
    args.extend(["--objects".to_string(), objects.display().to_string()]);
    let proxy = ProxyProcess::spawn(s.proxy, &args, &[("NO_COLOR", "1".into())], &file("proxy", "log"))?;
    let api = Api::new(proxy.http);
    let boot = fcc_qemu::BootOptions::on_host(rom.clone(), s.host)
        .network(proxy.link.port())
        .registration(extension.to::<u64>(), s.deployer.0.0);
    let mut guest = Guest::boot(&boot)?;
    let (ready, took) = tokio::task::block_in_place(|| guest.wait_for(READY_PREFIX, STEP_TIMEOUT))?;
    let tee_id = Address::from(parse_ready(&ready)?.tee);
    let first_lines = guest.console();
    let said = format!("extensions: {}", s.extensions.join(", "));
    ensure!(first_lines.contains(&said), "the guest did not say \"{said}\" at boot:\n{first_lines}");
    let guest = GuestHandle::new(guest, &first_lines, &file("guest", "console.log"))?;
    let (r, _) = api.wait_result(&fcc_core::action::initialize_policy_id(&s.policy.encode()), STEP_TIMEOUT).await?;
    ensure!(r.result.status == status::SUCCESS, "the compute machine's INITIALIZE_POLICY refused: {}", r.result.log);
    let info = api.wait_info(STEP_TIMEOUT).await?;
    let url = format!("http://{}", proxy.http);
    let proxy_id: Address = info["proxyAddress"].as_str().context("proxyAddress")?.parse()?;
    let (machine_data, signature) = registration_data(&url, tee_id).await?;
    ensure!(machine_data.extensionId == extension, "the TEE signed registration data for another extension");
    send_ok(
        "register (compute)",
        net.machines.register(machine_data, signature, proxy_id, url.clone()).from(s.deployer),
    )
    .await?;
    registration_check_against(&url, s.rpc, net, tee_id, &manifest)
        .await?
        .map_err(|e| anyhow::anyhow!("the providers refuse the compute TEE {tee_id}: {e}"))?;
    let all: Vec<usize> = (0..s.ps.len()).collect();
    let hash = net.machines.productionHash(tee_id).call().await?;
    let digest = custom_signing_digest(&hash.0, scheme());
    let message = encode_custom_signature(s.policy, &hash.0, &sign_as_voters(sim::signers(s.ps, &all), &digest))?;
    send_ok("toProduction (compute)", net.machines.toProduction(tee_id, message.into()).from(s.deployer)).await?;
    ensure!(net.machines.isProductionTee(extension, tee_id).call().await?, "the compute TEE is not in production");
    trace.step(format!(
        "compute TEE {tee_id}: booted in {} ms ({said}), registered for extension {extension}, checked by the providers against the image's measurements, in production",
        took.as_millis()
    ));

    let run = Run { trace, net, api: &api, extension, tee_id, from: s.deployer, console: &guest.console };
    // 4. Each extension's examples, their outputs checked where they are known in advance.
    for name in s.extensions {
        for example in fcc_extensions::examples(name) {
            if !example.data.is_empty() {
                std::fs::write(objects.join(hex::encode(sha256(&example.data))), &example.data)?;
            }
            let operation = (
                fcc_core::op::text(&example.operation.op_type).to_string(),
                fcc_core::op::text(&example.operation.op_command).to_string(),
            );
            let (output, took) = run.instruction((&operation.0, &operation.1), example.message.clone()).await?;
            if let Some(want) = &example.output {
                ensure!(output == *want, "{name}: {}: the output is not the expected one", example.what);
            }
            trace.step(format!(
                "{name}: {} — verified on chain{}, in {:.0} ms",
                example.what,
                if example.output.is_some() { ", the output the expected one" } else { "" },
                took * 1e3
            ));
        }
    }
    if s.extensions.iter().any(|e| e == "data-integrity") {
        data_integrity(&run, &objects).await?;
    }
    if s.extensions.iter().any(|e| e == "attested-query") {
        attested_query(&run, &objects).await?;
    }
    Ok(Machine { guest, proxy })
}

/// Seed 003's proof of data integrity at size: an 8 MiB object under the providers' challenge,
/// and a damaged copy that fails its challenge.
async fn data_integrity(run: &Run<'_>, objects: &Path) -> Result<()> {
    let trace = run.trace;
    let proved_before = guest_micros(run.console, "DATA_INTEGRITY/PROVE")?.len();
    let data = object(OBJECT_LEN);
    let data_id = sha256(&data);
    std::fs::write(objects.join(hex::encode(data_id)), &data)?;
    // A damaged copy, filed under the hash of the original (a storage provider that lost a bit).
    let mut damaged = object(OBJECT_LEN / 8);
    let damaged_id = sha256(&damaged);
    damaged[12_345] ^= 0x10;
    std::fs::write(objects.join(hex::encode(damaged_id)), &damaged)?;
    let challenge = keccak256(b"fcc devnet challenge");
    let message = integrity::Request { object: data_id, size: OBJECT_LEN as u64, challenge }.encode();
    let (output, took) = run.instruction(("DATA_INTEGRITY", "PROVE"), message).await?;
    let proof: [[u8; 32]; 5] = words(&output)?;
    ensure!(proof[0] == data_id && proof[2] == challenge, "the proof names another object or challenge");
    ensure!(proof[3] == data_id && proof[4][31] == 1, "the TEE did not find the object intact");
    trace.step(format!(
        "proof of data integrity verified on chain: {} MiB object 0x{}… intact under challenge 0x{}…; queued to result {:.0} ms ({:.1} MB/s streamed, hashed and signed)",
        OBJECT_LEN >> 20,
        &hex::encode(data_id)[..12],
        &hex::encode(challenge)[..12],
        took * 1e3,
        OBJECT_LEN as f64 / took / 1e6
    ));
    let message =
        integrity::Request { object: damaged_id, size: damaged.len() as u64, challenge: keccak256(b"second") }.encode();
    let (output, _) = run.instruction(("DATA_INTEGRITY", "PROVE"), message).await?;
    let proof: [[u8; 32]; 5] = words(&output)?;
    ensure!(proof[4][31] == 0 && proof[3] == sha256(&damaged), "the damaged copy passed the challenge");
    trace.step(
        "a damaged copy (one bit) fails its challenge, on chain too: intact = false, its digest the damaged bytes'",
    );

    // The guest's own time on each (its `HANDLED` lines): the chunks it hashed count, so 8 times
    // the data takes several times as long; the time between chunks (transport) does not.
    let us = until("the guest's HANDLED lines for both proofs", || async {
        let us = guest_micros(run.console, "DATA_INTEGRITY/PROVE")?;
        Ok((us.len() >= proved_before + 2).then_some(us))
    })
    .await?;
    let (large, small) = (us[proved_before], us[proved_before + 1]);
    ensure!(
        large > 2 * small,
        "the guest reports {large} µs for the {} MiB proof and {small} µs for the {} KiB one: its time on streamed data is not counted",
        OBJECT_LEN >> 20,
        (OBJECT_LEN / 8) >> 10
    );
    trace.step(format!(
        "the guest's own time on the {} MiB proof: {:.0} ms ({:.1} MB/s hashed and signed in the guest; the rest of the {:.0} ms from queued to result was the proxy and the link), {:.0} ms for the {} KiB copy",
        OBJECT_LEN >> 20,
        large as f64 / 1e3,
        OBJECT_LEN as f64 / large as f64,
        took * 1e3,
        small as f64 / 1e3,
        (OBJECT_LEN / 8) >> 10
    ));
    Ok(())
}

/// The `us=` of every `HANDLED` line for `operation` (`TYPE/COMMAND`) in the console log, in order.
fn guest_micros(console: &Path, operation: &str) -> Result<Vec<u64>> {
    let log = std::fs::read_to_string(console).with_context(|| format!("reading {}", console.display()))?;
    let prefix = format!("{HANDLED_PREFIX}op={operation} ");
    log.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let us = rest.split(' ').find_map(|f| f.strip_prefix("us=")).context("a HANDLED line without us=")?;
            us.parse().with_context(|| format!("us={us}"))
        })
        .collect()
}

/// An attested query over 20,000 records, its answer computed here by a plain loop.
async fn attested_query(run: &Run<'_>, objects: &Path) -> Result<()> {
    let trace = run.trace;
    let (table, rows, matched, sum) = records();
    let table_id = sha256(&table);
    std::fs::write(objects.join(hex::encode(table_id)), &table)?;
    let q = query::Query { aggregate: query::Aggregate::Sum, column: 2, filter: Some((1, query::Cmp::Eq, 3)) };
    let message = query::Request { object: table_id, size: table.len() as u64, query: q }.encode();
    let (output, took) = run.instruction(("ATTESTED_QUERY", "RUN"), message.clone()).await?;
    let answer: [[u8; 32]; 10] = words(&output)?;
    ensure!(output[..message.len()] == message[..], "the result names another query");
    let uint = |w: &[u8; 32]| u64::from_be_bytes(w[24..].try_into().expect("8 bytes"));
    let value = i128::from_be_bytes(answer[9][16..].try_into().expect("16 bytes"));
    ensure!(
        (uint(&answer[7]), uint(&answer[8]), value) == (rows, matched, sum),
        "the query's answer {:?} is not ({rows}, {matched}, {sum})",
        (uint(&answer[7]), uint(&answer[8]), value)
    );
    trace.step(format!(
        "attested query verified on chain: SUM(c) WHERE b = 3 over {rows} records ({} KiB, 0x{}…) = {sum} ({matched} matched), in {:.0} ms",
        table.len() / 1024,
        &hex::encode(table_id)[..12],
        took * 1e3
    ));
    Ok(())
}

/// The 32-byte words of a static ABI encoding of exactly `N` words.
fn words<const N: usize>(output: &[u8]) -> Result<[[u8; 32]; N]> {
    ensure!(output.len() == 32 * N, "{} bytes of output, not {N} words", output.len());
    Ok(core::array::from_fn(|i| output[32 * i..32 * i + 32].try_into().expect("32 bytes")))
}

/// Sending instructions of the compute extension and checking their results on chain.
struct Run<'a> {
    trace: &'a Trace,
    net: &'a Devnet,
    api: &'a Api,
    extension: U256,
    tee_id: Address,
    from: Address,
    /// The compute guest's console log.
    console: &'a Path,
}

impl Run<'_> {
    /// Sends `operation` with `message`, waits for its result and has
    /// `TeeResultVerifier.verifyExtensionResult` check it; the output and the seconds from the
    /// instruction's queueing (its votes in) to its result.
    async fn instruction(&self, operation: (&str, &str), message: Vec<u8>) -> Result<(Vec<u8>, f64)> {
        let e = send_for(
            self.trace,
            self.net,
            self.extension,
            vec![self.tee_id],
            self.from,
            operation,
            message,
            (vec![], 0),
        )
        .await?;
        let id = e.instruction_id.0;
        let started = Instant::now();
        until("the threshold", || async {
            Ok(self.api.status(e.reward_epoch_id, &id).await?.filter(|s| s["state"].as_str() != Some("collecting")))
        })
        .await?;
        let queued = started.elapsed().as_secs_f64();
        let (r, _) = self.api.wait_result(&id, STEP_TIMEOUT).await?;
        let took = started.elapsed().as_secs_f64() - queued;
        ensure!(r.result.status == status::SUCCESS, "the compute TEE refused or failed: {}", r.result.log);
        let verified = self
            .net
            .verifier
            .verifyExtensionResult(
                self.extension,
                op(operation.0),
                op(operation.1),
                action_result(&r.result),
                Bytes::copy_from_slice(&r.signature),
            )
            .call()
            .await
            .context("TeeResultVerifier.verifyExtensionResult")?;
        ensure!(verified.teeId == self.tee_id, "verifyExtensionResult named {}, not the compute TEE", verified.teeId);
        let registered: B256 = self.net.machines.machine(self.tee_id).call().await?.codeHash;
        ensure!(verified.codeHash == registered, "the result names another code hash");
        Ok((verified.output.to_vec(), took))
    }
}
