//! The firmware's measured-boot event log, read strictly and replayed: the TCG PC Client
//! "crypto agile" log (TCG PC Client Platform Firmware Profile, §10) that UEFI firmware writes for
//! a TPM and, under TDX, into the ACPI `CCEL` area for the RTMRs (UEFI 2.10 §38.4: the log's
//! index is the measurement register, 0 = MRTD, 1–4 = RTMR0–3).
//!
//! ```text
//! header   = TCG_PCR_EVENT:  u32 index ‖ u32 type (EV_NO_ACTION) ‖ 20 zero bytes ‖ u32 size ‖
//!            TCG_EfiSpecIdEvent: "Spec ID Event03\0" ‖ u32 platform class ‖ u8 minor ‖ u8 major ‖
//!            u8 errata ‖ u8 uintn size ‖ u32 n ‖ n × (u16 algorithm ‖ u16 digest size) ‖
//!            u8 vendor size ‖ vendor bytes
//! event    = TCG_PCR_EVENT2: u32 index ‖ u32 type ‖ u32 count ‖ count × (u16 algorithm ‖ digest) ‖
//!            u32 size ‖ data                                        (all little endian)
//! ```
//!
//! A log area is longer than its log: the rest is filler (0xFF, as OVMF and TDVF initialise it,
//! or 0x00). Everything here is hostile input: every length is checked against what is left,
//! every event must carry exactly the header's algorithms, and anything else is an error with
//! its offset — a log either reads to its end or not at all.
//!
//! [`uefi_boot`] predicts the register the firmware measures our UEFI application into.

use sha2::{Digest, Sha384};

/// Bytes of a SHA-384 digest (the TDX measurement registers' algorithm).
pub const SHA384_LEN: usize = 48;

/// TPM 2.0 algorithm identifiers (TCG Algorithm Registry).
pub mod alg {
    /// SHA-1.
    pub const SHA1: u16 = 0x0004;
    /// SHA-256.
    pub const SHA256: u16 = 0x000b;
    /// SHA-384 (the TDX registers').
    pub const SHA384: u16 = 0x000c;
    /// SHA-512.
    pub const SHA512: u16 = 0x000d;
    /// SM3-256.
    pub const SM3_256: u16 = 0x0012;
}

/// Event types (TCG PC Client PFP §10.4.1) that firmware logs.
pub mod event_type {
    /// Informational; never extended.
    pub const EV_NO_ACTION: u32 = 0x3;
    /// The end of a phase (digest of four zero bytes, or of 0xFFFFFFFF on error).
    pub const EV_SEPARATOR: u32 = 0x4;
    /// An action string (pre-UEFI).
    pub const EV_ACTION: u32 = 0x5;
    /// A tagged event (Linux's, for its loaders).
    pub const EV_EVENT_TAG: u32 = 0x6;
    /// Firmware code measured by the CRTM.
    pub const EV_S_CRTM_CONTENTS: u32 = 0x7;
    /// The CRTM's version.
    pub const EV_S_CRTM_VERSION: u32 = 0x8;
    /// A platform configuration flag.
    pub const EV_PLATFORM_CONFIG_FLAGS: u32 = 0xa;
    /// Data measured by the boot loader (GRUB's commands, the kernel command line).
    pub const EV_IPL: u32 = 0xd;
    /// A UEFI variable measured as configuration (SecureBoot, PK, KEK, db, dbx).
    pub const EV_EFI_VARIABLE_DRIVER_CONFIG: u32 = 0x8000_0001;
    /// A UEFI boot variable (BootOrder, Boot####).
    pub const EV_EFI_VARIABLE_BOOT: u32 = 0x8000_0002;
    /// A UEFI application loaded from a boot option: the digest is the image's Authenticode hash.
    pub const EV_EFI_BOOT_SERVICES_APPLICATION: u32 = 0x8000_0003;
    /// A UEFI boot-services driver.
    pub const EV_EFI_BOOT_SERVICES_DRIVER: u32 = 0x8000_0004;
    /// A UEFI runtime-services driver.
    pub const EV_EFI_RUNTIME_SERVICES_DRIVER: u32 = 0x8000_0005;
    /// The boot disk's GUID partition table (`UEFI_GPT_DATA`).
    pub const EV_EFI_GPT_EVENT: u32 = 0x8000_0006;
    /// A UEFI action string ("Calling EFI Application from Boot Option", …).
    pub const EV_EFI_ACTION: u32 = 0x8000_0007;
    /// A firmware volume.
    pub const EV_EFI_PLATFORM_FIRMWARE_BLOB: u32 = 0x8000_0008;
    /// Tables handed off to the OS.
    pub const EV_EFI_HANDOFF_TABLES: u32 = 0x8000_0009;
    /// A firmware volume, with its description.
    pub const EV_EFI_PLATFORM_FIRMWARE_BLOB2: u32 = 0x8000_000a;
    /// Tables handed off to the OS, with their description.
    pub const EV_EFI_HANDOFF_TABLES2: u32 = 0x8000_000b;
    /// A UEFI variable that authorised an image (db entry, SbatLevel, MokList…).
    pub const EV_EFI_VARIABLE_AUTHORITY: u32 = 0x8000_00e0;
}

