//! The guest on the network: QEMU user networking with a virtio-net NIC, the guest's DHCP and TCP
//! client, and a test proxy on the host (`fcc_e2e::proxy`) speaking fcc-core's link frames.
//! Every signature the guest returns is recovered with libsecp256k1 and must name the TEE id of
//! the READY line and of `Hello`. Each test boots its own guest; `Guest` kills QEMU when dropped,
//! so a failing test never leaves one behind, and every wait has a timeout.

use anyhow::{Context, ensure};
use fcc_core::result::status;
use fcc_core::wire::ProxyMessage;
use fcc_e2e::flare::{self, signed_by};
use fcc_e2e::proxy::TestProxy;
use fcc_e2e::{TIMEOUT, boot_networked, run_checked};
use fcc_layout::interface::{DHCP_PREFIX, HANDLED_PREFIX, LINK_CLOSED_PREFIX};

#[test]
fn signs_a_100_voter_instruction_and_refuses_one_below_threshold() {
    let proxy = TestProxy::bind().unwrap();
    let (mut guest, tee) = boot_networked(proxy.port);
    run_checked(&mut guest, |guest| {
        let (dhcp, _) = guest.wait_for(DHCP_PREFIX, TIMEOUT)?;
        ensure!(dhcp.starts_with("DHCP 10.0.2.15 "), "QEMU user networking hands out 10.0.2.15: {dhcp}");
        let mut conn = proxy.connect(guest, tee, TIMEOUT)?;

        // Trust root: 100 voters and their keys; an FDC2 proof signed by all of them.
        let (ps, policy) = fcc_e2e::initialize_and_prove(&mut conn, tee, "e2e fdc2 #1")?;
        let (handled, _) = guest.wait_for(&format!("{HANDLED_PREFIX}op=F_FDC2/PROVE status=1 "), TIMEOUT)?;
        eprintln!("100-voter instruction in the guest: {handled}");

        // Below the threshold: refused with the reason, still signed.
        let (signers, weight) = flare::below_threshold(&policy);
        let action = flare::signed(&ps, &signers, flare::fdc2_instruction(tee, "e2e fdc2 #2"))?;
        let r = conn.run(&action)?;
        ensure!(r.result.status == status::ERROR, "a below-threshold instruction was executed");
        ensure!(r.result.log.contains(&format!("signed weight {weight} ")), "reason: {}", r.result.log);
        ensure!(r.result.additional_result_status == 307u16.to_be_bytes(), "{:?}", r.result.additional_result_status);
        signed_by(&r, tee)?;
        eprintln!("below threshold ({} voters, weight {weight}): {}", signers.len(), r.result.log);
        guest.wait_for(&format!("{HANDLED_PREFIX}op=F_FDC2/PROVE status=0 "), TIMEOUT)?;
        for line in guest.console().lines().filter(|l| l.starts_with(HANDLED_PREFIX)) {
            eprintln!("guest: {line}");
        }
        Ok(())
    });
}

