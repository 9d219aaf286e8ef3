//! The guest's memory budget, measured (issue 21 item 4): every structure the core keeps is
//! driven to its bound — the key cache at `MAX_CACHED_KEYS` tables, the replay memory at
//! `REPLAY_CAPACITY` ids, the recent results at `RECENT_RESULTS` results of the largest size,
//! the link's frame reader holding a maximal frame, the decoded actions of one, and the unsent
//! output at `MAX_OUTPUT` — all alive at once, and then a TEE still handles the largest
//! instruction. dhat counts every heap byte; the peak must stay within `HEAP_BUDGET`, which the
//! kernel checks against its heap. Run with `--nocapture` for the table.

mod common;

use common::{Signer, fdc2_request};
use fcc_core::action::{Action, ActionKind};
use fcc_core::attester::Simulated;
use fcc_core::hash::eip191_hash;
use fcc_core::hash::keccak256;
use fcc_core::instruction::InstructionData;
use fcc_core::light_client::{InitializePolicy, PublicKey, UpdatePolicy};
use fcc_core::limits::{
    HEAP_BUDGET, MAX_ACTIONS_PER_PULL, MAX_FRAME_LEN, MAX_MESSAGE_LEN, MAX_REASON_LEN, MAX_RESULT_DATA_LEN,
    MAX_SEALED_LEN, MAX_WALLET_ADMINS, MAX_WALLET_COSIGNERS, MAX_WALLET_KEYS, MAX_WALLET_RECORDS, REPLAY_CAPACITY,
};
use fcc_core::op;
use fcc_core::ops::Registry;
use fcc_core::policy::{PolicyHashScheme, SigningPolicy, Voter};
use fcc_core::replay::ReplayGuard;
use fcc_core::result::{ActionResult, SignedResult, SubmissionTag, status};
use fcc_core::session::MAX_OUTPUT;
use fcc_core::tee::RECENT_RESULTS;
use fcc_core::verify::{MAX_CACHED_KEYS, Verifier, Vote};
use fcc_core::wire::{FrameReader, ProxyMessage, decode_body, encode_frame};
use fcc_core::{Config, Tee};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn heap() -> usize {
    dhat::HeapStats::get().curr_bytes
}

/// Measures `make`'s live heap bytes; returns the value and the bytes it holds.
fn measured<T>(make: impl FnOnce() -> T) -> (T, usize) {
    let before = heap();
    let value = make();
    (value, heap().saturating_sub(before))
}

/// `n` voters of equal weight (deterministic keys from `first`) and their policy for `epoch`.
fn committee(first: u32, epoch: u32) -> (Vec<Signer>, SigningPolicy) {
    let signers: Vec<Signer> = (0..300).map(|i| Signer::derive(first + i)).collect();
    let voters = signers.iter().map(|k| Voter { address: k.address, weight: 200 }).collect();
    (signers, SigningPolicy::new(epoch, epoch, 30_001, [0; 32], voters).unwrap())
}

fn keys(signers: &[Signer]) -> Vec<PublicKey> {
    signers.iter().map(|k| PublicKey(k.public)).collect()
}

fn votes(signers: &[Signer], digest: &[u8; 32]) -> Vec<Vote> {
    signers
        .iter()
        .map(|k| Vote { signature: k.sign(digest), additional_variable_message: vec![], hint: None })
        .collect()
}

