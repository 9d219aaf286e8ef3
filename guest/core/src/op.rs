//! Operation names: opType/opCommand are ASCII strings right-padded with zero bytes to 32 bytes
//! (Solidity `bytes32("F_FDC2")`), not hashes.

/// A right-padded 32-byte operation name.
pub type OpName = [u8; 32];

/// Pads an ASCII name to 32 bytes. Panics at compile time for names over 32 bytes.
pub const fn name(s: &str) -> OpName {
    let b = s.as_bytes();
    assert!(b.len() <= 32, "operation names fit in 32 bytes");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < b.len() {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// Policy management (direct actions from the proxy).
pub const F_POLICY: OpName = name("F_POLICY");
/// Set the trust root.
pub const INITIALIZE_POLICY: OpName = name("INITIALIZE_POLICY");
/// Move to the next reward epoch's policy.
pub const UPDATE_POLICY: OpName = name("UPDATE_POLICY");
/// The TEE-based Flare Data Connector.
pub const F_FDC2: OpName = name("F_FDC2");
/// Sign an attestation response.
pub const PROVE: OpName = name("PROVE");
/// Read-only queries.
pub const F_GET: OpName = name("F_GET");
/// The TEE's identity, policies and attestation.
pub const TEE_INFO: OpName = name("TEE_INFO");
/// Registration (instructions the machine registry sends).
pub const F_REG: OpName = name("F_REG");
/// Attest the TEE's state to the registry's challenge.
pub const TEE_ATTESTATION: OpName = name("TEE_ATTESTATION");

/// Wallet keys (instructions).
pub const F_WALLET: OpName = name("F_WALLET");
/// Generate a wallet key.
pub const KEY_GENERATE: OpName = name("KEY_GENERATE");
/// Delete a wallet key.
pub const KEY_DELETE: OpName = name("KEY_DELETE");
/// Rebuild a wallet key from the providers' and admins' splits.
pub const KEY_DATA_PROVIDER_RESTORE: OpName = name("KEY_DATA_PROVIDER_RESTORE");
/// Encrypt a wallet key to another TEE on a governance-approved path.
pub const KEY_DIRECT_BACKUP: OpName = name("KEY_DIRECT_BACKUP");
/// Take in a wallet key another TEE encrypted to this one.
pub const KEY_DIRECT_RESTORE: OpName = name("KEY_DIRECT_RESTORE");
/// A TEE's wallet keys (query).
pub const KEY_INFO: OpName = name("KEY_INFO");
/// A wallet key's existence proof (query).
pub const KEY_PROOF: OpName = name("KEY_PROOF");
/// A wallet key's backup (query).
pub const TEE_BACKUP: OpName = name("TEE_BACKUP");
/// A wallet key's backup heartbeat for `KeyBackupRegistry` (direct; ours, not Flare's).
pub const KEY_BACKUP_HEARTBEAT: OpName = name("KEY_BACKUP_HEARTBEAT");
/// Governance settings.
pub const F_GOVERNANCE: OpName = name("F_GOVERNANCE");
/// Which TEEs may move keys to which.
pub const SET_MACHINE_PATH_LIST: OpName = name("SET_MACHINE_PATH_LIST");

/// Protocol-managed XRPL wallets.
pub const F_XRP: OpName = name("F_XRP");
/// Protocol-managed Bitcoin wallets.
pub const F_BTC: OpName = name("F_BTC");
/// Sign a payment (one transaction per fee tier).
pub const PAY: OpName = name("PAY");
/// Sign a payment again with other fees.
pub const REISSUE: OpName = name("REISSUE");

/// Flare's default admission threshold, in basis points of the policy's weight: more than half.
pub const DEFAULT_THRESHOLD_BIPS: u16 = 5000;

/// Whether `op_type` is one of Flare's system types (prefix `F_`), which extensions may not use.
pub fn is_system(op_type: &OpName) -> bool {
    op_type.starts_with(b"F_")
}

/// An operation name for people (logs, the console, the status page): its text when it is
/// printable ASCII padded with zeros (`F_POLICY`), else `0x` and its 64 hex digits, so two
/// names never read the same.
pub fn text(name: &OpName) -> Text<'_> {
    Text(name)
}

/// See [`text`].
pub struct Text<'a>(&'a OpName);

impl core::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = self.0;
        let len = name.iter().rposition(|&b| b != 0).map_or(0, |end| end + 1);
        if len > 0 && name[..len].iter().all(u8::is_ascii_graphic) {
            name[..len].iter().try_for_each(|&b| core::fmt::Write::write_char(f, char::from(b)))
        } else {
            f.write_str("0x")?;
            name.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    #[test]
    fn right_padded() {
        assert_eq!(&F_FDC2[..6], b"F_FDC2");
        assert!(F_FDC2[6..].iter().all(|&b| b == 0));
        assert!(is_system(&F_GET));
        assert!(!is_system(&name("MY_EXT")));
    }

    #[test]
    fn names_read_as_text_or_hex() {
        assert_eq!(text(&F_POLICY).to_string(), "F_POLICY");
        assert_eq!(text(&name("KEY_DATA_PROVIDER_RESTORE_FULL_X")).to_string(), "KEY_DATA_PROVIDER_RESTORE_FULL_X");
        assert_eq!(text(&[0; 32]).to_string(), format!("0x{}", "00".repeat(32)));
        let mut odd = name("A B");
        assert_eq!(
            text(&odd).to_string(),
            "0x4120420000000000000000000000000000000000000000000000000000000000",
            "a space"
        );
        odd = name("A\0B");
        assert!(text(&odd).to_string().starts_with("0x41004200"), "a zero inside is not padding");
        odd = name("<script>");
        assert_eq!(text(&odd).to_string(), "<script>", "text; whoever shows it as markup must escape it");
        odd[31] = 0xff;
        assert!(text(&odd).to_string().starts_with("0x3c736372"));
        assert_eq!(text(&[0xab; 32]).to_string(), format!("0x{}", "ab".repeat(32)));
    }
}
