//! `fcc-flare-json`: Flare's host-side formats, each defined once — what data providers post
//! (`POST /instruction`: go-flare-common's instruction `Data` and a signature), what a proxy
//! answers (tee-proxy's vote chain and signed receipts, the `ActionResult` JSON with the TEE's
//! signature) and the one signer recovery host code uses. The proxy serves them, the simulated
//! providers send and check them, the `fcc` CLI reads them and the tests speak them; docs/PROTOCOL.md
//! has the hex vectors.
//!
//! Architecture invariant: this crate knows no transport and no storage — serde types, hashes and
//! recovery only. The guest never sees JSON; these types convert to and from `fcc-core`'s.

pub mod data;
pub mod receipt;
pub mod recover;
pub mod result;

pub use data::{Data, Instruction};
pub use receipt::{Receipt, SignedReceipt, proxy_result_digest, proxy_tee_info_digest};
pub use recover::{RecoverError, recover_key, recover_signer, signer_hint};
pub use result::{ActionResponse, ActionResultJson};
