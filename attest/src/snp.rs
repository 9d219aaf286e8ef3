//! AMD SEV-SNP: is this report genuine, from an acceptable platform and guest policy?
//!
//! Order of the checks (the first failure is returned):
//! 1. the report is 1184 bytes, a known version (2–5, the `sev` crate's parser), ECDSA P-384;
//! 2. the chain (ASK or ASVK, then ARK, PEM) and the VEK (VCEK or VLEK, DER or PEM) parse;
//! 3. the ARK's key is one of AMD's roots pinned in the `sev` crate (Milan, Genoa, Turin) — which
//!    also names the product; a self-signed look-alike is refused;
//! 4. ARK self-signed, ARK → ASK, ASK → VEK (RSASSA-PSS, the `sev` crate);
//! 5. each certificate is valid at `now` (the caller's clock: we run offline);
//! 6. the report's signer kind (KEY_INFO) is the certificate's (VCEK or VLEK);
//! 7. the report's CPU (CPUID, reports v3+) belongs to the chain's product;
//! 8. the VEK's TCB extensions equal REPORTED_TCB, and a VCEK's hwID equals CHIP_ID;
//! 9. the VEK's P-384 key signs report bytes `[0, 0x2A0)` (the raw bytes, not a re-encoding),
//!    and the signature's padding is zero;
//! 10. guest policy: DEBUG refused (unless the policy allows it), VMPL at most the policy's,
//!     REPORTED_TCB at least the policy's minimum where one is set.

use p384::ecdsa::signature::Verifier as _;
use sev::certs::snp::{Certificate, Verifiable, builtin};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;
use x509_cert::der::{Decode, Encode};

use crate::error::{Error, SnpCert};

// The report's layout is fcc-cvm-abi's (`snp::report`), the one the guest and fcc-image use.
pub use fcc_cvm_abi::snp::report::{POLICY_DEBUG, REPORT_LEN, SIGNED_LEN};
use fcc_cvm_abi::snp::report::{Report, WrongLength};
/// Bound on a PEM chain (two certificates are about 4.6 KiB).
pub const MAX_CHAIN_LEN: usize = 64 << 10;
/// Bound on a VEK certificate (about 1.4 KiB).
pub const MAX_VEK_LEN: usize = 16 << 10;

const OID_SPL_BOOTLOADER: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_SPL_TEE: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SPL_SNP: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_SPL_MICROCODE: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_SPL_FMC: &str = "1.3.6.1.4.1.3704.1.3.9";
const OID_HWID: &str = "1.3.6.1.4.1.3704.1.4";
const OID_CSP_ID: &str = "1.3.6.1.4.1.3704.1.5";

/// AMD EPYC product, named by the pinned ARK that roots the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Product {
    /// EPYC 7003.
    Milan,
    /// EPYC 9004.
    Genoa,
    /// EPYC 9005.
    Turin,
}

impl Product {
    /// The name AMD's KDS uses.
    pub fn name(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }
}

/// Who signed the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Signer {
    /// The chip's own key; `chip_id` is the hwID.
    Vcek {
        /// The hwID (64 bytes; 8 on Turin), hex.
        chip_id: String,
    },
    /// A cloud provider's key, loaded into the chip.
    Vlek {
        /// The CSP named in the certificate.
        csp: String,
    },
}

/// The SEV-SNP TCB: security version numbers of the platform's firmware components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tcb {
    /// PSP bootloader SVN.
    pub bootloader: u8,
    /// PSP OS SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
    /// FMC SVN (Turin and later).
    pub fmc: Option<u8>,
}

impl Tcb {
    /// Decodes the 8 TCB bytes; the layout depends on the product.
    pub fn decode(b: &[u8; 8], product: Product) -> Self {
        match product {
            Product::Milan | Product::Genoa => {
                Tcb { bootloader: b[0], tee: b[1], snp: b[6], microcode: b[7], fmc: None }
            }
            Product::Turin => Tcb { fmc: Some(b[0]), bootloader: b[1], tee: b[2], snp: b[3], microcode: b[7] },
        }
    }
}