/// The name of an event type, for people.
pub fn event_type_name(t: u32) -> &'static str {
    use event_type::*;
    match t {
        EV_NO_ACTION => "EV_NO_ACTION",
        EV_SEPARATOR => "EV_SEPARATOR",
        EV_ACTION => "EV_ACTION",
        EV_EVENT_TAG => "EV_EVENT_TAG",
        EV_S_CRTM_CONTENTS => "EV_S_CRTM_CONTENTS",
        EV_S_CRTM_VERSION => "EV_S_CRTM_VERSION",
        EV_PLATFORM_CONFIG_FLAGS => "EV_PLATFORM_CONFIG_FLAGS",
        EV_IPL => "EV_IPL",
        EV_EFI_VARIABLE_DRIVER_CONFIG => "EV_EFI_VARIABLE_DRIVER_CONFIG",
        EV_EFI_VARIABLE_BOOT => "EV_EFI_VARIABLE_BOOT",
        EV_EFI_BOOT_SERVICES_APPLICATION => "EV_EFI_BOOT_SERVICES_APPLICATION",
        EV_EFI_BOOT_SERVICES_DRIVER => "EV_EFI_BOOT_SERVICES_DRIVER",
        EV_EFI_RUNTIME_SERVICES_DRIVER => "EV_EFI_RUNTIME_SERVICES_DRIVER",
        EV_EFI_GPT_EVENT => "EV_EFI_GPT_EVENT",
        EV_EFI_ACTION => "EV_EFI_ACTION",
        EV_EFI_PLATFORM_FIRMWARE_BLOB => "EV_EFI_PLATFORM_FIRMWARE_BLOB",
        EV_EFI_HANDOFF_TABLES => "EV_EFI_HANDOFF_TABLES",
        EV_EFI_PLATFORM_FIRMWARE_BLOB2 => "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        EV_EFI_HANDOFF_TABLES2 => "EV_EFI_HANDOFF_TABLES2",
        EV_EFI_VARIABLE_AUTHORITY => "EV_EFI_VARIABLE_AUTHORITY",
        _ => "unknown",
    }
}

/// The header event's signature.
pub const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";
/// Most digest algorithms a log may name (the registry has a handful; 8 is generous).
pub const MAX_ALGORITHMS: usize = 8;
/// Largest digest any registered algorithm has (SHA-512).
pub const MAX_DIGEST_LEN: usize = 64;

