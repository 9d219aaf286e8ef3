//! End-to-end tests of the `fcc` binary on real inputs: Flare's epoch-309 signing policy, and
//! instructions and results signed with keys generated here.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use fcc_core::identity::TeeIdentity;
use fcc_core::instruction::InstructionData;
use fcc_core::op;
use fcc_core::policy::{Address, SigningPolicy, Voter};
use fcc_core::result::{ActionResult, SubmissionTag, status};
use serde_json::{Value, json};

const CHAIN: u64 = 14;
const FLARE_POLICY_309: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest/core/tests/data/flare_policy_epoch309.hex");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs `fcc args...` with `stdin` on standard input.
fn fcc(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fcc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fcc");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited normally, not by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Writes `contents` to a fresh file under the test temp dir.
fn temp_file(contents: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path: PathBuf = [
        env!("CARGO_TARGET_TMPDIR"),
        &format!("fcc-cli-{}-{}.txt", std::process::id(), N.fetch_add(1, Ordering::Relaxed)),
    ]
    .iter()
    .collect();
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn same_address(printed: &Value, a: &Address) -> bool {
    printed.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&hex0x(a)))
}

fn key(i: u8) -> TeeIdentity {
    let mut secret = [0x42u8; 32];
    secret[31] = i;
    TeeIdentity::from_secret_for_tests(&secret).unwrap()
}

/// Four voters (weights 30, 20, 25, 25: total 100, so 5000 bips means "more than 50").
struct Fixture {
    voters: Vec<TeeIdentity>,
    policy: SigningPolicy,
    policy_file: String,
}

fn fixture() -> Fixture {
    let voters: Vec<TeeIdentity> = (1..=4).map(key).collect();
    let weights = [30u16, 20, 25, 25];
    let policy = SigningPolicy::new(
        7,
        1000,
        50,
        [0x5e; 32],
        voters.iter().zip(weights).map(|(k, weight)| Voter { address: k.address(), weight }).collect(),
    )
    .unwrap();
    let policy_file = temp_file(&hex::encode(policy.encode()));
    Fixture { voters, policy, policy_file }
}

fn instruction(cosigners: &[Address], cosigners_threshold: u64) -> InstructionData {
    InstructionData {
        instruction_id: [0x11; 32],
        tee_id: [0x22; 20],
        timestamp: 1_750_000_000,
        reward_epoch_id: 7,
        op_type: op::name("F_FDC2"),
        op_command: op::name("PROVE"),
        cosigners: cosigners.to_vec(),
        cosigners_threshold,
        original_message: fdc2_request(),
        additional_fixed_message: vec![0xaa; 40],
    }
}

/// `abi.encode(Fdc2AttestationRequest)` with `thresholdBIPS` 0 (Flare's default, 5000): the
/// admission rule of `F_FDC2/PROVE` reads it.
fn fdc2_request() -> Vec<u8> {
    use fcc_core::abi::{self, Token};
    abi::encode_dynamic_struct(&[
        Token::Word(op::name("EVMTransaction")),
        Token::Word(op::name("testETH")),
        Token::Word(abi::uint(0)),
        Token::Word(abi::address(&[0xbb; 20])),
        Token::Bytes(b"transaction 0xabcd"),
    ])
}

/// go-flare-common's `Data` JSON for `d` (opType as a name, opCommand as hex, to cover both).
fn data_json(d: &InstructionData) -> Value {
    json!({
        "instructionId": hex0x(&d.instruction_id),
        "teeId": hex0x(&d.tee_id),
        "timestamp": d.timestamp,
        "rewardEpochId": d.reward_epoch_id,
        "opType": "F_FDC2",
        "opCommand": hex0x(&d.op_command),
        "cosigners": d.cosigners.iter().map(|c| hex0x(c)).collect::<Vec<_>>(),
        "cosignersThreshold": d.cosigners_threshold,
        "originalMessage": hex0x(&d.original_message),
        "additionalFixedMessage": hex0x(&d.additional_fixed_message),
    })
}

fn vote(d: &InstructionData, k: &TeeIdentity, avm: &[u8]) -> Value {
    json!({ "signature": hex0x(&k.sign_digest(&d.signing_digest(CHAIN, avm))), "additionalVariableMessage": hex0x(avm) })
}

fn verify(input: &Value, policy_file: &str, extra: &[&str]) -> Run {
    let chain = CHAIN.to_string();
    let mut args = vec!["instruction", "verify", "-", "--chain-id", &chain, "--policy", policy_file];
    args.extend_from_slice(extra);
    fcc(&args, &input.to_string())
}

// --- policies ---

