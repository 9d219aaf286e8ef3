//! Posting votes to a proxy over HTTP as Flare data providers do (`POST /instruction`, one
//! signature per request), and checking what comes back: each receipt must be for the
//! instruction that was signed, carry the signer's additional variable message hash, and be
//! signed by the proxy's key (docs/PROTOCOL.md §15; the formats are `fcc-flare-json`'s). Progress is read from
//! `GET /action/status/{rewardEpochId}/{instructionId}`.

use std::time::Duration;

use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::policy::Address;
use fcc_flare_json::Instruction;
pub use fcc_flare_json::{Receipt, SignedReceipt};
use serde::Deserialize;
use serde_json::Value;

use crate::Provider;

/// Most bytes of a proxy answer this client reads (receipts and status are small).
const MAX_ANSWER: usize = 64 * 1024;

/// Why posting or checking a vote failed.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The request did not complete (connection refused, timeout).
    #[error("HTTP {url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The proxy refused the request: status and its JSON error.
    #[error("{url} answered {status}: {body}")]
    Refused {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The answer (the proxy's `{"error", "message"}`).
        body: String,
    },
    /// The answer is not the expected JSON.
    #[error("{url}: malformed answer: {reason}")]
    Malformed {
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The receipt does not match the vote or its signature is not the proxy's.
    #[error("bad receipt from provider {provider}'s vote: {reason}")]
    BadReceipt {
        /// Index of the provider.
        provider: usize,
        /// What was wrong.
        reason: String,
    },
}

impl PostError {
    /// Whether the same request may succeed later: the proxy was unreachable, rate-limited the
    /// client, was unavailable (no TEE connected yet, a full queue, its database) or does not
    /// know the cited epoch's policy yet (its chain monitor may lag).
    pub fn retryable(&self) -> bool {
        match self {
            PostError::Http { .. } => true,
            PostError::Refused { status, body, .. } => {
                *status == 429 || *status == 503 || (*status == 400 && body.contains("unknown_epoch"))
            }
            PostError::Malformed { .. } | PostError::BadReceipt { .. } => false,
        }
    }
}

/// Flare's `POST /instruction` body (go-flare-common `instruction.Instruction`) for `d` signed by
/// `p` for `chain_id`, with an empty additional variable message.
pub fn vote_json(p: &Provider, d: &InstructionData, chain_id: u64) -> Value {
    vote_json_with(p, d, &[], chain_id)
}

/// The same with `p`'s additional variable message `avm` (part of what it signs).
pub fn vote_json_with(p: &Provider, d: &InstructionData, avm: &[u8], chain_id: u64) -> Value {
    let signature = p.key.sign_digest(&d.signing_digest(chain_id, avm));
    serde_json::to_value(Instruction::new(d, avm, &signature)).expect("an Instruction serialises")
}

/// `GET /action/status` answer (the fields this client reports).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    /// `collecting`, `queued`, `delivered` or `done`.
    pub state: String,
    /// Accepted votes.
    pub votes: u64,
    /// Voters' weight so far.
    pub weight: u32,
    /// The weight must exceed this.
    pub threshold: u32,
}

/// Checks a receipt for provider `index`'s vote `signature` on `d` (empty additional variable
/// message): the instruction hash, the echoed signature, the message hash and the proxy's
/// signature for `chain_id`. Returns the address that signed the receipt; with `proxy` given it
/// must be that one.
pub fn check_receipt(
    index: usize,
    d: &InstructionData,
    signature: &[u8],
    r: &SignedReceipt,
    chain_id: u64,
    proxy: Option<Address>,
) -> Result<Address, PostError> {
    check_receipt_with(index, d, &[], signature, r, chain_id, proxy)
}

/// [`check_receipt`] for a vote with the additional variable message `avm`.
pub fn check_receipt_with(
    index: usize,
    d: &InstructionData,
    avm: &[u8],
    signature: &[u8],
    r: &SignedReceipt,
    chain_id: u64,
    proxy: Option<Address>,
) -> Result<Address, PostError> {
    let bad = |reason: String| PostError::BadReceipt { provider: index, reason };
    if r.receipt.instruction_hash.0 != d.hash_fixed() {
        return Err(bad(format!("instructionHash {} is not the vote's hashFixed", r.receipt.instruction_hash)));
    }
    if r.receipt.additional_variable_message_hash.0 != keccak256(avm) {
        return Err(bad("additionalVariableMessageHash is not keccak of the vote's message".into()));
    }
    if r.receipt.signature.as_ref() != signature {
        return Err(bad("the receipt echoes another signature than the vote's".into()));
    }
    let signer = r.signer(chain_id).map_err(|e| bad(format!("signature: {e}")))?;
    if let Some(expected) = proxy
        && signer != expected
    {
        return Err(bad(format!("signed by 0x{}, not the proxy 0x{}", hex::encode(signer), hex::encode(expected))));
    }
    Ok(signer)
}

/// A proxy's public API.
#[derive(Debug, Clone)]
pub struct ProxyClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    chain_id: u64,
    retry_for: Duration,
}

/// One accepted vote.
#[derive(Debug, Clone)]
pub struct Posted {
    /// Index of the provider in the policy.
    pub provider: usize,
    /// The checked receipt.
    pub receipt: SignedReceipt,
    /// The instruction's progress after the vote.
    pub status: Status,
}

