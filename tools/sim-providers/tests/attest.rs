//! The providers' TEE check (`fcc_sim_providers::attest`) against a real fcc-proxy with the
//! in-process stand-in guest (plain QEMU's simulated evidence): accepted in test mode with the
//! guest's identity and a fresh challenge; refused in production mode; refused when the proxy
//! lies about the public key, the TEE id or the answer, replays an answer to another challenge,
//! or when the provider serves another chain; a TEE rooted in a policy that is not the Relay's
//! is refused; and the `check` subcommand.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fcc_attest::{Manifest, Verifier};
use fcc_sim_providers::attest::{CheckError, Collateral, TeeInfo, address_of, check_policies, unix_now, verify_info};
use fcc_sim_providers::client::ProxyClient;
use serde_json::Value;

const CHAIN_ID: u64 = 14;

fn manifest_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reproducible/MEASUREMENTS.json")
}

fn verifier(allow_simulated: bool) -> Verifier {
    let m = Manifest::from_json(&std::fs::read(manifest_path()).unwrap()).unwrap();
    Verifier { allow_simulated, ..Verifier::new(m) }
}

/// A proxy (no attestation check of its own) with a stand-in guest that has greeted it.
async fn proxy(dir: &tempfile::TempDir) -> (fcc_proxy::Running, [u8; 20]) {
    let running =
        fcc_proxy_testing::start_sqlite(dir.path(), fcc_proxy_testing::loopback_config(CHAIN_ID)).await.unwrap();
    let tee = Arc::new(Mutex::new(fcc_proxy_testing::new_tee(CHAIN_ID).unwrap()));
    let tee_id = tee.lock().unwrap().state().identity.address();
    fcc_proxy_testing::spawn_guest(running.link_addr, tee);
    let deadline = Instant::now() + Duration::from_secs(20);
    while running.shared.sessions.tee().await.is_none() {
        assert!(Instant::now() < deadline, "the guest did not greet");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (running, tee_id)
}

fn client(running: &fcc_proxy::Running, chain_id: u64) -> ProxyClient {
    ProxyClient::new(&format!("http://{}", running.http_addr), chain_id, Duration::from_secs(10)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_tee_is_accepted_only_in_test_mode_with_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (running, tee_id) = proxy(&dir).await;
    let c = client(&running, CHAIN_ID);

    let checked = c.check_tee(&verifier(true), &Collateral::default()).await.expect("test mode accepts");
    let v = checked.verdict;
    assert_eq!(v.platform, "plain (simulated, not a TEE)");
    assert!(v.simulated);
    let id = v.identity.expect("identity binding");
    assert_eq!(id.address, format!("0x{}", hex::encode(tee_id)));
    assert_eq!(id.chain_id, CHAIN_ID);
    assert_eq!(id.challenge, hex::encode(checked.statement.challenge));
    assert_ne!(checked.statement.challenge, [0; 32], "a fresh challenge");
    assert_eq!(checked.info.tee_id, tee_id);

    // Production mode: the same evidence is refused, typed.
    let e = c.check_tee(&verifier(false), &Collateral::default()).await.unwrap_err();
    assert!(matches!(e, CheckError::Refused(fcc_attest::Error::SimulatedAttestation)), "{e}");

    // A provider serving another chain: the TEE signs for chain 14, not 15.
    let e = client(&running, CHAIN_ID + 1).check_tee(&verifier(true), &Collateral::default()).await.unwrap_err();
    assert!(matches!(e, CheckError::Answer(_)), "{e}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_lying_about_the_key_the_id_or_the_answer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (running, _) = proxy(&dir).await;
    let challenge = [0x3c; 32];
    let url = format!("http://{}/info?challenge=0x{}", running.http_addr, hex::encode(challenge));
    let info: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let v = verifier(true);
    let none = Collateral::default();
    let check = |info: &Value, challenge: &[u8; 32]| {
        verify_info(&TeeInfo::from_json(info)?, challenge, &v, &none, CHAIN_ID, unix_now()).map(|_| ())
    };
    // The untampered answer passes; the same answer for another challenge (a replay) does not.
    check(&info, &challenge).unwrap();
    let e = check(&info, &[0x3d; 32]).unwrap_err();
    assert!(matches!(e, CheckError::StaleChallenge { .. }), "{e}");
    // Asked again with the same challenge, the proxy serves the same signed answer.
    let again: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(again["teeInfo"], info["teeInfo"]);

    // Another key (a provider's) with the real TEE id: the id is not that key's address.
    let other = *fcc_sim_providers::providers("attest test", 1).unwrap()[0].key.public_key();
    let mut lie = info.clone();
    lie["publicKey"] = Value::from(format!("0x{}", hex::encode(other)));
    let e = check(&lie, &challenge).unwrap_err();
    assert!(matches!(e, CheckError::TeeIdMismatch { .. }), "{e}");
    // Another key and its matching id: the answer is not signed by that id.
    lie["teeId"] = Value::from(format!("0x{}", hex::encode(address_of(&other))));
    let e = check(&lie, &challenge).unwrap_err();
    assert!(matches!(e, CheckError::Answer(_)), "{e}");
    // The answer's data changed (say, another trust root): the TEE's signature no longer holds.
    let mut lie = info.clone();
    let data = lie["teeInfo"]["result"]["data"].as_str().unwrap().to_owned();
    let flipped = format!("{}{}", &data[..data.len() - 1], if data.ends_with('0') { '1' } else { '0' });
    lie["teeInfo"]["result"]["data"] = Value::from(flipped);
    let e = check(&lie, &challenge).unwrap_err();
    assert!(matches!(e, CheckError::Answer(_)), "{e}");
    // No answer at all; a malformed key.
    let mut lie = info.clone();
    lie["teeInfo"] = Value::Null;
    assert!(matches!(check(&lie, &challenge).unwrap_err(), CheckError::Answer(_)));
    let mut short = info.clone();
    short["publicKey"] = Value::from("0x0102");
    assert!(matches!(TeeInfo::from_json(&short), Err(CheckError::Info(_))));
    // A bad challenge is the proxy's 400.
    let bad = reqwest::get(format!("http://{}/info?challenge=0x12", running.http_addr)).await.unwrap();
    assert_eq!(bad.status(), 400);
    running.shutdown().await;
}

/// The attack of the trust-chain review: an operator roots a fresh guest in a policy of keys it
/// controls. The evidence is genuine and fresh — only the comparison with the Relay refuses it;
/// the guest rooted in the Relay's policy passes, and one with no trust root does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tee_rooted_in_a_policy_that_is_not_the_relays_is_refused() {
    use fcc_core::policy::PolicyHashScheme;
    let relay_ps = fcc_sim_providers::providers("the relay's voters", 4).unwrap();
    let relay_policy = fcc_sim_providers::policy(&relay_ps, 7).unwrap();
    let relay = |e: u32| (e == 7).then(|| relay_policy.hash(PolicyHashScheme::Legacy));
    let operator_ps = fcc_sim_providers::providers("the operator's own keys", 4).unwrap();
    let operator_policy = fcc_sim_providers::policy(&operator_ps, 7).unwrap();

    for (root, passes) in
        [(None, false), (Some((&operator_ps, &operator_policy)), false), (Some((&relay_ps, &relay_policy)), true)]
    {
        let dir = tempfile::tempdir().unwrap();
        let (running, _) = proxy(&dir).await;
        if let Some((ps, policy)) = root {
            let init = fcc_sim_providers::initialize_policy(ps, policy).unwrap();
            running.shared.enqueue_direct(&init).await.unwrap();
            let id = init.instruction.instruction_id;
            let deadline = Instant::now() + Duration::from_secs(20);
            while running.shared.store.result(&id).await.unwrap().is_none() {
                assert!(Instant::now() < deadline, "INITIALIZE_POLICY not executed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let checked = client(&running, CHAIN_ID).check_tee(&verifier(true), &Collateral::default()).await.unwrap();
        let verdict = check_policies(&checked.statement, relay);
        assert_eq!(verdict.is_ok(), passes, "{root:?}: {verdict:?}", root = root.map(|r| r.1.reward_epoch_id()));
        if let Err(e) = verdict {
            assert!(matches!(e, CheckError::PolicyNotRelays { which: "initial", epoch: 7 | 0, .. }), "{e}");
        }
        running.shutdown().await;
    }
}

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || Command::new(env!("CARGO_BIN_EXE_sim-providers")).args(args).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_subcommand_prints_the_verdict_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (running, tee_id) = proxy(&dir).await;
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["--chain-id", &CHAIN_ID.to_string(), "check", "--proxy"].map(String::from).to_vec();
        a.push(format!("http://{}", running.http_addr));
        a.extend(["--manifest".to_string(), manifest_path().display().to_string()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let out = run(args(&["--allow-simulated", "--no-relay-check"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let verdict: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verdict["identity"]["address"], format!("0x{}", hex::encode(tee_id)).as_str());

    let out = run(args(&["--no-relay-check"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("REFUSED: simulated attestation"), "{stdout}");
    // Neither a chain to compare the policies with nor the explicit opt-out: an error.
    let out = run(args(&["--allow-simulated"])).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rpc and --relay are required"));
    running.shutdown().await;
}

/// The registration check: the TEE's signed answer to the registry's `F_REG/TEE_ATTESTATION` is
/// accepted only for the registry's challenge, with the registered code (the measurement the
/// evidence names), platform, owner and extension, and registration data the TEE signed.
#[test]
fn a_registration_answer_is_accepted_only_as_registered() {
    use fcc_core::attester::{PlatformKind, Simulated, SimulatedRom};
    use fcc_core::hash::keccak256;
    use fcc_core::policy::PolicyHashScheme;
    use fcc_sim_providers::attest::{Registered, check_registration};

    let manifest = Manifest::from_json(&std::fs::read(manifest_path()).unwrap()).unwrap();
    let rom = manifest.rom_sha384.expect("the manifest publishes the ROM hash");
    let ps = fcc_sim_providers::providers("registration check", 4).unwrap();
    let policy = fcc_sim_providers::policy(&ps, 7).unwrap();
    let all: Vec<usize> = (0..ps.len()).collect();
    let owner = [0x0b; 20];
    let mut extension_id = [0u8; 32];
    extension_id[31] = 1;
    let registration = fcc_core::Registration { extension_id, owner, governance: fcc_core::config::Governance::NONE };
    let config = |registration| fcc_core::Config {
        chain_id: CHAIN_ID,
        policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN_ID },
        registration,
    };
    let new_tee = |registration| {
        let mut tee =
            fcc_core::Tee::new(config(registration), &mut rand::rng(), fcc_core::ops::Registry::system()).unwrap();
        let init = fcc_sim_providers::initialize_policy(&ps, &policy).unwrap();
        assert_eq!(tee.handle(&init, &mut Simulated).result.status, 1);
        tee
    };
    let challenge = [0x77; 32];
    // The registry's instruction for `tee` and its answer, as the provider reads it.
    let answer = |tee: &mut fcc_core::Tee, attester: &mut dyn fcc_core::attester::Attester, id: &str| {
        let tee_id = tee.state().identity.address();
        let message = fcc_sim_providers::attestation_request(
            tee_id,
            "http://proxy",
            keccak256(&rom),
            PlatformKind::Plain.id(),
            challenge,
        );
        let d = fcc_sim_providers::attestation_instruction(tee_id, id, 7, message);
        let action = fcc_sim_providers::signed(&ps, &all, d, CHAIN_ID).unwrap();
        tee.handle(&action, attester)
    };
    let mut tee = new_tee(Some(registration));
    let registered = Registered {
        public_key: *tee.state().identity.public_key(),
        extension_id,
        owner,
        code_hash: keccak256(&rom),
        platform: PlatformKind::Plain.id(),
        challenge,
        governance_hash: [0; 32],
    };
    let v = verifier(true);
    let none = Collateral::default();
    let check = |answer: &fcc_core::result::SignedResult, registered: &Registered| {
        check_registration(answer, registered, &v, &none, CHAIN_ID, unix_now())
    };

    let good = answer(&mut tee, &mut SimulatedRom(rom), "attest 1");
    assert_eq!(good.result.status, 1, "{}", good.result.log);
    let (statement, verdict) = check(&good, &registered).expect("as registered");
    assert_eq!(statement.challenge, challenge);
    assert_eq!(verdict.measurement_hex, hex::encode(rom));

    // Another challenge (an old answer), another registered code, platform, owner or extension.
    let e = check(&good, &Registered { challenge: [0x78; 32], ..registered.clone() }).unwrap_err();
    assert!(matches!(e, CheckError::StaleChallenge { .. }), "{e}");
    let e = check(&good, &Registered { code_hash: [1; 32], ..registered.clone() }).unwrap_err();
    assert!(matches!(e, CheckError::NotAsRegistered { what: "codeHash", .. }), "{e}");
    let e = check(&good, &Registered { platform: PlatformKind::SevSnp.id(), ..registered.clone() }).unwrap_err();
    assert!(matches!(e, CheckError::NotAsRegistered { what: "platform", .. }), "{e}");
    let e = check(&good, &Registered { owner: [0x0c; 20], ..registered.clone() }).unwrap_err();
    assert!(matches!(e, CheckError::NotAsRegistered { what: "owner", .. }), "{e}");
    let e = check(&good, &Registered { extension_id: [2; 32], ..registered.clone() }).unwrap_err();
    assert!(matches!(e, CheckError::NotAsRegistered { what: "extensionId", .. }), "{e}");
    // A TEE booted without governance is not the machine registered with one.
    let e = check(&good, &Registered { governance_hash: [3; 32], ..registered.clone() }).unwrap_err();
    assert!(matches!(e, CheckError::NotAsRegistered { what: "governanceHash", .. }), "{e}");

    // Evidence without a measurement; a ROM hash the manifest does not publish.
    let bare = answer(&mut tee, &mut Simulated, "attest 2");
    let e = check(&bare, &registered).unwrap_err();
    assert!(matches!(e, CheckError::Statement(_)), "{e}");
    let other = answer(&mut tee, &mut SimulatedRom([9; 48]), "attest 3");
    let e = check(&other, &Registered { code_hash: keccak256(&[9; 48]), ..registered.clone() }).unwrap_err();
    assert!(matches!(e, CheckError::Refused(_)), "{e}");

    // A TEE whose operator fixed no owner signs nothing: its answer names owner zero.
    let mut unowned = new_tee(None);
    let unsigned = answer(&mut unowned, &mut SimulatedRom(rom), "attest 4");
    let registered_unowned = Registered { public_key: *unowned.state().identity.public_key(), ..registered.clone() };
    let e = check(&unsigned, &registered_unowned).unwrap_err();
    assert!(matches!(e, CheckError::NotAsRegistered { what: "extensionId" | "owner", .. }), "{e}");

    // A TEE_INFO answer is not a registration answer.
    let info = tee.handle(&fcc_sim_providers::tee_info("info"), &mut SimulatedRom(rom));
    let e = check(&info, &registered).unwrap_err();
    assert!(matches!(e, CheckError::Answer(_)), "{e}");
}
