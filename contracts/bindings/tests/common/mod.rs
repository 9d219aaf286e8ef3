//! Helpers shared by the anvil tests: the chain id, and a node and signing provider from
//! `fcc_contracts::anvil`.
#![allow(dead_code)]

use std::path::Path;

use alloy::node_bindings::AnvilInstance;
pub use fcc_contracts::anvil::wallet_provider;

/// The devnet's chain id.
pub const CHAIN_ID: u64 = 14;

/// The anvil binary, or `None` (after printing SKIPPED for `test`) when it is not installed.
pub fn anvil_bin(test: &str) -> Option<std::path::PathBuf> {
    fcc_contracts::anvil::anvil_or_skip(test)
}

/// anvil on a port it picks itself, chain [`CHAIN_ID`].
pub fn start_anvil(bin: &Path) -> anyhow::Result<AnvilInstance> {
    fcc_contracts::anvil::start(bin, CHAIN_ID)
}
