//! The public HTTP API, compatible with Flare's tee-proxy routes (see `docs/PROTOCOL.md` §15 and
//! `host-proxy/openapi.json`). Handlers read bodies and parameters themselves so that every
//! refusal — bad JSON, a wrong path parameter, an oversized body — is a JSON error naming it;
//! the domain's errors become [`ApiError`]s here (`error`) and nowhere else.

pub mod error;
pub mod status;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{B256, Bytes};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fcc_core::action::Action;
use fcc_core::hash::H256;
use fcc_core::policy::Address;
use fcc_core::result::SignedResult;
use fcc_flare_json::{ActionResponse, Instruction, proxy_result_digest, proxy_tee_info_digest};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};

pub use self::error::ApiError;
use self::error::Cause;
use crate::aggregate;
use crate::attestation::Outcome;
use crate::peer;
use crate::state::Shared;

/// The OpenAPI document (committed; a test keeps it in step with [`ROUTES`]).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Every route: (method, path as in the OpenAPI document).
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/instruction"),
    ("get", "/action/result/{id}"),
    ("get", "/action/status/{rewardEpochId}/{instructionId}"),
    ("get", "/info"),
    ("post", "/wallet/backup"),
    ("get", "/wallet/backup/{id}"),
    ("post", "/wallet/heartbeat"),
    ("post", "/governance/machine-paths"),
    ("get", "/healthy"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/status"),
    ("get", "/status/status.js"),
    ("get", "/status/data"),
    ("get", "/openapi.json"),
];

/// Clients the rate limiter tracks before it drops idle ones.
const MAX_TRACKED_CLIENTS: usize = 10_000;
/// Request bodies read at once: the memory they take is bounded by this times `max-body`
/// (further requests wait for a turn, within their request timeout).
pub const MAX_BODIES_IN_FLIGHT: usize = 64;

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    bodies: Arc<tokio::sync::Semaphore>,
    /// The status page's last data and when it was read (`status::DATA_TTL`).
    status: Arc<tokio::sync::Mutex<Option<(std::time::Instant, Value)>>>,
}

impl AppState {
    fn new(shared: Arc<Shared>, limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>, bodies: usize) -> Self {
        let bodies = Arc::new(tokio::sync::Semaphore::new(bodies));
        Self { shared, limiter, bodies, status: Arc::default() }
    }
}

/// What monitoring reads — the metrics and the status page — on the listener that serves it.
fn monitoring(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/metrics", get(get_metrics))
        .route("/status", get(status::page))
        .route("/status/status.js", get(status::script))
        .route("/status/data", get(get_status_data))
}

/// The router (tests drive it with `oneshot`; `start` serves it).
pub fn router(shared: Arc<Shared>) -> Router {
    let rate = NonZeroU32::new(shared.config.rate_per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(shared.config.rate_burst).unwrap_or(NonZeroU32::MIN);
    let limiter = Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)));
    let own_metrics_listener = shared.config.metrics.is_some();
    let state = AppState::new(shared, limiter, MAX_BODIES_IN_FLIGHT);
    let router = Router::new()
        .route("/instruction", post(post_instruction))
        .route("/action/result/{id}", get(get_result))
        .route("/action/status/{epoch}/{id}", get(get_status))
        .route("/info", get(get_info))
        .route("/wallet/backup", post(post_wallet_backup))
        .route("/wallet/backup/{id}", get(get_wallet_backup))
        .route("/wallet/heartbeat", post(post_wallet_heartbeat))
        .route("/governance/machine-paths", post(post_machine_paths))
        .route("/healthy", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/ready", get(get_ready))
        .route("/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }));
    // With a metrics listener of its own, the API does not answer scrapes (nor show the status page).
    let router = if own_metrics_listener { router } else { monitoring(router) };
    router
        .fallback(|| async { ApiError::NotFound("no_route", "no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), limit_count_and_log))
        .with_state(state)
}

/// Per-client rate limit (`peer::client`: the IPv4 address or IPv6 /64, or what a trusted
/// reverse proxy says), the whole-request timeout (408; the body's reading included), the
/// response counter, and the log of internal failures (their causes never go to the client).
async fn limit_count_and_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let ip = peer::client(remote, req.headers().get("x-forwarded-for"), &state.shared.config.trusted_proxies);
    // Bounded memory: forget clients whose buckets are full again once many are tracked.
    if state.limiter.len() > MAX_TRACKED_CLIENTS {
        state.limiter.retain_recent();
    }
    let response = if state.limiter.check_key(&ip).is_err() {
        let mut r = ApiError::RateLimited.into_response();
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    } else {
        let timeout = Duration::from_millis(state.shared.config.request_timeout_ms);
        tokio::time::timeout(timeout, next.run(req)).await.unwrap_or_else(|_| ApiError::RequestTimeout.into_response())
    };
    if let Some(Cause(cause)) = response.extensions().get::<Cause>() {
        tracing::error!(status = %response.status(), "{cause}");
    }
    let code = response.status().as_u16().to_string();
    state.shared.metrics.responses.get_or_create(&vec![("code".to_string(), code)]).inc();
    response
}

/// Reads a body of at most `max` bytes, one of [`MAX_BODIES_IN_FLIGHT`] at a time: 413 when it is
/// longer, 400 `incomplete_body` when the client stops sending it.
async fn read_body(state: &AppState, body: Body, max: usize) -> Result<axum::body::Bytes, ApiError> {
    let _turn = state
        .bodies
        .acquire()
        .await
        .map_err(|_| ApiError::Unavailable("shutting_down", "the proxy is shutting down".into()))?;
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_long = std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| e.source())
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_long {
            ApiError::TooLarge(max)
        } else {
            ApiError::BadRequest("incomplete_body", format!("the request body could not be read: {e}"))
        }
    })
}

