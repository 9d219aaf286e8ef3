//! The platform layer: everything that differs between plain QEMU/KVM, AMD SEV-SNP and Intel TDX,
//! chosen once at boot ([`detect`]) and asked through [`Platform`]. Generic kernel code calls it
//! and never names SEV or TDX.
//!
//! | asks for | plain | SEV-SNP (`snp`) | TDX (`tdx`) |
//! | --- | --- | --- | --- |
//! | detection | neither found | reset path's C-bit + SEV_STATUS, GHCB | started in 32-bit mode, CPUID 0x21 |
//! | port I/O ([`Platform::ports`]) | `IN`/`OUT` | the GHCB | TDG.VP.VMCALL |
//! | private heap | nothing | page-state change, PVALIDATE | TDG.MEM.PAGE.ACCEPT |
//! | shared DMA region | nothing | C-bit cleared, page-state change | shared bit, MapGPA |
//! | runtime configuration | — | — (SNP has no RTMR) | extended into RTMR2 |
//! | TSC rate | PIT | PIT | CPUID 0x15 |
//! | evidence ([`Attester`]) | simulated | MSG_REPORT_REQ | TDREPORT → GetQuote |
//! | sealing root | public constant | MSG_KEY_REQ (measurement, policy) | none |
//! | #VC / #VE | never raised | `snp::handle_vc` | `tdx::handle_ve` |
//!
//! Neither `snp` nor `tdx` prints anything: they return errors this layer (or the exception
//! path) prints. A #VC or #VE where its platform is not active ends the guest at once. Both
//! emulate MMIO through `insn`.

mod insn;
mod plain;
mod snp;
mod tdx;

use alloc::vec::Vec;
use core::fmt;

use fcc_core::Config;
use fcc_core::attester::{EvidenceCache, PlatformKind, Simulated};
use fcc_core::policy::PolicyHashScheme;
use fcc_core::seal::{self, SealingKey};
use fcc_cvm_abi::tdx::VpInfo;
use fcc_guest_platform::config::ProxyAddr;
use fcc_guest_platform::frame::ExceptionFrame;
use fcc_guest_platform::port::{Native, PortIo};
use fcc_guest_platform::serial::Hex;
use fcc_guest_platform::tdx as td;
use fcc_guest_platform::{println, tsc};
use spin::Once;

use crate::start;

/// The platform this boot runs on, with what its detection found.
#[derive(Debug, Clone, Copy)]
pub enum Platform {
    /// Plain QEMU/KVM: no memory encryption, simulated evidence.
    Plain,
    /// An SEV-SNP guest with its GHCB registered.
    SevSnp(snp::Snp),
    /// A TD.
    Tdx(VpInfo),
}

static CURRENT: Once<Platform> = Once::new();

/// Finds the platform (SEV-SNP from the reset path's findings, else TDX, else plain) and sets it
/// up so port I/O works: SNP's GHCB, TDX's #VE handling and shared MMIO window. Call once, right
/// after the IDT is loaded and before any port I/O. A platform that claims to be confidential
/// but fails its checks ends the guest here (there is no console yet to say more).
pub fn detect(boot_flags: u64) -> Platform {
    *CURRENT.call_once(|| {
        if let Some(s) = snp::init(boot_flags) {
            Platform::SevSnp(s)
        } else if let Some(info) = tdx::init(boot_flags) {
            Platform::Tdx(info)
        } else {
            Platform::Plain
        }
    })
}

/// The platform [`detect`] found (plain before it ran).
pub fn current() -> Platform {
    CURRENT.get().copied().unwrap_or(Platform::Plain)
}

/// Why a platform operation failed.
#[derive(Debug)]
pub enum Error {
    /// SEV-SNP memory (page-state change, PVALIDATE).
    SnpMemory(snp::MemoryError),
    /// SEV-SNP guest request (report, derived key).
    SnpRequest(snp::AttestError),
    /// TDX (a TDCALL or TDG.VP.VMCALL).
    Tdx(td::TdxError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::SnpMemory(e) => write!(f, "SEV-SNP: {e}"),
            Error::SnpRequest(e) => write!(f, "SEV-SNP: {e}"),
            Error::Tdx(e) => write!(f, "TDX: {e}"),
        }
    }
}

