//! `F_WALLET` and the wallet queries of `F_GET`, as tee-node serves them:
//!
//! - `KEY_GENERATE` (instruction, `abi.encode(KeyGenerate)`): a fresh key; → the signed
//!   existence proof `{"keyExistence":"0x<abi.encode(KeyExistence)>","signature":"0x…"}`, the
//!   TEE's EIP-191 signature over `Payload{TEE_KEY_EXISTENCE, chainId, keccak(keyExistence)}`.
//! - `KEY_DELETE` (instruction, `abi.encode(KeyDelete)`): nonce above the record's; →
//!   `{"walletId":"0x…","keyId":n}`, additional status `key not stored` when only the record was.
//! - `KEY_DATA_PROVIDER_RESTORE` (instruction, `abi.encode(KeyDataProviderRestore)`, AFM = the
//!   backup's metadata JSON, each AVM = that signer's split(s) ECIES-encrypted to this TEE; the
//!   cosigners must be exactly the backup's admins, with its admin threshold): → the restored
//!   key's existence proof; additional status `{"ErrorPositions":[…],"ErrorLogs":[…]}` (skipped
//!   messages, as many as fit `MAX_REASON_LEN`).
//! - `F_GET/KEY_INFO` (direct): `[{"walletId":"0x…","keyId":n,"nonce":n}, …]` in (walletId,
//!   keyId) order. `F_GET/KEY_PROOF` (direct, JSON `[{"walletId":…,"keyId":…}, …]`): one signed
//!   existence proof per pair. `F_GET/TEE_BACKUP` (direct, JSON `{"walletId":…,"keyId":…}`): a
//!   fresh backup (`wallet::backup`), postcard-encoded; the proxy renders Flare's
//!   `{"backupId":{…},"walletBackup":"<base64 JSON>"}` from it.
//! - `F_GET/KEY_BACKUP_HEARTBEAT` (direct, ours, tag `key-backup`): the `KeyBackupRegistry`
//!   heartbeat naming the key's latest backup (`wallet::heartbeat`).

use alloc::string::String;
use alloc::vec::Vec;

use serde::Deserialize;

use crate::action::Action;
use crate::attester::Attester;
use crate::error::Error;
use crate::hash::{eip191_hash, keccak256};
use crate::instruction::payload_hash;
use crate::limits::{MAX_KEY_PROOFS, MAX_REASON_LEN};
use crate::op;
use crate::result::Output;
use crate::state::TeeState;
use crate::wallet::backup::{self, Metadata};
use crate::wallet::codec::{self, KeyDelete, KeyGenerate};
use crate::wallet::heartbeat::Heartbeat;
use crate::wallet::json::{self, Hex};
use crate::wallet::{KeyIdPair, Wallet, supported_algo};

/// Prefix of a key existence proof.
pub const PREFIX_TEE_KEY_EXISTENCE: [u8; 32] = op::name("TEE_KEY_EXISTENCE");

/// The signed existence proof of `id` as JSON.
fn existence_proof(state: &TeeState, id: &KeyIdPair) -> Result<String, Error> {
    let wallet = state.wallets.get(id).ok_or(Error::OperationFailed { reason: "wallet key not stored" })?;
    let nonce = state.wallets.nonce(id).unwrap_or(0);
    let proof = codec::key_existence(&state.identity.address(), wallet, nonce);
    let hash = payload_hash(&PREFIX_TEE_KEY_EXISTENCE, state.config.chain_id, &keccak256(&proof));
    let signature = state.identity.sign_digest(&eip191_hash(&hash));
    let mut out = String::from("{\"keyExistence\":");
    json::hex(&mut out, &proof);
    out.push_str(",\"signature\":");
    json::hex(&mut out, &signature);
    out.push('}');
    Ok(out)
}

/// `KEY_GENERATE`.
pub fn key_generate(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    let req = KeyGenerate::decode(&action.instruction.original_message)?;
    if req.tee_id != state.identity.address() {
        return Err(Error::OperationFailed { reason: "requested teeID does not match required" });
    }
    req.config.check()?;
    if !supported_algo(&req.signing_algo) {
        return Err(Error::OperationFailed { reason: "signing algorithm not supported" });
    }
    if state.wallets.ever_existed(&req.id) {
        return Err(Error::OperationFailed { reason: "a permanent record of the wallet already exists" });
    }
    state.wallets.check_insert(&req.id)?;
    let wallet = Wallet::generate(req.id, req.key_type, req.signing_algo, req.config, &mut state.rng)?;
    state.wallets.insert(wallet, 0)?;
    Ok(existence_proof(state, &req.id)?.into_bytes().into())
}

