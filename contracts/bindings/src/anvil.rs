//! A local chain for the devnet and the tests: anvil from the contracts' pinned npm toolchain
//! (`contracts/setup.sh`), and a provider signing with its first account.

use std::path::{Path, PathBuf};

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use anyhow::{Context, Result};

/// Where `contracts/setup.sh` installs anvil.
pub fn anvil_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil")
}

/// The anvil binary, or `None` (after printing SKIPPED for `test`) when it is not installed.
pub fn anvil_or_skip(test: &str) -> Option<PathBuf> {
    let bin = anvil_path();
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!("SKIPPED: {test} ({} missing: run contracts/setup.sh)", bin.display());
        None
    }
}

/// anvil on a port it picks itself, serving chain `chain_id`.
pub fn start(bin: &Path, chain_id: u64) -> Result<AnvilInstance> {
    Anvil::at(bin).chain_id(chain_id).try_spawn().context("starting anvil")
}

/// A provider signing with anvil's first account (fresh: its nonce cache starts from the chain).
pub fn wallet_provider(anvil: &AnvilInstance) -> Result<DynProvider> {
    let wallet = anvil.wallet().context("anvil's wallet")?;
    Ok(ProviderBuilder::new().wallet(wallet).connect_http(anvil.endpoint_url()).erased())
}
