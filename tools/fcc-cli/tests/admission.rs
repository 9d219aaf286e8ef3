//! One admission rule: the guest (`Tee::handle`), the proxy (when it queues an instruction, and
//! which it refuses at the door) and the `fcc` binary (`instruction verify`) agree on every
//! `F_FDC2/PROVE` request — for `thresholdBIPS` ∈ {0, 3000, 4000, 6000, 9000}, with and without
//! cosigners, at every signed weight from none to all — and each agrees with the rule written out
//! by hand here (so the three cannot pass by being wrong together).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fcc_core::abi::{self, Token};
use fcc_core::action::{Action, ActionKind};
use fcc_core::attester::Simulated;
use fcc_core::error::Error;
use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::InitializePolicy;
use fcc_core::op;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy, Voter};
use fcc_core::result::{SubmissionTag, status};
use fcc_core::tee::Tee;
use fcc_sim_providers::Provider;
use serde_json::{Value, json};

const CHAIN: u64 = 14;
const EPOCH: u32 = 7;
/// Ten voters of weight 10: the bar of `b` bips is exactly `b / 100`.
const VOTERS: usize = 10;
const COSIGNERS: usize = 2;

/// The verdict on one set of signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Executed (guest), queued (proxy), accepted (CLI).
    Admitted,
    /// Not enough weight or cosigners: more signatures could carry it.
    Short(u16),
    /// No signatures can: the operation's rule refuses the instruction itself.
    Inadmissible(u16),
}

/// The rule by hand: `thresholdBIPS` 0 → 5000; outside [4000, 10000) refused; below 5000 only
/// with a cosigner majority; then weight > bips/100 (total 100) and every required cosigner.
fn expected(bips: u16, cosigners_threshold: u64, voters: usize, cosigners: usize) -> Verdict {
    let bips = if bips == 0 { 5000 } else { bips };
    let operation_failed = Error::OperationFailed { reason: "" }.code();
    if !(4000..10_000).contains(&bips) || (bips < 5000 && cosigners_threshold * 2 <= COSIGNERS as u64) {
        return Verdict::Inadmissible(operation_failed);
    }
    if voters * 10 <= usize::from(bips / 100) {
        return Verdict::Short(Error::InsufficientWeight { weight: 0, threshold: 0 }.code());
    }
    if (cosigners as u64) < cosigners_threshold {
        return Verdict::Short(Error::InsufficientCosigners { count: 0, required: 0 }.code());
    }
    Verdict::Admitted
}

/// `abi.encode(Fdc2AttestationRequest)` with `bips` (layout in `fcc_core::ops::fdc2`).
fn fdc2_request(bips: u16) -> Vec<u8> {
    abi::encode_dynamic_struct(&[
        Token::Word(op::name("EVMTransaction")),
        Token::Word(op::name("testETH")),
        Token::Word(abi::uint(u64::from(bips))),
        Token::Word(abi::address(&[0xbb; 20])),
        Token::Bytes(b"transaction 0xabcd on chain testETH"),
    ])
}

struct Case {
    bips: u16,
    cosigners_threshold: u64,
    voters: usize,
    cosigners: usize,
}

impl Case {
    fn all() -> Vec<Case> {
        let mut out = Vec::new();
        for bips in [0, 3000, 4000, 6000, 9000] {
            for (cosigners_threshold, cosigners) in [(0, 0), (2, 1), (2, 2)] {
                for voters in 0..=VOTERS {
                    out.push(Case { bips, cosigners_threshold, voters, cosigners });
                }
            }
        }
        out
    }

    fn name(&self) -> String {
        format!(
            "thresholdBIPS {} cosignersThreshold {} with {} voters and {} cosigners signing",
            self.bips, self.cosigners_threshold, self.voters, self.cosigners
        )
    }

    fn instruction(&self, tee_id: [u8; 20], cosigners: &[Provider]) -> InstructionData {
        InstructionData {
            instruction_id: keccak256(format!("admission {} {tee_id:?}", self.name()).as_bytes()),
            tee_id,
            timestamp: 1_760_000_000,
            reward_epoch_id: EPOCH,
            op_type: op::F_FDC2,
            op_command: op::PROVE,
            cosigners: cosigners.iter().map(|c| c.key.address()).collect(),
            cosigners_threshold: self.cosigners_threshold,
            original_message: fdc2_request(self.bips),
            additional_fixed_message: b"response body".to_vec(),
        }
    }

