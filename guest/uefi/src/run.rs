//! After ExitBootServices, on our own stack: the core, as the ROM runs it — the `opt/fcc/...`
//! settings (from the boot disk's settings file, else fw_cfg), entropy from the CPU, a fresh TEE
//! identity, one `READY` line, then the proxy link over virtio-net (fcc-guest-platform's `net`,
//! the NIC's BARs where the firmware put them).
//!
//! On a plain machine its evidence is the labelled simulation, carrying the Authenticode digest
//! the firmware logged for this image as the measurement. In a TD (`fcc_guest_platform::tdx`):
//! our #VE handler from the first instruction after the IDT, diagnostics redacted, the runtime
//! configuration extended into RTMR2 as the ROM does, the DMA region and the quote buffer
//! converted to shared (the shared bit in the firmware's page tables, then MapGPA), the NIC's
//! registers mapped shared and given to the #VE handler's MMIO windows (never over memory the
//! firmware's map describes), the TSC rate from CPUID, and TDX quotes as evidence with RTMR1 —
//! the firmware's measurement of this application on its disk — as the measurement.

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fcc_core::attester::{Attester, EvidenceCache, PlatformKind, Simulated, SimulatedRom};
use fcc_core::policy::PolicyHashScheme;
use fcc_core::{Config, Tee};
use fcc_guest_platform::config::{SettingsFile, TestFault};
use fcc_guest_platform::dma::DmaRegion;
use fcc_guest_platform::frame::ExceptionFrame;
use fcc_guest_platform::fw_cfg::FwCfg;
use fcc_guest_platform::pci::{Bars, Expose};
use fcc_guest_platform::rng::HardwareRng;
use fcc_guest_platform::serial::Hex;
use fcc_guest_platform::tdx::{self, Quoter, VeContext};
use fcc_guest_platform::{config, dma, interrupts, net, println, stop, tsc};
use fcc_layout::{PAGE_SIZE, Region};
use rand_core::TryRng;
use spin::Once;

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
    /// Where the firmware loaded this image.
    pub image: Region,
    /// Whether this is a TD.
    pub td: bool,
    /// In a TD: the GetQuote buffer (loader pages, still private).
    pub quote: Option<Region>,
    /// Every range the final memory map describes, MMIO apart: no device register may lie there.
    pub memory: Vec<Region>,
}

/// Set once, first thing after ExitBootServices.
static TD: AtomicBool = AtomicBool::new(false);
/// In a TD: the shared bit (TDG.VP.INFO).
static SHARED_BIT: AtomicU64 = AtomicU64::new(0);
/// The image's range and what the firmware's map describes (for [`bar_pages`]).
static IMAGE: Once<Region> = Once::new();
static MEMORY: Once<Vec<Region>> = Once::new();

/// Prints `FATAL: <reason>` and stops.
pub fn fatal(reason: fmt::Arguments<'_>) -> ! {
    println!("FATAL: {reason}");
    stop_failed()
}

macro_rules! fatal {
    ($($arg:tt)*) => { fatal(format_args!($($arg)*)) };
}

