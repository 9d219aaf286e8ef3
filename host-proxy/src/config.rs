//! Configuration from a TOML file, the environment and flags (flags win over the environment,
//! which wins over the file, which wins over the defaults). Secrets are wrapped so that no
//! `Debug` or log line can print them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use fcc_core::policy::PolicyHashScheme;
use serde::Deserialize;

/// A secret string (the proxy's signing key): printed as `***`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself (for parsing the key only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The key in `path`, which must be readable by its owner only (mode `0600` or stricter).
fn read_key_file(path: &std::path::Path) -> Result<Secret> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).with_context(|| format!("key-file {}", path.display()))?.permissions().mode();
    anyhow::ensure!(
        mode & 0o077 == 0,
        "key-file {} may be read by others (mode {:o}): chmod 600 it",
        path.display(),
        mode & 0o777
    );
    let text = std::fs::read_to_string(path).with_context(|| format!("key-file {}", path.display()))?;
    Ok(Secret::new(text.trim()))
}

/// A TEE id: `0x` and 40 hex digits.
fn parse_tee_id(s: &str) -> Result<[u8; 20], String> {
    let mut id = [0u8; 20];
    let digits = s.trim().strip_prefix("0x").ok_or("a TEE id starts with 0x")?;
    hex::decode_to_slice(digits, &mut id).map_err(|e| format!("a TEE id is 40 hex digits: {e}"))?;
    Ok(id)
}

fn deserialize_tee_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<[u8; 20]>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| parse_tee_id(&s).map_err(serde::de::Error::custom)).transpose()
}

