//! The UEFI entry point: everything taken from the firmware while boot services last — whether
//! this is a TD (an SEV guest is refused), the heap, the stacks, the virtio DMA region and in a TD
//! the GetQuote buffer (pages the firmware hands to the loader, accepted by it and ours after
//! ExitBootServices), where the image lies, the settings file on the boot disk, the measured-boot
//! event log written to COM1 and the Authenticode digest the firmware logged for this image —
//! then ExitBootServices and the switch to our own stack, where [`crate::run`] runs the core.
//!
//! In a TD the console goes through TDG.VP.VMCALL from the first line (the firmware's #VE
//! handler is not used for it, and ours after ExitBootServices never sees the console).

use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;

use fcc_cvm_abi::eventlog::{Log, event_type};
use fcc_guest_platform::config::SETTINGS_FILE_MAX;
use fcc_guest_platform::dma::{self, DmaRegion};
use fcc_guest_platform::port::Native;
use fcc_guest_platform::tdx::{self, VmcallPorts};
use fcc_guest_platform::{heap, println, serial};
use fcc_layout::{PAGE_SIZE, Region};
use uefi::boot::{self, AllocateType, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::proto::unsafe_protocol;
use uefi::{Status, entry};
use uefi_raw::protocol::tcg::v2::{Tcg2EventLogFormat, Tcg2Protocol};

use crate::run::{self, Handover};

/// Bytes of the stack the core runs on: the ROM's boot stack (256 KiB), above a guard page
/// (`paging`), like each interrupt stack.
const STACK_SIZE: usize = 256 * 1024;
/// Bytes of each of the four interrupt stacks, as the ROM's.
const IST_SIZE: usize = 64 * 1024;
/// A stack and the guard page below it.
const GUARDED_STACK: usize = PAGE_SIZE as usize + STACK_SIZE;
/// An interrupt stack and the guard page below it.
const GUARDED_IST: usize = PAGE_SIZE as usize + IST_SIZE;
/// Bytes of virtqueue pages: what the ROM reserves (fcc-layout's `shared::VIRTQUEUES`).
const QUEUES_SIZE: u64 = fcc_layout::shared::VIRTQUEUES.size();
/// Bytes of the GetQuote buffer in a TD, as the ROM's (`shared::TDX_QUOTE`).
const QUOTE_SIZE: u64 = fcc_layout::shared::TDX_QUOTE.size();

/// Set once, before the stack switch.
static HANDOVER: spin::Once<Handover> = spin::Once::new();

/// EFI_TCG2_PROTOCOL as the specification defines it: `uefi`'s `Tcg` hides where the log lies,
/// which is what the host needs to read it whole.
#[repr(transparent)]
#[unsafe_protocol(Tcg2Protocol::GUID)]
struct RawTcg2(Tcg2Protocol);

/// EFI_CC_MEASUREMENT_PROTOCOL (UEFI 2.10 §38.2): a TD's firmware (TDVF) measures into the RTMRs
/// and keeps its log through this one. Its first two functions are laid out, and GetEventLog
/// called, as EFI_TCG2_PROTOCOL's; the others are not used here.
#[repr(C)]
struct CcMeasurement {
    get_capability: usize,
    get_event_log: unsafe extern "efiapi" fn(
        this: *mut CcMeasurement,
        format: Tcg2EventLogFormat,
        location: *mut u64,
        last: *mut u64,
        truncated: *mut uefi_raw::Boolean,
    ) -> Status,
    hash_log_extend_event: usize,
    map_pcr_to_mr_index: usize,
}

#[repr(transparent)]
#[unsafe_protocol("96751a3d-72f4-41a6-a794-ed5d0e67ae6b")]
struct RawCc(CcMeasurement);

/// Most bytes of event log written out (OVMF's log area is 64 KiB).
const MAX_LOG: usize = 1 << 20;

/// Which log the firmware keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogKind {
    /// EFI_TCG2_PROTOCOL: a TPM's, indices are PCRs (the application is measured into PCR 4).
    Tpm,
    /// EFI_CC_MEASUREMENT_PROTOCOL: a TD's, index 0 = MRTD, 1–4 = RTMR0–3 (the application is
    /// measured into RTMR1, index 2).
    Cc,
}

impl LogKind {
    /// The index the firmware measures the applications it starts into.
    fn application_index(self) -> u32 {
        match self {
            LogKind::Tpm => 4,
            LogKind::Cc => 2,
        }
    }

    /// The configuration table holding the events logged after the first GetEventLog
    /// (EFI_TCG2_FINAL_EVENTS_TABLE_GUID, EFI_CC_FINAL_EVENTS_TABLE_GUID).
    fn final_events_guid(self) -> uefi::Guid {
        match self {
            LogKind::Tpm => uefi::guid!("1e2ed096-30e2-4254-bd89-863bbef82325"),
            LogKind::Cc => uefi::guid!("dd4a4648-2de7-4665-964d-21d9ef5fb446"),
        }
    }
}