fn key_id_json(id: &KeyIdPair) -> String {
    let mut out = String::from("{\"walletId\":");
    json::hex(&mut out, &id.wallet_id);
    out.push_str(",\"keyId\":");
    json::uint(&mut out, id.key_id);
    out.push('}');
    out
}

/// `KEY_DELETE`.
pub fn key_delete(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    let req = KeyDelete::decode(&action.instruction.original_message)?;
    let was_stored = state.wallets.delete(&req.id, req.nonce)?;
    let status = if was_stored { Vec::new() } else { b"key not stored".to_vec() };
    Ok(Output { data: key_id_json(&req.id).into_bytes(), status })
}

/// `KEY_INFO`.
pub fn key_info(state: &mut TeeState, _: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    let wallets: Vec<&Wallet> = state.wallets.iter().collect();
    let mut out = String::new();
    json::array(&mut out, &wallets, |o, w| {
        o.push_str("{\"walletId\":");
        json::hex(o, &w.id.wallet_id);
        o.push_str(",\"keyId\":");
        json::uint(o, w.id.key_id);
        o.push_str(",\"nonce\":");
        json::uint(o, state.wallets.nonce(&w.id).unwrap_or(0));
        o.push('}');
    });
    Ok(out.into_bytes().into())
}

#[derive(Deserialize)]
struct KeyIdJson {
    #[serde(rename = "walletId")]
    wallet_id: Hex<32>,
    #[serde(rename = "keyId")]
    key_id: u64,
}

impl KeyIdJson {
    fn id(&self) -> KeyIdPair {
        KeyIdPair { wallet_id: self.wallet_id.0, key_id: self.key_id }
    }
}

/// `KEY_PROOF`.
pub fn key_proof(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    let ids: Vec<KeyIdJson> = json::parse(&action.instruction.original_message, "KEY_PROOF request")?;
    if ids.len() > MAX_KEY_PROOFS {
        return Err(Error::TooMany { what: "KEY_PROOF pairs", count: ids.len(), max: MAX_KEY_PROOFS });
    }
    let proofs = ids.iter().map(|id| existence_proof(state, &id.id())).collect::<Result<Vec<_>, _>>()?;
    let mut out = String::new();
    json::array(&mut out, &proofs, |o, p| o.push_str(p));
    Ok(out.into_bytes().into())
}

/// `TEE_BACKUP`: a fresh backup of the key, as [`backup::WalletBackup::to_blob`] (at most
/// `MAX_BACKUP_DATA_LEN`); the proxy renders Flare's JSON from it.
pub fn tee_backup(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    let id: KeyIdJson = json::parse(&action.instruction.original_message, "TEE_BACKUP request")?;
    let key = id.id();
    let wallet = state.wallets.get(&key).ok_or(Error::OperationFailed { reason: "wallet key not stored" })?;
    let policy = state.policies.active().ok_or(Error::PolicyNotInitialized)?;
    let mut providers = Vec::with_capacity(policy.voters().len());
    let mut weights = Vec::with_capacity(policy.voters().len());
    for v in policy.voters() {
        let key = state
            .verifier
            .public_key(&v.address)
            .ok_or(Error::OperationFailed { reason: "a provider's public key is unknown (offer the policy's keys)" })?;
        providers.push(key);
        weights.push(v.weight);
    }
    let b = backup::backup_wallet(
        wallet,
        &providers,
        &weights,
        policy.reward_epoch_id(),
        &state.identity,
        state.config.chain_id,
        &mut state.rng,
    )?;
    state.wallets.note_backup(&key, b.content_hash());
    Ok(b.to_blob().into())
}

/// `KEY_BACKUP_HEARTBEAT`: the registry's heartbeat for a key this TEE holds, naming its latest
/// backup since boot, for its own extension; the action's id must be the registry's `backupId`.
pub fn key_backup_heartbeat(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    let d = &action.instruction;
    let h = Heartbeat::parse(&d.original_message)?;
    let r = state.config.registration.ok_or(Error::OperationFailed { reason: "no registration configured" })?;
    if h.extension_id != r.extension_id {
        return Err(Error::OperationFailed { reason: "extension id is not this TEE's" });
    }
    if d.instruction_id != h.backup_id(state.config.chain_id) {
        return Err(Error::Malformed { what: "instruction id (not the registry's backupId)" });
    }
    let wallet = state.wallets.get(&h.id).ok_or(Error::OperationFailed { reason: "wallet key not stored" })?;
    match wallet.latest_backup {
        None => Err(Error::OperationFailed { reason: "no backup of this key since boot (ask F_GET/TEE_BACKUP first)" }),
        Some(latest) if latest != h.backup_hash => {
            Err(Error::OperationFailed { reason: "backupHash is not this key's latest backup" })
        }
        Some(_) => Ok(h.data(&wallet.address()).into()),
    }
}

