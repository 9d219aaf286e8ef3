//! Real, publicly published SEV-SNP reports and TDX quotes (`../shared/testdata`, or
//! `$FCC_TESTDATA`; sources in its README and manifest.json) verified at the times the manifest
//! gives, and tampered copies of each: every tampering must be refused with its own error.
//! Where the data is absent every test prints `SKIPPED: ...` and returns.

use std::path::PathBuf;

use fcc_attest::error::{Error, SnpCert};
use fcc_attest::manifest::{Manifest, SnpDigest, TdxMrtd};
use fcc_attest::{Binding, Evidence, Verifier, snp, tdx};
use serde_json::Value;
use sev::parser::ByteParser;

fn dir() -> Option<PathBuf> {
    let d = match std::env::var_os("FCC_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    };
    d.join("manifest.json").is_file().then_some(d)
}

macro_rules! testdata_or_skip {
    () => {
        match dir() {
            Some(d) => d,
            None => {
                println!("SKIPPED: no attestation test data (set FCC_TESTDATA or provide ../shared/testdata)");
                return;
            }
        }
    };
}

fn read(d: &std::path::Path, rel: &str) -> Vec<u8> {
    std::fs::read(d.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn manifest(d: &std::path::Path) -> Value {
    serde_json::from_slice(&read(d, "manifest.json")).unwrap()
}

fn hex_n<const N: usize>(v: &Value) -> [u8; N] {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

/// An SNP set's files and a time inside its VEK's validity.
struct SnpSet {
    report: Vec<u8>,
    vek: Vec<u8>,
    chain: Vec<u8>,
    now: u64,
    fields: Value,
    window: (u64, u64),
}

fn snp_set(d: &std::path::Path, id: &str) -> SnpSet {
    let m = manifest(d);
    let s = m["snp"]["sets"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
    let w = &s["cert_validity_window"];
    let window = (w["from_unix"].as_u64().unwrap(), w["until_unix"].as_u64().unwrap());
    SnpSet {
        report: read(d, s["report"].as_str().unwrap()),
        vek: read(d, s["vek"].as_str().unwrap()),
        chain: read(d, s["chain"].as_str().unwrap()),
        // Inside the window: a day after the VEK was issued.
        now: window.0 + 86_400,
        fields: s["report_fields"].clone(),
        window,
    }
}

/// Policy that checks genuineness only (the sets include a debug guest and a VMPL 1 report).
fn lenient() -> snp::Policy {
    snp::Policy { allow_debug: true, max_vmpl: 3, allow_vlek: true, min_tcb: None }
}

fn snp_ids(d: &std::path::Path) -> Vec<String> {
    manifest(d)["snp"]["sets"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

fn snp_err(_set: &SnpSet, report: &[u8], vek: &[u8], chain: &[u8], now: u64) -> Error {
    snp::verify(report, vek, chain, now, &lenient()).expect_err("tampered evidence must be refused")
}

#[test]
fn snp_every_set_verifies_with_the_manifests_fields() {
    let d = testdata_or_skip!();
    let ids = snp_ids(&d);
    assert_eq!(ids.len(), 7, "Milan x3, Milan VLEK, Genoa Azure, Genoa Oak, Turin");
    for id in ids {
        let s = snp_set(&d, &id);
        let v = snp::verify(&s.report, &s.vek, &s.chain, s.now, &lenient()).unwrap_or_else(|e| panic!("{id}: {e}"));
        let f = &s.fields;
        assert_eq!(v.measurement, hex_n::<48>(&f["measurement"]), "{id}");
        assert_eq!(v.report_data, hex_n::<64>(&f["report_data"]), "{id}");
        assert_eq!(u64::from(v.version), f["version"].as_u64().unwrap(), "{id}");
        assert_eq!(v.policy, u64::from_str_radix(f["policy"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap());
        assert_eq!(u64::from(v.vmpl), f["vmpl"].as_u64().unwrap(), "{id}");
        let t = &f["reported_tcb"];
        let tcb = v.reported_tcb;
        assert_eq!(
            (tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
            (
                t["bootloader"].as_u64().unwrap() as u8,
                t["tee"].as_u64().unwrap() as u8,
                t["snp"].as_u64().unwrap() as u8,
                t["microcode"].as_u64().unwrap() as u8
            ),
            "{id}"
        );
        assert_eq!(tcb.fmc.map(u64::from), t["fmc"].as_u64(), "{id}");
        // The TCB fields the guest reads itself (its sealing key follows COMMITTED_TCB), at the
        // offsets of fcc-cvm-abi, against the `sev` crate's parse of the same report.
        let ours = fcc_cvm_abi::snp::report::Report::new_checked(&s.report[..]).unwrap();
        let theirs = sev::firmware::guest::AttestationReport::from_bytes(&s.report).unwrap();
        let fields = |b: &[u8; 8]| match tcb.fmc {
            Some(_) => (Some(b[0]), b[1], b[2], b[3], b[7]),
            None => (None, b[0], b[1], b[6], b[7]),
        };
        for (name, ours, theirs) in [
            ("committed", ours.committed_tcb(), theirs.committed_tcb),
            ("current", ours.current_tcb(), theirs.current_tcb),
            ("launch", ours.launch_tcb(), theirs.launch_tcb),
        ] {
            let t = (theirs.fmc, theirs.bootloader, theirs.tee, theirs.snp, theirs.microcode);
            assert_eq!(fields(ours), t, "{id}: {name} TCB");
        }
        match (&v.signer, f["signing_key"].as_str().unwrap()) {
            (snp::Signer::Vcek { chip_id }, "VCEK") => {
                assert!(f["chip_id"].as_str().unwrap().starts_with(chip_id.as_str()), "{id}")
            }
            (snp::Signer::Vlek { csp }, "VLEK") => assert_eq!(csp, "CN=cc-us-east-2.amazonaws.com"),
            (signer, want) => panic!("{id}: {signer:?}, manifest says {want}"),
        }
        let product = id.split('/').nth(1).unwrap().split('-').next().unwrap();
        assert_eq!(v.product.name().to_lowercase(), product, "{id}");
        println!("{id}: ok ({:?}, TCB {})", v.product, v.reported_tcb);
    }
}

#[test]
fn snp_full_verdict_and_default_policy() {
    let d = testdata_or_skip!();
    for id in snp_ids(&d) {
        let s = snp_set(&d, &id);
        let m = hex_n::<48>(&s.fields["measurement"]);
        let rd = hex_n::<64>(&s.fields["report_data"]);
        let manifest =
            Manifest { snp: vec![SnpDigest { digest: m, vcpu_type: "test".into(), vcpus: 1 }], ..Default::default() };
        let verifier = Verifier::new(manifest);
        let ev = Evidence::Snp { report: &s.report, vek: &s.vek, chain: &s.chain };
        let got = verifier.verify(&ev, &Binding::ReportData(rd), s.now);
        match id.as_str() {
            // Signature valid, but DEBUG is allowed by its policy: production refuses it.
            "snp/milan-gosevguest" => assert_eq!(got.unwrap_err(), Error::SnpDebugPolicy { policy: 0xb0000 }),
            // AWS's report comes from VMPL 1; ours run at VMPL 0.
            "snp/milan-vlek-trustee" => assert_eq!(got.unwrap_err(), Error::Vmpl { vmpl: 1, max: 0 }),
            _ => {
                let v = got.unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(v.platform, "sev-snp");
                assert!(!v.simulated);
                assert_eq!(v.measurement, "SEV-SNP launch digest, test, 1 vCPUs");
                assert_eq!(v.report_data, hex::encode(rd));
                assert!(v.hardware.starts_with("VCEK, chip id "), "{id}");
                println!("{id}: {}", serde_json::to_string(&v).unwrap());
            }
        }
    }
}

#[test]
fn snp_measurement_and_report_data_mismatch() {
    let d = testdata_or_skip!();
    let s = snp_set(&d, "snp/milan-virtee");
    let ev = Evidence::Snp { report: &s.report, vek: &s.vek, chain: &s.chain };
    let rd = hex_n::<64>(&s.fields["report_data"]);
    // Against our published manifest: a genuine report of other code.
    let published = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../reproducible/MEASUREMENTS.json")).unwrap();
    let verifier = Verifier::new(Manifest::from_json(&published).unwrap());
    match verifier.verify(&ev, &Binding::ReportData(rd), s.now).unwrap_err() {
        Error::MeasurementMismatch { field: "SNP MEASUREMENT", found, .. } => {
            assert_eq!(found, s.fields["measurement"].as_str().unwrap())
        }
        e => panic!("{e}"),
    }
    // The right measurement, the wrong identity.
    let m = hex_n::<48>(&s.fields["measurement"]);
    let verifier = Verifier::new(Manifest {
        snp: vec![SnpDigest { digest: m, vcpu_type: "t".into(), vcpus: 1 }],
        ..Default::default()
    });
    let binding = statement_binding([3; 64], [0; 32]);
    match verifier.verify(&ev, &binding, s.now).unwrap_err() {
        Error::ReportDataMismatch { expected, found } => {
            assert_eq!(expected, hex::encode(binding.report_data()));
            assert_eq!(found, hex::encode(rd));
        }
        e => panic!("{e}"),
    }
}

#[test]
fn snp_tampered_reports_are_refused_precisely() {
    let d = testdata_or_skip!();
    let s = snp_set(&d, "snp/milan-virtee");
    let flip = |at: usize, x: u8| {
        let mut r = s.report.clone();
        r[at] ^= x;
        r
    };
    // Signed body (upstream's own tamper test: byte 21, bit 7) and MEASUREMENT.
    for at in [21, 0x90, 0x50] {
        assert!(matches!(snp_err(&s, &flip(at, 0x80), &s.vek, &s.chain, s.now), Error::ReportSignature(_)), "{at:#x}");
    }
    // The signature: r, s, and the zero padding above the 48-byte scalars.
    for at in [0x2A0 + 5, 0x2E8 + 40, 0x2A0 + 60] {
        assert!(matches!(snp_err(&s, &flip(at, 1), &s.vek, &s.chain, s.now), Error::ReportSignature(_)), "{at:#x}");
    }
    // REPORTED_TCB: caught as a TCB mismatch with the VCEK before the signature.
    assert_eq!(
        snp_err(&s, &flip(0x180, 1), &s.vek, &s.chain, s.now),
        Error::TcbMismatch { component: "bootloader", certificate: Some(3), report: 2 }
    );
    assert_eq!(
        snp_err(&s, &flip(0x187, 1), &s.vek, &s.chain, s.now),
        Error::TcbMismatch { component: "microcode", certificate: Some(115), report: 114 }
    );
    // CHIP_ID.
    assert!(matches!(snp_err(&s, &flip(0x1A0, 1), &s.vek, &s.chain, s.now), Error::ChipIdMismatch { .. }));
    // Version and signature algorithm.
    assert_eq!(snp_err(&s, &flip(0, 2 ^ 7), &s.vek, &s.chain, s.now), Error::SnpVersion(7));
    assert_eq!(snp_err(&s, &flip(0x34, 1), &s.vek, &s.chain, s.now), Error::SnpSignatureAlgorithm(0));
    // KEY_INFO says VLEK, the certificate is a VCEK.
    assert_eq!(
        snp_err(&s, &flip(0x48, 1 << 2), &s.vek, &s.chain, s.now),
        Error::SignerKind { report: "VLEK", certificate: "VCEK" }
    );
}

#[test]
fn snp_truncated_inputs_are_refused() {
    let d = testdata_or_skip!();
    let s = snp_set(&d, "snp/milan-virtee");
    for n in [0, 0x2A0, 1183] {
        assert_eq!(
            snp_err(&s, &s.report[..n], &s.vek, &s.chain, s.now),
            Error::Length { what: "SEV-SNP report", len: n, expected: "1184" }
        );
    }
    let mut long = s.report.clone();
    long.push(0);
    assert!(matches!(snp_err(&s, &long, &s.vek, &s.chain, s.now), Error::Length { len: 1185, .. }));
    let e = snp_err(&s, &s.report, &s.vek[..s.vek.len() - 1], &s.chain, s.now);
    assert!(matches!(e, Error::Malformed { what: "VEK certificate", .. }), "{e}");
    let e = snp_err(&s, &s.report, &s.vek, &s.chain[..s.chain.len() / 2], s.now);
    assert!(matches!(e, Error::Malformed { what: "AMD certificate chain", .. }), "{e}");
}

#[test]
fn snp_wrong_chain_wrong_vcek_and_unpinned_roots() {
    let d = testdata_or_skip!();
    let milan = snp_set(&d, "snp/milan-virtee");
    let genoa = snp_set(&d, "snp/genoa-oak");
    // A Genoa report and VCEK with the Milan chain: the Milan ASK did not sign this VCEK.
    assert!(matches!(
        snp_err(&genoa, &genoa.report, &genoa.vek, &milan.chain, genoa.now),
        Error::CertSignature { cert: SnpCert::Vek, .. }
    ));
    // Another Milan chip's VCEK, same TCB: the hwID differs.
    let other = snp_set(&d, "snp/milan-trustee");
    assert!(matches!(
        snp_err(&milan, &milan.report, &other.vek, &milan.chain, milan.now),
        Error::ChipIdMismatch { .. }
    ));
    // A VCEK certifying another TCB: the first component that differs is named.
    let older = snp_set(&d, "snp/milan-gosevguest");
    assert_eq!(
        snp_err(&milan, &milan.report, &older.vek, &milan.chain, milan.now),
        Error::TcbMismatch { component: "bootloader", certificate: Some(2), report: 3 }
    );
    // The chain's root is not an AMD root: the ASK in the ARK's place.
    let certs = pem_blocks(&milan.chain);
    let ask_twice = [certs[0].clone(), certs[0].clone()].concat();
    assert!(matches!(
        snp_err(&milan, &milan.report, &milan.vek, ask_twice.as_bytes(), milan.now),
        Error::UnknownArk { .. }
    ));
    // Milan's ASK under Genoa's ARK: pinned root, but it did not sign that ASK.
    let genoa_certs = pem_blocks(&genoa.chain);
    let mixed = [certs[0].clone(), genoa_certs[1].clone()].concat();
    assert!(matches!(
        snp_err(&milan, &milan.report, &milan.vek, mixed.as_bytes(), milan.now),
        Error::CertSignature { cert: SnpCert::Ask, .. }
    ));
    // Only the ASK.
    assert!(matches!(
        snp_err(&milan, &milan.report, &milan.vek, certs[0].as_bytes(), milan.now),
        Error::Malformed { what: "AMD certificate chain", .. }
    ));
}

fn pem_blocks(pem: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(pem).unwrap();
    text.split_inclusive("-----END CERTIFICATE-----\n").filter(|b| b.contains("BEGIN")).map(str::to_string).collect()
}

#[test]
fn snp_expired_and_not_yet_valid_certificates() {
    let d = testdata_or_skip!();
    let s = snp_set(&d, "snp/milan-vlek-trustee");
    // The VLEK expired on 2025-12-10; the manifest's suggested time 2025-06-01 is inside.
    assert!(snp::verify(&s.report, &s.vek, &s.chain, 1_748_736_000, &lenient()).is_ok());
    assert_eq!(
        snp_err(&s, &s.report, &s.vek, &s.chain, s.window.1 + 1),
        Error::CertValidity { cert: SnpCert::Vek, not_before: s.window.0, not_after: s.window.1, now: s.window.1 + 1 }
    );
    assert!(matches!(
        snp_err(&s, &s.report, &s.vek, &s.chain, s.window.0 - 1),
        Error::CertValidity { cert: SnpCert::Vek, .. }
    ));
    // Before AMD's roots existed (2020-10-22): the ARK is named first.
    assert!(matches!(
        snp_err(&s, &s.report, &s.vek, &s.chain, 1_500_000_000),
        Error::CertValidity { cert: SnpCert::Ark, .. }
    ));
}

#[test]
fn snp_turin_tcb_layout_and_short_hwid() {
    let d = testdata_or_skip!();
    let s = snp_set(&d, "snp/turin-oak");
    let v = snp::verify(&s.report, &s.vek, &s.chain, s.now, &lenient()).unwrap();
    assert_eq!(v.product, snp::Product::Turin);
    assert_eq!(v.signer, snp::Signer::Vcek { chip_id: "3b42092f69c656d3".into() });
    // Byte 3 is Turin's SNP SVN (on Milan/Genoa it would be reserved).
    let mut r = s.report.clone();
    r[0x183] ^= 1;
    assert_eq!(
        snp_err(&s, &r, &s.vek, &s.chain, s.now),
        Error::TcbMismatch { component: "snp", certificate: Some(2), report: 3 }
    );
    let mut r = s.report.clone();
    r[0x180] ^= 1;
    assert_eq!(
        snp_err(&s, &r, &s.vek, &s.chain, s.now),
        Error::TcbMismatch { component: "fmc", certificate: Some(0), report: 1 }
    );
}

// ---- TDX ------------------------------------------------------------------------------------

struct TdxSet {
    quote: Vec<u8>,
    collateral: fcc_attest::QuoteCollateralV3,
    root: Vec<u8>,
    now: u64,
    window: (u64, u64),
    fields: Value,
    expected: String,
}

fn tdx_set(d: &std::path::Path, id: &str) -> TdxSet {
    let m = manifest(d);
    let s = m["tdx"]["sets"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
    let t = &s["verify_time_unix"];
    TdxSet {
        quote: read(d, s["quote"].as_str().unwrap()),
        collateral: tdx::collateral_from_json(&read(d, s["collateral"].as_str().unwrap())).unwrap(),
        root: read(d, "tdx/intel-roots/Intel_SGX_Root_CA.der"),
        now: t["suggested"].as_u64().unwrap(),
        window: (t["valid_from"].as_u64().unwrap(), t["valid_until"].as_u64().unwrap()),
        fields: s["quote_fields"].clone(),
        expected: s["expected_status"].as_str().unwrap().to_string(),
    }
}

/// The TDX sets with collateral (quotes to verify with DCAP; other sets, such as a cloud quote
/// with its event log for RTMR replay, serve other tests).
fn tdx_ids(d: &std::path::Path) -> Vec<String> {
    manifest(d)["tdx"]["sets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("collateral").is_some())
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn tdx_err(s: &TdxSet, quote: &[u8], now: u64) -> Error {
    tdx::verify(quote, &s.collateral, &s.root, now, &tdx::Policy::default()).expect_err("must be refused")
}

#[test]
fn tdx_every_set_gives_the_expected_verdict() {
    let d = testdata_or_skip!();
    let ids = tdx_ids(&d);
    assert_eq!(ids.len(), 3, "v4 x2, v5");
    for id in ids {
        let s = tdx_set(&d, &id);
        for now in [s.window.0, s.now, s.window.1] {
            let got = tdx::verify(&s.quote, &s.collateral, &s.root, now, &tdx::Policy::default());
            if s.expected == "UpToDate" {
                let v = got.unwrap_or_else(|e| panic!("{id} at {now}: {e}"));
                assert_eq!(v.status, "UpToDate");
                assert!(v.advisories.is_empty());
                assert_eq!(u64::from(v.version), s.fields["version"].as_u64().unwrap());
                assert_eq!(v.mrtd, hex_n::<48>(&s.fields["mrtd"]), "{id}");
                assert_eq!(v.report_data, hex_n::<64>(&s.fields["report_data"]), "{id}");
                assert_eq!(v.fmspc, hex_n::<6>(&s.fields["fmspc"]), "{id}");
                assert_eq!(v.tee_tcb_svn, hex_n::<16>(&s.fields["tee_tcb_svn"]), "{id}");
                assert_eq!(v.td_attributes, hex_n::<8>(&s.fields["td_attributes"]), "{id}");
            } else {
                // v5: every signature verifies, but no TCB level matches the platform.
                assert!(s.expected.contains("No matching TCB level found"));
                match got.unwrap_err() {
                    Error::TdxTcbNotMatched(m) => assert!(m.contains("No matching TCB level found"), "{m}"),
                    e => panic!("{id}: {e}"),
                }
            }
        }
        println!("{id}: {} as expected", s.expected);
    }
}

#[test]
fn tdx_full_verdict_mismatches_and_status_policy() {
    let d = testdata_or_skip!();
    let s = tdx_set(&d, "tdx/v4-dcap-qvl-sample");
    let mrtd = hex_n::<48>(&s.fields["mrtd"]);
    let rd = hex_n::<64>(&s.fields["report_data"]);
    let ev = Evidence::Tdx { quote: &s.quote, collateral: &s.collateral, root_ca_der: &s.root };
    let manifest = Manifest { tdx: vec![TdxMrtd { mrtd, order: "test".into() }], ..Default::default() };
    let v = Verifier::new(manifest.clone()).verify(&ev, &Binding::ReportData(rd), s.now).unwrap();
    assert_eq!(v.platform, "tdx");
    assert_eq!(v.measurement, "TDX MRTD, test");
    assert_eq!(v.hardware, "PCK FMSPC b0c06f000000");
    assert!(v.tcb.starts_with("UpToDate, TEE_TCB_SVN 06010300000000000000000000000000"), "{}", v.tcb);
    println!("{}", serde_json::to_string(&v).unwrap());

    let published = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../reproducible/MEASUREMENTS.json")).unwrap();
    let e = Verifier::new(Manifest::from_json(&published).unwrap()).verify(&ev, &Binding::ReportData(rd), s.now);
    assert!(matches!(e, Err(Error::MeasurementMismatch { field: "TDX MRTD", .. })));
    let binding = statement_binding([3; 64], [1; 32]);
    assert!(matches!(
        Verifier::new(manifest.clone()).verify(&ev, &binding, s.now),
        Err(Error::ReportDataMismatch { .. })
    ));

    // The same quote as the UEFI edition's on a firmware the verifier accepts: held to the
    // manifest's RTMR1, not to the ROM's MRTDs (the sample's RTMR1 stands in for ours).
    let q = fcc_cvm_abi::tdx::quote::Quote::new_checked(&s.quote[..]).unwrap();
    let rtmr1 = *q.rtmr(1);
    let uefi = Manifest { uefi_tdx_rtmr1: Some(rtmr1), ..Default::default() };
    let on_firmware = Verifier { firmware_mrtds: vec![mrtd], ..Verifier::new(uefi.clone()) };
    let v = on_firmware.verify(&ev, &Binding::ReportData(rd), s.now).unwrap();
    assert_eq!(v.measurement_hex, hex::encode(rtmr1));
    assert!(v.measurement.starts_with("UEFI edition: TDX RTMR1") && v.measurement.ends_with(&hex::encode(mrtd)));
    // Another RTMR1, or a firmware the verifier was not given: refused.
    let mut other = rtmr1;
    other[0] ^= 1;
    let wrong = Verifier {
        firmware_mrtds: vec![mrtd],
        ..Verifier::new(Manifest { uefi_tdx_rtmr1: Some(other), ..uefi.clone() })
    };
    let e = wrong.verify(&ev, &Binding::ReportData(rd), s.now).unwrap_err();
    assert!(matches!(e, Error::MeasurementMismatch { field: "TDX RTMR1", .. }), "{e}");
    let e = Verifier::new(uefi).verify(&ev, &Binding::ReportData(rd), s.now).unwrap_err();
    assert!(matches!(e, Error::MeasurementMismatch { field: "TDX MRTD", .. }), "{e}");

    // A policy that accepts no status refuses even UpToDate, naming it.
    let strict = Verifier { tdx: tdx::Policy { accepted_status: vec![] }, ..Verifier::new(manifest) };
    assert_eq!(
        strict.verify(&ev, &Binding::ReportData(rd), s.now).unwrap_err(),
        Error::TdxTcbStatus { status: "UpToDate".into(), advisories: vec![] }
    );
}

#[test]
fn tdx_tampered_quotes_and_collateral_are_refused_precisely() {
    let d = testdata_or_skip!();
    let s = tdx_set(&d, "tdx/v4-dcap-qvl-sample");
    let flip = |at: usize| {
        let mut q = s.quote.clone();
        q[at] ^= 1;
        q
    };
    // Signed body: MRTD (body + 136) and REPORTDATA (body + 520).
    for at in [48 + 136, 48 + 520, 48 + 583] {
        assert!(matches!(tdx_err(&s, &flip(at), s.now), Error::TdxQuoteSignature(_)), "{at}");
    }
    // The quote signature (after the 4-byte signature-data length at 632).
    assert!(matches!(tdx_err(&s, &flip(636 + 3), s.now), Error::TdxQuoteSignature(_)));
    // The attestation key: the QE report no longer binds it.
    assert!(matches!(tdx_err(&s, &flip(636 + 64 + 1), s.now), Error::TdxQeReport(_)));
    // Truncated.
    for n in [0, 53] {
        assert!(matches!(tdx_err(&s, &s.quote[..n], s.now), Error::Length { what: "TDX quote", .. }), "{n}");
    }
    for n in [48 + 584, 1000, 4000] {
        let e = tdx_err(&s, &s.quote[..n], s.now);
        assert!(matches!(e, Error::Malformed { what: "TDX quote", .. }), "{n}: {e}");
    }
    // Not TDX.
    let mut sgx = s.quote.clone();
    sgx[4] = 0;
    assert!(matches!(tdx_err(&s, &sgx, s.now), Error::TdxNotTdx(_)));
    // Collateral out of date, either side of the window.
    assert!(matches!(tdx_err(&s, &s.quote, s.window.1 + 1), Error::TdxCollateralTime { .. }));
    assert!(matches!(tdx_err(&s, &s.quote, s.window.0 - 1), Error::TdxCollateralTime { .. }));
    // Collateral edited: the TCB info's signature fails.
    let mut c = s.collateral.clone();
    c.tcb_info = c.tcb_info.replacen("UpToDate", "UpToDatE", 1);
    let e = tdx::verify(&s.quote, &c, &s.root, s.now, &tdx::Policy::default()).unwrap_err();
    assert!(matches!(e, Error::TdxCollateralSignature(_)), "{e}");
    let mut c = s.collateral.clone();
    c.qe_identity_signature[5] ^= 1;
    let e = tdx::verify(&s.quote, &c, &s.root, s.now, &tdx::Policy::default()).unwrap_err();
    assert!(matches!(e, Error::TdxCollateralSignature(_)), "{e}");
    // Another set's collateral: the PCK's FMSPC is not the TCB info's.
    let near = tdx_set(&d, "tdx/v4-dcap-qvl-near");
    let e = tdx::verify(&s.quote, &near.collateral, &s.root, near.now, &tdx::Policy::default()).unwrap_err();
    assert!(matches!(&e, Error::TdxTcbNotMatched(m) if m.contains("Fmspc mismatch")), "{e}");
    // A root that is not Intel's.
    let amd_root = pem_blocks(&read(&d, "snp/amd-roots/milan_ask_ark.pem"))[1].clone();
    let der = x509_der(&amd_root);
    let e = tdx::verify(&s.quote, &s.collateral, &der, s.now, &tdx::Policy::default()).unwrap_err();
    assert!(matches!(e, Error::TdxPckChain(_)), "{e}");
}

fn x509_der(pem: &str) -> Vec<u8> {
    use x509_cert::der::{DecodePem, Encode};
    x509_cert::Certificate::from_pem(pem.as_bytes()).unwrap().to_der().unwrap()
}

// ---- simulated --------------------------------------------------------------------------------

#[test]
fn simulated_attestation_is_refused_in_production() {
    // Needs no test data.
    let secret = {
        let mut s = [0u8; 32];
        s[31] = 2;
        s
    };
    let id = fcc_core::identity::TeeIdentity::from_secret_for_tests(&secret).unwrap();
    let challenge: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
    let binding = statement_binding(*id.public_key(), challenge);
    let rom = [0x42; 48];
    let ev_bytes = fcc_attest::simulated::encode(&binding.report_data(), &rom);
    let manifest = Manifest { rom_sha384: Some(rom), ..Default::default() };
    let production = Verifier::new(manifest);
    assert_eq!(production.verify(&Evidence::Simulated(&ev_bytes), &binding, 0), Err(Error::SimulatedAttestation));
    // Disguised as a hardware report, it is still recognised and refused as simulated.
    let disguised = Evidence::Snp { report: &ev_bytes, vek: b"", chain: b"" };
    assert_eq!(production.verify(&disguised, &binding, 0), Err(Error::SimulatedAttestation));
    let collateral: fcc_attest::QuoteCollateralV3 = serde_json::from_str(
        r#"{"pck_crl_issuer_chain":"","root_ca_crl":"","pck_crl":"","tcb_info_issuer_chain":"","tcb_info":"",
            "tcb_info_signature":"","qe_identity_issuer_chain":"","qe_identity":"","qe_identity_signature":""}"#,
    )
    .unwrap();
    let disguised = Evidence::Tdx { quote: &ev_bytes, collateral: &collateral, root_ca_der: b"" };
    assert_eq!(production.verify(&disguised, &binding, 0), Err(Error::SimulatedAttestation));

    let test_mode = Verifier { allow_simulated: true, ..production };
    let v = test_mode.verify(&Evidence::Simulated(&ev_bytes), &binding, 0).unwrap();
    assert!(v.simulated);
    assert_eq!(v.platform, "plain (simulated, not a TEE)");
    assert_eq!(v.report_data, hex::encode(binding.report_data()));
    let ident = v.identity.unwrap();
    assert_eq!(ident.address, "0x2b5ad5c4795c026514f8317c7a215e218dccd6cf");
    assert_eq!((ident.chain_id, ident.challenge.as_str()), (14, hex::encode(challenge).as_str()));
    assert_eq!(ident.initial_policy, (7, hex::encode([0x70; 32])));
    // Another statement over the same key (another trust root): refused.
    let Binding::Statement(mut other) = binding.clone() else { unreachable!() };
    other.initial_policy = (7, [0x71; 32]);
    assert!(matches!(
        test_mode.verify(&Evidence::Simulated(&ev_bytes), &Binding::Statement(other), 0),
        Err(Error::ReportDataMismatch { .. })
    ));
    // Another ROM, another key: refused even in test mode.
    let other_rom = fcc_attest::simulated::encode(&binding.report_data(), &[0x43; 48]);
    assert!(matches!(
        test_mode.verify(&Evidence::Simulated(&other_rom), &binding, 0),
        Err(Error::MeasurementMismatch { field: "simulated image hash", .. })
    ));
    let other_key = statement_binding([5; 64], challenge);
    assert!(matches!(
        test_mode.verify(&Evidence::Simulated(&ev_bytes), &other_key, 0),
        Err(Error::ReportDataMismatch { .. })
    ));
}

#[test]
fn snp_product_and_signer_kind_policy() {
    let d = testdata_or_skip!();
    // A Genoa report whose CPUID claims Milan, under the Genoa chain: refused before the
    // signature, naming both.
    let g = snp_set(&d, "snp/genoa-oak");
    let mut r = g.report.clone();
    r[0x189] = 0x01;
    assert_eq!(
        snp_err(&g, &r, &g.vek, &g.chain, g.now),
        Error::ProductMismatch { report: "Milan".into(), chain: "Genoa" }
    );
    // A policy refusing cloud providers' keys refuses the VLEK report.
    let v = snp_set(&d, "snp/milan-vlek-trustee");
    let policy = snp::Policy { allow_vlek: false, ..lenient() };
    assert_eq!(
        snp::verify(&v.report, &v.vek, &v.chain, v.now, &policy).unwrap_err(),
        Error::SignerKind { report: "VLEK", certificate: "VLEK" }
    );
    // The VLEK's ASVK chain is not the VCEK chain: the ASK did not sign the VLEK.
    let milan_vcek_chain = read(&d, "snp/amd-roots/milan_ask_ark.pem");
    assert!(matches!(
        snp_err(&v, &v.report, &v.vek, &milan_vcek_chain, v.now),
        Error::CertSignature { cert: SnpCert::Vek, .. }
    ));
}

#[test]
fn snp_minimum_tcb_policy() {
    let d = testdata_or_skip!();
    let s = snp_set(&d, "snp/milan-virtee");
    // REPORTED_TCB is bootloader 3, tee 0, snp 8, microcode 115.
    let at = |bootloader, snp, microcode| {
        let min_tcb = Some(snp::Tcb { bootloader, tee: 0, snp, microcode, fmc: None });
        snp::verify(&s.report, &s.vek, &s.chain, s.now, &snp::Policy { min_tcb, ..lenient() })
    };
    assert!(at(3, 8, 115).is_ok());
    assert!(at(0, 0, 0).is_ok());
    assert_eq!(at(3, 9, 115).unwrap_err(), Error::SnpTcbBelowMinimum { component: "snp", minimum: 9, report: 8 });
    assert_eq!(
        at(3, 8, 116).unwrap_err(),
        Error::SnpTcbBelowMinimum { component: "microcode", minimum: 116, report: 115 }
    );
    assert_eq!(at(4, 0, 0).unwrap_err(), Error::SnpTcbBelowMinimum { component: "bootloader", minimum: 4, report: 3 });
}

/// A statement for `public_key` and `challenge` on chain 14, trust root and active policy epoch 7.
fn statement_binding(public_key: [u8; 64], challenge: [u8; 32]) -> Binding {
    let state = fcc_core::statement::FccState {
        platform: fcc_core::attester::PlatformKind::Plain,
        policy_hash: fcc_core::policy::PolicyHashScheme::ChainBound { chain_id: 14 },
        version: "test".into(),
    };
    let s =
        fcc_attest::Statement::new(14, challenge, public_key, Some((7, [0x70; 32])), Some((7, [0x70; 32])), &state, 0);
    Binding::Statement(Box::new(s))
}
