//! `fcc-attest`: verify an SEV-SNP report or a TDX quote offline against the published manifest
//! and the statement the TEE makes (its key, chain, challenge and policies); prints the verdict as JSON, or `REFUSED: <reason>` and exits 1.
//! `eventlog` replays a cloud TDX boot's firmware event log and explains its RTMRs.
//! `kds`, `pcs` and `tdx-collateral` say where AMD and Intel serve what the checks need and
//! assemble Intel's saved answers (docs/OPERATORS.md, "Collateral").

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use fcc_attest::snp::Product;
use fcc_attest::{Binding, Evidence, Manifest, Verifier, collateral, eventlog, tdx};

#[derive(Parser)]
#[command(version, about = "Verify TEE attestation evidence offline (SEV-SNP, TDX)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// SEV-SNP: report + VCEK/VLEK + AMD cert_chain (ASK/ASVK then ARK, PEM).
    Verify {
        /// Raw 1184-byte attestation report.
        #[arg(long)]
        report: PathBuf,
        /// VCEK or VLEK certificate (DER or PEM).
        #[arg(long)]
        vek: PathBuf,
        /// AMD KDS cert_chain (PEM).
        #[arg(long)]
        chain: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// TDX: quote + collateral JSON (dcap-qvl's QuoteCollateralV3) + Intel SGX root (DER).
    VerifyTdx {
        /// Raw quote (v4 or v5).
        #[arg(long)]
        quote: PathBuf,
        /// Collateral JSON.
        #[arg(long)]
        collateral: PathBuf,
        /// Intel SGX Root CA certificate, DER.
        #[arg(long)]
        root: PathBuf,
        /// A TDX firmware the UEFI edition may run on (its MRTD, hex; repeat for several): a
        /// quote with it is held to the manifest's UEFI edition RTMR1 instead of the ROM's MRTDs.
        #[arg(long, value_parser = parse_mrtd)]
        firmware_mrtd: Vec<[u8; 48]>,
        #[command(flatten)]
        common: Common,
    },
    /// SEV-SNP: where AMD's KDS serves the report's VCEK and certificate chain (prints the URLs
    /// and curl commands; fetches nothing).
    Kds {
        /// Raw 1184-byte attestation report.
        #[arg(long)]
        report: PathBuf,
        /// Milan, Genoa or Turin: needed for a version 2 report, which does not name its CPU.
        #[arg(long, value_parser = parse_product)]
        product: Option<Product>,
    },
    /// TDX: where Intel's PCS serves the quote's collateral (prints the URLs and curl commands
    /// that save what `tdx-collateral` assembles; fetches nothing).
    Pcs {
        /// Raw quote (v4 or v5) with its PCK certificate chain.
        #[arg(long)]
        quote: PathBuf,
    },
    /// TDX through UEFI firmware (cloud VMs): replay the firmware's CC event log into RTMR0-3
    /// and print every event; with --quote, hold the registers against the quote's; with
    /// --gpt-sha384 and --application-sha384, hold RTMR1's events against our prediction and
    /// name the first that differs.
    Eventlog {
        /// The CC event log area (Linux: /sys/firmware/acpi/tables/data/CCEL).
        #[arg(long)]
        log: PathBuf,
        /// The quote of the same boot (v4 or v5); only its RTMRs are read here.
        #[arg(long)]
        quote: Option<PathBuf>,
        /// The disk's GPT event digest (`fcc-image efi` prints it).
        #[arg(long, requires = "application_sha384")]
        gpt_sha384: Option<String>,
        /// The Authenticode SHA-384 of each application the firmware starts, in order.
        #[arg(long, requires = "gpt_sha384")]
        application_sha384: Vec<String>,
    },
    /// TDX: the collateral JSON for `verify-tdx --collateral`, from Intel's answers saved as
    /// `pcs` prints (bodies and `curl -D` headers); the signed documents are kept byte for byte.
    TdxCollateral {
        /// Directory holding tcb.json, tcb.headers, qe.json, qe.headers, pckcrl.der,
        /// pckcrl.headers and rootcacrl.der.
        #[arg(long)]
        dir: PathBuf,
    },
}

