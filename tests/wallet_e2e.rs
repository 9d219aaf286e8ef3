//! Wallet keys end to end with the real guest ROM in QEMU behind the real proxy, one proxy per
//! machine as Flare deploys them: guest A generates a key on the providers' votes and backs it
//! up through its proxy; A is killed for good; guest B, a fresh machine behind its own proxy,
//! restores the key from the providers' and admins' splits (each opened with its owner's key and
//! re-encrypted to B, as Flare's relay does) and then signs with it. Below the Shamir threshold
//! the restore fails cleanly; a tampered split is skipped; an unsupported key type is refused.
//! The wallet key's signature on B's backup is recovered with alloy, not fcc-core.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use fcc_core::identity::TeeIdentity;
use fcc_core::instruction::InstructionData;
use fcc_core::result::{SignedResult, status};
use fcc_core::wallet::backup::WalletBackup;
use fcc_devnet::process::Api;
use fcc_e2e::flare::{self, CHAIN_ID, EPOCH};
use fcc_e2e::stack::{InProcess, test_config};
use fcc_e2e::{TIMEOUT, boot_networked, run_checked};
use fcc_sim_providers::Provider;
use fcc_sim_providers::client::ProxyClient;
use serde_json::Value;

const RESULT_TIMEOUT: Duration = Duration::from_secs(120);
const WALLET: [u8; 32] = [0x77; 32];
const PROVIDERS: usize = 20;

/// Three admins, two of whom rebuild the admin part (they vote as cosigners: no stake).
fn admins() -> Vec<Provider> {
    (1..=3u8)
        .map(|i| Provider { key: TeeIdentity::from_secret_for_tests(&[0xa0 + i; 32]).unwrap(), stake: 0 })
        .collect()
}

/// A proxy with the providers' policy as its trust root, and the action that set it.
fn proxy(ps: &[Provider], label: &str) -> (InProcess, [u8; 32]) {
    let proxy = InProcess::start(test_config(CHAIN_ID)).unwrap();
    let store = proxy.running().shared.store.clone();
    let id = proxy
        .block_on(async {
            let policy = flare::policy(ps)?;
            store.put_policy(EPOCH, &policy.encode()).await?;
            let mut init = flare::initialize_policy(ps, &policy)?;
            init.instruction.instruction_id = fcc_core::hash::keccak256(label.as_bytes());
            store.enqueue_direct(&init, 0).await?;
            anyhow::Ok(init.instruction.instruction_id)
        })
        .unwrap();
    (proxy, id)
}

/// Each voter posts its vote with its message (`avm` of its index; none: an empty one), then each
/// cosigner with its own.
async fn vote(
    api: &Api,
    voters: &[(&Provider, Vec<u8>)],
    cosigners: &[(&Provider, Vec<u8>)],
    d: &InstructionData,
) -> Result<()> {
    let c = ProxyClient::new(&api.base, CHAIN_ID, Duration::from_secs(30))?;
    for group in [voters, cosigners] {
        for (i, (p, avm)) in group.iter().enumerate() {
            c.post_vote_with(i, p, d, avm, None).await.with_context(|| format!("vote {i}"))?;
        }
    }
    Ok(())
}

async fn result(api: &Api, d: &InstructionData) -> Result<SignedResult> {
    Ok(api.wait_result(&d.instruction_id, RESULT_TIMEOUT).await?.0)
}

/// The public key `x ‖ y` in a signed existence proof (`keyExistence` word 13 on), and whether
/// it says restored (word 8).
fn proven_key(r: &SignedResult) -> Result<([u8; 64], bool)> {
    ensure!(r.result.status == status::SUCCESS, "refused: {}", r.result.log);
    let proof: Value = serde_json::from_slice(&r.result.data)?;
    let abi = hex::decode(proof["keyExistence"].as_str().context("keyExistence")?.trim_start_matches("0x"))?;
    Ok((abi[13 * 32..15 * 32].try_into()?, abi[8 * 32 + 31] == 1))
}

async fn backup_of(api: &Api) -> Result<(String, String)> {
    let http = reqwest::Client::new();
    let wallet = format!("0x{}", hex::encode(WALLET));
    let made: Value = http
        .post(format!("{}/wallet/backup", api.base))
        .json(&serde_json::json!({"walletId": wallet, "keyId": 1}))
        .send()
        .await?
        .json()
        .await?;
    let url = format!("{}{}", api.base, made["path"].as_str().with_context(|| format!("{made}"))?);
    let body = http.get(&url).send().await?.text().await?;
    Ok((url, body))
}

