//! Checking a TEE before voting it into production: ask its proxy for the TEE's answer to a
//! fresh challenge of the provider's (`GET /info?challenge=`: an `F_GET/TEE_INFO` the guest
//! answers with its statement and new evidence, signed with its key), and accept only if
//! * the answer is signed by the TEE id the proxy names, and that id is its key's address;
//! * the statement (`fcc_core::statement`) is for this challenge — an old answer replayed fails —,
//!   this key and the provider's *own* chain, and in our format;
//! * the evidence verifies with `fcc-attest` against the published manifest, bound to that
//!   statement;
//! * [`check_policies`]: the trust root and the active policy it attests are the Relay's — a TEE
//!   rooted in a policy of the operator's keys would otherwise pass and then sign whatever those
//!   keys ask.
//!
//! Registration (Flare's flow, [`check_registration`]): the registry sends the TEE an
//! `F_REG/TEE_ATTESTATION` instruction with a challenge drawn on chain; the providers sign it like
//! any instruction, read the TEE's signed answer from its proxy and accept only if, besides the
//! above for the registry's challenge, the measurement's hash and the platform are the registered
//! `codeHash` and `platform` and the TEE signed exactly the registered data (owner, extension,
//! code, platform, key).
//!
//! The proxy is untrusted: whatever it reports is only believed once the TEE's signature and the
//! evidence bind it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub use fcc_attest::statement::decode_statement;
use fcc_attest::{Binding, Evidence, QuoteCollateralV3};
pub use fcc_attest::{Manifest, Statement, Verdict, Verifier};
use fcc_core::attester::PlatformKind;
use fcc_core::hash::keccak256;
use fcc_core::policy::Address;
use serde::Deserialize;

use crate::client::{PostError, ProxyClient};

/// Largest certificate, chain, collateral or root file read (real ones are a few KiB).
pub const MAX_COLLATERAL_FILE: u64 = 1 << 20;

/// Why a TEE was not checked or failed the check: a provider must not vote it into production.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// `GET /info` failed (unreachable proxy, no TEE connected, a refusal).
    #[error("asking the proxy about its TEE: {0}")]
    Fetch(#[from] PostError),
    /// `GET /info` answered, but a field is missing or malformed.
    #[error("the proxy's /info: {0}")]
    Info(String),
    /// The answer to the challenge is missing, refused, or not signed by the TEE.
    #[error("the TEE's answer to the challenge: {0}")]
    Answer(String),
    /// The statement answers another challenge (an old answer replayed).
    #[error("the statement answers challenge {found}, not {asked}")]
    StaleChallenge {
        /// The challenge asked, hex.
        asked: String,
        /// The one answered, hex.
        found: String,
    },
    /// Hardware evidence needs certificates or collateral that were not given.
    #[error("{platform} evidence needs {what}, which was not given")]
    MissingCollateral {
        /// `sev-snp` or `tdx`.
        platform: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// A certificate or collateral file could not be read or parsed.
    #[error("{path}: {reason}")]
    CollateralFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The measurement manifest could not be read or parsed.
    #[error("manifest {path}: {reason}")]
    Manifest {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The TEE id the proxy reports is not the address of the public key it reports.
    #[error("teeId {claimed} is not the address of the reported public key ({derived})")]
    TeeIdMismatch {
        /// The reported TEE id.
        claimed: String,
        /// keccak(public key)[12..].
        derived: String,
    },
    /// The attestation does not verify (genuineness, measurement or binding).
    #[error("{0}")]
    Refused(#[from] fcc_attest::Error),
    /// The statement does not decode, is not ours, or is not the reported key's or this chain's.
    #[error("the TEE's statement: {0}")]
    Statement(String),
    /// The TEE's active policy is behind the Relay's latest (updates withheld, or a rollback to
    /// an older sealed state): not current, so not confirmed available.
    #[error("the TEE's active policy is epoch {active}, behind the Relay's latest {relay}")]
    Stale {
        /// The TEE's active epoch.
        active: u32,
        /// The Relay's latest.
        relay: u32,
    },
    /// The TEE's answer disagrees with its on-chain registration.
    #[error("the registered {what} is {registered}, the TEE's answer says {attested}")]
    NotAsRegistered {
        /// Which field.
        what: &'static str,
        /// The registry's.
        registered: String,
        /// The answer's.
        attested: String,
    },
    /// A policy the TEE attests is not the Relay's for its epoch.
    #[error(
        "the TEE's {which} policy (epoch {epoch}, hash {reported}) is not the Relay's ({})",
        relay.as_deref().unwrap_or("the Relay has none for that epoch")
    )]
    PolicyNotRelays {
        /// `initial` (the trust root) or `active`.
        which: &'static str,
        /// Its epoch.
        epoch: u32,
        /// The hash the TEE attests, 0x-hex.
        reported: String,
        /// The Relay's, 0x-hex.
        relay: Option<String>,
    },
}

/// What a proxy says about its TEE (the fields of `GET /info?challenge=` the check reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeeInfo {
    /// The TEE id (address).
    pub tee_id: Address,
    /// Its public key `x ‖ y`.
    pub public_key: [u8; 64],
    /// The chain id the proxy says the TEE serves (informational: the check uses the
    /// provider's own).
    pub chain_id: u64,
    /// The TEE's signed answer to the challenge (`teeInfo`), if the proxy gave one.
    pub answer: Option<fcc_core::result::SignedResult>,
}

