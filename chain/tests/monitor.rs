//! The monitor against scripted JSON-RPC answers (alloy's mock transport): what it reads, what it
//! commits, and how it handles confirmations, forks met mid-read and bad logs. Reorgs, stalls
//! and lies over real HTTP are in hostile_node.rs; the same monitor against anvil and the real
//! contracts is in contracts/bindings/tests/anvil.rs.

use alloy::primitives::{Address, B256, Bytes, FixedBytes, LogData, U256, aliases::U24};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::{Block, Log};
use alloy::sol_types::SolEvent;
use alloy::transports::mock::Asserter;
use fcc_chain::{
    Config, Cursor, Event, MemorySink, Monitor, SigningPolicyInitialized, Sink, Step, TeeInstructionsSent, TeeMachine,
};
use fcc_core::policy::{SigningPolicy, Voter};

const RELAY: Address = Address::repeat_byte(0x11);
const SENDER: Address = Address::repeat_byte(0x22);

fn hash(n: u64, fork: u8) -> B256 {
    let mut h = [fork; 32];
    h[24..].copy_from_slice(&n.to_be_bytes());
    B256::from(h)
}

fn block(n: u64, fork: u8) -> Block {
    let mut b = Block::<alloy::rpc::types::Transaction>::default();
    b.header.hash = hash(n, fork);
    b.header.inner.number = n;
    b
}

fn log(address: Address, data: LogData, block: u64, fork: u8, index: u64) -> Log {
    Log {
        inner: alloy::primitives::Log { address, data },
        block_hash: Some(hash(block, fork)),
        block_number: Some(block),
        block_timestamp: None,
        transaction_hash: Some(B256::repeat_byte(0xaa)),
        transaction_index: Some(0),
        log_index: Some(index),
        removed: false,
    }
}

/// A well-formed event for a real policy of `epoch` (one voter).
fn policy_event(epoch: u32) -> SigningPolicyInitialized {
    let voter = Voter { address: [1; 20], weight: 200 };
    let p = SigningPolicy::new(epoch, 7, 100, [epoch as u8; 32], vec![voter]).unwrap();
    SigningPolicyInitialized {
        rewardEpochId: U24::from(epoch),
        startVotingRoundId: 7,
        threshold: 100,
        seed: U256::from_be_bytes(*p.seed()),
        voters: vec![Address::repeat_byte(1)],
        weights: vec![200],
        signingPolicyBytes: Bytes::from(p.encode()),
        timestamp: 1,
    }
}

fn policy_log(epoch: u32, block: u64, fork: u8, index: u64) -> Log {
    log(RELAY, policy_event(epoch).encode_log_data(), block, fork, index)
}

fn instruction_log(id: u8, block: u64, fork: u8, index: u64) -> Log {
    let e = TeeInstructionsSent {
        extensionId: U256::from(1),
        instructionId: B256::repeat_byte(id),
        rewardEpochId: 5,
        teeMachines: vec![TeeMachine {
            teeId: Address::repeat_byte(9),
            teeProxyId: Address::repeat_byte(8),
            url: "http://proxy".into(),
        }],
        opType: FixedBytes::repeat_byte(3),
        opCommand: FixedBytes::repeat_byte(4),
        message: Bytes::from_static(b"msg"),
        cosigners: vec![],
        cosignersThreshold: 0,
        claimBackAddress: Address::ZERO,
        fee: U256::from(10),
    };
    log(SENDER, e.encode_log_data(), block, fork, index)
}

fn monitor(asserter: &Asserter) -> Monitor<impl Provider> {
    let provider = ProviderBuilder::new().connect_mocked_client(asserter.clone());
    let mut config = Config::new(RELAY, SENDER);
    config.confirmations = 2;
    config.max_range = 5;
    Monitor::new(provider, config)
}