/// A restore's provider threshold in bips: more than 70 % of the weight. Flare's is zero (the
/// Shamir threshold of 666 of 1,000 shares decides at the end of voting); ours executes at the
/// threshold, so it waits until the voters hold two thirds of the weight with a margin for the
/// rounding of the normalised shares — at the default rule's 50 % it would run, and fail, before
/// enough splits could have arrived.
pub const RESTORE_THRESHOLD_BIPS: u16 = 7000;

/// [`RESTORE_THRESHOLD_BIPS`] as the operation's threshold rule.
pub fn restore_threshold(_: &crate::instruction::InstructionData) -> Result<u16, Error> {
    Ok(RESTORE_THRESHOLD_BIPS)
}

/// `KEY_DATA_PROVIDER_RESTORE`.
pub fn key_restore(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    let d = &action.instruction;
    let req = codec::decode_restore(&d.original_message)?;
    if req.tee_public_key != *state.identity.public_key() {
        return Err(Error::OperationFailed { reason: "restore is for another TEE" });
    }
    if !supported_algo(&req.backup_id.signing_algo) {
        return Err(Error::OperationFailed { reason: "signing algorithm not supported" });
    }
    let metadata = Metadata::parse(&d.additional_fixed_message)?;
    if metadata.backup_id.encode() != req.backup_id.encode() {
        return Err(Error::OperationFailed { reason: "backup metadata is of another backup" });
    }
    if u64::from(metadata.backup_id.reward_epoch_id) > u64::from(d.reward_epoch_id) + 1 {
        return Err(Error::OperationFailed { reason: "backup from a future reward epoch" });
    }
    // The admins are the instruction's cosigners: exactly them, with the backup's threshold.
    let mut admins = metadata.admins.iter().map(crate::wallet::address_of_xy).collect::<Vec<_>>();
    admins.sort_unstable();
    let before = admins.len();
    admins.dedup();
    let mut cosigners = d.cosigners.clone();
    cosigners.sort_unstable();
    if admins.len() != before || admins != cosigners || d.cosigners_threshold != metadata.admins_threshold {
        return Err(Error::OperationFailed {
            reason: "cosigners must be the backup's admins with its admin threshold",
        });
    }
    let id = req.backup_id.id;
    if state.wallets.exists(&id) {
        return Err(Error::OperationFailed { reason: "wallet with given wallet-key id already exists" });
    }
    state.wallets.check_nonce(&id, req.nonce)?;
    state.wallets.check_insert(&id)?;
    let messages: Vec<&[u8]> = action.votes.iter().map(|v| v.additional_variable_message.as_slice()).collect();
    let restored =
        state.identity.with_secret(|secret| backup::restore(&metadata, &messages, secret, state.config.chain_id))?;
    let config = crate::wallet::ConfigConstants {
        admins: metadata.admins.clone(),
        admins_threshold: metadata.admins_threshold,
        cosigners: metadata.cosigners.clone(),
        cosigners_threshold: metadata.cosigners_threshold,
    };
    let b = &metadata.backup_id;
    let wallet = Wallet::new(id, b.key_type, b.signing_algo, restored.secret, true, config);
    state.wallets.insert(wallet, req.nonce)?;
    let data = existence_proof(state, &id)?.into_bytes();
    Ok(Output { data, status: bounded_status(&restored.errors) })
}