impl TeeInfo {
    /// Reads the fields from a `GET /info` answer.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, CheckError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Info {
            tee_id: alloy_primitives::Address,
            public_key: alloy_primitives::Bytes,
            chain_id: u64,
            #[serde(default)]
            tee_info: Option<fcc_flare_json::ActionResponse>,
        }
        let i: Info = serde_json::from_value(v.clone()).map_err(|e| CheckError::Info(e.to_string()))?;
        let public_key = <[u8; 64]>::try_from(i.public_key.as_ref())
            .map_err(|_| CheckError::Info(format!("publicKey is {} bytes, not 64", i.public_key.len())))?;
        let answer =
            i.tee_info.map(|r| r.signed_result().map_err(|e| CheckError::Info(format!("teeInfo: {e}")))).transpose()?;
        Ok(TeeInfo { tee_id: i.tee_id.0.0, public_key, chain_id: i.chain_id, answer })
    }
}

/// SEV-SNP certificates: the VCEK/VLEK and AMD's ASK/ASVK + ARK chain.
#[derive(Debug, Clone)]
pub struct SnpCerts {
    /// VCEK or VLEK, DER or PEM.
    pub vek: Vec<u8>,
    /// ASK (or ASVK) then ARK, PEM.
    pub chain: Vec<u8>,
}

/// TDX collateral and Intel's root.
#[derive(Debug, Clone)]
pub struct TdxCollateral {
    /// TCB info, QE identity, CRLs (dcap-qvl's `QuoteCollateralV3`).
    pub collateral: QuoteCollateralV3,
    /// Intel SGX Root CA, DER.
    pub root_ca_der: Vec<u8>,
}

