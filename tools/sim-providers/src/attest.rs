//! Checking a TEE before voting it into production: fetch what its proxy says about it
//! (`GET /info`), then verify its boot-time attestation with `fcc-attest` against the published
//! manifest, bound to the public key the proxy reports, the provider's *own* chain id and the zero
//! challenge of the boot-time `Hello`, and check that the TEE id is that key's address.
//!
//! The proxy is untrusted: whatever it reports is only believed once the evidence binds it. A
//! proxy that swaps the public key fails the binding (REPORT_DATA), one that swaps the TEE id
//! fails [`CheckError::TeeIdMismatch`].

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use fcc_attest::{Binding, Evidence, QuoteCollateralV3};
pub use fcc_attest::{Manifest, Verdict, Verifier};
use fcc_core::hash::keccak256;
use fcc_core::policy::Address;
use serde::Deserialize;

use crate::client::{PostError, ProxyClient};

/// Largest certificate, chain, collateral or root file read (real ones are a few KiB).
pub const MAX_COLLATERAL_FILE: u64 = 1 << 20;

/// Why a TEE was not checked or failed the check: a provider must not vote it into production.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// `GET /info` failed (unreachable proxy, no TEE connected, a refusal).
    #[error("asking the proxy about its TEE: {0}")]
    Fetch(#[from] PostError),
    /// `GET /info` answered, but a field is missing or malformed.
    #[error("the proxy's /info: {0}")]
    Info(String),
    /// The `platform` is none this check knows.
    #[error("unknown platform {0:?} (Plain, SevSnp or Tdx)")]
    UnknownPlatform(String),
    /// Hardware evidence needs certificates or collateral that were not given.
    #[error("{platform} evidence needs {what}, which was not given")]
    MissingCollateral {
        /// `sev-snp` or `tdx`.
        platform: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// A certificate or collateral file could not be read or parsed.
    #[error("{path}: {reason}")]
    CollateralFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The measurement manifest could not be read or parsed.
    #[error("manifest {path}: {reason}")]
    Manifest {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The TEE id the proxy reports is not the address of the public key it reports.
    #[error("teeId {claimed} is not the address of the reported public key ({derived})")]
    TeeIdMismatch {
        /// The reported TEE id.
        claimed: String,
        /// keccak(public key)[12..].
        derived: String,
    },
    /// The attestation does not verify (genuineness, measurement or binding).
    #[error("{0}")]
    Refused(#[from] fcc_attest::Error),
}

/// What a proxy says about its TEE (the fields of `GET /info` the check reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeeInfo {
    /// The TEE id (address).
    pub tee_id: Address,
    /// Its public key `x ‖ y`.
    pub public_key: [u8; 64],
    /// `Plain`, `SevSnp` or `Tdx`.
    pub platform: String,
    /// The chain id the proxy says the TEE serves (informational: the binding uses the
    /// provider's own).
    pub chain_id: u64,
    /// The boot-time evidence.
    pub attestation: Vec<u8>,
}

impl TeeInfo {
    /// Reads the fields from a `GET /info` answer.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, CheckError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Info {
            tee_id: alloy_primitives::Address,
            public_key: alloy_primitives::Bytes,
            platform: String,
            chain_id: u64,
            attestation: alloy_primitives::Bytes,
        }
        let i: Info = serde_json::from_value(v.clone()).map_err(|e| CheckError::Info(e.to_string()))?;
        let public_key = <[u8; 64]>::try_from(i.public_key.as_ref())
            .map_err(|_| CheckError::Info(format!("publicKey is {} bytes, not 64", i.public_key.len())))?;
        Ok(TeeInfo {
            tee_id: i.tee_id.0.0,
            public_key,
            platform: i.platform,
            chain_id: i.chain_id,
            attestation: i.attestation.to_vec(),
        })
    }
}

/// SEV-SNP certificates: the VCEK/VLEK and AMD's ASK/ASVK + ARK chain.
#[derive(Debug, Clone)]
pub struct SnpCerts {
    /// VCEK or VLEK, DER or PEM.
    pub vek: Vec<u8>,
    /// ASK (or ASVK) then ARK, PEM.
    pub chain: Vec<u8>,
}

/// TDX collateral and Intel's root.
#[derive(Debug, Clone)]
pub struct TdxCollateral {
    /// TCB info, QE identity, CRLs (dcap-qvl's `QuoteCollateralV3`).
    pub collateral: QuoteCollateralV3,
    /// Intel SGX Root CA, DER.
    pub root_ca_der: Vec<u8>,
}

