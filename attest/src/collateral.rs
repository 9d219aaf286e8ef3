//! Where the certificates and collateral the checks need come from — this crate never goes
//! online, so an operator or a provider fetches them: AMD's Key Distribution Service (KDS) URLs
//! of a report's VCEK and certificate chain ([`kds`]), Intel's Provisioning Certification
//! Service (PCS) URLs of a quote's TCB info, QE identity and CRLs ([`pcs`]), and the collateral
//! JSON `tdx::verify` takes, assembled from Intel's answers as saved by `curl -D` ([`assemble`]):
//! the signed documents are kept byte for byte, so the signatures still verify.

use dcap_qvl::QuoteCollateralV3;
use fcc_cvm_abi::snp::report::{Report, WrongLength};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use crate::error::Error;
use crate::snp::{Product, Tcb};

/// AMD's KDS.
pub const KDS: &str = "https://kdsintf.amd.com";
/// Intel's PCS.
pub const PCS: &str = "https://api.trustedservices.intel.com";
/// The CRL of Intel's SGX root CA (it signs the PCK and TCB-signing CAs).
pub const INTEL_ROOT_CA_CRL: &str = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/// A report's certificates at AMD's KDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kds {
    /// The EPYC generation.
    pub product: Product,
    /// `VCEK` or `VLEK`.
    pub signer: &'static str,
    /// REPORTED_TCB.
    pub tcb: Tcb,
    /// The chip id as the VCEK's hwID holds it (64 bytes; 8 on Turin), hex.
    pub chip_id: String,
    /// The VCEK, DER (none for a VLEK-signed report: the cloud provider hands its VLEK out).
    pub vek: Option<String>,
    /// ASK (or ASVK for a VLEK) then ARK, PEM: `fcc-attest verify --chain`.
    pub chain: String,
}

/// The KDS URLs of `report`'s certificates. The generation comes from the report's CPUID
/// (versions 3 and later) or, for an older report, from `product`; given both, they must agree.
pub fn kds(report: &[u8], product: Option<Product>) -> Result<Kds, Error> {
    let raw = Report::new_checked(report).map_err(|WrongLength(len)| Error::Length {
        what: "SEV-SNP report",
        len,
        expected: "1184",
    })?;
    let parsed = AttestationReport::from_bytes(report)
        .map_err(|e| Error::Malformed { what: "SEV-SNP report", reason: e.to_string() })?;
    let from_cpuid = match (parsed.cpuid_fam_id, parsed.cpuid_mod_id) {
        (Some(fam), Some(model)) => {
            let generation = sev::Generation::identify_cpu(fam, model).map_err(|e| Error::Malformed {
                what: "SEV-SNP report",
                reason: format!("CPUID family {fam:#x} model {model:#x}: {e}"),
            })?;
            Some(match generation {
                sev::Generation::Milan => Product::Milan,
                sev::Generation::Genoa => Product::Genoa,
                sev::Generation::Turin => Product::Turin,
                sev::Generation::Venice => {
                    return Err(Error::Malformed {
                        what: "SEV-SNP report",
                        reason: "Venice has no KDS product this verifier pins".into(),
                    });
                }
            })
        }
        _ => None,
    };
    let product = match (from_cpuid, product) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::Malformed {
                what: "SEV-SNP report",
                reason: format!("its CPU is {}, not the {} given", a.name(), b.name()),
            });
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => {
            return Err(Error::Malformed {
                what: "SEV-SNP report",
                reason: "a version 2 report does not name its CPU: say which product (Milan, Genoa, Turin)".into(),
            });
        }
    };
    let tcb = Tcb::decode(raw.reported_tcb(), product);
    // KEY_INFO bits 4:2: 0 VCEK, 1 VLEK.
    let key = raw.signing_key();
    let hwid = if product == Product::Turin { &parsed.chip_id[..8] } else { &parsed.chip_id[..] };
    let chip_id = hex::encode(hwid);
    let base = format!("{KDS}/vcek/v1/{}", product.name());
    let (signer, vek, chain) = match key {
        0 => {
            let fmc = tcb.fmc.map(|f| format!("fmcSPL={f:02}&")).unwrap_or_default();
            let vek = format!(
                "{base}/{chip_id}?{fmc}blSPL={:02}&teeSPL={:02}&snpSPL={:02}&ucodeSPL={:02}",
                tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode
            );
            ("VCEK", Some(vek), format!("{base}/cert_chain"))
        }
        1 => ("VLEK", None, format!("{KDS}/vlek/v1/{}/cert_chain", product.name())),
        other => {
            return Err(Error::Malformed {
                what: "SEV-SNP report",
                reason: format!("KEY_INFO signing key {other}: not signed by a VCEK or VLEK"),
            });
        }
    };
    Ok(Kds { product, signer, tcb, chip_id, vek, chain })
}

/// A quote's collateral at Intel's PCS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcs {
    /// The platform's FMSPC (from the PCK certificate in the quote), hex.
    pub fmspc: String,
    /// The PCK's issuing CA: `processor` or `platform`.
    pub ca: &'static str,
    /// TCB info (JSON; issuer chain in the `TCB-Info-Issuer-Chain` header).
    pub tcb_info: String,
    /// QE identity (JSON; issuer chain in `SGX-Enclave-Identity-Issuer-Chain`).
    pub qe_identity: String,
    /// The PCK CRL (DER; issuer chain in `SGX-PCK-CRL-Issuer-Chain`).
    pub pck_crl: String,
    /// The root CA's CRL (DER).
    pub root_ca_crl: &'static str,
}

