//! `fcc-devnet` (run by `cargo xtask devnet`): the whole system on this machine — anvil with the
//! contracts, the fcc-proxy binary on SQLite, the guest ROM in QEMU, simulated data providers —
//! and a timed trace of instructions from the chain event to the result verified on chain.
//! Exits 0 after the trace unless `--keep-running`; Ctrl-C stops everything it started.
//! `fcc-devnet proxy <args>` is the `fcc-proxy` command line (the devnet's and the tests' proxy
//! process).

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use fcc_devnet::{Options, PROXY_SUBCOMMAND, run};

#[derive(Parser)]
#[command(name = "fcc-devnet", about = "Run the whole fcc-unikernel system locally and trace instructions end to end")]
struct Args {
    /// Number of simulated data providers (voters of the signing policy).
    #[arg(long, default_value_t = 100)]
    voters: usize,
    /// Leave everything running after the trace and print the endpoints; Ctrl-C stops it.
    #[arg(long)]
    keep_running: bool,
    /// Directory for the proxy's database, its log and the guest's console (kept afterwards);
    /// a temporary directory, removed at exit, when absent.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Guests to run: 1, or 3 for a wallet across three TEEs signing XRPL and Bitcoin payments
    /// (each behind its own proxy).
    #[arg(long, default_value_t = 1)]
    guests: usize,
    /// At the end, load the live TEE's status page in headless Chromium, check what it shows and
    /// keep its DOM and a screenshot in this directory (needs Debian's `chromium`).
    #[arg(long)]
    status_page: Option<PathBuf>,
    /// The compute extensions of the compute machine's image (comma-separated): it is built with
    /// them, registered as an extension of its own, and each extension's examples go through the
    /// chain to results verified on chain.
    #[arg(long, value_delimiter = ',', default_values = fcc_devnet::compute::SEED_EXTENSIONS)]
    extensions: Vec<String>,
}

fn main() -> Result<()> {
    // `fcc-devnet proxy ...`: the proxy itself (see `PROXY_SUBCOMMAND`); hidden from `--help`, as
    // only the devnet starts it this way.
    let mut argv = std::env::args_os();
    if argv.nth(1).is_some_and(|a| a == PROXY_SUBCOMMAND) {
        return fcc_proxy::cli::run(std::iter::once("fcc-proxy".into()).chain(argv));
    }
    let args = Args::parse();
    let options = Options {
        voters: args.voters,
        keep_running: args.keep_running,
        workdir: args.workdir,
        guests: args.guests,
        status_page: args.status_page,
        extensions: args.extensions,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let outcome = rt.block_on(async {
        // SIGINT drops the run's future, and with it every child it started (their owners kill
        // them when dropped).
        let run = async {
            let running = run(&options).await?;
            if options.keep_running {
                println!("\nthe devnet keeps running (Ctrl-C stops it):\n{}", running.endpoints());
                std::future::pending::<()>().await;
            }
            drop(running);
            anyhow::Ok(())
        };
        tokio::select! {
            r = run => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("\ninterrupted: stopping the guest, the proxy and anvil");
                Ok(())
            }
        }
    });
    // Blocking helpers (the image build) are not waited for.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    outcome
}
