//! `fcc instruction hash|verify`.

use anyhow::{Context, Result, bail};
use fcc_core::admission::{self, Rule};
use fcc_core::ecdsa::SIGNATURE_LEN;
use fcc_core::error::Error;
use fcc_core::hash::{eip191_hash, keccak256, keccak256_concat};
use fcc_core::instruction::{InstructionData, PREFIX_TEE_INSTRUCTION, payload_hash};
use fcc_core::limits::MAX_COSIGNERS;
use fcc_core::policy::{Address, SigningPolicy};
use fcc_core::verify::{Candidates, Verifier, Vote, tally};
use fcc_flare_json::Data;
use serde_json::{Map, Value, json};

use crate::input::{Obj, checksum_address, flare_json, hex0x, normalise, parse_fixed, parse_json, read_input};
use crate::outcome::Outcome;

const AVM: &str = "additionalVariableMessage";

/// Reads an instruction `Data` object called `path` (go-flare-common's JSON,
/// `fcc_flare_json::Data`, with the CLI's shorthands: operation names and integer strings);
/// returns the fixed part and the additional variable message if the object has one.
fn parse_data(v: &Value, path: &str) -> Result<(InstructionData, Option<Vec<u8>>)> {
    let mut v = v.clone();
    normalise(
        &mut v,
        path,
        &["opType", "opCommand"],
        &[("timestamp", u64::MAX), ("rewardEpochId", u64::from(u32::MAX)), ("cosignersThreshold", u64::MAX)],
    )?;
    let has_avm = v.get(AVM).is_some_and(|a| !a.is_null());
    let data: Data = flare_json(v, path)?;
    if data.cosigners.len() > MAX_COSIGNERS {
        let at = if path.is_empty() { "cosigners".to_string() } else { format!("{path}.cosigners") };
        bail!("{at}: {} cosigners exceed the bound of {MAX_COSIGNERS}", data.cosigners.len());
    }
    Ok((data.fixed(), has_avm.then(|| data.additional_variable_message.to_vec())))
}

/// `instruction hash`.
pub fn hash(path: &str, chain_id: u64) -> Result<Outcome> {
    let v = parse_json(&read_input(path)?, "instruction")?;
    let root = Obj::new(&v, "")?;
    // Accept the bare `Data` object or Flare's `{data, signature}` wrapper.
    let (d, avm) = if root.has("data") {
        root.only(&["data", "signature", "votes"])?;
        parse_data(root.req("data")?, "data")?
    } else {
        parse_data(&v, "")?
    };
    let avm = avm.unwrap_or_default();
    let encoding = d.abi_encode();
    let hash_fixed = keccak256(&encoding);
    let data_hash = keccak256_concat(&[&hash_fixed, &keccak256(&avm)]);
    let hash_for_signing = payload_hash(&PREFIX_TEE_INSTRUCTION, chain_id, &data_hash);
    let digest = eip191_hash(&hash_for_signing);
    debug_assert_eq!(digest, d.signing_digest(chain_id, &avm));
    Ok(Outcome::Ok(json!({
        "chainId": chain_id,
        "encoding": hex0x(&encoding),
        "hashFixed": hex0x(&hash_fixed),
        "dataHash": hex0x(&data_hash),
        "hashForSigning": hex0x(&hash_for_signing),
        "digest": hex0x(&digest),
    })))
}

fn signature(v: &Value, what: &str) -> Result<[u8; SIGNATURE_LEN]> {
    match v.as_str() {
        Some(s) => parse_fixed::<SIGNATURE_LEN>(s, what),
        None => bail!("{what}: expected a hex string"),
    }
}

/// Reads the verify input: `{data, votes: [...]}` or Flare's single-signature `{data, signature}`.
fn parse_verify_input(v: &Value) -> Result<(InstructionData, Vec<Vote>)> {
    let root = Obj::new(v, "")?;
    root.only(&["data", "votes", "signature"])?;
    let (d, avm) = parse_data(root.req("data")?, "data")?;
    let votes = match (root.has("votes"), root.has("signature")) {
        (true, true) => bail!("input: give either `votes` or `signature`, not both"),
        (false, false) => bail!("input: missing `votes` (or `signature` for a single vote)"),
        (false, true) => vec![Vote {
            signature: signature(root.req("signature")?, "signature")?,
            additional_variable_message: avm.unwrap_or_default(),
            hint: None,
        }],
        (true, false) => {
            if avm.is_some() {
                bail!("data.{AVM}: not allowed with `votes` (each vote carries its own)");
            }
            let list = root.array_or_empty("votes")?;
            let mut votes = Vec::with_capacity(list.len());
            for (i, item) in list.iter().enumerate() {
                let what = format!("votes[{i}]");
                let vote = if item.is_string() {
                    Vote { signature: signature(item, &what)?, additional_variable_message: Vec::new(), hint: None }
                } else {
                    let vo = Obj::new(item, &what)?;
                    vo.only(&["signature", AVM])?;
                    Vote {
                        signature: signature(vo.req("signature")?, &vo.name("signature"))?,
                        additional_variable_message: vo.bytes_or_empty(AVM)?,
                        hint: None,
                    }
                };
                votes.push(vote);
            }
            votes
        }
    };
    Ok((d, votes))
}

