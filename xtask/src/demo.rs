//! The in-process end-to-end demo: what the devnet will do with a real guest, proxy and chain,
//! done here with the core alone. Every step is checked; a failure is an error, not a message.

use std::time::Instant;

use anyhow::{Result, bail, ensure};
use fcc_core::attester::Simulated;
use fcc_core::hash::keccak256;
use fcc_core::ops::Registry;
use fcc_core::policy::PolicyHashScheme;
use fcc_core::result::status;
use fcc_core::{Config, Tee};
use fcc_sim_providers as sim;

const CHAIN_ID: u64 = 14;

fn ms(t: Instant) -> String {
    format!("{:8.2} ms", t.elapsed().as_secs_f64() * 1e3)
}

pub fn run(n: usize) -> Result<()> {
    ensure!((3..=300).contains(&n), "--voters must be in 3..=300");
    println!("fcc-unikernel demo: the verify-and-sign core in-process (no guest VM, proxy or chain yet)");
    println!("platform: simulated (plain); chain id {CHAIN_ID}; policy hash: chain-bound Relay");
    if cfg!(debug_assertions) {
        println!("(timings from a debug build with its checks on; `cargo xtask bench` measures the optimised core)");
    }
    let ps = sim::providers("fcc demo provider", n)?;
    let mut platform = Simulated;
    let t = Instant::now();
    let config = Config {
        chain_id: CHAIN_ID,
        policy_hash: PolicyHashScheme::ChainBound { chain_id: CHAIN_ID },
        registration: None,
    };
    let mut tee = Tee::new(config, &mut rand::rng(), Registry::system())?;
    let tee_id = tee.state().identity.address();
    println!("{}  TEE booted: id 0x{}", ms(t), hex::encode(tee_id));

    // 1. Trust root.
    let p1 = sim::policy(&ps, 100)?;
    let t = Instant::now();
    let r = tee.handle(&sim::initialize_policy(&ps, &p1)?, &mut platform);
    ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
    println!(
        "{}  policy epoch 100 trusted: {n} voters, total weight {}, threshold {} (keys cached)",
        ms(t),
        p1.total_weight(),
        p1.threshold()
    );

    // 2. An FDC2 proof signed by every provider.
    let mut instruction = sim::fdc2_instruction(tee_id, "fdc2 #1", 100);
    println!(
        "          event: TeeInstructionsSent F_FDC2/PROVE id 0x{}",
        hex::encode(&instruction.instruction_id[..8])
    );
    let t = Instant::now();
    let all: Vec<usize> = (0..n).collect();
    let action = sim::signed(&ps, &all, instruction.clone(), CHAIN_ID)?;
    println!("{}  {n} provider signatures made (weight {} > threshold {})", ms(t), p1.total_weight(), p1.threshold());
    let t = Instant::now();
    let r = tee.handle(&action, &mut platform);
    ensure!(r.result.status == status::SUCCESS, "PROVE refused: {}", r.result.log);
    println!("{}  guest verified {n} signatures and signed the result", ms(t));
    ensure!(sim::result_signer(&r, CHAIN_ID)? == tee_id, "result signature does not recover to the TEE");
    println!("          result signature recovers to the TEE id (checked with libsecp256k1)");

    // 3. The proxy delivers the same instruction again (as after a lost link): the guest answers
    // with the very same signed result and executes nothing twice.
    let again = tee.handle(&action, &mut platform);
    ensure!(again == r, "a re-delivered instruction produced a different result");
    ensure!(tee.authorise(&action) == Err(fcc_core::Error::Replayed), "instruction id not recorded as executed");
    println!("          re-delivered instruction: same signed result, not executed again");

    // 4. Policy rotation signed by the current voters.
    let mut next = sim::providers("fcc demo provider", n)?;
    next.rotate_left(1);
    let p2 = sim::policy(&next, 101)?;
    let t = Instant::now();
    let r = tee.handle(&sim::update_policy(&ps, &next, &p2, config.policy_hash)?, &mut platform);
    ensure!(r.result.status == status::SUCCESS, "UPDATE_POLICY refused: {}", r.result.log);
    println!("{}  policy rotated to epoch 101 (signed by epoch 100's voters)", ms(t));

    // 5. Below the threshold: the lightest voters, just not enough weight.
    instruction.instruction_id = keccak256(b"fdc2 #2");
    instruction.reward_epoch_id = 101;
    let (signers, weight) = sim::below_threshold(&p2);
    let action = sim::signed(&next, &signers, instruction, CHAIN_ID)?;
    let r = tee.handle(&action, &mut platform);
    if r.result.status != status::ERROR {
        bail!("below-threshold instruction was executed");
    }
    ensure!(sim::result_signer(&r, CHAIN_ID)? == tee_id, "refusal is not signed by the TEE");
    println!("          below-threshold instruction (weight {weight}) refused: {}", r.result.log);
    println!("demo passed");
    Ok(())
}
