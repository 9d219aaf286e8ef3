//! Rust bindings of the fcc-unikernel contracts (`contracts/src`), for the host proxy, host tools
//! and tests, and a deployer of the devnet set (the order of `script/DeployDevnet.s.sol`).
//!
//! The bindings come from forge's build artifacts (`contracts/out/<Name>.sol/<Name>.json`)
//! through alloy's `sol!` in its JSON form: the ABI and the creation bytecode are then those of
//! one compilation with the pinned compiler and settings (`foundry.toml`), so what the bindings
//! call is what `deploy` puts on chain, and the concrete contracts' own functions (constructors,
//! `setSigningPolicy`, `codeHashOf`...) are bound too, not only the interfaces. The Solidity
//! files cannot be fed to `sol!` directly (it does not follow their imports) and carry no
//! bytecode. The artifacts are build outputs: `build.rs` stops with the command that makes them
//! when they are missing (`cargo xtask test` builds the contracts before the workspace).
//!
//! [`anvil`] starts a local chain for the devnet and the tests.
//!
//! [`relay_message`] builds Flare's relay messages (docs/PROTOCOL.md §16), which the relay's
//! `verifyCustomSignature` and `relay()` and `TeeMachineRegistry.toProduction` take.
//!
//! Each contract lives in its own module (alloy generates the namespaced types of the ABI, such
//! as `ITeeMachineRegistry::Machine`, next to it) and is re-exported at the root.

pub mod anvil;
pub mod relay_message;

use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256};
use alloy::providers::DynProvider;
use anyhow::{Context, Result, ensure};