/// The core's boot on the edition's own stack (entered from `efi::main`, never returns).
pub extern "sysv64" fn main(handover: &'static Handover) -> ! {
    // Nothing of the firmware's runs from here on: no interrupt may reach its handlers, and
    // exceptions go to ours.
    x86_64::instructions::interrupts::disable();
    TD.store(handover.td, Ordering::SeqCst);
    IMAGE.call_once(|| handover.image);
    let [double_fault, nmi, machine_check, vc_ve] = handover.interrupt_stacks;
    let resumable = if handover.td { resume_ve } else { interrupts::nothing_resumes };
    let handlers = interrupts::Handlers { resumable, redacted, stop: stop_failed };
    // SAFETY: four 64 KiB stacks of LOADER_DATA pages `efi::main` took for them alone
    // (identity-mapped writable, still the loader's in the final map).
    unsafe { interrupts::init(interrupts::Stacks { double_fault, nmi, machine_check, vc_ve }, handlers) };
    stop::install(fatal);
    if handover.td {
        // Before anything that raises a #VE (the console does not: it uses TDG.VP.VMCALL).
        let info = tdx::vp_info().unwrap_or_else(|e| fatal!("TDG.VP.INFO: {e}"));
        let Some(bit) = info.shared_bit() else { fatal!("TDX: GPA width {}: no shared bit known", info.gpaw) };
        SHARED_BIT.store(bit, Ordering::SeqCst);
        tdx::init_ve(VeContext { shared_bit: bit, instruction_at });
        println!("{}", tdx::Describe(info));
    }
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
    if handover.td {
        // Measured before the TEE exists, as the ROM does.
        let chain_bound = matches!(settings.policy_hash, PolicyHashScheme::ChainBound { .. });
        tdx::measure_runtime_config(settings.chain_id, settings.proxy, chain_bound)
            .unwrap_or_else(|e| fatal!("measuring the runtime configuration: TDX: {e}"));
    }
    let mut rng = HardwareRng::new().unwrap_or_else(|e| fatal!("entropy: {e}"));
    let config =
        Config { chain_id: settings.chain_id, policy_hash: settings.policy_hash, registration: settings.registration };
    println!("chain {}, policy hash {:?}, entropy {}", config.chain_id, config.policy_hash, rng.source().name());
    let extensions = fcc_extensions::names();
    if !extensions.is_empty() {
        println!("extensions: {}", extensions.join(", "));
    }
    // No sealing: neither plain QEMU nor a TD has a key bound to this image without a key
    // service, so each boot is a fresh identity.
    let registry = fcc_extensions::registry().unwrap_or_else(|e| fatal!("extensions: {e}"));
    let mut tee = Tee::new(config, &mut rng, registry).unwrap_or_else(|e| fatal!("TEE: {e}"));
    let kind = if handover.td { PlatformKind::Tdx } else { PlatformKind::Plain };
    println!("READY tee=0x{} platform={}", Hex(&tee.state().identity.address()), kind.name());
    match fault {
        Some(TestFault::InvalidOpcode) => interrupts::raise_invalid_opcode(),
        Some(TestFault::StackOverflow) => {
            let depth = interrupts::overflow_stack();
            fatal!("recursed {depth} times without a fault");
        }
        _ => {}
    }

    let shared = [Region { start: handover.dma.queues.start, end: handover.dma.bounce.end }];
    for region in shared.iter().chain(handover.quote.as_ref()).filter(|_| handover.td) {
        share(*region).unwrap_or_else(|e| fatal!("sharing [{:#x}, {:#x}): {e}", region.start, region.end));
    }
    // SAFETY: LOADER_DATA pages the firmware gave this image alone before ExitBootServices
    // (`efi::main` checked they are still the loader's), identity-mapped writable (in a TD
    // shared just above: the host may write them, which is what they are for).
    unsafe { dma::init(handover.dma) }.unwrap_or_else(|e| fatal!("DMA region: {e}"));
    let hz = if handover.td { tdx::tsc_frequency_hz() } else { tsc::pit_frequency_hz() };
    let Some(hz) = hz else { fatal!("the TSC frequency is unknown: the network needs a clock") };
    let seed = rng.try_next_u64().unwrap_or_else(|e| fatal!("entropy: {e}"));
    let proxy = settings.proxy;
    MEMORY.call_once(|| handover.memory.clone());
    match (handover.quote, handover.measured) {
        (Some(buffer), _) => {
            // SAFETY: the quote buffer: loader pages of ours alone, page-aligned, shared above
            // (shared bit in its mappings, MapGPA), given to nothing else.
            let quoter = unsafe { Quoter::new(buffer, SHARED_BIT.load(Ordering::SeqCst)) };
            let mut attester = TdAttester { quoter, cache: EvidenceCache::new(), hz, rtmr1: None };
            print_boot_evidence(&tee, &mut attester);
            let clock = net::Clock::new(tsc::now(), hz);
            net::run(&mut tee, &mut attester, proxy, (Bars::Firmware, expose_bars as Expose), clock, seed);
        }
        (None, measured) => {
            let clock = net::Clock::new(tsc::now(), hz);
            let nic = (Bars::Firmware, outside_memory as Expose);
            match measured {
                Some(digest) => net::run(&mut tee, &mut SimulatedRom(digest), proxy, nic, clock, seed),
                None => net::run(&mut tee, &mut Simulated, proxy, nic, clock, seed),
            }
        }
    }
    println!("fcc-guest-uefi: halting");
    halt()
}

