//! Replays the corpus of the extensions' fuzz targets (`extensions/fuzz/corpus/<target>`) on
//! stable, and checks the seeds reach their paths.

#[path = "../../fuzz/harness/mod.rs"]
mod harness;

#[path = "../../../guest/core/tests/corpus_replay/mod.rs"]
#[allow(dead_code)] // its core-corpus helpers
mod corpus_replay;

use std::path::PathBuf;

fn dir(target: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "fuzz", "corpus", target].iter().collect()
}

#[test]
fn corpus_data_integrity_request() {
    corpus_replay::replay_dir(
        &dir("data_integrity_request"),
        "data_integrity_request",
        harness::data_integrity_request,
    );
}

#[test]
fn corpus_attested_query() {
    corpus_replay::replay_dir(&dir("attested_query"), "attested_query", harness::attested_query);
}

#[test]
fn seeds_decode() {
    for (target, name, data) in harness::seeds() {
        match target {
            "data_integrity_request" => {
                assert!(fcc_ext_data_integrity::Request::decode(&data).is_ok(), "{name}")
            }
            "attested_query" => {
                let request = &data[1..1 + fcc_ext_attested_query::REQUEST_LEN];
                assert!(fcc_ext_attested_query::Request::decode(request).is_ok(), "{name}");
                harness::attested_query(&data);
            }
            other => panic!("seed for unknown target {other}"),
        }
    }
}

/// Writes the seeds into the corpus: `cargo test -p fcc-extensions --test fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seeds() {
    for (target, name, data) in harness::seeds() {
        std::fs::create_dir_all(dir(target)).unwrap();
        std::fs::write(dir(target).join(name), data).unwrap();
    }
}
