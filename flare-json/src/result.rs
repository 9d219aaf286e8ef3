//! Results as a proxy serves them (`GET /action/result/{id}`): Flare's `ActionResult` JSON with
//! the TEE's signature, and the proxy's signature over the data it served. The result's hash and
//! the TEE's signing digest are fcc-core's (`fcc_core::result`); this is only their JSON.

use alloy_primitives::{B256, Bytes};
use fcc_core::result::{ActionResult, SignedResult, SubmissionTag};
use serde::{Deserialize, Serialize};

/// Flare's `ActionResult`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActionResultJson {
    /// The instruction (or direct action) id.
    pub id: B256,
    /// `threshold`, `end` or `submit`.
    pub submission_tag: Tag,
    /// 1 success, 0 failure.
    pub status: u8,
    /// Why it failed (empty on success).
    #[serde(default)]
    pub log: String,
    /// bytes32.
    pub op_type: B256,
    /// bytes32.
    pub op_command: B256,
    /// On failure: the error code (u16, big-endian).
    #[serde(default)]
    pub additional_result_status: Bytes,
    /// The code version.
    #[serde(default)]
    pub version: String,
    /// The operation's result.
    pub data: Bytes,
}

/// A submission tag as JSON spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tag {
    /// `threshold`.
    Threshold,
    /// `end`.
    End,
    /// `submit`.
    Submit,
    /// `refused`: not a result (docs/PROTOCOL.md §6).
    Refused,
    /// `key-backup`: a `KeyBackupRegistry` heartbeat (docs/PROTOCOL.md §8.4).
    #[serde(rename = "key-backup")]
    KeyBackup,
}

impl From<SubmissionTag> for Tag {
    fn from(t: SubmissionTag) -> Self {
        match t {
            SubmissionTag::Threshold => Tag::Threshold,
            SubmissionTag::End => Tag::End,
            SubmissionTag::Submit => Tag::Submit,
            SubmissionTag::Refused => Tag::Refused,
            SubmissionTag::KeyBackup => Tag::KeyBackup,
        }
    }
}

impl From<Tag> for SubmissionTag {
    fn from(t: Tag) -> Self {
        match t {
            Tag::Threshold => SubmissionTag::Threshold,
            Tag::End => SubmissionTag::End,
            Tag::Submit => SubmissionTag::Submit,
            Tag::Refused => SubmissionTag::Refused,
            Tag::KeyBackup => SubmissionTag::KeyBackup,
        }
    }
}

impl From<&ActionResult> for ActionResultJson {
    fn from(a: &ActionResult) -> Self {
        Self {
            id: B256::from(a.id),
            submission_tag: a.submission_tag.into(),
            status: a.status,
            log: a.log.clone(),
            op_type: B256::from(a.op_type),
            op_command: B256::from(a.op_command),
            additional_result_status: Bytes::copy_from_slice(&a.additional_result_status),
            version: a.version.clone(),
            data: Bytes::copy_from_slice(&a.data),
        }
    }
}

impl From<&ActionResultJson> for ActionResult {
    fn from(j: &ActionResultJson) -> Self {
        Self {
            id: j.id.0,
            submission_tag: j.submission_tag.into(),
            status: j.status,
            log: j.log.clone(),
            op_type: j.op_type.0,
            op_command: j.op_command.0,
            additional_result_status: j.additional_result_status.to_vec(),
            version: j.version.clone(),
            data: j.data.to_vec(),
        }
    }
}

/// tee-proxy's `ActionResponse`: the result, the TEE's signature over it and, when a proxy
/// served it, the proxy's signature over `EIP-191(keccak(data))`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActionResponse {
    /// The result.
    pub result: ActionResultJson,
    /// The TEE's 65-byte signature.
    pub signature: Bytes,
    /// The serving proxy's 65-byte signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_signature: Option<Bytes>,
}

/// Why a response is not a signed result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the TEE signature is {0} bytes, not 65")]
pub struct SignatureLength(pub usize);

impl ActionResponse {
    /// `r` as a proxy serves it, with its `proxy_signature` if any.
    pub fn new(r: &SignedResult, proxy_signature: Option<&[u8; 65]>) -> Self {
        Self {
            result: (&r.result).into(),
            signature: Bytes::copy_from_slice(&r.signature),
            proxy_signature: proxy_signature.map(|s| Bytes::copy_from_slice(s)),
        }
    }

    /// The signed result it carries.
    pub fn signed_result(&self) -> Result<SignedResult, SignatureLength> {
        let signature = self.signature.as_ref().try_into().map_err(|_| SignatureLength(self.signature.len()))?;
        Ok(SignedResult { result: (&self.result).into(), signature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fcc_core::op;

    #[test]
    fn a_result_round_trips_through_flares_json() {
        let r = SignedResult {
            result: ActionResult {
                id: [1; 32],
                submission_tag: SubmissionTag::Threshold,
                status: 0,
                log: "refused".into(),
                op_type: op::F_FDC2,
                op_command: op::PROVE,
                additional_result_status: vec![1, 51],
                version: "fcc-core/0.1.0".into(),
                data: vec![],
            },
            signature: [7; 65],
        };
        let json = serde_json::to_value(ActionResponse::new(&r, None)).unwrap();
        assert_eq!(json["result"]["submissionTag"], "threshold");
        assert_eq!(json["result"]["additionalResultStatus"], "0x0133");
        assert!(json.get("proxySignature").is_none());
        let back: ActionResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back.signed_result().unwrap(), r);
        let mut bad = serde_json::to_value(ActionResponse::new(&r, Some(&[8; 65]))).unwrap();
        bad["result"]["submissionTag"] = "later".into();
        assert!(serde_json::from_value::<ActionResponse>(bad).is_err());
    }
}