macro_rules! bind {
    ($(#[$doc:meta])* $module:ident, $name:ident, $artifact:literal) => {
        $(#[$doc])*
        #[allow(missing_docs, clippy::all, clippy::pedantic)]
        pub mod $module {
            alloy::sol!(
                #[sol(rpc)]
                #[derive(Debug)]
                $name,
                $artifact
            );
        }
        pub use $module::$name;
    };
}

bind!(
    /// `DevRelay`: the devnet's Relay (policy hashes, Flare's relay messages, policy relay).
    dev_relay,
    DevRelay,
    "../out/DevRelay.sol/DevRelay.json"
);
bind!(
    /// `TeeExtensionRegistry`: extensions, owners, code versions, platforms.
    extension_registry,
    TeeExtensionRegistry,
    "../out/TeeExtensionRegistry.sol/TeeExtensionRegistry.json"
);
bind!(
    /// `TeeMachineRegistry`: registration, production, pause, ban, selection.
    machine_registry,
    TeeMachineRegistry,
    "../out/TeeMachineRegistry.sol/TeeMachineRegistry.json"
);
bind!(
    /// `TeeResultVerifier`: accepts results signed by production TEEs on enabled code.
    result_verifier,
    TeeResultVerifier,
    "../out/TeeResultVerifier.sol/TeeResultVerifier.json"
);
bind!(
    /// `TeeInstructionSender`: `sendInstructions` and Flare's `TeeInstructionsSent`.
    instruction_sender,
    TeeInstructionSender,
    "../out/TeeInstructionSender.sol/TeeInstructionSender.json"
);
bind!(
    /// `KeyBackupRegistry`: backup records as heartbeats (the key, the backup's hash), recovery.
    key_backup,
    KeyBackupRegistry,
    "../out/KeyBackupRegistry.sol/KeyBackupRegistry.json"
);

/// `DevRelay.HashScheme.ChainBound` (enums are `uint8` in the ABI).
pub const HASH_SCHEME_CHAIN_BOUND: u8 = 1;
/// `DevRelay.HashScheme.Legacy`.
pub const HASH_SCHEME_LEGACY: u8 = 0;
/// The devnet relay's message finalization window in reward epochs (as DeployDevnet sets it).
pub const MESSAGE_FINALIZATION_WINDOW: u64 = 2;
/// How long a devnet machine stays available without the providers' confirmation (s; as
/// DeployDevnet sets it).
pub const AVAILABILITY_PERIOD: u64 = 86_400;

/// A platform name as the registries store it: ASCII, right-padded to 32 bytes (`bytes32("plain")`).
pub fn platform(name: &str) -> Result<B256> {
    ensure!(name.len() <= 32, "platform name {name:?} is longer than 32 bytes");
    let mut b = [0u8; 32];
    b[..name.len()].copy_from_slice(name.as_bytes());
    Ok(B256::from(b))
}

/// fcc-core's result in the contracts' `ActionResult` shape (docs/PROTOCOL.md §6).
pub fn action_result(r: &fcc_core::result::ActionResult) -> TeeResultVerifier::ActionResult {
    TeeResultVerifier::ActionResult {
        id: B256::from(r.id),
        submissionTag: r.submission_tag.as_str().into(),
        status: r.status,
        log: r.log.clone(),
        opType: FixedBytes(r.op_type),
        opCommand: FixedBytes(r.op_command),
        additionalResultStatus: Bytes::copy_from_slice(&r.additional_result_status),
        version: r.version.clone(),
        data: Bytes::copy_from_slice(&r.data),
    }
}

/// [`action_result`] in `KeyBackupRegistry`'s binding of the same struct (`submitBackup`).
pub fn backup_result(r: &fcc_core::result::ActionResult) -> KeyBackupRegistry::ActionResult {
    let a = action_result(r);
    KeyBackupRegistry::ActionResult {
        id: a.id,
        submissionTag: a.submissionTag,
        status: a.status,
        log: a.log,
        opType: a.opType,
        opCommand: a.opCommand,
        additionalResultStatus: a.additionalResultStatus,
        version: a.version,
        data: a.data,
    }
}

/// fcc-core's registration data (docs/PROTOCOL.md §7.2) in the registry's ABI shape.
pub fn machine_data(m: &fcc_core::statement::MachineData) -> machine_registry::ITeeMachineRegistry::TeeMachineData {
    machine_registry::ITeeMachineRegistry::TeeMachineData {
        extensionId: U256::from_be_bytes(m.extension_id),
        initialOwner: Address::from(m.initial_owner),
        codeHash: B256::from(m.code_hash),
        platform: B256::from(m.platform),
        publicKey: machine_registry::ITeeMachineRegistry::PublicKey {
            x: B256::from_slice(&m.public_key[..32]),
            y: B256::from_slice(&m.public_key[32..]),
        },
        governanceHash: B256::from(m.governance_hash),
    }
}

/// A 65-byte `r ‖ s ‖ v` signature (v 0/1 or 27/28, docs/PROTOCOL.md §4) as the registry's
/// `Signature{v, r, s}`.
pub fn signature(sig: &[u8]) -> Result<machine_registry::ITeeMachineRegistry::Signature> {
    ensure!(sig.len() == 65, "a signature is 65 bytes, not {}", sig.len());
    let v = if sig[64] < 27 { sig[64] + 27 } else { sig[64] };
    Ok(machine_registry::ITeeMachineRegistry::Signature {
        v,
        r: B256::from_slice(&sig[..32]),
        s: B256::from_slice(&sig[32..64]),
    })
}

/// The devnet contract set, deployed by [`deploy_devnet`].
#[derive(Debug, Clone)]
pub struct Devnet {
    /// The relay (its policy setter is the deployer).
    pub relay: DevRelay::DevRelayInstance<DynProvider>,
    /// The extension registry (owned by the deployer; platforms sev-snp, tdx, plain).
    pub extensions: TeeExtensionRegistry::TeeExtensionRegistryInstance<DynProvider>,
    /// The machine registry.
    pub machines: TeeMachineRegistry::TeeMachineRegistryInstance<DynProvider>,
    /// The result verifier.
    pub verifier: TeeResultVerifier::TeeResultVerifierInstance<DynProvider>,
    /// The instruction sender.
    pub sender: TeeInstructionSender::TeeInstructionSenderInstance<DynProvider>,
    /// The key backup registry.
    pub backups: KeyBackupRegistry::KeyBackupRegistryInstance<DynProvider>,
}

/// Deploys the six contracts as `script/DeployDevnet.s.sol` does (same order, chain-bound policy
/// hashes, finalization window [`MESSAGE_FINALIZATION_WINDOW`], platforms sev-snp, tdx and plain,
/// the deployer owning the relay and the registry, the machine registry's attestation requests
/// going through the instruction sender)
/// from `deployer`, the provider's signing account, and sets `policy` (policy bytes,
/// docs/PROTOCOL.md §2) as the first signing policy when given.
pub async fn deploy_devnet(provider: DynProvider, deployer: Address, policy: Option<Bytes>) -> Result<Devnet> {
    let p = provider;
    let relay = DevRelay::deploy(p.clone(), deployer, HASH_SCHEME_CHAIN_BOUND, U256::from(MESSAGE_FINALIZATION_WINDOW))
        .await
        .context("deploying DevRelay")?;
    let platforms = vec![platform("sev-snp")?, platform("tdx")?, platform("plain")?];
    let extensions =
        TeeExtensionRegistry::deploy(p.clone(), deployer, platforms).await.context("deploying TeeExtensionRegistry")?;
    let machines = TeeMachineRegistry::deploy(p.clone(), *extensions.address(), *relay.address(), AVAILABILITY_PERIOD)
        .await
        .context("deploying TeeMachineRegistry")?;
    let verifier =
        TeeResultVerifier::deploy(p.clone(), *machines.address()).await.context("deploying TeeResultVerifier")?;
    let sender = TeeInstructionSender::deploy(p.clone(), *extensions.address(), *machines.address(), *relay.address())
        .await
        .context("deploying TeeInstructionSender")?;
    let bound = machines.setInstructionSender(*sender.address()).send().await?.get_receipt().await?;
    ensure!(bound.status(), "TeeMachineRegistry.setInstructionSender reverted");
    let backups = KeyBackupRegistry::deploy(p.clone(), *extensions.address(), *verifier.address())
        .await
        .context("deploying KeyBackupRegistry")?;
    if let Some(policy) = policy {
        let receipt = relay.setSigningPolicy(policy).send().await?.get_receipt().await?;
        ensure!(receipt.status(), "DevRelay.setSigningPolicy reverted");
    }
    Ok(Devnet { relay, extensions, machines, verifier, sender, backups })
}
