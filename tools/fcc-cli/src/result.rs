//! `fcc result verify`.

use anyhow::{Result, bail};
use fcc_core::ecdsa::SIGNATURE_LEN;
use fcc_core::result::{ActionResult, SignedResult, SubmissionTag};
use serde_json::{Value, json};

use crate::Outcome;
use crate::input::{Obj, checksum_address, hex0x, parse_fixed, parse_json, read_input};

fn submission_tag(s: &str, what: &str) -> Result<SubmissionTag> {
    Ok(match s {
        "threshold" => SubmissionTag::Threshold,
        "end" => SubmissionTag::End,
        "submit" => SubmissionTag::Submit,
        other => bail!("{what}: {other:?} is not a submission tag (threshold, end or submit)"),
    })
}

/// Reads Flare's `ActionResponse` shape: `{result: {...}, signature}`.
fn parse(v: &Value) -> Result<SignedResult> {
    let root = Obj::new(v, "")?;
    root.only(&["result", "signature", "proxySignature"])?;
    let r = root.obj("result")?;
    r.only(&[
        "id",
        "submissionTag",
        "status",
        "log",
        "opType",
        "opCommand",
        "additionalResultStatus",
        "version",
        "data",
    ])?;
    let status = match r.req("status")? {
        Value::Bool(b) => u8::from(*b),
        other => crate::input::value_uint(other, &r.name("status"), u64::from(u8::MAX))? as u8,
    };
    let zero_name = [0u8; 32];
    let result = ActionResult {
        id: r.fixed::<32>("id")?,
        submission_tag: submission_tag(r.str("submissionTag")?, &r.name("submissionTag"))?,
        status,
        log: r.str_or_empty("log")?.to_string(),
        op_type: if r.has("opType") { r.op_name("opType")? } else { zero_name },
        op_command: if r.has("opCommand") { r.op_name("opCommand")? } else { zero_name },
        additional_result_status: r.bytes_or_empty("additionalResultStatus")?,
        version: r.str_or_empty("version")?.to_string(),
        data: r.bytes("data")?,
    };
    let signature = parse_fixed::<SIGNATURE_LEN>(root.str("signature")?, "signature")?;
    Ok(SignedResult { result, signature })
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
