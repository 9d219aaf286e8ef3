//! `fcc-e2e-proxy`: the `fcc-proxy` command line (`fcc_proxy::cli::run`), built with the
//! end-to-end tests so they can run the proxy as a process of its own (and kill it with
//! SIGKILL) without a second build of the proxy with another feature set.

fn main() -> anyhow::Result<()> {
    fcc_proxy::cli::run(std::env::args_os())
}