/// What hardware evidence needs beyond itself (nothing for simulated evidence).
#[derive(Debug, Clone, Default)]
pub struct Collateral {
    /// For SEV-SNP reports.
    pub snp: Option<SnpCerts>,
    /// For TDX quotes.
    pub tdx: Option<TdxCollateral>,
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, CheckError> {
    let err = |reason: String| CheckError::CollateralFile { path: path.display().to_string(), reason };
    let len = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.len();
    if len > MAX_COLLATERAL_FILE {
        return Err(err(format!("{len} bytes, more than the {MAX_COLLATERAL_FILE} accepted")));
    }
    std::fs::read(path).map_err(|e| err(e.to_string()))
}

impl Collateral {
    /// Reads the files given (each pair all or nothing): SNP `vek` + `chain`, TDX `collateral`
    /// (JSON) + `root` (DER).
    pub fn from_files(
        vek: Option<&Path>,
        chain: Option<&Path>,
        collateral: Option<&Path>,
        root: Option<&Path>,
    ) -> Result<Self, CheckError> {
        let snp = match (vek, chain) {
            (Some(v), Some(c)) => Some(SnpCerts { vek: read_bounded(v)?, chain: read_bounded(c)? }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(CheckError::MissingCollateral { platform: "sev-snp", what: "the ASK/ARK chain" });
            }
            (None, Some(_)) => {
                return Err(CheckError::MissingCollateral { platform: "sev-snp", what: "the VCEK/VLEK" });
            }
        };
        let tdx = match (collateral, root) {
            (Some(c), Some(r)) => {
                let collateral = fcc_attest::tdx::collateral_from_json(&read_bounded(c)?)
                    .map_err(|e| CheckError::CollateralFile { path: c.display().to_string(), reason: e.to_string() })?;
                Some(TdxCollateral { collateral, root_ca_der: read_bounded(r)? })
            }
            (None, None) => None,
            (Some(_), None) => return Err(CheckError::MissingCollateral { platform: "tdx", what: "Intel's root" }),
            (None, Some(_)) => return Err(CheckError::MissingCollateral { platform: "tdx", what: "the collateral" }),
        };
        Ok(Collateral { snp, tdx })
    }
}

/// A verifier for the manifest at `path` (`reproducible/MEASUREMENTS.json`); `allow_simulated`
/// is test mode (plain QEMU), never production.
pub fn verifier(path: &Path, allow_simulated: bool) -> Result<Verifier, CheckError> {
    let err = |reason: String| CheckError::Manifest { path: path.display().to_string(), reason };
    let len = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.len();
    if len > fcc_attest::manifest::MAX_MANIFEST_LEN as u64 {
        return Err(err(format!("{len} bytes, more than the {} accepted", fcc_attest::manifest::MAX_MANIFEST_LEN)));
    }
    let manifest =
        Manifest::from_json(&std::fs::read(path).map_err(|e| err(e.to_string()))?).map_err(|e| err(e.to_string()))?;
    Ok(Verifier { allow_simulated, ..Verifier::new(manifest) })
}

/// The TEE id of a public key: the last 20 bytes of its keccak.
pub fn address_of(public_key: &[u8; 64]) -> Address {
    keccak256(public_key)[12..].try_into().expect("20 bytes")
}

/// Verifies what a proxy reported about its TEE for `challenge` (see the module docs) at `now`
/// (unix seconds), for the provider's `chain_id`; returns the statement (check its policies
/// with [`check_policies`]) and the verdict.
pub fn verify_info(
    info: &TeeInfo,
    challenge: &[u8; 32],
    verifier: &Verifier,
    collateral: &Collateral,
    chain_id: u64,
    now: u64,
) -> Result<(fcc_attest::Statement, Verdict), CheckError> {
    let derived = address_of(&info.public_key);
    if derived != info.tee_id {
        return Err(CheckError::TeeIdMismatch {
            claimed: format!("0x{}", hex::encode(info.tee_id)),
            derived: format!("0x{}", hex::encode(derived)),
        });
    }
    let answer = info.answer.as_ref().ok_or_else(|| CheckError::Answer("the proxy gave none".into()))?;
    let expected = Expected { public_key: &info.public_key, challenge, op_command: fcc_core::op::TEE_INFO };
    let (answer, verdict) = verify_answer(answer, &expected, verifier, collateral, chain_id, now)?;
    Ok((answer.statement, verdict))
}

/// What a checked answer must be: the TEE's key, the challenge it answers, the operation.
struct Expected<'a> {
    public_key: &'a [u8; 64],
    challenge: &'a [u8; 32],
    op_command: [u8; 32],
}

/// The common checks of a `TEE_INFO` or `TEE_ATTESTATION` answer: signed by the TEE for the
/// provider's chain, a success of the expected operation, for the challenge, this key and chain,
/// in our format, with evidence that verifies bound to the statement.
fn verify_answer(
    answer: &fcc_core::result::SignedResult,
    expected: &Expected<'_>,
    verifier: &Verifier,
    collateral: &Collateral,
    chain_id: u64,
    now: u64,
) -> Result<(fcc_attest::statement::TeeInfo, Verdict), CheckError> {
    let tee_id = address_of(expected.public_key);
    // Over the provider's own chain id: an answer signed for another chain does not recover.
    let signer = crate::result_signer(answer, chain_id).map_err(|e| CheckError::Answer(e.to_string()))?;
    if signer != tee_id {
        return Err(CheckError::Answer(format!("signed by 0x{}, not the TEE", hex::encode(signer))));
    }
    let r = &answer.result;
    if r.status != fcc_core::result::status::SUCCESS || r.op_command != expected.op_command {
        return Err(CheckError::Answer(format!(
            "not a {} success: {}",
            fcc_core::op::text(&expected.op_command),
            r.log
        )));
    }
    let info = fcc_attest::statement::decode_tee_info(&r.data).map_err(|e| CheckError::Statement(e.to_string()))?;
    let statement = &info.statement;
    if statement.challenge != *expected.challenge {
        return Err(CheckError::StaleChallenge {
            asked: hex::encode(expected.challenge),
            found: hex::encode(statement.challenge),
        });
    }
    if statement.public_key != *expected.public_key {
        return Err(CheckError::Statement("it is another key's".into()));
    }
    if statement.chain_id != chain_id {
        return Err(CheckError::Statement(format!("chain {}, not {chain_id}", statement.chain_id)));
    }
    let state = fcc_attest::statement::fcc_state(statement).map_err(|e| CheckError::Statement(e.to_string()))?;
    let evidence_bytes = &info.evidence;
    let evidence = match state.platform {
        PlatformKind::Plain => Evidence::Simulated(evidence_bytes),
        PlatformKind::SevSnp => {
            let c = collateral.snp.as_ref().ok_or(CheckError::MissingCollateral {
                platform: "sev-snp",
                what: "the VCEK/VLEK and ASK/ARK chain",
            })?;
            Evidence::Snp { report: evidence_bytes, vek: &c.vek, chain: &c.chain }
        }
        PlatformKind::Tdx => {
            let c = collateral
                .tdx
                .as_ref()
                .ok_or(CheckError::MissingCollateral { platform: "tdx", what: "the collateral and Intel's root" })?;
            Evidence::Tdx { quote: evidence_bytes, collateral: &c.collateral, root_ca_der: &c.root_ca_der }
        }
    };
    let verdict = verifier.verify(&evidence, &Binding::Statement(Box::new(statement.clone())), now)?;
    Ok((info, verdict))
}

