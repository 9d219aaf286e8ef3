//! A real cloud TDX boot (`../shared/testdata/tdx/gcp-cos-ccel`: Google's TDX firmware booting
//! Container-Optimized OS, the CC event log of that boot and its quote): the replay must give the
//! registers the TDX module put in the quote, our RTMR1 prediction fed that boot's own GPT and
//! application digests must give its RTMR1, and any change to the log must be named event by event.
//! Where the data is absent the tests print `SKIPPED: ...` and return.

use std::path::PathBuf;

use fcc_attest::Error;
use fcc_attest::eventlog::{compare, explain_rtmr1, replay, rtmr1_inputs};
use fcc_cvm_abi::eventlog::uefi_boot;
use fcc_cvm_abi::tdx::quote::Quote;

fn dir() -> Option<PathBuf> {
    let d = match std::env::var_os("FCC_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    };
    let d = d.join("tdx/gcp-cos-ccel");
    d.join("ccel_data.dat").is_file().then_some(d)
}

macro_rules! testdata_or_skip {
    () => {
        match dir() {
            Some(d) => d,
            None => {
                println!("SKIPPED: no GCP CC event log (set FCC_TESTDATA or provide ../shared/testdata)");
                return;
            }
        }
    };
}

fn evidence(d: &std::path::Path) -> (Vec<u8>, [[u8; 48]; 4]) {
    let log = std::fs::read(d.join("ccel_data.dat")).unwrap();
    let quote = std::fs::read(d.join("cos-113-tdx-quote.dat")).unwrap();
    let q = Quote::new_checked(&quote[..]).unwrap();
    (log, [0, 1, 2, 3].map(|i| *q.rtmr(i)))
}

#[test]
fn the_gcp_log_replays_to_the_quotes_rtmrs() {
    let d = testdata_or_skip!();
    let (log, quote_rtmrs) = evidence(&d);
    assert_eq!(log.len(), 256 << 10, "the whole log area, filler included");
    let r = replay(&log).unwrap();
    for c in compare(&r, &quote_rtmrs) {
        assert!(c.equal, "RTMR{}: replayed {} quote {}", c.rtmr, c.replayed, c.expected);
    }
    assert_eq!(quote_rtmrs[3], [0; 48], "nothing extended RTMR3");
    let per: Vec<usize> = (0..4).map(|i| r.events.iter().filter(|e| e.rtmr == i).count()).collect();
    assert_eq!(per, [16, 7, 20, 0]);
    // The events people read: RTMR1's, in order.
    let rtmr1: Vec<(&str, &str)> =
        r.events.iter().filter(|e| e.rtmr == 1).map(|e| (e.event_type, e.about.as_str())).collect();
    assert_eq!(rtmr1[0], ("EV_EFI_ACTION", "\"Calling EFI Application from Boot Option\""));
    assert_eq!(rtmr1[1], ("EV_SEPARATOR", "separator"));
    assert_eq!(rtmr1[2], ("EV_EFI_GPT_EVENT", "GPT with 12 partitions"));
    assert_eq!(rtmr1[3].0, "EV_EFI_BOOT_SERVICES_APPLICATION");
    assert_eq!(rtmr1[5], ("EV_EFI_ACTION", "\"Exit Boot Services Invocation\""));
    assert!(r.events.iter().any(|e| e.about == "variable SecureBoot"));
}

#[test]
fn the_rtmr1_prediction_fed_the_boots_own_digests_gives_its_rtmr1() {
    let d = testdata_or_skip!();
    let (log, quote_rtmrs) = evidence(&d);
    let r = replay(&log).unwrap();
    let (gpt, apps) = rtmr1_inputs(&r).unwrap();
    assert_eq!(apps.len(), 2, "shim and GRUB");
    assert_eq!(uefi_boot::rtmr1(&gpt, &apps), quote_rtmrs[1]);
    assert_eq!(explain_rtmr1(&log, &gpt, &apps).unwrap(), None);
    // Another application: the explanation names the event and both digests.
    let other = [apps[0], [7u8; 48]];
    assert_ne!(uefi_boot::rtmr1(&gpt, &other), quote_rtmrs[1]);
    let why = explain_rtmr1(&log, &gpt, &other).unwrap().unwrap();
    assert!(why.starts_with("RTMR1 event 4: the log has EV_EFI_BOOT_SERVICES_APPLICATION"), "{why}");
    assert!(why.contains(&hex::encode(apps[1])) && why.contains(&hex::encode([7u8; 48])), "{why}");
    // One application (ours is one): the log's second application is named as unexpected.
    let why = explain_rtmr1(&log, &gpt, &apps[..1]).unwrap().unwrap();
    assert!(why.starts_with("RTMR1 event 4: the log has EV_EFI_BOOT_SERVICES_APPLICATION"), "{why}");
}

#[test]
fn the_gpt_event_of_a_disk_laid_out_from_the_logged_table_is_the_logged_digest() {
    let d = testdata_or_skip!();
    let (log, _) = evidence(&d);
    let r = replay(&log).unwrap();
    let (gpt, _) = rtmr1_inputs(&r).unwrap();
    // The logged UEFI_GPT_DATA: header (92) ‖ u64 n ‖ n entries. Lay it out as a disk (the header
    // at LBA 1, the used entries first in the array it names) and read the event back from it.
    let data = fcc_cvm_abi::eventlog::Log::parse(&log)
        .unwrap()
        .events()
        .map(Result::unwrap)
        .find(|e| e.event_type == fcc_cvm_abi::eventlog::event_type::EV_EFI_GPT_EVENT)
        .unwrap()
        .data;
    let header = &data[..92];
    let n = u64::from_le_bytes(data[92..100].try_into().unwrap()) as usize;
    let entries_lba = u64::from_le_bytes(header[72..80].try_into().unwrap()) as usize;
    let entry_size = u32::from_le_bytes(header[84..88].try_into().unwrap()) as usize;
    let total = u32::from_le_bytes(header[80..84].try_into().unwrap()) as usize;
    let mut disk = vec![0u8; entries_lba * 512 + total * entry_size];
    disk[512..604].copy_from_slice(header);
    disk[entries_lba * 512..entries_lba * 512 + n * entry_size].copy_from_slice(&data[100..100 + n * entry_size]);
    assert_eq!(uefi_boot::gpt_event_digest(&disk).unwrap(), gpt);
}

#[test]
fn a_changed_log_is_refused_or_named_where_it_differs() {
    let d = testdata_or_skip!();
    let (log, quote_rtmrs) = evidence(&d);
    let r = replay(&log).unwrap();
    // A digest byte of the first RTMR1 event changed: RTMR1 no longer matches, the explanation
    // names event 0.
    let first = r.events.iter().find(|e| e.rtmr == 1).unwrap().offset;
    let mut changed = log.clone();
    changed[first + 12 + 2] ^= 1;
    let cr = replay(&changed).unwrap();
    let c = compare(&cr, &quote_rtmrs);
    assert!(c[0].equal && !c[1].equal && c[2].equal);
    let (gpt, apps) = rtmr1_inputs(&r).unwrap();
    assert!(
        explain_rtmr1(&changed, &gpt, &apps).unwrap().unwrap().starts_with("RTMR1 event 0: the log has EV_EFI_ACTION")
    );
    // A byte of the filler after the log: the log is refused, not read short.
    let mut changed = log.clone();
    changed[200_000] = 0;
    let refused = replay(&changed).unwrap_err();
    assert!(matches!(&refused, Error::EventLog(m) if m.contains("neither an event nor")), "{refused}");
    // Over the bound.
    let mut long = log.clone();
    long.resize(fcc_attest::eventlog::MAX_LOG_LEN + 1, 0xff);
    assert!(matches!(replay(&long), Err(Error::Length { .. })));
}
