//! The event log reader at its bounds, on logs built here field by field. The real log (Google's
//! TDX firmware booting Container-Optimized OS, with the quote of that boot) is `fcc-attest`'s
//! test `tests/eventlog.rs`.

use fcc_cvm_abi::eventlog::{
    Log, LogError, MAX_ALGORITHMS, MAX_FINAL_EVENTS, ReplayError, alg, event_type as ev, extend, final_events,
    replay_rtmrs, uefi_boot,
};
use sha2::{Digest, Sha384};

/// A crypto-agile log with the header's `algorithms` (id, size) and `events` (index, type, data),
/// every event digested with SHA-384 of its data (other algorithms: zero bytes).
fn build(algorithms: &[(u16, u16)], events: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let mut spec = b"Spec ID Event03\0".to_vec();
    spec.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 2]); // platform class, 2.0 errata 0, uintn 8 bytes
    spec.extend_from_slice(&(algorithms.len() as u32).to_le_bytes());
    for &(id, len) in algorithms {
        spec.extend_from_slice(&id.to_le_bytes());
        spec.extend_from_slice(&len.to_le_bytes());
    }
    spec.push(0);
    let mut out = Vec::new();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&ev::EV_NO_ACTION.to_le_bytes());
    out.extend_from_slice(&[0; 20]);
    out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    out.extend_from_slice(&spec);
    for &(index, kind, data) in events {
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(algorithms.len() as u32).to_le_bytes());
        for &(id, len) in algorithms {
            out.extend_from_slice(&id.to_le_bytes());
            if id == alg::SHA384 {
                out.extend_from_slice(&Sha384::digest(data));
            } else {
                out.extend_from_slice(&vec![0; usize::from(len)]);
            }
        }
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

const SHA384: (u16, u16) = (alg::SHA384, 48);

fn sha(d: &[u8]) -> [u8; 48] {
    Sha384::digest(d).into()
}

#[test]
fn a_log_replays_per_register_and_skips_no_action() {
    let log = build(
        &[(alg::SHA256, 32), SHA384],
        &[
            (1, ev::EV_SEPARATOR, &[0; 4]),
            (0, ev::EV_NO_ACTION, b"info"),
            (2, ev::EV_EFI_ACTION, b"a"),
            (4, ev::EV_IPL, b"b"),
        ],
    );
    let mut expected = [[0u8; 48]; 4];
    extend(&mut expected[0], &sha(&[0; 4]));
    extend(&mut expected[1], &sha(b"a"));
    extend(&mut expected[3], &sha(b"b"));
    assert_eq!(replay_rtmrs(&log).unwrap(), expected);
    // Filler after the log, 0xFF or 0x00, changes nothing; a byte in it is an error.
    for fill in [0xFFu8, 0x00] {
        let mut area = log.clone();
        area.resize(log.len() + 4096, fill);
        assert_eq!(replay_rtmrs(&area).unwrap(), expected);
        area[log.len() + 100] ^= 1;
        assert_eq!(replay_rtmrs(&area), Err(ReplayError::Log(LogError::Filler { at: log.len() })));
    }
    let parsed = Log::parse(&log).unwrap();
    let events: Vec<_> = parsed.events().map(Result::unwrap).collect();
    assert_eq!(events.len(), 4);
    assert_eq!(events[2].data, b"a");
    assert_eq!(events[2].digest(alg::SHA256), Some(&[0u8; 32][..]));
    assert_eq!(events[2].digest(alg::SHA1), None);
}

#[test]
fn every_cut_of_a_log_is_an_error_or_the_events_before_it() {
    let log = build(&[SHA384], &[(1, ev::EV_SEPARATOR, &[0; 4]), (2, ev::EV_EFI_ACTION, b"abc")]);
    let header_end = Log::parse(&log).unwrap().events().next().unwrap().unwrap().offset;
    let second = header_end + 12 + 50 + 4 + 4;
    for cut in 0..log.len() {
        let r = replay_rtmrs(&log[..cut]);
        if cut == header_end || cut == second {
            assert!(r.is_ok(), "a log ending after a whole event reads ({cut})");
        } else {
            assert!(r.is_err(), "cut at {cut} must not read");
        }
    }
}

