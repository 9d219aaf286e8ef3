//! The operator's trust root (`trust-root`): the signing policy the guest starts from, read from
//! `{"policy": "0x…", "publicKeys": ["0x…", …]}`, and the `F_POLICY/INITIALIZE_POLICY` action that
//! hands it to the guest (`fcc_core::action`). Nothing checks it here beyond decoding: the guest
//! trusts whatever its first policy is, which is why the providers check it before voting a TEE
//! into production.

use std::path::Path;

use anyhow::{Context, Result};
use fcc_core::action::Action;
use fcc_core::light_client::{InitializePolicy, PublicKey};
use fcc_core::policy::SigningPolicy;

/// The trust root: its policy and the action that sets it.
#[derive(Debug, Clone)]
pub struct TrustRoot {
    /// The policy bytes.
    pub policy: Vec<u8>,
    /// Its `INITIALIZE_POLICY`.
    pub action: Action,
}

impl TrustRoot {
    /// Reads the trust-root file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        // Other fields are allowed: `sim-providers policy` prints hashes and voters beside these.
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct File {
            policy: alloy_primitives::Bytes,
            #[serde(default)]
            public_keys: Vec<alloy_primitives::Bytes>,
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: File = serde_json::from_str(&text).with_context(|| format!("trust root {}", path.display()))?;
        let policy = SigningPolicy::decode(&file.policy).map_err(|e| anyhow::anyhow!("trust root policy: {e}"))?;
        let public_keys = file
            .public_keys
            .iter()
            .map(|k| {
                let k: [u8; 64] = k.as_ref().try_into().context("trust root public keys must be 64 bytes (x ‖ y)")?;
                Ok(PublicKey(k))
            })
            .collect::<Result<Vec<_>>>()?;
        anyhow::ensure!(
            public_keys.is_empty() || public_keys.len() == policy.voters().len(),
            "trust root: {} public keys for {} voters (give none or one per voter)",
            public_keys.len(),
            policy.voters().len()
        );
        let action = Action::initialize_policy(&InitializePolicy { policy: file.policy.to_vec(), public_keys });
        Ok(Self { policy: file.policy.to_vec(), action })
    }

    /// The policy, decoded.
    pub fn signing_policy(&self) -> Result<SigningPolicy> {
        SigningPolicy::decode(&self.policy).map_err(|e| anyhow::anyhow!("trust root policy: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_gives_the_policy_and_its_initialize_policy() {
        let ps = fcc_sim_providers::providers("trust root", 3).unwrap();
        let policy = fcc_sim_providers::policy(&ps, 5).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.json");
        let keys: Vec<String> =
            fcc_sim_providers::public_keys(&ps).iter().map(|k| format!("0x{}", hex::encode(k.0))).collect();
        let json = serde_json::json!({ "policy": format!("0x{}", hex::encode(policy.encode())), "publicKeys": keys });
        std::fs::write(&path, json.to_string()).unwrap();
        let root = TrustRoot::load(&path).unwrap();
        assert_eq!(root.policy, policy.encode());
        assert_eq!(root.action.instruction.instruction_id, fcc_core::action::initialize_policy_id(&policy.encode()));
        std::fs::write(&path, serde_json::json!({ "policy": "0x00" }).to_string()).unwrap();
        assert!(TrustRoot::load(&path).is_err());
        let one_key =
            serde_json::json!({ "policy": format!("0x{}", hex::encode(policy.encode())), "publicKeys": [keys[0]] });
        std::fs::write(&path, one_key.to_string()).unwrap();
        assert!(format!("{:#}", TrustRoot::load(&path).unwrap_err()).contains("1 public keys for 3 voters"));
    }
}
