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

async fn backup_of(api: &Api) -> Result<(String, String)> {
    let made = api.wallet_backup(&fcc_core::wallet::KeyIdPair { wallet_id: WALLET, key_id: 1 }).await?;
    Ok((made.url, made.json))
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
            let (key, restored) = fcc_sim_providers::wallet::proven_key(&result(api, &d).await?)?;
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
            let (restored_key, restored) = fcc_sim_providers::wallet::proven_key(&r)?;
            ensure!(restored_key == key && restored, "TEE B holds another key");
            let skipped: Value = serde_json::from_slice(&r.result.additional_result_status)?;
            eprintln!("restored in TEE B; skipped: {skipped}");
            ensure!(skipped["ErrorPositions"] == serde_json::json!([3]), "{skipped}");

            // B signs with the key: its own backup carries the wallet key's signature.
            let (_, body) = backup_of(api).await?;
            let again = WalletBackup::from_response_json(body.as_bytes(), CHAIN_ID)?;
            ensure!(again.metadata.backup_id.tee_id == tee_b);
            let signer = fcc_sim_providers::wallet::backup_signer(&again, CHAIN_ID)?;
            let address = fcc_core::wallet::address_of_xy(&key);
            ensure!(signer == address, "B's wallet signature recovers to 0x{}", hex::encode(signer));
            eprintln!("TEE B signed with the restored key 0x{} (alloy ecrecover)", hex::encode(address));
            Ok(())
        })
    });
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
    let (proxy, init_id, sealed) = InProcess::with_sealed_state(dir.path(), &ps, true).unwrap();
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
            key = Some(fcc_sim_providers::wallet::proven_key(&result(&api, &d).await?)?.0);
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
            ensure!(
                fcc_sim_providers::wallet::backup_signer(&backup, CHAIN_ID)? == fcc_core::wallet::address_of_xy(&key),
                "not signed by the key"
            );
            eprintln!(
                "after the reboot the TEE still signs with 0x{}",
                hex::encode(fcc_core::wallet::address_of_xy(&key))
            );
            Ok(())
        })
    });
}

/// The governance of the direct-transfer test: three keys, two of them needed.
fn governors() -> Vec<TeeIdentity> {
    (1..=3u8).map(|i| TeeIdentity::from_secret_for_tests(&[0xc0 + i; 32]).unwrap()).collect()
}

const EXTENSION: u64 = 7;

/// Flare's `SET_MACHINE_PATH_LIST` request: one path `sources` → `destinations` at `nonce`,
/// signed by governors 0 and 2.
fn path_list(sources: &[[u8; 20]], destinations: &[[u8; 20]], nonce: u64) -> Vec<u8> {
    use base64::Engine;
    use fcc_core::wallet::direct::{MachinePath, path_list_hash};
    let mut ext = [0u8; 32];
    ext[24..].copy_from_slice(&EXTENSION.to_be_bytes());
    let paths = [MachinePath { sources: sources.to_vec(), destinations: destinations.to_vec() }];
    let digest = fcc_core::hash::eip191_hash(&path_list_hash(CHAIN_ID, &ext, nonce, &paths));
    let g = governors();
    let signatures: Vec<String> = [&g[0], &g[2]]
        .iter()
        .map(|k| base64::engine::general_purpose::STANDARD.encode(k.sign_digest(&digest)))
        .collect();
    let hexes = |a: &[[u8; 20]]| a.iter().map(|x| format!("0x{}", hex::encode(x))).collect::<Vec<_>>();
    serde_json::to_vec(&serde_json::json!({
        "Paths": [{"SourceTeeIds": hexes(sources), "DestinationTeeIds": hexes(destinations)}],
        "Nonce": nonce,
        "Signatures": signatures,
    }))
    .unwrap()
}

