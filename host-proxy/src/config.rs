//! Configuration from a TOML file, the environment and flags (flags win over the environment,
//! which wins over the file, which wins over the defaults). Secrets are wrapped so that no
//! `Debug` or log line can print them.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
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
    /// `sqlite://path` or `postgres://user@host/db`.
    #[arg(long, env = "FCC_PROXY_DATABASE")]
    pub database: Option<String>,
    /// Chain id of the instructions' signatures (must match the guest's).
    #[arg(long, env = "FCC_PROXY_CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// The proxy's secp256k1 signing key (hex), for receipts. Random per start if absent.
    #[arg(long, env = "FCC_PROXY_KEY", hide_env_values = true)]
    pub key: Option<Secret>,
    /// How long a guest may hold an action before it is delivered again (ms).
    #[arg(long, env = "FCC_PROXY_LEASE_MS")]
    pub lease_ms: Option<u64>,
    /// How long a guest's pull is held when there is no work before an empty answer (ms).
    #[arg(long, env = "FCC_PROXY_LONG_POLL_MS")]
    pub long_poll_ms: Option<u64>,
    /// Largest accepted request body (bytes).
    #[arg(long, env = "FCC_PROXY_MAX_BODY")]
    pub max_body: Option<usize>,
    /// Most instructions open (collecting votes or awaiting a result) at once.
    #[arg(long, env = "FCC_PROXY_MAX_OPEN")]
    pub max_open: Option<u64>,
    /// Requests per second per client IP.
    #[arg(long, env = "FCC_PROXY_RATE")]
    pub rate_per_second: Option<u32>,
    /// Burst size per client IP.
    #[arg(long, env = "FCC_PROXY_BURST")]
    pub rate_burst: Option<u32>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP API address.
    pub http: SocketAddr,
    /// Guest link address.
    pub link: SocketAddr,
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
    /// Body bound (bytes).
    pub max_body: usize,
    /// Open-instruction bound.
    pub max_open: u64,
    /// Rate per client (requests/s).
    pub rate_per_second: u32,
    /// Burst per client.
    pub rate_burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: "127.0.0.1:6660".parse().expect("address"),
            link: "127.0.0.1:6661".parse().expect("address"),
            database: "sqlite://fcc-proxy.db".into(),
            chain_id: 14,
            key: None,
            lease_ms: 30_000,
            long_poll_ms: 20_000,
            // An instruction carries two messages of at most 64 KiB each, hex-encoded in JSON.
            max_body: 512 * 1024,
            max_open: 100_000,
            rate_per_second: 200,
            rate_burst: 1_000,
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
            database: self.database.or(other.database),
            chain_id: self.chain_id.or(other.chain_id),
            key: self.key.or(other.key),
            lease_ms: self.lease_ms.or(other.lease_ms),
            long_poll_ms: self.long_poll_ms.or(other.long_poll_ms),
            max_body: self.max_body.or(other.max_body),
            max_open: self.max_open.or(other.max_open),
            rate_per_second: self.rate_per_second.or(other.rate_per_second),
            rate_burst: self.rate_burst.or(other.rate_burst),
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
        let config = Config {
            http: s.http.unwrap_or(d.http),
            link: s.link.unwrap_or(d.link),
            database: s.database.unwrap_or(d.database),
            chain_id: s.chain_id.unwrap_or(d.chain_id),
            key: s.key,
            lease_ms: s.lease_ms.unwrap_or(d.lease_ms),
            long_poll_ms: s.long_poll_ms.unwrap_or(d.long_poll_ms),
            max_body: s.max_body.unwrap_or(d.max_body),
            max_open: s.max_open.unwrap_or(d.max_open),
            rate_per_second: s.rate_per_second.unwrap_or(d.rate_per_second),
            rate_burst: s.rate_burst.unwrap_or(d.rate_burst),
        };
        anyhow::ensure!(config.lease_ms >= 100, "lease-ms must be at least 100");
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
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Settings::from_toml("chain_idd = 1").is_err());
        assert!(Settings::from_toml("lease-ms = \"soon\"").is_err());
        let s = Settings { lease_ms: Some(1), ..Default::default() };
        assert!(s.resolve().is_err());
    }
}
