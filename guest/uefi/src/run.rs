//! After ExitBootServices, on our own stack: the core, as the ROM runs it on plain QEMU — the
//! `opt/fcc/...` settings from fw_cfg, entropy from the CPU, a fresh TEE identity, one `READY`
//! line. The network (virtio-net under the firmware's PCI assignment) is the next stage: until
//! then the edition halts after READY.

use core::fmt;

use fcc_core::ops::Registry;
use fcc_core::{Config, Tee};
use fcc_guest_platform::config;
use fcc_guest_platform::fw_cfg::FwCfg;
use fcc_guest_platform::println;
use fcc_guest_platform::rng::HardwareRng;
use fcc_guest_platform::serial::Hex;

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
    let tee = Tee::new(config, &mut rng, Registry::system()).unwrap_or_else(|e| fatal!("TEE: {e}"));
    println!("READY tee=0x{} platform=plain edition=uefi", Hex(&tee.state().identity.address()));
    println!("fcc-guest-uefi: no network in this stage (virtio-net comes next): halting");
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
