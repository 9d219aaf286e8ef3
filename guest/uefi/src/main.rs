//! `fcc-guest-uefi`: the guest as a UEFI application, for machines whose firmware is not ours
//! (GCP's TDX VMs run Google's firmware, measured in MRTD; the firmware measures the application
//! it starts into RTMR1 with its Authenticode SHA-384, which `fcc-image` predicts from source).
//!
//! This stage runs on plain machines (QEMU with OVMF): it takes its heap and a stack from the
//! firmware, writes the measured-boot event log (EFI_TCG2_PROTOCOL, crypto-agile format) to COM1
//! as hex so the host can check that the firmware measured exactly this image (`efi`), calls
//! ExitBootServices and then runs fcc-core as the ROM does on plain QEMU, with the same settings
//! and platform pieces (fcc-guest-platform), to one `READY` line (`run`). A TDX or SEV guest is
//! refused before ExitBootServices; the network is the next stage.
#![cfg_attr(target_os = "uefi", no_std)]
#![cfg_attr(target_os = "uefi", no_main)]

#[cfg(target_os = "uefi")]
extern crate alloc;

#[cfg(target_os = "uefi")]
mod efi;
#[cfg(target_os = "uefi")]
mod paging;
#[cfg(target_os = "uefi")]
mod run;

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("fcc-guest-uefi is a UEFI application: build it with `cargo run -p fcc-image -- efi`");
    std::process::exit(2);
}
