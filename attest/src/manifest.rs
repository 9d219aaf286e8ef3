//! The measurements a verifier accepts: `fcc-image measure`'s manifest (the published one is
//! `reproducible/MEASUREMENTS.json`) read into typed lists — the ROM's SHA-384, one SEV-SNP launch
//! digest per (CPU type, vCPU count), the TDX MRTD in both page orders and the UEFI edition's
//! Authenticode SHA-384.
//!
//! Only the fields a verifier compares are read; `fcc_image::verify` is the tool that recomputes
//! the whole manifest from the source.

use serde::Deserialize;

use crate::error::Error;

/// The largest manifest accepted (the published one is about 40 KiB).
pub const MAX_MANIFEST_LEN: usize = 4 << 20;

/// One SEV-SNP launch digest and the launch it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpDigest {
    /// The 48-byte launch digest (the report's MEASUREMENT).
    pub digest: [u8; 48],
    /// QEMU CPU model, e.g. `EPYC-Milan`.
    pub vcpu_type: String,
    /// Number of vCPUs.
    pub vcpus: u32,
}

/// One TDX MRTD and the page order that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxMrtd {
    /// The 48-byte MRTD.
    pub mrtd: [u8; 48],
    /// `page_by_page` or `section_by_section`.
    pub order: String,
}

/// The accepted measurements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// SHA-384 of the ROM (what a simulated attestation carries).
    pub rom_sha384: Option<[u8; 48]>,
    /// SEV-SNP launch digests.
    pub snp: Vec<SnpDigest>,
    /// TDX MRTDs.
    pub tdx: Vec<TdxMrtd>,
    /// The UEFI edition's Authenticode SHA-384 (what firmware logs for it, and what its
    /// simulated attestation on plain QEMU carries).
    pub uefi_authenticode: Option<[u8; 48]>,
    /// The RTMR1 an EDK2-based TDX firmware gives for the UEFI edition booted from its disk
    /// image (docs/PLATFORMS.md, "Cloud VMs").
    pub uefi_tdx_rtmr1: Option<[u8; 48]>,
}

#[derive(Deserialize)]
struct Json {
    rom: Option<RomJson>,
    snp: Option<SnpJson>,
    tdx: Option<std::collections::BTreeMap<String, MrtdJson>>,
    uefi: Option<UefiJson>,
}
#[derive(Deserialize)]
struct UefiJson {
    application: UefiApplicationJson,
    tdx_rtmr1: Option<String>,
}
#[derive(Deserialize)]
struct UefiApplicationJson {
    authenticode_sha384: String,
}
#[derive(Deserialize)]
struct RomJson {
    sha384: String,
}
#[derive(Deserialize)]
struct SnpJson {
    launch_digests: Vec<DigestJson>,
}
#[derive(Deserialize)]
struct DigestJson {
    digest: String,
    vcpu_type: String,
    vcpus: u32,
}
#[derive(Deserialize)]
struct MrtdJson {
    mrtd: String,
}

fn hex48(s: &str, field: &str) -> Result<[u8; 48], Error> {
    let bytes = hex::decode(s.trim_start_matches("0x")).map_err(|e| Error::Manifest(format!("{field}: {e}")))?;
    <[u8; 48]>::try_from(bytes.as_slice())
        .map_err(|_| Error::Manifest(format!("{field}: {} bytes, a measurement is 48", bytes.len())))
}

/// A 48-byte measurement (an MRTD, an RTMR, a launch digest) from hex, `0x` allowed: what the
/// command lines and configuration files that name one take.
pub fn measurement_from_hex(text: &str) -> Result<[u8; 48], Error> {
    hex48(text.trim(), "a measurement")
}

