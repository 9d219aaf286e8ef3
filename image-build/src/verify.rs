//! `fcc-image verify`: does a claimed measurement come from this source? Given a manifest, a
//! bare 48-byte measurement, a raw SEV-SNP attestation report or a TDX quote, recompute the
//! measurements of the ROM built from this source and say match or mismatch, naming the field
//! that differs.
//!
//! This checks *what* was launched, not *whether the report is genuine*: the report's signature,
//! its certificate chain and the TCB are the attestation verifier's job (the host attestation
//! library). Policy bits that make a measurement meaningless (SNP debug, TDX debug) are checked
//! here too, because a debuggable guest with the right measurement is still not this code's
//! protection.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use fcc_cvm_abi::eventlog::uefi_boot;
use fcc_cvm_abi::snp::report::{self, Report};
use fcc_cvm_abi::tdx::quote::{self, Quote, QuoteError};

use crate::measure::{self, Request};
use crate::ovmf::{self, Tables};
use crate::snp::{self, CPU_TYPES, DEFAULT_GUEST_FEATURES, ZeroPages};
use crate::tdx::{self, Order};

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where, e.g. `snp.launch_digests[EPYC-Genoa x 4].digest` or `report.MEASUREMENT`.
    pub field: String,
    /// What the evidence says.
    pub claimed: String,
    /// What this source gives.
    pub expected: String,
}

/// The verdict.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// What matched (human-readable).
    pub matched: Vec<String>,
    /// What differed; empty means match.
    pub mismatches: Vec<Mismatch>,
    /// Facts worth showing that are not checked here.
    pub notes: Vec<String>,
}

impl Verdict {
    /// True when nothing differed and something matched.
    pub fn is_match(&self) -> bool {
        self.mismatches.is_empty() && !self.matched.is_empty()
    }

    /// The report a person reads.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for m in &self.matched {
            let _ = writeln!(out, "match     {m}");
        }
        for m in &self.mismatches {
            let _ = writeln!(
                out,
                "MISMATCH  {}\n          claimed  {}\n          source   {}",
                m.field, m.claimed, m.expected
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note      {n}");
        }
        let _ = writeln!(out, "{}", if self.is_match() { "MATCH" } else { "MISMATCH" });
        out
    }
}

/// Compares a manifest with the one this ROM (and, when given, this UEFI application) gives for
/// the same parameters, field by field. A manifest's `uefi` section without an application to
/// compare it with is a mismatch, never skipped.
pub fn manifest(image: &[u8], application: Option<&[u8]>, claimed: &Value) -> Result<Verdict> {
    let req = Request::of_manifest(claimed)?;
    let mut ours = measure::manifest(image, &req)?;
    if let Some(application) = application {
        measure::add_uefi(&mut ours, application)?;
    }
    let mut v = Verdict::default();
    diff("", claimed, &ours, &mut v);
    if v.mismatches.is_empty() {
        let n = ours["snp"]["launch_digests"].as_array().map_or(0, Vec::len);
        let uefi = if application.is_some() { ", the UEFI edition's Authenticode, GPT event and RTMR1" } else { "" };
        v.matched.push(format!("rom.sha384, {n} SNP launch digests and both TDX MRTDs{uefi}"));
    }
    Ok(v)
}

