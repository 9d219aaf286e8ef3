//! Where the checks' certificates and collateral come from (`fcc_attest::collateral`), on the
//! real evidence of `../shared/testdata`: the KDS URL of each report's VCEK must name exactly
//! the hwID and TCB that AMD's certificate itself carries (read by Python's `cryptography`, not
//! by us); each quote's FMSPC and PCK CA must be the ones Intel signed into its collateral; and
//! Intel's answers, saved as `curl -D` saves them, must assemble into collateral that verifies
//! the quote — and not once a signed document is re-serialised. SKIPPED without the test data.

use std::path::{Path, PathBuf};
use std::process::Command;

use fcc_attest::collateral::{self, PcsAnswers};
use fcc_attest::error::Error;
use fcc_attest::snp::Product;
use fcc_attest::tdx;
use serde_json::Value;

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

fn manifest(d: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap()
}

/// The VCEK URL built from what the certificate at `vek` certifies (hwID and TCB extensions),
/// by Python's `cryptography`.
fn url_from_certificate(vek: &Path, product: &str) -> String {
    const SCRIPT: &str = r#"
import sys
from cryptography import x509
raw = open(sys.argv[1], 'rb').read()
cert = x509.load_pem_x509_certificate(raw) if raw.startswith(b'-----') else x509.load_der_x509_certificate(raw)
ext = {e.oid.dotted_string: e.value.value for e in cert.extensions if isinstance(e.value, x509.UnrecognizedExtension)}
def svn(n):
    v = ext['1.3.6.1.4.1.3704.1.3.' + n]
    assert v[0] == 2, 'an INTEGER'
    return int.from_bytes(v[2:2 + v[1]], 'big')
hwid = ext['1.3.6.1.4.1.3704.1.4']
hwid = hwid[2:] if hwid[0] == 4 else hwid
fmc = 'fmcSPL=%02d&' % svn('9') if '1.3.6.1.4.1.3704.1.3.9' in ext else ''
print('https://kdsintf.amd.com/vcek/v1/%s/%s?%sblSPL=%02d&teeSPL=%02d&snpSPL=%02d&ucodeSPL=%02d' % (
    sys.argv[2], hwid.hex(), fmc, svn('1'), svn('2'), svn('3'), svn('8')))
"#;
    let out = Command::new("python3").args(["-c", SCRIPT]).arg(vek).arg(product).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn product(name: &str) -> Product {
    match name {
        "Milan" => Product::Milan,
        "Genoa" => Product::Genoa,
        "Turin" => Product::Turin,
        other => panic!("{other}"),
    }
}

#[test]
fn kds_urls_name_what_amds_certificates_certify() {
    let d = testdata_or_skip!();
    let mut vceks = 0;
    for set in manifest(&d)["snp"]["sets"].as_array().unwrap() {
        let id = set["id"].as_str().unwrap();
        let report = std::fs::read(d.join(set["report"].as_str().unwrap())).unwrap();
        let name = set["product"].as_str().unwrap();
        let version = set["report_fields"]["version"].as_u64().unwrap();
        // Version 2 reports do not name their CPU: the product must be given.
        let given = (version == 2).then(|| product(name));
        let k = collateral::kds(&report, given).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(k.product.name(), name, "{id}");
        if set["vek"].as_str().unwrap().contains("vlek") {
            assert_eq!((k.signer, k.vek.as_deref()), ("VLEK", None), "{id}");
            assert_eq!(k.chain, format!("https://kdsintf.amd.com/vlek/v1/{name}/cert_chain"));
            continue;
        }
        let want = url_from_certificate(&d.join(set["vek"].as_str().unwrap()), name);
        assert_eq!(k.vek.as_deref(), Some(want.as_str()), "{id}");
        assert_eq!(k.chain, format!("https://kdsintf.amd.com/vcek/v1/{name}/cert_chain"), "{id}");
        vceks += 1;
        if version == 2 {
            let e = collateral::kds(&report, None).unwrap_err();
            assert!(e.to_string().contains("say which product"), "{e}");
        } else {
            // The report's CPUID wins over a wrong guess, loudly.
            let other = if name == "Milan" { Product::Genoa } else { Product::Milan };
            let e = collateral::kds(&report, Some(other)).unwrap_err();
            assert!(e.to_string().contains(&format!("its CPU is {name}")), "{e}");
        }
    }
    assert_eq!(vceks, 6, "every VCEK-signed set (Milan x3, Genoa x2, Turin)");
    assert!(matches!(collateral::kds(&[0; 100], None), Err(Error::Length { len: 100, .. })));
}

#[test]
fn pcs_urls_name_the_platform_intel_signed_collateral_for() {
    let d = testdata_or_skip!();
    let mut n = 0;
    for set in manifest(&d)["tdx"]["sets"].as_array().unwrap() {
        let Some(path) = set["collateral"].as_str() else { continue };
        let quote = std::fs::read(d.join(set["quote"].as_str().unwrap())).unwrap();
        let c: Value = serde_json::from_slice(&std::fs::read(d.join(path)).unwrap()).unwrap();
        let p = collateral::pcs(&quote).unwrap();
        // Intel signed the FMSPC into the TCB info, and issued the PCK CRL of the quote's CA.
        let tcb: Value = serde_json::from_str(c["tcb_info"].as_str().unwrap()).unwrap();
        assert_eq!(p.fmspc, tcb["fmspc"].as_str().unwrap().to_ascii_lowercase(), "{}", set["id"]);
        let issuer = if p.ca == "platform" { "Intel SGX PCK Platform CA" } else { "Intel SGX PCK Processor CA" };
        assert!(
            pem_subjects(c["pck_crl_issuer_chain"].as_str().unwrap())[0].contains(issuer),
            "{}: {issuer}",
            set["id"]
        );
        assert_eq!(
            p.tcb_info,
            format!("https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc={}", p.fmspc)
        );
        assert_eq!(
            p.pck_crl,
            format!("https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca={}&encoding=der", p.ca)
        );
        n += 1;
    }
    assert_eq!(n, 3);
    assert!(collateral::pcs(b"not a quote").is_err());
}

/// The subjects of a PEM chain's certificates (Python's `cryptography`).
fn pem_subjects(pem: &str) -> Vec<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom cryptography import x509\n\
             for c in x509.load_pem_x509_certificates(sys.stdin.buffer.read()): print(c.subject.rfc4514_string())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(pem.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3");
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// Intel's answers as `curl -D` saves them, rebuilt from a set's collateral: each signed
/// document inside its response body exactly as Intel serves it, the chains URL-encoded in the
/// headers.
struct Saved {
    tcb: Vec<u8>,
    tcb_h: String,
    qe: Vec<u8>,
    qe_h: String,
    pck_crl: Vec<u8>,
    pck_h: String,
    root: Vec<u8>,
}

fn saved(c: &Value) -> Saved {
    let s = |k: &str| c[k].as_str().unwrap().to_owned();
    let enc = |pem: &str| percent_encoding::utf8_percent_encode(pem, percent_encoding::NON_ALPHANUMERIC).to_string();
    let headers = |name: &str, chain: &str| {
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{name}: {}\r\nRequest-ID: 1\r\n\r\n", enc(chain))
    };
    Saved {
        tcb: format!(r#"{{"tcbInfo":{},"signature":"{}"}}"#, s("tcb_info"), s("tcb_info_signature")).into_bytes(),
        tcb_h: headers("TCB-Info-Issuer-Chain", &s("tcb_info_issuer_chain")),
        qe: format!(r#"{{"enclaveIdentity":{},"signature":"{}"}}"#, s("qe_identity"), s("qe_identity_signature"))
            .into_bytes(),
        qe_h: headers("SGX-Enclave-Identity-Issuer-Chain", &s("qe_identity_issuer_chain")),
        pck_crl: hex::decode(s("pck_crl")).unwrap(),
        pck_h: headers("sgx-pck-crl-issuer-chain", &s("pck_crl_issuer_chain")),
        root: hex::decode(s("root_ca_crl")).unwrap(),
    }
}

fn answers(s: &Saved) -> PcsAnswers<'_> {
    PcsAnswers {
        tcb_info: &s.tcb,
        tcb_info_headers: &s.tcb_h,
        qe_identity: &s.qe,
        qe_identity_headers: &s.qe_h,
        pck_crl: &s.pck_crl,
        pck_crl_headers: &s.pck_h,
        root_ca_crl: &s.root,
    }
}

#[test]
fn intels_saved_answers_assemble_into_collateral_that_verifies_the_quote() {
    let d = testdata_or_skip!();
    let m = manifest(&d);
    let set = m["tdx"]["sets"].as_array().unwrap().iter().find(|s| s["id"] == "tdx/v4-dcap-qvl-sample").unwrap();
    let quote = std::fs::read(d.join(set["quote"].as_str().unwrap())).unwrap();
    let root = std::fs::read(d.join("tdx/intel-roots/Intel_SGX_Root_CA.der")).unwrap();
    let now = set["verify_time_unix"]["suggested"].as_u64().unwrap();
    let original: Value =
        serde_json::from_slice(&std::fs::read(d.join(set["collateral"].as_str().unwrap())).unwrap()).unwrap();
    let s = saved(&original);
    let json = collateral::assemble(&answers(&s)).unwrap();
    let assembled = tdx::collateral_from_json(json.as_bytes()).unwrap();
    let v = tdx::verify(&quote, &assembled, &root, now, &tdx::Policy::default()).unwrap();
    assert_eq!(v.status, "UpToDate");

    // Through the CLI, from a directory of saved files, as the docs run it.
    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("tcb.json", &s.tcb[..]),
        ("tcb.headers", s.tcb_h.as_bytes()),
        ("qe.json", &s.qe),
        ("qe.headers", s.qe_h.as_bytes()),
        ("pckcrl.der", &s.pck_crl),
        ("pckcrl.headers", s.pck_h.as_bytes()),
        ("rootcacrl.der", &s.root),
    ] {
        std::fs::write(tmp.path().join(name), bytes).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_fcc-attest"))
        .args(["tdx-collateral", "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), json.trim());

    // A signed document re-serialised (one space after a colon) no longer verifies: the
    // assembly keeps Intel's bytes, it does not normalise them.
    let mut spaced = saved(&original);
    let text = String::from_utf8(spaced.tcb.clone()).unwrap();
    spaced.tcb = text.replacen("\"tcbInfo\":{\"", "\"tcbInfo\":{ \"", 1).into_bytes();
    assert_ne!(spaced.tcb, s.tcb);
    let c = tdx::collateral_from_json(collateral::assemble(&answers(&spaced)).unwrap().as_bytes()).unwrap();
    let e = tdx::verify(&quote, &c, &root, now, &tdx::Policy::default()).unwrap_err();
    assert!(matches!(e, Error::TdxCollateralSignature(_)), "{e}");

    // A missing or empty issuer chain is named.
    let mut headerless = saved(&original);
    headerless.qe_h = "HTTP/1.1 200 OK\r\n\r\n".into();
    let e = collateral::assemble(&answers(&headerless)).unwrap_err();
    assert!(e.to_string().contains("SGX-Enclave-Identity-Issuer-Chain"), "{e}");
    let mut unsigned = saved(&original);
    unsigned.tcb = br#"{"tcbInfo":{}}"#.to_vec();
    assert!(collateral::assemble(&answers(&unsigned)).unwrap_err().to_string().contains("TCB info"));
}
