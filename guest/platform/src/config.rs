//! The guest's run-time settings, read from QEMU fw_cfg or a settings file (`opt/fcc/...`, see
//! `fcc_layout::interface`), parsed strictly: a value that does not parse stops the boot with a
//! message instead of silently falling back to a default.

use fcc_core::Registration;
use fcc_core::config::Governance;
use fcc_core::policy::PolicyHashScheme;

/// Why a setting was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// Strips what `-fw_cfg ...,string=` or `file=` may leave around a value: trailing NULs and
/// ASCII whitespace (a newline from `echo`).
fn trimmed(raw: &[u8]) -> Result<&str, Invalid> {
    let end = raw.iter().rposition(|&b| b != 0 && !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let start = raw[..end].iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(end);
    core::str::from_utf8(&raw[start..end]).map_err(|_| Invalid("not UTF-8"))
}

/// The chain id: a decimal number, 1 ..= 2^64 − 1, no sign, no leading zeros.
pub fn parse_chain_id(raw: &[u8]) -> Result<u64, Invalid> {
    let s = trimmed(raw)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(Invalid("the chain id must be a decimal number without leading zeros"));
    }
    match s.parse::<u64>() {
        Ok(0) => Err(Invalid("the chain id must not be 0")),
        Ok(id) => Ok(id),
        Err(_) => Err(Invalid("the chain id does not fit in 64 bits")),
    }
}

/// An extension id: a decimal number, 0 ..= 2^64 − 1, no sign, no leading zeros; as the
/// `uint256` word the registration data carries.
pub fn parse_extension_id(raw: &[u8]) -> Result<[u8; 32], Invalid> {
    let s = trimmed(raw)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(Invalid("the extension id must be a decimal number without leading zeros"));
    }
    let id = s.parse::<u64>().map_err(|_| Invalid("the extension id does not fit in 64 bits"))?;
    let mut word = [0u8; 32];
    word[24..].copy_from_slice(&id.to_be_bytes());
    Ok(word)
}

/// Bytes reserved for `opt/fcc/governance` (a threshold and 16 addresses fit).
pub const GOVERNANCE_MAX: usize = 1024;

/// The governance: `<threshold>:<0x address>[,<0x address>…]` — a decimal threshold (1 ..=
/// signers), then distinct, non-zero addresses (at most 16).
pub fn parse_governance(raw: &[u8]) -> Result<Governance, Invalid> {
    const FORMAT: Invalid = Invalid("the governance must be <threshold>:<0x address>[,<0x address>...]");
    let s = trimmed(raw)?;
    let (threshold, list) = s.split_once(':').ok_or(FORMAT)?;
    if threshold.is_empty() || threshold.len() > 2 || !threshold.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FORMAT);
    }
    let threshold: u8 = threshold.parse().map_err(|_| FORMAT)?;
    let mut signers = [[0u8; 20]; fcc_core::config::MAX_GOVERNANCE_SIGNERS];
    let mut n = 0;
    for a in list.split(',') {
        if n == signers.len() {
            return Err(Invalid("more than 16 governance signers"));
        }
        signers[n] = parse_owner(a.trim().as_bytes()).map_err(|_| FORMAT)?;
        n += 1;
    }
    Governance::new(&signers[..n], threshold)
        .map_err(|_| Invalid("the governance needs a threshold in 1..=signers and distinct, non-zero signers"))
}

/// An owner address: `0x` and 40 hex digits (either case), not zero.
pub fn parse_owner(raw: &[u8]) -> Result<[u8; 20], Invalid> {
    const FORMAT: Invalid = Invalid("the owner must be 0x and 40 hex digits");
    let hex = trimmed(raw)?.strip_prefix("0x").ok_or(FORMAT)?.as_bytes();
    if hex.len() != 40 {
        return Err(FORMAT);
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8).ok_or(FORMAT);
    let mut owner = [0u8; 20];
    for (byte, pair) in owner.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    if owner == [0; 20] {
        return Err(Invalid("the owner must not be the zero address"));
    }
    Ok(owner)
}

