//! `fcc-guest`: the FCC unikernel. It boots straight from a ROM that QEMU loads with `-bios`
//! (`boot/reset.s`: reset vector → long mode), sets up the console, CPU tables, RAM and entropy,
//! creates the TEE (resumed from sealed state when the host hands back a blob that opens, else a
//! fresh identity key), prints one `READY` line and then serves the
//! host proxy over virtio-net (`net`).
//!
//! Boot order in [`fcc_kernel_main`]: serial console → GDT/TSS/IDT (from here on every fault is
//! reported) → fw_cfg → RAM check against `etc/e820` → heap → settings → RNG → `fcc_core::Tee`
//! → `READY tee=0x… platform=plain` → boot time → test hooks → PCI, virtio-net, DHCP and the
//! proxy link, for ever (`net::run`; without a NIC: `NET none`, halt).
//!
//! The memory map and ROM layout are in `fcc-layout`; the exact QEMU command is in this crate's
//! README. On the host this crate builds a stub `main`, so that `cargo test --workspace` runs the
//! unit tests of the portable parts (fw_cfg and e820 parsing, settings, RNG health checks, BAR
//! placement and capability walks, DMA bounce slots).
#![cfg_attr(target_os = "none", no_std, no_main)]
// On the host only the portable parsers are compiled, for their tests; nothing calls them.
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

extern crate alloc;

mod config;
mod dma;
mod fw_cfg;
mod memory;
mod pci;
mod rng;

#[cfg(target_os = "none")]
mod exit;
#[cfg(target_os = "none")]
mod interrupts;
#[cfg(target_os = "none")]
mod net;
#[cfg(target_os = "none")]
mod serial;
#[cfg(target_os = "none")]
mod sev;
#[cfg(target_os = "none")]
mod start;
#[cfg(target_os = "none")]
mod tdx;
#[cfg(target_os = "none")]
mod tsc;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("fcc-guest runs only as the guest ROM (x86_64-unknown-none): build it with `cargo xtask image`");
    std::process::exit(2);
}

#[cfg(target_os = "none")]
pub use kernel::fatal;

#[cfg(target_os = "none")]
mod kernel {
    use core::fmt;
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use fcc_core::ops::Registry;
    use fcc_core::platform::{Platform, PlatformKind, Simulated};
    use fcc_core::seal::SealingKey;
    use fcc_core::{Config, Tee};
    use fcc_layout::interface::{
        DEFAULT_CHAIN_ID, DEFAULT_PROXY, FW_CFG_CHAIN_ID, FW_CFG_POLICY_HASH, FW_CFG_PROXY, FW_CFG_SEALED_STATE,
        FW_CFG_TEST_EXIT, FW_CFG_TEST_FAULT,
    };
    use fcc_layout::{MIB, MIN_RAM_END};
    use rand_core::TryRng;

    use crate::config::{self, Invalid, TestFault};
    use crate::exit::{self, Outcome};
    use crate::fw_cfg::FwCfg;
    use crate::memory::{self, E820_ENTRY_LEN, MAX_E820_ENTRIES};
    use crate::rng::HardwareRng;
    use crate::{interrupts, net, println, serial, sev, start, tdx, tsc};

    /// Prints `FATAL: <reason>` and stops (exits QEMU with the failure status under tests).
    pub fn fatal(reason: fmt::Arguments<'_>) -> ! {
        println!("FATAL: {reason}");
        exit::stop(Outcome::Failure)
    }

    macro_rules! fatal {
        ($($arg:tt)*) => { $crate::fatal(format_args!($($arg)*)) };
    }

