//! `fcc-image verify`: manifests, bare measurements, SEV-SNP reports and TDX quotes against an
//! image — every match found, every differing field named. Synthetic evidence uses a hand-made
//! image; real public reports and quotes come from `../shared/testdata` (or `$FCC_TESTDATA`) and
//! the tests say SKIPPED where it is absent.

mod common;

use std::path::{Path, PathBuf};

use common::{Snp, gpa, image};
use fcc_image::measure::{self, Request};
use fcc_image::snp::{self, ZeroPages};
use fcc_image::tdx::{self, Order};
use fcc_image::{build, ovmf, verify};
use serde_json::Value;

const PAGES: usize = 4;

fn img() -> Vec<u8> {
    let snp: Vec<Snp> = vec![(0x10_0000, 0x2000, 1), (0x20_0000, 0x1000, 2), (0x20_1000, 0x1000, 3)];
    let rom = gpa(PAGES, 0);
    let tdvf = vec![(0, (PAGES * 4096) as u32, rom, (PAGES * 4096) as u64, 0, 1), (0, 0, 0x90_0000, 0x1000, 3, 0)];
    image(PAGES, Some(0xffff_f000), Some(&snp), Some(&tdvf), &[])
}

fn request() -> Request {
    Request { vcpus: vec![1, 4, 16], vcpu_types: vec!["EPYC-Milan".into(), "EPYC-Genoa".into()], ..Request::default() }
}

fn fields(v: &verify::Verdict) -> Vec<&str> {
    v.mismatches.iter().map(|m| m.field.as_str()).collect()
}

fn digest(img: &[u8], vcpus: u32, sig: u32) -> [u8; 48] {
    snp::launch_digest(img, &ovmf::parse(img).unwrap(), vcpus, sig, snp::DEFAULT_GUEST_FEATURES).unwrap()
}

#[test]
fn a_manifest_matches_and_each_changed_field_is_named() {
    let img = img();
    let good = measure::manifest(&img, &request()).unwrap();
    let v = verify::manifest(&img, None, &good).unwrap();
    assert!(v.is_match(), "{}", v.render());

    let mut bad = good.clone();
    let entry = &mut bad["snp"]["launch_digests"][4]; // EPYC-Genoa x 4
    assert_eq!(entry["vcpus"], 4);
    entry["digest"] = Value::String("00".repeat(48));
    bad["rom"]["sha384"] = Value::String("ab".repeat(48));
    bad["tdx"]["page_by_page"]["mrtd"] = Value::String("cd".repeat(48));
    let v = verify::manifest(&img, None, &bad).unwrap();
    assert!(!v.is_match());
    assert_eq!(
        fields(&v),
        ["rom.sha384", "snp.launch_digests[EPYC-Genoa x 4].digest", "tdx.page_by_page.mrtd"],
        "{}",
        v.render()
    );
    assert!(v.render().contains("MISMATCH"));

    // Upper-case hex is the same value; a missing or extra field is a difference.
    let mut upper = good.clone();
    upper["rom"]["sha384"] = Value::String(good["rom"]["sha384"].as_str().unwrap().to_uppercase());
    assert!(verify::manifest(&img, None, &upper).unwrap().is_match());
    let mut missing = good.clone();
    missing["tdx"].as_object_mut().unwrap().remove("section_by_section");
    missing["extra"] = Value::Bool(true);
    assert_eq!(fields(&verify::manifest(&img, None, &missing).unwrap()), ["tdx.section_by_section", "extra"]);

    // The order of the SNP entries does not matter; a missing one is named.
    let mut reordered = good.clone();
    reordered["snp"]["launch_digests"].as_array_mut().unwrap().reverse();
    assert!(verify::manifest(&img, None, &reordered).unwrap().is_match());
    let mut fewer = good.clone();
    let removed = fewer["snp"]["launch_digests"].as_array_mut().unwrap().remove(1);
    assert_eq!(removed["vcpus"], 4);
    // The request recomputed from the claim still has 4 vCPUs (for Genoa), so the Milan entry is
    // named as missing from the claim.
    assert_eq!(
        fields(&verify::manifest(&img, None, &fewer).unwrap()),
        ["snp.launch_digests.length", "snp.launch_digests[EPYC-Milan x 4]"]
    );

    // A manifest of another image differs in its ROM hash and every measurement.
    let mut other = img.clone();
    other[0] ^= 1;
    let v = verify::manifest(&other, None, &good).unwrap();
    assert_eq!(v.mismatches.len(), 1 + 6 + 2, "{}", v.render());
}

#[test]
fn malformed_manifests_are_errors() {
    let img = img();
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"snp": {"guest_features": "zz", "launch_digests": []}}),
        serde_json::json!({"snp": {"guest_features": "0x1", "launch_digests": [{"vcpus": 0, "vcpu_type": "EPYC-Milan"}]}}),
        serde_json::json!({"snp": {"guest_features": "0x1", "launch_digests": [{"vcpus": 2, "vcpu_type": "Skylake"}]}}),
    ] {
        assert!(verify::manifest(&img, None, &bad).is_err(), "{bad}");
    }
}