/// A readable label for an array element: the SNP entries by type and vCPU count.
fn element_label(item: &Value, index: usize) -> String {
    match (item.get("vcpu_type").and_then(Value::as_str), item.get("vcpus").and_then(Value::as_u64)) {
        (Some(t), Some(n)) => format!("{t} x {n}"),
        _ => index.to_string(),
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn diff(path: &str, claimed: &Value, ours: &Value, v: &mut Verdict) {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (claimed, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, bv) in b {
                match a.get(key) {
                    Some(av) => diff(&join(key), av, bv, v),
                    None => v.mismatches.push(Mismatch {
                        field: join(key),
                        claimed: "(absent)".into(),
                        expected: short(bv),
                    }),
                }
            }
            for (key, av) in a {
                if !b.contains_key(key) {
                    v.mismatches.push(Mismatch { field: join(key), claimed: short(av), expected: "(absent)".into() });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                v.mismatches.push(Mismatch {
                    field: format!("{path}.length"),
                    claimed: a.len().to_string(),
                    expected: b.len().to_string(),
                });
            }
            // Elements are matched by their label (the SNP entries by CPU type and vCPU count), so
            // a manifest listing them in another order still compares entry by entry.
            for (i, bv) in b.iter().enumerate() {
                let label = element_label(bv, i);
                let av = a.iter().enumerate().find(|(j, av)| element_label(av, *j) == label).map(|(_, av)| av);
                match av {
                    Some(av) => diff(&format!("{path}[{label}]"), av, bv, v),
                    None => v.mismatches.push(Mismatch {
                        field: format!("{path}[{label}]"),
                        claimed: "(absent)".into(),
                        expected: short(bv),
                    }),
                }
            }
        }
        (a, b) if a == b => {}
        // Hex strings compare case-insensitively.
        (Value::String(a), Value::String(b)) if a.eq_ignore_ascii_case(b) => {}
        (a, b) => v.mismatches.push(Mismatch { field: path.to_string(), claimed: short(a), expected: short(b) }),
    }
}

/// Where to look for a bare measurement.
#[derive(Debug, Clone)]
pub struct Search {
    /// vCPU counts 1..=this.
    pub max_vcpus: u32,
    /// CPU signatures to try, with their labels.
    pub cpus: Vec<(String, u32)>,
    /// SEV features.
    pub guest_features: u64,
}

impl Default for Search {
    fn default() -> Self {
        let mut cpus: Vec<(String, u32)> = Vec::new();
        for t in CPU_TYPES {
            let sig = snp::cpu_signature(t.fms.0, t.fms.1, t.fms.2);
            if !cpus.iter().any(|(_, s)| *s == sig) {
                cpus.push((t.name.to_string(), sig));
            }
        }
        Self { max_vcpus: measure::PUBLISHED_MAX_VCPUS, cpus, guest_features: DEFAULT_GUEST_FEATURES }
    }
}

/// Which launch of this ROM gives `measurement`, if any.
pub fn find(image: &[u8], tables: &Tables, measurement: &[u8; 48], search: &Search) -> Result<Option<String>> {
    for order in Order::ALL {
        if tdx::mrtd(image, tables, order)? == *measurement {
            return Ok(Some(format!("TDX MRTD ({})", order.label())));
        }
    }
    for (name, sig) in &search.cpus {
        let all = snp::launch_digests(image, tables, search.max_vcpus, *sig, search.guest_features, ZeroPages::Zero)?;
        if let Some(i) = all.iter().position(|d| d == measurement) {
            return Ok(Some(format!(
                "SEV-SNP launch digest, {name} (signature {sig:#x}), {} vCPUs, guest features {:#x}",
                i + 1,
                search.guest_features
            )));
        }
    }
    Ok(None)
}

fn searched(search: &Search) -> String {
    let names: Vec<_> = search.cpus.iter().map(|(n, _)| n.as_str()).collect();
    format!(
        "none of the SNP launch digests for 1..={} vCPUs of {} (guest features {:#x}) nor the TDX MRTDs",
        search.max_vcpus,
        names.join(", "),
        search.guest_features
    )
}

/// A bare measurement (the 48 bytes of an SNP MEASUREMENT or a TDX MRTD).
pub fn measurement(image: &[u8], m: &[u8; 48], search: &Search) -> Result<Verdict> {
    let tables = ovmf::parse(image)?;
    let mut v = Verdict::default();
    match find(image, &tables, m, search)? {
        Some(what) => v.matched.push(format!("measurement {} = {what}", hex::encode(m))),
        None => v.mismatches.push(Mismatch {
            field: "measurement".into(),
            claimed: hex::encode(m),
            expected: searched(search),
        }),
    }
    Ok(v)
}

/// The size of an SEV-SNP ATTESTATION_REPORT (`fcc_cvm_abi::snp::report`).
pub const SNP_REPORT_LEN: usize = report::REPORT_LEN;

/// A raw SEV-SNP attestation report: MEASUREMENT against this ROM's launch digests (with the
/// report's own CPU signature tried besides QEMU's models), and the policy's debug bit.
pub fn snp_report(image: &[u8], raw: &[u8], search: &Search) -> Result<Verdict> {
    let report = Report::new_checked(raw).map_err(|report::WrongLength(n)| {
        anyhow::anyhow!("an SEV-SNP attestation report is {SNP_REPORT_LEN} bytes, this is {n}")
    })?;
    let version = report.version();
    ensure!((2..=5).contains(&version), "unknown SEV-SNP report version {version}");
    let mut search = search.clone();
    // Version 3 and later record the CPU's family, model and stepping.
    if let Some((fam, model, step)) = report.cpuid() {
        let sig = snp::cpu_signature(fam.into(), model.into(), step.into());
        if !search.cpus.iter().any(|(_, s)| *s == sig) {
            search.cpus.push((format!("the report's CPU (family {fam:#x} model {model:#x} stepping {step})"), sig));
        }
    }
    let tables = ovmf::parse(image)?;
    let mut v = Verdict::default();
    let m = *report.measurement();
    match find(image, &tables, &m, &search)? {
        Some(what) if what.starts_with("SEV-SNP") => v.matched.push(format!("report.MEASUREMENT = {what}")),
        _ => v.mismatches.push(Mismatch {
            field: "report.MEASUREMENT".into(),
            claimed: hex::encode(m),
            expected: searched(&search),
        }),
    }
    let policy = report.policy();
    if report.debug_allowed() {
        v.mismatches.push(Mismatch {
            field: "report.POLICY.DEBUG".into(),
            claimed: format!("1 (policy {policy:#x}): the host may read and change guest memory"),
            expected: "0".into(),
        });
    }
    v.notes.push(format!("report version {version}, policy {policy:#x}"));
    v.notes.push(format!("REPORT_DATA {}", hex::encode(report.report_data())));
    v.notes.push("the report's signature, VCEK chain and TCB are not checked by this tool".into());
    Ok(v)
}

/// A raw TDX quote (v4 or v5, `fcc_cvm_abi::tdx::quote`): MRTD against both page orders, and
/// the TD's debug attribute.
pub fn tdx_quote(image: &[u8], raw: &[u8]) -> Result<Verdict> {
    let q = Quote::new_checked(raw).map_err(|e| match e {
        QuoteError::Truncated(n) => anyhow::anyhow!("the TDX quote is truncated ({n} bytes)"),
        QuoteError::NotTdx(t) => anyhow::anyhow!("TEE type {t:#x} is not TDX ({:#x})", quote::TEE_TYPE_TDX),
        QuoteError::Version(v) => anyhow::anyhow!("unknown TDX quote version {v}"),
        QuoteError::BodyType(t) => anyhow::anyhow!("TDX quote v5 body type {t} is not a TD report (2 or 3)"),
    })?;
    let tables = ovmf::parse(image)?;
    let mut v = Verdict::default();
    let mrtd = *q.mrtd();
    let mut found = None;
    for order in Order::ALL {
        if tdx::mrtd(image, &tables, order)? == mrtd {
            found = Some(order);
        }
    }
    match found {
        Some(order) => v.matched.push(format!("quote.MRTD = TDX MRTD ({})", order.label())),
        None => {
            let expected: Vec<String> = Order::ALL
                .iter()
                .map(|&o| Ok(format!("{} {}", o.label(), hex::encode(tdx::mrtd(image, &tables, o)?))))
                .collect::<Result<_>>()?;
            v.mismatches.push(Mismatch {
                field: "quote.MRTD".into(),
                claimed: hex::encode(mrtd),
                expected: expected.join(" or "),
            });
        }
    }
    let attributes = q.td_attributes();
    if q.debug() {
        v.mismatches.push(Mismatch {
            field: "quote.TD_ATTRIBUTES.DEBUG".into(),
            claimed: format!("1 (attributes {attributes:#x}): the host may read and change TD memory"),
            expected: "0".into(),
        });
    }
    v.notes.push(format!("quote version {}, TD attributes {attributes:#x}", q.version()));
    v.notes.push(format!("REPORTDATA {}", hex::encode(q.report_data())));
    v.notes.push("the quote's signature, PCK chain and TCB are not checked by this tool".into());
    Ok(v)
}

/// A raw TDX quote from the UEFI edition on cloud firmware: MRTD must be one of the firmware
/// references given (the cloud's firmware, not ours), RTMR1 the prediction for this application
/// on its disk image (`efi::measure`), RTMR2 the runtime configuration record of `settings`
/// (what the edition extends, as the ROM does: `tdx::settings_rtmr2`), RTMR3 zero, and the TD not
/// debuggable. With the boot's CC event log, an RTMR1 mismatch is explained event by event (the
/// first event where the boot went another way).
pub fn tdx_quote_uefi(
    application: &[u8],
    firmware_mrtds: &[[u8; 48]],
    raw: &[u8],
    event_log: Option<&[u8]>,
    settings: &fcc_guest_platform::config::Settings,
) -> Result<Verdict> {
    ensure!(!firmware_mrtds.is_empty(), "no firmware MRTD to accept: the UEFI edition runs on the cloud's firmware");
    let q = Quote::new_checked(raw).map_err(|e| anyhow::anyhow!("not a TDX quote this tool reads: {e:?}"))?;
    let disk = crate::efi::disk_image(application)?;
    let m = crate::efi::measure(application, &disk)?;
    let mut v = Verdict::default();
    if firmware_mrtds.contains(q.mrtd()) {
        v.matched.push("quote.MRTD is a firmware reference given".into());
    } else {
        let expected: Vec<String> = firmware_mrtds.iter().map(hex::encode).collect();
        v.mismatches.push(Mismatch {
            field: "quote.MRTD".into(),
            claimed: hex::encode(q.mrtd()),
            expected: format!("one of {}", expected.join(", ")),
        });
    }
    if *q.rtmr(1) == m.rtmr1 {
        v.matched.push("quote.RTMR1 = this application booted from its disk image".into());
    } else {
        let why = match event_log {
            Some(log) => {
                let replay = fcc_cvm_abi::eventlog::replay_rtmrs(log).map_err(|e| anyhow::anyhow!("{e}"))?;
                ensure!(
                    replay[1] == *q.rtmr(1),
                    "the event log given is not this quote's boot: it replays to RTMR1 {}, the quote holds {} \
                     (a log read before ExitBootServices lacks the firmware's last events: give the whole log, \
                     e.g. `fcc-image evidence` from the console's EVENTLOG and FINALEVENTS blocks)",
                    hex::encode(replay[1]),
                    hex::encode(q.rtmr(1))
                );
                let applications = [m.authenticode_sha384];
                let predicted = uefi_boot::events(&m.gpt_event_sha384, &applications);
                match uefi_boot::divergence(log, predicted).map_err(|e| anyhow::anyhow!("{e}"))? {
                    Some(d) => d.to_string(),
                    None => unreachable!("the same events give the same RTMR1"),
                }
            }
            None => "give the boot's CC event log to see which event differs".into(),
        };
        v.mismatches.push(Mismatch {
            field: "quote.RTMR1".into(),
            claimed: hex::encode(q.rtmr(1)),
            expected: format!("{} ({why})", hex::encode(m.rtmr1)),
        });
    }
    let rtmr2 = crate::tdx::settings_rtmr2(settings);
    let policy = match settings.policy_hash {
        fcc_core::policy::PolicyHashScheme::ChainBound { .. } => "chain-bound",
        _ => "legacy",
    };
    let configuration = format!("chain {}, proxy {}, policy hash {policy}", settings.chain_id, settings.proxy);
    if *q.rtmr(2) == rtmr2 {
        v.matched.push(format!("quote.RTMR2 = the runtime configuration ({configuration})"));
    } else {
        v.mismatches.push(Mismatch {
            field: "quote.RTMR2".into(),
            claimed: hex::encode(q.rtmr(2)),
            expected: format!("{} (the runtime configuration: {configuration})", hex::encode(rtmr2)),
        });
    }
    if q.rtmr(3) != &[0u8; 48] {
        v.mismatches.push(Mismatch {
            field: "quote.RTMR3".into(),
            claimed: hex::encode(q.rtmr(3)),
            expected: "zero (nothing extends it)".into(),
        });
    }
    if q.debug() {
        v.mismatches.push(Mismatch {
            field: "quote.TD_ATTRIBUTES.DEBUG".into(),
            claimed: "1: the host may read and change TD memory".into(),
            expected: "0".into(),
        });
    }
    v.notes.push(format!(
        "quote version {}, RTMR0 {} (the firmware's configuration)",
        q.version(),
        hex::encode(q.rtmr(0))
    ));
    v.notes.push(format!("REPORTDATA {}", hex::encode(q.report_data())));
    v.notes.push("the quote's signature, PCK chain and TCB are not checked by this tool".into());
    Ok(v)
}

/// Parses a 48-byte measurement from hex (with or without `0x`).
pub fn parse_measurement(hex_str: &str) -> Result<[u8; 48]> {
    let bytes = hex::decode(hex_str.trim().trim_start_matches("0x")).context("the measurement is not hex")?;
    <[u8; 48]>::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("a measurement is 48 bytes (96 hex digits), this is {}", bytes.len()))
}

/// Reads `--expect`-style evidence from a file: a JSON manifest, a report or a quote by size and
/// magic.
pub fn file(image: &[u8], application: Option<&[u8]>, bytes: &[u8], search: &Search) -> Result<Verdict> {
    if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
        return manifest(image, application, &json);
    }
    // A quote names its TEE type in its header; a report is exactly its size.
    let tee_type = bytes.get(4..8).map(|t| u32::from_le_bytes(t.try_into().expect("4 bytes")));
    if tee_type == Some(quote::TEE_TYPE_TDX) {
        return tdx_quote(image, bytes);
    }
    if bytes.len() == SNP_REPORT_LEN {
        return snp_report(image, bytes, search);
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(m) = parse_measurement(text)
    {
        return measurement(image, &m, search);
    }
    bail!(
        "not a manifest (JSON), an SEV-SNP report ({SNP_REPORT_LEN} bytes), a TDX quote (TEE type 0x81) or a hex measurement"
    )
}