/// The policy-hash scheme: `chain-bound` (bound to `chain_id`) or `legacy`.
pub fn parse_policy_hash(raw: &[u8], chain_id: u64) -> Result<PolicyHashScheme, Invalid> {
    match trimmed(raw)? {
        "chain-bound" => Ok(PolicyHashScheme::ChainBound { chain_id }),
        "legacy" => Ok(PolicyHashScheme::Legacy),
        _ => Err(Invalid("the policy-hash scheme must be chain-bound or legacy")),
    }
}

/// The proxy's address: IPv4 and TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyAddr {
    /// IPv4 address, network order.
    pub ip: [u8; 4],
    /// TCP port, 1..=65535.
    pub port: u16,
}

impl core::fmt::Display for ProxyAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d] = self.ip;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// A decimal number without sign or leading zeros, at most `max`.
fn decimal(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse::<u32>().ok().filter(|&v| v <= max)
}

/// The proxy address, `a.b.c.d:port`: four decimal octets, a decimal port 1..=65535, no
/// leading zeros, no names; the unspecified, broadcast and multicast addresses are refused.
pub fn parse_proxy(raw: &[u8]) -> Result<ProxyAddr, Invalid> {
    const FORMAT: Invalid = Invalid("the proxy address must be a.b.c.d:port (IPv4, decimal, port 1-65535)");
    let (ip, port) = trimmed(raw)?.split_once(':').ok_or(FORMAT)?;
    let port = decimal(port, u32::from(u16::MAX)).filter(|&p| p != 0).ok_or(FORMAT)? as u16;
    let mut octets = [0u8; 4];
    let mut parts = ip.split('.');
    for octet in &mut octets {
        *octet = decimal(parts.next().ok_or(FORMAT)?, 255).ok_or(FORMAT)? as u8;
    }
    if parts.next().is_some() {
        return Err(FORMAT);
    }
    if octets == [0; 4] || octets == [255; 4] || (224..=239).contains(&octets[0]) {
        return Err(Invalid("the proxy address must be a unicast IPv4 address"));
    }
    Ok(ProxyAddr { ip: octets, port })
}

/// A fault tests ask for after READY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestFault {
    /// `ud2`: an invalid opcode (#UD, vector 6).
    InvalidOpcode,
    /// `pagefault`: a read of the boot stack's guard page (#PF, vector 14).
    PageFault,
    /// `stack-overflow`: unbounded recursion into the guard page; the #PF cannot be delivered
    /// on the overflowed stack, so it becomes a double fault (vector 8) on its own stack.
    StackOverflow,
    /// `sign-loop`: sign with the identity key for ever, for an exception (an NMI) to interrupt
    /// a signature.
    SignLoop,
}

/// Parses `opt/fcc/test-fault`.
pub fn parse_test_fault(raw: &[u8]) -> Result<TestFault, Invalid> {
    match trimmed(raw)? {
        "ud2" => Ok(TestFault::InvalidOpcode),
        "pagefault" => Ok(TestFault::PageFault),
        "stack-overflow" => Ok(TestFault::StackOverflow),
        "sign-loop" => Ok(TestFault::SignLoop),
        _ => Err(Invalid("the test fault must be ud2, pagefault, stack-overflow or sign-loop")),
    }
}

/// The settings this boot runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `opt/fcc/chain-id` (default [`fcc_layout::interface::DEFAULT_CHAIN_ID`]).
    pub chain_id: u64,
    /// `opt/fcc/policy-hash` (default chain-bound).
    pub policy_hash: PolicyHashScheme,
    /// `opt/fcc/proxy` (default [`fcc_layout::interface::DEFAULT_PROXY`]).
    pub proxy: ProxyAddr,
    /// `opt/fcc/test-fault`, if a test asked for one.
    pub test_fault: Option<TestFault>,
    /// `opt/fcc/test-redact` present: diagnostics as a confidential guest prints them.
    pub test_redact: bool,
    /// `opt/fcc/extension-id` and `opt/fcc/owner`, when both are set.
    pub registration: Option<Registration>,
}

/// A setting that stops the boot: its name (`opt/fcc/...`) and why. The caller says where it came
/// from (fw_cfg, a settings file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingError {
    /// The setting (its fw_cfg name).
    pub name: &'static str,
    /// What is wrong with it.
    pub why: &'static str,
}