async fn post_instruction(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(&state, body, state.shared.config.max_body).await?;
    let req: Instruction = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest("invalid_body", format!("instruction JSON: {e}")))?;
    let receipt = aggregate::accept(&state.shared, req).await?;
    Ok(Json(receipt).into_response())
}

fn hash_param(name: &str, s: &str) -> Result<H256, ApiError> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out)
        .map_err(|_| ApiError::BadRequest("invalid_parameter", format!("{name} must be 32 bytes of hex")))?;
    Ok(out)
}

async fn get_result(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = hash_param("id", &id)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest("invalid_parameter", e.body_text()))?;
    for (k, v) in &query {
        match (k.as_str(), v.as_str()) {
            // The id's stored answer whatever it is: a result, or a refusal (tag `refused`).
            ("submissionTag", "threshold" | "submit" | "key-backup" | "refused") => {}
            ("submissionTag", "end") => {
                return Err(ApiError::NotFound("no_result", "`end` results are not produced by this proxy".into()));
            }
            ("submissionTag", _) => {
                return Err(ApiError::BadRequest(
                    "invalid_parameter",
                    "submissionTag must be threshold, end, submit, key-backup or refused".into(),
                ));
            }
            (other, _) => {
                return Err(ApiError::BadRequest("invalid_parameter", format!("unknown query parameter {other}")));
            }
        }
    }
    let r = state
        .shared
        .store
        .result(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no_result", format!("no result stored for 0x{}", hex::encode(id))))?;
    // As tee-proxy: the proxy also signs Payload{PROXY_ACTION_RESULT} over the result's hash,
    // vouching it served this result.
    let proxy_signature = state.shared.key.sign_digest(&proxy_result_digest(&r.result, state.shared.config.chain_id));
    Ok(Json(ActionResponse::new(&r, Some(&proxy_signature))).into_response())
}