/// Why bytes are not an event log. `at` is the offset of the record (or field) at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogError {
    /// A record runs past the end of the bytes.
    Truncated {
        /// Offset of the record.
        at: usize,
    },
    /// The first record is not the `Spec ID Event03` header of a crypto-agile log.
    NotCryptoAgile,
    /// The header names no algorithm, more than [`MAX_ALGORITHMS`], one twice, or a digest size
    /// of 0 or above [`MAX_DIGEST_LEN`].
    BadAlgorithms,
    /// The header's event data is longer than its fields.
    HeaderTrailing,
    /// An event's digest list is not exactly the header's algorithms.
    Digests {
        /// Offset of the event.
        at: usize,
    },
    /// After the last event, bytes that are neither an event nor filler.
    Filler {
        /// Offset where the filler starts.
        at: usize,
    },
    /// A final events table whose header is not version 1, or that claims more events than
    /// [`MAX_FINAL_EVENTS`].
    FinalTable,
}

impl core::fmt::Display for LogError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LogError::Truncated { at } => write!(f, "event log: the record at offset {at} runs past the end"),
            LogError::NotCryptoAgile => f.write_str("event log: no Spec ID Event03 header (not a crypto-agile log)"),
            LogError::BadAlgorithms => f.write_str("event log: the header's digest algorithms are malformed"),
            LogError::HeaderTrailing => f.write_str("event log: bytes after the header's fields"),
            LogError::Digests { at } => {
                write!(f, "event log: the event at offset {at} does not carry exactly the header's digests")
            }
            LogError::Filler { at } => {
                write!(f, "event log: bytes after offset {at} are neither an event nor 0xFF/0x00 filler")
            }
            LogError::FinalTable => {
                f.write_str("event log: the final events table is not version 1 or claims too many events")
            }
        }
    }
}

/// A little-endian reader over hostile bytes: every read checks what is left.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    record: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LogError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(LogError::Truncated { at: self.record })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, LogError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, LogError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, LogError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
}

/// A parsed header: the algorithms every event carries, in the header's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Log<'a> {
    bytes: &'a [u8],
    algorithms: [(u16, u16); MAX_ALGORITHMS],
    count: usize,
    first_event: usize,
}

impl<'a> Log<'a> {
    /// Reads the header of the log in `bytes` (a whole log area: trailing filler is allowed).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, LogError> {
        let mut c = Cursor { bytes, pos: 0, record: 0 };
        let _index = c.u32()?;
        let kind = c.u32()?;
        let sha1 = c.take(20)?;
        let size = c.u32()? as usize;
        let data = c.take(size)?;
        if kind != event_type::EV_NO_ACTION || sha1.iter().any(|&b| b != 0) {
            return Err(LogError::NotCryptoAgile);
        }
        let mut h = Cursor { bytes: data, pos: 0, record: 0 };
        if h.take(16).map_err(|_| LogError::NotCryptoAgile)? != SPEC_ID_SIGNATURE {
            return Err(LogError::NotCryptoAgile);
        }
        // platform class, spec version minor/major, errata, uintn size: informational.
        h.take(8).map_err(|_| LogError::NotCryptoAgile)?;
        let n = h.u32().map_err(|_| LogError::NotCryptoAgile)? as usize;
        if n == 0 || n > MAX_ALGORITHMS {
            return Err(LogError::BadAlgorithms);
        }
        let mut algorithms = [(0u16, 0u16); MAX_ALGORITHMS];
        for i in 0..n {
            let id = h.u16().map_err(|_| LogError::NotCryptoAgile)?;
            let len = h.u16().map_err(|_| LogError::NotCryptoAgile)?;
            if len == 0 || usize::from(len) > MAX_DIGEST_LEN || algorithms[..i].iter().any(|&(a, _)| a == id) {
                return Err(LogError::BadAlgorithms);
            }
            algorithms[i] = (id, len);
        }
        let vendor = usize::from(h.u8().map_err(|_| LogError::NotCryptoAgile)?);
        h.take(vendor).map_err(|_| LogError::NotCryptoAgile)?;
        if h.pos != data.len() {
            return Err(LogError::HeaderTrailing);
        }
        Ok(Log { bytes, algorithms, count: n, first_event: c.pos })
    }

    /// The header's (algorithm, digest size) pairs.
    pub fn algorithms(&self) -> &[(u16, u16)] {
        &self.algorithms[..self.count]
    }

    /// The events after the header, in log order. The iterator ends at the end of the bytes or
    /// at filler running to the end; anything else is an error (and the iterator ends after it).
    pub fn events(&self) -> Events<'a> {
        Events { log: *self, pos: self.first_event, failed: false }
    }

    fn digest_len(&self, id: u16) -> Option<usize> {
        self.algorithms().iter().find(|&&(a, _)| a == id).map(|&(_, len)| usize::from(len))
    }
}