#[test]
fn the_header_is_checked_at_its_bounds() {
    let algs: Vec<(u16, u16)> =
        (0..MAX_ALGORITHMS as u16).map(|i| if i == 0 { SHA384 } else { (0x100 + i, 64) }).collect();
    assert!(replay_rtmrs(&build(&algs, &[(1, ev::EV_SEPARATOR, &[0; 4])])).is_ok(), "8 algorithms, 64 bytes");
    let mut nine = algs.clone();
    nine.push((0x200, 32));
    assert_eq!(Log::parse(&build(&nine, &[])).unwrap_err(), LogError::BadAlgorithms);
    assert_eq!(Log::parse(&build(&[], &[])).unwrap_err(), LogError::BadAlgorithms);
    assert_eq!(Log::parse(&build(&[SHA384, (0x100, 65)], &[])).unwrap_err(), LogError::BadAlgorithms);
    assert_eq!(Log::parse(&build(&[SHA384, (0x100, 0)], &[])).unwrap_err(), LogError::BadAlgorithms);
    assert_eq!(Log::parse(&build(&[SHA384, SHA384], &[])).unwrap_err(), LogError::BadAlgorithms);
    // No SHA-384 bank: the log reads, its replay does not.
    let sha256_only = build(&[(alg::SHA256, 32)], &[(1, ev::EV_SEPARATOR, &[0; 4])]);
    assert!(Log::parse(&sha256_only).is_ok());
    assert_eq!(replay_rtmrs(&sha256_only), Err(ReplayError::NoSha384));
    // A first record that is not the Spec ID event.
    let mut log = build(&[SHA384], &[]);
    log[32] ^= 1; // in the signature
    assert_eq!(Log::parse(&log).unwrap_err(), LogError::NotCryptoAgile);
    let mut log = build(&[SHA384], &[]);
    log[4] = 1; // type EV_POST_CODE
    assert_eq!(Log::parse(&log).unwrap_err(), LogError::NotCryptoAgile);
    // Header data longer than its fields.
    let mut log = build(&[SHA384], &[]);
    log[28] += 1;
    log.push(0);
    assert_eq!(Log::parse(&log).unwrap_err(), LogError::HeaderTrailing);
}

