//! What both editions of the guest run on — the ROM (`fcc-guest`, from the reset vector) and the
//! UEFI edition (`fcc-guest-uefi`, after ExitBootServices): the `opt/fcc/...` settings from QEMU's
//! fw_cfg ([`config`], [`fw_cfg`]), entropy from RDSEED/RDRAND ([`rng`]), port I/O as a
//! capability ([`port`]), the COM1 console and `println!` ([`serial`]), the heap ([`heap`]), the
//! TSC ([`tsc`]), the CPU tables and exception diagnostics ([`interrupts`], [`frame`]), and the
//! network: PCI ([`pci`]), the virtio DMA layer ([`dma`]) and virtio-net under smoltcp with the
//! proxy link ([`net`]); Intel TDX at run time ([`tdx`]: TDCALL, the #VE handler, memory
//! acceptance and conversion, TDREPORT, GetQuote, RTMR2), the MMIO emulation both #VC and #VE use
//! ([`insn`]) and edits to identity-mapped page tables someone else built ([`paging`]: the UEFI
//! firmware's). How a fatal error ends the guest is the edition's ([`stop`]).
//!
//! The parsers and health checks are portable and host-tested; the device parts compile for
//! `x86_64-unknown-none` and `x86_64-unknown-uefi` only.
#![cfg_attr(not(test), no_std)]
// On the host only the portable parsers are compiled, for their tests.
#![cfg_attr(not(any(target_os = "none", target_os = "uefi")), allow(dead_code))]

extern crate alloc;

pub mod config;
pub mod dma;
pub mod fw_cfg;
pub mod paging;
pub mod pci;
pub mod rng;

#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod frame;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod heap;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod insn;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod interrupts;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod net;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod port;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod serial;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod stop;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod tdx;
#[cfg(any(target_os = "none", target_os = "uefi"))]
pub mod tsc;
