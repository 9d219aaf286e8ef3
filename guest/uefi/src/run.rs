//! After ExitBootServices, on our own stack: the core, as the ROM runs it on plain QEMU — the
//! `opt/fcc/...` settings (from the boot disk's settings file, else fw_cfg), entropy from the
//! CPU, a fresh TEE identity, one `READY` line, then the proxy link over virtio-net
//! (fcc-guest-platform's `net`, the NIC's BARs where the firmware put them). Its evidence is the labelled simulation, carrying the Authenticode
//! digest the firmware logged for this image as the measurement.

use alloc::vec::Vec;
use core::fmt;

use fcc_core::attester::{Simulated, SimulatedRom};
use fcc_core::{Config, Tee};
use fcc_guest_platform::config::{SettingsFile, TestFault};
use fcc_guest_platform::dma::DmaRegion;
use fcc_guest_platform::fw_cfg::FwCfg;
use fcc_guest_platform::pci::Bars;
use fcc_guest_platform::rng::HardwareRng;
use fcc_guest_platform::serial::Hex;
use fcc_guest_platform::{config, dma, interrupts, net, println, stop, tsc};
use rand_core::TryRng;

use crate::paging;

/// What `efi::main` took from the firmware before ExitBootServices.
pub struct Handover {
    /// The tops of the four interrupt stacks.
    pub interrupt_stacks: [u64; 4],
    /// The page below each stack (the main one, then the interrupt stacks): to unmap.
    pub guards: [u64; 5],
    /// The virtio DMA region.
    pub dma: DmaRegion,
    /// The SHA-384 Authenticode digest the firmware logged for this application (PCR 4's last
    /// EV_EFI_BOOT_SERVICES_APPLICATION), if it keeps a log.
    pub measured: Option<[u8; 48]>,
    /// The boot disk's `\EFI\fcc\settings`, if there is one (or why it did not read).
    pub settings: Result<Option<Vec<u8>>, &'static str>,
}

/// Prints `FATAL: <reason>` and halts.
pub fn fatal(reason: fmt::Arguments<'_>) -> ! {
    println!("FATAL: {reason}");
    halt()
}

macro_rules! fatal {
    ($($arg:tt)*) => { fatal(format_args!($($arg)*)) };
}

/// The core's boot on the edition's own stack (entered from `efi::main`, never returns).
pub extern "sysv64" fn main(handover: &'static Handover) -> ! {
    // Nothing of the firmware's runs from here on: no interrupt may reach its handlers, and
    // exceptions go to ours.
    x86_64::instructions::interrupts::disable();
    let [double_fault, nmi, machine_check, vc_ve] = handover.interrupt_stacks;
    let handlers = interrupts::Handlers { resumable: interrupts::nothing_resumes, redacted: not_redacted, stop: halt };
    // SAFETY: four 64 KiB stacks of LOADER_DATA pages `efi::main` took for them alone
    // (identity-mapped writable, still the loader's in the final map).
    unsafe { interrupts::init(interrupts::Stacks { double_fault, nmi, machine_check, vc_ve }, handlers) };
    stop::install(fatal);
    for guard in handover.guards {
        // SAFETY: one CPU, interrupts off, boot services gone: nothing else changes the page
        // tables; the guard pages were allocated as guards and nothing uses them.
        unsafe { paging::unmap(guard) }.unwrap_or_else(|e| fatal!("guard page {guard:#x}: {e}"));
    }
    // The boot disk's settings file if there is one (a cloud has no fw_cfg), else QEMU's fw_cfg.
    let settings = match &handover.settings {
        Err(why) => fatal!("settings file \\EFI\\fcc\\settings: {why}"),
        Ok(Some(bytes)) => {
            let mut file = SettingsFile::parse(bytes).unwrap_or_else(|e| fatal!("{e}"));
            println!("settings: \\EFI\\fcc\\settings on the boot disk");
            config::read(&mut file).unwrap_or_else(|e| fatal!("settings file: {e}"))
        }
        Ok(None) => match FwCfg::probe() {
            Some(mut fw) => config::read(&mut fw).unwrap_or_else(|e| fatal!("fw_cfg {e}")),
            None => fatal!("no settings: neither \\EFI\\fcc\\settings on the boot disk nor QEMU's fw_cfg"),
        },
    };
    let fault = settings.test_fault;
    if settings.test_redact || fault.is_some_and(|f| !matches!(f, TestFault::InvalidOpcode | TestFault::StackOverflow))
    {
        fatal!("of the ROM's test settings the UEFI edition has opt/fcc/test-fault=ud2 and stack-overflow only");
    }
    let mut rng = HardwareRng::new().unwrap_or_else(|e| fatal!("entropy: {e}"));
    let config =
        Config { chain_id: settings.chain_id, policy_hash: settings.policy_hash, registration: settings.registration };
    println!("chain {}, policy hash {:?}, entropy {}", config.chain_id, config.policy_hash, rng.source().name());
    let extensions = fcc_extensions::names();
    if !extensions.is_empty() {
        println!("extensions: {}", extensions.join(", "));
    }
    // No sealing: plain QEMU has no key to seal with, so each boot is a fresh identity.
    let registry = fcc_extensions::registry().unwrap_or_else(|e| fatal!("extensions: {e}"));
    let mut tee = Tee::new(config, &mut rng, registry).unwrap_or_else(|e| fatal!("TEE: {e}"));
    println!("READY tee=0x{} platform=plain", Hex(&tee.state().identity.address()));
    match fault {
        Some(TestFault::InvalidOpcode) => interrupts::raise_invalid_opcode(),
        Some(TestFault::StackOverflow) => {
            let depth = interrupts::overflow_stack();
            fatal!("recursed {depth} times without a fault");
        }
        _ => {}
    }

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

/// The edition prints full exception diagnostics: it runs on plain machines only.
fn not_redacted() -> bool {
    false
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