#[test]
fn a_bare_measurement_is_found_or_reported_missing() {
    let img = img();
    let tables = ovmf::parse(&img).unwrap();
    let search = verify::Search::default();
    let genoa = snp::cpu_type_signature("EPYC-Genoa").unwrap();
    let v = verify::measurement(&img, &digest(&img, 13, genoa), &search).unwrap();
    assert!(v.is_match());
    assert!(v.matched[0].contains("EPYC-Genoa") && v.matched[0].contains("13 vCPUs"), "{}", v.render());

    let mrtd = tdx::mrtd(&img, &tables, Order::SectionBySection).unwrap();
    let v = verify::measurement(&img, &mrtd, &search).unwrap();
    assert!(v.matched[0].contains("section_by_section"), "{}", v.render());

    // 65 vCPUs is beyond the default search; the igvm crate's convention is not QEMU's.
    let v = verify::measurement(&img, &digest(&img, 65, genoa), &search).unwrap();
    assert_eq!(fields(&v), ["measurement"]);
    let wide = verify::Search { max_vcpus: 80, ..search.clone() };
    assert!(verify::measurement(&img, &digest(&img, 65, genoa), &wide).unwrap().is_match());
    let crate_form =
        snp::launch_digest_with(&img, &tables, 2, genoa, snp::DEFAULT_GUEST_FEATURES, ZeroPages::NormalZeroed).unwrap();
    assert!(!verify::measurement(&img, &crate_form, &search).unwrap().is_match());

    assert!(verify::parse_measurement(&"ab".repeat(32)).unwrap_err().to_string().contains("48 bytes"));
    assert!(verify::parse_measurement("xyz").is_err());
    assert!(verify::parse_measurement(&format!("0x{}", "ab".repeat(48))).is_ok());
}

fn snp_report(version: u32, policy: u64, cpuid: [u8; 3], measurement: &[u8; 48]) -> Vec<u8> {
    let mut r = vec![0u8; verify::SNP_REPORT_LEN];
    r[0..4].copy_from_slice(&version.to_le_bytes());
    r[8..16].copy_from_slice(&policy.to_le_bytes());
    r[0x90..0xC0].copy_from_slice(measurement);
    r[0x188..0x18B].copy_from_slice(&cpuid);
    r
}

#[test]
fn snp_reports() {
    let img = img();
    let search = verify::Search::default();
    // A Genoa B1 part (stepping 1): QEMU passes the host's signature with `-cpu host`.
    let host_sig = snp::cpu_signature(0x19, 0x11, 1);
    let good = snp_report(3, 0x30000, [0x19, 0x11, 1], &digest(&img, 4, host_sig));
    let v = verify::snp_report(&img, &good, &search).unwrap();
    assert!(v.is_match(), "{}", v.render());
    assert!(v.matched[0].contains("the report's CPU"), "{}", v.render());
    // Version 2 reports carry no CPUID: only the named models are tried.
    let v2 = snp_report(2, 0x30000, [0x19, 0x11, 1], &digest(&img, 4, host_sig));
    assert_eq!(fields(&verify::snp_report(&img, &v2, &search).unwrap()), ["report.MEASUREMENT"]);

    let debug = snp_report(3, 0x30000 | 1 << 19, [0x19, 0x11, 1], &digest(&img, 4, host_sig));
    assert_eq!(fields(&verify::snp_report(&img, &debug, &search).unwrap()), ["report.POLICY.DEBUG"]);
    // An MRTD in an SNP report is not a match.
    let mrtd = tdx::mrtd(&img, &ovmf::parse(&img).unwrap(), Order::PageByPage).unwrap();
    let wrong = snp_report(3, 0x30000, [0x19, 0x11, 1], &mrtd);
    assert_eq!(fields(&verify::snp_report(&img, &wrong, &search).unwrap()), ["report.MEASUREMENT"]);

    assert!(verify::snp_report(&img, &good[..100], &search).unwrap_err().to_string().contains("1184"));
    let v1 = snp_report(1, 0x30000, [0; 3], &[0; 48]);
    assert!(verify::snp_report(&img, &v1, &search).unwrap_err().to_string().contains("version 1"));
    // The file reader tells a report from a manifest or a hex measurement.
    assert!(verify::file(&img, None, &good, &search).unwrap().is_match());
    assert!(verify::file(&img, None, hex::encode(digest(&img, 2, host_sig)).as_bytes(), &search).is_ok());
    assert!(verify::file(&img, None, b"hello", &search).is_err());
}