async fn get_status(
    State(state): State<AppState>,
    Path((epoch, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let epoch: u32 = epoch
        .parse()
        .map_err(|_| ApiError::BadRequest("invalid_parameter", "rewardEpochId must be a decimal u32".into()))?;
    let id = hash_param("instructionId", &id)?;
    let on_chain = state.shared.store.chain_instruction(&id).await?.filter(|c| c.epoch == epoch);
    let on_chain_json = on_chain.as_ref().map(|c| json!({ "block": c.block, "tx": B256::from(c.tx) }));
    let status = match state.shared.store.status(epoch, &id).await? {
        Some(s) => s,
        // Announced on chain, no vote yet: the default bar under its policy if the proxy knows it
        // (the operation, and so an operation-specific bar, is known from the first vote).
        None if on_chain.is_some() => crate::store::InstructionStatus {
            state: "announced",
            votes: 0,
            weight: 0,
            cosigners: 0,
            candidates: 0,
            threshold: state.shared.policy(epoch).await?.map_or(0, |p| {
                fcc_core::admission::weight_threshold(p.total_weight(), fcc_core::ops::DEFAULT_THRESHOLD_BIPS)
            }),
            deliveries: 0,
        },
        None => {
            return Err(ApiError::NotFound(
                "unknown_instruction",
                format!("no instruction 0x{} in epoch {epoch}", hex::encode(id)),
            ));
        }
    };
    Ok(Json(json!({
        "instructionId": B256::from(id),
        "rewardEpochId": epoch,
        "state": status.state,
        "votes": status.votes,
        "weight": status.weight,
        "cosigners": status.cosigners,
        "candidates": status.candidates,
        "threshold": status.threshold,
        "deliveries": status.deliveries,
        "onChain": on_chain_json,
    }))
    .into_response())
}

/// How long `GET /info?challenge=` waits for the guest's answer (under the default
/// `request-timeout-ms`, so the answer is a 503 the client can act on, not a cut connection).
pub const TEE_INFO_TIMEOUT: Duration = Duration::from_secs(20);

/// Asks the served TEE for its statement for `challenge` with fresh evidence (`F_GET/TEE_INFO`,
/// leased to that TEE only) and waits for the signed answer; one answer per challenge while it is
/// among the last [`crate::state::TEE_INFO_KEPT`] (in memory: the store forgets each once read,
/// or once given up on).
async fn fresh_tee_info(state: &AppState, tee: &Address, challenge: &H256) -> Result<SignedResult, ApiError> {
    queue_and_wait(
        state,
        Action::tee_info(tee, challenge),
        TEE_INFO_TIMEOUT,
        || {
            ApiError::Unavailable(
                "tee_info_busy",
                format!("{} fresh attestations are already waiting for the guest", crate::state::TEE_INFO_IN_FLIGHT),
            )
        },
        || {
            ApiError::Unavailable(
                "tee_info_timeout",
                format!(
                    "the guest did not answer TEE_INFO within {TEE_INFO_TIMEOUT:?}; ask again with the same challenge"
                ),
            )
        },
        Answer::KeptTeeInfo,
    )
    .await
}

/// Where a direct action's answer is looked for.
#[derive(Clone, Copy)]
enum Answer {
    /// The results table (kept there).
    Stored,
    /// The answers kept in memory ([`kept_tee_info`]: moved there from the store).
    KeptTeeInfo,
}

impl Answer {
    async fn find(self, state: &AppState, id: &H256) -> Result<Option<SignedResult>, ApiError> {
        match self {
            Answer::Stored => Ok(state.shared.store.result(id).await?),
            Answer::KeptTeeInfo => kept_tee_info(state, id).await,
        }
    }
}

/// Queues the direct `action` for the served TEE — one of [`crate::state::TEE_INFO_IN_FLIGHT`]
/// at once, else `busy` — and waits up to `timeout` until its answer is found (one already there
/// is taken at once). On timeout the action is not left queued (a guest answering after this is
/// not stored either): `timed_out`.
async fn queue_and_wait(
    state: &AppState,
    action: Action,
    timeout: Duration,
    busy: impl FnOnce() -> ApiError,
    timed_out: impl FnOnce() -> ApiError,
    answer: Answer,
) -> Result<SignedResult, ApiError> {
    let id = action.instruction.instruction_id;
    if let Some(r) = answer.find(state, &id).await? {
        return Ok(r);
    }
    let _slot = state.shared.tee_info_slots.try_acquire().map_err(|_| busy())?;
    state.shared.store.enqueue_direct(&action, crate::state::now_ms()).await?;
    state.shared.work.notify_waiters();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(r) = answer.find(state, &id).await? {
            return Ok(r);
        }
        if tokio::time::Instant::now() >= deadline {
            state.shared.store.forget(&id).await?;
            return Err(timed_out());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The answer `id` if kept in memory, or newly in the store (then moved to memory and forgotten
/// by the store).
async fn kept_tee_info(state: &AppState, id: &H256) -> Result<Option<SignedResult>, ApiError> {
    let kept = |id: &H256| {
        let answers = state.shared.tee_info_answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        answers.iter().find(|r| r.result.id == *id).cloned()
    };
    if let Some(r) = kept(id) {
        return Ok(Some(r));
    }
    let Some(r) = state.shared.store.result(id).await? else { return Ok(None) };
    {
        let mut answers = state.shared.tee_info_answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !answers.iter().any(|a| a.result.id == *id) {
            if answers.len() == crate::state::TEE_INFO_KEPT {
                answers.pop_front();
            }
            answers.push_back(r.clone());
        }
    }
    state.shared.store.forget(id).await?;
    Ok(Some(r))
}

/// How long `POST /wallet/backup` waits for the guest's backup (a backup for 300 providers is
/// ~0.2 s of host CPU; under emulation several seconds).
pub const BACKUP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    #[serde(rename = "walletId")]
    wallet_id: String,
    #[serde(rename = "keyId")]
    key_id: u64,
}

/// `POST /wallet/backup` `{"walletId":"0x…","keyId":n}`: the served TEE makes a fresh backup of
/// that key (`F_GET/TEE_BACKUP`, leased to it only); it is kept with the results (durable: the
/// providers restore from it long after) and answered with its id, its `backupId` and the path
/// the providers fetch it from.
async fn post_wallet_backup(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(&state, body, 1024).await?;
    let req: BackupRequest =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest("invalid_body", e.to_string()))?;
    let key = fcc_core::wallet::KeyIdPair { wallet_id: hash_param("walletId", &req.wallet_id)?, key_id: req.key_id };
    let tee = served_tee(&state).await?;
    let action = Action::tee_backup(&tee, &key, &rand::random());
    let id = action.instruction.instruction_id;
    let r = direct_action(&state, action, "TEE_BACKUP").await?;
    let backup = stored_backup(&state, &r)?;
    Ok(Json(json!({
        "id": Bytes::from(id.to_vec()),
        "backupId": serde_json::from_str::<Value>(&fcc_core::wallet::backup::backup_id_json(&backup.metadata.backup_id))
            .unwrap_or(Value::Null),
        "path": format!("/wallet/backup/0x{}", hex::encode(id)),
    }))
    .into_response())
}

/// The served TEE's id (503 `no_tee` before one connected).
async fn served_tee(state: &AppState) -> Result<fcc_core::policy::Address, ApiError> {
    match state.shared.sessions.tee().await {
        Some(tee) => Ok(tee.tee_id),
        None => Err(ApiError::Unavailable("no_tee", "no TEE has connected to this proxy yet".into())),
    }
}

/// Queues the direct `action` for the served TEE and waits up to [`BACKUP_TIMEOUT`] for its
/// stored result ([`queue_and_wait`]); `what` names it in errors.
async fn direct_action(state: &AppState, action: Action, what: &str) -> Result<SignedResult, ApiError> {
    queue_and_wait(
        state,
        action,
        BACKUP_TIMEOUT,
        || {
            ApiError::Unavailable(
                "guest_busy",
                format!("{} direct requests are already waiting for the guest", crate::state::TEE_INFO_IN_FLIGHT),
            )
        },
        || {
            ApiError::Unavailable(
                "guest_timeout",
                format!("the guest did not answer {what} within {BACKUP_TIMEOUT:?}; ask again"),
            )
        },
        Answer::Stored,
    )
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HeartbeatRequest {
    backup: String,
    registry: String,
    #[serde(rename = "extensionId")]
    extension_id: String,
    #[serde(rename = "referenceBlock")]
    reference_block: u64,
    #[serde(rename = "referenceHash")]
    reference_hash: String,
}

/// `POST /wallet/heartbeat` `{"backup":"0x<id from POST /wallet/backup>","registry","extensionId",
/// "referenceBlock","referenceHash"}`: the served TEE's signed `KeyBackupRegistry` heartbeat
/// (`F_GET/KEY_BACKUP_HEARTBEAT`, docs/PROTOCOL.md §8.4) naming that stored backup, which must be
/// its latest of the key; answered as `GET /action/result/{id}` is. One action per (registry,
/// wallet, reference block) — the registry's `backupId` — so asked again, the stored answer.
async fn post_wallet_heartbeat(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(&state, body, 1024).await?;
    let req: HeartbeatRequest =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest("invalid_body", e.to_string()))?;
    let backup_id = hash_param("backup", &req.backup)?;
    let registry: [u8; 20] = hex::decode(req.registry.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::BadRequest("invalid_body", "registry must be a 0x address".into()))?;
    let reference_hash = hash_param("referenceHash", &req.reference_hash)?;
    if reference_hash == [0; 32] {
        return Err(ApiError::BadRequest("invalid_body", "referenceHash is zero".into()));
    }
    let r = state.shared.store.result(&backup_id).await?.ok_or_else(|| {
        ApiError::NotFound("no_backup", format!("no backup stored under 0x{}", hex::encode(backup_id)))
    })?;
    let backup = stored_backup(&state, &r)?;
    let tee = served_tee(&state).await?;
    if backup.metadata.backup_id.tee_id != tee {
        return Err(ApiError::Unprocessable("backup_of_another_tee", "that backup is not the served TEE's".into()));
    }
    let h = fcc_core::wallet::heartbeat::Heartbeat {
        id: backup.metadata.backup_id.id,
        registry,
        extension_id: hash_param("extensionId", &req.extension_id)?,
        reference_block: req.reference_block,
        reference_hash,
        backup_hash: backup.content_hash(),
    };
    let action = Action::key_backup_heartbeat(&tee, &h, state.shared.config.chain_id);
    let r = direct_action(&state, action, "KEY_BACKUP_HEARTBEAT").await?;
    if r.result.status != fcc_core::result::status::SUCCESS {
        return Err(ApiError::Unprocessable(
            "heartbeat_refused",
            format!("the TEE refused the heartbeat: {}", r.result.log),
        ));
    }
    let proxy_signature = state.shared.key.sign_digest(&proxy_result_digest(&r.result, state.shared.config.chain_id));
    Ok(Json(ActionResponse::new(&r, Some(&proxy_signature))).into_response())
}

/// Most bytes of a machine path list request (16 paths of 16 + 16 TEEs and 16 signatures).
pub const MAX_PATH_LIST_BODY: usize = 32 * 1024;

/// `POST /governance/machine-paths`: Flare's `SET_MACHINE_PATH_LIST` request (the governance's
/// signed JSON, passed through as the action's message) for the served TEE. The same body is
/// one action (id `keccak256("SET_MACHINE_PATH_LIST" ‖ tee ‖ keccak256(body))`): sent again, it
/// gets the answer stored for it.
async fn post_machine_paths(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(&state, body, MAX_PATH_LIST_BODY).await?;
    let tee = served_tee(&state).await?;
    let action = Action::set_machine_path_list(&tee, &bytes);
    let id = action.instruction.instruction_id;
    let r = direct_action(&state, action, "SET_MACHINE_PATH_LIST").await?;
    if r.result.status != fcc_core::result::status::SUCCESS {
        return Err(ApiError::Unprocessable(
            "paths_refused",
            format!("the TEE refused the path list: {}", r.result.log),
        ));
    }
    Ok(Json(json!({ "id": Bytes::from(id.to_vec()) })).into_response())
}

/// The backup in result `r`, its TEE signature checked; a refusal is the TEE's reason.
fn stored_backup(state: &AppState, r: &SignedResult) -> Result<fcc_core::wallet::backup::WalletBackup, ApiError> {
    let x = &r.result;
    if (x.op_type, x.op_command) != (fcc_core::op::F_GET, fcc_core::op::TEE_BACKUP) {
        return Err(ApiError::NotFound("no_backup", "that result is not a wallet backup".into()));
    }
    if x.status != fcc_core::result::status::SUCCESS {
        return Err(ApiError::Unprocessable("backup_refused", format!("the TEE refused the backup: {}", x.log)));
    }
    fcc_core::wallet::backup::WalletBackup::from_blob(&x.data, state.shared.config.chain_id).map_err(|e| {
        ApiError::Internal {
            code: "invalid_backup",
            message: "the stored backup does not verify",
            cause: format!("TEE_BACKUP result 0x{}: {e}", hex::encode(x.id)).into(),
        }
    })
}

/// `GET /wallet/backup/{id}`: the backup made by `POST /wallet/backup` as Flare's
/// `TEEBackupResponse` (`{"backupId":{…},"walletBackup":"<base64 of the backup JSON>"}`), what
/// the providers fetch to restore the key (docs/PROTOCOL.md §8.4).
async fn get_wallet_backup(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = hash_param("id", &id)?;
    let r = state
        .shared
        .store
        .result(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no_backup", format!("no backup stored under 0x{}", hex::encode(id))))?;
    let backup = stored_backup(&state, &r)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], backup.response_json()).into_response())
}

async fn get_info(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest("invalid_parameter", e.body_text()))?;
    let mut challenge = None;
    for (k, v) in &query {
        match k.as_str() {
            "challenge" => challenge = Some(hash_param("challenge", v)?),
            other => {
                return Err(ApiError::BadRequest("invalid_parameter", format!("unknown query parameter {other}")));
            }
        }
    }
    let outcome = state.shared.sessions.attestation_outcome().await;
    let Some(tee) = state.shared.sessions.tee().await else {
        return Err(match outcome {
            Some(Outcome::Refused(id, reason)) => ApiError::Unavailable(
                "attestation_refused",
                format!("no TEE accepted yet: the guest 0x{} was refused: {reason}", hex::encode(id)),
            ),
            _ => ApiError::Unavailable("no_tee", "no TEE has connected to this proxy yet".into()),
        });
    };
    // The last check's outcome (`attestation-manifest`): the served TEE's verdict, or why the
    // last guest was refused; both null when the check is off.
    let (verdict, error) = match outcome {
        Some(Outcome::Accepted(id, v)) if id == tee.tee_id => {
            (serde_json::to_value(v).unwrap_or(Value::Null), Value::Null)
        }
        Some(Outcome::Refused(id, reason)) if id == tee.tee_id => (Value::Null, Value::from(reason)),
        Some(Outcome::Refused(id, reason)) => {
            (Value::Null, Value::from(format!("the guest 0x{} was refused: {reason}", hex::encode(id))))
        }
        _ if state.shared.sessions.checks_attestation() => {
            (Value::Null, Value::from("the served TEE's attestation has not been checked by this proxy run"))
        }
        _ => (Value::Null, Value::Null),
    };
    // With a challenge: the TEE's statement for it now, with fresh evidence, signed by the TEE
    // (the same JSON as `GET /action/result/{id}`).
    let fresh = match challenge {
        Some(c) => {
            let r = fresh_tee_info(&state, &tee.tee_id, &c).await?;
            let proxy_signature =
                state.shared.key.sign_digest(&proxy_result_digest(&r.result, state.shared.config.chain_id));
            serde_json::to_value(ActionResponse::new(&r, Some(&proxy_signature))).unwrap_or(Value::Null)
        }
        None => Value::Null,
    };
    Ok(Json(json!({
        "teeInfo": fresh,
        "teeId": alloy_primitives::Address::from(tee.tee_id),
        "publicKey": Bytes::from(tee.public_key.0.to_vec()),
        "platform": format!("{:?}", tee.platform),
        "chainId": tee.chain_id,
        "codeVersion": tee.version,
        // The measurement is inside the attestation report (SEV-SNP/TDX); plain QEMU has none.
        "attestation": Bytes::from(tee.attestation.clone()),
        "statement": Bytes::from(tee.statement.encode()),
        // As tee-proxy: Payload{PROXY_TEE_INFO} over the statement's hash, for its chain.
        "proxySignature": Bytes::from(state.shared.key.sign_digest(&proxy_tee_info_digest(&tee.statement)).to_vec()),
        "attestationVerdict": verdict,
        "attestationError": error,
        "measurement": Value::Null,
        "initialPolicy": tee.initial_policy.map(|(e, h)| json!({ "rewardEpochId": e, "hash": B256::from(h) })),
        "activeEpoch": tee.active_epoch,
        "proxyAddress": alloy_primitives::Address::from(state.shared.proxy_address),
        "guestConnected": state.shared.sessions.connected() > 0,
    }))
    .into_response())
}