/// What hardware evidence needs beyond itself (nothing for simulated evidence).
#[derive(Debug, Clone, Default)]
pub struct Collateral {
    /// For SEV-SNP reports.
    pub snp: Option<SnpCerts>,
    /// For TDX quotes.
    pub tdx: Option<TdxCollateral>,
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, CheckError> {
    let err = |reason: String| CheckError::CollateralFile { path: path.display().to_string(), reason };
    let len = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.len();
    if len > MAX_COLLATERAL_FILE {
        return Err(err(format!("{len} bytes, more than the {MAX_COLLATERAL_FILE} accepted")));
    }
    std::fs::read(path).map_err(|e| err(e.to_string()))
}

impl Collateral {
    /// Reads the files given (each pair all or nothing): SNP `vek` + `chain`, TDX `collateral`
    /// (JSON) + `root` (DER).
    pub fn from_files(
        vek: Option<&Path>,
        chain: Option<&Path>,
        collateral: Option<&Path>,
        root: Option<&Path>,
    ) -> Result<Self, CheckError> {
        let snp = match (vek, chain) {
            (Some(v), Some(c)) => Some(SnpCerts { vek: read_bounded(v)?, chain: read_bounded(c)? }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(CheckError::MissingCollateral { platform: "sev-snp", what: "the ASK/ARK chain" });
            }
            (None, Some(_)) => {
                return Err(CheckError::MissingCollateral { platform: "sev-snp", what: "the VCEK/VLEK" });
            }
        };
        let tdx = match (collateral, root) {
            (Some(c), Some(r)) => {
                let collateral = fcc_attest::tdx::collateral_from_json(&read_bounded(c)?)
                    .map_err(|e| CheckError::CollateralFile { path: c.display().to_string(), reason: e.to_string() })?;
                Some(TdxCollateral { collateral, root_ca_der: read_bounded(r)? })
            }
            (None, None) => None,
            (Some(_), None) => return Err(CheckError::MissingCollateral { platform: "tdx", what: "Intel's root" }),
            (None, Some(_)) => return Err(CheckError::MissingCollateral { platform: "tdx", what: "the collateral" }),
        };
        Ok(Collateral { snp, tdx })
    }
}

/// A verifier for the manifest at `path` (`reproducible/MEASUREMENTS.json`); `allow_simulated`
/// is test mode (plain QEMU), never production.
pub fn verifier(path: &Path, allow_simulated: bool) -> Result<Verifier, CheckError> {
    let err = |reason: String| CheckError::Manifest { path: path.display().to_string(), reason };
    let len = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.len();
    if len > fcc_attest::manifest::MAX_MANIFEST_LEN as u64 {
        return Err(err(format!("{len} bytes, more than the {} accepted", fcc_attest::manifest::MAX_MANIFEST_LEN)));
    }
    let manifest =
        Manifest::from_json(&std::fs::read(path).map_err(|e| err(e.to_string()))?).map_err(|e| err(e.to_string()))?;
    Ok(Verifier { allow_simulated, ..Verifier::new(manifest) })
}

/// The TEE id of a public key: the last 20 bytes of its keccak.
pub fn address_of(public_key: &[u8; 64]) -> Address {
    keccak256(public_key)[12..].try_into().expect("20 bytes")
}

/// Verifies what a proxy reported about its TEE: the TEE id is the key's address, and the
/// evidence (kind from `platform`) verifies under `verifier`, bound to that key, `chain_id` (the
/// provider's own) and the zero challenge, at `now` (unix seconds).
pub fn verify_info(
    info: &TeeInfo,
    verifier: &Verifier,
    collateral: &Collateral,
    chain_id: u64,
    now: u64,
) -> Result<Verdict, CheckError> {
    let derived = address_of(&info.public_key);
    if derived != info.tee_id {
        return Err(CheckError::TeeIdMismatch {
            claimed: format!("0x{}", hex::encode(info.tee_id)),
            derived: format!("0x{}", hex::encode(derived)),
        });
    }
    let evidence = match info.platform.as_str() {
        "Plain" | "plain" => Evidence::Simulated(&info.attestation),
        "SevSnp" | "sev-snp" => {
            let c = collateral.snp.as_ref().ok_or(CheckError::MissingCollateral {
                platform: "sev-snp",
                what: "the VCEK/VLEK and ASK/ARK chain",
            })?;
            Evidence::Snp { report: &info.attestation, vek: &c.vek, chain: &c.chain }
        }
        "Tdx" | "tdx" => {
            let c = collateral
                .tdx
                .as_ref()
                .ok_or(CheckError::MissingCollateral { platform: "tdx", what: "the collateral and Intel's root" })?;
            Evidence::Tdx { quote: &info.attestation, collateral: &c.collateral, root_ca_der: &c.root_ca_der }
        }
        other => return Err(CheckError::UnknownPlatform(other.to_owned())),
    };
    let binding = Binding::Identity { public_key: info.public_key, chain_id, challenge: [0; 32] };
    Ok(verifier.verify(&evidence, &binding, now)?)
}

/// A TEE that passed the check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// What the proxy reported.
    pub info: TeeInfo,
    /// The verdict.
    pub verdict: Verdict,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl ProxyClient {
    /// What the proxy reports about its TEE (`GET /info`, retried like votes).
    pub async fn tee_info(&self) -> Result<TeeInfo, CheckError> {
        TeeInfo::from_json(&self.info::<serde_json::Value>().await?)
    }

    /// Fetches `GET /info` and checks the TEE ([`verify_info`] with this client's chain id, now).
    pub async fn check_tee(&self, verifier: &Verifier, collateral: &Collateral) -> Result<Checked, CheckError> {
        let info = self.tee_info().await?;
        let verdict = verify_info(&info, verifier, collateral, self.chain_id(), unix_now())?;
        Ok(Checked { info, verdict })
    }
}