#[test]
fn flare_epoch_309_policy_hashes() {
    let legacy = fcc(&["policy", "hash", FLARE_POLICY_309], "");
    assert_eq!(legacy.code, 0, "{}", legacy.stderr);
    let j = legacy.json();
    assert_eq!(j["scheme"], "legacy");
    assert_eq!(j["hash"], "0x96986bfe5ffa787b6d33f4b16b3d40d5a46f38972c271771ddbe47fb142a0363");

    let bound = fcc(&["policy", "hash", FLARE_POLICY_309, "--scheme", "chain-bound", "--chain-id", "14"], "");
    assert_eq!(bound.code, 0, "{}", bound.stderr);
    let j = bound.json();
    assert_eq!(j["scheme"], "chain-bound");
    assert_eq!(j["chainId"], 14);
    assert_eq!(j["hash"], "0x1a81e6e4a01d783bb49f5fc40ee7d2b5af07839550f860adf97772a84ada6630");

    // From stdin, with the scheme implied by --chain-id.
    let stdin = std::fs::read_to_string(FLARE_POLICY_309).unwrap();
    let implied = fcc(&["policy", "hash", "-", "--chain-id", "14"], &stdin).json();
    assert_eq!(implied["hash"], "0x1a81e6e4a01d783bb49f5fc40ee7d2b5af07839550f860adf97772a84ada6630");
}

