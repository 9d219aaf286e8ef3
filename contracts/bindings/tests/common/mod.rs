//! Helpers shared by the anvil tests: a node from the contracts' npm toolchain and a signing
//! provider on its first account.
#![allow(dead_code)]

use std::path::Path;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use anyhow::{Context, Result};

/// The devnet's chain id.
pub const CHAIN_ID: u64 = 14;

/// The anvil binary, or `None` (after printing SKIPPED for `test`) when it is not installed.
pub fn anvil_bin(test: &str) -> Option<std::path::PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!("SKIPPED: {test} ({} missing: run contracts/setup.sh)", bin.display());
        None
    }
}

/// anvil on a port it picks itself, chain [`CHAIN_ID`].
pub fn start_anvil(bin: &Path) -> Result<AnvilInstance> {
    Anvil::at(bin).chain_id(CHAIN_ID).try_spawn().context("starting anvil")
}

/// A provider signing with anvil's first account (fresh: its nonce cache starts from the chain).
pub fn wallet_provider(anvil: &AnvilInstance) -> Result<DynProvider> {
    let wallet = anvil.wallet().context("anvil's wallet")?;
    Ok(ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased())
}