    /// Lower-case hex of a byte string.
    struct Hex<'a>(&'a [u8]);

    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }

    /// A .data value and a .bss value: the start-up code must have copied the one from the ROM
    /// and zeroed the other (read volatile, so the compiler cannot assume the initialisers).
    const DATA_PATTERN: u64 = 0x0123_4567_89ab_cdef;
    static DATA_CHECK: AtomicU64 = AtomicU64::new(DATA_PATTERN);
    static BSS_CHECK: AtomicU64 = AtomicU64::new(0);

    fn data_and_bss_initialised() -> bool {
        // SAFETY: both pointers come from live statics; volatile reads of an atomic's storage on
        // the only running CPU race with nothing.
        let (data, bss) =
            unsafe { (core::ptr::read_volatile(DATA_CHECK.as_ptr()), core::ptr::read_volatile(BSS_CHECK.as_ptr())) };
        data == DATA_PATTERN && bss == 0
    }

    /// Bytes reserved for one `opt/fcc/...` setting.
    const SETTING_MAX: usize = 64;

    /// Reads the fw_cfg file `name` if present; too long is fatal.
    fn setting<'a>(fw: &mut FwCfg, name: &str, buf: &'a mut [u8; SETTING_MAX]) -> Option<&'a [u8]> {
        let file = fw.find(name)?;
        match fw.read(file, buf) {
            Ok(raw) => Some(raw),
            Err(_) => fatal!("fw_cfg {name}: longer than {SETTING_MAX} bytes"),
        }
    }

    fn parsed<T>(name: &str, value: Result<T, Invalid>) -> T {
        value.unwrap_or_else(|Invalid(why)| fatal!("fw_cfg {name}: {why}"))
    }

    /// The Rust entry point, called once by `boot/reset.s` on the boot CPU in long mode, with
    /// the TSC read at the reset vector and the boot flags (`start::FLAG_*`).
    #[unsafe(no_mangle)]
    extern "C" fn fcc_kernel_main(reset_tsc: u64, boot_flags: u64) -> ! {
        let main_tsc = tsc::now();
        // The IDT first: under SEV-SNP the #VC handler must exist before any port I/O, and the
        // GHCB before the console (`sev::init` terminates the guest if SNP is not sound).
        interrupts::init();
        let snp = sev::init(boot_flags);
        // TDX likewise: #VE handling and the shared MMIO window before the console.
        let td = tdx::init(boot_flags);
        serial::init();
        if !data_and_bss_initialised() {
            fatal!("the start-up code did not copy .data or zero .bss");
        }
        let nx = if boot_flags & start::FLAG_NX != 0 { "on" } else { "off" };
        println!("fcc-guest {}: long mode, NX {nx}", env!("CARGO_PKG_VERSION"));
        let platform = match snp {
            Some(s) => {
                println!(
                    "SEV-SNP: C-bit {}, SEV_STATUS {:#x}, GHCB protocol {}..={}, hypervisor features {:#x}",
                    s.cbit, s.status.0, s.ghcb_versions.0, s.ghcb_versions.1, s.hv_features
                );
                PlatformKind::SevSnp
            }
            None => PlatformKind::Plain,
        };
        let platform = match td {
            Some(info) => {
                println!(
                    "TDX: GPA width {}, TD attributes {:#x}{}, vCPUs {}/{}",
                    info.gpaw,
                    info.attributes,
                    if info.debug() { " (DEBUG: not confidential)" } else { "" },
                    info.num_vcpus,
                    info.max_vcpus
                );
                PlatformKind::Tdx
            }
            None => platform,
        };
        if boot_flags & start::FLAG_STALE_CPUID_PAGE != 0 {
            println!(
                "note: a CPUID page claiming SEV at {:#x}, but SEV_STATUS says nothing is encrypted: booting as plain",
                fcc_layout::SNP_CPUID_PAGE.start
            );
        }

        let Some(mut fw) = FwCfg::probe() else { fatal!("no QEMU fw_cfg device: cannot read the memory map") };
        if fw.find(FW_CFG_TEST_EXIT).is_some() {
            exit::enable_test_exit();
        }

        // RAM: every region the kernel uses must be RAM, then the heap can be handed out.
        let mut e820 = [0u8; MAX_E820_ENTRIES * E820_ENTRY_LEN];
        let Some(file) = fw.find("etc/e820") else { fatal!("fw_cfg has no etc/e820 memory map") };
        let Ok(raw) = fw.read(file, &mut e820) else { fatal!("etc/e820 has more than {MAX_E820_ENTRIES} entries") };
        if let Some(missing) = memory::first_missing_ram(raw) {
            fatal!(
                "RAM too small: {} [{:#x}, {:#x}) is not RAM in the e820 map; the guest needs RAM up to {} MiB (QEMU -m {}M or more)",
                missing.name,
                missing.region.start,
                missing.region.end,
                MIN_RAM_END / MIB,
                MIN_RAM_END / MIB,
            );
        }
        if let Err(why) = sev::validate_heap() {
            fatal!("SEV-SNP: making the heap private: {why}");
        }
        if let Err(why) = tdx::accept_heap() {
            fatal!("TDX: accepting the heap: {why}");
        }
        if let Err(why) = memory::init_heap() {
            fatal!("heap: {why}");
        }

        // Settings.
        let mut buf = [0u8; SETTING_MAX];
        let chain_id = match setting(&mut fw, FW_CFG_CHAIN_ID, &mut buf) {
            Some(raw) => parsed(FW_CFG_CHAIN_ID, config::parse_chain_id(raw)),
            None => DEFAULT_CHAIN_ID,
        };
        let policy_hash = match setting(&mut fw, FW_CFG_POLICY_HASH, &mut buf) {
            Some(raw) => parsed(FW_CFG_POLICY_HASH, config::parse_policy_hash(raw, chain_id)),
            None => fcc_core::policy::PolicyHashScheme::ChainBound { chain_id },
        };
        let test_fault = setting(&mut fw, FW_CFG_TEST_FAULT, &mut buf)
            .map(|raw| parsed(FW_CFG_TEST_FAULT, config::parse_test_fault(raw)));
        let proxy = match setting(&mut fw, FW_CFG_PROXY, &mut buf) {
            Some(raw) => parsed(FW_CFG_PROXY, config::parse_proxy(raw)),
            None => parsed(FW_CFG_PROXY, config::parse_proxy(DEFAULT_PROXY.as_bytes())),
        };

        // TDX: the runtime configuration this boot accepted goes into RTMR2 before the TEE exists
        // (the exact record: `fcc_platform::tdx::config_record`, docs/PLATFORMS.md).
        if tdx::active() {
            let chain_bound = matches!(policy_hash, fcc_core::policy::PolicyHashScheme::ChainBound { .. });
            let record = fcc_platform::tdx::config_record(chain_id, proxy.ip, proxy.port, chain_bound);
            tdx::extend_rtmr(&record).unwrap_or_else(|e| fatal!("TDX: RTMR2 extend: {e}"));
            println!("TDX: RTMR2 extended with the runtime configuration");
            // The measurements as the TDX module holds them, for the operator to compare with
            // reproducible/MEASUREMENTS.json and the expected RTMR2 (docs/PLATFORMS.md).
            let report = tdx::tdreport(&[0; 64]).unwrap_or_else(|e| fatal!("TDX: TDG.MR.REPORT: {e}"));
            let Some(r) = fcc_platform::tdx::TdReport::new(&report[..]) else { fatal!("TDX: short TDREPORT") };
            println!("TDX: MRTD {}", Hex(r.mrtd()));
            println!(
                "TDX: RTMR0 {} RTMR1 {} RTMR2 {} RTMR3 {}",
                Hex(r.rtmr(0)),
                Hex(r.rtmr(1)),
                Hex(r.rtmr(2)),
                Hex(r.rtmr(3))
            );
        }

        // The shared (host-visible) region before anything talks to the host: virtio DMA and,
        // under SEV-SNP, the guest-request pages the sealing key is asked through.
        if let Err(e) = crate::dma::convert_to_shared() {
            fatal!("sharing the DMA region: {e}");
        }
        let mut snp_attester = sev::attester();

        // Entropy, then the TEE: resumed from sealed state when the host hands back a blob that
        // opens, else with a fresh identity.
        let mut rng = HardwareRng::new().unwrap_or_else(|e| fatal!("entropy: {e}"));
        println!("chain {chain_id}, policy hash {policy_hash:?}, entropy {}", rng.source().name());
        let config = Config { chain_id, policy_hash };
        let sealing = match (&mut snp_attester, platform) {
            (Some(a), _) => match a.sealing_root() {
                Ok(root) => Some(SealingKey::derive(&root, PlatformKind::SevSnp, &config)),
                Err(e) => fatal!("SEV-SNP: sealing key (MSG_KEY_REQ): {e}"),
            },
            (None, PlatformKind::Plain) => Some(SealingKey::simulated(&config)),
            // TDX has no key derivable from the measurement without a key service.
            (None, _) => None,
        };
        let mut blob = [0u8; SEALED_BLOB_MAX];
        let blob = match fw.find(FW_CFG_SEALED_STATE) {
            Some(file) => match fw.read(file, &mut blob) {
                Ok(b) => (!b.is_empty()).then_some(b),
                Err(_) => {
                    println!("SEALED refused (the file is longer than {SEALED_BLOB_MAX} bytes): a fresh identity");
                    None
                }
            },
            None => None,
        };
        let mut tee = match (sealing, blob) {
            (Some(key), Some(blob)) => match key.open(blob) {
                Ok(sealed) => {
                    let simulated = key.platform() == PlatformKind::Plain;
                    let ((root_epoch, _), epoch) = (sealed.trust_root, sealed.epoch);
                    let tee = Tee::resume(config, key, &sealed, &mut rng, Registry::system())
                        .unwrap_or_else(|e| fatal!("TEE (resuming sealed state): {e}"));
                    println!(
                        "SEALED resumed: trust root epoch {root_epoch}, sealed epoch {epoch}{}",
                        if simulated { " (SIMULATED sealing on plain QEMU: anyone can read or forge it)" } else { "" }
                    );
                    tee
                }
                Err(e) => {
                    println!("SEALED refused ({e}): a fresh identity");
                    fresh_tee(config, &mut rng, key)
                }
            },
            (sealing, blob) => {
                if blob.is_some() {
                    println!("SEALED ignored: {} cannot seal; a fresh identity", platform.name());
                }
                match sealing {
                    Some(key) => fresh_tee(config, &mut rng, key),
                    None => Tee::new(config, &mut rng, Registry::system()).unwrap_or_else(|e| fatal!("TEE: {e}")),
                }
            }
        };
        let ready_tsc = tsc::now();
        println!("READY tee=0x{} platform={}", Hex(&tee.state().identity.address()), platform.name());

        // Boot time: reset vector -> READY, and the part before Rust (start-up assembly).
        let ticks = ready_tsc.wrapping_sub(reset_tsc);
        let asm_ticks = main_tsc.wrapping_sub(reset_tsc);
        let tsc_hz = tsc::frequency_hz();
        match tsc_hz {
            Some(hz) => println!(
                "BOOT reset_to_ready_us={} reset_to_main_us={} tsc_ticks={ticks} tsc_khz={}",
                tsc::micros(ticks, hz),
                tsc::micros(asm_ticks, hz),
                hz / 1000
            ),
            None => println!("BOOT reset_to_ready_us=unknown tsc_ticks={ticks} tsc_khz=unknown"),
        }

        match test_fault {
            Some(TestFault::InvalidOpcode) => {
                println!("test fault: ud2");
                // SAFETY: deliberately raises #UD; the exception handler reports it and halts, so
                // nothing after this runs.
                unsafe { core::arch::asm!("ud2", options(nomem, nostack, noreturn)) }
            }
            Some(TestFault::PageFault) => {
                let guard = fcc_layout::BOOT_STACK.guard.start;
                println!("test fault: read of the boot stack's guard page {guard:#x}");
                let ptr = core::ptr::with_exposed_provenance::<u64>(guard as usize);
                // SAFETY: deliberately reads an unmapped page (the boot stack's guard); the #PF
                // handler reports it and halts, so the value is never used.
                let _ = unsafe { core::ptr::read_volatile(ptr) };
                fatal!("the guard page at {guard:#x} is mapped");
            }
            Some(TestFault::StackOverflow) => {
                println!("test fault: stack overflow");
                let depth = recurse(0);
                fatal!("recursed {depth} times without a fault");
            }
            None => {}
        }
        // The network: serve the proxy for ever (returns only without a virtio-net device).
        let Some(hz) = tsc_hz else { fatal!("the TSC frequency is unknown: the network stack needs a clock") };
        let seed = rng.try_next_u64().unwrap_or_else(|e| fatal!("entropy: {e}"));
        let mut platform = match (snp_attester, tdx::attester(hz)) {
            (Some(snp), _) => Evidence::SevSnp(snp),
            (None, Some(td)) => Evidence::Tdx(td),
            (None, None) => Evidence::Simulated(Simulated),
        };
        net::run(&mut tee, &mut platform, proxy, net::Clock::new(tsc::now(), hz), seed);
        exit::stop(Outcome::Success)
    }

    /// Largest sealed-state file read from fw_cfg (a blob is `fcc_core::seal::SEALED_LEN` bytes;
    /// anything longer is refused unread).
    const SEALED_BLOB_MAX: usize = 2 * fcc_core::seal::SEALED_LEN;

    /// A TEE with a fresh identity that seals under `key`.
    fn fresh_tee(config: Config, rng: &mut HardwareRng, key: SealingKey) -> Tee {
        Tee::new(config, rng, Registry::system()).unwrap_or_else(|e| fatal!("TEE: {e}")).with_sealing(key)
    }

    /// Where the core's evidence comes from: the labelled simulation on plain QEMU, SEV-SNP
    /// attestation reports under SNP, TD quotes under TDX.
    enum Evidence {
        Simulated(Simulated),
        SevSnp(sev::Attester),
        Tdx(tdx::Attester),
    }

    impl Platform for Evidence {
        fn kind(&self) -> PlatformKind {
            match self {
                Evidence::Simulated(p) => p.kind(),
                Evidence::SevSnp(_) => PlatformKind::SevSnp,
                Evidence::Tdx(_) => PlatformKind::Tdx,
            }
        }

        fn attest(&mut self, report_data: &[u8; 64]) -> Result<alloc::vec::Vec<u8>, fcc_core::Error> {
            match self {
                Evidence::Simulated(p) => p.attest(report_data),
                Evidence::SevSnp(a) => a.report(report_data).map_err(|e| {
                    println!("SEV-SNP attestation failed: {e}");
                    fcc_core::Error::OperationFailed { reason: "SEV-SNP attestation report request failed" }
                }),
                Evidence::Tdx(a) => a.quote(report_data).map_err(|e| {
                    println!("TDX attestation failed: {e}");
                    fcc_core::Error::OperationFailed { reason: "TDX quote request failed" }
                }),
            }
        }
    }

    /// Recurses until the stack runs into its guard page (the test fault `stack-overflow`).
    #[inline(never)]
    fn recurse(depth: u64) -> u64 {
        let frame = core::hint::black_box([depth; 64]);
        if core::hint::black_box(depth < u64::MAX) { recurse(depth + 1) + frame[7] } else { depth }
    }

    static PANICKING: AtomicBool = AtomicBool::new(false);

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        if !PANICKING.swap(true, Ordering::SeqCst) {
            match info.location() {
                Some(at) => println!("PANIC: {} at {}:{}", info.message(), at.file(), at.line()),
                None => println!("PANIC: {}", info.message()),
            }
        }
        exit::stop(Outcome::Failure)
    }
}
