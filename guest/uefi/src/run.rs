//! After ExitBootServices, on our own stack: the core, as the ROM runs it on plain QEMU — the
//! `opt/fcc/...` settings from fw_cfg, entropy from the CPU, a fresh TEE identity, one `READY`
//! line, then the proxy link over virtio-net (fcc-guest-platform's `net`, the NIC's BARs where
//! the firmware put them). Its evidence is the labelled simulation, carrying the Authenticode
//! digest the firmware logged for this image as the measurement.

use core::fmt;

use fcc_core::attester::{Simulated, SimulatedRom};
use fcc_core::ops::Registry;
use fcc_core::{Config, Tee};
use fcc_guest_platform::fw_cfg::FwCfg;
use fcc_guest_platform::pci::Bars;
use fcc_guest_platform::rng::HardwareRng;
use fcc_guest_platform::serial::Hex;
use fcc_guest_platform::{config, dma, net, println, stop, tsc};
use rand_core::TryRng;

use crate::efi;

/// Prints `FATAL: <reason>` and halts.
pub fn fatal(reason: fmt::Arguments<'_>) -> ! {
    println!("FATAL: {reason}");
    halt()
}

macro_rules! fatal {
    ($($arg:tt)*) => { fatal(format_args!($($arg)*)) };
}

/// The core's boot on the edition's own stack (entered from `efi::main`, never returns).
pub extern "sysv64" fn main() -> ! {
    // Nothing of the firmware's runs from here on: no interrupt may reach its handlers.
    x86_64::instructions::interrupts::disable();
    stop::install(fatal);
    let handover = efi::handover();
    let Some(mut fw) = FwCfg::probe() else {
        fatal!("no QEMU fw_cfg device: this stage reads its settings from fw_cfg (QEMU) only")
    };
    let settings = config::read(&mut fw).unwrap_or_else(|e| fatal!("{e}"));
    if settings.test_fault.is_some() || settings.test_redact {
        fatal!("opt/fcc/test-fault and opt/fcc/test-redact are the ROM's test settings: not in the UEFI edition");
    }
    let mut rng = HardwareRng::new().unwrap_or_else(|e| fatal!("entropy: {e}"));
    let config =
        Config { chain_id: settings.chain_id, policy_hash: settings.policy_hash, registration: settings.registration };
    println!("chain {}, policy hash {:?}, entropy {}", config.chain_id, config.policy_hash, rng.source().name());
    // No sealing: plain QEMU has no key to seal with, so each boot is a fresh identity.
    let mut tee = Tee::new(config, &mut rng, Registry::system()).unwrap_or_else(|e| fatal!("TEE: {e}"));
    println!("READY tee=0x{} platform=plain", Hex(&tee.state().identity.address()));

    // SAFETY: LOADER_DATA pages the firmware gave this image alone before ExitBootServices
    // (`efi::main` checked they are still the loader's), identity-mapped writable.
    unsafe { dma::init(handover.dma) }.unwrap_or_else(|e| fatal!("DMA region: {e}"));
    let Some(hz) = tsc::pit_frequency_hz() else { fatal!("no PIT to calibrate the TSC: the network needs a clock") };
    let seed = rng.try_next_u64().unwrap_or_else(|e| fatal!("entropy: {e}"));
    let clock = net::Clock::new(tsc::now(), hz);
    match handover.measured {
        Some(digest) => net::run(&mut tee, &mut SimulatedRom(digest), settings.proxy, Bars::Firmware, clock, seed),
        None => net::run(&mut tee, &mut Simulated, settings.proxy, Bars::Firmware, clock, seed),
    }
    println!("fcc-guest-uefi: halting");
    halt()
}

/// Stops this CPU for good.
fn halt() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => println!("PANIC: {} at {}:{}", info.message(), at.file(), at.line()),
        None => println!("PANIC: {}", info.message()),
    }
    halt()
}