impl core::fmt::Display for SettingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.name, self.why)
    }
}

/// Bytes reserved for one `opt/fcc/...` setting.
pub const SETTING_MAX: usize = 64;

impl Settings {
    /// Parses the settings from `read`, which gives a file's bytes (`None` if absent, `Err`
    /// if longer than [`SETTING_MAX`]); absent settings take their defaults.
    pub fn parse(
        mut read: impl FnMut(&'static str, &mut [u8; SETTING_MAX]) -> Option<Result<usize, ()>>,
    ) -> Result<Self, SettingError> {
        use fcc_layout::interface::{
            DEFAULT_CHAIN_ID, DEFAULT_PROXY, FW_CFG_CHAIN_ID, FW_CFG_EXTENSION_ID, FW_CFG_OWNER, FW_CFG_POLICY_HASH,
            FW_CFG_PROXY, FW_CFG_TEST_FAULT, FW_CFG_TEST_REDACT,
        };
        let mut buf = [0u8; SETTING_MAX];
        let mut setting = |name: &'static str, buf: &mut [u8; SETTING_MAX]| -> Result<Option<usize>, SettingError> {
            read(name, buf).transpose().map_err(|()| SettingError { name, why: "longer than 64 bytes" })
        };
        let err = |name| move |Invalid(why)| SettingError { name, why };
        let chain_id = match setting(FW_CFG_CHAIN_ID, &mut buf)? {
            Some(n) => parse_chain_id(&buf[..n]).map_err(err(FW_CFG_CHAIN_ID))?,
            None => DEFAULT_CHAIN_ID,
        };
        let policy_hash = match setting(FW_CFG_POLICY_HASH, &mut buf)? {
            Some(n) => parse_policy_hash(&buf[..n], chain_id).map_err(err(FW_CFG_POLICY_HASH))?,
            None => PolicyHashScheme::ChainBound { chain_id },
        };
        let test_fault = match setting(FW_CFG_TEST_FAULT, &mut buf)? {
            Some(n) => Some(parse_test_fault(&buf[..n]).map_err(err(FW_CFG_TEST_FAULT))?),
            None => None,
        };
        let proxy = match setting(FW_CFG_PROXY, &mut buf)? {
            Some(n) => parse_proxy(&buf[..n]),
            None => parse_proxy(DEFAULT_PROXY.as_bytes()),
        }
        .map_err(err(FW_CFG_PROXY))?;
        let test_redact = setting(FW_CFG_TEST_REDACT, &mut buf)?.is_some();
        let extension_id = match setting(FW_CFG_EXTENSION_ID, &mut buf)? {
            Some(n) => Some(parse_extension_id(&buf[..n]).map_err(err(FW_CFG_EXTENSION_ID))?),
            None => None,
        };
        let owner = match setting(FW_CFG_OWNER, &mut buf)? {
            Some(n) => Some(parse_owner(&buf[..n]).map_err(err(FW_CFG_OWNER))?),
            None => None,
        };
        let registration = match (extension_id, owner) {
            (Some(extension_id), Some(owner)) => {
                Some(Registration { extension_id, owner, governance: Governance::NONE })
            }
            (None, None) => None,
            (None, Some(_)) => {
                return Err(SettingError { name: FW_CFG_EXTENSION_ID, why: "missing: the owner is set without it" });
            }
            (Some(_), None) => {
                return Err(SettingError { name: FW_CFG_OWNER, why: "missing: the extension id is set without it" });
            }
        };
        Ok(Self { chain_id, policy_hash, proxy, test_fault, test_redact, registration })
    }
}