#[test]
fn events_carry_exactly_the_headers_digests_and_name_rtmrs() {
    let log = build(&[(alg::SHA256, 32), SHA384], &[(1, ev::EV_SEPARATOR, &[0; 4])]);
    let at = Log::parse(&log).unwrap().events().next().unwrap().unwrap().offset;
    // Count 1 instead of 2.
    let mut bad = log.clone();
    bad[at + 8] = 1;
    assert_eq!(replay_rtmrs(&bad), Err(ReplayError::Log(LogError::Digests { at })));
    // An algorithm the header does not name.
    let mut bad = log.clone();
    bad[at + 12] = 0x0d;
    assert_eq!(replay_rtmrs(&bad), Err(ReplayError::Log(LogError::Digests { at })));
    // The same algorithm twice.
    let mut bad = log.clone();
    bad[at + 12..at + 14].copy_from_slice(&alg::SHA384.to_le_bytes());
    assert!(matches!(replay_rtmrs(&bad), Err(ReplayError::Log(_))));
    // Registers: 1..=4 extend RTMR0..3; 0 (MRTD) and 5 are refused unless EV_NO_ACTION.
    for (index, ok) in [(0u32, false), (1, true), (4, true), (5, false)] {
        let log = build(&[SHA384], &[(index, ev::EV_SEPARATOR, &[0; 4])]);
        assert_eq!(replay_rtmrs(&log).is_ok(), ok, "index {index}");
        let log = build(&[SHA384], &[(index, ev::EV_NO_ACTION, b"x")]);
        assert_eq!(replay_rtmrs(&log).unwrap(), [[0; 48]; 4], "index {index}, no action");
    }
    // An event's size past the end.
    let mut bad = log.clone();
    let size_at = at + 12 + 34 + 50;
    bad[size_at..size_at + 4].copy_from_slice(&5u32.to_le_bytes());
    assert_eq!(replay_rtmrs(&bad), Err(ReplayError::Log(LogError::Truncated { at })));
    bad[size_at..size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(replay_rtmrs(&bad), Err(ReplayError::Log(LogError::Truncated { at })));
}

#[test]
fn the_uefi_boot_prediction_is_the_replay_of_its_own_events() {
    let gpt = sha(b"gpt");
    let apps = [sha(b"app")];
    let log = build(
        &[SHA384],
        &[(2, ev::EV_EFI_ACTION, uefi_boot::CALLING_EFI_APPLICATION), (2, ev::EV_SEPARATOR, &uefi_boot::SEPARATOR)],
    );
    let mut by_hand = replay_rtmrs(&log).unwrap()[1];
    extend(&mut by_hand, &gpt);
    extend(&mut by_hand, &apps[0]);
    extend(&mut by_hand, &sha(uefi_boot::EXIT_BOOT_SERVICES_INVOCATION));
    extend(&mut by_hand, &sha(uefi_boot::EXIT_BOOT_SERVICES_SUCCESS));
    assert_eq!(uefi_boot::rtmr1(&gpt, &apps), by_hand);
    assert_ne!(uefi_boot::rtmr1(&gpt, &[]), by_hand);
}

/// A disk of 512-byte sectors with a GPT header at LBA 1 and `entries` 128-byte entries at LBA 2.
fn disk(entries: &[[u8; 128]], total: u32) -> Vec<u8> {
    let mut d = vec![0u8; 512 * 64];
    let h = &mut d[512..512 + 92];
    h[..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[72..80].copy_from_slice(&2u64.to_le_bytes());
    h[80..84].copy_from_slice(&total.to_le_bytes());
    h[84..88].copy_from_slice(&128u32.to_le_bytes());
    for (i, e) in entries.iter().enumerate() {
        d[1024 + 128 * i..1024 + 128 * (i + 1)].copy_from_slice(e);
    }
    d
}

#[test]
fn the_gpt_event_holds_the_header_and_the_used_entries() {
    let mut a = [0u8; 128];
    a[0] = 1;
    let mut b = [0u8; 128];
    b[15] = 2;
    let d = disk(&[a, [0; 128], b], 128);
    let mut expected = d[512..604].to_vec();
    expected.extend_from_slice(&2u64.to_le_bytes());
    expected.extend_from_slice(&a);
    expected.extend_from_slice(&b);
    assert_eq!(uefi_boot::gpt_event_digest(&d).unwrap(), sha(&expected));
    // Bounds: the array must fit the disk; sizes in range.
    assert_eq!(uefi_boot::gpt_event_digest(&d[..1024 + 128 * 128 - 1]), Err(uefi_boot::GptError::Truncated));
    assert!(uefi_boot::gpt_event_digest(&disk(&[a], uefi_boot::MAX_GPT_ENTRIES)).is_err(), "the array past the disk");
    let mut big = disk(&[a], uefi_boot::MAX_GPT_ENTRIES);
    big.resize(1024 + 128 * uefi_boot::MAX_GPT_ENTRIES as usize, 0);
    assert!(uefi_boot::gpt_event_digest(&big).is_ok());
    let too_many = disk(&[a], uefi_boot::MAX_GPT_ENTRIES + 1);
    assert_eq!(uefi_boot::gpt_event_digest(&too_many), Err(uefi_boot::GptError::Geometry));
    let mut bad = d.clone();
    bad[512] = b'X';
    assert_eq!(uefi_boot::gpt_event_digest(&bad), Err(uefi_boot::GptError::Signature));
    let mut bad = d.clone();
    bad[512 + 84..512 + 88].copy_from_slice(&100u32.to_le_bytes());
    assert_eq!(uefi_boot::gpt_event_digest(&bad), Err(uefi_boot::GptError::Geometry));
    assert_eq!(uefi_boot::gpt_event_digest(&d[..600]), Err(uefi_boot::GptError::Truncated));
}

#[test]
fn the_final_events_table_completes_the_log() {
    let algorithms = [(alg::SHA256, 32), SHA384];
    let head: &[(u32, u32, &[u8])] = &[(2, ev::EV_EFI_ACTION, b"Calling EFI Application from Boot Option")];
    let tail: &[(u32, u32, &[u8])] = &[
        (2, ev::EV_EFI_ACTION, b"Exit Boot Services Invocation"),
        (2, ev::EV_EFI_ACTION, b"Exit Boot Services Returned with Success"),
    ];
    let whole = build(&algorithms, &[head, tail].concat());
    let early = build(&algorithms, head);
    // The tail's records as the firmware keeps them: after the table's header, then its area.
    let records = &whole[early.len()..];
    let table = |version: u64, count: u64, fill: usize| {
        let mut t = version.to_le_bytes().to_vec();
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(records);
        t.extend(std::iter::repeat_n(0xff, fill));
        t
    };
    let log = Log::parse(&early).unwrap();
    let t = table(1, 2, 4096);
    let events = final_events(&log, &t).unwrap();
    assert_eq!([&early[..], events].concat(), whole, "the log read early plus the table is the whole log");
    let mut rtmr1 = [0u8; 48];
    for (_, _, data) in [head, tail].concat() {
        extend(&mut rtmr1, &sha(data));
    }
    assert_eq!(replay_rtmrs(&[&early[..], events].concat()).unwrap()[1], rtmr1);
    // Fewer events claimed: only those; none: nothing.
    let first = build(&algorithms, &[head, &tail[..1]].concat()).len() - early.len();
    assert_eq!(final_events(&log, &table(1, 1, 0)).unwrap(), &records[..first]);
    assert_eq!(final_events(&log, &table(1, 0, 0)).unwrap(), &[] as &[u8]);
    // More claimed than there are, another version, a claim over the bound, a short header,
    // a record with another digest list: refused.
    assert!(matches!(final_events(&log, &table(1, 3, 4096)), Err(LogError::Truncated { .. })));
    assert!(matches!(final_events(&log, &table(1, 3, 0)), Err(LogError::Truncated { .. })));
    assert_eq!(final_events(&log, &table(2, 2, 0)), Err(LogError::FinalTable));
    assert_eq!(final_events(&log, &table(1, MAX_FINAL_EVENTS + 1, 0)), Err(LogError::FinalTable));
    assert!(matches!(final_events(&log, &t[..15]), Err(LogError::Truncated { .. })));
    let sha384_only = build(&[SHA384], head);
    assert!(matches!(final_events(&Log::parse(&sha384_only).unwrap(), &t), Err(LogError::Digests { .. })));
}