/// Most events a final events table may claim (EDK2 keeps it in 32 KiB; an event is at least
/// 60 bytes with one SHA-384 digest).
pub const MAX_FINAL_EVENTS: u64 = 1024;

/// The events of the firmware's final events table (EFI_TCG2_FINAL_EVENTS_TABLE,
/// EFI_CC_FINAL_EVENTS_TABLE: `u64 version = 1 ‖ u64 number of events ‖ the events`), which
/// holds every event logged after the first GetEventLog — ExitBootServices' among them. Its
/// records are `log`'s kind (the same digests), so the bytes returned, appended to the log read
/// at GetEventLog, give the whole log. `table` may run past the events (the firmware's area).
pub fn final_events<'t>(log: &Log<'_>, table: &'t [u8]) -> Result<&'t [u8], LogError> {
    let word = |at: usize| table.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let (Some(version), Some(count)) = (word(0), word(8)) else { return Err(LogError::Truncated { at: 0 }) };
    if version != 1 || count > MAX_FINAL_EVENTS {
        return Err(LogError::FinalTable);
    }
    let events = &table[16..];
    let area = Log { bytes: events, algorithms: log.algorithms, count: log.count, first_event: 0 };
    let mut walk = area.events();
    for _ in 0..count {
        // Filler or the end where an event is claimed: the table is shorter than it says.
        walk.next().unwrap_or(Err(LogError::Truncated { at: walk.pos + 16 }))?;
    }
    Ok(&events[..walk.pos])
}

/// One event of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// Offset of the event in the log.
    pub offset: usize,
    /// The register: a PCR in a TPM log; in a CC log 0 = MRTD, 1–4 = RTMR0–3.
    pub index: u32,
    /// The event type ([`event_type`]).
    pub event_type: u32,
    /// The event data.
    pub data: &'a [u8],
    digests: &'a [u8],
    log: Log<'a>,
}

impl<'a> Event<'a> {
    /// The digest of algorithm `id` this event extends its register with.
    pub fn digest(&self, id: u16) -> Option<&'a [u8]> {
        let mut c = Cursor { bytes: self.digests, pos: 0, record: 0 };
        while c.pos < self.digests.len() {
            let a = c.u16().ok()?;
            let len = self.log.digest_len(a)?;
            let d = c.take(len).ok()?;
            if a == id {
                return Some(d);
            }
        }
        None
    }

    /// The SHA-384 digest, if the log has that bank.
    pub fn sha384(&self) -> Option<&'a [u8; SHA384_LEN]> {
        self.digest(alg::SHA384).and_then(|d| d.try_into().ok())
    }
}

/// The events of a [`Log`].
#[derive(Debug, Clone)]
pub struct Events<'a> {
    log: Log<'a>,
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Event<'a>, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = &self.log.bytes[self.pos..];
        if rest.is_empty() {
            return None;
        }
        // Filler: the index and type fields of a real event are never all 0xFF or all zero (no
        // register 0xFFFFFFFF; register 0 logs only EV_NO_ACTION); then the whole rest must be it.
        let head = &rest[..rest.len().min(8)];
        for fill in [0xFFu8, 0x00] {
            if head.iter().all(|&b| b == fill) {
                self.failed = true;
                return if rest.iter().all(|&b| b == fill) {
                    None
                } else {
                    Some(Err(LogError::Filler { at: self.pos }))
                };
            }
        }
        let result = self.read();
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