/// Why a #VC or #VE was not handled.
#[derive(Debug)]
pub enum Refusal {
    /// SEV-SNP's #VC handler refused.
    Snp(snp::Refused),
    /// TDX's #VE handler refused.
    Tdx(td::Refused),
}

impl Refusal {
    /// What was refused, with nothing read from registers or memory.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Snp(r) => r.reason(),
            Refusal::Tdx(r) => r.reason(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Snp(r) => r.fmt(f),
            Refusal::Tdx(r) => r.fmt(f),
        }
    }
}

/// The #VE vector (TDX); the other resumable exception is #VC (29, SEV-SNP).
const VECTOR_VE: u64 = 20;

/// Emulates the instruction behind a #VC (SEV-SNP) or #VE (TDX): `Ok` when execution can resume
/// after it. The exception path calls this on IST4 for those two vectors only; each handler
/// ends the guest on a nested exception or where its platform is not active.
pub fn handle_resumable(frame: &mut ExceptionFrame) -> Result<(), Refusal> {
    if frame.vector == VECTOR_VE {
        td::handle_ve(frame).map_err(Refusal::Tdx)
    } else {
        snp::handle_vc(frame).map_err(Refusal::Snp)
    }
}

impl Platform {
    /// Which platform, as the core and the console name it.
    pub fn kind(self) -> PlatformKind {
        match self {
            Platform::Plain => PlatformKind::Plain,
            Platform::SevSnp(_) => PlatformKind::SevSnp,
            Platform::Tdx(_) => PlatformKind::Tdx,
        }
    }

    /// The boot log's description of the platform (and of a stale CPUID page the reset path
    /// found and ignored).
    pub fn describe(self, boot_flags: u64) -> Describe {
        Describe { platform: self, stale_cpuid_page: boot_flags & start::FLAG_STALE_CPUID_PAGE != 0 }
    }

