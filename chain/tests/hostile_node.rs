//! The monitor against a scripted node over real HTTP (`fcc_chain::testing`): reorgs of any
//! depth walk back to the newest checkpoint the chain still has (or stop the monitor when
//! deeper than it keeps), a node behind the cursor is waited for, and a node that stalls can
//! neither hang a step nor hold up a shutdown.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::sol_types::SolEvent;
use fcc_chain::testing::{Chain, ScriptedNode};
use fcc_chain::{Config, Cursor, Event, MemorySink, Monitor, Sink, Step, TeeInstructionsSent, TeeMachine};

const RELAY: Address = Address::repeat_byte(0x11);
const SENDER: Address = Address::repeat_byte(0x22);

fn announce(node: &ScriptedNode, id: u8, block: u64) {
    let e = TeeInstructionsSent {
        extensionId: U256::from(1),
        instructionId: B256::repeat_byte(id),
        rewardEpochId: 5,
        teeMachines: vec![TeeMachine { teeId: Address::repeat_byte(9), teeProxyId: Address::ZERO, url: String::new() }],
        opType: FixedBytes::repeat_byte(3),
        opCommand: FixedBytes::repeat_byte(4),
        message: Bytes::new(),
        cosigners: vec![],
        cosignersThreshold: 0,
        claimBackAddress: Address::ZERO,
        fee: U256::ZERO,
    };
    node.with(|c| c.log(SENDER, e.encode_log_data(), block, B256::repeat_byte(id)));
}

fn monitor(node: &ScriptedNode, depth: u64, timeout: Duration) -> Monitor<impl Provider + use<>> {
    let provider = ProviderBuilder::new().connect_http(node.url().parse().unwrap());
    let mut config = Config::new(RELAY, SENDER);
    config.max_range = 5;
    config.reorg_depth = depth;
    config.request_timeout = timeout;
    Monitor::new(provider, config)
}

/// The instruction ids the sink holds, by block.
fn ids(sink: &MemorySink) -> Vec<(u64, u8)> {
    sink.events()
        .iter()
        .map(|e| match e {
            Event::Instruction(i) => (i.origin.block, i.instruction_id.0[0]),
            Event::Policy(p) => panic!("no policies here: {p:?}"),
        })
        .collect()
}