/// Every setting; `None` means "not given here".
#[derive(Debug, Clone, Default, Deserialize, Parser)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[command(name = "fcc-proxy", about = "Host proxy of an FCC TEE machine", version)]
pub struct Settings {
    /// TOML file with any of these settings (kebab-case keys).
    #[arg(long, env = "FCC_PROXY_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// HTTP API address.
    #[arg(long, env = "FCC_PROXY_HTTP")]
    pub http: Option<SocketAddr>,
    /// Guest link address (the guest connects here).
    #[arg(long, env = "FCC_PROXY_LINK")]
    pub link: Option<SocketAddr>,
    /// A listener of its own for `GET /metrics` and the status page (then not served on the
    /// API's): both stay on a private address while the API is public.
    #[arg(long, env = "FCC_PROXY_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// `sqlite://path` or `postgres://user@host/db`.
    #[arg(long, env = "FCC_PROXY_DATABASE")]
    pub database: Option<String>,
    /// Chain id of the instructions' signatures (must match the guest's).
    #[arg(long, env = "FCC_PROXY_CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// The proxy's secp256k1 signing key (hex), for receipts. Random per start if absent.
    #[arg(long, env = "FCC_PROXY_KEY", hide_env_values = true)]
    pub key: Option<Secret>,
    /// File holding the signing key (hex); refused unless only its owner may read it.
    #[arg(long, env = "FCC_PROXY_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// How long a guest may hold an action before it is delivered again (ms).
    #[arg(long, env = "FCC_PROXY_LEASE_MS")]
    pub lease_ms: Option<u64>,
    /// How long a guest's pull is held when there is no work before an empty answer (ms).
    #[arg(long, env = "FCC_PROXY_LONG_POLL_MS")]
    pub long_poll_ms: Option<u64>,
    /// After a retryable refusal (docs/PROTOCOL.md §11), how long before the action is
    /// delivered again (ms).
    #[arg(long, env = "FCC_PROXY_RETRY_MS")]
    pub retry_ms: Option<u64>,
    /// Deliveries of an action the guest keeps refusing for now before its refusal is kept as
    /// its result.
    #[arg(long, env = "FCC_PROXY_MAX_DELIVERIES")]
    pub max_deliveries: Option<u64>,
    /// Largest accepted request body (bytes).
    #[arg(long, env = "FCC_PROXY_MAX_BODY")]
    pub max_body: Option<usize>,
    /// Most instructions open (collecting votes or awaiting a result) at once.
    #[arg(long, env = "FCC_PROXY_MAX_OPEN")]
    pub max_open: Option<u64>,
    /// The TEE this proxy serves (`0x` and 40 hex digits): guests with another TEE key are refused
    /// their link, votes must be for it, and only it writes the sealed-state file. Without it the
    /// last authenticated guest (accepted by the attestation check where that is on) is served.
    #[arg(long, env = "FCC_PROXY_TEE_ID", value_parser = parse_tee_id)]
    #[serde(default, deserialize_with = "deserialize_tee_id")]
    pub tee_id: Option<[u8; 20]>,
    /// Most instructions one signer may have opened (its vote came first) and still open.
    #[arg(long, env = "FCC_PROXY_MAX_OPEN_PER_SIGNER")]
    pub max_open_per_signer: Option<u64>,
    /// How long an instruction may collect votes before it is closed (ms); one citing an epoch
    /// before the previous policy's is closed as soon as the proxy knows a newer policy.
    #[arg(long, env = "FCC_PROXY_OPEN_TTL_MS")]
    pub open_ttl_ms: Option<u64>,
    /// Requests per second per client IP.
    #[arg(long, env = "FCC_PROXY_RATE")]
    pub rate_per_second: Option<u32>,
    /// Burst size per client IP.
    #[arg(long, env = "FCC_PROXY_BURST")]
    pub rate_burst: Option<u32>,
    /// Longest time a client may take to send a request's headers (ms); slower connections are
    /// closed (slow-loris).
    #[arg(long, env = "FCC_PROXY_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// Longest time one request may take from its first header byte to its answer, the body
    /// included (ms); a slower one gets 408 (slow bodies).
    #[arg(long, env = "FCC_PROXY_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Most HTTP connections one client (an IPv4 address, an IPv6 /64) may hold open.
    #[arg(long, env = "FCC_PROXY_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<usize>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (comma-separated addresses);
    /// from anyone else the header is ignored.
    #[arg(long, env = "FCC_PROXY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<IpAddr>>,
    /// Log lines as `text` (for people) or `json` (one object a line, for log collectors).
    #[arg(long, env = "FCC_PROXY_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// The operator's trust root: a JSON file `{"policy": "0x…", "publicKeys": ["0x…", …]}`
    /// (`sim-providers policy` writes one). At start the proxy learns the policy and queues
    /// `INITIALIZE_POLICY` for the guest (once: the action id derives from the policy bytes).
    #[arg(long, env = "FCC_PROXY_TRUST_ROOT")]
    pub trust_root: Option<PathBuf>,
    /// Where the guest's latest sealed state goes (written atomically; created empty at start
    /// if missing), for the operator to hand back at the next boot with QEMU's
    /// `-fw_cfg name=opt/fcc/sealed-state,file=<this path>` (docs/OPERATORS.md). Unset: the
    /// sealed state is not kept and every boot is a new TEE.
    #[arg(long, env = "FCC_PROXY_SEALED_STATE")]
    pub sealed_state: Option<PathBuf>,
    /// The directory of extension data objects, each a file named by the lowercase hex of its
    /// SHA-256, streamed to the guest when an extension's instruction asks for one (created if
    /// missing). Unset: such instructions wait until an objects directory is configured.
    #[arg(long, env = "FCC_PROXY_OBJECTS")]
    pub objects: Option<PathBuf>,
    /// Check every guest's boot-time attestation against this measurement manifest
    /// (reproducible/MEASUREMENTS.json) and refuse the link of a guest that fails. Unset: no check.
    #[arg(long, env = "FCC_PROXY_ATTESTATION_MANIFEST")]
    pub attestation_manifest: Option<PathBuf>,
    /// Test mode: accept plain QEMU's simulated attestation (no TEE). Never in production.
    #[arg(long, env = "FCC_PROXY_ATTESTATION_ALLOW_SIMULATED", num_args = 0..=1, default_missing_value = "true")]
    pub attestation_allow_simulated: Option<bool>,
    /// SEV-SNP guests: the VCEK or VLEK certificate (DER or PEM) of the host.
    #[arg(long, env = "FCC_PROXY_ATTESTATION_VEK")]
    pub attestation_vek: Option<PathBuf>,
    /// SEV-SNP guests: AMD's cert_chain, ASK (or ASVK) then ARK (PEM).
    #[arg(long, env = "FCC_PROXY_ATTESTATION_CHAIN")]
    pub attestation_chain: Option<PathBuf>,
    /// TDX guests: collateral JSON (dcap-qvl's QuoteCollateralV3).
    #[arg(long, env = "FCC_PROXY_ATTESTATION_TDX_COLLATERAL")]
    pub attestation_tdx_collateral: Option<PathBuf>,
    /// TDX guests: Intel SGX Root CA certificate (DER).
    #[arg(long, env = "FCC_PROXY_ATTESTATION_TDX_ROOT")]
    pub attestation_tdx_root: Option<PathBuf>,
    /// TDX guests of the UEFI edition: the MRTDs (hex, comma-separated) of the cloud firmware it
    /// may run on (e.g. from Google's signed reference values); a quote with one of them is held
    /// to the manifest's UEFI edition RTMR1. Unset: only the ROM is accepted on TDX.
    #[arg(long, env = "FCC_PROXY_ATTESTATION_TDX_FIRMWARE_MRTD", value_delimiter = ',')]
    pub attestation_tdx_firmware_mrtd: Option<Vec<String>>,
    /// Following the chain (`[chain]` in the file); off unless `rpc-url` is set.
    #[command(flatten)]
    #[serde(default)]
    pub chain: ChainSettings,
}

