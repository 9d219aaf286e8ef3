//! On a real node: anvil (chain 14, a free port, killed on drop) with the contracts deployed
//! through the bindings; a TEE engine (`fcc_core::Tee`, simulated platform) whose own identity
//! key is registered and moved to production by simulated data providers (a relay message built
//! by `fcc_contracts::relay_message`), signs the result of an F_FDC2/PROVE instruction those
//! providers authorised; `TeeResultVerifier` accepts it, and refuses a tampered result and a
//! result of a TEE that is not in production. The providers then relay the next epoch's policy
//! (DevRelay's `relay()`), whose voters move the second TEE to production; once the code version
//! is disabled, the accepted result itself is refused. The chain monitor (`fcc-chain`) follows
//! the same chain: both policies and the instruction the sender emitted, and a reorg.

use std::path::Path;
use std::time::Duration;

use alloy::contract::{Error as ContractError, RawCallBuilder};
use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use anyhow::{Context, Result, ensure};
use fcc_chain::{Config as ChainConfig, Cursor, Event, MemorySink, Monitor, Sink, Step};
use fcc_contracts::DevRelay::ThresholdNotReached;
use fcc_contracts::TeeResultVerifier::NotProductionTee;
use fcc_contracts::relay_message::{
    check_signatures, custom_signing_digest, encode_custom_signature, encode_policy_update, policy_update_digest,
    sign_as_voters,
};
use fcc_contracts::{Devnet, action_result, deploy_devnet, machine_data, platform, signature};
use fcc_core::attester::{PlatformKind, Simulated};
use fcc_core::ops::Registry;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy};
use fcc_core::result::{SignedResult, status};
use fcc_core::{Config, Registration, Tee};
use fcc_sim_providers as sim;

mod common;
use common::wallet_provider;

/// fcc-core's and the devnet's chain id (Flare's Coston2 uses 114, Flare 14).
const CHAIN_ID: u64 = 14;
const EPOCH: u32 = 100;
const EXTENSION: U256 = U256::from_limbs([1, 0, 0, 0]);
/// DevRelay's scheme on the devnet (`deploy_devnet`): chain-bound hashes and digests.
const SCHEME: PolicyHashScheme = PolicyHashScheme::ChainBound { chain_id: CHAIN_ID };

/// The proxy URL the test TEEs register.
const URL: &str = "http://127.0.0.1:9000";
/// The proxy id the test TEEs register.
const PROXY_ID: Address = Address::new([0x9a; 20]);

/// The chain monitor over the devnet's relay and instruction sender, reading every block.
fn chain_config(net: &Devnet) -> ChainConfig {
    let mut config = ChainConfig::new(*net.relay.address(), *net.sender.address());
    config.confirmations = 0;
    config
}

/// A relay message of `policy` carrying `productionHash(tee_id)`, signed by the providers at `who`.
async fn production_message(
    net: &Devnet,
    tee_id: Address,
    policy: &SigningPolicy,
    ps: &[sim::Provider],
    who: &[usize],
) -> Result<Bytes> {
    let hash = net.machines.productionHash(tee_id).call().await?;
    let digest = custom_signing_digest(&hash.0, SCHEME);
    Ok(encode_custom_signature(policy, &hash.0, &sign_as_voters(sim::signers(ps, who), &digest))?.into())
}

/// DevRelay's `relay()` with `message` as its calldata (Flare's relay transactions are raw calldata).
fn relay_call(provider: &DynProvider, net: &Devnet, message: Vec<u8>) -> RawCallBuilder<DynProvider> {
    RawCallBuilder::new_raw(provider.clone(), message.into()).to(*net.relay.address())
}

/// anvil from the contracts' pinned npm toolchain, on a port it picks itself. Required here:
/// this test is how the contracts are checked on a node (`cargo xtask test` installs anvil).
fn start_anvil() -> Result<AnvilInstance> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    ensure!(bin.exists(), "{} missing: run contracts/setup.sh", bin.display());
    common::start_anvil(&bin)
}

/// A TEE engine trusting `policy` as its root.
fn tee_with_policy(ps: &[sim::Provider], policy: &fcc_core::policy::SigningPolicy, owner: Address) -> Result<Tee> {
    governed_tee(ps, policy, owner, fcc_core::config::Governance::NONE)
}

