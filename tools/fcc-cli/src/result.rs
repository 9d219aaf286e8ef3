//! `fcc result verify`.

use anyhow::Result;
use fcc_core::result::SignedResult;
use fcc_flare_json::ActionResponse;
use serde_json::{Value, json};

use crate::input::{Obj, checksum_address, flare_json, hex0x, normalise, parse_fixed, parse_json, read_input};
use crate::outcome::Outcome;

/// Reads Flare's `ActionResponse` shape, `{result: {...}, signature}` (`fcc_flare_json`), with
/// the CLI's shorthands: operation names, a boolean or string status, and missing op fields as
/// zero.
fn parse(v: &Value) -> Result<SignedResult> {
    let mut v = v.clone();
    let root = Obj::new(&v, "")?;
    let result = root.obj("result")?;
    let status = match result.get("status") {
        Some(Value::Bool(b)) => Some(Value::from(u8::from(*b))),
        Some(_) => Some(Value::from(result.uint("status", u64::from(u8::MAX))?)),
        None => None,
    };
    let missing_ops: Vec<&str> = ["opType", "opCommand"].into_iter().filter(|k| !result.has(k)).collect();
    let r = v.get_mut("result").expect("checked above");
    normalise(r, "result", &["opType", "opCommand"], &[])?;
    let map = r.as_object_mut().expect("checked above");
    if let Some(status) = status {
        map.insert("status".into(), status);
    }
    for key in missing_ops {
        map.insert(key.into(), Value::String(hex0x(&[0u8; 32])));
    }
    let response: ActionResponse = flare_json(v, "")?;
    response.signed_result().map_err(|e| anyhow::anyhow!("signature: {e}"))
}

/// `result verify`.
pub fn verify(path: &str, chain_id: u64, tee: Option<&str>) -> Result<Outcome> {
    let v = parse_json(&read_input(path)?, "result")?;
    let signed = parse(&v)?;
    let expected = tee.map(|t| parse_fixed::<20>(t, "--tee")).transpose()?;
    let r = &signed.result;
    let mut report = serde_json::Map::new();
    report.insert("chainId".into(), json!(chain_id));
    report.insert("resultHash".into(), json!(hex0x(&r.hash())));
    report.insert("digest".into(), json!(hex0x(&r.signing_digest(chain_id))));
    if let Some(e) = expected {
        report.insert("tee".into(), json!(checksum_address(&e)));
    }
    match signed.signer(chain_id) {
        Ok(signer) => {
            report.insert("signer".into(), json!(checksum_address(&signer)));
            match expected {
                Some(e) if e != signer => {
                    report.insert("matches".into(), json!(false));
                    let why = format!(
                        "result was signed by {}, not by the expected TEE {}",
                        checksum_address(&signer),
                        checksum_address(&e)
                    );
                    Ok(Outcome::Refused(Value::Object(report), why))
                }
                Some(_) => {
                    report.insert("matches".into(), json!(true));
                    Ok(Outcome::Ok(Value::Object(report)))
                }
                None => Ok(Outcome::Ok(Value::Object(report))),
            }
        }
        Err(e) => {
            report.insert("signer".into(), Value::Null);
            if expected.is_some() {
                report.insert("matches".into(), json!(false));
            }
            report.insert("reason".into(), json!(e.to_string()));
            report.insert("errorCode".into(), json!(e.code()));
            let why = format!("no signer can be recovered: {e} (error code {})", e.code());
            Ok(Outcome::Refused(Value::Object(report), why))
        }
    }
}
