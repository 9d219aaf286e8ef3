//! `fcc-guest`: the FCC unikernel. It boots straight from a ROM that QEMU loads with `-bios`
//! (`boot/reset.s`: reset vector → long mode), finds its platform (plain, SEV-SNP or TDX:
//! `platform`), sets up the console, CPU tables, RAM and entropy, creates the TEE (resumed from
//! sealed state when the host hands back a blob that opens, else a fresh identity key), prints
//! one `READY` line and then serves the host proxy over virtio-net (`fcc_guest_platform::net`).
//!
//! The boot story is [`fcc_kernel_main`]; the memory map and ROM layout are in `fcc-layout`; the
//! exact QEMU command is in this crate's README; what the UEFI edition shares with it (settings,
//! entropy, console, exceptions, the network) is `fcc-guest-platform`. On the host this crate
//! builds a stub `main`, so that `cargo test --workspace` runs the unit tests of its e820 check.
#![cfg_attr(target_os = "none", no_std, no_main)]
// On the host only the portable parsers are compiled, for their tests; nothing calls them.
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

extern crate alloc;

mod memory;

#[cfg(target_os = "none")]
mod exit;
#[cfg(target_os = "none")]
mod platform;
#[cfg(target_os = "none")]
mod start;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("fcc-guest runs only as the guest ROM (x86_64-unknown-none): build it with `cargo xtask image`");
    std::process::exit(2);
}

#[cfg(target_os = "none")]
mod kernel {
    use core::sync::atomic::AtomicU64;

    use fcc_core::limits::MAX_SEALED_LEN;
    use fcc_core::ops::Registry;
    use fcc_core::seal::SealingKey;
    use fcc_core::{Config, Tee};
    use fcc_guest_platform::config::{self, TestFault};
    use fcc_guest_platform::dma::{self, DmaRegion};
    use fcc_guest_platform::frame::ExceptionFrame;
    use fcc_guest_platform::fw_cfg::FwCfg;
    use fcc_guest_platform::rng::HardwareRng;
    use fcc_guest_platform::serial::{self, Hex};
    use fcc_guest_platform::{interrupts, net, pci, println, tsc};
    use fcc_layout::interface::{FW_CFG_SEALED_STATE, FW_CFG_TEST_EXIT};
    use fcc_layout::{MIB, MIN_RAM_END};
    use rand_core::TryRng;

    use crate::exit::{self, Outcome};
    use crate::memory::{self, E820_ENTRY_LEN, MAX_E820_ENTRIES};
    use crate::platform::{self, Attester, Platform};
    use crate::start;

    macro_rules! fatal {
        ($($arg:tt)*) => { $crate::exit::fatal(format_args!($($arg)*)) };
    }

