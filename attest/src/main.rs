//! `fcc-attest`: verify an SEV-SNP report or a TDX quote offline against the published manifest
//! and the statement the TEE makes (its key, chain, challenge and policies); prints the verdict as JSON, or `REFUSED: <reason>` and exits 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use fcc_attest::{Binding, Evidence, Manifest, Verifier, tdx};

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
        #[command(flatten)]
        common: Common,
    },
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
        Command::VerifyTdx { quote, collateral, root, common } => {
            let (quote, root) = (read(&quote)?, read(&root)?);
            let collateral = tdx::collateral_from_json(&read(&collateral)?)?;
            let ev = Evidence::Tdx { quote: &quote, collateral: &collateral, root_ca_der: &root };
            common.verifier()?.verify(&ev, &common.binding()?, common.now()?).map(|v| serde_json::to_string_pretty(&v))
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