/// The `[chain]` settings: the chain monitor follows the relay's `SigningPolicyInitialized` and
/// the instruction sender's `TeeInstructionsSent`.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChainSettings {
    /// JSON-RPC URL of the chain (`https://…`, or `http://…` for a local node); the monitor is
    /// off without it.
    #[arg(long = "chain-rpc-url", env = "FCC_PROXY_CHAIN_RPC_URL")]
    pub rpc_url: Option<String>,
    /// PEM file of the CA certificates an `https://` RPC URL's certificate must chain to,
    /// instead of the platform's roots (a private node behind an internal CA).
    #[arg(long = "chain-rpc-ca-file", env = "FCC_PROXY_CHAIN_RPC_CA_FILE")]
    pub rpc_ca_file: Option<PathBuf>,
    /// The Relay (DevRelay) address.
    #[arg(long = "chain-relay", env = "FCC_PROXY_CHAIN_RELAY")]
    pub relay: Option<String>,
    /// The TeeInstructionSender address.
    #[arg(long = "chain-instruction-sender", env = "FCC_PROXY_CHAIN_INSTRUCTION_SENDER")]
    pub instruction_sender: Option<String>,
    /// Blocks below the head before a block is read.
    #[arg(long = "chain-confirmations", env = "FCC_PROXY_CHAIN_CONFIRMATIONS")]
    pub confirmations: Option<u64>,
    /// First block to read when no cursor is stored.
    #[arg(long = "chain-start-block", env = "FCC_PROXY_CHAIN_START_BLOCK")]
    pub start_block: Option<u64>,
    /// Pause between polls when caught up (ms).
    #[arg(long = "chain-poll-ms", env = "FCC_PROXY_CHAIN_POLL_MS")]
    pub poll_ms: Option<u64>,
    /// Longest wait for one RPC answer (ms; default 10000).
    #[arg(long = "chain-rpc-timeout-ms", env = "FCC_PROXY_CHAIN_RPC_TIMEOUT_MS")]
    pub rpc_timeout_ms: Option<u64>,
    /// How deep a reorg the follower can walk back from (blocks; default 4096); a deeper one
    /// stops it.
    #[arg(long = "chain-reorg-depth", env = "FCC_PROXY_CHAIN_REORG_DEPTH")]
    pub reorg_depth: Option<u64>,
    /// The relay's policy hash: `chain-bound` (DevRelay on the devnet, keyed by `chain-id`) or
    /// `legacy` (a Relay from before RLY-23; Flare's stores the chain-bound hash since
    /// go-flare-common `203057c`). Must be the guest's.
    #[arg(long = "chain-policy-hash", env = "FCC_PROXY_CHAIN_POLICY_HASH")]
    pub policy_hash: Option<String>,
}

impl ChainSettings {
    fn or(self, other: ChainSettings) -> ChainSettings {
        ChainSettings {
            rpc_url: self.rpc_url.or(other.rpc_url),
            rpc_ca_file: self.rpc_ca_file.or(other.rpc_ca_file),
            relay: self.relay.or(other.relay),
            instruction_sender: self.instruction_sender.or(other.instruction_sender),
            confirmations: self.confirmations.or(other.confirmations),
            start_block: self.start_block.or(other.start_block),
            poll_ms: self.poll_ms.or(other.poll_ms),
            rpc_timeout_ms: self.rpc_timeout_ms.or(other.rpc_timeout_ms),
            reorg_depth: self.reorg_depth.or(other.reorg_depth),
            policy_hash: self.policy_hash.or(other.policy_hash),
        }
    }

    fn resolve(self, chain_id: u64) -> Result<Option<ChainConfig>> {
        let Some(rpc_url) = self.rpc_url else {
            anyhow::ensure!(
                self.relay.is_none() && self.instruction_sender.is_none() && self.rpc_ca_file.is_none(),
                "chain settings given without chain rpc-url"
            );
            return Ok(None);
        };
        let address = |name: &str, v: Option<String>| -> Result<[u8; 20]> {
            let v = v.with_context(|| format!("chain {name} is required with chain rpc-url"))?;
            let mut out = [0u8; 20];
            hex::decode_to_slice(v.trim().trim_start_matches("0x"), &mut out)
                .with_context(|| format!("chain {name} must be a 20-byte hex address"))?;
            Ok(out)
        };
        let policy_hash = match self.policy_hash.as_deref().unwrap_or("chain-bound") {
            "chain-bound" => PolicyHashScheme::ChainBound { chain_id },
            "legacy" => PolicyHashScheme::Legacy,
            other => anyhow::bail!("chain policy-hash must be chain-bound or legacy, not {other:?}"),
        };
        Ok(Some(ChainConfig {
            rpc_url,
            rpc_ca_file: self.rpc_ca_file,
            relay: address("relay", self.relay)?,
            instruction_sender: address("instruction-sender", self.instruction_sender)?,
            confirmations: self.confirmations.unwrap_or(2),
            start_block: self.start_block.unwrap_or(0),
            poll_ms: self.poll_ms.unwrap_or(1_000).max(10),
            rpc_timeout_ms: self.rpc_timeout_ms.unwrap_or(10_000).max(1),
            reorg_depth: self.reorg_depth.unwrap_or(4096),
            policy_hash,
        }))
    }
}

