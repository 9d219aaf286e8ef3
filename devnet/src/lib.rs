//! `fcc-devnet`: the product's main job (`cargo xtask devnet`) — the whole system on this
//! machine, each part real: anvil with the contracts, the proxy as a process of its own on
//! SQLite, the guest ROM in QEMU, simulated data providers following the chain, and a timed trace
//! of instructions from the chain event to the result verified on chain ([`run`]).
//!
//! [`process`] is how it runs the proxy and talks to its API; the end-to-end tests (`tests/`,
//! crate `fcc-e2e`) drive the proxy the same way.

pub mod compute;
mod machine;
mod payments;
pub mod process;
pub(crate) mod run;
mod stage;
mod status_page;

pub use machine::GuestHandle;
pub use run::{Options, Running, run};
pub use stage::{CHAIN_ID, EPOCH, EXTENSION, TEST_MODE_VERSION};

/// `fcc-devnet proxy <fcc-proxy arguments>` serves the proxy's command line
/// (`fcc_proxy::cli`), so the devnet runs the proxy as a process of its own without another
/// build.
pub const PROXY_SUBCOMMAND: &str = "proxy";