    /// The Rust entry point, called once by `boot/reset.s` on the boot CPU in long mode, with
    /// the TSC read at the reset vector and the boot flags (`start::FLAG_*`).
    #[unsafe(no_mangle)]
    extern "C" fn fcc_kernel_main(reset_tsc: u64, boot_flags: u64) -> ! {
        let main_tsc = tsc::now();
        // The IDT first: SEV-SNP's #VC and TDX's #VE handlers must exist before any port I/O;
        // then the platform, which decides how the console reaches its ports.
        let stacks = interrupts::Stacks {
            double_fault: fcc_layout::IST_DOUBLE_FAULT.top(),
            nmi: fcc_layout::IST_NMI.top(),
            machine_check: fcc_layout::IST_MACHINE_CHECK.top(),
            vc_ve: fcc_layout::IST_VC_VE.top(),
        };
        let handlers =
            interrupts::Handlers { resumable: resume, redacted: exit::diagnostics_redacted, stop: exit::stop_failed };
        // SAFETY: fcc-layout's interrupt stacks: RAM the boot page tables map writable, each
        // above its own unmapped guard page, 64 KiB, used by nothing else.
        unsafe { interrupts::init(stacks, handlers) };
        fcc_guest_platform::stop::install(exit::fatal);
        let platform = platform::detect(boot_flags);
        if platform.is_confidential() {
            // The host can inject an exception anywhere: no register ever reaches its console.
            exit::redact_diagnostics();
        }
        serial::init(platform.ports());
        if !data_and_bss_initialised() {
            fatal!("the start-up code did not copy .data or zero .bss");
        }
        let nx = if boot_flags & start::FLAG_NX != 0 { "on" } else { "off" };
        println!("fcc-guest {}: long mode, NX {nx}", env!("CARGO_PKG_VERSION"));
        println!("{}", platform.describe(boot_flags));

        // RAM: every region the kernel uses must be RAM, then the heap can be handed out.
        let Some(mut fw) = FwCfg::probe() else { fatal!("no QEMU fw_cfg device: cannot read the memory map") };
        if fw.find(FW_CFG_TEST_EXIT).is_some() {
            exit::enable_test_exit();
        }
        check_ram(&mut fw);
        platform.make_heap_private().unwrap_or_else(|e| fatal!("making the heap private: {e}"));
        memory::init_heap().unwrap_or_else(|e| fatal!("heap: {e}"));

        // Settings, measured where the platform has a runtime register (TDX: RTMR2) before the
        // TEE exists.
        let settings = config::read(&mut fw).unwrap_or_else(|e| fatal!("fw_cfg {e}"));
        if settings.test_redact {
            exit::redact_diagnostics();
        }
        platform
            .measure_runtime_config(settings.chain_id, settings.proxy, settings.policy_hash)
            .unwrap_or_else(|e| fatal!("measuring the runtime configuration: {e}"));

        // The shared (host-visible) region before anything talks to the host: virtio DMA, the
        // platform's guest requests (the sealing key, evidence).
        platform.share_dma_region().unwrap_or_else(|e| fatal!("sharing the DMA region: {e}"));
        let dma = DmaRegion { queues: fcc_layout::shared::VIRTQUEUES, bounce: fcc_layout::shared::BOUNCE };
        // SAFETY: fcc-layout's shared region is RAM (checked above), identity-mapped writable by
        // the boot page tables and reserved for the virtio device alone.
        unsafe { dma::init(dma) }.unwrap_or_else(|e| fatal!("DMA region: {e}"));
        let mut attester = platform.attester();

        // Entropy, then the TEE.
        let mut rng = HardwareRng::new().unwrap_or_else(|e| fatal!("entropy: {e}"));
        let config = Config {
            chain_id: settings.chain_id,
            policy_hash: settings.policy_hash,
            registration: settings.registration,
        };
        println!("chain {}, policy hash {:?}, entropy {}", config.chain_id, config.policy_hash, rng.source().name());
        let extensions = fcc_extensions::names();
        if !extensions.is_empty() {
            println!("extensions: {}", extensions.join(", "));
        }
        match config.registration {
            Some(r) => println!(
                "registration: extension {}, owner 0x{}, governance {}",
                u64::from_be_bytes(r.extension_id[24..].try_into().unwrap_or_default()),
                Hex(&r.owner),
                match r.governance.is_set() {
                    true => alloc::format!("{} of {} signers", r.governance.threshold(), r.governance.signers().len()),
                    false => alloc::string::String::from("none"),
                }
            ),
            None => {
                println!("registration: none (no opt/fcc/extension-id and opt/fcc/owner: no registration data signed)")
            }
        }
        let mut tee = boot_tee(platform, &mut attester, config, &mut fw, &mut rng);
        let ready_tsc = tsc::now();
        println!("READY tee=0x{} platform={}", Hex(&tee.state().identity.address()), platform.kind().name());

        let tsc_hz = platform.tsc_frequency_hz();
        print_boot_time(reset_tsc, main_tsc, ready_tsc, tsc_hz);
        if let Some(fault) = settings.test_fault {
            raise(fault, &tee);
        }

        // The network: serve the proxy for ever (returns only without a virtio-net device).
        let Some(hz) = tsc_hz else { fatal!("the TSC frequency is unknown: the network stack needs a clock") };
        let seed = rng.try_next_u64().unwrap_or_else(|e| fatal!("entropy: {e}"));
        memory::map_pci_window_uncached();
        let bars = pci::Bars::Place(fcc_layout::PCI_MMIO_WINDOW);
        // The PCI window was shared at boot on TDX (`platform::tdx::init`).
        let nic = (bars, pci::reachable as pci::Expose);
        net::run(&mut tee, &mut attester, settings.proxy, nic, net::Clock::new(tsc::now(), hz), seed);
        exit::stop(Outcome::Success)
    }