/// The chain monitor's effective settings (`Debug` masks the RPC URL's secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// The CA certificates an `https://` node must chain to (`None`: the platform's roots).
    pub rpc_ca_file: Option<PathBuf>,
    /// The relay.
    pub relay: [u8; 20],
    /// The instruction sender.
    pub instruction_sender: [u8; 20],
    /// Confirmation depth.
    pub confirmations: u64,
    /// First block without a cursor.
    pub start_block: u64,
    /// Poll interval (ms).
    pub poll_ms: u64,
    /// Longest wait for one RPC answer (ms).
    pub rpc_timeout_ms: u64,
    /// Deepest reorg followed (blocks).
    pub reorg_depth: u64,
    /// The relay's (and the guest's) policy hash scheme.
    pub policy_hash: PolicyHashScheme,
}

/// The attestation check of guests (on when a manifest is configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationConfig {
    /// The measurement manifest.
    pub manifest: PathBuf,
    /// Accept simulated attestations (test mode).
    pub allow_simulated: bool,
    /// SEV-SNP VCEK/VLEK.
    pub vek: Option<PathBuf>,
    /// SEV-SNP ASK/ARK chain.
    pub chain: Option<PathBuf>,
    /// TDX collateral.
    pub tdx_collateral: Option<PathBuf>,
    /// TDX root.
    pub tdx_root: Option<PathBuf>,
    /// TDX firmware MRTDs the UEFI edition may run on.
    pub tdx_firmware_mrtds: Vec<[u8; 48]>,
}

/// A TDX MRTD: 48 bytes of hex, `0x` allowed.
fn parse_mrtd(text: &str) -> Result<[u8; 48]> {
    fcc_attest::manifest::measurement_from_hex(text).with_context(|| format!("attestation-tdx-firmware-mrtd {text:?}"))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line (timestamp, level, target, fields).
    Json,
}

/// The effective configuration. `Display` and `Debug` print it readably with its secrets masked
/// (`redact`): addresses as hex, URLs without passwords, keys or queries, the signing key never.
#[derive(Clone)]
pub struct Config {
    /// HTTP API address.
    pub http: SocketAddr,
    /// Guest link address.
    pub link: SocketAddr,
    /// Metrics and status-page listener (`None`: both on the API's).
    pub metrics: Option<SocketAddr>,
    /// Database URL.
    pub database: String,
    /// Chain id.
    pub chain_id: u64,
    /// Receipt signing key (hex), if configured.
    pub key: Option<Secret>,
    /// Lease (ms).
    pub lease_ms: u64,
    /// Long poll (ms).
    pub long_poll_ms: u64,
    /// Delay before a refused-for-now action is delivered again (ms).
    pub retry_ms: u64,
    /// Deliveries before a retryable refusal is kept as the result.
    pub max_deliveries: u64,
    /// Body bound (bytes).
    pub max_body: usize,
    /// Open-instruction bound.
    pub max_open: u64,
    /// Open-instruction bound per signer that opened them.
    pub max_open_per_signer: u64,
    /// The pinned TEE, if any.
    pub tee_id: Option<[u8; 20]>,
    /// How long an instruction may collect votes (ms).
    pub open_ttl_ms: u64,
    /// Rate per client (requests/s).
    pub rate_per_second: u32,
    /// Burst per client.
    pub rate_burst: u32,
    /// Header read timeout (ms).
    pub header_timeout_ms: u64,
    /// Whole-request timeout (ms).
    pub request_timeout_ms: u64,
    /// HTTP connections per client.
    pub max_connections_per_client: usize,
    /// Reverse proxies trusted for `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpAddr>,
    /// The log format.
    pub log_format: LogFormat,
    /// The trust root file, if any.
    pub trust_root: Option<PathBuf>,
    /// The sealed-state file, if any.
    pub sealed_state: Option<PathBuf>,
    /// The extension data objects' directory, if any.
    pub objects: Option<PathBuf>,
    /// The chain monitor, if on.
    pub chain: Option<ChainConfig>,
    /// The guests' attestation check, if on.
    pub attestation: Option<AttestationConfig>,
}

