//! `fcc-guest-uefi`: the guest as a UEFI application, for machines whose firmware is not ours
//! (GCP's TDX VMs run Google's firmware, measured in MRTD; the firmware measures the application
//! it starts into RTMR1 with its Authenticode SHA-384, which `fcc-image` predicts from source).
//!
//! This first stage proves the measurement chain: it reads the firmware's measured-boot event log
//! (EFI_TCG2_PROTOCOL, crypto-agile format) and writes it to COM1 as hex so the host can check
//! that the firmware measured exactly this image, calls ExitBootServices, says so and halts.
//! Running fcc-core after ExitBootServices (the ROM's platform layer) is the next stage; until
//! then this image never claims READY.
#![cfg_attr(target_os = "uefi", no_std)]
#![cfg_attr(target_os = "uefi", no_main)]

#[cfg(target_os = "uefi")]
mod efi;

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("fcc-guest-uefi is a UEFI application: build it with `cargo run -p fcc-image -- efi`");
    std::process::exit(2);
}
