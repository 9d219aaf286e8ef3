//! Hand-made images through the GUID-table parser and the measurements: every metadata section
//! type is read back as written, and every malformed table is a clear error — never a digest.

mod common;

use common::{Snp, Tdvf, gpa, image};
use fcc_image::{ovmf, snp, tdx};
use fcc_layout::guid_tables::{self as gt, Guid, SnpSectionType as S, TdvfSectionType as T};

const PAGES: usize = 4;

fn snp_ok() -> Vec<Snp> {
    vec![
        (0x10_0000, 0x3000, 1),
        (0x20_0000, 0x1000, 2),
        (0x20_1000, 0x1000, 3),
        (0x20_2000, 0x1000, 4),
        (0x20_3000, 0x1000, 0x10),
    ]
}

fn tdvf_ok() -> Vec<Tdvf> {
    let rom = gpa(PAGES, 0);
    vec![
        (0, 0x2000, rom, 0x2000, 0, 1),
        (0x2000, 0x1000, rom + 0x2000, 0x2000, 1, 0),
        (0, 0, 0x80_0000, 0x2000, 2, 0),
        (0, 0, 0x90_0000, 0x1000, 3, 0),
    ]
}

fn err(img: &[u8]) -> String {
    match ovmf::parse(img) {
        Ok(t) => panic!("parsed a bad image: {t:?}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn every_section_type_reads_back() {
    let img = image(PAGES, Some(0xffff_f800), Some(&snp_ok()), Some(&tdvf_ok()), &[]);
    let t = ovmf::parse(&img).unwrap();
    assert_eq!(t.sev_es_reset, Some(0xffff_f800));
    let kinds: Vec<S> = t.snp_sections.as_ref().unwrap().iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [S::SecMem, S::Secrets, S::Cpuid, S::SvsmCaa, S::KernelHashes]);
    assert_eq!(t.snp_sections.as_ref().unwrap()[0].region.size(), 0x3000);
    let kinds: Vec<T> = t.tdvf_sections.as_ref().unwrap().iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [T::Bfv, T::Cfv, T::TdHob, T::TempMem]);
    assert_eq!(t.tdvf_sections.as_ref().unwrap()[0].attributes, gt::TDVF_ATTR_MR_EXTEND);
    // Unknown entries are kept, not an error.
    let other = Guid::parse("7255371f-3a3b-4b04-927b-1da6efa8d454");
    let img = image(PAGES, Some(0xffff_f800), None, None, &[(other, vec![1, 2, 3, 4, 5])]);
    let t = ovmf::parse(&img).unwrap();
    assert!(t.entries.iter().any(|(g, d)| *g == other && d == &[1, 2, 3, 4, 5]));
    assert!(t.snp_sections.is_none() && t.tdvf_sections.is_none());
}

#[test]
fn measurements_need_their_tables() {
    let img = image(PAGES, Some(0xffff_f800), None, None, &[]);
    let t = ovmf::parse(&img).unwrap();
    assert!(format!("{:#}", snp::launch_digest(&img, &t, 1, 0xa00f11, 1).unwrap_err()).contains("no SEV metadata"));
    assert!(format!("{:#}", tdx::mrtd(&img, &t, tdx::Order::PageByPage).unwrap_err()).contains("no TDVF metadata"));
    let img = image(PAGES, None, Some(&snp_ok()), None, &[]);
    let t = ovmf::parse(&img).unwrap();
    assert!(
        format!("{:#}", snp::launch_digest(&img, &t, 1, 0xa00f11, 1).unwrap_err()).contains("no SEV-ES reset block")
    );
}

#[test]
fn mrtd_orders_differ_and_depend_on_contents() {
    let img = image(PAGES, None, None, Some(&tdvf_ok()), &[]);
    let t = ovmf::parse(&img).unwrap();
    let a = tdx::mrtd(&img, &t, tdx::Order::PageByPage).unwrap();
    let b = tdx::mrtd(&img, &t, tdx::Order::SectionBySection).unwrap();
    assert_ne!(a, b);
    let mut changed = img.clone();
    changed[5] ^= 1; // in the BFV
    assert_ne!(tdx::mrtd(&changed, &ovmf::parse(&changed).unwrap(), tdx::Order::PageByPage).unwrap(), a);
    // With one single-page extended section both orders agree.
    let one = image(PAGES, None, None, Some(&[(0, 0x1000, gpa(PAGES, 0), 0x1000, 0, 1)]), &[]);
    let t = ovmf::parse(&one).unwrap();
    assert_eq!(
        tdx::mrtd(&one, &t, tdx::Order::PageByPage).unwrap(),
        tdx::mrtd(&one, &t, tdx::Order::SectionBySection).unwrap()
    );
}