impl<'a> Events<'a> {
    fn read(&mut self) -> Result<Event<'a>, LogError> {
        let at = self.pos;
        let mut c = Cursor { bytes: self.log.bytes, pos: at, record: at };
        let index = c.u32()?;
        let kind = c.u32()?;
        let count = c.u32()? as usize;
        if count != self.log.count {
            return Err(LogError::Digests { at });
        }
        let start = c.pos;
        let mut seen = [0u16; MAX_ALGORITHMS];
        for i in 0..count {
            let id = c.u16()?;
            let len = self.log.digest_len(id).ok_or(LogError::Digests { at })?;
            if seen[..i].contains(&id) {
                return Err(LogError::Digests { at });
            }
            seen[i] = id;
            c.take(len)?;
        }
        let digests = &self.log.bytes[start..c.pos];
        let size = c.u32()? as usize;
        let data = c.take(size)?;
        self.pos = c.pos;
        Ok(Event { offset: at, index, event_type: kind, data, digests, log: self.log })
    }
}

/// `register ← SHA-384(register ‖ digest)`.
pub fn extend(register: &mut [u8; SHA384_LEN], digest: &[u8; SHA384_LEN]) {
    let next = Sha384::new().chain_update(&register[..]).chain_update(digest).finalize();
    register.copy_from_slice(&next);
}

/// Why a CC event log does not replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// The log does not read.
    Log(LogError),
    /// The log has no SHA-384 digests.
    NoSha384,
    /// An event other than EV_NO_ACTION names MRTD (index 0) or a register past RTMR3.
    Register {
        /// Offset of the event.
        at: usize,
        /// Its index.
        index: u32,
    },
}

impl From<LogError> for ReplayError {
    fn from(e: LogError) -> Self {
        ReplayError::Log(e)
    }
}

impl core::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReplayError::Log(e) => e.fmt(f),
            ReplayError::NoSha384 => f.write_str("event log: no SHA-384 digests (the TDX registers' algorithm)"),
            ReplayError::Register { at, index } => {
                write!(f, "event log: the event at offset {at} extends register {index}, not RTMR0-3")
            }
        }
    }
}

/// The RTMR an event of a CC event log extends (index 1–4), or `None` for EV_NO_ACTION.
pub fn rtmr_of(event: &Event<'_>) -> Result<Option<usize>, ReplayError> {
    if event.event_type == event_type::EV_NO_ACTION {
        return Ok(None);
    }
    match event.index {
        1..=4 => Ok(Some(event.index as usize - 1)),
        index => Err(ReplayError::Register { at: event.offset, index }),
    }
}

/// Replays a CC event log (CCEL) into RTMR0–3: each register starts at zero and is extended
/// with the SHA-384 digest of each of its events in log order; EV_NO_ACTION is skipped.
pub fn replay_rtmrs(bytes: &[u8]) -> Result<[[u8; SHA384_LEN]; 4], ReplayError> {
    replay_rtmrs_with(bytes, |_, _, _| {})
}