impl core::fmt::Display for Tcb {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc {fmc}, ")?;
        }
        write!(f, "bootloader {}, tee {}, snp {}, microcode {}", self.bootloader, self.tee, self.snp, self.microcode)
    }
}

/// What a verifier accepts beyond genuineness.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Accept a guest policy with DEBUG set. Never in production: the host can read the key.
    pub allow_debug: bool,
    /// Highest VMPL the report may come from (our guest runs at VMPL 0, with no SVSM).
    pub max_vmpl: u32,
    /// Accept VLEK-signed reports (cloud providers' keys).
    pub allow_vlek: bool,
    /// Lowest REPORTED_TCB accepted, component by component (`fmc` compared when both have it).
    /// None: any TCB the VEK certifies (the verdict still reports it).
    pub min_tcb: Option<Tcb>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { allow_debug: false, max_vmpl: 0, allow_vlek: true, min_tcb: None }
    }
}

/// A report that passed every check, with the fields a verdict shows.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The product of the chain.
    pub product: Product,
    /// VCEK (with chip id) or VLEK (with CSP).
    pub signer: Signer,
    /// Report version.
    pub version: u32,
    /// Guest POLICY.
    pub policy: u64,
    /// VMPL.
    pub vmpl: u32,
    /// REPORTED_TCB.
    pub reported_tcb: Tcb,
    /// MEASUREMENT.
    pub measurement: [u8; 48],
    /// REPORT_DATA.
    pub report_data: [u8; 64],
}

fn malformed(what: &'static str) -> impl Fn(String) -> Error {
    move |reason| Error::Malformed { what, reason }
}

fn parse_cert(bytes: &[u8], what: &'static str) -> Result<x509_cert::Certificate, Error> {
    if bytes.starts_with(b"-----BEGIN") {
        use x509_cert::der::DecodePem;
        x509_cert::Certificate::from_pem(bytes).map_err(|e| malformed(what)(e.to_string()))
    } else {
        x509_cert::Certificate::from_der(bytes).map_err(|e| malformed(what)(e.to_string()))
    }
}

fn spki_der(c: &x509_cert::Certificate) -> Result<Vec<u8>, Error> {
    c.tbs_certificate.subject_public_key_info.to_der().map_err(|e| malformed("certificate key")(e.to_string()))
}

/// The product whose pinned ARK has this certificate's key.
fn pinned_product(ark: &x509_cert::Certificate) -> Result<Product, Error> {
    let key = spki_der(ark)?;
    for (product, pem) in [
        (Product::Milan, builtin::milan::ARK),
        (Product::Genoa, builtin::genoa::ARK),
        (Product::Turin, builtin::turin::ARK),
    ] {
        use x509_cert::der::DecodePem;
        let pinned = x509_cert::Certificate::from_pem(pem).map_err(|e| malformed("pinned ARK")(e.to_string()))?;
        if spki_der(&pinned)? == key {
            return Ok(product);
        }
    }
    Err(Error::UnknownArk { subject: ark.tbs_certificate.subject.to_string() })
}

fn check_validity(c: &x509_cert::Certificate, cert: SnpCert, now: u64) -> Result<(), Error> {
    let v = &c.tbs_certificate.validity;
    let not_before = v.not_before.to_unix_duration().as_secs();
    let not_after = v.not_after.to_unix_duration().as_secs();
    if now < not_before || now > not_after {
        return Err(Error::CertValidity { cert, not_before, not_after, now });
    }
    Ok(())
}

fn extension<'a>(c: &'a x509_cert::Certificate, oid: &str) -> Option<&'a [u8]> {
    c.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| e.extn_value.as_bytes())
}

/// An SPL extension: a DER INTEGER 0..=255.
fn spl(c: &x509_cert::Certificate, oid: &str) -> Result<Option<u8>, Error> {
    extension(c, oid)
        .map(|v| u8::from_der(v).map_err(|e| malformed("VEK TCB extension")(format!("{oid}: {e}"))))
        .transpose()
}

