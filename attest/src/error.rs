//! Every way evidence can be refused: one variant per failed check, carrying the field that
//! failed, so a data provider can log exactly why it voted no.

use thiserror::Error;

/// Which certificate of an SEV-SNP chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnpCert {
    /// AMD Root Key.
    Ark,
    /// AMD SEV Key (signs VCEKs) or AMD SEV VLEK Key (signs VLEKs).
    Ask,
    /// The chip's VCEK or the cloud provider's VLEK.
    Vek,
}

impl core::fmt::Display for SnpCert {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SnpCert::Ark => "ARK",
            SnpCert::Ask => "ASK/ASVK",
            SnpCert::Vek => "VCEK/VLEK",
        })
    }
}

/// Why evidence was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    // ---- input shape -------------------------------------------------------------------------
    /// The input has the wrong size (truncated, padded or over the bound).
    #[error("{what} is {len} bytes; expected {expected}")]
    Length {
        /// Which input.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The size or range accepted.
        expected: &'static str,
    },
    /// The input could not be parsed.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// Which input.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A manifest without the measurements of the platform being verified.
    #[error("the manifest is malformed: {0}")]
    Manifest(String),

    // ---- SEV-SNP ------------------------------------------------------------------------------
    /// An SEV-SNP report version this verifier does not know.
    #[error("SEV-SNP report version {0} is not supported (2 to 5)")]
    SnpVersion(u32),
    /// The report is not signed with ECDSA P-384 / SHA-384.
    #[error("SEV-SNP signature algorithm {0} is not ECDSA P-384 with SHA-384 (1)")]
    SnpSignatureAlgorithm(u32),
    /// The chain's ARK is none of AMD's roots (Milan, Genoa, Turin) pinned in this build.
    #[error("the ARK (subject {subject}) is not a pinned AMD root")]
    UnknownArk {
        /// The presented ARK's subject.
        subject: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("the {cert} certificate is not signed by its issuer: {reason}")]
    CertSignature {
        /// The certificate whose signature failed.
        cert: SnpCert,
        /// The library's message.
        reason: String,
    },
    /// A certificate is not valid at the verification time.
    #[error("the {cert} certificate is valid {not_before} to {not_after} (unix), not at {now}")]
    CertValidity {
        /// Which certificate.
        cert: SnpCert,
        /// Its notBefore (unix seconds).
        not_before: u64,
        /// Its notAfter (unix seconds).
        not_after: u64,
        /// The verification time.
        now: u64,
    },
    /// The report says VCEK and the certificate is a VLEK, or the reverse.
    #[error("the report is signed by a {report}, the certificate is a {certificate}")]
    SignerKind {
        /// What the report's KEY_INFO says.
        report: &'static str,
        /// What the certificate is.
        certificate: &'static str,
    },
    /// The report's CPU (CPUID, v3+) belongs to another product than the chain's ARK.
    #[error("the report's CPU is {report}, the certificate chain is for {chain}")]
    ProductMismatch {
        /// From the report's CPUID.
        report: String,
        /// From the pinned ARK.
        chain: &'static str,
    },
    /// A VEK TCB extension differs from the report's REPORTED_TCB (or is missing).
    #[error("TCB component {component}: the VEK certifies {certificate:?}, REPORTED_TCB says {report}")]
    TcbMismatch {
        /// bootloader, tee, snp, microcode or fmc.
        component: &'static str,
        /// The certificate's value (None: the extension is missing).
        certificate: Option<u8>,
        /// The report's value.
        report: u8,
    },
    /// The VCEK's hwID is not the report's CHIP_ID.
    #[error("the VCEK's hwID {certificate} is not the report's CHIP_ID {report}")]
    ChipIdMismatch {
        /// hwID extension (hex).
        certificate: String,
        /// CHIP_ID (hex, the compared prefix).
        report: String,
    },
    /// The report's signature does not verify with the VEK's key.
    #[error("the report signature does not verify with the VEK: {0}")]
    ReportSignature(String),
    /// The guest policy allows debugging: the host can read and change guest memory.
    #[error("the guest policy {policy:#x} allows debugging")]
    SnpDebugPolicy {
        /// The POLICY field.
        policy: u64,
    },
    /// The report was requested from a VMPL above the accepted one.
    #[error("the report comes from VMPL {vmpl}; at most {max} is accepted")]
    Vmpl {
        /// The VMPL field.
        vmpl: u32,
        /// The policy's maximum.
        max: u32,
    },

    /// A REPORTED_TCB component is below the policy's minimum.
    #[error("TCB component {component} is {report}, below the minimum {minimum}")]
    SnpTcbBelowMinimum {
        /// bootloader, tee, snp, microcode or fmc.
        component: &'static str,
        /// The policy's minimum.
        minimum: u8,
        /// The report's value.
        report: u8,
    },

    // ---- UEFI boots (TDX on cloud firmware) -------------------------------------------------
    /// The firmware's CC event log does not read or does not replay.
    #[error("the event log does not replay: {0}")]
    EventLog(String),
    /// An RTMR differs from the event log's replay or from our prediction; the message names the
    /// register and, for RTMR1, the first event that differs.
    #[error("{0}")]
    RtmrMismatch(String),

    // ---- TDX ----------------------------------------------------------------------------------
    /// Not a TDX quote (version 4 or 5, TEE type 0x81).
    #[error("not a TDX quote: {0}")]
    TdxNotTdx(String),
    /// The collateral (TCB info, QE identity, CRLs) or a certificate is outside its validity.
    #[error("TDX collateral or certificate not valid at {now}: {reason}")]
    TdxCollateralTime {
        /// The verification time.
        now: u64,
        /// dcap-qvl's message.
        reason: String,
    },
    /// The TCB info or QE identity signature does not verify.
    #[error("TDX collateral signature invalid: {0}")]
    TdxCollateralSignature(String),
    /// The PCK certificate chain does not lead to the Intel root, or a certificate is revoked.
    #[error("TDX PCK certificate chain rejected: {0}")]
    TdxPckChain(String),
    /// The QE report is not signed by the PCK, or does not bind the attestation key.
    #[error("TDX quoting enclave report rejected: {0}")]
    TdxQeReport(String),
    /// The quote body is not signed by the attestation key.
    #[error("TDX quote signature invalid: {0}")]
    TdxQuoteSignature(String),
    /// The platform's TCB is in no level of the TCB info, or the PCK's FMSPC is not the TCB info's.
    #[error("TDX TCB not matched: {0}")]
    TdxTcbNotMatched(String),
    /// The TCB status is one the policy does not accept (Revoked is never accepted).
    #[error("TDX TCB status {status} is not accepted (advisories: {advisories:?})")]
    TdxTcbStatus {
        /// dcap-qvl's status.
        status: String,
        /// Intel advisories.
        advisories: Vec<String>,
    },
    /// The TD is debuggable or has attributes that void its protection.
    #[error("TDX TD attributes rejected: {0}")]
    TdxAttributes(String),
    /// Any other refusal by dcap-qvl, with its message.
    #[error("TDX quote rejected: {0}")]
    TdxRejected(String),

    // ---- what was launched, and for whom ------------------------------------------------------
    /// The measurement is none of the manifest's.
    #[error("{field} {found} is none of the manifest's {searched}")]
    MeasurementMismatch {
        /// `SNP MEASUREMENT`, `TDX MRTD` or `simulated image hash`.
        field: &'static str,
        /// The evidence's value (hex).
        found: String,
        /// What was searched.
        searched: String,
    },
    /// REPORT_DATA is not the binding of the expected TEE key, chain and challenge.
    #[error("REPORT_DATA {found} is not the expected {expected}")]
    ReportDataMismatch {
        /// Expected REPORT_DATA (hex).
        expected: String,
        /// The evidence's REPORT_DATA (hex).
        found: String,
    },

    // ---- simulated ----------------------------------------------------------------------------
    /// A simulated attestation (plain QEMU): no hardware vouches for it.
    #[error("simulated attestation (plain QEMU, no TEE) refused by the production verifier")]
    SimulatedAttestation,
}