/// Bytes of the final events table read: EDK2's area for it (PcdTcg2FinalLogAreaLen, 32 KiB, in
/// ACPI NVS memory, which stays mapped), header included.
const FINAL_AREA: usize = 32 * 1024;

/// Where the firmware keeps the final events table of `kind`'s log, if it does.
fn final_events_table(kind: LogKind) -> Option<usize> {
    let guid = kind.final_events_guid();
    uefi::system::with_config_table(|t| t.iter().find(|e| e.guid == guid).map(|e| e.address as usize))
}

/// The firmware's crypto-agile event log up to and including its last event, or why not: in a
/// TD the CC log if the firmware keeps one (its indices are the RTMRs' a TD quote holds), else a
/// TPM's; outside a TD only a TPM's.
fn event_log(td: bool) -> Result<(LogKind, &'static [u8]), &'static str> {
    let (mut location, mut last, mut truncated) = (0u64, 0u64, Default::default());
    let cc = if td { boot::get_handle_for_protocol::<RawCc>().ok() } else { None };
    let (kind, status) = if let Some(handle) = cc {
        let mut cc =
            boot::open_protocol_exclusive::<RawCc>(handle).map_err(|_| "EFI_CC_MEASUREMENT_PROTOCOL did not open")?;
        let this: *mut CcMeasurement = &mut cc.0;
        // SAFETY: the firmware's own protocol function, called with the protocol it came from
        // and pointers to our locals, as UEFI 2.10 §38.2.3 defines (EFI_CC_EVENT_LOG_FORMAT_TCG_2
        // is 2, as TCG2's).
        let status =
            unsafe { (cc.0.get_event_log)(this, Tcg2EventLogFormat::TCG_2, &mut location, &mut last, &mut truncated) };
        (LogKind::Cc, status)
    } else if let Ok(handle) = boot::get_handle_for_protocol::<RawTcg2>() {
        let mut tcg = boot::open_protocol_exclusive::<RawTcg2>(handle).map_err(|_| "EFI_TCG2_PROTOCOL did not open")?;
        let this: *mut Tcg2Protocol = &mut tcg.0;
        // SAFETY: the firmware's own protocol function, called with the protocol it came from
        // and pointers to our locals, as the TCG EFI Protocol specification (§6.5) defines.
        let status =
            unsafe { (tcg.0.get_event_log)(this, Tcg2EventLogFormat::TCG_2, &mut location, &mut last, &mut truncated) };
        (LogKind::Tpm, status)
    } else if td {
        return Err("neither EFI_CC_MEASUREMENT_PROTOCOL nor EFI_TCG2_PROTOCOL");
    } else {
        return Err("no EFI_TCG2_PROTOCOL (no TPM)");
    };
    if status != Status::SUCCESS {
        return Err("GetEventLog failed");
    }
    if location == 0 || last < location || (last - location) as usize > MAX_LOG {
        return Err("GetEventLog returned no log");
    }
    let before_last = (last - location) as usize;
    if before_last == 0 {
        return Err("the log holds its header only");
    }
    // SAFETY: GetEventLog says the log starts at `location` and its last event at `last`; the
    // firmware keeps it in memory that stays mapped (identity) while we run. The last event is
    // a TCG_PCR_EVENT2 (the header is not it), at least 16 bytes long.
    let head = unsafe { core::slice::from_raw_parts(location as *const u8, before_last + 16) };
    // The last event's length: its fixed fields, then the header's digests, then its data size.
    let log = Log::parse(head).map_err(|_| "the log's header does not read")?;
    let digests: usize = log.algorithms().iter().map(|&(_, len)| 2 + usize::from(len)).sum();
    let size_at = before_last + 12 + digests;
    // SAFETY: as above: the size field lies inside the last event.
    let size_field = unsafe { core::slice::from_raw_parts((location as usize + size_at) as *const u8, 4) };
    let size = u32::from_le_bytes(size_field.try_into().expect("4 bytes")) as usize;
    let len = size_at + 4 + size;
    if len > MAX_LOG {
        return Err("the log's last event is too long");
    }
    // SAFETY: as above: the log runs to the end of its last event.
    Ok((kind, unsafe { core::slice::from_raw_parts(location as *const u8, len) }))
}

/// Whether this is an AMD SEV guest: CPUID 0x8000_001F advertises SEV and SEV_STATUS says it is
/// on (in a TD that leaf is not SEV's: asked only outside TDX).
fn sev_guest() -> bool {
    use core::arch::x86_64::__cpuid;
    if __cpuid(0x8000_0000).eax >= 0x8000_001f && __cpuid(0x8000_001f).eax & 0b10 != 0 {
        // SAFETY: CPUID says the CPU has SEV, so SEV_STATUS exists; reading it has no effect.
        let status = unsafe { x86_64::registers::model_specific::Msr::new(fcc_cvm_abi::snp::MSR_SEV_STATUS).read() };
        return status & 0b111 != 0;
    }
    false
}

/// Where the firmware loaded this image (its code is read by the #VE handler's MMIO emulation).
fn loaded_image() -> Result<Region, &'static str> {
    use uefi::proto::loaded_image::LoadedImage;
    let image = boot::open_protocol_exclusive::<LoadedImage>(boot::image_handle())
        .map_err(|_| "EFI_LOADED_IMAGE_PROTOCOL did not open")?;
    let (base, size) = image.info();
    Ok(Region::new(base as u64, size))
}

