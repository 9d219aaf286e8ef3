//! `fcc-proxy`: serves the HTTP API and the guest link until SIGINT/SIGTERM (`fcc_proxy::cli`).

fn main() -> anyhow::Result<()> {
    fcc_proxy::cli::run(std::env::args_os())
}
