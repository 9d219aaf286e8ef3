//! `fcc-cvm-abi`: the confidential-VM interfaces the guest speaks, and the evidence layouts,
//! as safe code the host can test:
//!
//! * [`snp`] — AMD SEV-SNP: the SEV_STATUS MSR, the GHCB MSR protocol, the CPUID page and the
//!   C-bit check, page-state-change entries, and the encrypted guest messages (SNP_GUEST_REQUEST:
//!   attestation reports and derived keys) with AES-256-GCM under VMPCK0; the ATTESTATION_REPORT
//!   layout (`snp::report`);
//! * [`tdx`] — Intel TDX: TDCALL leaves and statuses, TDG.VP.INFO, the #VE information and its
//!   emulation through TDG.VP.VMCALL (CPUID, port I/O, MSRs, HLT, MMIO), MapGPA, GetQuote and
//!   ReportFatalError, the RTMR2 configuration record, the TDREPORT layout, the GetQuote buffer
//!   and the quote layout (`tdx::quote`);
//! * [`mmio`] — the MMIO instructions both platforms' exception handlers emulate;
//! * [`eventlog`] — the firmware's measured-boot event log (TCG crypto-agile, the TDX CCEL),
//!   its replay into RTMRs and the RTMR1 a UEFI boot of our application gives.
//!
//! The evidence layouts are defined here once: the kernel, `fcc-attest` and `fcc-image verify`
//! read reports and quotes through these views.
//!
//! The kernel (`fcc-guest`) owns the instructions (`vmgexit`, `pvalidate`, `rdmsr`/`wrmsr`,
//! `tdcall`) and the memory; everything that decides what to send or whether to believe an
//! answer lives here. Sources: AMD SEV-SNP Firmware ABI specification (#56860), GHCB
//! specification (#56421), Intel TDX Module ABI and GHCI specifications.
#![no_std]
#![forbid(unsafe_code)]

pub mod eventlog;
pub mod mmio;
pub mod snp;
pub mod tdx;
