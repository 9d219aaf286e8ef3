//! `fcc-attest`: host-side verification of a TEE's attestation before it is voted into
//! production — is the evidence genuine (AMD or Intel signed it for a platform at an acceptable
//! TCB), is the launched code ours (MEASUREMENT / MRTD in the published manifest), and does it
//! bind the statement we expect — key, chain, challenge, policies (REPORT_DATA,
//! `fcc_core::statement`)?
//!
//! Entry point: [`Verifier::verify`] with an [`Evidence`], a [`Binding`] and the time. It returns
//! a [`Verdict`] a data provider can log and vote on, or the first failed check as an [`Error`].
//! Everything runs offline: certificates and collateral are passed in, `now` too.
//! See docs/ATTESTATION.md for the order of the checks and what is not checked.

#![forbid(unsafe_code)]

pub mod collateral;
pub mod error;
pub mod eventlog;
pub mod manifest;
pub mod simulated;
pub mod snp;
pub mod statement;
pub mod tdx;

pub use dcap_qvl::QuoteCollateralV3;
pub use error::{Error, SnpCert};
pub use manifest::Manifest;
pub use statement::Statement;

use serde::Serialize;

/// What REPORT_DATA must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// Production: the TEE's statement (`fcc_core::statement`: Flare's `Attestation` — chain,
    /// challenge, key, initial and active policies, platform, policy hash scheme, version),
    /// REPORT_DATA = `keccak(abi.encode(Attestation)) ‖ bytes32("FCC_ATTESTATION_V1")`.
    Statement(Box<Statement>),
    /// Exact bytes: for auditing third-party evidence that does not follow our binding.
    ReportData([u8; 64]),
}

impl Binding {
    /// The REPORT_DATA the evidence must carry.
    pub fn report_data(&self) -> [u8; 64] {
        match self {
            Binding::Statement(s) => s.report_data(),
            Binding::ReportData(rd) => *rd,
        }
    }

    fn check(&self, found: &[u8; 64]) -> Result<Option<Identity>, Error> {
        let expected = self.report_data();
        if &expected != found {
            return Err(Error::ReportDataMismatch { expected: hex::encode(expected), found: hex::encode(found) });
        }
        Ok(match self {
            Binding::Statement(s) => Some(Identity {
                public_key: hex::encode(s.public_key),
                address: format!("0x{}", hex::encode(s.tee_id())),
                chain_id: s.chain_id,
                challenge: hex::encode(s.challenge),
                initial_policy: (s.initial_policy.0, hex::encode(s.initial_policy.1)),
                active_policy: (s.last_policy.0, hex::encode(s.last_policy.1)),
                statement_hash: hex::encode(s.hash()),
            }),
            Binding::ReportData(_) => None,
        })
    }
}

/// Evidence to verify, with what it needs (all passed in: the verifier runs offline).
#[derive(Debug, Clone, Copy)]
pub enum Evidence<'a> {
    /// An SEV-SNP report with its VCEK/VLEK and AMD's `cert_chain` PEM (ASK/ASVK, ARK).
    Snp {
        /// The 1184-byte report.
        report: &'a [u8],
        /// VCEK or VLEK certificate, DER or PEM.
        vek: &'a [u8],
        /// ASK (or ASVK) then ARK, PEM.
        chain: &'a [u8],
    },
    /// A TDX quote with its collateral and the Intel SGX root certificate (DER).
    Tdx {
        /// The quote (v4 or v5).
        quote: &'a [u8],
        /// TCB info, QE identity, CRLs and their issuer chains.
        collateral: &'a QuoteCollateralV3,
        /// Intel SGX Root CA, DER.
        root_ca_der: &'a [u8],
    },
    /// Bytes claimed to be a plain-QEMU simulated attestation.
    Simulated(&'a [u8]),
}

/// The identity a verdict vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `x ‖ y`, hex.
    pub public_key: String,
    /// The TEE id (Ethereum address), 0x-hex.
    pub address: String,
    /// Chain id bound in.
    pub chain_id: u64,
    /// Challenge bound in, hex.
    pub challenge: String,
    /// The trust root the TEE reports: (epoch, policy hash hex); (0, zero) when none.
    pub initial_policy: (u32, String),
    /// The active policy it reports: (epoch, policy hash hex); (0, zero) when none.
    pub active_policy: (u32, String),
    /// keccak(abi.encode(Attestation)), hex.
    pub statement_hash: String,
}

/// What was verified, for a data provider to log and vote on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `sev-snp`, `tdx` or `plain (simulated, not a TEE)`.
    pub platform: String,
    /// True for a simulated attestation: no hardware vouches for anything in it.
    pub simulated: bool,
    /// Which manifest entry matched, e.g. `SEV-SNP launch digest, EPYC-Genoa, 4 vCPUs`.
    pub measurement: String,
    /// The measurement itself, hex.
    pub measurement_hex: String,
    /// The platform's TCB (SNP: REPORTED_TCB; TDX: status, TEE_TCB_SVN, advisories).
    pub tcb: String,
    /// SNP guest policy and VMPL; TDX TD attributes.
    pub policy: String,
    /// SNP: VCEK chip id or VLEK's cloud provider; TDX: the PCK's FMSPC.
    pub hardware: String,
    /// The identity bound in REPORT_DATA (None when checked as raw bytes).
    pub identity: Option<Identity>,
    /// REPORT_DATA, hex.
    pub report_data: String,
}