/// A machine as the registry holds it (the fields [`check_registration`] compares).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its key `x ‖ y`.
    pub public_key: [u8; 64],
    /// The extension (`uint256`, big-endian).
    pub extension_id: [u8; 32],
    /// Who registered it.
    pub owner: Address,
    /// keccak256 of the measurement.
    pub code_hash: [u8; 32],
    /// The platform name.
    pub platform: [u8; 32],
    /// The challenge of its `F_REG/TEE_ATTESTATION`.
    pub challenge: [u8; 32],
    /// The extension governance it was registered with (zero: none).
    pub governance_hash: [u8; 32],
}

fn mismatch(what: &'static str, registered: &[u8], attested: &[u8]) -> CheckError {
    CheckError::NotAsRegistered {
        what,
        registered: format!("0x{}", hex::encode(registered)),
        attested: format!("0x{}", hex::encode(attested)),
    }
}

/// Checks the TEE's signed answer to the registry's `F_REG/TEE_ATTESTATION` against its on-chain
/// registration (see the module docs) at `now` for the provider's `chain_id`; returns the
/// statement (check its policies with [`check_policies`]) and the verdict.
pub fn check_registration(
    answer: &fcc_core::result::SignedResult,
    registered: &Registered,
    verifier: &Verifier,
    collateral: &Collateral,
    chain_id: u64,
    now: u64,
) -> Result<(fcc_attest::Statement, Verdict), CheckError> {
    let expected = Expected {
        public_key: &registered.public_key,
        challenge: &registered.challenge,
        op_command: fcc_core::op::TEE_ATTESTATION,
    };
    let (info, verdict) = verify_answer(answer, &expected, verifier, collateral, chain_id, now)?;
    // The code it runs and the platform: what the evidence measured is what was registered.
    let measured = hex::decode(&verdict.measurement_hex).unwrap_or_default();
    if measured.len() != 48 {
        return Err(CheckError::Statement(format!("the evidence names no measurement ({})", verdict.measurement)));
    }
    let measured_code = keccak256(&measured);
    if measured_code != registered.code_hash {
        return Err(mismatch("codeHash", &registered.code_hash, &measured_code));
    }
    let state = fcc_attest::statement::fcc_state(&info.statement).map_err(|e| CheckError::Statement(e.to_string()))?;
    if state.platform.id() != registered.platform {
        return Err(mismatch("platform", &registered.platform, &state.platform.id()));
    }
    // What the TEE signed to be registered is the record, and it signed it.
    let m = &info.machine;
    for (what, registered, signed) in [
        ("extensionId", &registered.extension_id[..], &m.extension_id[..]),
        ("owner", &registered.owner[..], &m.initial_owner[..]),
        ("codeHash (signed)", &registered.code_hash[..], &m.code_hash[..]),
        ("platform (signed)", &registered.platform[..], &m.platform[..]),
        ("publicKey (signed)", &registered.public_key[..], &m.public_key[..]),
        ("governanceHash", &registered.governance_hash[..], &m.governance_hash[..]),
    ] {
        if registered != signed {
            return Err(mismatch(what, registered, signed));
        }
    }
    let signer = info.registration_signer(chain_id).map(|a| a.0.0);
    if signer != Some(address_of(&registered.public_key)) {
        return Err(CheckError::Answer("its registration data is not signed by the TEE".into()));
    }
    Ok((info.statement, verdict))
}