#[test]
fn every_structure_at_its_bound_at_once_fits_the_heap_budget() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut rows: Vec<(&str, usize)> = Vec::new();
    const CHAIN: u64 = 14;
    let scheme = PolicyHashScheme::ChainBound { chain_id: CHAIN };

    // A TEE trusting two 300-voter policies, every key given: 600 cached key tables.
    let (tee, bytes) = measured(|| {
        let config = Config { chain_id: CHAIN, policy_hash: scheme, registration: None };
        let mut tee = Tee::new(config, &mut rand::rng(), Registry::system()).unwrap();
        let (first, p1) = committee(10_000, 1);
        let init = InitializePolicy { policy: p1.encode(), public_keys: keys(&first) };
        let r = tee.handle(&Action::initialize_policy(&init), &mut Simulated);
        assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
        let (second, p2) = committee(20_000, 2);
        let digest = eip191_hash(&p2.hash(scheme));
        let update =
            UpdatePolicy { policy: p2.encode(), signatures: votes(&first, &digest), public_keys: keys(&second) };
        let r = tee.handle(&Action::update_policy(&update), &mut Simulated);
        assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
        assert_eq!(tee.state().verifier.cached_keys(), 600);
        (tee, second)
    });
    let (mut tee, second) = tee;
    rows.push(("TEE with two 300-voter policies (600 key tables, the generator's)", bytes));

    // The cosigners' share of the cache: MAX_CACHED_KEYS - 600 more tables, measured alone.
    let (extra, bytes) = measured(|| {
        let mut v = Verifier::new([7; 32]);
        let keys: Vec<Signer> = (0..(MAX_CACHED_KEYS - 600) as u32).map(|i| Signer::derive(30_000 + i)).collect();
        v.pin(keys.iter().map(|k| k.address));
        let points: Vec<_> =
            keys.iter().map(|k| (k.address, Verifier::offered_key(&k.public, &k.address).unwrap())).collect();
        v.learn_all(&points);
        v
    });
    let generator = measured(|| Verifier::new([8; 32])).1;
    rows.push(("cosigner keys (MAX_CACHED_KEYS - 600 tables)", bytes.saturating_sub(generator)));

    // Replay memory, full.
    let (replay, bytes) = measured(|| {
        let mut g = ReplayGuard::new();
        for i in 0..REPLAY_CAPACITY as u64 {
            g.record(if i % 2 == 0 { 7 } else { 8 }, keccak256(&i.to_be_bytes()));
        }
        g
    });
    assert_eq!(replay.len(), REPLAY_CAPACITY);
    rows.push(("replay memory (REPLAY_CAPACITY ids)", bytes));

    // Recent results: the largest result, RECENT_RESULTS times.
    let largest = SignedResult {
        result: ActionResult {
            id: [1; 32],
            submission_tag: SubmissionTag::Threshold,
            status: status::SUCCESS,
            log: "x".repeat(MAX_REASON_LEN),
            op_type: op::F_FDC2,
            op_command: op::PROVE,
            additional_result_status: vec![0; MAX_REASON_LEN],
            version: "v".repeat(MAX_REASON_LEN),
            data: vec![0xd0; MAX_RESULT_DATA_LEN],
        },
        signature: [1; 65],
    };
    let (recent, bytes) = measured(|| {
        let mut q = std::collections::VecDeque::with_capacity(RECENT_RESULTS);
        for _ in 0..RECENT_RESULTS {
            q.push_back(largest.clone());
        }
        q
    });
    rows.push(("recent results (RECENT_RESULTS of the largest)", bytes));

    // The link: a maximal frame buffered, the actions decoded from one, the unsent output.
    let big = Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            op_type: op::F_GET,
            op_command: op::TEE_INFO,
            original_message: vec![0; MAX_MESSAGE_LEN],
            // Four actions of two full messages would not fit a frame: just under.
            additional_fixed_message: vec![0; MAX_MESSAGE_LEN - 1024],
            ..Default::default()
        },
        votes: vec![],
    };
    let frame = encode_frame(&ProxyMessage::Actions(vec![big; MAX_ACTIONS_PER_PULL])).unwrap();
    assert!(frame.len() <= MAX_FRAME_LEN + 4 && frame.len() > MAX_FRAME_LEN - 8 * 1024, "{}", frame.len());
    let (link, bytes) = measured(|| {
        let mut reader = FrameReader::new();
        reader.push(&frame).unwrap();
        let body = reader.next_body().unwrap().unwrap();
        let actions: ProxyMessage = decode_body(&body).unwrap();
        let mut full = FrameReader::new();
        full.push(&vec![0xff; full.room()]).unwrap();
        let output: Vec<u8> = Vec::with_capacity(MAX_OUTPUT);
        (full, body, actions, output)
    });
    rows.push(("link (a full frame buffer, a decoded maximal frame, MAX_OUTPUT unsent)", bytes));

    // Wallet keys: MAX_WALLET_KEYS live keys with MAX_WALLET_ADMINS admins and MAX_WALLET_COSIGNERS
    // cosigners each, and MAX_WALLET_RECORDS records (deleted keys) in all.
    let (wallets, bytes) = measured(|| {
        use fcc_core::wallet::ledger::{Account, Intent, LEDGER_WINDOW};
        use fcc_core::wallet::{ConfigConstants, EVM_SIGN_ALGO, KEY_TYPE_EVM, KeyIdPair, Wallet, WalletStore};
        let admin = Signer::derive(40_000).public;
        let full = ConfigConstants {
            admins: (0..MAX_WALLET_ADMINS as u32).map(|i| Signer::derive(40_000 + i).public).collect(),
            admins_threshold: 1,
            cosigners: (0..MAX_WALLET_COSIGNERS).map(|i| [i as u8; 20]).collect(),
            cosigners_threshold: 0,
        };
        let small = ConfigConstants { admins: vec![admin], admins_threshold: 1, ..Default::default() };
        let mut store = WalletStore::new();
        let mut rng = rand::rng();
        for i in 0..MAX_WALLET_RECORDS as u64 {
            let id = KeyIdPair { wallet_id: [1; 32], key_id: i };
            let live = i >= (MAX_WALLET_RECORDS - MAX_WALLET_KEYS) as u64;
            let config = if live { full.clone() } else { small.clone() };
            store.insert(Wallet::generate(id, KEY_TYPE_EVM, EVM_SIGN_ALGO, config, &mut rng).unwrap(), 0).unwrap();
            if !live {
                store.delete(&id, 1).unwrap();
            }
        }
        assert_eq!(store.len(), MAX_WALLET_KEYS);
        // Each live key's payment ledger full, at nonces whose varints are longest.
        let live: Vec<KeyIdPair> = store.iter().map(|w| w.id).collect();
        for id in live {
            for n in 0..LEDGER_WINDOW as u64 {
                let intent = Intent {
                    account: Account::Bitcoin([3; 32]),
                    nonce: u64::MAX - 64 + n,
                    commitment: Some([n as u8; 32]),
                };
                let ledger = store.admit_payment(&id, &intent).unwrap();
                store.record_payment(&id, ledger);
            }
        }
        store
    });
    rows.push((
        "wallet keys (MAX_WALLET_KEYS, maximal configs and full payment ledgers; MAX_WALLET_RECORDS records)",
        bytes,
    ));
    // …sealed: the largest sealed state fits MAX_SEALED_LEN (and is dropped again).
    {
        let state = fcc_core::seal::SealedState {
            identity_secret: zeroize::Zeroizing::new([7; 32]),
            trust_root: (1, [1; 32]),
            epoch: 2,
            wallets: wallets.snapshot(),
            paths: Default::default(),
        };
        let config = Config { chain_id: CHAIN, policy_hash: scheme, registration: None };
        let blob = fcc_core::seal::SealingKey::simulated(&config).seal(&state).unwrap();
        eprintln!(
            "  (the wallet store at its bounds seals to {} bytes of MAX_SEALED_LEN {MAX_SEALED_LEN})",
            blob.len()
        );
        assert!(blob.len() <= MAX_SEALED_LEN);
    }

    // With all of that held, the TEE still serves the largest PROVE its 300 voters sign.
    let before = heap();
    let d = InstructionData {
        instruction_id: [9; 32],
        tee_id: tee.state().identity.address(),
        reward_epoch_id: 2,
        op_type: op::F_FDC2,
        op_command: op::PROVE,
        original_message: largest_request(),
        additional_fixed_message: vec![0x5a; MAX_MESSAGE_LEN],
        ..Default::default()
    };
    let digest = d.signing_digest(CHAIN, &[]);
    let prove = Action {
        kind: ActionKind::Instruction,
        submission_tag: SubmissionTag::Threshold,
        votes: votes(&second, &digest),
        instruction: d,
    };
    let r = tee.handle(&prove, &mut Simulated);
    assert_eq!((r.result.id, r.result.submission_tag), ([9; 32], SubmissionTag::Threshold), "{}", r.result.log);
    r.result.validate().unwrap();
    drop(prove);
    rows.push(("…and its largest PROVE handled (what it keeps)", heap().saturating_sub(before)));

    // …and a backup at the bounds: a key with MAX_WALLET_ADMINS admins, split among the 300
    // voters (its result, up to MAX_BACKUP_DATA_LEN, is what the link row holds four of).
    let before = heap();
    let generate = {
        use fcc_core::wallet::codec::KeyGenerate;
        use fcc_core::wallet::{ConfigConstants, EVM_SIGN_ALGO, KEY_TYPE_EVM, KeyIdPair};
        let config = ConfigConstants {
            admins: (0..MAX_WALLET_ADMINS as u32).map(|i| Signer::derive(41_000 + i).public).collect(),
            admins_threshold: 9,
            cosigners: vec![],
            cosigners_threshold: 0,
        };
        let id = KeyIdPair { wallet_id: [3; 32], key_id: 1 };
        let msg = KeyGenerate {
            tee_id: tee.state().identity.address(),
            id,
            key_type: KEY_TYPE_EVM,
            signing_algo: EVM_SIGN_ALGO,
            config,
        };
        let d = InstructionData {
            instruction_id: [10; 32],
            tee_id: tee.state().identity.address(),
            reward_epoch_id: 2,
            op_type: op::F_WALLET,
            op_command: op::KEY_GENERATE,
            original_message: msg.encode(),
            ..Default::default()
        };
        let digest = d.signing_digest(CHAIN, &[]);
        Action {
            kind: ActionKind::Instruction,
            submission_tag: SubmissionTag::Threshold,
            votes: votes(&second, &digest),
            instruction: d,
        }
    };
    let r = tee.handle(&generate, &mut Simulated);
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    drop((generate, r));
    let backup = Action {
        kind: ActionKind::Direct,
        submission_tag: SubmissionTag::Submit,
        instruction: InstructionData {
            instruction_id: [11; 32],
            op_type: op::F_GET,
            op_command: op::TEE_BACKUP,
            original_message: format!(r#"{{"walletId":"0x{}","keyId":1}}"#, "03".repeat(32)).into_bytes(),
            ..Default::default()
        },
        votes: vec![],
    };
    let r = tee.handle(&backup, &mut Simulated);
    assert_eq!(r.result.status, status::SUCCESS, "{}", r.result.log);
    eprintln!("  (a backup for 300 providers and {MAX_WALLET_ADMINS} admins: {} bytes)", r.result.data.len());
    drop((backup, r));
    rows.push(("…and a backup at the bounds made (what it keeps: the key)", heap().saturating_sub(before)));

    let live: usize = rows.iter().map(|(_, b)| b).sum();
    let peak = dhat::HeapStats::get().max_bytes;
    eprintln!("memory budget (bytes):");
    for (what, bytes) in &rows {
        eprintln!("  {bytes:>10}  {what}");
    }
    eprintln!("  {live:>10}  held at once\n  {peak:>10}  peak (dhat)\n  {HEAP_BUDGET:>10}  HEAP_BUDGET");
    assert!(peak <= HEAP_BUDGET, "peak {peak} over the budget {HEAP_BUDGET}");
    drop((extra, replay, recent, link, tee, wallets));
}

/// An FDC2 request exactly as large as the message bound allows.
fn largest_request() -> Vec<u8> {
    let empty = fdc2_request("EVMTransaction", "testETH", 0, [0; 20], &[]).len();
    let request = fdc2_request("EVMTransaction", "testETH", 0, [0; 20], &vec![0xb0; MAX_MESSAGE_LEN - empty]);
    assert_eq!(request.len(), MAX_MESSAGE_LEN);
    request
}