    /// How to reach I/O ports without a #VC/#VE (the console and the exit device).
    pub fn ports(self) -> &'static dyn PortIo {
        match self {
            Platform::Plain => &Native,
            Platform::SevSnp(_) => &snp::GhcbPorts,
            Platform::Tdx(_) => &td::VmcallPorts,
        }
    }

    /// Ends the guest after a failure the console has reported: SEV-SNP and TDX ask the host to
    /// terminate it (a reason code, no more); plain QEMU halts.
    pub fn fail(self) -> ! {
        match self {
            Platform::SevSnp(_) => snp::fail(),
            Platform::Tdx(_) => td::report_fatal(td::fatal::FAILURE),
            Platform::Plain => plain::halt(),
        }
    }

    /// Whether the host is outside the guest's trust boundary (SEV-SNP, TDX): its console must
    /// then carry nothing read from registers or memory.
    pub fn is_confidential(self) -> bool {
        !matches!(self, Platform::Plain)
    }

    /// Stops the boot CPU for ever.
    pub fn halt(self) -> ! {
        match self {
            // HLT would raise #VE.
            Platform::Tdx(_) => td::halt(),
            Platform::Plain | Platform::SevSnp(_) => plain::halt(),
        }
    }

    /// Makes the heap private memory the guest may use (the launch covered only `EARLY_RAM`).
    /// Call before the heap is used.
    pub fn make_heap_private(self) -> Result<(), Error> {
        match self {
            Platform::Plain => Ok(()),
            Platform::SevSnp(_) => snp::validate_heap().map_err(Error::SnpMemory),
            Platform::Tdx(_) => tdx::accept_heap().map_err(Error::Tdx),
        }
    }

    /// Makes `SHARED_BUFFERS` visible to the host (virtio DMA, guest requests, GetQuote), before
    /// anything talks to the host.
    pub fn share_dma_region(self) -> Result<(), Error> {
        match self {
            Platform::Plain => Ok(()),
            Platform::SevSnp(_) => snp::share_dma_region().map_err(Error::SnpMemory),
            Platform::Tdx(_) => tdx::share_dma_region().map_err(Error::Tdx),
        }
    }

    /// Puts the runtime configuration this boot accepted into the measurement where the
    /// platform has a runtime register: TDX extends RTMR2 with `fcc_cvm_abi::tdx::config_record`
    /// (docs/PLATFORMS.md) and prints the measurements as the TDX module holds them, for the
    /// operator to compare with reproducible/MEASUREMENTS.json. Elsewhere nothing to do.
    pub fn measure_runtime_config(
        self,
        chain_id: u64,
        proxy: ProxyAddr,
        scheme: PolicyHashScheme,
    ) -> Result<(), Error> {
        let Platform::Tdx(_) = self else { return Ok(()) };
        let chain_bound = matches!(scheme, PolicyHashScheme::ChainBound { .. });
        td::measure_runtime_config(chain_id, proxy, chain_bound).map_err(Error::Tdx)
    }

    /// TSC ticks per second, if known (TDX: CPUID 0x15; elsewhere a 10 ms PIT calibration).
    pub fn tsc_frequency_hz(self) -> Option<u64> {
        match self {
            Platform::Tdx(_) => td::tsc_frequency_hz(),
            Platform::Plain | Platform::SevSnp(_) => tsc::pit_frequency_hz(),
        }
    }

    /// The core's source of evidence on this platform, once per boot (SEV-SNP: VMPCK0 moves from
    /// the secrets page into it). Needs the shared region ([`Platform::share_dma_region`]).
    pub fn attester(self) -> Attester {
        let taken = match self {
            Platform::Plain => Some(Source::Plain),
            Platform::SevSnp(_) => snp::attester().map(Source::SevSnp),
            Platform::Tdx(_) => tdx::attester().map(Source::Tdx),
        };
        // A second call finds the key gone: it gets evidence that verifies nowhere.
        Attester {
            source: taken.unwrap_or(Source::Simulated(Simulated)),
            platform: self,
            cache: EvidenceCache::new(),
            measured: None,
        }
    }

    /// The keys sealed state uses this boot, bound to `config` (`fcc_core::seal`): SEV-SNP's
    /// MSG_KEY_REQ (VCEK root, measurement, guest policy and TCB version) through `attester`,
    /// at this platform's COMMITTED_TCB to seal from now on and, where `blob` (handed back by the
    /// host) names another TCB, at that one to open it; plain QEMU's public, labelled key;
    /// `None` on TDX (no key is bound to MRTD without a key service).
    pub fn sealing_keys(
        self,
        attester: &mut Attester,
        config: &Config,
        blob: Option<&[u8]>,
    ) -> Result<Option<SealingKeys>, Error> {
        match (self, &mut attester.source) {
            (Platform::SevSnp(_), Source::SevSnp(a)) => {
                let committed = a.committed_tcb().map_err(Error::SnpRequest)?;
                let root = a.sealing_root(committed).map_err(Error::SnpRequest)?;
                let current = SealingKey::derive(&root, PlatformKind::SevSnp, committed, config);
                println!("SEV-SNP: sealing under the key at COMMITTED_TCB {}", Hex(&committed));
                let for_blob = match blob.and_then(seal::root_version) {
                    Some(tcb) if tcb != committed => match a.sealing_root(tcb) {
                        Ok(root) => Some(SealingKey::derive(&root, PlatformKind::SevSnp, tcb, config)),
                        // Above COMMITTED_TCB (the firmware refuses) or the request failed:
                        // the blob cannot open.
                        Err(e) => {
                            println!("SEV-SNP: no sealing key at the sealed state's TCB {}: {e}", Hex(&tcb));
                            None
                        }
                    },
                    _ => None,
                };
                Ok(Some(SealingKeys { current, for_blob }))
            }
            (Platform::Plain, _) => Ok(Some(SealingKeys { current: SealingKey::simulated(config), for_blob: None })),
            _ => Ok(None),
        }
    }
}

/// The keys sealed state uses this boot ([`Platform::sealing_keys`]).
pub struct SealingKeys {
    /// Seals from now on (SEV-SNP: at COMMITTED_TCB).
    pub current: SealingKey,
    /// Opens the blob the host handed back where it was sealed under another root version
    /// (SEV-SNP: an older COMMITTED_TCB, before a firmware update); `None`: `current` does.
    pub for_blob: Option<SealingKey>,
}