/// The trust root and the active policy a statement attests are the Relay's: `relay_hash`
/// gives the Relay's policy hash of an epoch (`None`: it has none). A TEE without a trust root
/// fails too: it trusts whatever policy it is handed first.
pub fn check_policies(
    statement: &fcc_attest::Statement,
    relay_hash: impl Fn(u32) -> Option<[u8; 32]>,
) -> Result<(), CheckError> {
    for (which, (epoch, hash)) in [("initial", statement.initial_policy), ("active", statement.last_policy)] {
        let relay = relay_hash(epoch);
        if hash == [0; 32] || relay != Some(hash) {
            return Err(CheckError::PolicyNotRelays {
                which,
                epoch,
                reported: format!("0x{}", hex::encode(hash)),
                relay: relay.map(|h| format!("0x{}", hex::encode(h))),
            });
        }
    }
    Ok(())
}

alloy::sol! {
    #[sol(rpc)]
    /// The Relay's policy hash of an epoch (Flare's `IRelay`, DevRelay).
    interface IRelayPolicyHash {
        function toSigningPolicyHash(uint256 rewardEpochId) external view returns (bytes32);
        function lastInitializedRewardEpochData() external view returns (uint32, uint32);
    }
}

/// The Relay's policy hash of each of `epochs` (`None` where it has none: a zero hash), read
/// through `rpc` from the Relay at `relay`.
pub async fn relay_policy_hashes<P: alloy::providers::Provider>(
    rpc: &P,
    relay: alloy_primitives::Address,
    epochs: &[u32],
) -> anyhow::Result<std::collections::BTreeMap<u32, Option<[u8; 32]>>> {
    let relay = IRelayPolicyHash::new(relay, rpc);
    let mut out = std::collections::BTreeMap::new();
    for &epoch in epochs {
        let h = relay.toSigningPolicyHash(alloy_primitives::U256::from(epoch)).call().await?;
        out.insert(epoch, (h.0 != [0; 32]).then_some(h.0));
    }
    Ok(out)
}

/// The Relay's latest reward epoch (`lastInitializedRewardEpochData`).
pub async fn relay_last_epoch<P: alloy::providers::Provider>(
    rpc: &P,
    relay: alloy_primitives::Address,
) -> anyhow::Result<u32> {
    Ok(IRelayPolicyHash::new(relay, rpc).lastInitializedRewardEpochData().call().await?._0)
}

/// The availability check: a TEE is confirmed available only while it is current — its active
/// policy the Relay's latest (`relay_last`). One whose proxy withholds policy updates, or that
/// was rolled back to an older sealed state, falls behind and is left to lapse.
pub fn check_current(statement: &fcc_attest::Statement, relay_last: u32) -> Result<(), CheckError> {
    let active = statement.last_policy.0;
    if active < relay_last {
        return Err(CheckError::Stale { active, relay: relay_last });
    }
    Ok(())
}

/// A TEE that passed the check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// What the proxy reported.
    pub info: TeeInfo,
    /// What the evidence binds (check its policies with [`check_policies`]).
    pub statement: fcc_attest::Statement,
    /// The verdict.
    pub verdict: Verdict,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl ProxyClient {
    /// The TEE's signed result of instruction `id` (`GET /action/result/{id}`), waiting up to
    /// `wait` for it while the proxy has none yet.
    pub async fn wait_result(
        &self,
        id: &[u8; 32],
        wait: std::time::Duration,
    ) -> Result<fcc_core::result::SignedResult, CheckError> {
        let url = format!("{}/action/result/0x{}", self.base, hex::encode(id));
        let deadline = std::time::Instant::now() + wait;
        loop {
            let sent = self.http.get(&url).send().await;
            match self.answer::<fcc_flare_json::ActionResponse>(url.clone(), sent).await {
                Ok(r) => return r.signed_result().map_err(|e| CheckError::Answer(e.to_string())),
                Err(PostError::Refused { status: 404, .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// What the proxy reports about its TEE and the TEE's answer to `challenge`
    /// (`GET /info?challenge=`, retried like votes).
    pub async fn tee_info(&self, challenge: &[u8; 32]) -> Result<TeeInfo, CheckError> {
        TeeInfo::from_json(&self.info::<serde_json::Value>(Some(challenge)).await?)
    }

    /// Asks for the TEE's answer to a fresh random challenge and checks it ([`verify_info`]
    /// with this client's chain id, now).
    pub async fn check_tee(&self, verifier: &Verifier, collateral: &Collateral) -> Result<Checked, CheckError> {
        let mut challenge = [0u8; 32];
        rand::fill(&mut challenge);
        let info = self.tee_info(&challenge).await?;
        let (statement, verdict) = verify_info(&info, &challenge, verifier, collateral, self.chain_id(), unix_now())?;
        Ok(Checked { info, statement, verdict })
    }
}