fn hex_address(a: &[u8; 20]) -> String {
    format!("0x{}", hex::encode(a))
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = |p: &Option<PathBuf>| p.as_ref().map_or_else(|| "none".to_string(), |p| p.display().to_string());
        write!(
            f,
            "http={} link={} metrics={} database={} chain-id={} key={} tee-id={} lease-ms={} long-poll-ms={} retry-ms={} \
             max-deliveries={} max-body={} max-open={} max-open-per-signer={} open-ttl-ms={} rate-per-second={} \
             rate-burst={} header-timeout-ms={} request-timeout-ms={} max-connections-per-client={} \
             trusted-proxies={:?} trust-root={} sealed-state={} objects={} log-format={:?}",
            self.http,
            self.link,
            self.metrics.map_or_else(|| "on the API's listener".to_string(), |a| a.to_string()),
            crate::redact::url(&self.database),
            self.chain_id,
            if self.key.is_some() { "set" } else { "none (an ephemeral key)" },
            self.tee_id.as_ref().map_or_else(|| "none".to_string(), hex_address),
            self.lease_ms,
            self.long_poll_ms,
            self.retry_ms,
            self.max_deliveries,
            self.max_body,
            self.max_open,
            self.max_open_per_signer,
            self.open_ttl_ms,
            self.rate_per_second,
            self.rate_burst,
            self.header_timeout_ms,
            self.request_timeout_ms,
            self.max_connections_per_client,
            self.trusted_proxies,
            path(&self.trust_root),
            path(&self.sealed_state),
            path(&self.objects),
            self.log_format,
        )?;
        match &self.chain {
            Some(c) => write!(f, " chain=[{c:?}]")?,
            None => f.write_str(" chain=off")?,
        }
        match &self.attestation {
            Some(a) => {
                write!(f, " attestation-manifest={} allow-simulated={}", a.manifest.display(), a.allow_simulated)
            }
            None => f.write_str(" attestation=off"),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Config({self})")
    }
}

impl std::fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rpc-url={} rpc-ca-file={} relay={} instruction-sender={} confirmations={} start-block={} poll-ms={} \
             rpc-timeout-ms={} reorg-depth={} policy-hash={:?}",
            crate::redact::url(&self.rpc_url),
            self.rpc_ca_file.as_ref().map_or_else(|| "platform roots".into(), |p| p.display().to_string()),
            hex_address(&self.relay),
            hex_address(&self.instruction_sender),
            self.confirmations,
            self.start_block,
            self.poll_ms,
            self.rpc_timeout_ms,
            self.reorg_depth,
            self.policy_hash,
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: "127.0.0.1:6660".parse().expect("address"),
            link: "127.0.0.1:6661".parse().expect("address"),
            metrics: None,
            database: "sqlite://fcc-proxy.db".into(),
            chain_id: 14,
            key: None,
            lease_ms: 30_000,
            long_poll_ms: 20_000,
            // A light client catching up needs the policy actions queued before; 50 tries over
            // about four minutes.
            retry_ms: 5_000,
            max_deliveries: 50,
            // An instruction carries two messages of at most 64 KiB each, hex-encoded in JSON.
            max_body: 512 * 1024,
            max_open: 100_000,
            // A misbehaving voter holds at most 1 % of the slots.
            max_open_per_signer: 1_000,
            tee_id: None,
            // Providers sign within seconds of the announcement; a day is generous.
            open_ttl_ms: 24 * 3600 * 1000,
            rate_per_second: 200,
            rate_burst: 1_000,
            header_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_connections_per_client: 64,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            trust_root: None,
            sealed_state: None,
            objects: None,
            chain: None,
            attestation: None,
        }
    }
}

impl Settings {
    /// Fills what `self` lacks from `other`.
    fn or(self, other: Settings) -> Settings {
        Settings {
            config: self.config.or(other.config),
            http: self.http.or(other.http),
            link: self.link.or(other.link),
            metrics: self.metrics.or(other.metrics),
            database: self.database.or(other.database),
            chain_id: self.chain_id.or(other.chain_id),
            key: self.key.or(other.key),
            key_file: self.key_file.or(other.key_file),
            lease_ms: self.lease_ms.or(other.lease_ms),
            long_poll_ms: self.long_poll_ms.or(other.long_poll_ms),
            retry_ms: self.retry_ms.or(other.retry_ms),
            max_deliveries: self.max_deliveries.or(other.max_deliveries),
            max_body: self.max_body.or(other.max_body),
            max_open: self.max_open.or(other.max_open),
            max_open_per_signer: self.max_open_per_signer.or(other.max_open_per_signer),
            tee_id: self.tee_id.or(other.tee_id),
            open_ttl_ms: self.open_ttl_ms.or(other.open_ttl_ms),
            rate_per_second: self.rate_per_second.or(other.rate_per_second),
            rate_burst: self.rate_burst.or(other.rate_burst),
            header_timeout_ms: self.header_timeout_ms.or(other.header_timeout_ms),
            request_timeout_ms: self.request_timeout_ms.or(other.request_timeout_ms),
            max_connections_per_client: self.max_connections_per_client.or(other.max_connections_per_client),
            trusted_proxies: self.trusted_proxies.or(other.trusted_proxies),
            log_format: self.log_format.or(other.log_format),
            trust_root: self.trust_root.or(other.trust_root),
            sealed_state: self.sealed_state.or(other.sealed_state),
            objects: self.objects.or(other.objects),
            attestation_manifest: self.attestation_manifest.or(other.attestation_manifest),
            attestation_allow_simulated: self.attestation_allow_simulated.or(other.attestation_allow_simulated),
            attestation_vek: self.attestation_vek.or(other.attestation_vek),
            attestation_chain: self.attestation_chain.or(other.attestation_chain),
            attestation_tdx_collateral: self.attestation_tdx_collateral.or(other.attestation_tdx_collateral),
            attestation_tdx_root: self.attestation_tdx_root.or(other.attestation_tdx_root),
            attestation_tdx_firmware_mrtd: self.attestation_tdx_firmware_mrtd.or(other.attestation_tdx_firmware_mrtd),
            chain: self.chain.or(other.chain),
        }
    }

