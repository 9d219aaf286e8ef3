//! `fcc-image`: builds the guest ROM and boots it.
//!
//! * [`build`] — the guest kernel built with pinned flags, in its own target directory;
//! * [`rom`] — ELF → flat ROM image (the load segments at their physical addresses);
//! * [`qemu`] — the QEMU command line, accelerator choice and console reader used by the
//!   end-to-end tests (`tests/`, crate `fcc-e2e`) and by [`bench`];
//! * [`bench`] — `cargo xtask bench-boot`: ROM size and boot times.
//!
//! SEV-SNP launch digests, TDX MRTDs, IGVM output and the OVMF-style GUID tables come with the
//! measurements issue (see the marked spot in [`rom::from_elf`]).

pub mod bench;
pub mod build;
pub mod qemu;
pub mod rom;