fn epochs(sink: &MemorySink) -> Vec<u32> {
    sink.events()
        .iter()
        .filter_map(|e| match e {
            Event::Policy(p) => Some(p.reward_epoch_id),
            Event::Instruction(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn reads_confirmed_ranges_in_order_and_resumes_from_the_cursor() {
    let a = Asserter::new();
    let sink = MemorySink::default();
    let mut m = monitor(&a);

    // Head 10, 2 confirmations, 5 blocks per query: blocks 0..=4. Logs arrive out of order, and
    // one from an unwatched contract and one removed are ignored.
    a.push_success(&10u64);
    let mut removed = policy_log(99, 3, 0, 0);
    removed.removed = true;
    let other = log(Address::repeat_byte(0x33), policy_log(98, 3, 0, 1).inner.data, 3, 0, 1);
    a.push_success(&vec![instruction_log(1, 4, 0, 0), policy_log(5, 2, 0, 0), removed, other]);
    a.push_success(&block(4, 0));
    assert_eq!(m.step(&sink).await.unwrap(), Step::Read { from: 0, to: 4, events: 2 });
    assert_eq!(sink.cursor().await.unwrap(), Some(Cursor { block: 4, hash: hash(4, 0) }));
    {
        let events = sink.events();
        let Event::Policy(p) = &events[0] else { panic!("{events:?}") };
        assert_eq!((p.reward_epoch_id, p.bytes.len(), p.origin.block), (5, 65, 2));
        let Event::Instruction(i) = &events[1] else { panic!("{events:?}") };
        assert_eq!(i.instruction_id, B256::repeat_byte(1));
        assert_eq!((i.reward_epoch_id, i.machines[0].url.as_str(), i.fee), (5, "http://proxy", U256::from(10)));
    }

    // Next step: the cursor's block still has its hash; blocks 5..=8 (head 10 - 2).
    a.push_success(&10u64);
    a.push_success(&block(4, 0));
    a.push_success(&vec![policy_log(6, 8, 0, 0)]);
    a.push_success(&block(8, 0));
    assert_eq!(m.step(&sink).await.unwrap(), Step::Read { from: 5, to: 8, events: 1 });

    // Caught up: head 10 gives nothing new.
    a.push_success(&10u64);
    a.push_success(&block(8, 0));
    assert_eq!(m.step(&sink).await.unwrap(), Step::Idle);

    // A new monitor (a restarted proxy) continues from the stored cursor.
    let mut again = monitor(&a);
    a.push_success(&12u64);
    a.push_success(&block(8, 0));
    a.push_success(&Vec::<Log>::new());
    a.push_success(&block(10, 0));
    assert_eq!(again.step(&sink).await.unwrap(), Step::Read { from: 9, to: 10, events: 0 });
    assert_eq!(epochs(&sink), [5, 6]);
    assert!(a.read_q().is_empty(), "every scripted answer was used");
}

#[tokio::test]
async fn a_fork_met_mid_read_commits_nothing() {
    let a = Asserter::new();
    let sink = MemorySink::default();
    let mut m = monitor(&a);
    a.push_success(&10u64);
    // The log of block 4 is from fork 0, but block 4 is now fork 1.
    a.push_success(&vec![policy_log(5, 4, 0, 0)]);
    a.push_success(&block(4, 1));
    let err = m.step(&sink).await.unwrap_err();
    assert!(format!("{err:#}").contains("reorg in progress"), "{err:#}");
    assert_eq!(sink.cursor().await.unwrap(), None);
    assert!(sink.events().is_empty());
}

#[tokio::test]
async fn bad_logs_and_node_errors_stop_the_step_without_committing() {
    let a = Asserter::new();
    let sink = MemorySink::default();
    let mut m = monitor(&a);
    // A SigningPolicyInitialized from the relay whose data does not decode.
    a.push_success(&10u64);
    let topics = policy_log(5, 2, 0, 0).inner.data.topics().to_vec();
    a.push_success(&vec![log(RELAY, LogData::new_unchecked(topics, Bytes::from_static(&[1, 2, 3])), 2, 0, 0)]);
    let err = m.step(&sink).await.unwrap_err();
    assert!(format!("{err:#}").contains("decoding SigningPolicyInitialized"), "{err:#}");
    // One that decodes but whose fields are not its own policy bytes': another epoch, other voters.
    for (event, says) in [
        (SigningPolicyInitialized { rewardEpochId: U24::from(6), ..policy_event(5) }, "the policy of epoch 5"),
        (SigningPolicyInitialized { voters: vec![Address::repeat_byte(2)], ..policy_event(5) }, "(voters)"),
        (SigningPolicyInitialized { weights: vec![201], ..policy_event(5) }, "(weights)"),
        (SigningPolicyInitialized { threshold: 99, ..policy_event(5) }, "(threshold)"),
        (SigningPolicyInitialized { seed: U256::ZERO, ..policy_event(5) }, "(seed)"),
        (SigningPolicyInitialized { startVotingRoundId: 8, ..policy_event(5) }, "(startVotingRoundId)"),
        (
            SigningPolicyInitialized { signingPolicyBytes: Bytes::from_static(&[0; 43]), ..policy_event(5) },
            "do not decode",
        ),
    ] {
        a.push_success(&10u64);
        a.push_success(&vec![log(RELAY, event.encode_log_data(), 2, 0, 0)]);
        let err = m.step(&sink).await.unwrap_err();
        assert!(format!("{err:#}").contains(says), "{says}: {err:#}");
    }
    // The node fails.
    a.push_failure_msg("upstream timeout");
    let err = m.step(&sink).await.unwrap_err();
    assert!(format!("{err:#}").contains("eth_blockNumber"), "{err:#}");
    a.push_success(&10u64);
    a.push_failure_msg("query returned more than 10000 results");
    let err = m.step(&sink).await.unwrap_err();
    assert!(format!("{err:#}").contains("eth_getLogs 0..=4"), "{err:#}");
    assert_eq!(sink.cursor().await.unwrap(), None);
    // Too young a chain for the confirmation depth: nothing to read.
    a.push_success(&1u64);
    assert_eq!(m.step(&sink).await.unwrap(), Step::Idle);
}
