//! The HTTP client of every outbound JSON-RPC connection — the proxy's chain follower, the
//! simulated providers' — so that `https://` RPC endpoints (Flare's public ones are) work:
//! rustls (aws-lc-rs), the certificate checked against the platform's roots, or, when the
//! operator names a CA file, against that file's certificates only (a private node behind an
//! internal CA). Plain `http://` stays for a local node.

use std::path::Path;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::transports::http::Http;
use anyhow::{Context, Result, ensure};

/// A client that trusts the platform's roots, or only the certificates in `ca_file` (PEM).
pub fn client(ca_file: Option<&Path>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).with_context(|| format!("reading the CA file {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("the CA file {} is not PEM certificates", path.display()))?;
        ensure!(!certs.is_empty(), "the CA file {} holds no certificate", path.display());
        builder = builder.tls_certs_only(certs);
    }
    builder.build().context("building the HTTPS client")
}

/// A JSON-RPC provider for `url` over `client`.
pub fn provider(url: reqwest::Url, client: reqwest::Client) -> DynProvider {
    ProviderBuilder::new().connect_client(RpcClient::new(Http::with_client(client, url), false)).erased()
}