/// `len` bytes of pages the firmware gives the loader, below 4 GiB: ours after ExitBootServices
/// too.
fn loader_pages(len: usize) -> Result<NonNull<u8>, uefi::Error> {
    let below_4g = AllocateType::MaxAddress(u64::from(u32::MAX));
    boot::allocate_pages(below_4g, MemoryType::LOADER_DATA, len.div_ceil(PAGE_SIZE as usize))
}

/// Where an operator puts the settings on the boot disk (a cloud has no fw_cfg).
const SETTINGS_PATH: &uefi::CStr16 = uefi::cstr16!("\\EFI\\fcc\\settings");

/// The settings file on the disk this image was loaded from: `Ok(None)` if there is none,
/// `Err` if it is there but does not read whole (or is longer than `SETTINGS_FILE_MAX`).
fn settings_file() -> Result<Option<Vec<u8>>, &'static str> {
    use uefi::proto::media::file::{File, FileAttribute, FileMode};
    let Ok(mut fs) = boot::get_image_file_system(boot::image_handle()) else { return Ok(None) };
    let mut root = fs.open_volume().map_err(|_| "the boot disk's file system does not open")?;
    let file = match root.open(SETTINGS_PATH, FileMode::Read, FileAttribute::empty()) {
        Ok(file) => file,
        Err(e) if e.status() == Status::NOT_FOUND => return Ok(None),
        Err(_) => return Err("it does not open"),
    };
    let mut file = file.into_regular_file().ok_or("it is a directory")?;
    // One byte more than allowed: a longer file is refused, not cut.
    let mut bytes = vec![0u8; SETTINGS_FILE_MAX + 1];
    let mut len = 0;
    while len < bytes.len() {
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(_) => return Err("it does not read"),
        }
    }
    if len > SETTINGS_FILE_MAX {
        return Err("longer than 4096 bytes");
    }
    bytes.truncate(len);
    Ok(Some(bytes))
}

/// The digest the firmware logged for the application it started last: this one.
fn measured_application(kind: LogKind, log: &[u8]) -> Option<[u8; 48]> {
    let log = Log::parse(log).ok()?;
    let ours = log.events().map_while(Result::ok).filter(|e| {
        e.index == kind.application_index() && e.event_type == event_type::EV_EFI_BOOT_SERVICES_APPLICATION
    });
    ours.last().and_then(|e| e.sha384().copied())
}