fn parse_product(s: &str) -> Result<Product, String> {
    match s.to_ascii_lowercase().as_str() {
        "milan" => Ok(Product::Milan),
        "genoa" => Ok(Product::Genoa),
        "turin" => Ok(Product::Turin),
        _ => Err(format!("{s:?}: Milan, Genoa or Turin")),
    }
}

#[derive(Args)]
struct Common {
    /// Measurement manifest (reproducible/MEASUREMENTS.json).
    #[arg(long)]
    manifest: PathBuf,
    /// The statement the evidence must bind: `abi.encode(Attestation)` (hex), as `TEE_INFO` /
    /// `TEE_ATTESTATION` return it (docs/PROTOCOL.md §7).
    #[arg(long, required_unless_present = "report_data")]
    statement: Option<String>,
    /// Instead of a statement: the exact 64-byte REPORT_DATA expected (auditing other evidence).
    #[arg(long, conflicts_with = "statement")]
    report_data: Option<String>,
    /// Verification time, unix seconds (default: now).
    #[arg(long)]
    now: Option<u64>,
}

fn parse_mrtd(s: &str) -> Result<[u8; 48], String> {
    fcc_attest::manifest::measurement_from_hex(s).map_err(|e| e.to_string())
}

fn hex_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let b = hex::decode(s.trim().trim_start_matches("0x")).with_context(|| format!("{what} is not hex"))?;
    b.as_slice().try_into().map_err(|_| anyhow::anyhow!("{what} is {} bytes, expected {N}", b.len()))
}

fn read(p: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
}

impl Common {
    fn binding(&self) -> Result<Binding> {
        if let Some(rd) = &self.report_data {
            return Ok(Binding::ReportData(hex_array(rd, "--report-data")?));
        }
        let Some(statement) = &self.statement else { bail!("--statement or --report-data is required") };
        let bytes = hex::decode(statement.trim().trim_start_matches("0x")).context("--statement is not hex")?;
        Ok(Binding::Statement(Box::new(fcc_attest::statement::decode_statement(&bytes)?)))
    }

    fn now(&self) -> Result<u64> {
        match self.now {
            Some(n) => Ok(n),
            None => Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs()),
        }
    }

    fn verifier(&self) -> Result<Verifier> {
        Ok(Verifier::new(Manifest::from_json(&read(&self.manifest)?)?))
    }
}

