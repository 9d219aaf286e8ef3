//! Simulated Flare data providers for the end-to-end tests (`fcc-sim-providers`) at the
//! guest's default chain id and the tests' epoch, and an independent check of result signatures
//! with libsecp256k1 (not fcc-core's own ECDSA code).

use anyhow::Result;
use fcc_core::action::Action;
use fcc_core::instruction::InstructionData;
use fcc_core::policy::SigningPolicy;
use fcc_core::result::SignedResult;
pub use fcc_sim_providers::{Provider, below_threshold, initialize_policy, tee_info};

/// The guest's default chain id (fw_cfg `opt/fcc/chain-id` absent).
pub const CHAIN_ID: u64 = fcc_layout::interface::DEFAULT_CHAIN_ID;
/// The reward epoch of the test policy.
pub const EPOCH: u32 = 200;

/// `n` providers with deterministic keys and uneven stakes.
pub fn providers(n: usize) -> Result<Vec<Provider>> {
    fcc_sim_providers::providers("fcc e2e provider", n)
}

/// The policy for `EPOCH`.
pub fn policy(ps: &[Provider]) -> Result<SigningPolicy> {
    fcc_sim_providers::policy(ps, EPOCH)
}

/// An `F_FDC2/PROVE` instruction addressed to `tee_id` citing `EPOCH`.
pub fn fdc2_instruction(tee_id: [u8; 20], id: &str) -> InstructionData {
    fcc_sim_providers::fdc2_instruction(tee_id, id, EPOCH)
}

/// The instruction signed for `CHAIN_ID` by the providers at `signers`.
pub fn signed(ps: &[Provider], signers: &[usize], instruction: InstructionData) -> Result<Action> {
    fcc_sim_providers::signed(ps, signers, instruction, CHAIN_ID)
}

/// The address that signed `r` for `CHAIN_ID`, recovered with libsecp256k1.
pub fn result_signer(r: &SignedResult) -> Result<[u8; 20]> {
    fcc_sim_providers::result_signer(r, CHAIN_ID)
}

/// The operator's trust root as a file, as in production (`--trust-root`): the providers'
/// policy, with their public keys when `with_keys`. Returns the file and the policy's
/// INITIALIZE_POLICY id.
pub fn trust_root_file(dir: &std::path::Path, ps: &[Provider], with_keys: bool) -> (std::path::PathBuf, [u8; 32]) {
    let policy = policy(ps).unwrap();
    let mut json = fcc_sim_providers::trust_root_json(ps, &policy);
    if !with_keys {
        json.as_object_mut().expect("an object").remove("publicKeys");
    }
    let path = dir.join("trust-root.json");
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    (path, fcc_core::action::initialize_policy_id(&policy.encode()))
}
