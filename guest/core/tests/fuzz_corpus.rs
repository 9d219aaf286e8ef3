//! Replays the committed fuzz corpus (`guest/core/fuzz/corpus/<target>/`) through the same
//! harness functions the cargo-fuzz targets call, on the stable toolchain: every input a fuzzer
//! ever kept stays a regression test. Actual fuzzing needs nightly (see `fuzz/README.md`).

mod corpus_replay;
mod fuzz_harness;

use corpus_replay::{corpus_dir, replay};

use fcc_core::result::status;

#[test]
fn corpus_policy_decode() {
    replay("policy_decode", fuzz_harness::policy_decode);
}

#[test]
fn corpus_frame_proxy() {
    replay("frame_proxy", fuzz_harness::frame_proxy);
}

#[test]
fn corpus_fdc2_request() {
    replay("fdc2_request", fuzz_harness::fdc2_request);
}

#[test]
fn corpus_tee_attestation_request() {
    replay("tee_attestation_request", fuzz_harness::tee_attestation_request);
}

#[test]
fn corpus_abi_reader() {
    replay("abi_reader", fuzz_harness::abi_reader);
}

#[test]
fn corpus_engine_action() {
    replay("engine_action", |d| {
        fuzz_harness::engine_action(d);
    });
}

#[test]
fn corpus_wallet_messages() {
    replay("wallet_messages", fuzz_harness::wallet_messages);
}

#[test]
fn corpus_session_stream() {
    replay("session_stream", |data| {
        fuzz_harness::session_stream(data);
    });
}

/// The hand-made seeds pass their targets and reach the deep paths they are for, so the fuzzer
/// starts from inputs the engine accepts.
#[test]
fn seeds_reach_their_paths() {
    for (target, name, data) in fuzz_harness::seeds() {
        match target {
            "policy_decode" => fuzz_harness::policy_decode(&data),
            "frame_proxy" => fuzz_harness::frame_proxy(&data),
            "fdc2_request" => fuzz_harness::fdc2_request(&data),
            "tee_attestation_request" => fuzz_harness::tee_attestation_request(&data),
            "abi_reader" => fuzz_harness::abi_reader(&data),
            "session_stream" => {
                let results = fuzz_harness::session_stream(&data);
                if name == "seed-stream-data-then-actions" {
                    // The streamed instruction succeeded, then the batch after it ran.
                    assert_eq!(results.first(), Some(&(status::SUCCESS, 0)), "{name}: {results:?}");
                    assert!(results.len() > 1, "{name}: {results:?}");
                }
            }
            "wallet_messages" => fuzz_harness::wallet_messages(&data),
            "engine_action" => {
                let results = fuzz_harness::engine_action(&data);
                assert!(!results.is_empty(), "{name}: no action ran");
                match name {
                    "seed-fdc2-batch-and-recover" => {
                        assert_eq!(results, vec![(status::SUCCESS, 0), (status::SUCCESS, 0)], "{name}")
                    }
                    "seed-info-update-fdc2-unknown" => assert_eq!(
                        results,
                        vec![(status::SUCCESS, 0), (status::SUCCESS, 0), (status::SUCCESS, 0), (status::ERROR, 403)],
                        "{name}"
                    ),
                    _ => {}
                }
            }
            other => panic!("seed for unknown target {other}"),
        }
    }
}

/// The seeds are valid policies / requests where they should be.
#[test]
fn seeds_decode() {
    for (target, name, data) in fuzz_harness::seeds() {
        match target {
            "policy_decode" => assert!(fcc_core::policy::SigningPolicy::decode(&data).is_ok(), "{name}"),
            "fdc2_request" => assert!(fcc_core::ops::fdc2::decode_request(&data).is_ok(), "{name}"),
            "tee_attestation_request" => {
                assert!(fcc_core::ops::info::decode_attestation_request(&data).is_ok(), "{name}")
            }
            "wallet_messages" => {
                use fcc_core::wallet::{backup, codec, ecies};
                let (which, rest) = data.split_first().unwrap();
                let ok = match which {
                    0 => codec::KeyGenerate::decode(rest).is_ok(),
                    1 => codec::KeyDelete::decode(rest).is_ok(),
                    2 => codec::decode_restore(rest).is_ok(),
                    3 => backup::Metadata::parse(rest).is_ok(),
                    4 => backup::parse_splits(rest).is_ok(),
                    5 => ecies::decrypt(&fuzz_harness::wallet_secret(), rest, &[], &[]).is_ok(),
                    7 => fcc_core::wallet::direct::KeyDirectBackup::decode(rest).is_ok(),
                    8 => fcc_core::wallet::direct::decode_direct_restore(rest).is_ok(),
                    11 => fcc_core::wallet::heartbeat::Heartbeat::parse(rest).is_ok(),
                    12 => fcc_core::xrpl::address::decode(std::str::from_utf8(rest).unwrap()).is_ok(),
                    13 => fcc_core::xrpl::payment::PaymentMessage::decode(rest).is_ok_and(|m| m.transactions().is_ok()),
                    _ => true,
                };
                assert!(ok, "{name}");
            }
            _ => {}
        }
    }
}

/// Writes the hand-made seeds into the corpus:
/// `cargo test -p fcc-core --test fuzz_corpus -- --ignored write_seeds`.
#[test]
#[ignore = "writes files: run by hand after changing the seeds or the formats"]
fn write_seeds() {
    for (target, name, data) in fuzz_harness::seeds() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(name), data).expect("write seed");
    }
}