fn run(cli: Cli) -> Result<Result<String, fcc_attest::Error>> {
    Ok(match cli.command {
        Command::Verify { report, vek, chain, common } => {
            let (report, vek, chain) = (read(&report)?, read(&vek)?, read(&chain)?);
            let ev = Evidence::Snp { report: &report, vek: &vek, chain: &chain };
            common.verifier()?.verify(&ev, &common.binding()?, common.now()?).map(|v| serde_json::to_string_pretty(&v))
        }
        Command::VerifyTdx { quote, collateral, root, firmware_mrtd, common } => {
            let (quote, root) = (read(&quote)?, read(&root)?);
            let collateral = tdx::collateral_from_json(&read(&collateral)?)?;
            let ev = Evidence::Tdx { quote: &quote, collateral: &collateral, root_ca_der: &root };
            let verifier = Verifier { firmware_mrtds: firmware_mrtd, ..common.verifier()? };
            verifier.verify(&ev, &common.binding()?, common.now()?).map(|v| serde_json::to_string_pretty(&v))
        }
        Command::Kds { report, product } => {
            return Ok(collateral::kds(&read(&report)?, product).map(|k| {
                let mut out = format!(
                    "product  {}\nsigner   {}\nTCB      {}\nchip id  {}\n",
                    k.product.name(),
                    k.signer,
                    k.tcb,
                    k.chip_id
                );
                match &k.vek {
                    Some(vek) => {
                        out += &format!("VCEK     {vek}\nchain    {}\n\n", k.chain);
                        out += &format!("curl -fsS -o vcek.der '{vek}'\ncurl -fsS -o ask_ark.pem '{}'", k.chain);
                    }
                    None => {
                        out += "VLEK     from the cloud provider (the host's extended report carries it)\n";
                        out += &format!("chain    {}\n\ncurl -fsS -o asvk_ark.pem '{}'", k.chain, k.chain);
                    }
                }
                out
            }));
        }
        Command::Pcs { quote } => {
            return Ok(collateral::pcs(&read(&quote)?).map(|p| {
                format!(
                    "fmspc    {}\nPCK CA   {}\n\n\
                     curl -fsS -D tcb.headers -o tcb.json '{}'\n\
                     curl -fsS -D qe.headers -o qe.json '{}'\n\
                     curl -fsS -D pckcrl.headers -o pckcrl.der '{}'\n\
                     curl -fsS -o rootcacrl.der '{}'\n\
                     fcc-attest tdx-collateral --dir . > collateral.json",
                    p.fmspc, p.ca, p.tcb_info, p.qe_identity, p.pck_crl, p.root_ca_crl
                )
            }));
        }
        Command::Eventlog { log, quote, gpt_sha384, application_sha384 } => {
            let log = read(&log)?;
            let replay = match eventlog::replay(&log) {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let mut out = String::new();
            for e in &replay.events {
                out += &format!("RTMR{} {:>6} {:<34} {} {}\n", e.rtmr, e.offset, e.event_type, e.digest, e.about);
            }
            for (i, r) in replay.rtmrs.iter().enumerate() {
                out += &format!("replayed RTMR{i} {r}\n");
            }
            println!("{out}");
            let mut verdict = String::new();
            if let Some(quote) = quote {
                let quote = read(&quote)?;
                let q = fcc_cvm_abi::tdx::quote::Quote::new_checked(&quote[..])
                    .map_err(|e| anyhow::anyhow!("--quote: not a TDX quote ({e:?})"))?;
                for c in eventlog::compare(&replay, &[0, 1, 2, 3].map(|i| *q.rtmr(i))) {
                    if !c.equal {
                        return Ok(Err(fcc_attest::Error::RtmrMismatch(format!(
                            "RTMR{}: the log replays to {}, the quote has {}",
                            c.rtmr, c.replayed, c.expected
                        ))));
                    }
                }
                verdict += "the log replays to the quote's RTMR0-3\n";
            }
            if let Some(gpt) = gpt_sha384 {
                let gpt = hex_array::<48>(&gpt, "--gpt-sha384")?;
                let apps = application_sha384
                    .iter()
                    .map(|a| hex_array::<48>(a, "--application-sha384"))
                    .collect::<Result<Vec<_>>>()?;
                match eventlog::explain_rtmr1(&log, &gpt, &apps) {
                    Ok(None) => {}
                    Ok(Some(why)) => return Ok(Err(fcc_attest::Error::RtmrMismatch(why))),
                    Err(e) => return Ok(Err(e)),
                }
                let predicted = fcc_cvm_abi::eventlog::uefi_boot::rtmr1(&gpt, &apps);
                verdict += &format!("RTMR1 is the predicted {}\n", hex::encode(predicted));
            }
            return Ok(Ok(verdict.trim_end().to_string()));
        }
        Command::TdxCollateral { dir } => {
            let file = |name: &str| read(&dir.join(name));
            let text = |name: &str| -> Result<String> { Ok(String::from_utf8_lossy(&file(name)?).into_owned()) };
            let (tcb, qe, pck_crl, root) =
                (file("tcb.json")?, file("qe.json")?, file("pckcrl.der")?, file("rootcacrl.der")?);
            let (tcb_h, qe_h, pck_h) = (text("tcb.headers")?, text("qe.headers")?, text("pckcrl.headers")?);
            return Ok(collateral::assemble(&collateral::PcsAnswers {
                tcb_info: &tcb,
                tcb_info_headers: &tcb_h,
                qe_identity: &qe,
                qe_identity_headers: &qe_h,
                pck_crl: &pck_crl,
                pck_crl_headers: &pck_h,
                root_ca_crl: &root,
            }));
        }
    }
    .map(|json| json.expect("a verdict serialises")))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(Ok(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(Err(refusal)) => {
            eprintln!("REFUSED: {refusal}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