/// The PCS URLs of `quote`'s collateral (TDX, API v4).
pub fn pcs(quote: &[u8]) -> Result<Pcs, Error> {
    let bad = |reason: String| Error::Malformed { what: "TDX quote", reason };
    let q = dcap_qvl::quote::Quote::parse(quote).map_err(|e| bad(format!("{e:#}")))?;
    if q.header.is_sgx() {
        return Err(Error::TdxNotTdx("an SGX quote".into()));
    }
    let fmspc = hex::encode(q.fmspc().map_err(|e| bad(format!("its PCK certificate's FMSPC: {e:#}")))?);
    let ca = q.ca().map_err(|e| bad(format!("its PCK certificate's issuer: {e:#}")))?;
    Ok(Pcs {
        tcb_info: format!("{PCS}/tdx/certification/v4/tcb?fmspc={fmspc}"),
        qe_identity: format!("{PCS}/tdx/certification/v4/qe/identity"),
        pck_crl: format!("{PCS}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"),
        root_ca_crl: INTEL_ROOT_CA_CRL,
        fmspc,
        ca,
    })
}

/// Intel's answers as saved: each body, and for the first three the response headers
/// (`curl -D`), which carry the issuer chains.
#[derive(Debug, Clone, Copy)]
pub struct PcsAnswers<'a> {
    /// `tcb?fmspc=…`: `{"tcbInfo":…,"signature":"…"}`.
    pub tcb_info: &'a [u8],
    /// Its headers.
    pub tcb_info_headers: &'a str,
    /// `qe/identity`: `{"enclaveIdentity":…,"signature":"…"}`.
    pub qe_identity: &'a [u8],
    /// Its headers.
    pub qe_identity_headers: &'a str,
    /// `pckcrl?…&encoding=der`: the CRL.
    pub pck_crl: &'a [u8],
    /// Its headers.
    pub pck_crl_headers: &'a str,
    /// The root CA's CRL (DER).
    pub root_ca_crl: &'a [u8],
}

/// Most bytes of one answer (TCB info for a platform with many TCB levels is tens of KiB).
pub const MAX_ANSWER_LEN: usize = 1 << 20;

#[derive(serde::Deserialize)]
struct Signed<'a> {
    #[serde(rename = "tcbInfo", alias = "enclaveIdentity", borrow)]
    body: &'a serde_json::value::RawValue,
    signature: String,
}

/// The collateral JSON (`fcc-attest verify-tdx --collateral`) from Intel's saved answers.
pub fn assemble(a: &PcsAnswers) -> Result<String, Error> {
    let bad = |what: &'static str| move |reason: String| Error::Malformed { what, reason };
    for (what, body) in [
        ("TCB info", a.tcb_info),
        ("QE identity", a.qe_identity),
        ("PCK CRL", a.pck_crl),
        ("root CA CRL", a.root_ca_crl),
    ] {
        if body.len() > MAX_ANSWER_LEN {
            return Err(Error::Length { what, len: body.len(), expected: "at most 1 MiB" });
        }
    }
    let signed = |what: &'static str, body: &[u8]| -> Result<(String, Vec<u8>), Error> {
        let s: Signed = serde_json::from_slice(body).map_err(|e| bad(what)(e.to_string()))?;
        let signature = hex::decode(&s.signature).map_err(|e| bad(what)(format!("signature: {e}")))?;
        // The signed document is the value as Intel wrote it, not a re-serialisation.
        Ok((s.body.get().to_owned(), signature))
    };
    let (tcb_info, tcb_info_signature) = signed("TCB info", a.tcb_info)?;
    let (qe_identity, qe_identity_signature) = signed("QE identity", a.qe_identity)?;
    let collateral = QuoteCollateralV3 {
        pck_crl_issuer_chain: header(a.pck_crl_headers, &["SGX-PCK-CRL-Issuer-Chain"], "PCK CRL")?,
        root_ca_crl: a.root_ca_crl.to_vec(),
        pck_crl: a.pck_crl.to_vec(),
        tcb_info_issuer_chain: header(
            a.tcb_info_headers,
            &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"],
            "TCB info",
        )?,
        tcb_info,
        tcb_info_signature,
        qe_identity_issuer_chain: header(a.qe_identity_headers, &["SGX-Enclave-Identity-Issuer-Chain"], "QE identity")?,
        qe_identity,
        qe_identity_signature,
        pck_certificate_chain: None,
    };
    serde_json::to_string_pretty(&collateral).map_err(|e| bad("TDX collateral")(e.to_string()))
}

/// The value of the first header named one of `names` (any case) in `headers` (`curl -D`),
/// percent-decoded (Intel URL-encodes the PEM chains).
fn header(headers: &str, names: &[&str], what: &'static str) -> Result<String, Error> {
    let value = headers
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| names.iter().any(|n| name.trim().eq_ignore_ascii_case(n)))
        .map(|(_, v)| v.trim())
        .ok_or_else(|| Error::Malformed { what, reason: format!("no {} header in its saved headers", names[0]) })?;
    let decoded = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map_err(|e| Error::Malformed { what, reason: format!("{}: {e}", names[0]) })?;
    if !decoded.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::Malformed { what, reason: format!("{} holds no PEM certificate", names[0]) });
    }
    Ok(decoded.into_owned())
}