/// In a TD, the evidence a verifier needs without a network (a cloud's serial console is
/// readable by its operator): the statement the TEE makes at boot — `abi.encode(Attestation)`,
/// as the `Hello` carries it before any policy, challenge zero — and the TDX quote over it, as
/// hex lines (`fcc-image evidence` writes them to files). Nothing in either is secret; the quote
/// is cached, so the first `Hello` costs no second request.
fn print_boot_evidence(tee: &Tee, attester: &mut TdAttester) {
    let statement = tee.state().statement(PlatformKind::Tdx, &[0; 32], 0);
    match attester.attest(&statement.report_data()) {
        Ok(quote) => {
            println!("STATEMENT {}", Hex(&statement.encode()));
            print_block("QUOTE", &quote);
        }
        // Said by `attest`; the link serves the proxy without it.
        Err(_) => println!("TDX: no quote of the boot statement (the host has no quoting service?)"),
    }
}

/// Writes `bytes` to COM1 as a `<tag> BEGIN <len>`, `<tag> <hex>`…, `<tag> END` block (what
/// `fcc-image`'s console reader takes: the event log, the final events, the quote).
pub fn print_block(tag: &str, bytes: &[u8]) {
    println!("{tag} BEGIN {}", bytes.len());
    for line in bytes.chunks(64) {
        println!("{tag} {}", Hex(line));
    }
    println!("{tag} END");
}

/// The shared bit into the firmware's mappings of `region` (loader pages of ours), then MapGPA:
/// the host sees those pages from now on. Whatever they held stays private (the TDX module
/// removes the private pages; the host gets fresh ones).
fn share(region: Region) -> Result<(), &'static str> {
    let bit = SHARED_BIT.load(Ordering::SeqCst);
    // SAFETY: one CPU, interrupts off, boot services gone; `region` is loader pages `efi::main`
    // took for the host's use alone, which nothing has used yet.
    unsafe { paging::edit(region.start, region.end, &mut |e| *e |= bit) }.map_err(|_| "the page tables")?;
    tdx::map_gpa(region, bit).map_err(|_| "MapGPA failed")
}

/// The NIC's BARs, as whole pages, if none overlaps anything the firmware's memory map describes
/// (the host reports BARs: in a TD one placed over our memory would make that memory shared).
fn bar_pages(bars: &[Region]) -> Result<Vec<Region>, &'static str> {
    let memory = MEMORY.get().ok_or("no memory map")?;
    let pages: Vec<Region> = bars
        .iter()
        .map(|bar| Region { start: bar.start & !(PAGE_SIZE - 1), end: bar.end.next_multiple_of(PAGE_SIZE) })
        .collect();
    if pages.iter().any(|p| memory.iter().any(|m| m.start < p.end && p.start < m.end)) {
        return Err("a BAR overlaps memory the firmware's map describes");
    }
    Ok(pages)
}

/// On a plain machine the BARs are reachable as they are; only checked, as in a TD.
fn outside_memory(bars: &[Region]) -> Result<(), &'static str> {
    bar_pages(bars).map(drop)
}

