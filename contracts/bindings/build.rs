//! The bindings are generated from forge's build artifacts (ABI and creation bytecode from the
//! same compilation), which are build outputs and not committed. This script refuses to go on
//! without them, with the command that makes them, instead of letting `sol!` fail obscurely.

use std::path::Path;

/// The contracts bound in `src/lib.rs` (each `out/<Name>.sol/<Name>.json`).
const CONTRACTS: [&str; 6] = [
    "DevRelay",
    "TeeExtensionRegistry",
    "TeeMachineRegistry",
    "TeeResultVerifier",
    "TeeInstructionSender",
    "KeyBackupRegistry",
];

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = Path::new(&manifest).join("..").join("out");
    let fix = "run `contracts/setup.sh && (cd contracts && node_modules/.bin/forge build --offline)` \
               (`cargo xtask test` does this before building the workspace)";
    for name in CONTRACTS {
        let artifact = out.join(format!("{name}.sol")).join(format!("{name}.json"));
        println!("cargo:rerun-if-changed={}", artifact.display());
        let text = std::fs::read_to_string(&artifact)
            .unwrap_or_else(|e| panic!("fcc-contracts: forge artifact {} missing ({e}): {fix}", artifact.display()));
        // `forge lint` compiling sources itself leaves artifacts without bytecode (contracts/README.md).
        if !text.contains("\"bytecode\":{\"object\":\"0x") || text.contains("\"bytecode\":{\"object\":\"0x\"") {
            panic!(
                "fcc-contracts: forge artifact {} has no creation bytecode: run \
                 `(cd contracts && node_modules/.bin/forge build --offline --force)`",
                artifact.display()
            );
        }
    }
}
