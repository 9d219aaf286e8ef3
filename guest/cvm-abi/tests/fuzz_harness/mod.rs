//! The fuzz harness of `fcc-cvm-abi`'s decoders, shared by the cargo-fuzz target
//! (`guest/core/fuzz/fuzz_targets/event_log.rs`, included with `#[path]`) and the corpus replay on
//! the stable toolchain (`tests/fuzz_corpus.rs`).

use fcc_cvm_abi::eventlog::{self, Log, ReplayError, uefi_boot};

/// `event_log`: whatever reads as a log is accounted for byte by byte — each event starts where
/// the previous one ended and spans exactly its fields — every event carries each of the
/// header's algorithms at its size, and the replay agrees with extending by hand. The GPT
/// reader never panics on the same bytes, nor the final events table's (the same bytes as a
/// table under a fixed SHA-384 log's header), whose events are a prefix of the table's area.
pub fn event_log(data: &[u8]) {
    let _ = uefi_boot::gpt_event_digest(data);
    let sha384_log = final_table_header();
    if let Ok(events) = eventlog::final_events(&Log::parse(&sha384_log).expect("a log header"), data) {
        assert_eq!(events.as_ptr(), data[16..].as_ptr(), "the events follow the table's header");
    }
    let Ok(log) = Log::parse(data) else {
        assert!(eventlog::replay_rtmrs(data).is_err());
        return;
    };
    let algorithms = log.algorithms();
    let digests_len: usize = algorithms.iter().map(|&(_, len)| 2 + usize::from(len)).sum();
    let mut next = None;
    let mut failed = false;
    let mut by_hand = [[0u8; eventlog::SHA384_LEN]; 4];
    let mut bad_register = false;
    for e in log.events() {
        let Ok(e) = e else {
            failed = true;
            continue;
        };
        if let Some(expected) = next {
            assert_eq!(e.offset, expected, "events tile the log");
        }
        for &(id, len) in algorithms {
            assert_eq!(e.digest(id).map(<[u8]>::len), Some(usize::from(len)));
        }
        let end = e.offset + 12 + digests_len + 4 + e.data.len();
        assert_eq!(e.data.as_ptr_range().end, data[..end].as_ptr_range().end, "data ends the event");
        next = Some(end);
        match eventlog::rtmr_of(&e) {
            Ok(Some(r)) => {
                if let Some(d) = e.sha384() {
                    eventlog::extend(&mut by_hand[r], d);
                }
            }
            Ok(None) => {}
            Err(_) => bad_register = true,
        }
    }
    match eventlog::replay_rtmrs(data) {
        Ok(rtmrs) => {
            assert!(!failed && !bad_register);
            assert_eq!(rtmrs, by_hand);
        }
        Err(ReplayError::Log(_)) => assert!(failed),
        Err(ReplayError::Register { .. }) => assert!(bad_register),
        Err(ReplayError::NoSha384) => {
            assert!(log.algorithms().iter().all(|&(id, len)| id != eventlog::alg::SHA384 || len != 48));
        }
    }
}

/// The header of a crypto-agile log with one SHA-384 bank.
fn final_table_header() -> Vec<u8> {
    let mut spec = b"Spec ID Event03\0".to_vec();
    spec.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 2, 1, 0, 0, 0]);
    spec.extend_from_slice(&eventlog::alg::SHA384.to_le_bytes());
    spec.extend_from_slice(&48u16.to_le_bytes());
    spec.push(0);
    let mut out = 1u32.to_le_bytes().to_vec();
    out.extend_from_slice(&eventlog::event_type::EV_NO_ACTION.to_le_bytes());
    out.extend_from_slice(&[0; 20]);
    out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    out.extend_from_slice(&spec);
    out
}