#[test]
fn a_key_backed_up_by_a_dead_tee_is_restored_in_another_that_signs_with_it() {
    let ps = flare::providers(PROVIDERS).unwrap();
    let admins = admins();
    let admin_keys: Vec<[u8; 64]> = admins.iter().map(|a| *a.key.public_key()).collect();

    // TEE A: the key generated on the providers' votes, then backed up.
    let (proxy_a, init_a) = proxy(&ps, "wallet e2e trust root A");
    let (mut guest_a, tee_a) = boot_networked(proxy_a.link_port());
    let mut kept = None;
    run_checked(&mut guest_a, |_| {
        proxy_a.block_on(async {
            let api = &proxy_a.api;
            api.wait_result(&init_a, RESULT_TIMEOUT).await?;
            let voters: Vec<(&Provider, Vec<u8>)> = ps.iter().map(|p| (p, vec![])).collect();
            // An unsupported key type is refused (executed: the signed error is its result).
            let mut vrf = fcc_sim_providers::key_generate_instruction(tee_a, "vrf", EPOCH, (WALLET, 9), &admin_keys, 2);
            vrf.original_message = vrf_key(&vrf.original_message);
            vote(api, &voters, &[], &vrf).await?;
            let r = result(api, &vrf).await?;
            ensure!(r.result.log.contains("signing algorithm not supported"), "VRF key: {}", r.result.log);

            let d = fcc_sim_providers::key_generate_instruction(tee_a, "generate", EPOCH, (WALLET, 1), &admin_keys, 2);
            vote(api, &voters, &[], &d).await?;
            let (key, restored) = proven_key(&result(api, &d).await?)?;
            ensure!(!restored);
            let (url, body) = backup_of(api).await?;
            eprintln!(
                "TEE A made key 0x{}…; its backup ({} bytes of JSON) at {url}",
                hex::encode(&key[..8]),
                body.len()
            );
            kept = Some((key, url, body));
            Ok(())
        })
    });
    drop(guest_a); // killed for good: its memory, and the key in it, are gone
    let (key, url, body) = kept.unwrap();
    let backup = WalletBackup::from_response_json(body.as_bytes(), CHAIN_ID).unwrap();

    // TEE B: a fresh machine behind its own proxy.
    let (proxy_b, init_b) = proxy(&ps, "wallet e2e trust root B");
    let (mut guest_b, tee_b) = boot_networked(proxy_b.link_port());
    assert_ne!(tee_a, tee_b);
    run_checked(&mut guest_b, |_| {
        proxy_b.block_on(async {
            let api = &proxy_b.api;
            api.wait_result(&init_b, RESULT_TIMEOUT).await?;
            let info = api.wait_info(TIMEOUT).await?;
            let b_public: [u8; 64] =
                hex::decode(info["publicKey"].as_str().context("publicKey")?.trim_start_matches("0x"))?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("publicKey"))?;
            let mut rng = rand::rng();
            let mut messages = Vec::new();
            for p in ps.iter().chain(&admins) {
                messages
                    .push(fcc_sim_providers::wallet::restore_message(&backup, &p.key, &b_public, CHAIN_ID, &mut rng)?);
            }
            ensure!(messages.iter().all(Option::is_some), "every provider and admin holds a split");
            let message = |i: usize| messages[i].clone().unwrap();
            let weights = &backup.provider.weights;

            // Below the Shamir threshold: the providers whose shares make up less than 666 send
            // theirs (the others vote without), with two admins.
            let mut shares = 0u32;
            let voters: Vec<(&Provider, Vec<u8>)> = ps
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let give = shares + u32::from(weights[i]) < 666;
                    if give {
                        shares += u32::from(weights[i]);
                    }
                    (p, if give { message(i) } else { vec![] })
                })
                .collect();
            let cosigners: Vec<(&Provider, Vec<u8>)> = (0..2).map(|j| (&admins[j], message(PROVIDERS + j))).collect();
            let short =
                fcc_sim_providers::wallet::restore_instruction("restore short", &b_public, &backup, &url, 1, EPOCH);
            vote(api, &voters, &cosigners, &short).await?;
            let r = result(api, &short).await?;
            eprintln!("restore with {shares} of 1000 provider shares: {}", r.result.log);
            ensure!(
                r.result.status == status::ERROR && r.result.log.contains("not enough provider shares"),
                "{}",
                r.result.log
            );

            // Every split, one of them tampered with: it is skipped and the key comes back.
            let mut voters: Vec<(&Provider, Vec<u8>)> = ps.iter().enumerate().map(|(i, p)| (p, message(i))).collect();
            let last = voters[3].1.len() - 1;
            voters[3].1[last] ^= 1;
            let d = fcc_sim_providers::wallet::restore_instruction("restore", &b_public, &backup, &url, 1, EPOCH);
            vote(api, &voters, &cosigners, &d).await?;
            let r = result(api, &d).await?;
            let (restored_key, restored) = proven_key(&r)?;
            ensure!(restored_key == key && restored, "TEE B holds another key");
            let skipped: Value = serde_json::from_slice(&r.result.additional_result_status)?;
            eprintln!("restored in TEE B; skipped: {skipped}");
            ensure!(skipped["ErrorPositions"] == serde_json::json!([3]), "{skipped}");

            // B signs with the key: its own backup carries the wallet key's signature.
            let (_, body) = backup_of(api).await?;
            let again = WalletBackup::from_response_json(body.as_bytes(), CHAIN_ID)?;
            ensure!(again.metadata.backup_id.tee_id == tee_b);
            let signer = wallet_signer(&again)?;
            let address = fcc_core::wallet::address_of_xy(&key);
            ensure!(signer == address, "B's wallet signature recovers to 0x{}", hex::encode(signer));
            eprintln!("TEE B signed with the restored key 0x{} (alloy ecrecover)", hex::encode(address));
            Ok(())
        })
    });
}

