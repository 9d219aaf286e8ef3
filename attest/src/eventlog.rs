//! TDX boots through UEFI firmware (cloud CVMs): the firmware's CC event log replayed, held
//! against a quote's RTMRs and against our prediction of RTMR1, event by event, so a mismatch
//! names the event where the boot went another way. The log format and the prediction are
//! `fcc_cvm_abi::eventlog`'s; this adds what people read.

use fcc_cvm_abi::eventlog::{self, Event, SHA384_LEN, event_type as ev, event_type_name, uefi_boot};
use serde::Serialize;

use crate::error::Error;

/// Bound on a CC event log area read from a file (TDVF's is 64 KiB to 256 KiB; Linux exposes the
/// whole area as `/sys/firmware/acpi/tables/data/CCEL`).
pub const MAX_LOG_LEN: usize = 1 << 20;

/// One event, as replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// Offset in the log.
    pub offset: usize,
    /// RTMR it extends (0–3).
    pub rtmr: usize,
    /// Event type name.
    pub event_type: &'static str,
    /// The SHA-384 digest extended (hex).
    pub digest: String,
    /// The register after this event (hex).
    pub register: String,
    /// What the event data says, for people.
    pub about: String,
}

/// A whole log replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replay {
    /// Events that extend a register, in log order.
    pub events: Vec<Replayed>,
    /// RTMR0–3 at the end (hex).
    pub rtmrs: [String; 4],
    /// The same, as bytes.
    #[serde(skip)]
    pub rtmr_bytes: [[u8; SHA384_LEN]; 4],
}

/// Replays `bytes` (a CC event log area) into RTMR0–3, keeping each event.
pub fn replay(bytes: &[u8]) -> Result<Replay, Error> {
    if bytes.len() > MAX_LOG_LEN {
        return Err(Error::Length { what: "CC event log", len: bytes.len(), expected: "at most 1 MiB" });
    }
    let mut events = Vec::new();
    let rtmr_bytes = eventlog::replay_rtmrs_with(bytes, |e, rtmr, register| {
        events.push(Replayed {
            offset: e.offset,
            rtmr,
            event_type: event_type_name(e.event_type),
            digest: hex::encode(e.sha384().expect("the replay extended with it")),
            register: hex::encode(register),
            about: describe(e),
        });
    })
    .map_err(|e| Error::EventLog(e.to_string()))?;
    Ok(Replay { events, rtmrs: rtmr_bytes.map(hex::encode), rtmr_bytes })
}

/// A register's replay held against a value (a quote's or a prediction's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Which RTMR.
    pub rtmr: usize,
    /// The log's value.
    pub replayed: String,
    /// The value it is held against.
    pub expected: String,
    /// Whether they are equal.
    pub equal: bool,
}

/// RTMR0–3 of the log against the quote's.
pub fn compare(replay: &Replay, quote_rtmrs: &[[u8; SHA384_LEN]; 4]) -> Vec<Comparison> {
    (0..4)
        .map(|i| Comparison {
            rtmr: i,
            replayed: replay.rtmrs[i].clone(),
            expected: hex::encode(quote_rtmrs[i]),
            equal: replay.rtmr_bytes[i] == quote_rtmrs[i],
        })
        .collect()
}

/// Where the RTMR1 events of the CC event log `log` leave our prediction for a boot of
/// `applications` from a disk whose GPT event digest is `gpt`: `None` when they are the same
/// events (then the registers agree), otherwise the first event that differs.
pub fn explain_rtmr1(
    log: &[u8],
    gpt: &[u8; SHA384_LEN],
    applications: &[[u8; SHA384_LEN]],
) -> Result<Option<String>, Error> {
    uefi_boot::divergence(log, uefi_boot::events(gpt, applications))
        .map(|d| d.map(|d| d.to_string()))
        .map_err(|e| Error::EventLog(e.to_string()))
}

/// The digests the log's own RTMR1 events carry, as our predictor takes them: the GPT event's and
/// each application's, in order (`None` if there is no GPT event or more than one).
pub fn rtmr1_inputs(replay: &Replay) -> Option<([u8; SHA384_LEN], Vec<[u8; SHA384_LEN]>)> {
    let of = |name: &str| -> Vec<[u8; SHA384_LEN]> {
        replay
            .events
            .iter()
            .filter(|e| e.rtmr == 1 && e.event_type == name)
            .map(|e| hex::decode(&e.digest).expect("hex we wrote").try_into().expect("48 bytes"))
            .collect()
    };
    let gpt = of(event_type_name(ev::EV_EFI_GPT_EVENT));
    let [gpt] = gpt.as_slice() else { return None };
    Some((*gpt, of(event_type_name(ev::EV_EFI_BOOT_SERVICES_APPLICATION))))
}

/// A short description of an event's data.
pub fn describe(e: &Event<'_>) -> String {
    let text = |d: &[u8]| -> String {
        let d = d.strip_suffix(&[0]).unwrap_or(d);
        let s: String = String::from_utf8_lossy(d).chars().take(80).collect();
        s.escape_debug().to_string()
    };
    match e.event_type {
        ev::EV_EFI_ACTION | ev::EV_ACTION | ev::EV_IPL | ev::EV_PLATFORM_CONFIG_FLAGS => {
            format!("\"{}\"", text(e.data))
        }
        ev::EV_SEPARATOR => match e.data {
            [0, 0, 0, 0] => "separator".into(),
            [0xff, 0xff, 0xff, 0xff] => "separator (error)".into(),
            d => format!("separator {}", hex::encode(d)),
        },
        ev::EV_EFI_VARIABLE_DRIVER_CONFIG | ev::EV_EFI_VARIABLE_BOOT | ev::EV_EFI_VARIABLE_AUTHORITY => {
            variable_name(e.data).map_or_else(|| "a variable".into(), |n| format!("variable {n}"))
        }
        ev::EV_EFI_BOOT_SERVICES_APPLICATION | ev::EV_EFI_BOOT_SERVICES_DRIVER | ev::EV_EFI_RUNTIME_SERVICES_DRIVER => {
            // UEFI_IMAGE_LOAD_EVENT: location u64 ‖ length u64 ‖ link-time address u64 ‖ …
            match e.data.get(8..16) {
                Some(len) => format!(
                    "image of {} bytes (Authenticode SHA-384)",
                    u64::from_le_bytes(len.try_into().expect("8 bytes"))
                ),
                None => "image".into(),
            }
        }
        ev::EV_EFI_GPT_EVENT => match e.data.get(92..100) {
            Some(n) => format!("GPT with {} partitions", u64::from_le_bytes(n.try_into().expect("8 bytes"))),
            None => "GPT".into(),
        },
        ev::EV_EFI_PLATFORM_FIRMWARE_BLOB2 | ev::EV_EFI_HANDOFF_TABLES2 => match e.data.split_first() {
            Some((&n, rest)) if rest.len() >= usize::from(n) => text(&rest[..usize::from(n)]),
            _ => String::new(),
        },
        _ => format!("{} bytes", e.data.len()),
    }
}

/// `UEFI_VARIABLE_DATA`: GUID 16 ‖ u64 name length (UTF-16 units) ‖ u64 data length ‖ name ‖ data.
fn variable_name(d: &[u8]) -> Option<String> {
    let n = usize::try_from(u64::from_le_bytes(d.get(16..24)?.try_into().ok()?)).ok()?;
    let name = d.get(32..32usize.checked_add(n.checked_mul(2)?)?)?;
    let units: Vec<u16> = name.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    Some(String::from_utf16_lossy(&units))
}
