//! The status page: `GET /status` is one HTML file and `GET /status/status.js` its script (no
//! build step); the script reads `GET /status/data` (below) and the latency histograms from
//! `GET /metrics` — the same numbers Prometheus scrapes, so the page and the dashboards cannot
//! disagree. All three are served where `/metrics` is: the API's listener, or the metrics
//! listener when there is one (an operator who keeps metrics private keeps this page private
//! too). Nothing here is secret: identities, verdicts, counts and public results' ids.

use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fcc_core::action::ActionKind;
use fcc_core::op;
use serde_json::{Value, json};

use crate::attestation::Outcome;
use crate::state::Shared;
use crate::store::{RecentAction, StoreResult};

/// The page.
pub const PAGE: &str = include_str!("status.html");
/// Its script.
pub const SCRIPT: &str = include_str!("status.js");
/// Actions the page lists, newest first.
pub const RECENT: usize = 20;
/// `/status/data` reads the database at most this often; askers in between get the last answer.
pub const DATA_TTL: Duration = Duration::from_secs(1);

/// No script but ours, no connections but to this listener, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn static_response(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub(super) async fn page() -> Response {
    static_response("text/html; charset=utf-8", PAGE)
}

pub(super) async fn script() -> Response {
    static_response("text/javascript; charset=utf-8", SCRIPT)
}

/// What `/status/data` answers, read now.
pub(super) async fn read(shared: &Shared) -> StoreResult<Value> {
    let sessions = &shared.sessions;
    let tee = sessions.tee().await.map(|t| {
        json!({
            "teeId": alloy_primitives::Address::from(t.tee_id),
            "platform": format!("{:?}", t.platform),
            "codeVersion": t.version,
            "chainId": t.chain_id,
            "initialEpoch": t.initial_policy.map(|(e, _)| e),
        })
    });
    let attestation = match sessions.attestation_outcome().await {
        _ if !sessions.checks_attestation() => json!({ "checked": false }),
        Some(Outcome::Accepted(id, verdict)) => json!({
            "checked": true,
            "tee": alloy_primitives::Address::from(id),
            "accepted": true,
            "platform": verdict.platform,
            "simulated": verdict.simulated,
            "measurement": verdict.measurement,
            "measurementHex": verdict.measurement_hex,
            "tcb": verdict.tcb,
            "hardware": verdict.hardware,
        }),
        Some(Outcome::Refused(id, reason)) => json!({
            "checked": true,
            "tee": alloy_primitives::Address::from(id),
            "accepted": false,
            "reason": reason,
        }),
        None => json!({ "checked": true, "accepted": null }),
    };
    let counts = shared.store.counts().await?;
    let recent = shared.store.recent_actions(RECENT).await?;
    let chain_block = shared.metrics.chain_block.get();
    Ok(json!({
        "proxy": {
            "version": env!("CARGO_PKG_VERSION"),
            "address": alloy_primitives::Address::from(shared.proxy_address),
            "chainId": shared.config.chain_id,
            "instance": shared.instance,
        },
        "tee": tee,
        "guestsConnected": sessions.connected(),
        "attestation": attestation,
        "policy": {
            "trustedEpoch": sessions.trusted_epoch().await,
            // The latest policy this proxy knows: read from the chain's relay when it follows
            // the chain, else the trust root's and the updates it was given.
            "latestEpoch": shared.store.latest_epoch().await?,
            "source": if shared.config.chain.is_some() { "chain" } else { "trust root" },
            "chainBlock": (shared.config.chain.is_some() && chain_block > 0).then_some(chain_block),
        },
        "queue": { "open": counts.open, "pending": counts.pending_actions, "results": counts.results },
        "recent": recent.iter().map(recent_json).collect::<Vec<_>>(),
        "now": crate::state::now_ms(),
    }))
}

fn recent_json(a: &RecentAction) -> Value {
    let state = match (a.done, a.status, a.deliveries) {
        (true, Some(s), _) if s == fcc_core::result::status::SUCCESS => "done",
        (true, _, _) => "refused",
        (false, _, 0) => "queued",
        (false, _, _) => "delivered",
    };
    json!({
        "id": format!("0x{}", hex::encode(a.id)),
        "kind": match a.kind { ActionKind::Instruction => "instruction", ActionKind::Direct => "direct" },
        "op": format!("{}/{}", op::text(&a.op_type), op::text(&a.op_command)),
        "state": state,
        "status": a.status,
        "deliveries": a.deliveries,
        "openedMs": a.opened_ms,
        "queuedMs": a.queued_ms,
        "resultMs": a.result_ms,
    })
}