/// Where settings come from: QEMU's fw_cfg (`fw_cfg::FwCfg`) or a settings file
/// ([`SettingsFile`]).
pub trait Source {
    /// The bytes of setting `name` copied into `buf`: `None` if absent, `Err` if longer than
    /// `buf`.
    fn get(&mut self, name: &'static str, buf: &mut [u8]) -> Option<Result<usize, ()>>;
}

/// Reads every `opt/fcc/...` setting from `source`, `opt/fcc/governance` with them (it needs the
/// registration settings).
pub fn read(source: &mut impl Source) -> Result<Settings, SettingError> {
    use fcc_layout::interface::FW_CFG_GOVERNANCE;
    let settings = Settings::parse(|name, buf: &mut [u8; SETTING_MAX]| source.get(name, buf))?;
    let error = |why| SettingError { name: FW_CFG_GOVERNANCE, why };
    let mut buf = [0u8; GOVERNANCE_MAX];
    let Some(len) = source.get(FW_CFG_GOVERNANCE, &mut buf) else { return Ok(settings) };
    let raw = &buf[..len.map_err(|()| error("longer than 1024 bytes"))?];
    let governance = parse_governance(raw).map_err(|Invalid(why)| error(why))?;
    let Some(registration) = settings.registration else {
        return Err(error("needs opt/fcc/extension-id and opt/fcc/owner"));
    };
    Ok(Settings { registration: Some(Registration { governance, ..registration }), ..settings })
}

/// Largest settings file read (`\EFI\fcc\settings` on the UEFI edition's boot disk).
pub const SETTINGS_FILE_MAX: usize = 4096;

/// The names a settings file may set: the `opt/fcc/...` settings and the governance.
pub const FILE_NAMES: [&str; 8] = {
    use fcc_layout::interface::*;
    [
        FW_CFG_CHAIN_ID,
        FW_CFG_POLICY_HASH,
        FW_CFG_PROXY,
        FW_CFG_EXTENSION_ID,
        FW_CFG_OWNER,
        FW_CFG_GOVERNANCE,
        FW_CFG_TEST_FAULT,
        FW_CFG_TEST_REDACT,
    ]
};

/// A settings file that does not read: the line (from 1; 0 for the whole file) and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileError {
    /// The line.
    pub line: usize,
    /// What is wrong with it.
    pub why: &'static str,
}

impl core::fmt::Display for FileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.line {
            0 => write!(f, "settings file: {}", self.why),
            line => write!(f, "settings file line {line}: {}", self.why),
        }
    }
}

/// A settings file: UTF-8 lines `opt/fcc/<name>=<value>`, each name of [`FILE_NAMES`] at most
/// once; empty lines and lines starting with `#` are skipped; `\r\n` ends a line as `\n` does.
/// Read strictly — any other line is an error — so a typo stops the boot instead of leaving a
/// default in place. The values are parsed as fw_cfg's are ([`read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsFile<'a> {
    values: [Option<&'a [u8]>; FILE_NAMES.len()],
}

impl<'a> SettingsFile<'a> {
    /// Reads the file's lines (not yet their values).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FileError> {
        if bytes.len() > SETTINGS_FILE_MAX {
            return Err(FileError { line: 0, why: "longer than 4096 bytes" });
        }
        if core::str::from_utf8(bytes).is_err() {
            return Err(FileError { line: 0, why: "not UTF-8" });
        }
        let mut values = [None; FILE_NAMES.len()];
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let error = |why| FileError { line: i + 1, why };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let at = line.iter().position(|&b| b == b'=').ok_or(error("not name=value"))?;
            let (name, value) = (&line[..at], &line[at + 1..]);
            let index = FILE_NAMES.iter().position(|n| n.as_bytes() == name).ok_or(error("not a setting"))?;
            if values[index].replace(value).is_some() {
                return Err(error("a setting given twice"));
            }
        }
        Ok(Self { values })
    }
}