#[entry]
fn main() -> Status {
    let td = tdx::is_td();
    serial::init(if td { &VmcallPorts } else { &Native });
    println!("fcc-guest-uefi {}: started (the firmware measured this image before it ran)", env!("CARGO_PKG_VERSION"));
    if !td && sev_guest() {
        // Said while the firmware still handles what an SEV guest's port I/O raises.
        println!(
            "fcc-guest-uefi: this is an SEV guest; the UEFI edition runs on plain machines and TDX \
             (the GHCB comes next): back to the firmware"
        );
        return Status::UNSUPPORTED;
    }
    let image = match loaded_image() {
        Ok(image) => image,
        Err(why) => {
            println!("fcc-guest-uefi: {why}");
            return Status::LOAD_ERROR;
        }
    };
    let dma_len = (QUEUES_SIZE + dma::BOUNCE_LEN) as usize;
    let pages = (
        loader_pages(heap::SIZE as usize),
        loader_pages(GUARDED_STACK),
        loader_pages(dma_len),
        loader_pages(4 * GUARDED_IST),
        if td { loader_pages(QUOTE_SIZE as usize).map(Some) } else { Ok(None) },
    );
    let (heap_base, stack, dma_base, ists, quote) = match pages {
        (Ok(h), Ok(s), Ok(d), Ok(i), Ok(q)) => {
            (h, s, d.as_ptr() as u64, i.as_ptr() as u64, q.map(|q| Region::new(q.as_ptr() as u64, QUOTE_SIZE)))
        }
        _ => {
            println!("fcc-guest-uefi: the firmware has no {} MiB for the heap, stacks and DMA", heap::SIZE >> 20);
            return Status::OUT_OF_RESOURCES;
        }
    };
    let dma = DmaRegion {
        queues: Region::new(dma_base, QUEUES_SIZE),
        bounce: Region::new(dma_base + QUEUES_SIZE, dma::BOUNCE_LEN),
    };
    // SAFETY: LOADER_DATA pages the firmware just gave us alone, identity-mapped writable by its
    // page tables; they stay ours after ExitBootServices (the loader owns them); claimed once.
    if let Err(why) = unsafe { heap::claim(heap_base.as_ptr(), heap::SIZE as usize) } {
        println!("fcc-guest-uefi: {why}");
        return Status::LOAD_ERROR;
    }
    let settings = settings_file();
    let mut measured = None;
    let mut later = None;
    match event_log(td) {
        Ok((kind, log)) => {
            measured = measured_application(kind, log);
            if kind == LogKind::Cc {
                println!("fcc-guest-uefi: the TD's CC event log (index 0 = MRTD, 1-4 = RTMR0-3) follows");
            }
            run::print_block("EVENTLOG", log);
            later = final_events_table(kind).map(|table| (log, table));
        }
        Err(why) => println!("fcc-guest-uefi: no event log: {why}"),
    }
    // SAFETY: nothing of ours holds a boot-services object past this point (the protocol above
    // was closed when its scope ended; the log is only read before).
    let map = unsafe { boot::exit_boot_services(None) };
    // What the firmware logged after GetEventLog — ExitBootServices' two events among them: the
    // rest of the log, which the RTMRs (PCRs) of any later quote include.
    if let Some((log, table)) = later {
        // SAFETY: the firmware's final events table (a configuration table it published), in
        // ACPI NVS memory that stays identity-mapped and that nothing writes any more; read as
        // the area EDK2 allocates for it.
        let area = unsafe { core::slice::from_raw_parts(table as *const u8, FINAL_AREA) };
        match Log::parse(log).map(|log| fcc_cvm_abi::eventlog::final_events(&log, area)) {
            Ok(Ok(events)) => run::print_block("FINALEVENTS", events),
            Ok(Err(e)) | Err(e) => println!("fcc-guest-uefi: the final events table: {e}"),
        }
    }
    // The heap, the stacks and the DMA region must still be the loader's in the final map.
    let ours = |start: usize, len: usize| {
        map.entries().any(|d| {
            let end = d.phys_start.saturating_add(d.page_count.saturating_mul(PAGE_SIZE));
            d.ty == MemoryType::LOADER_DATA && d.phys_start <= start as u64 && (start + len) as u64 <= end
        })
    };
    let kept = ours(heap_base.as_ptr() as usize, heap::SIZE as usize)
        && ours(stack.as_ptr() as usize, GUARDED_STACK)
        && ours(dma_base as usize, dma_len)
        && ours(ists as usize, 4 * GUARDED_IST)
        && quote.is_none_or(|q| ours(q.start as usize, q.size() as usize));
    // What a device's registers must not overlap: everything the map describes but MMIO.
    let memory = map
        .entries()
        .filter(|d| !matches!(d.ty, MemoryType::MMIO | MemoryType::MMIO_PORT_SPACE))
        .map(|d| Region {
            start: d.phys_start,
            end: d.phys_start.saturating_add(d.page_count.saturating_mul(PAGE_SIZE)),
        })
        .collect();
    println!("fcc-guest-uefi: boot services exited ({} memory map entries)", map.len());
    if !kept {
        run::fatal(format_args!("the final memory map does not give the heap, stacks and DMA to the loader"));
    }
    let stack = stack.as_ptr() as u64;
    let interrupt_stacks = core::array::from_fn(|i| ists + ((i + 1) * GUARDED_IST) as u64);
    let mut guards = [stack; 5];
    for (i, guard) in guards[1..].iter_mut().enumerate() {
        *guard = ists + (i * GUARDED_IST) as u64;
    }
    let handover: *const Handover =
        HANDOVER.call_once(|| Handover { interrupt_stacks, guards, dma, measured, settings, image, td, quote, memory });
    let top = stack + GUARDED_STACK as u64;
    // SAFETY: `top` ends the LOADER_DATA pages allocated above for this stack alone
    // (page-aligned, so 16-byte aligned; 64 bytes are left above the first frame); `run::main`
    // takes only the handover (a static, in RDI as sysv64 passes it) and never returns; the
    // firmware's stack is not used again.
    unsafe {
        core::arch::asm!(
            "lea rsp, [{top} - 64]",
            "xor ebp, ebp",
            "call {main}",
            "ud2",
            top = in(reg) top,
            in("rdi") handover,
            main = sym run::main,
            options(noreturn),
        )
    }
}