impl Manifest {
    /// Reads `fcc-image measure`'s JSON manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(Error::Length { what: "manifest", len: bytes.len(), expected: "at most 4 MiB" });
        }
        let j: Json = serde_json::from_slice(bytes).map_err(|e| Error::Manifest(e.to_string()))?;
        let mut m = Manifest::default();
        if let Some(rom) = j.rom {
            m.rom_sha384 = Some(hex48(&rom.sha384, "rom.sha384")?);
        }
        for (i, d) in j.snp.map(|s| s.launch_digests).unwrap_or_default().into_iter().enumerate() {
            let digest = hex48(&d.digest, &format!("snp.launch_digests[{i}].digest"))?;
            m.snp.push(SnpDigest { digest, vcpu_type: d.vcpu_type, vcpus: d.vcpus });
        }
        for (order, t) in j.tdx.unwrap_or_default() {
            let mrtd = hex48(&t.mrtd, &format!("tdx.{order}.mrtd"))?;
            m.tdx.push(TdxMrtd { mrtd, order });
        }
        if let Some(u) = j.uefi {
            m.uefi_authenticode =
                Some(hex48(&u.application.authenticode_sha384, "uefi.application.authenticode_sha384")?);
            m.uefi_tdx_rtmr1 = u.tdx_rtmr1.map(|r| hex48(&r, "uefi.tdx_rtmr1")).transpose()?;
        }
        if m.rom_sha384.is_none() && m.snp.is_empty() && m.tdx.is_empty() && m.uefi_authenticode.is_none() {
            return Err(Error::Manifest("no measurement in it".into()));
        }
        Ok(m)
    }

    /// Which launch an SEV-SNP MEASUREMENT is, e.g. `SEV-SNP launch digest, EPYC-Milan, 4 vCPUs`.
    pub fn match_snp(&self, measurement: &[u8; 48]) -> Result<String, Error> {
        self.snp
            .iter()
            .find(|d| &d.digest == measurement)
            .map(|d| format!("SEV-SNP launch digest, {}, {} vCPUs", d.vcpu_type, d.vcpus))
            .ok_or_else(|| Error::MeasurementMismatch {
                field: "SNP MEASUREMENT",
                found: hex::encode(measurement),
                searched: format!("{} SEV-SNP launch digests", self.snp.len()),
            })
    }

    /// Which page order a TDX MRTD is, e.g. `TDX MRTD, page_by_page`.
    pub fn match_tdx(&self, mrtd: &[u8; 48]) -> Result<String, Error> {
        self.tdx.iter().find(|t| &t.mrtd == mrtd).map(|t| format!("TDX MRTD, {}", t.order)).ok_or_else(|| {
            Error::MeasurementMismatch {
                field: "TDX MRTD",
                found: hex::encode(mrtd),
                searched: format!("{} TDX MRTDs", self.tdx.len()),
            }
        })
    }

    /// A quote's RTMR1 against the UEFI edition's (the quote's MRTD is the cloud's firmware,
    /// one the verifier was told to accept).
    pub fn match_uefi_tdx(&self, rtmr1: &[u8; 48]) -> Result<String, Error> {
        match &self.uefi_tdx_rtmr1 {
            Some(ours) if ours == rtmr1 => Ok("UEFI edition: TDX RTMR1 (this application from its disk image)".into()),
            ours => Err(Error::MeasurementMismatch {
                field: "TDX RTMR1",
                found: hex::encode(rtmr1),
                searched: match ours {
                    Some(r) => format!("the UEFI edition's {}", hex::encode(r)),
                    None => "no UEFI edition RTMR1 (uefi.tdx_rtmr1)".into(),
                },
            }),
        }
    }

    /// Which of this manifest's images a simulated attestation's hash names: the ROM's SHA-384
    /// (the ROM reads its own ROM) or the UEFI edition's Authenticode SHA-384 (the digest the
    /// firmware logged for it).
    pub fn match_simulated(&self, sha384: &[u8; 48]) -> Result<String, Error> {
        if self.rom_sha384.as_ref() == Some(sha384) {
            return Ok("ROM SHA-384 (simulated launch, not a TEE measurement)".into());
        }
        if self.uefi_authenticode.as_ref() == Some(sha384) {
            return Ok("UEFI edition Authenticode SHA-384 (simulated launch, not a TEE measurement)".into());
        }
        Err(Error::MeasurementMismatch {
            field: "simulated image hash",
            found: hex::encode(sha384),
            searched: match (self.rom_sha384, self.uefi_authenticode) {
                (None, None) => "no ROM or UEFI application hash".into(),
                (rom, uefi) => [
                    rom.map(|h| format!("ROM {}", hex::encode(h))),
                    uefi.map(|h| format!("UEFI application {}", hex::encode(h))),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", "),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published() -> Manifest {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../reproducible/MEASUREMENTS.json");
        Manifest::from_json(&std::fs::read(path).expect("the published manifest is in the repository")).unwrap()
    }

    #[test]
    fn reads_the_published_manifest() {
        let m = published();
        assert!(m.rom_sha384.is_some());
        assert_eq!(m.tdx.len(), 2);
        // Three CPU types x 1..=64 vCPUs (fcc_image::measure::PUBLISHED_*).
        assert_eq!(m.snp.len(), 192);
        let d = m.snp.iter().find(|d| d.vcpu_type == "EPYC-Genoa" && d.vcpus == 4).unwrap().clone();
        assert_eq!(m.match_snp(&d.digest).unwrap(), "SEV-SNP launch digest, EPYC-Genoa, 4 vCPUs");
        let t = m.tdx[0].clone();
        assert_eq!(m.match_tdx(&t.mrtd).unwrap(), format!("TDX MRTD, {}", t.order));
        let mut wrong = d.digest;
        wrong[47] ^= 1;
        assert!(matches!(m.match_snp(&wrong), Err(Error::MeasurementMismatch { field: "SNP MEASUREMENT", .. })));
        // An SNP digest is not a TDX MRTD.
        assert!(m.match_tdx(&d.digest).is_err());
        // A simulated attestation names the ROM or the UEFI application, nothing else.
        let (rom, app) = (m.rom_sha384.unwrap(), m.uefi_authenticode.unwrap());
        assert!(m.match_simulated(&rom).unwrap().starts_with("ROM SHA-384"));
        assert!(m.match_simulated(&app).unwrap().starts_with("UEFI edition Authenticode SHA-384"));
        let e = m.match_simulated(&d.digest).unwrap_err();
        assert!(e.to_string().contains(&hex::encode(rom)) && e.to_string().contains(&hex::encode(app)), "{e}");
        let rom_only = Manifest { uefi_authenticode: None, ..m.clone() };
        assert!(rom_only.match_simulated(&app).is_err());
        // The UEFI edition in a TD: its RTMR1, nothing else.
        let rtmr1 = m.uefi_tdx_rtmr1.unwrap();
        assert!(m.match_uefi_tdx(&rtmr1).unwrap().starts_with("UEFI edition: TDX RTMR1"));
        let mut other = rtmr1;
        other[0] ^= 1;
        assert!(matches!(m.match_uefi_tdx(&other), Err(Error::MeasurementMismatch { field: "TDX RTMR1", .. })));
        assert!(m.match_uefi_tdx(&t.mrtd).is_err(), "a ROM MRTD is no RTMR1");
        let without = Manifest { uefi_tdx_rtmr1: None, ..m.clone() };
        assert!(without.match_uefi_tdx(&rtmr1).unwrap_err().to_string().contains("uefi.tdx_rtmr1"));
    }

    #[test]
    fn refuses_bad_manifests() {
        assert!(matches!(Manifest::from_json(b"{}"), Err(Error::Manifest(_))));
        assert!(matches!(Manifest::from_json(b"not json"), Err(Error::Manifest(_))));
        let short = br#"{"rom":{"sha384":"00"}}"#;
        assert!(matches!(Manifest::from_json(short), Err(Error::Manifest(m)) if m.contains("rom.sha384")));
        let big = vec![b' '; MAX_MANIFEST_LEN + 1];
        assert!(matches!(Manifest::from_json(&big), Err(Error::Length { what: "manifest", .. })));
    }
}
