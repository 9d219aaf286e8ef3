//! Intel TDX: is this quote (v4 or v5) genuine and from an acceptable platform?
//!
//! The DCAP verification itself is `dcap-qvl`'s (with the Intel root passed in, the RustCrypto
//! backend, no network): collateral validity at `now` and CRLs, TCB-info and QE-identity
//! signatures, PCK chain to the root, QE report signed by the PCK and binding the attestation
//! key, the quote signed by that key, TCB level matching, debug and reserved TD attributes.
//! `dcap-qvl` reports failures as messages; [`classify`] sorts them into our typed errors and
//! keeps the message. Then the policy's accepted TCB statuses are applied.

use dcap_qvl::QuoteCollateralV3;
use dcap_qvl::quote::{Quote, Report};
use dcap_qvl::verify::{QuoteVerifier, rustcrypto};
use fcc_cvm_abi::tdx::quote::{Quote as TdxQuote, QuoteError};

use crate::error::Error;

/// Bound on a quote (ours are about 5 KiB; the PCK chain inside is the bulk).
pub const MAX_QUOTE_LEN: usize = 64 << 10;
/// Bound on collateral JSON (about 12 KiB with both CRLs).
pub const MAX_COLLATERAL_LEN: usize = 1 << 20;

/// What a verifier accepts beyond genuineness.
#[derive(Debug, Clone)]
pub struct Policy {
    /// TCB statuses accepted (dcap-qvl's names). `Revoked` is refused whatever this says.
    pub accepted_status: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { accepted_status: vec!["UpToDate".into()] }
    }
}

/// A quote that passed every check, with the fields a verdict shows.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Quote version (4 or 5).
    pub version: u16,
    /// TCB status, e.g. `UpToDate`.
    pub status: String,
    /// Intel security advisories that apply.
    pub advisories: Vec<String>,
    /// The PCK certificate's FMSPC (platform model and TCB family).
    pub fmspc: [u8; 6],
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: [u8; 16],
    /// TD_ATTRIBUTES.
    pub td_attributes: [u8; 8],
    /// MRTD.
    pub mrtd: [u8; 48],
    /// RTMR0–3.
    pub rtmrs: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

/// Reads collateral in dcap-qvl's JSON form (`QuoteCollateralV3`, hex for binary fields).
pub fn collateral_from_json(bytes: &[u8]) -> Result<QuoteCollateralV3, Error> {
    if bytes.len() > MAX_COLLATERAL_LEN {
        return Err(Error::Length { what: "TDX collateral", len: bytes.len(), expected: "at most 1 MiB" });
    }
    serde_json::from_slice(bytes).map_err(|e| Error::Malformed { what: "TDX collateral", reason: e.to_string() })
}

/// Sorts a dcap-qvl refusal into a typed error. The message strings are dcap-qvl 0.3's; anything
/// unknown stays a refusal ([`Error::TdxRejected`]), never an acceptance.
pub fn classify(e: &anyhow::Error, now: u64) -> Error {
    let reason = format!("{e:#}");
    let has = |s: &str| reason.contains(s);
    if has("expired") || has("Expired") || has("in the future") || has("NotValidYet") {
        Error::TdxCollateralTime { now, reason }
    } else if has("Signature is invalid for tcb_info") || has("Signature is invalid for qe_identity") {
        Error::TdxCollateralSignature(reason)
    } else if has("Signature is invalid for qe_report") || has("QE report hash mismatch") || has("QE Identity") {
        Error::TdxQeReport(reason)
    } else if has("ISV enclave report signature") {
        Error::TdxQuoteSignature(reason)
    } else if has("No matching TCB level") || has("Fmspc mismatch") || has("TCB info") {
        Error::TdxTcbNotMatched(reason)
    } else if let Some(status) = reason.split("TCB status is invalid: ").nth(1) {
        Error::TdxTcbStatus { status: status.trim().to_string(), advisories: vec![] }
    } else if has("Debug mode") || has("TD attributes") || has("SEPT_VE_DISABLE") || has("MR service TD") {
        Error::TdxAttributes(reason)
    } else if has("PCK")
        || has("certificate")
        || has("Certificate")
        || has("Revoked")
        || has("RevocationStatus")
        || has("CRL")
        || has("root ca")
    {
        Error::TdxPckChain(reason)
    } else if has("decode quote") {
        Error::Malformed { what: "TDX quote", reason }
    } else {
        Error::TdxRejected(reason)
    }
}

/// Verifies a TDX quote against collateral and the Intel SGX root (DER), at `now` (unix seconds).
pub fn verify(
    quote: &[u8],
    collateral: &QuoteCollateralV3,
    root_ca_der: &[u8],
    now: u64,
    policy: &Policy,
) -> Result<Verified, Error> {
    if quote.len() > MAX_QUOTE_LEN {
        return Err(Error::Length { what: "TDX quote", len: quote.len(), expected: "at most 64 KiB" });
    }
    // The layout is fcc-cvm-abi's (`tdx::quote`): header, version, TEE type, a TD report body.
    let version = match TdxQuote::new_checked(quote) {
        Ok(q) => q.version(),
        Err(QuoteError::Truncated(len)) => {
            return Err(Error::Length { what: "TDX quote", len, expected: "a header and a TD report body" });
        }
        Err(QuoteError::NotTdx(tee_type)) => return Err(Error::TdxNotTdx(format!("TEE type {tee_type:#x}"))),
        Err(QuoteError::Version(v)) => return Err(Error::TdxNotTdx(format!("quote version {v}"))),
        Err(QuoteError::BodyType(t)) => return Err(Error::TdxNotTdx(format!("body type {t}"))),
    };
    let parsed = Quote::parse(quote).map_err(|e| Error::Malformed { what: "TDX quote", reason: format!("{e:#}") })?;
    if parsed.report.is_sgx() {
        return Err(Error::TdxNotTdx("an SGX enclave report".into()));
    }
    let fmspc = parsed.fmspc().map_err(|e| Error::TdxPckChain(format!("{e:#}")))?;

    let verifier = QuoteVerifier::new(root_ca_der.to_vec(), rustcrypto::backend());
    let report = verifier.verify(quote, collateral, now).map_err(|e| classify(&e, now))?;

    if report.status == "Revoked" || !policy.accepted_status.contains(&report.status) {
        return Err(Error::TdxTcbStatus { status: report.status, advisories: report.advisory_ids });
    }
    // dcap-qvl verified the quote it parsed; take the measured fields from its report.
    let td_verified = match &report.report {
        Report::TD10(r) => r,
        Report::TD15(r) => &r.base,
        Report::SgxEnclave(_) => return Err(Error::TdxNotTdx("an SGX enclave report".into())),
    };
    Ok(Verified {
        version,
        status: report.status,
        advisories: report.advisory_ids,
        fmspc,
        tee_tcb_svn: td_verified.tee_tcb_svn,
        td_attributes: td_verified.td_attributes,
        mrtd: td_verified.mr_td,
        rtmrs: [td_verified.rt_mr0, td_verified.rt_mr1, td_verified.rt_mr2, td_verified.rt_mr3],
        report_data: td_verified.report_data,
    })
}