    /// Parses a TOML file's contents.
    pub fn from_toml(text: &str) -> Result<Settings> {
        toml::from_str(text).context("configuration file")
    }

    /// Flags and environment (already merged by clap), then the file they name, then defaults.
    pub fn resolve(self) -> Result<Config> {
        let file = match &self.config {
            Some(path) => {
                Self::from_toml(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
                    .with_context(|| format!("in {}", path.display()))?
            }
            None => Settings::default(),
        };
        let s = self.or(file);
        let d = Config::default();
        anyhow::ensure!(s.key.is_none() || s.key_file.is_none(), "key and key-file are exclusive");
        let key = match &s.key_file {
            Some(path) => Some(read_key_file(path)?),
            None => s.key.clone(),
        };
        let chain_id = s.chain_id.unwrap_or(d.chain_id);
        let attestation = match s.attestation_manifest {
            Some(manifest) => Some(AttestationConfig {
                manifest,
                allow_simulated: s.attestation_allow_simulated.unwrap_or(false),
                vek: s.attestation_vek,
                chain: s.attestation_chain,
                tdx_collateral: s.attestation_tdx_collateral,
                tdx_root: s.attestation_tdx_root,
                tdx_firmware_mrtds: s
                    .attestation_tdx_firmware_mrtd
                    .unwrap_or_default()
                    .iter()
                    .map(|m| parse_mrtd(m))
                    .collect::<Result<_>>()?,
            }),
            None => {
                anyhow::ensure!(
                    s.attestation_allow_simulated.is_none()
                        && s.attestation_vek.is_none()
                        && s.attestation_chain.is_none()
                        && s.attestation_tdx_collateral.is_none()
                        && s.attestation_tdx_root.is_none()
                        && s.attestation_tdx_firmware_mrtd.is_none(),
                    "attestation settings given without attestation-manifest"
                );
                None
            }
        };
        if let Some(a) = &attestation {
            anyhow::ensure!(a.vek.is_some() == a.chain.is_some(), "attestation-vek and attestation-chain go together");
            anyhow::ensure!(
                a.tdx_collateral.is_some() == a.tdx_root.is_some(),
                "attestation-tdx-collateral and attestation-tdx-root go together"
            );
        }
        let config = Config {
            http: s.http.unwrap_or(d.http),
            link: s.link.unwrap_or(d.link),
            metrics: s.metrics,
            database: s.database.unwrap_or(d.database),
            chain_id: s.chain_id.unwrap_or(d.chain_id),
            key,
            lease_ms: s.lease_ms.unwrap_or(d.lease_ms),
            long_poll_ms: s.long_poll_ms.unwrap_or(d.long_poll_ms),
            retry_ms: s.retry_ms.unwrap_or(d.retry_ms),
            max_deliveries: s.max_deliveries.unwrap_or(d.max_deliveries),
            max_body: s.max_body.unwrap_or(d.max_body),
            max_open: s.max_open.unwrap_or(d.max_open),
            max_open_per_signer: s.max_open_per_signer.unwrap_or(d.max_open_per_signer),
            tee_id: s.tee_id,
            open_ttl_ms: s.open_ttl_ms.unwrap_or(d.open_ttl_ms),
            rate_per_second: s.rate_per_second.unwrap_or(d.rate_per_second),
            rate_burst: s.rate_burst.unwrap_or(d.rate_burst),
            header_timeout_ms: s.header_timeout_ms.unwrap_or(d.header_timeout_ms),
            request_timeout_ms: s.request_timeout_ms.unwrap_or(d.request_timeout_ms),
            max_connections_per_client: s.max_connections_per_client.unwrap_or(d.max_connections_per_client),
            trusted_proxies: s.trusted_proxies.unwrap_or(d.trusted_proxies),
            log_format: s.log_format.unwrap_or(d.log_format),
            trust_root: s.trust_root,
            sealed_state: s.sealed_state,
            objects: s.objects,
            chain: s.chain.resolve(chain_id)?,
            attestation,
        };
        anyhow::ensure!(config.header_timeout_ms >= 100, "header-timeout-ms must be at least 100");
        anyhow::ensure!(
            config.request_timeout_ms >= config.header_timeout_ms,
            "request-timeout-ms must be at least header-timeout-ms"
        );
        anyhow::ensure!(config.max_connections_per_client >= 1, "max-connections-per-client must be at least 1");
        anyhow::ensure!(config.lease_ms >= 100, "lease-ms must be at least 100");
        anyhow::ensure!(config.open_ttl_ms >= 100, "open-ttl-ms must be at least 100");
        anyhow::ensure!(config.rate_per_second >= 1 && config.rate_burst >= 1, "rate limits must be at least 1");
        anyhow::ensure!(config.max_body >= 1024, "max-body must be at least 1024 bytes");
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.toml");
        std::fs::write(&path, "chain-id = 114\nlease-ms = 5000\nkey = \"0x01\"\n").unwrap();
        let flags =
            Settings::try_parse_from(["fcc-proxy", "--config", path.to_str().unwrap(), "--lease-ms", "700"]).unwrap();
        let c = flags.resolve().unwrap();
        assert_eq!((c.chain_id, c.lease_ms, c.max_open), (114, 700, Config::default().max_open));
        assert_eq!(c.key.as_ref().unwrap().expose(), "0x01");
        // The key never shows in Debug output.
        assert!(!format!("{c:?}").contains("0x01"));
    }

    #[test]
    fn a_key_file_must_be_the_owners_alone_and_a_tee_id_is_an_address() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.key");
        std::fs::write(&path, "0x42\n").unwrap();
        let flags = |extra: &[&str]| {
            let mut args = vec!["fcc-proxy", "--key-file", path.to_str().unwrap()];
            args.extend_from_slice(extra);
            Settings::try_parse_from(args).unwrap()
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = flags(&[]).resolve().unwrap_err().to_string();
        assert!(e.contains("may be read by others (mode 644)"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(flags(&[]).resolve().unwrap().key.unwrap().expose(), "0x42");
        assert!(flags(&["--key", "0x43"]).resolve().is_err(), "key and key-file together");
        let id = format!("0x{}", "ab".repeat(20));
        let c = Settings::try_parse_from(["fcc-proxy", "--tee-id", &id]).unwrap().resolve().unwrap();
        assert_eq!(c.tee_id, Some([0xab; 20]));
        assert!(Settings::try_parse_from(["fcc-proxy", "--tee-id", "0xabcd"]).is_err());
        assert_eq!(Settings::from_toml(&format!("tee-id = \"{id}\"")).unwrap().tee_id, Some([0xab; 20]));
    }

    #[test]
    fn the_chain_section_comes_from_the_file_env_or_flags() {
        let text = "chain-id = 31337\n[chain]\nrpc-url = \"http://127.0.0.1:8545\"\nrelay = \"0x1111111111111111111111111111111111111111\"\ninstruction-sender = \"0x2222222222222222222222222222222222222222\"\nconfirmations = 0\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.toml");
        std::fs::write(&path, text).unwrap();
        let flags = Settings::try_parse_from([
            "fcc-proxy",
            "--config",
            path.to_str().unwrap(),
            "--chain-poll-ms",
            "250",
            "--chain-policy-hash",
            "legacy",
            "--chain-rpc-timeout-ms",
            "700",
        ])
        .unwrap();
        let c = flags.resolve().unwrap().chain.expect("chain on");
        assert_eq!(c.rpc_url, "http://127.0.0.1:8545");
        assert_eq!((c.relay, c.instruction_sender), ([0x11; 20], [0x22; 20]));
        assert_eq!((c.confirmations, c.start_block, c.poll_ms), (0, 0, 250));
        assert_eq!(c.policy_hash, PolicyHashScheme::Legacy);
        assert_eq!((c.rpc_timeout_ms, c.reorg_depth), (700, 4096));
        // Chain-bound by default, keyed by the configured chain id.
        let s = Settings::from_toml(&text.replace("confirmations = 0", "reorg-depth = 100")).unwrap();
        let c = s.resolve().unwrap().chain.unwrap();
        assert_eq!((c.confirmations, c.policy_hash), (2, PolicyHashScheme::ChainBound { chain_id: 31337 }));
        assert_eq!((c.rpc_timeout_ms, c.reorg_depth), (10_000, 100));
        // Off without a URL; a half-configured section is an error, as are bad addresses.
        assert!(Settings::default().resolve().unwrap().chain.is_none());
        assert!(Settings::from_toml("[chain]\nrelay = \"0x11\"").unwrap().resolve().is_err());
        assert!(
            Settings::from_toml(&text.replace("0x1111111111111111111111111111111111111111", "0x11"))
                .unwrap()
                .resolve()
                .is_err()
        );
        assert!(Settings::from_toml("[chain]\nrpc = \"x\"").is_err(), "unknown chain key");
    }

    #[test]
    fn the_attestation_check_is_off_unless_a_manifest_is_given() {
        assert!(Settings::default().resolve().unwrap().attestation.is_none());
        let c = Settings::from_toml("attestation-manifest = \"m.json\"\nattestation-allow-simulated = true\n")
            .unwrap()
            .resolve()
            .unwrap()
            .attestation
            .expect("on");
        assert_eq!((c.manifest, c.allow_simulated, c.vek), (PathBuf::from("m.json"), true, None));
        // The bare flag means true; production (no flag) means false.
        let f = Settings::try_parse_from(["fcc-proxy", "--attestation-manifest", "m", "--attestation-allow-simulated"])
            .unwrap();
        assert!(f.resolve().unwrap().attestation.unwrap().allow_simulated);
        let f = Settings::try_parse_from(["fcc-proxy", "--attestation-manifest", "m"]).unwrap();
        assert!(!f.resolve().unwrap().attestation.unwrap().allow_simulated);
        // Certificates without a manifest, or half a pair, are errors.
        assert!(Settings::from_toml("attestation-vek = \"v\"").unwrap().resolve().is_err());
        assert!(
            Settings::from_toml("attestation-manifest = \"m\"\nattestation-vek = \"v\"").unwrap().resolve().is_err()
        );
        // Firmware MRTDs for the UEFI edition: 48 bytes each, from the flag (comma-separated) or
        // the file (a list); nothing else.
        let (a, b) = ("aa".repeat(48), format!("0x{}", "bb".repeat(48)));
        let flag = format!("{a},{b}");
        let f = Settings::try_parse_from([
            "fcc-proxy",
            "--attestation-manifest",
            "m",
            "--attestation-tdx-firmware-mrtd",
            &flag,
        ])
        .unwrap();
        assert_eq!(f.resolve().unwrap().attestation.unwrap().tdx_firmware_mrtds, [[0xaa; 48], [0xbb; 48]]);
        let file = format!("attestation-manifest = \"m\"\nattestation-tdx-firmware-mrtd = [\"{a}\"]");
        assert_eq!(
            Settings::from_toml(&file).unwrap().resolve().unwrap().attestation.unwrap().tdx_firmware_mrtds,
            [[0xaa; 48]]
        );
        for bad in ["aa".repeat(47), "aa".repeat(49), "zz".repeat(48)] {
            let file = format!("attestation-manifest = \"m\"\nattestation-tdx-firmware-mrtd = [\"{bad}\"]");
            assert!(Settings::from_toml(&file).unwrap().resolve().is_err(), "{bad}");
        }
        let alone = format!("attestation-tdx-firmware-mrtd = [\"{a}\"]");
        assert!(Settings::from_toml(&alone).unwrap().resolve().is_err(), "without a manifest");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Settings::from_toml("chain_idd = 1").is_err());
        assert!(Settings::from_toml("lease-ms = \"soon\"").is_err());
        let s = Settings { lease_ms: Some(1), ..Default::default() };
        assert!(s.resolve().is_err());
    }

    /// The example configuration (deploy/fcc-proxy.example.toml) parses and names every setting:
    /// each flag but `--config` and `--key` (a secret stays out of a shared file; `key-file` is
    /// there) is a key of it, `chain-*` ones under `[chain]`.
    #[test]
    fn the_example_configuration_covers_every_setting() {
        use clap::CommandFactory;
        let text = include_str!("../deploy/fcc-proxy.example.toml");
        Settings::from_toml(text).unwrap();
        let table: toml::Table = toml::from_str(text).unwrap();
        let chain = table["chain"].as_table().unwrap();
        let mut checked = 0;
        for arg in Settings::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "config" | "key" | "help" | "version") {
                continue;
            }
            let present = match long.strip_prefix("chain-") {
                Some(key) if key != "id" => chain.contains_key(key),
                _ => table.contains_key(long),
            };
            assert!(present, "--{long} is missing from deploy/fcc-proxy.example.toml");
            checked += 1;
        }
        assert!(checked >= 35, "{checked} settings");
    }

    /// The systemd unit (deploy/fcc-proxy.service) starts the proxy with flags it accepts, sets
    /// only environment variables it reads, hands it the key as a credential file, and keeps the
    /// hardening an operator expects.
    #[test]
    fn the_systemd_unit_runs_the_proxy_with_what_it_accepts() {
        use clap::CommandFactory;
        let unit = include_str!("../deploy/fcc-proxy.service");
        fn value<'u>(unit: &'u str, key: &'static str) -> impl Iterator<Item = &'u str> {
            unit.lines().filter_map(move |l| l.strip_prefix(key)?.strip_prefix('='))
        }
        let exec: Vec<&str> = value(unit, "ExecStart").next().unwrap().split_whitespace().collect();
        assert_eq!(exec[0], "/usr/local/bin/fcc-proxy");
        let settings = Settings::try_parse_from(&exec).unwrap();
        assert!(settings.config.is_some());
        let envs: Vec<String> = Settings::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        for assignment in value(unit, "Environment") {
            let name = assignment.split('=').next().unwrap();
            assert!(name == "RUST_LOG" || envs.iter().any(|e| e == name), "the proxy reads no {name}");
        }
        assert!(unit.contains("Environment=FCC_PROXY_KEY_FILE=%d/receipt.key"));
        assert!(value(unit, "LoadCredential").any(|c| c.starts_with("receipt.key:")));
        for hardening in [
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "CapabilityBoundingSet=\n",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
            "MemoryDenyWriteExecute=yes",
            "SystemCallFilter=@system-service",
            "UMask=0077",
        ] {
            assert!(unit.contains(hardening), "{hardening:?} missing from the unit");
        }
    }
}