/// The restore status JSON with as many of the skipped messages as fit `MAX_REASON_LEN`.
fn bounded_status(errors: &[(usize, &'static str)]) -> Vec<u8> {
    let mut n = errors.len();
    loop {
        let s = backup::restore_status_json(&errors[..n]);
        if s.len() <= MAX_REASON_LEN || n == 0 {
            return s.into_bytes();
        }
        n -= 1;
    }
}

/// `F_GOVERNANCE/SET_MACHINE_PATH_LIST` (direct): the governance-signed machine paths
/// (`wallet::direct`); result data empty.
pub fn set_machine_path_list(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    let r =
        state.config.registration.ok_or(Error::OperationFailed { reason: "no governance configured for this TEE" })?;
    state.paths.set(&action.instruction.original_message, &r.governance, &r.extension_id, state.config.chain_id)?;
    Ok(Output::default())
}

/// `KEY_DIRECT_BACKUP`: this TEE's key, encrypted to a destination TEE a governance path allows,
/// as the signed envelope `{"payload":"0x…","teeSignature":"0x…"}`. The key stays here.
pub fn key_direct_backup(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    use crate::wallet::direct::{self, KeyDirectBackup};
    let req = KeyDirectBackup::decode(&action.instruction.original_message)?;
    let me = state.identity.address();
    if req.source != me {
        return Err(Error::OperationFailed { reason: "KEY_DIRECT_BACKUP is for another source TEE" });
    }
    if req.path_nonce != state.paths.nonce() {
        return Err(Error::OperationFailed { reason: "machine-path-list nonce is not the current one" });
    }
    let destination = direct::destination_id(&req.destination)?;
    if !state.paths.authorizes(&me, &destination) {
        return Err(Error::OperationFailed { reason: "no machine path from this TEE to the destination" });
    }
    let wallet = state.wallets.get(&req.id).ok_or(Error::OperationFailed { reason: "wallet key not stored" })?;
    let epoch = state.policies.active().ok_or(Error::PolicyNotInitialized)?.reward_epoch_id();
    let mut random_nonce = [0u8; 32];
    rand_core::TryRng::try_fill_bytes(&mut state.rng, &mut random_nonce).map_err(|_| Error::EntropyUnavailable)?;
    let backup_id = crate::wallet::codec::BackupId {
        tee_id: me,
        id: wallet.id,
        public_key: wallet.public,
        key_type: wallet.key_type,
        signing_algo: wallet.signing_algo,
        reward_epoch_id: epoch,
        random_nonce,
    };
    let secret = zeroize::Zeroizing::new(<[u8; 32]>::from(wallet.secret_scalar().to_bytes()));
    let encrypted = crate::wallet::ecies::encrypt(&mut state.rng, &req.destination, &*secret, &[], &[])?;
    let nonce = state.wallets.nonce(&req.id).unwrap_or(0);
    let payload = direct::payload_json(&backup_id, &encrypted, wallet, nonce);
    let signature = state.identity.sign_digest(&direct::envelope_digest(state.config.chain_id, payload.as_bytes()));
    Ok(direct::envelope_json(payload.as_bytes(), &signature).into_bytes().into())
}

/// `KEY_DIRECT_RESTORE`: the key a source TEE encrypted to this one (the envelope is the
/// additional fixed message), along a governance path; → its existence proof.
pub fn key_direct_restore(state: &mut TeeState, action: &Action, _: &mut dyn Attester) -> Result<Output, Error> {
    use crate::wallet::direct;
    let d = &action.instruction;
    let req = direct::decode_direct_restore(&d.original_message)?;
    let me = state.identity.address();
    if req.backup_id.tee_id != req.source {
        return Err(Error::OperationFailed { reason: "the backup is not of the source TEE" });
    }
    if req.path_nonce > state.paths.nonce() {
        return Err(Error::OperationFailed {
            reason: "machine-path-list nonce ahead of this TEE's (stale node state)",
        });
    }
    if !state.paths.authorizes(&req.source, &me) {
        return Err(Error::OperationFailed { reason: "no machine path from the source TEE to this one" });
    }
    if !supported_algo(&req.backup_id.signing_algo) {
        return Err(Error::OperationFailed { reason: "signing algorithm not supported" });
    }
    let opened = direct::open_envelope(&d.additional_fixed_message, &req.source, state.config.chain_id)?;
    if opened.backup_id.encode() != req.backup_id.encode() {
        return Err(Error::OperationFailed { reason: "the envelope is of another backup" });
    }
    let epoch = state.policies.active().ok_or(Error::PolicyNotInitialized)?.reward_epoch_id();
    let b = opened.backup_id.reward_epoch_id;
    if epoch != b && u64::from(epoch) != u64::from(b) + 1 {
        return Err(Error::OperationFailed { reason: "the direct backup is not from this or the previous epoch" });
    }
    opened.config.check()?;
    let id = req.backup_id.id;
    if state.wallets.exists(&id) {
        return Err(Error::OperationFailed { reason: "wallet with given wallet-key id already exists" });
    }
    state.wallets.check_nonce(&id, req.destination_nonce)?;
    state.wallets.check_insert(&id)?;
    let plain = state.identity.decrypt(&opened.encrypted)?;
    let secret: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| Error::OperationFailed { reason: "the encrypted key is not 32 bytes" })?;
    let secret = k256::SecretKey::from_bytes(&secret.into())
        .map_err(|_| Error::OperationFailed { reason: "the encrypted key is not a valid secret" })?;
    let b = &opened.backup_id;
    let mut wallet = Wallet::new(id, b.key_type, b.signing_algo, secret, true, opened.config);
    if wallet.public != b.public_key {
        return Err(Error::OperationFailed { reason: "the decrypted key is not the backed-up one" });
    }
    (wallet.settings_version, wallet.settings) = opened.settings;
    state.wallets.insert(wallet, req.destination_nonce)?;
    Ok(existence_proof(state, &id)?.into_bytes().into())
}
