//! `fcc`: the operator and auditor command line of FCC.
//!
//! It runs the guest's own verification code (`fcc-core`) on the host: decode and hash Flare
//! signing policies, hash and verify instructions against a policy, and check the signature of a
//! TEE result; and it files compute extensions' data objects for a proxy. Every command reads a
//! file (or `-` for standard input) and prints JSON.
//!
//! Exit codes: 0 success (accepted / matches), 1 refused (the JSON says why), 2 bad input.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

mod input;
mod instruction;
mod object;
mod outcome;
mod policy;
mod result;

use outcome::Outcome;
use policy::Scheme;

#[derive(Parser)]
#[command(
    name = "fcc",
    version,
    about = "FCC operator and auditor tool: Flare signing policies, instructions and TEE results"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signing policies (the bytes Flare's Relay stores).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Flare TEE instructions.
    #[command(subcommand)]
    Instruction(InstructionCommand),
    /// Signed TEE results.
    #[command(subcommand)]
    Result(ResultCommand),
    /// Compute extensions' data objects (a proxy's `--objects` directory).
    #[command(subcommand)]
    Object(ObjectCommand),
}

#[derive(Subcommand)]
enum ObjectCommand {
    /// File FILE in the objects directory DIR under its SHA-256 (the id an instruction names).
    Add {
        /// The object.
        file: std::path::PathBuf,
        /// The proxy's objects directory.
        #[arg(long)]
        dir: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Decode policy bytes (hex) into JSON, with their hashes.
    Decode {
        /// Policy hex (0x optional, whitespace ignored) or policy JSON; `-` for stdin.
        input: String,
        /// Also print the chain-bound hash for this chain id.
        #[arg(long)]
        chain_id: Option<u64>,
    },
    /// Hash a policy.
    Hash {
        /// Policy hex or policy JSON; `-` for stdin.
        input: String,
        /// Hash scheme [default: chain-bound if --chain-id is given, else legacy].
        #[arg(long, value_enum)]
        scheme: Option<Scheme>,
        /// Chain id (required for the chain-bound scheme).
        #[arg(long)]
        chain_id: Option<u64>,
    },
}

#[derive(Args)]
struct ChainArgs {
    /// The EVM chain id the signatures are bound to (Flare 14, Songbird 19, Coston2 114, Coston 16).
    #[arg(long)]
    chain_id: u64,
}

#[derive(Subcommand)]
enum InstructionCommand {
    /// Compute an instruction's ABI encoding, hashes and the digest providers sign.
    Hash {
        /// Instruction data JSON (go-flare-common `Data` shape); `-` for stdin.
        input: String,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Verify an instruction's signatures against a signing policy and its cosigners.
    Verify {
        /// JSON {data, votes:[{signature, additionalVariableMessage?}]} or {data, signature}; `-` for stdin.
        input: String,
        #[command(flatten)]
        chain: ChainArgs,
        /// The signing policy: a file with policy hex or policy JSON.
        #[arg(long)]
        policy: String,
        /// Overrides the operation's threshold: the weight to exceed, in basis points of the
        /// policy's total weight. By default the guest's own rule applies (5000; `F_FDC2`: the
        /// request's `thresholdBIPS`).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=10_000))]
        bips: Option<u16>,
    },
}

#[derive(Subcommand)]
enum ResultCommand {
    /// Recompute a signed result's hash and digest and recover its signer.
    Verify {
        /// JSON {result:{id, submissionTag, status, log, opType, opCommand, additionalResultStatus, version, data}, signature}; `-` for stdin.
        input: String,
        #[command(flatten)]
        chain: ChainArgs,
        /// The expected TEE id (address); exit 1 if the signer differs.
        #[arg(long)]
        tee: Option<String>,
    },
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Policy(PolicyCommand::Decode { input, chain_id }) => policy::decode(&input, chain_id),
        Command::Policy(PolicyCommand::Hash { input, scheme, chain_id }) => policy::hash(&input, scheme, chain_id),
        Command::Instruction(InstructionCommand::Hash { input, chain }) => instruction::hash(&input, chain.chain_id),
        Command::Instruction(InstructionCommand::Verify { input, chain, policy, bips }) => {
            instruction::verify(&input, chain.chain_id, &policy, bips)
        }
        Command::Result(ResultCommand::Verify { input, chain, tee }) => {
            result::verify(&input, chain.chain_id, tee.as_deref())
        }
        Command::Object(ObjectCommand::Add { file, dir }) => object::add(&file, &dir),
    }
}

fn print(v: &Value) {
    // `to_string_pretty` of a `Value` cannot fail.
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Ok(v)) => {
            print(&v);
            ExitCode::SUCCESS
        }
        Ok(Outcome::Refused(v, why)) => {
            print(&v);
            eprintln!("refused: {why}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
