//! `fcc-image`: builds the guest ROM, measures it and boots it.
//!
//! * [`build`] — the guest kernel built with pinned flags, in its own target directory;
//! * [`rom`] — ELF → flat ROM image (the load segments at their physical addresses), with the
//!   GUID tables of [`tables`];
//! * [`tables`] — writes the OVMF-style GUID tables `fcc_layout::guid_tables` defines;
//! * [`ovmf`] — reads (and checks) the GUID tables of any image;
//! * [`snp`], [`tdx`], [`measure`] — SEV-SNP launch digests, TDX MRTDs, the JSON manifest;
//! * [`igvm`] — the IGVM form and the cross-check with the `igvm` crate's measurements;
//! * [`verify`] — a manifest, measurement, SNP report or TDX quote against this source;
//! * [`launch`] — a released ROM launched on plain QEMU, SEV-SNP or TDX, its configuration
//!   checked against the manifest and its expected measurement printed first;
//! * [`bench`] — `cargo xtask bench-boot`: ROM size and boot times (QEMU through `fcc-qemu`).

pub mod bench;
pub mod build;
pub mod efi;
pub mod igvm;
pub mod launch;
pub mod measure;
pub mod ovmf;
pub mod rom;
pub mod snp;
pub mod tables;
pub mod tdx;
pub mod verify;
