//! The optional check of each guest's boot-time attestation (`attestation-manifest`): the
//! `Hello`'s evidence must verify with `fcc-attest` against the manifest, bound to the Hello's
//! public key, the proxy's chain id and the zero challenge, and the Hello's TEE id must be that
//! key's address. A guest that fails is refused its link.
//!
//! The proxy is not what makes a TEE trusted (the data providers check it themselves before
//! voting it into production); this check keeps a proxy from serving a guest its operator did
//! not mean to run, and shows the verdict in `GET /info`.

use std::path::Path;

use anyhow::{Context, Result};
use fcc_attest::{Binding, Evidence, Manifest, QuoteCollateralV3, Verdict, Verifier};
use fcc_core::attester::PlatformKind;
use fcc_core::wire::Hello;

use crate::config::AttestationConfig;

/// Largest certificate or collateral file read (real ones are a few KiB).
const MAX_FILE: u64 = 1 << 20;

/// Why a guest's attestation was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The Hello's TEE id is not the address of its public key.
    #[error("the TEE id 0x{claimed} is not the address of the Hello's public key (0x{derived})")]
    TeeIdMismatch {
        /// The Hello's TEE id, hex.
        claimed: String,
        /// keccak(public key)[12..], hex.
        derived: String,
    },
    /// The Hello's statement is for another chain, or disagrees with the Hello.
    #[error("the Hello's statement: {0}")]
    Statement(String),
    /// Hardware evidence whose certificates or collateral are not configured.
    #[error("{0} evidence, but no {0} certificates/collateral are configured")]
    NoCollateral(&'static str),
    /// The evidence does not verify.
    #[error("{0}")]
    Verify(#[from] fcc_attest::Error),
}

/// The verifier and what hardware evidence needs, read once at start.
#[derive(Debug)]
pub struct Checker {
    verifier: Verifier,
    snp: Option<(Vec<u8>, Vec<u8>)>,
    tdx: Option<(QuoteCollateralV3, Vec<u8>)>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    anyhow::ensure!(len <= MAX_FILE, "{}: {len} bytes, more than {MAX_FILE}", path.display());
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

impl Checker {
    /// Reads the manifest and the certificate/collateral files of `config`.
    pub fn load(config: &AttestationConfig) -> Result<Self> {
        let manifest = Manifest::from_json(&read(&config.manifest)?)
            .with_context(|| format!("attestation manifest {}", config.manifest.display()))?;
        let snp = match (&config.vek, &config.chain) {
            (Some(v), Some(c)) => Some((read(v)?, read(c)?)),
            _ => None,
        };
        let tdx = match (&config.tdx_collateral, &config.tdx_root) {
            (Some(c), Some(r)) => Some((
                fcc_attest::tdx::collateral_from_json(&read(c)?)
                    .with_context(|| format!("TDX collateral {}", c.display()))?,
                read(r)?,
            )),
            _ => None,
        };
        let verifier = Verifier {
            allow_simulated: config.allow_simulated,
            firmware_mrtds: config.tdx_firmware_mrtds.clone(),
            ..Verifier::new(manifest)
        };
        Ok(Checker { verifier, snp, tdx })
    }

    /// Verifies a Hello's evidence at `now` (unix seconds) for `chain_id`.
    pub fn check(&self, hello: &Hello, chain_id: u64, now: u64) -> Result<Verdict, Refusal> {
        let public_key = hello.public_key.0;
        let digest = fcc_core::hash::keccak256(&public_key);
        if digest[12..] != hello.tee_id {
            return Err(Refusal::TeeIdMismatch {
                claimed: hex::encode(hello.tee_id),
                derived: hex::encode(&digest[12..]),
            });
        }
        let a = &hello.attestation;
        let evidence = match hello.platform {
            PlatformKind::Plain => Evidence::Simulated(a),
            PlatformKind::SevSnp => {
                let (vek, chain) = self.snp.as_ref().ok_or(Refusal::NoCollateral("SEV-SNP"))?;
                Evidence::Snp { report: a, vek, chain }
            }
            PlatformKind::Tdx => {
                let (collateral, root) = self.tdx.as_ref().ok_or(Refusal::NoCollateral("TDX"))?;
                Evidence::Tdx { quote: a, collateral, root_ca_der: root }
            }
        };
        // The statement is what the evidence vouches for: it must be the Hello's, for this chain.
        hello.check_statement().map_err(|e| Refusal::Statement(e.to_string()))?;
        if hello.statement.chain_id != chain_id {
            return Err(Refusal::Statement(format!(
                "chain {} (this proxy serves {chain_id})",
                hello.statement.chain_id
            )));
        }
        let binding = Binding::Statement(hello.statement.clone());
        Ok(self.verifier.verify(&evidence, &binding, now)?)
    }
}

/// The outcome of the last check, for `GET /info`.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The TEE `0` passed.
    Accepted(fcc_core::policy::Address, Box<Verdict>),
    /// The TEE `0` was refused for the reason `1`.
    Refused(fcc_core::policy::Address, String),
}
