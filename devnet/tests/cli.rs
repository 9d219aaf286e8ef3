//! The `fcc-devnet` binary's command line: its own options, and the `proxy` subcommand that
//! serves `fcc-proxy`'s command line (how the devnet runs the proxy as a process of its own).
//! Building this test also makes cargo build the binary that `cargo xtask test` runs last.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fcc-devnet")).args(args).output().expect("running fcc-devnet");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_devnet_and_its_proxy_subcommand_answer_help() {
    let (ok, text) = run(&["--help"]);
    assert!(ok && text.contains("--voters") && text.contains("--keep-running"), "{text}");
    let (ok, text) = run(&[fcc_devnet::PROXY_SUBCOMMAND, "--help"]);
    assert!(ok && text.contains("--database") && text.contains("--trust-root"), "{text}");
    let (ok, text) = run(&[fcc_devnet::PROXY_SUBCOMMAND, "--no-such-flag"]);
    assert!(!ok && text.contains("--no-such-flag"), "{text}");
}