    /// The signers, voters first.
    fn signers<'a>(&self, voters: &'a [Provider], cosigners: &'a [Provider]) -> Vec<&'a Provider> {
        voters[..self.voters].iter().chain(&cosigners[..self.cosigners]).collect()
    }
}

fn guest_verdict(tee: &mut Tee, case: &Case, voters: &[Provider], cosigners: &[Provider]) -> Verdict {
    let d = case.instruction(tee.state().identity.address(), cosigners);
    let digest = d.signing_digest(CHAIN, &[]);
    let votes = case
        .signers(voters, cosigners)
        .iter()
        .map(|p| fcc_core::verify::Vote {
            signature: p.key.sign_digest(&digest),
            additional_variable_message: vec![],
            hint: None,
        })
        .collect();
    let action =
        Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction: d, votes };
    let r = tee.handle(&action, &mut Simulated).result;
    if r.status == status::SUCCESS {
        return Verdict::Admitted;
    }
    let code = u16::from_be_bytes(r.additional_result_status[..].try_into().expect("a 2-byte error code"));
    match code {
        c if c == Error::OperationFailed { reason: "" }.code() => Verdict::Inadmissible(c),
        c => Verdict::Short(c),
    }
}

fn cli_verdict(case: &Case, policy_file: &str, voters: &[Provider], cosigners: &[Provider]) -> Verdict {
    let d = case.instruction([0x22; 20], cosigners);
    let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
    let digest = d.signing_digest(CHAIN, &[]);
    let input = json!({
        "data": {
            "instructionId": hex0x(&d.instruction_id),
            "teeId": hex0x(&d.tee_id),
            "timestamp": d.timestamp,
            "rewardEpochId": d.reward_epoch_id,
            "opType": "F_FDC2",
            "opCommand": "PROVE",
            "cosigners": d.cosigners.iter().map(|c| hex0x(c)).collect::<Vec<_>>(),
            "cosignersThreshold": d.cosigners_threshold,
            "originalMessage": hex0x(&d.original_message),
            "additionalFixedMessage": hex0x(&d.additional_fixed_message),
        },
        "votes": case.signers(voters, cosigners).iter().map(|p| hex0x(&p.key.sign_digest(&digest))).collect::<Vec<_>>(),
    });
    let chain = CHAIN.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fcc"))
        .args(["instruction", "verify", "-", "--chain-id", &chain, "--policy", policy_file])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fcc");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{}: fcc printed no JSON ({e}): {}", case.name(), String::from_utf8_lossy(&out.stderr))
    });
    match (out.status.code(), report["accepted"].as_bool()) {
        (Some(0), Some(true)) => Verdict::Admitted,
        (Some(1), Some(false)) => {
            let code = report["errorCode"].as_u64().expect("errorCode") as u16;
            if code == (Error::OperationFailed { reason: "" }).code() {
                Verdict::Inadmissible(code)
            } else {
                Verdict::Short(code)
            }
        }
        other => panic!("{}: fcc exited {other:?}: {report}", case.name()),
    }
}

/// Posts the case's votes to the proxy one by one; its verdict is whether the instruction was
/// queued (the guest then executed it), left collecting, or refused at the door. Without a vote
/// the proxy has nothing to judge: `None`.
async fn proxy_verdict(
    http: &reqwest::Client,
    base: &str,
    tee_id: [u8; 20],
    case: &Case,
    voters: &[Provider],
    cosigners: &[Provider],
) -> Option<(Verdict, [u8; 32])> {
    let d = case.instruction(tee_id, cosigners);
    if case.voters + case.cosigners == 0 {
        return None;
    }
    let mut refused = None;
    let mut opened = false;
    for p in case.signers(voters, cosigners) {
        let body = fcc_sim_providers::vote_json(p, &d, CHAIN);
        let r = http.post(format!("{base}/instruction")).json(&body).send().await.unwrap();
        let status = r.status();
        let answer: Value = r.json().await.unwrap();
        match status.as_u16() {
            200 => opened = true,
            400 if answer["error"] == "inadmissible_instruction" => refused = Some(answer),
            // Cosigners alone cannot open an instruction (no voter weight): it stays short.
            425 if answer["error"] == "no_voter_yet" && !opened => {}
            other => panic!("{}: the proxy answered {other}: {answer}", case.name()),
        }
    }
    if refused.is_some() {
        // Every vote of an instruction no weight can authorise is refused, so nothing is kept.
        let url = format!("{base}/action/status/{EPOCH}/0x{}", hex::encode(d.instruction_id));
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{}: a refused instruction has no status", case.name());
        return Some((Verdict::Inadmissible(Error::OperationFailed { reason: "" }.code()), d.instruction_id));
    }
    if !opened {
        return Some((Verdict::Short(0), d.instruction_id));
    }
    let url = format!("{base}/action/status/{EPOCH}/0x{}", hex::encode(d.instruction_id));
    let s: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    match s["state"].as_str() {
        Some("collecting") => Some((Verdict::Short(0), d.instruction_id)),
        Some("queued" | "delivered" | "done") => Some((Verdict::Admitted, d.instruction_id)),
        other => panic!("{}: status {other:?}: {s}", case.name()),
    }
}