    /// The platform layer's #VC/#VE emulation as the exception path wants it: true when
    /// execution resumes; else the refusal is printed — only its reason where diagnostics are
    /// redacted (what it names, an address or an exit code, comes from registers).
    fn resume(frame: &mut ExceptionFrame) -> bool {
        match platform::handle_resumable(frame) {
            Ok(()) => true,
            Err(why) if exit::diagnostics_redacted() => {
                println!("FATAL: {}", why.reason());
                false
            }
            Err(why) => {
                println!("FATAL: {why}");
                false
            }
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

    /// Every region the kernel uses must be RAM in fw_cfg's `etc/e820`; else the boot stops and
    /// says how much memory to give the guest.
    fn check_ram(fw: &mut FwCfg) {
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
    }

    /// Largest sealed-state file read from fw_cfg (anything longer is refused unread).
    const SEALED_BLOB_MAX: usize = MAX_SEALED_LEN;

    /// The TEE: resumed from sealed state when the host hands back a blob that opens under this
    /// platform's sealing key, else with a fresh identity (sealed from then on where the
    /// platform can seal).
    fn boot_tee(
        platform: Platform,
        attester: &mut Attester,
        config: Config,
        fw: &mut FwCfg,
        rng: &mut HardwareRng,
    ) -> Tee {
        let mut buf = alloc::vec![0u8; SEALED_BLOB_MAX];
        let blob = match fw.find(FW_CFG_SEALED_STATE) {
            Some(file) => match fw.read(file, &mut buf) {
                Ok(b) => (!b.is_empty()).then_some(b),
                Err(_) => {
                    println!("SEALED refused (the file is longer than {SEALED_BLOB_MAX} bytes): a fresh identity");
                    None
                }
            },
            None => None,
        };
        let sealing = platform.sealing_keys(attester, &config, blob).unwrap_or_else(|e| fatal!("sealing key: {e}"));
        match (sealing, blob) {
            (Some(keys), Some(blob)) => {
                let opener = keys.for_blob.as_ref().unwrap_or(&keys.current);
                match opener.open(blob) {
                    Ok(sealed) => {
                        let simulated = keys.current.platform() == fcc_core::attester::PlatformKind::Plain;
                        let moved = keys.for_blob.is_some();
                        let ((root_epoch, _), epoch) = (sealed.trust_root, sealed.epoch);
                        // Resumed under the current key: the next seal moves the state to it.
                        let tee = Tee::resume(config, keys.current, &sealed, rng, registry())
                            .unwrap_or_else(|e| fatal!("TEE (resuming sealed state): {e}"));
                        println!(
                            "SEALED resumed: trust root epoch {root_epoch}, sealed epoch {epoch}{}{}",
                            if moved {
                                " (sealed at an older TCB; sealed at the committed one from now on)"
                            } else {
                                ""
                            },
                            if simulated {
                                " (SIMULATED sealing on plain QEMU: anyone can read or forge it)"
                            } else {
                                ""
                            }
                        );
                        tee
                    }
                    Err(e) => {
                        println!("SEALED refused ({e}): a fresh identity");
                        fresh_tee(config, rng, Some(keys.current))
                    }
                }
            }
            (sealing, blob) => {
                if blob.is_some() {
                    println!("SEALED ignored: {} cannot seal; a fresh identity", platform.kind().name());
                }
                fresh_tee(config, rng, sealing.map(|k| k.current))
            }
        }
    }

    /// The system operations and the extensions this image was built with; an extension the
    /// core refuses stops the boot.
    fn registry() -> Registry {
        fcc_extensions::registry().unwrap_or_else(|e| fatal!("extensions: {e}"))
    }

    /// A TEE with a fresh identity that seals under `key`, if any.
    fn fresh_tee(config: Config, rng: &mut HardwareRng, key: Option<SealingKey>) -> Tee {
        let tee = Tee::new(config, rng, registry()).unwrap_or_else(|e| fatal!("TEE: {e}"));
        match key {
            Some(key) => tee.with_sealing(key),
            None => tee,
        }
    }

    /// Boot time: reset vector -> READY, and the part before Rust (start-up assembly).
    fn print_boot_time(reset_tsc: u64, main_tsc: u64, ready_tsc: u64, tsc_hz: Option<u64>) {
        let ticks = ready_tsc.wrapping_sub(reset_tsc);
        let asm_ticks = main_tsc.wrapping_sub(reset_tsc);
        match tsc_hz {
            Some(hz) => println!(
                "BOOT reset_to_ready_us={} reset_to_main_us={} tsc_ticks={ticks} tsc_khz={}",
                tsc::micros(ticks, hz),
                tsc::micros(asm_ticks, hz),
                hz / 1000
            ),
            None => println!("BOOT reset_to_ready_us=unknown tsc_ticks={ticks} tsc_khz=unknown"),
        }
    }

    /// The fault a test asked for (`opt/fcc/test-fault`); its exception handler reports it.
    fn raise(fault: TestFault, tee: &Tee) -> ! {
        match fault {
            TestFault::SignLoop => {
                println!("test fault: signing loop");
                let mut digest = [0x5au8; 32];
                loop {
                    let signature = tee.state().identity.sign_digest(&digest);
                    digest.copy_from_slice(&core::hint::black_box(signature)[..32]);
                }
            }
            TestFault::InvalidOpcode => interrupts::raise_invalid_opcode(),
            TestFault::PageFault => {
                let guard = fcc_layout::BOOT_STACK.guard.start;
                println!("test fault: read of the boot stack's guard page {guard:#x}");
                let ptr = core::ptr::with_exposed_provenance::<u64>(guard as usize);
                // SAFETY: deliberately reads an unmapped page (the boot stack's guard); the #PF
                // handler reports it and halts, so the value is never used.
                let _ = unsafe { core::ptr::read_volatile(ptr) };
                fatal!("the guard page at {guard:#x} is mapped");
            }
            TestFault::StackOverflow => {
                let depth = interrupts::overflow_stack();
                fatal!("recursed {depth} times without a fault");
            }
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        fcc_guest_platform::stop::print_panic(info, exit::diagnostics_redacted());
        exit::stop(Outcome::Failure)
    }
}
