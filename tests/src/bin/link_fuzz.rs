//! `fcc-link-fuzz`: boots the guest ROM in QEMU and runs the link fuzzer (`fcc_e2e::link_fuzz`)
//! against it for as long as asked; exits non-zero if the guest restarted, answered a valid
//! action wrongly, or printed a panic, exception or fatal stop.
//! `cargo run -p fcc-e2e --bin fcc-link-fuzz -- --bursts 1000 --seed 7`

use anyhow::{Result, bail};
use clap::Parser;
use fcc_e2e::proxy::TestProxy;
use fcc_layout::interface::{EXCEPTION_PREFIX, FATAL_PREFIX, PANIC_PREFIX};

/// Fuzz the guest link of a guest booted in QEMU.
#[derive(Parser)]
struct Args {
    /// Hostile bursts to send (each on a connection of its own).
    #[arg(long, default_value_t = 200)]
    bursts: u64,
    /// Seed of the burst generator (a run is reproducible from it).
    #[arg(long, default_value_t = 0x21)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let proxy = TestProxy::bind()?;
    let (mut guest, tee) = fcc_e2e::boot_networked(proxy.port);
    let report = fcc_e2e::link_fuzz::run(&proxy, &mut guest, tee, args.seed, args.bursts)?;
    println!("{report}");
    let console = guest.console();
    for bad in [PANIC_PREFIX, EXCEPTION_PREFIX, FATAL_PREFIX] {
        if console.contains(bad) {
            bail!("the guest printed {bad:?}:\n{console}");
        }
    }
    if !report.passed() {
        bail!("the guest did not come through the fuzzer unharmed");
    }
    Ok(())
}