/// [`replay_rtmrs`], calling `each` with every event that extends a register, the register's
/// number and its value after the event.
pub fn replay_rtmrs_with(
    bytes: &[u8],
    mut each: impl FnMut(&Event<'_>, usize, &[u8; SHA384_LEN]),
) -> Result<[[u8; SHA384_LEN]; 4], ReplayError> {
    let log = Log::parse(bytes)?;
    if log.digest_len(alg::SHA384) != Some(SHA384_LEN) {
        return Err(ReplayError::NoSha384);
    }
    let mut rtmrs = [[0u8; SHA384_LEN]; 4];
    for event in log.events() {
        let event = event?;
        if let Some(r) = rtmr_of(&event)? {
            extend(&mut rtmrs[r], event.sha384().ok_or(ReplayError::NoSha384)?);
            each(&event, r, &rtmrs[r]);
        }
    }
    Ok(rtmrs)
}

/// What UEFI firmware (EDK2's OVMF, TDVF and Google's TDX firmware) measures into RTMR1 — TPM
/// PCRs 4 and 5, which TDX maps to one register — when it boots a single UEFI application from
/// a GPT disk and that application calls ExitBootServices: the boot-option action, the
/// separator, the disk's partition table, the application's Authenticode hash, and the two
/// ExitBootServices actions. The same sequence, with two applications (shim, GRUB), is in the
/// RTMR1 of Google's Container-Optimized OS boots.
pub mod uefi_boot {
    use super::{SHA384_LEN, Sha384, event_type};
    use sha2::Digest;

    /// The action logged before the boot option's application is started.
    pub const CALLING_EFI_APPLICATION: &[u8] = b"Calling EFI Application from Boot Option";
    /// The action logged when ExitBootServices is called.
    pub const EXIT_BOOT_SERVICES_INVOCATION: &[u8] = b"Exit Boot Services Invocation";
    /// The action logged when ExitBootServices returns.
    pub const EXIT_BOOT_SERVICES_SUCCESS: &[u8] = b"Exit Boot Services Returned with Success";
    /// The separator event's data (success).
    pub const SEPARATOR: [u8; 4] = [0; 4];

    /// Bytes of the GPT header firmware copies into the GPT event (`EFI_PARTITION_TABLE_HEADER`).
    pub const GPT_HEADER_LEN: usize = 92;

    /// One predicted event: its type and SHA-384 digest.
    pub type Predicted = (u32, [u8; SHA384_LEN]);

    /// The RTMR1 events, in order, of booting `applications` (their Authenticode SHA-384, in
    /// the order they are started) from a disk whose GPT event digest is `gpt`.
    pub fn events(gpt: &[u8; SHA384_LEN], applications: &[[u8; SHA384_LEN]]) -> impl Iterator<Item = Predicted> {
        let sha = |d: &[u8]| -> [u8; SHA384_LEN] { Sha384::digest(d).into() };
        let head = [
            (event_type::EV_EFI_ACTION, sha(CALLING_EFI_APPLICATION)),
            (event_type::EV_SEPARATOR, sha(&SEPARATOR)),
            (event_type::EV_EFI_GPT_EVENT, *gpt),
        ];
        let tail = [
            (event_type::EV_EFI_ACTION, sha(EXIT_BOOT_SERVICES_INVOCATION)),
            (event_type::EV_EFI_ACTION, sha(EXIT_BOOT_SERVICES_SUCCESS)),
        ];
        head.into_iter()
            .chain(applications.iter().map(|a| (event_type::EV_EFI_BOOT_SERVICES_APPLICATION, *a)))
            .chain(tail)
    }

    /// The RTMR1 those events give.
    pub fn rtmr1(gpt: &[u8; SHA384_LEN], applications: &[[u8; SHA384_LEN]]) -> [u8; SHA384_LEN] {
        let mut r = [0u8; SHA384_LEN];
        for (_, d) in events(gpt, applications) {
            super::extend(&mut r, &d);
        }
        r
    }

    /// Where a log's RTMR1 events leave a prediction: the first event that differs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Divergence {
        /// Its position among the RTMR1 events (0 = the first).
        pub index: usize,
        /// What the log has there (`None`: the log ends).
        pub logged: Option<Predicted>,
        /// What the prediction has there (`None`: the prediction ends).
        pub expected: Option<Predicted>,
    }

    impl core::fmt::Display for Divergence {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let show = |f: &mut core::fmt::Formatter<'_>, e: &Option<Predicted>| -> core::fmt::Result {
                match e {
                    None => f.write_str("nothing more"),
                    Some((t, d)) => {
                        write!(f, "{} ", super::event_type_name(*t))?;
                        d.iter().try_for_each(|b| write!(f, "{b:02x}"))
                    }
                }
            };
            write!(f, "RTMR1 event {}: the log has ", self.index)?;
            show(f, &self.logged)?;
            f.write_str(", we expect ")?;
            show(f, &self.expected)
        }
    }

    /// The first RTMR1 event of the CC event log `log` that is not the `expected` one (`None`:
    /// the same events, so the same RTMR1).
    pub fn divergence(
        log: &[u8],
        mut expected: impl Iterator<Item = Predicted>,
    ) -> Result<Option<Divergence>, super::ReplayError> {
        let parsed = super::Log::parse(log)?;
        let mut index = 0;
        for e in parsed.events() {
            let e = e?;
            if super::rtmr_of(&e)? != Some(1) {
                continue;
            }
            let logged = (e.event_type, *e.sha384().ok_or(super::ReplayError::NoSha384)?);
            let exp = expected.next();
            if exp != Some(logged) {
                return Ok(Some(Divergence { index, logged: Some(logged), expected: exp }));
            }
            index += 1;
        }
        Ok(expected.next().map(|exp| Divergence { index, logged: None, expected: Some(exp) }))
    }

    /// Why a disk image has no GPT event.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum GptError {
        /// Shorter than the header or the partition array it names.
        Truncated,
        /// No `EFI PART` signature at LBA 1.
        Signature,
        /// Header size, entry size or entry count out of the specification's range.
        Geometry,
    }

    impl core::fmt::Display for GptError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(match self {
                GptError::Truncated => "disk image: shorter than its GPT header and partition array",
                GptError::Signature => "disk image: no GPT header at LBA 1",
                GptError::Geometry => "disk image: the GPT header's sizes are out of range",
            })
        }
    }

    /// Most partition entries a GPT may have here (the usual array is 128).
    pub const MAX_GPT_ENTRIES: u32 = 1024;

    /// The SHA-384 of the GPT event firmware logs for a disk of 512-byte sectors: `UEFI_GPT_DATA`
    /// = the header's first 92 bytes ‖ u64 number of used entries ‖ the used entries (those with
    /// a non-zero type GUID), in array order (EDK2 `Tcg2MeasureGptTable`). The CRCs are the
    /// firmware's to check; a disk whose CRCs are wrong does not boot at all.
    pub fn gpt_event_digest(disk: &[u8]) -> Result<[u8; SHA384_LEN], GptError> {
        const SECTOR: usize = 512;
        let header = disk.get(SECTOR..SECTOR + GPT_HEADER_LEN).ok_or(GptError::Truncated)?;
        if &header[..8] != b"EFI PART" {
            return Err(GptError::Signature);
        }
        let u32_at = |o: usize| u32::from_le_bytes(header[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().expect("8 bytes"));
        let header_size = u32_at(12);
        let entries_lba = u64_at(72);
        let entries = u32_at(80);
        let entry_size = u32_at(84);
        if !(92..=512).contains(&header_size)
            || entry_size < 128
            || !entry_size.is_power_of_two()
            || entry_size > 4096
            || entries > MAX_GPT_ENTRIES
        {
            return Err(GptError::Geometry);
        }
        let start = usize::try_from(entries_lba).ok().and_then(|l| l.checked_mul(SECTOR)).ok_or(GptError::Truncated)?;
        let len = entries as usize * entry_size as usize;
        let array = start.checked_add(len).and_then(|end| disk.get(start..end)).ok_or(GptError::Truncated)?;
        let used = array.chunks_exact(entry_size as usize).filter(|e| e[..16].iter().any(|&b| b != 0));
        let mut h = Sha384::new();
        h.update(header);
        h.update((used.clone().count() as u64).to_le_bytes());
        for e in used {
            h.update(e);
        }
        Ok(h.finalize().into())
    }
}