/// Waits for the stand-in guest's result of `id` and returns its status.
async fn result_status(store: &dyn fcc_proxy::store::Store, id: &[u8; 32]) -> u8 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = store.result(id).await.unwrap() {
            return r.result.status;
        }
        assert!(Instant::now() < deadline, "no result for a queued instruction");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_proxy_and_cli_apply_the_same_fdc2_admission_rule() {
    let ps = fcc_sim_providers::providers("admission", VOTERS + COSIGNERS).unwrap();
    let (voters, cosigners) = ps.split_at(VOTERS);
    let policy = SigningPolicy::new(
        EPOCH,
        1_000,
        50,
        [0x5e; 32],
        voters.iter().map(|p| Voter { address: p.key.address(), weight: 10 }).collect(),
    )
    .unwrap();
    let init = Action::initialize_policy(&InitializePolicy {
        policy: policy.encode(),
        public_keys: fcc_sim_providers::public_keys(voters),
    });
    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("policy.hex");
    std::fs::write(&policy_file, hex::encode(policy.encode())).unwrap();
    let policy_file = policy_file.to_str().unwrap();

    // The guest, in-process.
    let config = fcc_core::Config { chain_id: CHAIN, policy_hash: PolicyHashScheme::Legacy, registration: None };
    let mut guest = Tee::new(config, &mut rand::rng(), fcc_core::ops::Registry::system()).unwrap();
    assert_eq!(guest.handle(&init, &mut Simulated).result.status, status::SUCCESS);

    // The proxy, with a stand-in guest of its own.
    let running = fcc_proxy_testing::start_sqlite(dir.path(), fcc_proxy_testing::loopback_config(CHAIN)).await.unwrap();
    running.shared.add_policy(&policy.encode()).await.unwrap();
    running.shared.enqueue_direct(&init).await.unwrap();
    let tee = Arc::new(Mutex::new(fcc_proxy_testing::new_tee(CHAIN).unwrap()));
    let tee_id = tee.lock().unwrap().state().identity.address();
    let guest_task = fcc_proxy_testing::spawn_guest(running.link_addr, tee.clone());
    assert_eq!(result_status(running.shared.store.as_ref(), &init.instruction.instruction_id).await, status::SUCCESS);
    let http = reqwest::Client::new();
    let base = format!("http://{}", running.http_addr);

    let mut queued = Vec::new();
    for case in Case::all() {
        let want = expected(case.bips, case.cosigners_threshold, case.voters, case.cosigners);
        let guest = guest_verdict(&mut guest, &case, voters, cosigners);
        assert_eq!(guest, want, "guest: {}", case.name());
        let cli = cli_verdict(&case, policy_file, voters, cosigners);
        assert_eq!(cli, want, "fcc instruction verify: {}", case.name());
        let Some((proxy, id)) = proxy_verdict(&http, &base, tee_id, &case, voters, cosigners).await else {
            continue;
        };
        // The proxy does not say which requirement is short, only that it keeps collecting.
        let proxy_matches = match (proxy, want) {
            (Verdict::Short(_), Verdict::Short(_)) => true,
            (p, w) => p == w,
        };
        assert!(proxy_matches, "proxy {proxy:?}, expected {want:?}: {}", case.name());
        if proxy == Verdict::Admitted {
            queued.push(id);
        }
    }
    // What the proxy queued, its guest executed: the proxy never queues what the guest refuses.
    assert!(!queued.is_empty());
    for id in &queued {
        assert_eq!(result_status(running.shared.store.as_ref(), id).await, status::SUCCESS);
    }
    guest_task.abort();
    running.shutdown().await;
}