/// [`tee_with_policy`] booted with the extension governance `governance`.
fn governed_tee(
    ps: &[sim::Provider],
    policy: &fcc_core::policy::SigningPolicy,
    owner: Address,
    governance: fcc_core::config::Governance,
) -> Result<Tee> {
    // Its operator fixed the extension and the owner (the deployer, who registers it).
    let registration = Registration { extension_id: EXTENSION.to_be_bytes(), owner: owner.0.0, governance };
    let config = Config {
        chain_id: CHAIN_ID,
        policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN_ID },
        registration: Some(registration),
    };
    let mut tee = Tee::new(config, &mut rand::rng(), Registry::system())?;
    let r = tee.handle(&sim::initialize_policy(ps, policy)?, &mut Simulated);
    ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
    Ok(tee)
}

/// An F_FDC2/PROVE instruction for `tee` signed by every provider, and the TEE's signed result.
fn prove(tee: &mut Tee, ps: &[sim::Provider], id: &str) -> Result<SignedResult> {
    let tee_id = tee.state().identity.address();
    let all: Vec<usize> = (0..ps.len()).collect();
    let action = sim::signed(ps, &all, sim::fdc2_instruction(tee_id, id, EPOCH), CHAIN_ID)?;
    let r = tee.handle(&action, &mut Simulated);
    ensure!(r.result.status == status::SUCCESS, "PROVE refused: {}", r.result.log);
    Ok(r)
}

async fn verify(net: &Devnet, r: &SignedResult) -> Result<Address, ContractError> {
    net.verifier.verifyResult(EXTENSION, action_result(&r.result), Bytes::copy_from_slice(&r.signature)).call().await
}

/// The revert must be `NotProductionTee(extension, signer)`.
fn assert_not_production(outcome: Result<Address, ContractError>, signer: Address, what: &str) {
    let err = outcome.expect_err(what);
    let decoded = err.as_decoded_error::<NotProductionTee>();
    let decoded = decoded.unwrap_or_else(|| panic!("{what}: unexpected error {err}"));
    assert_eq!(decoded.signer, signer, "{what}: signer in the revert");
}

/// Registers the TEE with the registration data it signed for `measurement` (pending): the
/// caller is the deployer, the owner its operator fixed.
async fn register(net: &Devnet, tee: &Tee, measurement: &[u8; 48]) -> Result<Address> {
    let (data, sig) = tee.state().machine_data(PlatformKind::Plain, Some(measurement));
    ensure!(!sig.is_empty(), "the TEE signed no registration data");
    let receipt = net
        .machines
        .register(machine_data(&data), signature(&sig)?, PROXY_ID, URL.into())
        .send()
        .await?
        .get_receipt()
        .await?;
    ensure!(receipt.status(), "register reverted");
    let tee_id = Address::from(tee.state().identity.address());
    let m = net.machines.machine(tee_id).call().await?;
    ensure!(m.publicKey.len() == 64 && m.challenge != B256::ZERO, "machine record missing");
    Ok(tee_id)
}

