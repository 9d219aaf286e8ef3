//! The data providers' and admins' side of a wallet restore (Flare's relay client does this in
//! `internal/router/processors/backup.go`): check the fetched backup, open one's own key split
//! with one's own key, re-encrypt it to the restoring TEE, and the restore instruction itself.

use anyhow::{Context, Result, bail};
use fcc_core::identity::TeeIdentity;
use fcc_core::instruction::InstructionData;
use fcc_core::op;
use fcc_core::wallet::backup::{WalletBackup, parse_splits};
use fcc_core::wallet::codec::KeyDataProviderRestore;
use fcc_core::wallet::{address_of_xy, ecies};
use rand_core::TryCryptoRng;

/// What `me` sends in its vote on a restore to the TEE with public key `to`: its split (or, if
/// it holds a provider split and an admin split, the JSON array of both), each checked against
/// the backup and the wallet key's signature, ECIES-encrypted to `to`. `None`: `me` holds no
/// split of this backup.
pub fn restore_message(
    backup: &WalletBackup,
    me: &TeeIdentity,
    to: &[u8; 64],
    chain_id: u64,
    rng: &mut impl TryCryptoRng,
) -> Result<Option<Vec<u8>>> {
    let mut plaintexts = Vec::new();
    for part in [&backup.provider, &backup.admin] {
        let Some(i) = part.owners.iter().position(|o| o == me.public_key()) else { continue };
        let plain = me.decrypt(&part.splits[i]).context("my key split does not decrypt")?;
        let splits = parse_splits(&plain).context("my key split")?;
        for s in &splits {
            s.verify(&backup.metadata.backup_id, chain_id).context("my key split does not verify")?;
        }
        plaintexts.push(String::from_utf8(plain.to_vec()).context("key split JSON")?);
    }
    let message = match plaintexts.as_slice() {
        [] => return Ok(None),
        [one] => one.clone(),
        [provider, admin] => format!("[{provider},{admin}]"),
        _ => bail!("more than two splits"),
    };
    Ok(Some(ecies::encrypt(rng, to, message.as_bytes(), &[], &[]).context("encrypting to the TEE")?))
}

/// The `F_WALLET/KEY_DATA_PROVIDER_RESTORE` instruction (`id` names it) restoring `backup`
/// (fetched from `backup_url`) into the TEE with public key `tee_public`, with record nonce
/// `nonce`: its admins are the cosigners, their threshold the cosigner threshold, the backup's
/// metadata JSON the additional fixed message.
pub fn restore_instruction(
    id: &str,
    tee_public: &[u8; 64],
    backup: &WalletBackup,
    backup_url: &str,
    nonce: u64,
    epoch: u32,
) -> InstructionData {
    let msg = KeyDataProviderRestore {
        tee_public_key: *tee_public,
        backup_id: backup.metadata.backup_id.clone(),
        backup_url: backup_url.as_bytes(),
        nonce,
    };
    InstructionData {
        instruction_id: fcc_core::hash::keccak256(id.as_bytes()),
        tee_id: address_of_xy(tee_public),
        timestamp: 1_760_000_000,
        reward_epoch_id: epoch,
        op_type: op::F_WALLET,
        op_command: op::KEY_DATA_PROVIDER_RESTORE,
        cosigners: backup.metadata.admins.iter().map(address_of_xy).collect(),
        cosigners_threshold: backup.metadata.admins_threshold,
        original_message: msg.encode(),
        additional_fixed_message: backup.metadata.to_json().into_bytes(),
    }
}

/// The address that signed `backup` as its wallet key: recovered (alloy, not fcc-core) from its
/// wallet signature over `keccak256(Payload{PMW_WALLET_BACKUP, chainId, content hash})`, the
/// backup's own proof that its TEE holds the key.
pub fn backup_signer(backup: &WalletBackup, chain_id: u64) -> Result<[u8; 20]> {
    use alloy_primitives::{B256, U256, keccak256};
    let mut payload = [0u8; 96];
    payload[..17].copy_from_slice(b"PMW_WALLET_BACKUP");
    payload[32..64].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    payload[64..].copy_from_slice(&backup.content_hash());
    let digest = keccak256(keccak256(payload));
    let sig = alloy_primitives::Signature::from_raw(&backup.signature)?;
    Ok(sig.recover_address_from_prehash(&B256::from(digest))?.into_array())
}

/// The public key `x ‖ y` a signed existence proof names (`keyExistence` word 13 on), and whether
/// it says restored (word 8); a refusal is its log.
pub fn proven_key(r: &fcc_core::result::SignedResult) -> Result<([u8; 64], bool)> {
    if r.result.status != fcc_core::result::status::SUCCESS {
        bail!("refused: {}", r.result.log);
    }
    let proof: serde_json::Value = serde_json::from_slice(&r.result.data)?;
    let abi = hex::decode(proof["keyExistence"].as_str().context("keyExistence")?.trim_start_matches("0x"))?;
    if abi.len() < 15 * 32 {
        bail!("keyExistence too short");
    }
    Ok((abi[13 * 32..15 * 32].try_into()?, abi[8 * 32 + 31] == 1))
}