async fn catch_up(m: &mut Monitor<impl Provider>, sink: &MemorySink) -> Vec<Step> {
    let mut steps = Vec::new();
    loop {
        let step = m.step(sink).await.unwrap();
        if step == Step::Idle {
            return steps;
        }
        steps.push(step);
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_reorg_walks_back_to_the_newest_checkpoint_still_on_the_chain() {
    let node = ScriptedNode::start(Chain::default()).await.unwrap();
    node.with(|c| c.grow(20, 0));
    for (id, block) in [(1, 3), (2, 8), (3, 12), (4, 17)] {
        announce(&node, id, block);
    }
    let sink = MemorySink::default();
    let mut m = monitor(&node, 4096, SECOND);
    // Head 20, 2 confirmations, 5 blocks a query: 0..=4, 5..=9, 10..=14, 15..=18.
    assert_eq!(catch_up(&mut m, &sink).await.len(), 4);
    let blocks: Vec<u64> = sink.checkpoints().await.unwrap().iter().map(|c| c.block).collect();
    assert_eq!(blocks, [18, 14, 9, 4]);
    assert_eq!(ids(&sink), [(3, 1), (8, 2), (12, 3), (17, 4)]);

    // Blocks from 11 on are replaced, 12's instruction re-emitted in 13, 17's gone: the cursor
    // (18) and checkpoint 14 are orphaned; 9 is the newest checkpoint still on the chain.
    node.with(|c| c.reorg(11, 24, 1));
    announce(&node, 3, 13);
    node.with(|c| c.asked.clear());
    let step = m.step(&sink).await.unwrap();
    let orphaned = Cursor { block: 18, hash: Chain::hash(18, 0) };
    assert_eq!(step, Step::Reorg { orphaned, ancestor: Some(Cursor { block: 9, hash: Chain::hash(9, 0) }) });
    // The head, the cursor block, then a binary search over 14, 9, 4: two block requests.
    let asked = node.with(|c| c.asked.clone());
    assert_eq!(asked, ["eth_blockNumber", "eth_getBlockByNumber", "eth_getBlockByNumber", "eth_getBlockByNumber"]);
    assert_eq!(ids(&sink), [(3, 1), (8, 2)], "what was read above the ancestor is forgotten");
    assert_eq!(sink.cursor().await.unwrap().map(|c| c.block), Some(9));

    catch_up(&mut m, &sink).await;
    assert_eq!(ids(&sink), [(3, 1), (8, 2), (13, 3)]);
    assert_eq!(sink.cursor().await.unwrap(), Some(Cursor { block: 22, hash: Chain::hash(22, 1) }));
}

#[tokio::test]
async fn a_reorg_deeper_than_the_kept_checkpoints_stops_the_monitor() {
    let node = ScriptedNode::start(Chain::default()).await.unwrap();
    node.with(|c| c.grow(20, 0));
    let sink = MemorySink::default();
    // Checkpoints kept 6 blocks deep: 9, 14, 18 stay (4 was below 18 − 6 with 9 also below).
    let mut m = monitor(&node, 6, SECOND);
    catch_up(&mut m, &sink).await;
    let blocks: Vec<u64> = sink.checkpoints().await.unwrap().iter().map(|c| c.block).collect();
    assert_eq!(blocks, [18, 14, 9]);

    node.with(|c| c.reorg(5, 20, 2));
    for _ in 0..2 {
        let err = m.step(&sink).await.unwrap_err();
        assert!(format!("{err:#}").contains("a reorg deeper than reorg-depth (6 blocks)"), "{err:#}");
    }
    assert_eq!(sink.cursor().await.unwrap().map(|c| c.block), Some(18), "nothing was rewound");

    // Within the depth of the first block read, a fork below every checkpoint reads it all again.
    let node = ScriptedNode::start(Chain::default()).await.unwrap();
    node.with(|c| c.grow(6, 0));
    announce(&node, 7, 2);
    let sink = MemorySink::default();
    let mut m = monitor(&node, 4096, SECOND);
    catch_up(&mut m, &sink).await;
    node.with(|c| c.reorg(1, 8, 3));
    announce(&node, 8, 1);
    let step = m.step(&sink).await.unwrap();
    assert_eq!(step, Step::Reorg { orphaned: Cursor { block: 4, hash: Chain::hash(4, 0) }, ancestor: None });
    assert_eq!(sink.cursor().await.unwrap(), None);
    catch_up(&mut m, &sink).await;
    assert_eq!(ids(&sink), [(1, 8)]);
}

#[tokio::test]
async fn a_node_behind_the_cursor_is_waited_for_not_taken_for_a_reorg() {
    let node = ScriptedNode::start(Chain::default()).await.unwrap();
    node.with(|c| c.grow(12, 0));
    announce(&node, 1, 6);
    let sink = MemorySink::default();
    let mut m = monitor(&node, 4096, SECOND);
    catch_up(&mut m, &sink).await;
    let cursor = sink.cursor().await.unwrap();
    // A replica 5 blocks behind: the cursor's block is beyond its head.
    node.with(|c| c.head = 5);
    assert_eq!(m.step(&sink).await.unwrap(), Step::Idle);
    assert_eq!((sink.cursor().await.unwrap(), ids(&sink)), (cursor, vec![(6, 1)]));
}

#[tokio::test]
async fn a_stalled_node_fails_the_step_within_the_request_timeout() {
    let node = ScriptedNode::start(Chain::default()).await.unwrap();
    node.with(|c| c.grow(10, 0));
    let sink = MemorySink::default();
    let mut m = monitor(&node, 4096, Duration::from_millis(300));
    for method in ["eth_blockNumber", "eth_getLogs", "eth_getBlockByNumber"] {
        node.with(|c| c.stall = [method.to_owned()].into());
        let started = Instant::now();
        let err = m.step(&sink).await.unwrap_err();
        assert!(format!("{err:#}").contains("no answer within 300ms"), "{method}: {err:#}");
        assert!(started.elapsed() < Duration::from_secs(5), "{method}: {:?}", started.elapsed());
        assert_eq!(sink.cursor().await.unwrap(), None);
    }
    node.with(|c| c.stall.clear());
    assert!(matches!(m.step(&sink).await.unwrap(), Step::Read { from: 0, to: 4, .. }));
}

#[tokio::test]
async fn a_stalled_node_does_not_hold_up_a_shutdown() {
    let node = ScriptedNode::start(Chain::default()).await.unwrap();
    node.with(|c| {
        c.grow(10, 0);
        c.stall = ["eth_getLogs".to_owned()].into();
    });
    let sink = MemorySink::default();
    // A request timeout far longer than the test: only the stop can end the run.
    let mut m = monitor(&node, 4096, Duration::from_secs(600));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        m.run(&sink, async {
            let _ = stopped.await;
        })
        .await;
    });
    // Wait until the monitor is inside the stalled request.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.with(|c| c.asked.contains(&"eth_getLogs".to_owned())) {
        assert!(Instant::now() < deadline, "the monitor never asked for logs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), run).await.expect("run returned on stop").unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}
