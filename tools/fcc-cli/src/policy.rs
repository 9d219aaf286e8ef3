//! `fcc policy decode|hash`.

use anyhow::{Result, bail};
use clap::ValueEnum;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy};
use serde_json::{Map, Value, json};

use crate::input::{checksum_address, hex0x, parse_policy, read_input};
use crate::outcome::Outcome;

/// A policy hash scheme.
#[derive(Clone, Copy, ValueEnum)]
pub enum Scheme {
    /// The deployed Relay's chunked Keccak.
    Legacy,
    /// keccak(uint256 chainId ‖ policy bytes).
    ChainBound,
}

/// Reads and validates the policy at `path`.
pub fn load(path: &str) -> Result<SigningPolicy> {
    let what = if path == "-" { "policy (stdin)".to_string() } else { format!("policy {path}") };
    parse_policy(&read_input(path)?, &what)
}

/// The policy as JSON (without hashes).
pub fn to_json(p: &SigningPolicy) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("rewardEpochId".into(), json!(p.reward_epoch_id()));
    m.insert("startVotingRoundId".into(), json!(p.start_voting_round_id()));
    m.insert("threshold".into(), json!(p.threshold()));
    m.insert("seed".into(), json!(hex0x(p.seed())));
    let voters: Vec<Value> =
        p.voters().iter().map(|v| json!({ "address": checksum_address(&v.address), "weight": v.weight })).collect();
    m.insert("voters".into(), Value::Array(voters));
    m.insert("totalWeight".into(), json!(p.total_weight()));
    m
}

/// `policy decode`.
pub fn decode(path: &str, chain_id: Option<u64>) -> Result<Outcome> {
    let p = load(path)?;
    let mut m = to_json(&p);
    m.insert("hashLegacy".into(), json!(hex0x(&p.hash(PolicyHashScheme::Legacy))));
    if let Some(chain_id) = chain_id {
        m.insert("chainId".into(), json!(chain_id));
        m.insert("hashChainBound".into(), json!(hex0x(&p.hash(PolicyHashScheme::ChainBound { chain_id }))));
    }
    Ok(Outcome::Ok(Value::Object(m)))
}

/// `policy hash`.
pub fn hash(path: &str, scheme: Option<Scheme>, chain_id: Option<u64>) -> Result<Outcome> {
    let scheme = match (scheme, chain_id) {
        (Some(Scheme::Legacy), _) | (None, None) => PolicyHashScheme::Legacy,
        (Some(Scheme::ChainBound), Some(chain_id)) | (None, Some(chain_id)) => {
            PolicyHashScheme::ChainBound { chain_id }
        }
        (Some(Scheme::ChainBound), None) => bail!("--scheme chain-bound needs --chain-id"),
    };
    let p = load(path)?;
    let h = hex0x(&p.hash(scheme));
    Ok(Outcome::Ok(match scheme {
        PolicyHashScheme::Legacy => json!({ "scheme": "legacy", "rewardEpochId": p.reward_epoch_id(), "hash": h }),
        PolicyHashScheme::ChainBound { chain_id } => {
            json!({ "scheme": "chain-bound", "chainId": chain_id, "rewardEpochId": p.reward_epoch_id(), "hash": h })
        }
    }))
}
