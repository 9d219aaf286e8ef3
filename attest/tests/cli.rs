//! The `fcc-attest` command on the real test data: a verdict as JSON and exit 0, or
//! `REFUSED: <reason>` and exit 1. Prints `SKIPPED: ...` where the data is absent.

use std::path::PathBuf;
use std::process::Command;

fn dir() -> Option<PathBuf> {
    let d = match std::env::var_os("FCC_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    };
    d.join("manifest.json").is_file().then_some(d)
}

const PUBLISHED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../reproducible/MEASUREMENTS.json");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fcc-attest")).args(args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn cli_verifies_and_refuses() {
    let Some(d) = dir() else {
        println!("SKIPPED: no attestation test data (set FCC_TESTDATA or provide ../shared/testdata)");
        return;
    };
    let p = |rel: &str| d.join(rel).to_str().unwrap().to_string();
    let measurement =
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
    let report_data = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";
    let manifest = std::env::temp_dir().join(format!("fcc-attest-cli-{}.json", std::process::id()));
    let json =
        format!(r#"{{"snp":{{"launch_digests":[{{"digest":"{measurement}","vcpu_type":"EPYC-Milan","vcpus":2}}]}}}}"#);
    std::fs::write(&manifest, json).unwrap();
    let snp = |manifest: &str, extra: &[&str]| {
        let report = p("snp/milan-virtee/report.bin");
        let vek = p("snp/milan-virtee/vcek.der");
        let chain = p("snp/amd-roots/milan_ask_ark.pem");
        let mut a = vec!["verify", "--report", &report, "--vek", &vek, "--chain", &chain, "--manifest", manifest];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--now", "1700000000"]);
        run(&a)
    };
    let (code, out, err) = snp(manifest.to_str().unwrap(), &["--report-data", report_data]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#""measurement": "SEV-SNP launch digest, EPYC-Milan, 2 vCPUs""#), "{out}");
    let (code, _, err) = snp(PUBLISHED, &["--report-data", report_data]);
    assert_eq!(code, 1);
    assert!(err.starts_with("REFUSED: SNP MEASUREMENT 7a1e5c26"), "{err}");
    // A statement (abi.encode(Attestation)) the report does not bind; a malformed one.
    let state = fcc_core::statement::FccState {
        platform: fcc_core::attester::PlatformKind::SevSnp,
        policy_hash: fcc_core::policy::PolicyHashScheme::ChainBound { chain_id: 14 },
        version: "test".into(),
    };
    let statement = fcc_core::statement::Statement::new(14, [0; 32], [0x11; 64], None, None, &state, 0);
    let key = hex::encode(statement.encode());
    let (code, _, err) = snp(manifest.to_str().unwrap(), &["--statement", &key]);
    assert_eq!(code, 1);
    assert!(err.starts_with("REFUSED: REPORT_DATA"), "{err}");
    let (code, _, err) = snp(manifest.to_str().unwrap(), &["--statement", "0x00"]);
    assert_eq!(code, 2);
    assert!(err.contains("not an ABI-encoded Attestation"), "{err}");
    std::fs::remove_file(&manifest).unwrap();

    let (quote, collateral, root) = (
        p("tdx/v4-dcap-qvl-sample/quote.bin"),
        p("tdx/v4-dcap-qvl-sample/collateral.json"),
        p("tdx/intel-roots/Intel_SGX_Root_CA.der"),
    );
    let base = ["verify-tdx", "--quote", &quote, "--collateral", &collateral, "--root", &root, "--manifest", PUBLISHED];
    let (code, _, err) = run(&[&base[..], &["--statement", &key, "--now", "1751328000"]].concat());
    assert_eq!(code, 1);
    assert!(err.starts_with("REFUSED: TDX MRTD 91eb2b44"), "{err}");
    let (code, _, err) = run(&[&base[..], &["--statement", &key, "--now", "1752919235"]].concat());
    assert_eq!(code, 1);
    assert!(err.starts_with("REFUSED: TDX collateral or certificate not valid"), "{err}");
}

#[test]
fn cli_replays_a_cloud_tdx_event_log_and_names_a_mismatch() {
    let Some(d) = dir() else {
        println!("SKIPPED: no attestation test data (set FCC_TESTDATA or provide ../shared/testdata)");
        return;
    };
    let gcp = d.join("tdx/gcp-cos-ccel");
    let log = gcp.join("ccel_data.dat");
    let quote = gcp.join("cos-113-tdx-quote.dat");
    let (log, quote) = (log.to_str().unwrap(), quote.to_str().unwrap());
    let (code, out, err) = run(&["eventlog", "--log", log, "--quote", quote]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("RTMR1  "), "{out}");
    assert!(out.contains("EV_EFI_BOOT_SERVICES_APPLICATION"), "{out}");
    assert!(out.trim_end().ends_with("the log replays to the quote's RTMR0-3"), "{out}");
    // The boot's own digests as the prediction's inputs: RTMR1 is predicted.
    let digest_of = |kind: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("RTMR1 ") && l.contains(kind))
            .map(|l| l.split_whitespace().nth(3).unwrap().to_string())
            .collect()
    };
    let gpt = digest_of("EV_EFI_GPT_EVENT").remove(0);
    let apps = digest_of("EV_EFI_BOOT_SERVICES_APPLICATION");
    let mut args = vec!["eventlog", "--log", log, "--gpt-sha384", &gpt];
    for a in &apps {
        args.extend(["--application-sha384", a.as_str()]);
    }
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("RTMR1 is the predicted "), "{out}");
    // One application only (ours): refused, naming where the log goes another way.
    let (code, _, err) = run(&["eventlog", "--log", log, "--gpt-sha384", &gpt, "--application-sha384", &apps[0]]);
    assert_eq!(code, 1);
    assert!(err.starts_with("REFUSED: RTMR1 event 4: the log has EV_EFI_BOOT_SERVICES_APPLICATION"), "{err}");
    // A quote of another boot (RTMR2 changed): refused, naming the register.
    let mut other = std::fs::read(gcp.join("cos-113-tdx-quote.dat")).unwrap();
    other[48 + 328 + 2 * 48] ^= 1;
    let path = std::env::temp_dir().join(format!("fcc-attest-cli-quote-{}.dat", std::process::id()));
    std::fs::write(&path, other).unwrap();
    let (code, _, err) = run(&["eventlog", "--log", log, "--quote", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 1);
    assert!(err.starts_with("REFUSED: RTMR2: the log replays to "), "{err}");
}