#[tokio::test(flavor = "current_thread")]
async fn fcc_core_result_is_verified_on_anvil() -> Result<()> {
    let anvil = start_anvil()?;
    let deployer = anvil.addresses()[0];
    let provider = wallet_provider(&anvil)?;
    assert_eq!(provider.get_chain_id().await?, CHAIN_ID);

    // Simulated providers and their policy, set in DevRelay at deployment.
    let ps = sim::providers("fcc-contracts anvil test", 12)?;
    let policy = sim::policy(&ps, EPOCH)?;
    let net = deploy_devnet(provider.clone(), deployer, Some(policy.encode().into())).await?;
    let relay_hash = net.relay.toSigningPolicyHash(U256::from(EPOCH)).call().await?;
    assert_eq!(relay_hash.0, policy.hash(PolicyHashScheme::ChainBound { chain_id: CHAIN_ID }), "policy hash");

    // An extension with one code version on `plain` (a stand-in 48-byte measurement).
    let measurement: [u8; 48] = core::array::from_fn(|i| i as u8);
    let code_hash = keccak256(measurement);
    assert_eq!(net.extensions.codeHashOf(measurement.to_vec().into()).call().await?, code_hash);
    net.extensions.createExtension("fcc-contracts test".into()).send().await?.get_receipt().await?;
    assert_eq!(net.extensions.extensionCount().call().await?, EXTENSION);
    let receipt = net
        .extensions
        .addTeeVersion(EXTENSION, "v1".into(), code_hash, vec![platform("plain")?])
        .send()
        .await?
        .get_receipt()
        .await?;
    ensure!(receipt.status(), "addTeeVersion reverted");

    // The engine's own identity key is the registered one.
    let mut tee = tee_with_policy(&ps, &policy, deployer)?;
    let tee_id = register(&net, &tee, &measurement).await?;

    // Production: the providers sign the registry's production hash through a relay message; the
    // lightest set at or below the threshold is refused, all of them pass.
    let (light, light_weight) = sim::below_threshold(&policy);
    let below = production_message(&net, tee_id, &policy, &ps, &light).await?;
    let refused = net.machines.toProduction(tee_id, below).call().await.expect_err("below threshold");
    let decoded = refused.as_decoded_error::<ThresholdNotReached>();
    let decoded = decoded.unwrap_or_else(|| panic!("unexpected error {refused}"));
    assert_eq!(decoded.weight, U256::from(light_weight), "weight in the revert");
    let all: Vec<usize> = (0..ps.len()).collect();
    let message = production_message(&net, tee_id, &policy, &ps, &all).await?;
    let hash = net.machines.productionHash(tee_id).call().await?;
    let sigs = sign_as_voters(sim::signers(&ps, &all), &custom_signing_digest(&hash.0, SCHEME));
    assert_eq!(check_signatures(&policy, &custom_signing_digest(&hash.0, SCHEME), &sigs)?, policy.total_weight());
    let epoch = net.relay.verifyCustomSignature(message.clone(), hash).call().await?;
    assert_eq!(epoch, U256::from(EPOCH), "the relay's own check names the policy's epoch");
    let receipt = net.machines.toProduction(tee_id, message).send().await?.get_receipt().await?;
    ensure!(receipt.status(), "toProduction reverted");
    assert!(net.machines.isProductionTee(EXTENSION, tee_id).call().await?);

    // A real result: the engine verified the providers' signatures and signed the FDC2 proof.
    let result = prove(&mut tee, &ps, "anvil fdc2 #1")?;
    assert_eq!(verify(&net, &result).await?, tee_id, "the signed result is accepted");
    let hash = net.verifier.verifyResultHash(
        EXTENSION,
        B256::from(result.result.hash()),
        Bytes::copy_from_slice(&result.signature),
    );
    assert_eq!(hash.call().await?, tee_id, "verifyResultHash agrees with fcc-core's result hash");

    // Tampered: one bit of the signed data flipped recovers another (unknown) address.
    let mut tampered = result.clone();
    tampered.result.data[0] ^= 1;
    let wrong_signer = Address::from(tampered.signer(CHAIN_ID)?);
    assert_ne!(wrong_signer, tee_id);
    assert_not_production(verify(&net, &tampered).await, wrong_signer, "tampered result");

    // A second TEE, registered but still pending, signs its own result: refused.
    let mut pending = tee_with_policy(&ps, &policy, deployer)?;
    let pending_id = register(&net, &pending, &measurement).await?;
    let pending_result = prove(&mut pending, &ps, "anvil fdc2 #2")?;
    assert_eq!(Address::from(pending_result.signer(CHAIN_ID)?), pending_id);
    assert_not_production(verify(&net, &pending_result).await, pending_id, "result of a pending TEE");

    // Policy rotation: the providers of EPOCH relay the policy of EPOCH + 1 (other providers);
    // a set at or below the threshold is refused.
    let next_ps = sim::providers("fcc-contracts anvil test, next epoch", 7)?;
    let next = sim::policy(&next_ps, EPOCH + 1)?;
    let digest = policy_update_digest(&next, SCHEME);
    let below = encode_policy_update(&policy, &next, &sign_as_voters(sim::signers(&ps, &light), &digest))?;
    let refused = relay_call(&provider, &net, below).call().await.expect_err("rotation below threshold");
    assert!(refused.as_decoded_error::<ThresholdNotReached>().is_some(), "unexpected error {refused}");
    let rotation = encode_policy_update(&policy, &next, &sign_as_voters(sim::signers(&ps, &all), &digest))?;
    let receipt = relay_call(&provider, &net, rotation).send().await?.get_receipt().await?;
    ensure!(receipt.status(), "relay() reverted");
    assert_eq!(net.relay.toSigningPolicyHash(U256::from(EPOCH + 1)).call().await?.0, next.hash(SCHEME));
    assert_eq!(net.relay.lastInitializedRewardEpochData().call().await?._0, EPOCH + 1);

    // The new voters move the pending TEE to production; its result is accepted from then on.
    let next_all: Vec<usize> = (0..next_ps.len()).collect();
    let message = production_message(&net, pending_id, &next, &next_ps, &next_all).await?;
    let receipt = net.machines.toProduction(pending_id, message).send().await?.get_receipt().await?;
    ensure!(receipt.status(), "toProduction with the relayed policy reverted");
    assert_eq!(verify(&net, &pending_result).await?, pending_id, "result of the TEE moved by the new voters");

    // An instruction for the production TEE, sent through the instruction sender; the chain
    // monitor sees both policies and the instruction, as the proxy and the providers would.
    let op = |name: &str| B256::right_padding_from(name.as_bytes());
    let receipt = net
        .sender
        .sendInstructions(EXTENSION, vec![tee_id], op("F_FDC2"), op("PROVE"), b"request".into(), vec![], 0, deployer)
        .send()
        .await?
        .get_receipt()
        .await?;
    ensure!(receipt.status(), "sendInstructions reverted");
    let mut monitor = Monitor::new(provider.clone(), chain_config(&net));
    let sink = MemorySink::default();
    while let Step::Read { .. } = monitor.step(&sink).await? {}
    let events = sink.events();
    let policies: Vec<(u32, &[u8])> = events
        .iter()
        .filter_map(|e| match e {
            Event::Policy(p) => Some((p.reward_epoch_id, p.bytes.as_ref())),
            Event::Instruction(_) => None,
        })
        .collect();
    assert_eq!(policies, [(EPOCH, &policy.encode()[..]), (EPOCH + 1, &next.encode()[..])]);
    let Some(Event::Instruction(sent)) = events.last() else { panic!("no instruction event: {events:?}") };
    assert_eq!((sent.extension_id, sent.reward_epoch_id, sent.op_command), (EXTENSION, EPOCH + 1, op("PROVE")));
    assert_eq!(sent.machines.iter().map(|m| (m.tee_id, m.url.as_str())).collect::<Vec<_>>(), [(tee_id, URL)]);
    assert_eq!((sent.message.as_ref(), sent.origin.tx), (&b"request"[..], receipt.transaction_hash));

    // The code version is disabled: the result accepted above is refused from now on.
    let receipt = net.extensions.disableTeeVersion(EXTENSION, code_hash).send().await?.get_receipt().await?;
    ensure!(receipt.status(), "disableTeeVersion reverted");
    assert!(!net.machines.isProductionTee(EXTENSION, tee_id).call().await?);
    assert_not_production(verify(&net, &result).await, tee_id, "result after the code version was disabled");
    Ok(())
}

