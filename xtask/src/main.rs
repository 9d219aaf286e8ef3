//! `cargo xtask`: the project's orchestration — the end-to-end demo, the full test run and the
//! benchmarks — so the README's commands need no set-up.

use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod demo;

#[derive(Parser)]
#[command(about = "fcc-unikernel orchestration")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// End to end through the verify-and-sign core in-process: simulated providers, policy
    /// trust root, an FDC2 proof, a policy rotation and a refused instruction, with timings.
    Demo {
        /// Number of simulated data providers.
        #[arg(long, default_value_t = 100)]
        voters: usize,
    },
    /// Every test: unit, property, known-answer, fuzz-corpus replay, CLI, guest-target build,
    /// lints.
    Test,
    /// The benchmarks (verification vs libsecp256k1 baseline).
    Bench,
}

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).args(args).status().context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Demo { voters } => demo::run(voters),
        Cmd::Test => {
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
            // The core must build for the guest's bare-metal target, not only the host.
            cargo(&["build", "-p", "fcc-core", "--target", "x86_64-unknown-none", "--release"])?;
            cargo(&["test", "--workspace", "--all-targets"])?;
            cargo(&["test", "--workspace", "--doc"])?;
            // The demo is an end-to-end test too: it asserts every step.
            demo::run(20)
        }
        Cmd::Bench => cargo(&["bench", "-p", "fcc-core"]),
    }
}
