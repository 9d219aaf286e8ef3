//! Proof-of-data-integrity throughput on this machine: SHA-256 of 64 MiB in one call (the
//! baseline: what the hash costs) against the same data through the engine as the guest takes
//! it (`Tee::begin`, then `Tee::feed` in the link's 64 KiB chunks, the proof signed). The ratio is
//! the engine's overhead; transport is measured end to end (docs/EXTENSIONS.md, "Throughput").
//! Medians of 5.

use std::time::Instant;

use fcc_ext_data_integrity::{EXTENSION, PROVE, Request};
use fcc_extension::testing::{Outcome, TestTee};
use sha2::{Digest, Sha256};

const LEN: usize = 64 << 20;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let data: Vec<u8> = (0..LEN).map(|i| (i.wrapping_mul(31) >> 3) as u8).collect();
    let object: [u8; 32] = Sha256::digest(&data).into();
    let mut tee = TestTee::new(&[&EXTENSION]).expect("a test TEE");
    let mut baseline = Vec::new();
    let mut engine = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(Sha256::digest(std::hint::black_box(&data)));
        baseline.push(t.elapsed().as_secs_f64());
        let request = Request { object, size: LEN as u64, challenge: [9; 32] };
        let action = tee.instruction(&PROVE, &request.encode(), &[0, 1]);
        let t = Instant::now();
        let outcome = tee.run(&action, &data);
        engine.push(t.elapsed().as_secs_f64());
        assert!(matches!(outcome, Outcome::Output(_)), "{outcome:?}");
    }
    let mb = LEN as f64 / 1e6;
    let (b, e) = (median(baseline), median(engine));
    println!("data-integrity: 64 MiB");
    println!("  SHA-256 in one call (baseline)     {:8.1} MB/s", mb / b);
    println!("  through the engine, 64 KiB chunks  {:8.1} MB/s", mb / e);
    println!("  engine / baseline time             {:8.3}x", e / b);
}