/// Governance lets keys move from A to C only. A's key reaches C (encrypted to C's attested
/// key, in A's signed envelope), which signs with it; a move to D — a machine of the same
/// extension, not on the path — and one with a stale path nonce are refused.
#[test]
fn a_key_moves_directly_only_along_the_governance_path() {
    use fcc_core::wallet::KeyIdPair;
    use fcc_core::wallet::direct::{KeyDirectBackup, KeyDirectRestore};
    let ps = flare::providers(PROVIDERS).unwrap();
    let voters: Vec<(&Provider, Vec<u8>)> = ps.iter().map(|p| (p, vec![])).collect();
    let g = governors();
    let governance =
        format!("2:{}", g.iter().map(|k| format!("0x{}", hex::encode(k.address()))).collect::<Vec<_>>().join(","));
    let machine = |label: &str| {
        let (proxy, init) = proxy(&ps, label);
        let options = fcc_e2e::options()
            .network(proxy.link_port())
            .fw_cfg(fcc_layout::interface::FW_CFG_EXTENSION_ID, &EXTENSION.to_string())
            .fw_cfg(fcc_layout::interface::FW_CFG_OWNER, "0x00000000000000000000000000000000000000b0")
            .fw_cfg(fcc_layout::interface::FW_CFG_GOVERNANCE, &governance);
        let (mut guest, tee) = fcc_e2e::boot_ready(&options);
        let console = guest.console();
        assert!(console.contains("governance 2 of 3 signers"), "{console}");
        proxy.block_on(proxy.api.wait_result(&init, RESULT_TIMEOUT)).unwrap();
        (proxy, guest, tee)
    };
    let (proxy_a, mut guest_a, tee_a) = machine("direct A");
    let (proxy_c, mut guest_c, tee_c) = machine("direct C");
    let (proxy_d, mut guest_d, tee_d) = machine("direct D");
    let public = |proxy: &InProcess| -> [u8; 64] {
        let info = proxy.block_on(proxy.api.wait_info(TIMEOUT)).unwrap();
        hex::decode(info["publicKey"].as_str().unwrap().trim_start_matches("0x")).unwrap().try_into().unwrap()
    };
    let (c_public, d_public) = (public(&proxy_c), public(&proxy_d));
    let list = path_list(&[tee_a], &[tee_c], 1);
    let post_list = |p: &InProcess| {
        p.block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{}/governance/machine-paths", p.api.base))
                .body(list.clone())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    for p in [&proxy_a, &proxy_c, &proxy_d] {
        let (code, body) = post_list(p);
        assert_eq!(code, 200, "{body}");
    }
    // The same body again: the stored answer, not a second (refused) action.
    assert_eq!(post_list(&proxy_a).0, 200);

    let key = KeyIdPair { wallet_id: WALLET, key_id: 1 };
    let mut envelope = Vec::new();
    let mut backup_id = None;
    let mut key_public = [0u8; 64];
    let mut move_id = [0u8; 32];
    run_checked(&mut guest_a, |_| {
        proxy_a.block_on(async {
            let api = &proxy_a.api;
            let d = fcc_sim_providers::key_generate_instruction(
                tee_a,
                "direct key",
                EPOCH,
                (WALLET, 1),
                &[*g[0].public_key()],
                1,
            );
            vote(api, &voters, &[], &d).await?;
            key_public = fcc_sim_providers::wallet::proven_key(&result(api, &d).await?)?.0;
            let move_to = |to: [u8; 64], nonce: u64, label: &str| {
                let mut d = fcc_sim_providers::key_generate_instruction(tee_a, label, EPOCH, (WALLET, 1), &[], 0);
                d.op_command = fcc_core::op::KEY_DIRECT_BACKUP;
                d.original_message =
                    KeyDirectBackup { source: tee_a, id: key, destination: to, path_nonce: nonce }.encode();
                d
            };
            for (d, why) in [
                (move_to(d_public, 1, "to D"), "no machine path from this TEE"),
                (move_to(c_public, 0, "stale nonce"), "not the current one"),
            ] {
                vote(api, &voters, &[], &d).await?;
                let r = result(api, &d).await?;
                ensure!(r.result.status == status::ERROR && r.result.log.contains(why), "{why}: {}", r.result.log);
            }
            let d = move_to(c_public, 1, "to C");
            vote(api, &voters, &[], &d).await?;
            let r = result(api, &d).await?;
            ensure!(r.result.status == status::SUCCESS, "{}", r.result.log);
            envelope = r.result.data.clone();
            move_id = d.instruction_id;
            let e: Value = serde_json::from_slice(&envelope)?;
            let payload = hex::decode(e["payload"].as_str().context("payload")?.trim_start_matches("0x"))?;
            let p: Value = serde_json::from_slice(&payload)?;
            backup_id = Some(p["backupId"].clone());
            Ok(())
        })
    });
    let b = backup_id.unwrap();
    let h = |k: &str| hex::decode(b[k].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let id = fcc_core::wallet::codec::BackupId {
        tee_id: tee_a,
        id: key,
        public_key: key_public,
        key_type: fcc_core::wallet::KEY_TYPE_EVM,
        signing_algo: fcc_core::wallet::EVM_SIGN_ALGO,
        reward_epoch_id: b["rewardEpochId"].as_u64().unwrap() as u32,
        random_nonce: h("randomNonce").try_into().unwrap(),
    };
    let restore = |tee: [u8; 20], label: &str| {
        let mut d = fcc_sim_providers::key_generate_instruction(tee, label, EPOCH, (WALLET, 1), &[], 0);
        d.op_command = fcc_core::op::KEY_DIRECT_RESTORE;
        d.original_message = KeyDirectRestore {
            source: tee_a,
            source_proxy_url: proxy_a.api.base.as_bytes(),
            backup_id: id.clone(),
            backup_instruction_id: move_id,
            destination_nonce: 1,
            path_nonce: 1,
        }
        .encode();
        d.additional_fixed_message = envelope.clone();
        d
    };
    run_checked(&mut guest_d, |_| {
        proxy_d.block_on(async {
            let d = restore(tee_d, "restore at D");
            vote(&proxy_d.api, &voters, &[], &d).await?;
            let r = result(&proxy_d.api, &d).await?;
            ensure!(r.result.log.contains("no machine path from the source TEE"), "D: {}", r.result.log);
            Ok(())
        })
    });
    run_checked(&mut guest_c, |_| {
        proxy_c.block_on(async {
            let api = &proxy_c.api;
            let d = restore(tee_c, "restore at C");
            vote(api, &voters, &[], &d).await?;
            let (restored, was_restored) = fcc_sim_providers::wallet::proven_key(&result(api, &d).await?)?;
            ensure!(restored == key_public && was_restored, "C holds another key");
            // C signs with it: its backup's wallet signature (alloy ecrecover).
            let (_, body) = backup_of(api).await?;
            let backup = WalletBackup::from_response_json(body.as_bytes(), CHAIN_ID)?;
            ensure!(
                fcc_sim_providers::wallet::backup_signer(&backup, CHAIN_ID)?
                    == fcc_core::wallet::address_of_xy(&key_public),
                "not signed by the key"
            );
            eprintln!("A's key moved to C along the governance path; C signs with it");
            Ok(())
        })
    });
}
