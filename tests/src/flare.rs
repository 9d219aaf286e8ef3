//! Simulated Flare data providers for the end-to-end tests (`fcc-sim-providers`) at the
//! guest's default chain id and the tests' epoch, and an independent check of result signatures
//! with libsecp256k1 (not fcc-core's own ECDSA code).

use std::time::Duration;

use anyhow::{Result, ensure};
use fcc_core::action::Action;
use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::policy::SigningPolicy;
use fcc_core::result::SignedResult;
use fcc_devnet::process::Api;
use fcc_flare_json::SignedReceipt;
use fcc_proxy::store::Store;
use fcc_sim_providers::client::ProxyClient;
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

/// The signer of `r` (libsecp256k1) must be `tee`.
pub fn signed_by(r: &SignedResult, tee: [u8; 20]) -> Result<()> {
    let signer = result_signer(r)?;
    ensure!(signer == tee, "result signed by 0x{}, not the TEE 0x{}", hex::encode(signer), hex::encode(tee));
    Ok(())
}

/// A client of the proxy at `api` for `CHAIN_ID` that retries for up to 30 s.
pub fn client(api: &Api) -> Result<ProxyClient> {
    Ok(ProxyClient::new(&api.base, CHAIN_ID, Duration::from_secs(30))?)
}

/// Every provider at `signers` posts its vote to the proxy at `api` (receipts checked by
/// `fcc_sim_providers::client`), 16 at a time; their receipts, in `signers`' order.
pub async fn post_votes(
    api: &Api,
    ps: &[Provider],
    signers: &[usize],
    d: &InstructionData,
) -> Result<Vec<SignedReceipt>> {
    let c = client(api)?;
    let mut receipts = Vec::with_capacity(signers.len());
    for chunk in signers.chunks(16) {
        let mut posts = Vec::new();
        for &i in chunk {
            let (c, vote_of, d) = (c.clone(), &ps[i], d.clone());
            posts.push(async move { c.post_vote(i, vote_of, &d, None).await });
        }
        for r in join_all(posts).await {
            receipts.push(r?);
        }
    }
    Ok(receipts)
}

/// Awaits every future concurrently (on the current task; no extra dependency).
pub async fn join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut fs: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..fs.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in fs.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future finished")).collect()
}

/// Seeds `store` with the providers' policy and queues the guest's trust root
/// (`INITIALIZE_POLICY` under the direct-action id `label`).
pub async fn trust_root(store: &dyn Store, ps: &[Provider], label: &str) -> Result<Action> {
    let policy = policy(ps)?;
    store.put_policy(EPOCH, &policy.encode()).await?;
    let mut init = initialize_policy(ps, &policy)?;
    init.instruction.instruction_id = keccak256(label.as_bytes());
    store.enqueue_direct(&init, 0).await?;
    Ok(init)
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