/// A verifier: what is accepted.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    /// The accepted measurements.
    pub manifest: Manifest,
    /// SEV-SNP policy.
    pub snp: snp::Policy,
    /// TDX policy.
    pub tdx: tdx::Policy,
    /// Test mode: accept simulated attestations (the verdict still says "simulated, not a TEE").
    /// Never set in production.
    pub allow_simulated: bool,
    /// TDX firmware the UEFI edition may run on (a cloud's MRTDs, e.g. from its signed reference
    /// values): a quote with one of these MRTDs is held to the manifest's UEFI edition RTMR1
    /// instead of the ROM's MRTDs. Empty: only the ROM is accepted on TDX.
    pub firmware_mrtds: Vec<[u8; 48]>,
}

impl Verifier {
    /// A production verifier for a manifest with the default policies.
    pub fn new(manifest: Manifest) -> Self {
        Verifier { manifest, ..Default::default() }
    }

    /// Verifies evidence at `now` (unix seconds): genuineness, then measurement, then binding.
    pub fn verify(&self, evidence: &Evidence<'_>, binding: &Binding, now: u64) -> Result<Verdict, Error> {
        match *evidence {
            Evidence::Simulated(bytes) => self.verify_simulated(bytes, binding),
            Evidence::Snp { report, .. } | Evidence::Tdx { quote: report, .. } if simulated::is_simulated(report) => {
                self.verify_simulated(report, binding)
            }
            Evidence::Snp { report, vek, chain } => {
                let v = snp::verify(report, vek, chain, now, &self.snp)?;
                let measurement = self.manifest.match_snp(&v.measurement)?;
                let identity = binding.check(&v.report_data)?;
                Ok(Verdict {
                    platform: "sev-snp".into(),
                    simulated: false,
                    measurement,
                    measurement_hex: hex::encode(v.measurement),
                    tcb: format!("{} (REPORTED_TCB, {}, report v{})", v.reported_tcb, v.product.name(), v.version),
                    policy: format!("policy {:#x}, vmpl {}", v.policy, v.vmpl),
                    hardware: match &v.signer {
                        snp::Signer::Vcek { chip_id } => format!("VCEK, chip id {chip_id}"),
                        snp::Signer::Vlek { csp } => format!("VLEK, {csp}"),
                    },
                    identity,
                    report_data: hex::encode(v.report_data),
                })
            }
            Evidence::Tdx { quote, collateral, root_ca_der } => {
                let v = tdx::verify(quote, collateral, root_ca_der, now, &self.tdx)?;
                // The ROM is its own firmware (MRTD); the UEFI edition runs on a firmware the
                // operator accepts, which measures it into RTMR1.
                let (measurement, measured) = if self.firmware_mrtds.contains(&v.mrtd) {
                    let m = self.manifest.match_uefi_tdx(&v.rtmrs[1])?;
                    (format!("{m}, on firmware MRTD {}", hex::encode(v.mrtd)), v.rtmrs[1])
                } else {
                    (self.manifest.match_tdx(&v.mrtd)?, v.mrtd)
                };
                let identity = binding.check(&v.report_data)?;
                Ok(Verdict {
                    platform: "tdx".into(),
                    simulated: false,
                    measurement,
                    measurement_hex: hex::encode(measured),
                    tcb: format!(
                        "{}, TEE_TCB_SVN {}, advisories [{}] (quote v{})",
                        v.status,
                        hex::encode(v.tee_tcb_svn),
                        v.advisories.join(", "),
                        v.version
                    ),
                    policy: format!("TD attributes {}", hex::encode(v.td_attributes)),
                    hardware: format!("PCK FMSPC {}", hex::encode(v.fmspc)),
                    identity,
                    report_data: hex::encode(v.report_data),
                })
            }
        }
    }

    fn verify_simulated(&self, bytes: &[u8], binding: &Binding) -> Result<Verdict, Error> {
        if !self.allow_simulated {
            return Err(Error::SimulatedAttestation);
        }
        let s = simulated::decode(bytes)?;
        let (measurement, measurement_hex) = match &s.rom_sha384 {
            Some(h) => (self.manifest.match_simulated(h)?, hex::encode(h)),
            None => ("none (the simulated attestation carries no image hash)".into(), String::new()),
        };
        let identity = binding.check(&s.report_data)?;
        Ok(Verdict {
            platform: "plain (simulated, not a TEE)".into(),
            simulated: true,
            measurement,
            measurement_hex,
            tcb: "none: simulated, not a TEE".into(),
            policy: "none: simulated, not a TEE".into(),
            hardware: "none: simulated, not a TEE".into(),
            identity,
            report_data: hex::encode(s.report_data),
        })
    }
}
