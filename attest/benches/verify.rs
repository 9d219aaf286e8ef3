//! What our checks cost on top of the libraries' own verification, side by side in one process,
//! interleaved: `snp::verify` (all ten steps) against the `sev` crate's `(&Chain, &report).verify()`
//! alone, and `tdx::verify` against `dcap-qvl`'s `QuoteVerifier::verify` alone, on the real test
//! data. Medians and their ratio are printed. `cargo bench -p fcc-attest`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fcc_attest::{snp, tdx};
use sev::certs::snp::{Certificate, Chain, Verifiable, ca};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

const ROUNDS: usize = 30;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn side_by_side(name: &str, ours: &mut dyn FnMut(), baseline: &mut dyn FnMut()) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        ours();
        a.push(t.elapsed());
        let t = Instant::now();
        baseline();
        b.push(t.elapsed());
    }
    let (a, b) = (median(a), median(b));
    println!(
        "{name}: fcc-attest {:.3} ms, baseline {:.3} ms, ratio {:.2}",
        a.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        a.as_secs_f64() / b.as_secs_f64()
    );
}

fn main() {
    let d = std::env::var_os("FCC_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    if !d.join("manifest.json").is_file() {
        println!("SKIPPED: no attestation test data (set FCC_TESTDATA or provide ../shared/testdata)");
        return;
    }
    let read = |rel: &str| std::fs::read(d.join(rel)).unwrap();

    // SEV-SNP, Genoa report v5.
    let (report, vek, chain) =
        (read("snp/genoa-oak/report.bin"), read("snp/genoa-oak/vcek.der"), read("snp/amd-roots/genoa_ask_ark.pem"));
    let now = 1_760_000_000;
    let certs = x509_cert::Certificate::load_pem_chain(&chain).unwrap();
    let sev_chain = Chain {
        ca: ca::Chain { ark: Certificate::from(certs[1].clone()), ask: Certificate::from(certs[0].clone()) },
        vek: Certificate::from_der(&vek).unwrap(),
    };
    let policy = snp::Policy::default();
    side_by_side(
        "SEV-SNP report (Genoa)",
        &mut || {
            black_box(snp::verify(black_box(&report), &vek, &chain, now, &policy).unwrap());
        },
        &mut || {
            let r = AttestationReport::from_bytes(black_box(&report)).unwrap();
            (&sev_chain, &r).verify().unwrap();
        },
    );

    // TDX quote v4.
    let quote = read("tdx/v4-dcap-qvl-sample/quote.bin");
    let collateral = tdx::collateral_from_json(&read("tdx/v4-dcap-qvl-sample/collateral.json")).unwrap();
    let root = read("tdx/intel-roots/Intel_SGX_Root_CA.der");
    let now = 1_751_328_000;
    let tdx_policy = tdx::Policy::default();
    let qvl = dcap_qvl::verify::QuoteVerifier::new(root.clone(), dcap_qvl::verify::rustcrypto::backend());
    side_by_side(
        "TDX quote v4",
        &mut || {
            black_box(tdx::verify(black_box(&quote), &collateral, &root, now, &tdx_policy).unwrap());
        },
        &mut || {
            black_box(qvl.verify(black_box(&quote), &collateral, now).unwrap());
        },
    );
}