/// A reorg deeper than the monitor's confirmation depth (0 here): the relay's policy for the next
/// epoch is replaced on a new fork (anvil's `evm_snapshot`/`evm_revert`); the monitor notices that
/// its cursor block changed, rewinds to the newest checkpoint the chain still has (none here: its
/// one range ended in the orphaned block, so everything is read again) and reports the new
/// fork's policy in place of the orphaned one.
/// The extension governance a TEE is booted with (`opt/fcc/governance`, signers in the operator's
/// order) and the one its owner sets on chain hash alike (fcc-core's `abi.encode` against
/// Solidity's), so the TEE registers with it — and a TEE booted with another does not.
#[tokio::test(flavor = "current_thread")]
async fn a_tee_booted_with_the_extensions_governance_registers_on_anvil() -> Result<()> {
    let anvil = start_anvil()?;
    let deployer = anvil.addresses()[0];
    let provider = wallet_provider(&anvil)?;
    let ps = sim::providers("fcc-contracts governance test", 4)?;
    let policy = sim::policy(&ps, EPOCH)?;
    let net = deploy_devnet(provider.clone(), deployer, Some(policy.encode().into())).await?;
    let measurement = [7u8; 48];
    net.extensions.createExtension("governed".into()).send().await?.get_receipt().await?;
    let receipt = net
        .extensions
        .addTeeVersion(EXTENSION, "v1".into(), keccak256(measurement), vec![platform("plain")?])
        .send()
        .await?
        .get_receipt()
        .await?;
    ensure!(receipt.status(), "addTeeVersion reverted");
    let signers = [[0x33; 20], [0x11; 20], [0x22; 20]];
    let governance = fcc_core::config::Governance::new(&signers, 2)?;
    let on_chain: Vec<Address> = signers.iter().map(|s| Address::from(*s)).collect();
    let hash = net.extensions.governanceHashOf(on_chain.clone(), U256::from(2)).call().await?;
    assert_eq!(hash.0, governance.hash(), "Solidity's governance hash is fcc-core's");
    let receipt = net.extensions.setGovernance(EXTENSION, on_chain, U256::from(2)).send().await?.get_receipt().await?;
    ensure!(receipt.status(), "setGovernance reverted");

    let other = fcc_core::config::Governance::new(&signers[..2], 2)?;
    let stranger = governed_tee(&ps, &policy, deployer, other)?;
    let (data, sig) = stranger.state().machine_data(PlatformKind::Plain, Some(&measurement));
    let refused = net
        .machines
        .register(machine_data(&data), signature(&sig)?, PROXY_ID, URL.into())
        .call()
        .await
        .expect_err("a TEE booted with another governance registered");
    let decoded = refused.as_decoded_error::<fcc_contracts::TeeMachineRegistry::GovernanceHashInvalid>();
    let decoded = decoded.with_context(|| format!("not GovernanceHashInvalid: {refused}"))?;
    assert_eq!((decoded.given.0, decoded.expected.0), (other.hash(), governance.hash()));

    let tee = governed_tee(&ps, &policy, deployer, governance)?;
    let tee_id = register(&net, &tee, &measurement).await?;
    let m = net.machines.machine(tee_id).call().await?;
    assert_eq!(m.governanceHash.0, governance.hash(), "the machine's recorded governance");
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn chain_monitor_follows_a_reorg_on_anvil() -> Result<()> {
    let anvil = start_anvil()?;
    let deployer = anvil.addresses()[0];
    let provider = wallet_provider(&anvil)?;
    let ps = sim::providers("chain monitor reorg test", 4)?;
    let net = deploy_devnet(provider.clone(), deployer, Some(sim::policy(&ps, EPOCH)?.encode().into())).await?;
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await?;

    let fork_a = sim::policy(&sim::providers("fork a", 3)?, EPOCH + 1)?;
    net.relay.setSigningPolicy(fork_a.encode().into()).send().await?.get_receipt().await?;
    let mut monitor = Monitor::new(provider.clone(), chain_config(&net));
    let sink = MemorySink::default();
    while let Step::Read { .. } = monitor.step(&sink).await? {}
    let cursor_a = sink.cursor().await?.context("cursor")?;

    let reverted: bool = provider.raw_request("evm_revert".into(), (snapshot,)).await?;
    ensure!(reverted, "evm_revert");
    // A new provider: the old one's nonce cache is ahead of the reverted chain.
    let relay = fcc_contracts::DevRelay::new(*net.relay.address(), wallet_provider(&anvil)?);
    let fork_b = sim::policy(&sim::providers("fork b", 5)?, EPOCH + 1)?;
    let pending = relay.setSigningPolicy(fork_b.encode().into()).send().await?;
    ensure!(pending.with_timeout(Some(Duration::from_secs(30))).get_receipt().await?.status(), "fork B reverted");
    let _: String = provider.raw_request("evm_mine".into(), ()).await?;
    assert_ne!(provider.get_block_by_number(cursor_a.block.into()).await?.map(|b| b.header.hash), Some(cursor_a.hash));

    let step = monitor.step(&sink).await?;
    assert_eq!(step, Step::Reorg { orphaned: cursor_a, ancestor: None }, "{step:?}");
    while let Step::Read { .. } = monitor.step(&sink).await? {}
    let next: Vec<Vec<u8>> = sink
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Policy(p) if p.reward_epoch_id == EPOCH + 1 => Some(p.bytes.to_vec()),
            _ => None,
        })
        .collect();
    // Fork A's policy went with its blocks; fork B's was read after. (The proxy's sink does not
    // take a second policy for an epoch: tests/proxy_chain.rs.)
    assert_eq!(next, [fork_b.encode()]);
    let head = provider.get_block_number().await?;
    let cursor: Cursor = sink.cursor().await?.context("cursor")?;
    assert_eq!(cursor.block, head);
    Ok(())
}