async fn get_ready(State(state): State<AppState>) -> Response {
    let db = state.shared.store.ping().await.is_ok();
    let guests = state.shared.sessions.connected();
    let ready = db && guests > 0;
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(json!({ "ready": ready, "database": db, "guests": guests }))).into_response()
}

/// The status page's data, read from the database at most once per `status::DATA_TTL`.
async fn get_status_data(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut cached = state.status.lock().await;
    let body = match &*cached {
        Some((at, body)) if at.elapsed() < status::DATA_TTL => body.clone(),
        _ => {
            let body = status::read(&state.shared).await?;
            *cached = Some((std::time::Instant::now(), body.clone()));
            body
        }
    };
    let mut r = Json(body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn get_metrics(State(state): State<AppState>) -> Response {
    let m = &state.shared.metrics;
    {
        // One scrape at a time reads the database, at most once per DATABASE_GAUGES_TTL.
        let mut read = m.gauges_read.lock().await;
        if read.is_none_or(|at| at.elapsed() >= crate::metrics::DATABASE_GAUGES_TTL) {
            if let Ok(c) = state.shared.store.counts().await {
                m.open.set(c.open as i64);
                m.pending.set(c.pending_actions as i64);
            }
            if let Ok(n) = state.shared.store.chain_instruction_count().await {
                m.chain_instructions_known.set(n as i64);
            }
            *read = Some(std::time::Instant::now());
        }
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.render()).into_response()
}

/// Most HTTP connections served at once; further ones are closed at accept.
pub const MAX_CONNECTIONS: usize = 4096;

/// Serves the API on `listener` until `stop` turns true, then lets open requests finish (for up
/// to [`crate::shutdown::SHUTDOWN_GRACE`]). HTTP/1 through hyper directly rather than `axum::serve`, which
/// sets no timer: here a client must deliver each request's headers within `header-timeout-ms`
/// (and an idle keep-alive connection its next request's), or the connection is closed — a
/// slow-loris client cannot hold connections open by trickling header bytes; the rest of the
/// request has `request-timeout-ms` (the router's middleware). One client (an IPv4 address, an
/// IPv6 /64) holds at most `max-connections-per-client` of the [`MAX_CONNECTIONS`].
pub async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener, stop: tokio::sync::watch::Receiver<bool>) {
    let app = router(shared.clone());
    serve_app(shared, app, listener, stop).await
}

/// `GET /metrics` and the status page, on the metrics listener (`metrics` set), with the API's
/// connection limits and timeouts; every other path is 404.
pub async fn serve_metrics(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    // No rate limit here (the handler reads the database at most once per
    // DATABASE_GAUGES_TTL however often it is asked); the state's limiter goes unused.
    let limiter = Arc::new(RateLimiter::keyed(Quota::per_second(NonZeroU32::MIN).allow_burst(NonZeroU32::MIN)));
    let state = AppState::new(shared.clone(), limiter, 1);
    let app = monitoring(Router::new())
        .fallback(|| async {
            ApiError::NotFound("no_route", "the metrics listener serves GET /metrics and /status only".into())
        })
        .with_state(state);
    serve_app(shared, app, listener, stop).await
}

/// Serves `app` on `listener` (see [`serve`]).
async fn serve_app(
    shared: Arc<Shared>,
    app: Router,
    listener: tokio::net::TcpListener,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_millis(shared.config.header_timeout_ms));
    let mut conns = tokio::task::JoinSet::new();
    let per_client = peer::Connections::new(shared.config.max_connections_per_client);
    let stopped = crate::shutdown::until_stopped(stop.clone());
    tokio::pin!(stopped);
    loop {
        while conns.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accepting an HTTP client: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if conns.len() >= MAX_CONNECTIONS {
            tracing::warn!(%peer, "{MAX_CONNECTIONS} HTTP connections open: refusing one");
            continue;
        }
        let Some(slot) = per_client.open(peer.ip()) else {
            tracing::debug!(%peer, "this client holds its most HTTP connections: refusing one");
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), req)
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let stop = stop.clone();
        conns.spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, "HTTP connection: {e}");
                    }
                }
                _ = crate::shutdown::until_stopped(stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(crate::shutdown::SHUTDOWN_GRACE, conn).await;
                }
            }
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}