/// The platform as the boot log shows it (see [`Platform::describe`]).
#[derive(Debug, Clone, Copy)]
pub struct Describe {
    platform: Platform,
    stale_cpuid_page: bool,
}

impl fmt::Display for Describe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.platform {
            Platform::Plain => f.write_str("platform plain: no memory encryption, evidence and sealing simulated")?,
            Platform::SevSnp(s) => write!(
                f,
                "SEV-SNP: C-bit {}, SEV_STATUS {:#x}, GHCB protocol {}..={}, hypervisor features {:#x}",
                s.cbit, s.status.0, s.ghcb_versions.0, s.ghcb_versions.1, s.hv_features
            )?,
            Platform::Tdx(info) => write!(f, "{}", td::Describe(info))?,
        }
        if self.stale_cpuid_page {
            write!(
                f,
                "\nnote: a CPUID page claiming SEV at {:#x}, but SEV_STATUS says nothing is encrypted: booting as plain",
                fcc_layout::SNP_CPUID_PAGE.start
            )?;
        }
        Ok(())
    }
}

/// The platform's evidence for the core: the labelled simulation on plain QEMU, SEV-SNP
/// attestation reports, TD quotes — the last one cached for [`EvidenceCache::FRESH_S`].
pub struct Attester {
    source: Source,
    /// For the TSC frequency, asked only when the cache needs it.
    platform: Platform,
    cache: EvidenceCache,
    /// The launch measurement, once read.
    measured: Option<[u8; 48]>,
}

/// Where the evidence comes from.
enum Source {
    /// Plain QEMU: the labelled simulation, with the ROM's SHA-384 as the guest reads it.
    Plain,
    /// An attester asked for twice: the simulation without a measurement.
    Simulated(Simulated),
    /// MSG_REPORT_REQ under VMPCK0.
    SevSnp(snp::Attester),
    /// TDREPORT, then GetQuote.
    Tdx(td::Quoter),
}

impl fcc_core::attester::Attester for Attester {
    fn kind(&self) -> PlatformKind {
        match &self.source {
            Source::Plain => PlatformKind::Plain,
            Source::Simulated(s) => s.kind(),
            Source::SevSnp(_) => PlatformKind::SevSnp,
            Source::Tdx(_) => PlatformKind::Tdx,
        }
    }

    fn attest(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, fcc_core::Error> {
        if matches!(self.source, Source::Plain | Source::Simulated(_)) {
            // The labelled simulation (with the ROM's hash on plain QEMU): nothing to cache.
            let rom = self.measurement();
            return Ok(fcc_core::attester::simulated_evidence(report_data, rom.as_ref()));
        }
        // Without a TSC frequency nothing is cached (no age could be told).
        let max_age = self.platform.tsc_frequency_hz().map_or(0, |hz| EvidenceCache::FRESH_S.saturating_mul(hz));
        if let Some(evidence) = self.cache.get(report_data, tsc::now(), max_age) {
            return Ok(evidence.to_vec());
        }
        let evidence = match &mut self.source {
            Source::Plain | Source::Simulated(_) => {
                return Err(fcc_core::Error::OperationFailed { reason: "no hardware attester" });
            }
            Source::SevSnp(a) => a.report(report_data).map_err(|e| {
                println!("SEV-SNP attestation failed: {e}");
                fcc_core::Error::OperationFailed { reason: "SEV-SNP attestation report request failed" }
            })?,
            Source::Tdx(a) => a.quote(report_data).map_err(|e| {
                println!("TDX attestation failed: {e}");
                fcc_core::Error::OperationFailed { reason: "TDX quote request failed" }
            })?,
        };
        self.cache.put(report_data, &evidence, tsc::now());
        Ok(evidence)
    }

    fn measurement(&mut self) -> Option<[u8; 48]> {
        if self.measured.is_none() {
            self.measured = match &mut self.source {
                Source::Plain => Some(plain::rom_sha384()),
                Source::Simulated(_) => None,
                Source::SevSnp(a) => a.measurement().map_err(|e| println!("SEV-SNP measurement: {e}")).ok(),
                Source::Tdx(_) => td::measurement(None).map_err(|e| println!("TDX measurement: {e}")).ok(),
            };
        }
        self.measured
    }
}