fn refused(mut report: Map<String, Value>, e: Error) -> Outcome {
    report.insert("accepted".into(), json!(false));
    report.insert("reason".into(), json!(e.to_string()));
    report.insert("errorCode".into(), json!(e.code()));
    let why = format!("{e} (error code {})", e.code());
    Outcome::Refused(Value::Object(order(report)), why)
}

/// Puts the verdict first.
fn order(m: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for k in ["accepted", "reason", "errorCode"] {
        if let Some(v) = m.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    for (k, v) in m {
        if !out.contains_key(&k) {
            out.insert(k, v);
        }
    }
    out
}

fn signer_json(a: &Address, policy: &SigningPolicy, cosigners: &[Address]) -> Value {
    let voter = policy.voter_index(a);
    json!({
        "address": checksum_address(a),
        "voterIndex": voter,
        "weight": voter.map_or(0, |i| policy.voters()[usize::from(i)].weight),
        "cosigner": cosigners.contains(a),
    })
}

/// `instruction verify`: the guest's authorisation — signers, tally and the admission rule of
/// the instruction's operation (`fcc_core::admission`, the one the guest and the proxy apply:
/// `F_FDC2` takes its request's `thresholdBIPS`) — without the TEE-specific checks (addressee
/// and replay). `bips`, if given, overrides the operation's threshold.
pub fn verify(path: &str, chain_id: u64, policy_path: &str, bips: Option<u16>) -> Result<Outcome> {
    let v = parse_json(&read_input(path)?, "instruction")?;
    let (d, votes) = parse_verify_input(&v)?;
    let policy = crate::policy::load(policy_path).context("--policy")?;
    let hash_fixed = d.hash_fixed();

    let mut report = Map::new();
    report.insert("chainId".into(), json!(chain_id));
    report.insert("hashFixed".into(), json!(hex0x(&hash_fixed)));
    report.insert("rewardEpochId".into(), json!(d.reward_epoch_id));
    report.insert("bips".into(), Value::Null);
    report.insert("totalWeight".into(), json!(policy.total_weight()));
    report.insert("threshold".into(), Value::Null);
    report.insert("cosignersThreshold".into(), json!(d.cosigners_threshold));
    report.insert("signers".into(), json!([]));
    report.insert("weight".into(), json!(0));
    report.insert("cosigners".into(), json!(0));

    if let Err(e) = d.validate() {
        return Ok(refused(report, e));
    }
    let rule = match bips {
        Some(threshold_bips) => Rule { threshold_bips, cosigners: d.cosigners_threshold },
        None => match admission::rule(&fcc_extensions::registry().map_err(|e| anyhow::anyhow!("extensions: {e}"))?, &d)
        {
            Ok(rule) => rule,
            Err(e) => return Ok(refused(report, e)),
        },
    };
    let requirement = rule.requirement(policy.total_weight());
    report.insert("bips".into(), json!(requirement.threshold_bips));
    report.insert("threshold".into(), json!(requirement.weight_above));
    if policy.reward_epoch_id() != d.reward_epoch_id {
        let e = Error::PolicyEpochUnknown { active: policy.reward_epoch_id(), got: d.reward_epoch_id };
        return Ok(refused(report, e));
    }
    let candidates = Candidates { policy: &policy, cosigners: &d.cosigners };
    // No hints are given, so every vote is recovered (as `ecrecover` does) and the batch secret
    // is never used; it need not be secret here.
    let mut verifier = Verifier::new([0x5a; 32]);
    let signers = match verifier
        .signers(&votes, candidates, |avm| InstructionData::signing_digest_from(&hash_fixed, chain_id, avm))
    {
        Ok(s) => s,
        Err(e) => return Ok(refused(report, e)),
    };
    report.insert(
        "signers".into(),
        Value::Array(signers.iter().map(|a| signer_json(a, &policy, &d.cosigners)).collect()),
    );
    let t = match tally(&signers, candidates) {
        Ok(t) => t,
        Err(e) => return Ok(refused(report, e)),
    };
    report.insert("weight".into(), json!(t.weight));
    report.insert("cosigners".into(), json!(t.cosigners));
    if let Err(e) = requirement.check(t.weight, u64::from(t.cosigners)) {
        return Ok(refused(report, e));
    }
    report.insert("accepted".into(), json!(true));
    Ok(Outcome::Ok(Value::Object(order(report))))
}