#[test]
fn malformed_and_oversized_frames_close_the_link_and_it_reconnects() {
    let proxy = TestProxy::bind().unwrap();
    let (mut guest, tee) = boot_networked(proxy.port);
    run_checked(&mut guest, |guest| {
        // A valid length prefix with a body that is no message.
        let mut conn = proxy.connect(guest, tee, TIMEOUT)?;
        conn.send_raw(&[0, 0, 0, 6, 1, 0xff, 0xff, 0xff, 0xff, 0xff])?;
        conn.expect_closed().context("after a malformed frame")?;
        let (line, _) = guest.wait_for(LINK_CLOSED_PREFIX, TIMEOUT)?;
        eprintln!("{line}");

        // A length prefix far over the frame bound.
        let mut conn = proxy.connect(guest, tee, TIMEOUT)?;
        conn.send_raw(&u32::MAX.to_be_bytes())?;
        conn.expect_closed().context("after an oversized length prefix")?;
        let (line, _) = guest.wait_for(LINK_CLOSED_PREFIX, TIMEOUT)?;
        eprintln!("{line}");
        ensure!(line.contains("too large") || line.contains("frame"), "{line}");

        // A message from the wrong side of the protocol.
        let mut conn = proxy.connect(guest, tee, TIMEOUT)?;
        conn.send(&ProxyMessage::Ack { id: [7; 32] })?;
        conn.send_raw(&fcc_core::wire::encode_frame(&fcc_core::wire::GuestMessage::Pull { max_actions: 1 }).unwrap())?;
        conn.expect_closed().context("after a guest message from the proxy")?;
        guest.wait_for(LINK_CLOSED_PREFIX, TIMEOUT)?;

        // Same TEE, still serving.
        let mut conn = proxy.connect(guest, tee, TIMEOUT)?;
        let r = conn.run(&flare::tee_info("e2e info after garbage"))?;
        ensure!(r.result.status == status::SUCCESS, "TEE_INFO refused: {}", r.result.log);
        signed_by(&r, tee)?;
        Ok(())
    });
}

#[test]
fn redelivery_after_a_dropped_connection_gets_the_same_signed_result() {
    let proxy = TestProxy::bind().unwrap();
    let (mut guest, tee) = boot_networked(proxy.port);
    run_checked(&mut guest, |guest| {
        let mut conn = proxy.connect(guest, tee, TIMEOUT)?;
        let ps = flare::providers(20)?;
        let policy = flare::policy(&ps)?;
        let r = conn.run(&flare::initialize_policy(&ps, &policy)?)?;
        ensure!(r.result.status == status::SUCCESS, "INITIALIZE_POLICY refused: {}", r.result.log);
        let all: Vec<usize> = (0..ps.len()).collect();
        let action = flare::signed(&ps, &all, flare::fdc2_instruction(tee, "e2e fdc2 redelivered"))?;

        // Deliver, wait until the guest has handled it, drop the connection unread.
        conn.send(&ProxyMessage::Actions(vec![action.clone()]))?;
        guest.wait_for(&format!("{HANDLED_PREFIX}op=F_FDC2/PROVE status=1 "), TIMEOUT)?;
        drop(conn);
        let (line, _) = guest.wait_for(LINK_CLOSED_PREFIX, TIMEOUT)?;
        eprintln!("{line}");

        // The proxy never saw the result: it delivers the instruction again. Executing it again
        // would be refused as a replay; the guest answers with the result it signed before.
        let mut conn = proxy.connect(guest, tee, TIMEOUT)?;
        let first = conn.run(&action)?;
        ensure!(first.result.status == status::SUCCESS, "re-delivery refused: {}", first.result.log);
        signed_by(&first, tee)?;
        let again = conn.run(&action)?;
        ensure!(again == first, "a re-delivered instruction got a different result");
        Ok(())
    });
}

/// Issue 21 item 7: a short fixed-seed run of the link fuzzer (`fcc_e2e::link_fuzz`) against the
/// real ROM: hostile bursts of every kind, a valid action checked before each, no restart and no
/// wrong answer. Longer runs: `cargo run -p fcc-e2e --bin fcc-link-fuzz -- --bursts 1000 --seed N`.
#[test]
fn the_link_fuzzer_neither_restarts_nor_confuses_the_guest() {
    let proxy = TestProxy::bind().unwrap();
    let (mut guest, tee) = boot_networked(proxy.port);
    run_checked(&mut guest, |guest| {
        // Four bursts of each of the 13 kinds.
        let report = fcc_e2e::link_fuzz::run(&proxy, guest, tee, 0x21, 52)?;
        eprintln!("{report}");
        ensure!(report.passed(), "{report}");
        ensure!(report.reconnects == 52 && report.per_kind.iter().all(|&(_, n)| n == 4), "{report}");
        Ok(())
    });
}
