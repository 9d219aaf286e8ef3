//! What every stage of the devnet's run shares: its constants, the printed trace, and sending
//! transactions and instructions to the chain.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use anyhow::{Context, Result, ensure};
use fcc_chain::{Config as ChainConfig, Event};
use fcc_contracts::Devnet;

/// The devnet's chain id (the guest's default; Flare mainnet's).
pub const CHAIN_ID: u64 = fcc_layout::interface::DEFAULT_CHAIN_ID;
/// The first signing policy's reward epoch.
pub const EPOCH: u32 = 100;
/// The extension the devnet creates (the registry's first).
pub const EXTENSION: U256 = U256::from_limbs([1, 0, 0, 0]);
/// The code version the guest is registered under. It is not a measurement: a plain QEMU guest
/// has no attestation, so anyone could run anything under this version. Test mode only.
pub const TEST_MODE_VERSION: &str = "TEST-MODE plain QEMU, unattested (devnet only)";
/// How long the devnet waits for one step before it gives up.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(180);
/// The printed trace: each line with the time since the previous line and since the start.
#[derive(Debug)]
pub struct Trace {
    start: Instant,
    last: Mutex<Instant>,
}

impl Trace {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Self { start: now, last: Mutex::new(now) }
    }

    /// Prints `what` with the time it took since the previous line.
    pub fn step(&self, what: impl std::fmt::Display) {
        let now = Instant::now();
        let mut last = self.last.lock().expect("trace lock");
        let took = now - *last;
        *last = now;
        println!("{:>9.1} ms  {:>8.2} s  {what}", took.as_secs_f64() * 1e3, (now - self.start).as_secs_f64());
    }

    /// Prints `what` without a time (detail of the previous step).
    pub fn note(&self, what: impl std::fmt::Display) {
        println!("{:>22}{what}", "");
    }
}

/// An operation name as `bytes32` (right-padded).
pub fn op(name: &str) -> B256 {
    B256::right_padding_from(name.as_bytes())
}

/// Sends `call` (its sender set with `.from`) with a quarter more gas than estimated, and fails
/// unless its transaction succeeded; its hash. The headroom is what wallets give: the estimate
/// runs on the latest block, and a call whose cost depends on the block it lands in runs out of
/// gas without it — `confirmAvailability` within the second of the previous confirmation writes
/// the value already stored (`block.timestamp + period`), which costs less (seen here: 3 of 24
/// devnet runs failed so, gas used = the estimate).
pub async fn send_ok<T>(what: &str, call: alloy::contract::CallBuilder<&DynProvider, T>) -> Result<B256>
where
    T: alloy::contract::CallDecoder + Unpin,
{
    ensure!(call.as_ref().from.is_some(), "{what}: the sender is not set (the estimate needs it)");
    // On the pending block, as the transaction will run (a call naming the latest block's hash
    // needs to run after it).
    let call = call.block(alloy::eips::BlockId::pending());
    let estimate = call.estimate_gas().await.with_context(|| format!("{what}: estimating gas"))?;
    let limit = estimate + estimate / 4;
    let call = call.gas(limit);
    let receipt = call.send().await.with_context(|| what.to_string())?.get_receipt().await?;
    if !receipt.status() {
        // The reason: the same call replayed on the state the transaction ran on (anvil mines
        // one transaction per block).
        let parent = receipt.block_number.and_then(|n| n.checked_sub(1)).unwrap_or_default();
        let replay = call.block(parent.into()).call_raw().await;
        anyhow::bail!(
            "{what} reverted (gas used {} of {limit}; replayed on block {parent}: {replay:?})",
            receipt.gas_used
        );
    }
    Ok(receipt.transaction_hash)
}

/// Sends `op_type/op_command` with `message` (and `cosigners` with their threshold) for `tee_id`
/// through the instruction contract from `from`; returns the event it emitted.
pub async fn send_instruction(
    trace: &Trace,
    net: &Devnet,
    tee_id: Address,
    from: Address,
    operation: (&str, &str),
    message: Vec<u8>,
    cosigners: (Vec<Address>, u64),
) -> Result<fcc_chain::InstructionEvent> {
    send_instruction_to(trace, net, vec![tee_id], from, operation, message, cosigners).await
}

/// As [`send_instruction`], for several TEEs at once (one event, one id: each executes it).
pub async fn send_instruction_to(
    trace: &Trace,
    net: &Devnet,
    tee_ids: Vec<Address>,
    from: Address,
    operation: (&str, &str),
    message: Vec<u8>,
    cosigners: (Vec<Address>, u64),
) -> Result<fcc_chain::InstructionEvent> {
    send_for(trace, net, EXTENSION, tee_ids, from, operation, message, cosigners).await
}

/// As [`send_instruction_to`], for the machines of `extension`.
#[allow(clippy::too_many_arguments)]
pub async fn send_for(
    trace: &Trace,
    net: &Devnet,
    extension: U256,
    tee_ids: Vec<Address>,
    from: Address,
    (op_type, op_command): (&str, &str),
    message: Vec<u8>,
    (cosigners, threshold): (Vec<Address>, u64),
) -> Result<fcc_chain::InstructionEvent> {
    let call = net
        .sender
        .sendInstructions(extension, tee_ids, op(op_type), op(op_command), message.into(), cosigners, threshold, from)
        .from(from);
    let tx = send_ok("sendInstructions", call).await?;
    let receipt = net.sender.provider().get_transaction_receipt(tx).await?.context("sendInstructions: no receipt")?;
    let config = ChainConfig::new(*net.relay.address(), *net.sender.address());
    let event = receipt
        .logs()
        .iter()
        .find_map(|l| match fcc_chain::decode(l, &config) {
            Ok(Some(Event::Instruction(i))) => Some(i),
            _ => None,
        })
        .context("no TeeInstructionsSent in the receipt")?;
    trace.step(format!(
        "event: TeeInstructionsSent {op_type}/{op_command} id {} epoch {} (block {})",
        event.instruction_id,
        event.reward_epoch_id,
        receipt.block_number.unwrap_or_default()
    ));
    Ok(*event)
}