/// In a TD: the NIC's BARs (whole pages, [`bar_pages`]) mapped shared and given to the #VE
/// handler as MMIO windows.
fn expose_bars(bars: &[Region]) -> Result<(), &'static str> {
    let bit = SHARED_BIT.load(Ordering::SeqCst);
    for pages in bar_pages(bars)? {
        // SAFETY: one CPU, interrupts off; `pages` holds device registers only (it overlaps no
        // memory the map describes, checked above), which nothing has mapped for use yet.
        unsafe { paging::edit(pages.start, pages.end, &mut |e| *e |= bit) }.map_err(|_| "the page tables")?;
        tdx::allow_mmio(pages)?;
    }
    Ok(())
}

/// TDX quotes as evidence (the last one cached for `EvidenceCache::FRESH_S`); RTMR1 — the
/// firmware's measurement of this application on its disk image — as the measurement.
struct TdAttester {
    quoter: Quoter,
    cache: EvidenceCache,
    /// TSC ticks per second.
    hz: u64,
    rtmr1: Option<[u8; 48]>,
}

impl Attester for TdAttester {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Tdx
    }

    fn attest(&mut self, report_data: &[u8; 64]) -> Result<Vec<u8>, fcc_core::Error> {
        let max_age = EvidenceCache::FRESH_S.saturating_mul(self.hz);
        if let Some(evidence) = self.cache.get(report_data, tsc::now(), max_age) {
            return Ok(evidence.to_vec());
        }
        let quote = self.quoter.quote(report_data).map_err(|e| {
            println!("TDX attestation failed: {e}");
            fcc_core::Error::OperationFailed { reason: "TDX quote request failed" }
        })?;
        self.cache.put(report_data, &quote, tsc::now());
        Ok(quote)
    }

    fn measurement(&mut self) -> Option<[u8; 48]> {
        if self.rtmr1.is_none() {
            self.rtmr1 = tdx::measurement(Some(1)).map_err(|e| println!("TDX measurement: {e}")).ok();
        }
        self.rtmr1
    }
}

/// The instruction bytes at `rip` (up to 15) if it lies in this image (the #VE handler's MMIO
/// emulation reads nothing else).
fn instruction_at(rip: u64) -> Option<&'static [u8]> {
    let image = IMAGE.get()?;
    if !image.contains(rip) {
        return None;
    }
    let len = (image.end - rip).min(15) as usize;
    // SAFETY: [rip, rip + len) lies in the loaded image: the firmware's LOADER_CODE pages,
    // identity-mapped and readable, never freed while we run.
    Some(unsafe { core::slice::from_raw_parts(core::ptr::with_exposed_provenance::<u8>(rip as usize), len) })
}

/// The #VE handler as the exception path wants it: true when execution resumes; else only the
/// refusal's reason is printed (a TD's diagnostics are redacted).
fn resume_ve(frame: &mut ExceptionFrame) -> bool {
    /// The #VE vector; #VC (29) is SEV's, never a TD's.
    const VECTOR_VE: u64 = 20;
    if frame.vector != VECTOR_VE {
        return false;
    }
    match tdx::handle_ve(frame) {
        Ok(()) => true,
        Err(why) => {
            println!("FATAL: {}", why.reason());
            false
        }
    }
}

/// A TD's diagnostics carry nothing read from registers or memory (the host can inject an
/// exception anywhere); a plain machine's carry everything.
fn redacted() -> bool {
    TD.load(Ordering::SeqCst)
}

/// Stops after a failure: a TD asks its host to end it (ReportFatalError); a plain machine halts.
fn stop_failed() -> ! {
    if TD.load(Ordering::SeqCst) {
        tdx::report_fatal(tdx::fatal::FAILURE);
    }
    halt()
}

/// Stops this CPU for good (in a TD HLT is a TDG.VP.VMCALL: the instruction would raise #VE).
fn halt() -> ! {
    x86_64::instructions::interrupts::disable();
    if TD.load(Ordering::SeqCst) {
        tdx::halt();
    }
    loop {
        x86_64::instructions::hlt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    stop::print_panic(info, redacted());
    stop_failed()
}