fn check_tcb(vek: &x509_cert::Certificate, tcb: &Tcb) -> Result<(), Error> {
    let mut pairs = vec![
        ("bootloader", OID_SPL_BOOTLOADER, tcb.bootloader),
        ("tee", OID_SPL_TEE, tcb.tee),
        ("snp", OID_SPL_SNP, tcb.snp),
        ("microcode", OID_SPL_MICROCODE, tcb.microcode),
    ];
    if let Some(fmc) = tcb.fmc {
        pairs.push(("fmc", OID_SPL_FMC, fmc));
    }
    for (component, oid, report) in pairs {
        let certificate = spl(vek, oid)?;
        if certificate != Some(report) {
            return Err(Error::TcbMismatch { component, certificate, report });
        }
    }
    Ok(())
}

/// Verifies an SEV-SNP report: see the module docs for the order of the checks.
///
/// `report`: the raw 1184-byte ATTESTATION_REPORT. `vek`: the VCEK or VLEK certificate (DER or
/// PEM). `chain`: AMD's KDS `cert_chain` (PEM, ASK or ASVK first, then ARK). `now`: unix seconds.
pub fn verify(report: &[u8], vek: &[u8], chain: &[u8], now: u64, policy: &Policy) -> Result<Verified, Error> {
    // 1. Shape.
    let raw = Report::new_checked(report).map_err(|WrongLength(len)| Error::Length {
        what: "SEV-SNP report",
        len,
        expected: "1184",
    })?;
    let version = raw.version();
    if !(2..=5).contains(&version) {
        return Err(Error::SnpVersion(version));
    }
    let parsed = AttestationReport::from_bytes(report).map_err(|e| malformed("SEV-SNP report")(e.to_string()))?;
    if parsed.sig_algo != 1 {
        return Err(Error::SnpSignatureAlgorithm(parsed.sig_algo));
    }

    // 2. Certificates.
    if chain.len() > MAX_CHAIN_LEN {
        return Err(Error::Length { what: "AMD certificate chain", len: chain.len(), expected: "at most 64 KiB" });
    }
    if vek.len() > MAX_VEK_LEN {
        return Err(Error::Length { what: "VEK certificate", len: vek.len(), expected: "at most 16 KiB" });
    }
    let certs =
        x509_cert::Certificate::load_pem_chain(chain).map_err(|e| malformed("AMD certificate chain")(e.to_string()))?;
    let [ask_x, ark_x]: [x509_cert::Certificate; 2] = certs.try_into().map_err(|c: Vec<_>| {
        malformed("AMD certificate chain")(format!("{} certificates; expected ASK (or ASVK) then ARK", c.len()))
    })?;
    let vek_x = parse_cert(vek, "VEK certificate")?;

    // 3. Pinned root.
    let product = pinned_product(&ark_x)?;

    // 4. Signatures of the chain.
    let (ark, ask, vek_c) =
        (Certificate::from(ark_x.clone()), Certificate::from(ask_x.clone()), Certificate::from(vek_x.clone()));
    let sig_err = |cert| move |e: std::io::Error| Error::CertSignature { cert, reason: e.to_string() };
    (&ark, &ark).verify().map_err(sig_err(SnpCert::Ark))?;
    (&ark, &ask).verify().map_err(sig_err(SnpCert::Ask))?;
    (&ask, &vek_c).verify().map_err(sig_err(SnpCert::Vek))?;

    // 5. Validity at `now`.
    check_validity(&ark_x, SnpCert::Ark, now)?;
    check_validity(&ask_x, SnpCert::Ask, now)?;
    check_validity(&vek_x, SnpCert::Vek, now)?;

    // 6. Signer kind. KEY_INFO bits 4:2: 0 VCEK, 1 VLEK.
    let signing_key = raw.signing_key();
    let csp = extension(&vek_x, OID_CSP_ID);
    let cert_kind = if csp.is_some() { "VLEK" } else { "VCEK" };
    let report_kind = match signing_key {
        0 => "VCEK",
        1 => "VLEK",
        _ => "no key",
    };
    if report_kind != cert_kind || (cert_kind == "VLEK" && !policy.allow_vlek) {
        return Err(Error::SignerKind { report: report_kind, certificate: cert_kind });
    }

    // 7. The report's CPU is of the chain's product (reports v3+ carry CPUID).
    if let (Some(fam), Some(model)) = (parsed.cpuid_fam_id, parsed.cpuid_mod_id) {
        let generation = sev::Generation::identify_cpu(fam, model).map_err(|e| Error::ProductMismatch {
            report: format!("family {fam:#x} model {model:#x} ({e})"),
            chain: product.name(),
        })?;
        let name = match generation {
            sev::Generation::Milan => "Milan",
            sev::Generation::Genoa => "Genoa",
            sev::Generation::Turin => "Turin",
            sev::Generation::Venice => "Venice",
        };
        if name != product.name() {
            return Err(Error::ProductMismatch { report: name.into(), chain: product.name() });
        }
    }

    // 8. TCB and chip.
    let tcb = Tcb::decode(raw.reported_tcb(), product);
    check_tcb(&vek_x, &tcb)?;
    let signer = match csp {
        Some(v) => {
            // An IA5String; shown, not trusted for anything.
            let csp = x509_cert::der::asn1::Ia5StringRef::from_der(v)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| hex::encode(v));
            Signer::Vlek { csp }
        }
        None => {
            let hwid = extension(&vek_x, OID_HWID).ok_or(Error::ChipIdMismatch {
                certificate: "(no hwID extension)".into(),
                report: hex::encode(parsed.chip_id),
            })?;
            let n = hwid.len();
            if !(n == 64 || (n == 8 && product == Product::Turin)) || hwid != &parsed.chip_id[..n] {
                return Err(Error::ChipIdMismatch {
                    certificate: hex::encode(hwid),
                    report: hex::encode(&parsed.chip_id[..n.min(64)]),
                });
            }
            Signer::Vcek { chip_id: hex::encode(hwid) }
        }
    };

    // 9. The report's signature, over the raw signed bytes. r and s are 72-byte little-endian
    // fields holding 48-byte scalars: the rest must be zero, or one report would have many forms.
    let (r, s) = (parsed.signature.r(), parsed.signature.s());
    if r[48..].iter().chain(&s[48..]).any(|&b| b != 0) {
        return Err(Error::ReportSignature("non-zero bytes above the 48-byte r or s".into()));
    }
    let sig = p384::ecdsa::Signature::try_from(&parsed.signature).map_err(|e| Error::ReportSignature(e.to_string()))?;
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(vek_c.public_key_sec1())
        .map_err(|e| malformed("VEK public key")(e.to_string()))?;
    key.verify(raw.signed_bytes(), &sig).map_err(|e| Error::ReportSignature(e.to_string()))?;

    // 10. Guest policy.
    let policy_bits = raw.policy();
    if policy_bits & POLICY_DEBUG != 0 && !policy.allow_debug {
        return Err(Error::SnpDebugPolicy { policy: policy_bits });
    }
    if parsed.vmpl > policy.max_vmpl {
        return Err(Error::Vmpl { vmpl: parsed.vmpl, max: policy.max_vmpl });
    }

    if let Some(min) = &policy.min_tcb {
        let fmc = match (min.fmc, tcb.fmc) {
            (Some(m), Some(r)) => Some(("fmc", m, r)),
            _ => None,
        };
        let components = [
            ("bootloader", min.bootloader, tcb.bootloader),
            ("tee", min.tee, tcb.tee),
            ("snp", min.snp, tcb.snp),
            ("microcode", min.microcode, tcb.microcode),
        ];
        if let Some((component, minimum, report)) = components.into_iter().chain(fmc).find(|(_, m, r)| r < m) {
            return Err(Error::SnpTcbBelowMinimum { component, minimum, report });
        }
    }

    Ok(Verified {
        product,
        signer,
        version,
        policy: policy_bits,
        vmpl: parsed.vmpl,
        reported_tcb: tcb,
        measurement: parsed.measurement,
        report_data: parsed.report_data,
    })
}