#[test]
fn flare_epoch_309_policy_decodes() {
    let r = fcc(&["policy", "decode", FLARE_POLICY_309, "--chain-id", "14"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    let bytes =
        hex::decode(std::fs::read_to_string(FLARE_POLICY_309).unwrap().trim().trim_start_matches("0x")).unwrap();
    let p = SigningPolicy::decode(&bytes).unwrap();
    assert_eq!(j["rewardEpochId"], 309);
    assert_eq!(j["startVotingRoundId"], p.start_voting_round_id());
    assert_eq!(j["threshold"], p.threshold());
    assert_eq!(j["seed"], hex0x(p.seed()));
    assert_eq!(j["totalWeight"], p.total_weight());
    let voters = j["voters"].as_array().unwrap();
    assert_eq!(voters.len(), p.voters().len());
    for (printed, v) in voters.iter().zip(p.voters()) {
        assert!(same_address(&printed["address"], &v.address));
        assert_eq!(printed["weight"], v.weight);
    }
    assert_eq!(j["hashLegacy"], "0x96986bfe5ffa787b6d33f4b16b3d40d5a46f38972c271771ddbe47fb142a0363");
    assert_eq!(j["hashChainBound"], "0x1a81e6e4a01d783bb49f5fc40ee7d2b5af07839550f860adf97772a84ada6630");

    // The decoded JSON is itself accepted as a policy, and edits to it are caught.
    let again = fcc(&["policy", "hash", "-"], &r.stdout).json();
    assert_eq!(again["hash"], j["hashLegacy"]);
    let mut edited = j.clone();
    edited["voters"][0]["weight"] = json!(1);
    let bad = fcc(&["policy", "hash", "-"], &edited.to_string());
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("totalWeight"), "{}", bad.stderr);
}

#[test]
fn bad_policies_are_input_errors() {
    let r = fcc(&["policy", "decode", "-"], "0x0001");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("truncated"), "{}", r.stderr);
    let r = fcc(&["policy", "decode", "-"], "0xzz");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not hex"), "{}", r.stderr);
    let r = fcc(&["policy", "hash", FLARE_POLICY_309, "--scheme", "chain-bound"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--chain-id"), "{}", r.stderr);
    let r = fcc(&["policy", "decode", "/nonexistent/policy.hex"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent/policy.hex"), "{}", r.stderr);
}

// --- instructions ---

#[test]
fn instruction_hash_matches_the_core() {
    let d = instruction(&[[0x33; 20]], 1);
    let mut j = data_json(&d);
    j["additionalVariableMessage"] = json!("0xbeef");
    let r = fcc(&["instruction", "hash", "-", "--chain-id", "14"], &j.to_string());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json();
    assert_eq!(out["encoding"], hex0x(&d.abi_encode()));
    assert_eq!(out["hashFixed"], hex0x(&d.hash_fixed()));
    assert_eq!(out["digest"], hex0x(&d.signing_digest(CHAIN, &[0xbe, 0xef])));
    // The name form and the bytes32 form of an operation name hash the same.
    j["opType"] = json!(hex0x(&d.op_type));
    j["opCommand"] = json!("PROVE");
    let file = temp_file(&j.to_string());
    assert_eq!(fcc(&["instruction", "hash", &file, "--chain-id", "14"], "").json(), out);
    // Another chain, another digest; same hashFixed.
    let other = fcc(&["instruction", "hash", &file, "--chain-id", "19"], "").json();
    assert_eq!(other["hashFixed"], out["hashFixed"]);
    assert_ne!(other["digest"], out["digest"]);
}

#[test]
fn instruction_with_enough_weight_is_accepted() {
    let f = fixture();
    let d = instruction(&[], 0);
    let votes: Vec<Value> = f.voters[..3].iter().map(|k| vote(&d, k, b"")).collect();
    let r = verify(&json!({ "data": data_json(&d), "votes": votes }), &f.policy_file, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["accepted"], true);
    assert_eq!(j["weight"], 75);
    assert_eq!(j["threshold"], 50);
    assert_eq!(j["totalWeight"], f.policy.total_weight());
    assert!(j.get("reason").is_none());
    let signers = j["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 3);
    for (i, s) in signers.iter().enumerate() {
        assert!(same_address(&s["address"], &f.voters[i].address()));
        assert_eq!(s["voterIndex"], i);
    }
}

#[test]
fn instruction_at_exactly_the_threshold_is_refused() {
    let f = fixture();
    let d = instruction(&[], 0);
    // Voters 2 and 3: 25 + 25 = 50, not greater than 50.
    let votes: Vec<Value> = f.voters[2..].iter().map(|k| vote(&d, k, b"")).collect();
    let r = verify(&json!({ "data": data_json(&d), "votes": votes }), &f.policy_file, &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["accepted"], false);
    assert_eq!(j["errorCode"], 307);
    assert_eq!(j["weight"], 50);
    assert!(j["reason"].as_str().unwrap().contains("not greater than the threshold 50"), "{j}");
    assert!(r.stderr.contains("refused"), "{}", r.stderr);
    // One more voter tips it over.
    let votes: Vec<Value> = f.voters[1..].iter().map(|k| vote(&d, k, b"")).collect();
    assert_eq!(verify(&json!({ "data": data_json(&d), "votes": votes }), &f.policy_file, &[]).code, 0);
}

#[test]
fn cosigners_are_required_and_carry_their_own_variable_message() {
    let f = fixture();
    let cosigner = key(9);
    let d = instruction(&[cosigner.address()], 1);
    let mut votes: Vec<Value> = f.voters[..3].iter().map(|k| vote(&d, k, b"")).collect();
    let r = verify(&json!({ "data": data_json(&d), "votes": votes.clone() }), &f.policy_file, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["errorCode"], 308);
    votes.push(vote(&d, &cosigner, b"cosigner's own words"));
    let r = verify(&json!({ "data": data_json(&d), "votes": votes }), &f.policy_file, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["cosigners"], 1);
    assert_eq!(j["signers"][3]["cosigner"], true);
    assert_eq!(j["signers"][3]["weight"], 0);
}

#[test]
fn flare_single_signature_form_and_bips() {
    let f = fixture();
    let d = instruction(&[], 0);
    let mut data = data_json(&d);
    data["additionalVariableMessage"] = json!("0x0102");
    let sig = f.voters[0].sign_digest(&d.signing_digest(CHAIN, &[1, 2]));
    let input = json!({ "data": data, "signature": hex0x(&sig) });
    // 30 of 100 is not more than half...
    let r = verify(&input, &f.policy_file, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["weight"], 30);
    // ...but more than 20%.
    let r = verify(&input, &f.policy_file, &["--bips", "2000"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["threshold"], 20);
}

#[test]
fn strangers_tampering_and_wrong_epochs_are_refused() {
    let f = fixture();
    let d = instruction(&[], 0);
    let mut votes: Vec<Value> = f.voters[..3].iter().map(|k| vote(&d, k, b"")).collect();
    votes.push(vote(&d, &key(77), b""));
    let r = verify(&json!({ "data": data_json(&d), "votes": votes }), &f.policy_file, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["errorCode"], 304);
    assert!(r.json()["reason"].as_str().unwrap().contains("signature 3"));

    // Signed for another chain: recovers to strangers.
    let other_chain: Vec<Value> = f.voters[..3]
        .iter()
        .map(|k| json!({ "signature": hex0x(&k.sign_digest(&d.signing_digest(19, b""))) }))
        .collect();
    let r = verify(&json!({ "data": data_json(&d), "votes": other_chain }), &f.policy_file, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["errorCode"], 304);

    // The same voter twice.
    let twice = vec![vote(&d, &f.voters[0], b""), vote(&d, &f.voters[0], b"x")];
    let r = verify(&json!({ "data": data_json(&d), "votes": twice }), &f.policy_file, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["errorCode"], 305);

    // Cites another epoch than the policy's.
    let mut d8 = d.clone();
    d8.reward_epoch_id = 8;
    let votes: Vec<Value> = f.voters.iter().map(|k| vote(&d8, k, b"")).collect();
    let r = verify(&json!({ "data": data_json(&d8), "votes": votes }), &f.policy_file, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["errorCode"], 208);

    // A high-S twin of a valid signature.
    let mut sig = f.voters[0].sign_digest(&d.signing_digest(CHAIN, b""));
    let n = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let v = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(v < 0);
        sig[32 + i] = v.rem_euclid(256) as u8;
    }
    sig[64] ^= 1;
    let r = verify(&json!({ "data": data_json(&d), "votes": [hex0x(&sig)] }), &f.policy_file, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["errorCode"], 302);
}

#[test]
fn malformed_instruction_inputs_exit_2_naming_the_field() {
    let f = fixture();
    let d = instruction(&[], 0);
    let good_vote = vote(&d, &f.voters[0], b"");
    let cases: Vec<(String, &str)> = vec![
        ("{\"data\": ".to_string(), "invalid JSON"),
        ("[1, 2]".to_string(), "expected a JSON object"),
        (json!({ "votes": [] }).to_string(), "data: missing"),
        (json!({ "data": data_json(&d) }).to_string(), "missing `votes`"),
        (
            {
                let mut j = data_json(&d);
                j.as_object_mut().unwrap().remove("teeId");
                json!({ "data": j, "votes": [good_vote.clone()] }).to_string()
            },
            "data.teeId: missing",
        ),
        (
            {
                let mut j = data_json(&d);
                j["cosigners"] = json!(["0x1234"]);
                json!({ "data": j, "votes": [] }).to_string()
            },
            "data.cosigners[0]: invalid string length",
        ),
        (
            {
                let mut j = data_json(&d);
                j["timestamp"] = json!(-5);
                json!({ "data": j, "votes": [] }).to_string()
            },
            "data.timestamp",
        ),
        (
            {
                let mut j = data_json(&d);
                j["cosignerThreshold"] = json!(1);
                json!({ "data": j, "votes": [] }).to_string()
            },
            "data.cosignerThreshold: unknown field",
        ),
        (
            {
                let mut j = data_json(&d);
                j["opType"] = json!("A_NAME_THAT_IS_MUCH_TOO_LONG_FOR_BYTES32");
                json!({ "data": j, "votes": [] }).to_string()
            },
            "data.opType",
        ),
        (
            json!({ "data": data_json(&d), "votes": [{ "signature": "0x00" }] }).to_string(),
            "votes[0].signature: expected 65 bytes",
        ),
        (json!({ "data": data_json(&d), "votes": [{ "signature": 5 }] }).to_string(), "votes[0].signature"),
    ];
    for (input, needle) in cases {
        let r = fcc(&["instruction", "verify", "-", "--chain-id", "14", "--policy", &f.policy_file], &input);
        assert_eq!(r.code, 2, "input {input}\nstdout {}\nstderr {}", r.stdout, r.stderr);
        assert!(r.stderr.contains(needle), "input {input}: stderr {:?} lacks {needle:?}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    // A missing policy file is bad input too.
    let r = verify(&json!({ "data": data_json(&d), "votes": [good_vote] }), "/nonexistent/p.hex", &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--policy"), "{}", r.stderr);
    // Out-of-range --bips is a usage error.
    assert_eq!(
        fcc(&["instruction", "verify", "-", "--chain-id", "14", "--policy", &f.policy_file, "--bips", "10001"], "")
            .code,
        2
    );
}

// --- results ---

fn signed_result(tee: &TeeIdentity, chain_id: u64) -> (ActionResult, Value) {
    let r = ActionResult {
        id: [0x11; 32],
        submission_tag: SubmissionTag::Threshold,
        status: status::SUCCESS,
        log: String::new(),
        op_type: op::name("F_FDC2"),
        op_command: op::name("PROVE"),
        additional_result_status: vec![],
        version: "fcc-core/0.1.0".into(),
        data: vec![0xde, 0xad, 0xbe, 0xef],
    };
    let sig = tee.sign_digest(&r.signing_digest(chain_id));
    let j = json!({
        "result": {
            "id": hex0x(&r.id),
            "submissionTag": "threshold",
            "status": 1,
            "log": "",
            "opType": hex0x(&r.op_type),
            "opCommand": hex0x(&r.op_command),
            "additionalResultStatus": "0x",
            "version": r.version,
            "data": hex0x(&r.data),
        },
        "signature": hex0x(&sig),
    });
    (r, j)
}

#[test]
fn signed_result_verifies() {
    let tee = key(100);
    let (r, j) = signed_result(&tee, CHAIN);
    let tee_hex = hex0x(&tee.address());
    let out = fcc(&["result", "verify", "-", "--chain-id", "14", "--tee", &tee_hex], &j.to_string());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["resultHash"], hex0x(&r.hash()));
    assert_eq!(v["digest"], hex0x(&r.signing_digest(CHAIN)));
    assert!(same_address(&v["signer"], &tee.address()));
    assert_eq!(v["matches"], true);
    // Without --tee: no verdict, just the signer.
    let file = temp_file(&j.to_string());
    let v = fcc(&["result", "verify", &file, "--chain-id", "14"], "").json();
    assert!(same_address(&v["signer"], &tee.address()));
    assert!(v.get("matches").is_none());
}

#[test]
fn tampered_result_reports_another_signer() {
    let tee = key(100);
    let (_, mut j) = signed_result(&tee, CHAIN);
    j["result"]["data"] = json!("0xdeadbeee");
    let tee_hex = hex0x(&tee.address());
    let out = fcc(&["result", "verify", "-", "--chain-id", "14", "--tee", &tee_hex], &j.to_string());
    assert_eq!(out.code, 1, "{}", out.stdout);
    let v = out.json();
    assert_eq!(v["matches"], false);
    assert!(!same_address(&v["signer"], &tee.address()));
    assert!(out.stderr.contains("not by the expected TEE"), "{}", out.stderr);
    // Without --tee it only reports (another) signer.
    let out = fcc(&["result", "verify", "-", "--chain-id", "14"], &j.to_string());
    assert_eq!(out.code, 0);
    assert!(!same_address(&out.json()["signer"], &tee.address()));
    // Unsigned fields (the log) do not change the signer; the chain id does.
    let (_, mut j) = signed_result(&tee, CHAIN);
    j["result"]["log"] = json!("edited");
    assert_eq!(fcc(&["result", "verify", "-", "--chain-id", "14", "--tee", &tee_hex], &j.to_string()).code, 0);
    assert_eq!(fcc(&["result", "verify", "-", "--chain-id", "19", "--tee", &tee_hex], &j.to_string()).code, 1);
    // A signature with a bad v byte recovers nothing.
    let (_, mut j) = signed_result(&tee, CHAIN);
    let mut sig = j["signature"].as_str().unwrap().to_string();
    sig.replace_range(sig.len() - 2.., "05");
    j["signature"] = json!(sig);
    let out = fcc(&["result", "verify", "-", "--chain-id", "14"], &j.to_string());
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["signer"], Value::Null);
    assert_eq!(out.json()["errorCode"], 301);
}

#[test]
fn malformed_results_exit_2() {
    let tee = key(100);
    let (_, j) = signed_result(&tee, CHAIN);
    let mut bad_tag = j.clone();
    bad_tag["result"]["submissionTag"] = json!("later");
    let mut bad_status = j.clone();
    bad_status["result"]["status"] = json!(300);
    let mut no_sig = j.clone();
    no_sig.as_object_mut().unwrap().remove("signature");
    for (input, needle) in [
        ("not json".to_string(), "invalid JSON"),
        (bad_tag.to_string(), "result.submissionTag"),
        (bad_status.to_string(), "result.status"),
        (no_sig.to_string(), "signature: missing"),
    ] {
        let r = fcc(&["result", "verify", "-", "--chain-id", "14"], &input);
        assert_eq!(r.code, 2, "{input}");
        assert!(r.stderr.contains(needle), "{:?} lacks {needle:?}", r.stderr);
    }
    let r = fcc(&["result", "verify", "-", "--chain-id", "14", "--tee", "0x12"], &j.to_string());
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--tee"));
}

#[test]
fn object_add_files_an_object_under_the_sha256_coreutils_computes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let objects = dir.path().join("objects");
    let r = fcc(&["object", "add", file.to_str().unwrap(), "--dir", objects.to_str().unwrap()], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = Command::new("sha256sum").arg(&file).output().expect("sha256sum");
    let want = String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string();
    let v = r.json();
    assert_eq!(v["object"], format!("0x{want}"));
    assert_eq!(v["size"], data.len());
    assert_eq!(std::fs::read(objects.join(&want)).unwrap(), data, "the copy is the object");
    // Only the object: no temporary file left behind.
    assert_eq!(std::fs::read_dir(&objects).unwrap().count(), 1);
    let missing = fcc(&["object", "add", "/nonexistent/file", "--dir", objects.to_str().unwrap()], "");
    assert_eq!(missing.code, 2);
}