#[test]
fn bad_footer_tables() {
    let good = image(PAGES, Some(0xffff_f800), Some(&snp_ok()), Some(&tdvf_ok()), &[]);
    let len = good.len();
    let mut no_footer = good.clone();
    no_footer[len - 0x30] ^= 0xff;
    assert!(err(&no_footer).contains("no OVMF table footer GUID"));
    let mut short_total = good.clone();
    short_total[len - 0x32..len - 0x30].copy_from_slice(&10u16.to_le_bytes());
    assert!(err(&short_total).contains("less than the footer"));
    let mut long_total = good.clone();
    long_total[len - 0x32..len - 0x30].copy_from_slice(&0xffffu16.to_le_bytes());
    assert!(err(&long_total).contains("runs past the start"));
    let mut odd_total = good.clone();
    let total = u16::from_le_bytes([good[len - 0x32], good[len - 0x31]]);
    odd_total[len - 0x32..len - 0x30].copy_from_slice(&(total + 3).to_le_bytes());
    assert!(err(&odd_total).contains("bad GUID table"));
    let mut bad_entry = good.clone();
    bad_entry[len - 0x32 - 18..len - 0x32 - 16].copy_from_slice(&5u16.to_le_bytes()); // last entry's length
    assert!(err(&bad_entry).contains("has length 5"));
    let twice = image(PAGES, Some(0xffff_f800), None, None, &[(gt::SEV_ES_RESET_BLOCK, vec![0; 4])]);
    assert!(err(&twice).contains("appears twice"));
    let short_data = image(PAGES, None, None, None, &[(gt::SEV_ES_RESET_BLOCK, vec![1, 2])]);
    assert!(err(&short_data).contains("2 bytes of data"));
    assert!(err(&image(PAGES, Some(0), None, None, &[])).contains("address is zero"));
    let far = image(PAGES, None, None, None, &[(gt::SEV_METADATA, 0x10_0000u32.to_le_bytes().to_vec())]);
    assert!(err(&far).contains("outside the"));
}

#[test]
fn truncated_images() {
    let good = image(PAGES, Some(0xffff_f800), Some(&snp_ok()), None, &[]);
    assert!(err(&good[..good.len() - 1]).contains("truncated"));
    assert!(err(&good[..100]).contains("truncated"));
    assert!(err(&good[..good.len() - 4096]).contains("no OVMF table footer"));
    // Cut at the front, the image is another (smaller) image mapped higher: never the same ROM.
    assert_ne!(ovmf::parse(&good[4096..]).unwrap().rom, ovmf::parse(&good).unwrap().rom);
    assert!(err(&[]).contains("truncated"));
}

#[test]
fn bad_sev_metadata() {
    let cases: Vec<(Vec<Snp>, &str)> = vec![
        (vec![(0x10_0000, 0x1800, 1)], "not whole pages"),
        (vec![(0x10_0800, 0x1000, 1)], "not whole pages"),
        (vec![(0x10_0000, 0, 1)], "not whole pages"),
        (vec![(0x10_0000, 0x2000, 1), (0x10_1000, 0x1000, 2)], "sections 0 and 1 overlap"),
        (vec![(0x10_0000, 0x1000, 9)], "unknown type 9"),
        (vec![(0x10_0000, 0x2000, 2)], "not one page"),
        (vec![(0x10_0000, 0x2000, 3)], "not one page"),
        (vec![(gpa(PAGES, 1) as u32, 0x1000, 1)], "overlaps the ROM"),
        (vec![(0xffff_f000, 0x2000, 1)], "above 4 GiB"),
    ];
    for (sections, want) in cases {
        let got = err(&image(PAGES, Some(0xffff_f800), Some(&sections), None, &[]));
        assert!(got.contains(want), "{sections:x?}: {got}");
    }
    let good = image(PAGES, Some(0xffff_f800), Some(&snp_ok()), None, &[]);
    let base = good.len() - 4096;
    let mut sig = good.clone();
    sig[base] = b'X';
    assert!(err(&sig).contains("ASEV"));
    let mut version = good.clone();
    version[base + 8] = 2;
    assert!(err(&version).contains("version 2"));
    let mut count = good.clone();
    count[base + 12] = 200;
    assert!(err(&count).contains("do not fit"));
    let mut size = good.clone();
    size[base + 4..base + 8].copy_from_slice(&0x10_0000u32.to_le_bytes());
    assert!(err(&size).contains("runs past the end"));
}

#[test]
fn bad_tdvf_metadata() {
    let rom = gpa(PAGES, 0);
    let cases: Vec<(Vec<Tdvf>, &str)> = vec![
        (vec![(0, 0x1000, rom, 0x1000, 4, 0)], "unsupported type 4"),
        (vec![(0, 0x1000, rom, 0x1000, 0, 1), (0, 0, 0x1000, 0x1000, 6, 0)], "unsupported type 6"),
        (vec![(0, 0x1000, rom + 0x800, 0x1000, 0, 1)], "not 4 KiB aligned"),
        (vec![(0, 0x1000, rom, 0x1800, 0, 1)], "not 4 KiB aligned"),
        (vec![(0x800, 0x1000, rom, 0x2000, 0, 1)], "not 4 KiB aligned"),
        (vec![(0, 0x2000, rom, 0x1000, 0, 1)], "more data than memory"),
        (vec![(0x3000, 0x2000, rom, 0x2000, 0, 1)], "runs past the end"),
        (vec![(0, 0x1000, rom, 0x1000, 0, 1), (0, 0, 0x1000, 0x1000, 2, 1)], "no MR.EXTEND"),
        (vec![(0, 0x1000, rom, 0x1000, 0, 1), (0, 0x1000, 0x1000, 0x1000, 3, 0)], "must not carry data"),
        (vec![(0, 0, rom, 0x1000, 0, 1)], "carries no data"),
        (vec![(0, 0x1000, rom, 0x1000, 0, 1 | 8)], "unknown attributes"),
        (vec![(0, 0x1000, rom, 0x2000, 0, 1), (0, 0, rom + 0x1000, 0x1000, 3, 0)], "sections 0 and 1 overlap"),
        (vec![(0, 0, 0x1000, 0x1000, 3, 0)], "exactly one BFV"),
    ];
    for (sections, want) in cases {
        let got = err(&image(PAGES, None, None, Some(&sections), &[]));
        assert!(got.contains(want), "{sections:x?}: {got}");
    }
}