/// The address alloy recovers from the backup's wallet signature over keccak256(Payload{
/// PMW_WALLET_BACKUP, chainId, keccak256(backup JSON without its signatures)}).
fn wallet_signer(b: &WalletBackup) -> Result<[u8; 20]> {
    use alloy::primitives::{B256, U256, keccak256};
    let mut payload = [0u8; 96];
    payload[..17].copy_from_slice(b"PMW_WALLET_BACKUP");
    payload[32..64].copy_from_slice(&U256::from(CHAIN_ID).to_be_bytes::<32>());
    payload[64..].copy_from_slice(&b.content_hash());
    let digest = keccak256(keccak256(payload));
    let sig = alloy::primitives::Signature::from_raw(&b.signature)?;
    Ok(sig.recover_address_from_prehash(&B256::from(digest))?.into_array())
}

/// The same `KeyGenerate` asking for a VRF key (`signingAlgo`, word 5 after the head).
fn vrf_key(msg: &[u8]) -> Vec<u8> {
    let mut m = msg.to_vec();
    m[5 * 32..6 * 32].copy_from_slice(&fcc_core::wallet::VRF_ALGO);
    m
}

/// On a platform that seals (plain QEMU's simulated sealing stands in for SEV-SNP's), a wallet
/// key survives a reboot: the guest sends its sealed state ahead of the key's existence proof,
/// the proxy keeps it, and the guest booted again from it is the same TEE with the same key —
/// its next backup carries that key's signature.
#[test]
fn a_wallet_key_survives_a_reboot_in_the_sealed_state() {
    let ps = flare::providers(PROVIDERS).unwrap();
    let admin_keys: Vec<[u8; 64]> = admins().iter().map(|a| *a.key.public_key()).collect();
    let dir = tempfile::tempdir().unwrap();
    let (root, init_id) = flare::trust_root_file(dir.path(), &ps, true);
    let sealed = dir.path().join("sealed-state.bin");
    let proxy = InProcess::start(fcc_proxy::Config {
        trust_root: Some(root),
        sealed_state: Some(sealed.clone()),
        ..test_config(CHAIN_ID)
    })
    .unwrap();
    let api = proxy.api.clone();
    let options = fcc_e2e::options().network(proxy.link_port()).sealed_state(&sealed);
    let (mut first, tee) = fcc_e2e::boot_ready(&options);
    let mut key = None;
    run_checked(&mut first, |_| {
        proxy.block_on(async {
            api.wait_result(&init_id, RESULT_TIMEOUT).await?;
            let voters: Vec<(&Provider, Vec<u8>)> = ps.iter().map(|p| (p, vec![])).collect();
            let d = fcc_sim_providers::key_generate_instruction(tee, "sealed key", EPOCH, (WALLET, 1), &admin_keys, 2);
            vote(&api, &voters, &[], &d).await?;
            key = Some(proven_key(&result(&api, &d).await?)?.0);
            Ok(())
        })
    });
    // The proof was stored after the state that holds the key was kept: kill the guest now.
    let blob = std::fs::read(&sealed).unwrap();
    drop(first);
    let key = key.unwrap();
    let config = fcc_core::Config {
        chain_id: CHAIN_ID,
        policy_hash: fcc_core::policy::PolicyHashScheme::ChainBound { chain_id: CHAIN_ID },
        registration: None,
    };
    let state = fcc_core::seal::SealingKey::simulated(&config).open(&blob).expect("the kept state opens");
    let store = fcc_core::wallet::WalletStore::from_snapshot(&state.wallets).unwrap();
    let kept = fcc_core::wallet::KeyIdPair { wallet_id: WALLET, key_id: 1 };
    assert_eq!(store.get(&kept).map(|w| w.public), Some(key), "the kept state holds the key");

    let (mut second, again) = fcc_e2e::boot_ready(&options);
    assert_eq!(again, tee, "the same TEE");
    assert!(second.console().contains("SEALED resumed"), "{}", second.console());
    run_checked(&mut second, |_| {
        proxy.block_on(async {
            // The proxy replays the trust root (with the providers' keys) to the resumed guest;
            // a backup needs them, so it is asked for until the guest has them again.
            let deadline = std::time::Instant::now() + RESULT_TIMEOUT;
            let body = loop {
                match backup_of(&api).await {
                    Ok((_, body)) => break body,
                    Err(e) if std::time::Instant::now() < deadline => {
                        eprintln!("backup not yet: {e:#}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            let backup = WalletBackup::from_response_json(body.as_bytes(), CHAIN_ID)?;
            ensure!(backup.metadata.backup_id.public_key == key, "another key after the reboot");
            ensure!(wallet_signer(&backup)? == fcc_core::wallet::address_of_xy(&key), "not signed by the key");
            eprintln!(
                "after the reboot the TEE still signs with 0x{}",
                hex::encode(fcc_core::wallet::address_of_xy(&key))
            );
            Ok(())
        })
    });
}