impl ProxyClient {
    /// A client of the proxy at `base` (`http://host:port`), signing for `chain_id`; requests
    /// time out after `timeout`.
    pub fn new(base: &str, chain_id: u64, timeout: Duration) -> Result<Self, PostError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|source| PostError::Http { url: base.into(), source })?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), chain_id, retry_for: Duration::ZERO })
    }

    /// Retries a vote refused for a [retryable](PostError::retryable) reason for up to `d`
    /// (backing off from 100 ms to 2 s). A vote is idempotent: the proxy answers a repeated
    /// vote with its first receipt.
    pub fn with_retry(mut self, d: Duration) -> Self {
        self.retry_for = d;
        self
    }

    /// The chain id the client signs for (the provider's own).
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub(crate) async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        url: String,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, PostError> {
        let response = response.map_err(|source| PostError::Http { url: url.clone(), source })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|source| PostError::Http { url: url.clone(), source })?;
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER)]).into_owned();
        if !status.is_success() {
            return Err(PostError::Refused { url, status: status.as_u16(), body: text });
        }
        serde_json::from_slice(&bytes).map_err(|e| PostError::Malformed { url, reason: e.to_string() })
    }

    /// `GET /info` (with the TEE's answer to `challenge` when given), retried like votes (a
    /// proxy answers 503 until a TEE has connected).
    pub(crate) async fn info<T: serde::de::DeserializeOwned>(
        &self,
        challenge: Option<&[u8; 32]>,
    ) -> Result<T, PostError> {
        let url = match challenge {
            Some(c) => format!("{}/info?challenge=0x{}", self.base, hex::encode(c)),
            None => format!("{}/info", self.base),
        };
        let deadline = std::time::Instant::now() + self.retry_for;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.answer::<T>(url.clone(), self.http.get(&url).send().await).await {
                Err(e) if e.retryable() && std::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// The proxy's receipt-signing address, from `GET /info` (needs a connected TEE).
    pub async fn proxy_address(&self) -> Result<Address, PostError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Info {
            proxy_address: alloy_primitives::Address,
        }
        Ok(self.info::<Info>(None).await?.proxy_address.0.0)
    }

    /// The TEE id the proxy serves, from `GET /info`.
    pub async fn tee_id(&self) -> Result<Address, PostError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Info {
            tee_id: alloy_primitives::Address,
        }
        Ok(self.info::<Info>(None).await?.tee_id.0.0)
    }

    /// `POST /instruction` with provider `index`'s vote on `d`; the receipt is checked.
    pub async fn post_vote(
        &self,
        index: usize,
        p: &Provider,
        d: &InstructionData,
        proxy: Option<Address>,
    ) -> Result<SignedReceipt, PostError> {
        self.post_vote_with(index, p, d, &[], proxy).await
    }

    /// [`ProxyClient::post_vote`] with `p`'s additional variable message `avm` (a restore's
    /// encrypted key split).
    pub async fn post_vote_with(
        &self,
        index: usize,
        p: &Provider,
        d: &InstructionData,
        avm: &[u8],
        proxy: Option<Address>,
    ) -> Result<SignedReceipt, PostError> {
        let url = format!("{}/instruction", self.base);
        let body = vote_json_with(p, d, avm, self.chain_id);
        let signature = p.key.sign_digest(&d.signing_digest(self.chain_id, avm));
        let deadline = std::time::Instant::now() + self.retry_for;
        let mut pause = Duration::from_millis(100);
        loop {
            let sent = self.http.post(&url).json(&body).send().await;
            match self.answer::<SignedReceipt>(url.clone(), sent).await {
                Ok(r) => {
                    check_receipt_with(index, d, avm, &signature, &r, self.chain_id, proxy)?;
                    return Ok(r);
                }
                Err(e) if e.retryable() && std::time::Instant::now() + pause < deadline => {
                    tracing::debug!(provider = index, "retrying a vote: {e}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `GET /action/status` of `d`.
    pub async fn status(&self, d: &InstructionData) -> Result<Status, PostError> {
        let url = format!("{}/action/status/{}/0x{}", self.base, d.reward_epoch_id, hex::encode(d.instruction_id));
        self.answer(url.clone(), self.http.get(&url).send().await).await
    }

    /// Posts the votes of the providers at `signers` (indices into `ps`, the policy's order) one
    /// by one, checking each receipt, and calls `progress` after each with the instruction's
    /// status. Stops at the first failure. Receipt sequences must grow with each new vote.
    pub async fn sign_all(
        &self,
        ps: &[Provider],
        signers: &[usize],
        d: &InstructionData,
        proxy: Option<Address>,
        progress: impl FnMut(&Posted),
    ) -> Result<Vec<Posted>, PostError> {
        self.sign_all_with(ps, signers, d, proxy, |_| Vec::new(), progress).await
    }

    /// [`ProxyClient::sign_all`] with provider `i`'s additional variable message `avm(i)`.
    pub async fn sign_all_with(
        &self,
        ps: &[Provider],
        signers: &[usize],
        d: &InstructionData,
        proxy: Option<Address>,
        avm: impl Fn(usize) -> Vec<u8>,
        mut progress: impl FnMut(&Posted),
    ) -> Result<Vec<Posted>, PostError> {
        let mut out: Vec<Posted> = Vec::with_capacity(signers.len());
        for &i in signers {
            let p = ps.get(i).ok_or_else(|| PostError::BadReceipt {
                provider: i,
                reason: format!("no provider {i} (there are {})", ps.len()),
            })?;
            let receipt = self.post_vote_with(i, p, d, &avm(i), proxy).await?;
            if let Some(last) = out.last()
                && receipt.receipt.sequence <= last.receipt.receipt.sequence
                && out.iter().all(|o| o.provider != i)
            {
                return Err(PostError::BadReceipt {
                    provider: i,
                    reason: format!(
                        "sequence {} does not follow the previous vote's {}",
                        receipt.receipt.sequence, last.receipt.receipt.sequence
                    ),
                });
            }
            let status = self.status(d).await?;
            let posted = Posted { provider: i, receipt, status };
            progress(&posted);
            out.push(posted);
        }
        Ok(out)
    }
}