impl Source for SettingsFile<'_> {
    fn get(&mut self, name: &'static str, buf: &mut [u8]) -> Option<Result<usize, ()>> {
        let value = self.values[FILE_NAMES.iter().position(|n| *n == name)?]?;
        let out = buf.get_mut(..value.len()).ok_or(());
        Some(out.map(|out| {
            out.copy_from_slice(value);
            value.len()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_file_reads_as_fw_cfg_does() {
        let text = b"# a GCP machine\r\nopt/fcc/chain-id=114\r\n\nopt/fcc/proxy=10.128.0.2:7700\n\
            opt/fcc/extension-id=3\nopt/fcc/owner=0x00000000000000000000000000000000000000aa\n\
            opt/fcc/governance=1:0x00000000000000000000000000000000000000bb";
        let settings = read(&mut SettingsFile::parse(text).unwrap()).unwrap();
        assert_eq!(settings.chain_id, 114);
        assert_eq!(std::format!("{}", settings.proxy), "10.128.0.2:7700");
        assert_eq!(settings.policy_hash, PolicyHashScheme::ChainBound { chain_id: 114 });
        let registration = settings.registration.unwrap();
        assert_eq!(registration.owner[19], 0xaa);
        assert_eq!(registration.governance.threshold(), 1);
        // Empty: every default, as fw_cfg without opt/fcc files.
        let none = read(&mut SettingsFile::parse(b"").unwrap()).unwrap();
        assert_eq!(none.chain_id, fcc_layout::interface::DEFAULT_CHAIN_ID);
        assert!(read(&mut SettingsFile::parse(b"opt/fcc/test-redact=").unwrap()).unwrap().test_redact);
    }

    #[test]
    fn a_settings_file_is_read_strictly() {
        let line = |text: &[u8]| SettingsFile::parse(text).map(|_| ()).map_err(|e| (e.line, e.why));
        assert_eq!(line(b"opt/fcc/chain-id=14\nchain-id=14"), Err((2, "not a setting")));
        assert_eq!(line(b"opt/fcc/chain-id 14"), Err((1, "not name=value")));
        assert_eq!(line(b"opt/fcc/chain-id=14\nopt/fcc/chain-id=15"), Err((2, "a setting given twice")));
        assert_eq!(line(b" opt/fcc/chain-id=14"), Err((1, "not a setting")), "no leading blanks");
        assert_eq!(line(b"opt/fcc/sealed-state=x"), Err((1, "not a setting")), "fw_cfg-only names");
        assert_eq!(line(b"opt/fcc/test-exit=1"), Err((1, "not a setting")));
        assert_eq!(line(b"\xff"), Err((0, "not UTF-8")));
        // The size bound at its edge: 4096 bytes read, 4097 refused unread.
        let mut big = std::vec![b'#'; SETTINGS_FILE_MAX];
        assert_eq!(line(&big), Ok(()));
        big.push(b'#');
        assert_eq!(line(&big), Err((0, "longer than 4096 bytes")));
        // Values parse as fw_cfg's: the errors name the setting.
        let value = |text: &[u8]| read(&mut SettingsFile::parse(text).unwrap()).map_err(|e| std::format!("{e}"));
        assert_eq!(value(b"opt/fcc/chain-id=0").unwrap_err(), "opt/fcc/chain-id: the chain id must not be 0");
        let long = [&b"opt/fcc/proxy="[..], &[b'1'; 65]].concat();
        assert_eq!(value(&long).unwrap_err(), "opt/fcc/proxy: longer than 64 bytes");
        let edge = [&b"opt/fcc/proxy="[..], &[b'1'; 64]].concat();
        assert!(value(&edge).unwrap_err().starts_with("opt/fcc/proxy: the proxy address must be"));
        assert!(
            value(b"opt/fcc/governance=1:0x00000000000000000000000000000000000000bb").unwrap_err().contains("needs")
        );
        assert_eq!(std::format!("{}", FileError { line: 3, why: "x" }), "settings file line 3: x");
    }

    #[test]
    fn chain_ids() {
        assert_eq!(parse_chain_id(b"14"), Ok(14));
        assert_eq!(parse_chain_id(b"114\n"), Ok(114));
        assert_eq!(parse_chain_id(b" 16\0\0"), Ok(16));
        assert_eq!(parse_chain_id(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [&b""[..], b"0", b"014", b"-1", b"+1", b"0x0e", b"1 4", b"18446744073709551616", b"\xff"] {
            assert!(parse_chain_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn policy_hash_schemes() {
        assert_eq!(parse_policy_hash(b"chain-bound", 14), Ok(PolicyHashScheme::ChainBound { chain_id: 14 }));
        assert_eq!(parse_policy_hash(b"legacy\n", 14), Ok(PolicyHashScheme::Legacy));
        assert!(parse_policy_hash(b"Legacy", 14).is_err());
    }

    #[test]
    fn extension_ids() {
        let word = |id: u64| {
            let mut w = [0u8; 32];
            w[24..].copy_from_slice(&id.to_be_bytes());
            w
        };
        assert_eq!(parse_extension_id(b"0"), Ok(word(0)));
        assert_eq!(parse_extension_id(b"1\n"), Ok(word(1)));
        assert_eq!(parse_extension_id(b"18446744073709551615"), Ok(word(u64::MAX)));
        for bad in [&b""[..], b"01", b"-1", b"0x1", b"18446744073709551616", b"1 2"] {
            assert!(parse_extension_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn governance() {
        let a = "0x000000000000000000000000000000000000000a";
        let b = "0x000000000000000000000000000000000000000B";
        let g = parse_governance(format!("2:{a},{b}\n").as_bytes()).unwrap();
        assert_eq!((g.threshold(), g.signers().len()), (2, 2));
        assert_eq!(g.signers()[1][19], 0x0b);
        assert!(parse_governance(format!("1: {a} , {b}").as_bytes()).is_ok(), "spaces around addresses");
        for bad in [
            format!("3:{a},{b}"),
            format!("0:{a}"),
            format!("1:{a},{a}"),
            a.to_string(),
            format!("1:{a},"),
            "1:0x0000000000000000000000000000000000000000".to_string(),
            format!("x:{a}"),
            format!("100:{a}"),
        ] {
            assert!(parse_governance(bad.as_bytes()).is_err(), "{bad}");
        }
        let seventeen: Vec<String> = (1..=17).map(|i| format!("0x{i:040x}")).collect();
        assert!(parse_governance(format!("1:{}", seventeen[..16].join(",")).as_bytes()).is_ok());
        assert!(parse_governance(format!("1:{}", seventeen.join(",")).as_bytes()).is_err(), "17 signers");
        assert!(format!("16:{}", seventeen[..16].join(",")).len() <= GOVERNANCE_MAX);
    }

    #[test]
    fn owners() {
        let mut expected = [0u8; 20];
        expected[19] = 0x0b;
        assert_eq!(parse_owner(b"0x000000000000000000000000000000000000000b"), Ok(expected));
        assert_eq!(parse_owner(b"0x000000000000000000000000000000000000000B\n"), Ok(expected));
        for bad in [
            &b""[..],
            b"000000000000000000000000000000000000000b",
            b"0x00000000000000000000000000000000000000b",
            b"0x000000000000000000000000000000000000000b0",
            b"0x000000000000000000000000000000000000000g",
            b"0X000000000000000000000000000000000000000b",
            b"0x0000000000000000000000000000000000000000",
        ] {
            assert!(parse_owner(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proxy_addresses() {
        let default = parse_proxy(fcc_layout::interface::DEFAULT_PROXY.as_bytes()).unwrap();
        assert_eq!(default, ProxyAddr { ip: [10, 0, 2, 2], port: 6661 });
        assert_eq!(std::format!("{default}"), fcc_layout::interface::DEFAULT_PROXY);
        assert_eq!(parse_proxy(b"192.168.1.20:65535\n"), Ok(ProxyAddr { ip: [192, 168, 1, 20], port: 65535 }));
        assert_eq!(parse_proxy(b"0.0.0.1:1\0"), Ok(ProxyAddr { ip: [0, 0, 0, 1], port: 1 }));
        for bad in [
            &b""[..],
            b"10.0.2.2",
            b"10.0.2.2:",
            b":6661",
            b"10.0.2.2:0",
            b"10.0.2.2:65536",
            b"10.0.2.2:06661",
            b"10.0.2.2:+1",
            b"10.0.2:6661",
            b"10.0.2.2.1:6661",
            b"10.0.02.2:6661",
            b"10.0.2.256:6661",
            b"10.0..2:6661",
            b"proxy:6661",
            b"10.0.2.2:6661:1",
            b"0.0.0.0:6661",
            b"255.255.255.255:6661",
            b"224.0.0.1:6661",
            b"10.0.2.2 :6661",
            b"\xff",
        ] {
            assert!(parse_proxy(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn settings_take_defaults_and_stop_on_a_bad_or_long_value() {
        use fcc_layout::interface::{FW_CFG_CHAIN_ID, FW_CFG_POLICY_HASH, FW_CFG_PROXY};
        let files = |entries: &'static [(&'static str, &'static [u8])]| {
            move |name: &'static str, buf: &mut [u8; SETTING_MAX]| {
                let (_, value) = entries.iter().find(|(n, _)| *n == name)?;
                if value.len() > SETTING_MAX {
                    return Some(Err(()));
                }
                buf[..value.len()].copy_from_slice(value);
                Some(Ok(value.len()))
            }
        };
        let s = Settings::parse(files(&[])).unwrap();
        assert_eq!((s.chain_id, s.policy_hash), (14, PolicyHashScheme::ChainBound { chain_id: 14 }));
        assert_eq!((s.proxy, s.test_fault), (ProxyAddr { ip: [10, 0, 2, 2], port: 6661 }, None));
        assert!(!s.test_redact);
        assert!(Settings::parse(files(&[(fcc_layout::interface::FW_CFG_TEST_REDACT, b"")])).unwrap().test_redact);
        let s = Settings::parse(files(&[(FW_CFG_CHAIN_ID, b"114"), (FW_CFG_POLICY_HASH, b"legacy")])).unwrap();
        assert_eq!((s.chain_id, s.policy_hash), (114, PolicyHashScheme::Legacy));
        let e = Settings::parse(files(&[(FW_CFG_PROXY, b"nowhere")])).unwrap_err();
        assert_eq!(e.name, FW_CFG_PROXY);
        assert!(std::format!("{e}").starts_with("opt/fcc/proxy: the proxy address must be"));
        let e = Settings::parse(files(&[(FW_CFG_CHAIN_ID, &[b'1'; 65])])).unwrap_err();
        assert_eq!(e, SettingError { name: FW_CFG_CHAIN_ID, why: "longer than 64 bytes" });
    }

    #[test]
    fn a_registration_needs_both_the_extension_and_the_owner() {
        use fcc_layout::interface::{FW_CFG_EXTENSION_ID, FW_CFG_OWNER};
        let files = |entries: &'static [(&'static str, &'static [u8])]| {
            move |name: &'static str, buf: &mut [u8; SETTING_MAX]| {
                let (_, value) = entries.iter().find(|(n, _)| *n == name)?;
                buf[..value.len()].copy_from_slice(value);
                Some(Ok(value.len()))
            }
        };
        assert_eq!(Settings::parse(files(&[])).unwrap().registration, None);
        const OWNER: &[u8] = b"0x00000000000000000000000000000000000000aa";
        let r = Settings::parse(files(&[(FW_CFG_EXTENSION_ID, b"7"), (FW_CFG_OWNER, OWNER)])).unwrap().registration;
        let r = r.expect("both set");
        assert_eq!((r.extension_id[31], r.owner[19]), (7, 0xaa));
        let e = Settings::parse(files(&[(FW_CFG_OWNER, OWNER)])).unwrap_err();
        assert_eq!(e.name, FW_CFG_EXTENSION_ID);
        let e = Settings::parse(files(&[(FW_CFG_EXTENSION_ID, b"7")])).unwrap_err();
        assert_eq!(e.name, FW_CFG_OWNER);
        let e = Settings::parse(files(&[(FW_CFG_EXTENSION_ID, b"7"), (FW_CFG_OWNER, b"0xbad")])).unwrap_err();
        assert_eq!(e.name, FW_CFG_OWNER);
    }

    #[test]
    fn test_faults() {
        assert_eq!(parse_test_fault(b"ud2"), Ok(TestFault::InvalidOpcode));
        assert_eq!(parse_test_fault(b"pagefault\n"), Ok(TestFault::PageFault));
        assert_eq!(parse_test_fault(b"stack-overflow"), Ok(TestFault::StackOverflow));
        assert_eq!(parse_test_fault(b"sign-loop"), Ok(TestFault::SignLoop));
        assert!(parse_test_fault(b"gp").is_err());
    }
}