fn tdx_quote(version: u16, attributes: u64, mrtd: &[u8; 48]) -> Vec<u8> {
    let body = if version == 5 { 54 } else { 48 };
    let mut q = vec![0u8; body + 584 + 64];
    q[0..2].copy_from_slice(&version.to_le_bytes());
    q[4..8].copy_from_slice(&0x81u32.to_le_bytes());
    if version == 5 {
        q[48..50].copy_from_slice(&2u16.to_le_bytes());
        q[50..54].copy_from_slice(&584u32.to_le_bytes());
    }
    q[body + 120..body + 128].copy_from_slice(&attributes.to_le_bytes());
    q[body + 136..body + 184].copy_from_slice(mrtd);
    q
}

#[test]
fn tdx_quotes() {
    let img = img();
    let tables = ovmf::parse(&img).unwrap();
    for version in [4, 5] {
        for order in Order::ALL {
            let q = tdx_quote(version, 0x1000_0000, &tdx::mrtd(&img, &tables, order).unwrap());
            let v = verify::tdx_quote(&img, &q).unwrap();
            assert!(v.is_match() && v.matched[0].contains(order.label()), "{}", v.render());
        }
        let debug = tdx_quote(version, 0x1000_0001, &tdx::mrtd(&img, &tables, Order::PageByPage).unwrap());
        assert_eq!(fields(&verify::tdx_quote(&img, &debug).unwrap()), ["quote.TD_ATTRIBUTES.DEBUG"]);
        let other = tdx_quote(version, 0, &[7; 48]);
        assert_eq!(fields(&verify::tdx_quote(&img, &other).unwrap()), ["quote.MRTD"]);
        let q = tdx_quote(version, 0, &[7; 48]);
        assert!(verify::tdx_quote(&img, &q[..300]).unwrap_err().to_string().contains("truncated"));
    }
    let mut v3 = tdx_quote(4, 0, &[0; 48]);
    v3[0] = 3;
    assert!(verify::tdx_quote(&img, &v3).unwrap_err().to_string().contains("version 3"));
    let mut sgx = tdx_quote(4, 0, &[0; 48]);
    sgx[4] = 0;
    assert!(verify::tdx_quote(&img, &sgx).unwrap_err().to_string().contains("not TDX"));
}

fn testdata() -> Option<PathBuf> {
    let dir = std::env::var_os("FCC_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| build::workspace_root().join("../shared/testdata"));
    if dir.join("manifest.json").exists() {
        Some(dir)
    } else {
        println!("SKIPPED: no attestation test data at {} (set FCC_TESTDATA)", dir.display());
        None
    }
}

fn files(dir: &Path, sub: &str, name: &str) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| e.unwrap().path().join(name))
        .filter(|p| p.exists())
        .collect();
    out.sort();
    out
}

/// Real reports and quotes from public projects measure other images: each is a mismatch that
/// names MEASUREMENT / MRTD. With our measurement written into the same bytes, they match — so the
/// offsets are right for real layouts (report versions 2, 3, 5; quote versions 4 and 5).
#[test]
fn real_reports_and_quotes() {
    let Some(dir) = testdata() else { return };
    let img = img();
    let tables = ovmf::parse(&img).unwrap();
    let search = verify::Search::default();
    let reports = files(&dir, "snp", "report.bin");
    assert!(reports.len() >= 5, "{reports:?}");
    for path in reports {
        let mut report = std::fs::read(&path).unwrap();
        let v = verify::snp_report(&img, &report, &search).unwrap();
        let want: &[&str] = if u64::from_le_bytes(report[8..16].try_into().unwrap()) & 1 << 19 != 0 {
            &["report.MEASUREMENT", "report.POLICY.DEBUG"]
        } else {
            &["report.MEASUREMENT"]
        };
        assert_eq!(fields(&v), want, "{}", path.display());
        report[0x90..0xC0].copy_from_slice(&digest(&img, 2, snp::cpu_type_signature("EPYC-Milan").unwrap()));
        let v = verify::snp_report(&img, &report, &search).unwrap();
        assert!(v.matched.iter().any(|m| m.contains("EPYC-Milan")), "{}: {}", path.display(), v.render());
    }
    let quotes = files(&dir, "tdx", "quote.bin");
    assert!(quotes.len() >= 3, "{quotes:?}");
    for path in quotes {
        let mut quote = std::fs::read(&path).unwrap();
        let v = verify::tdx_quote(&img, &quote).unwrap();
        assert!(fields(&v).contains(&"quote.MRTD"), "{}: {}", path.display(), v.render());
        let body = if quote[0] == 5 { 54 } else { 48 };
        quote[body + 136..body + 184].copy_from_slice(&tdx::mrtd(&img, &tables, Order::PageByPage).unwrap());
        let v = verify::tdx_quote(&img, &quote).unwrap();
        assert!(v.matched.iter().any(|m| m.contains("MRTD")), "{}: {}", path.display(), v.render());
    }
}
