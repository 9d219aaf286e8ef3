//! The real host proxy in-process around the booted guest: `fcc-proxy`'s library on a
//! temporary SQLite file with its own runtime. The proxy as a child process and the HTTP client
//! of its API are the devnet's (`fcc_devnet::process`).

use anyhow::Result;
use fcc_devnet::process::Api;

/// The proxy in-process (its library) on a temporary SQLite file, with loopback ports chosen
/// by the OS, its own multi-threaded runtime, and a client of its API. Shut down when dropped.
pub struct InProcess {
    /// The runtime the proxy and the client run on.
    pub rt: tokio::runtime::Runtime,
    running: Option<fcc_proxy::Running>,
    /// A client of its HTTP API.
    pub api: Api,
    /// Holds the database.
    pub dir: tempfile::TempDir,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").field("api", &self.api).finish_non_exhaustive()
    }
}

/// The test configuration: loopback, port 0, chain `chain_id`, a rate limit out of the way.
pub fn test_config(chain_id: u64) -> fcc_proxy::Config {
    fcc_proxy::Config {
        http: "127.0.0.1:0".parse().expect("address"),
        link: "127.0.0.1:0".parse().expect("address"),
        chain_id,
        lease_ms: 5_000,
        long_poll_ms: 20_000,
        rate_per_second: 1_000_000,
        rate_burst: 1_000_000,
        ..fcc_proxy::Config::default()
    }
}

impl InProcess {
    /// Starts the proxy with `config` (its addresses and database are replaced).
    pub fn start(mut config: fcc_proxy::Config) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let dir = tempfile::tempdir()?;
        config.database = format!("sqlite://{}", dir.path().join("proxy.db").display());
        let running = rt.block_on(async {
            let store = fcc_proxy::store::open(&config.database).await?;
            let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let link = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            fcc_proxy::start_with(config, store, http, link).await
        })?;
        let api = Api::new(running.http_addr);
        Ok(Self { rt, running: Some(running), api, dir })
    }

    /// The proxy as an operator runs it on a sealing platform: its trust root (the providers'
    /// policy, with their keys when `with_keys`) and its sealed-state file in `dir`. Returns it,
    /// the trust root's `INITIALIZE_POLICY` id and the sealed-state file (for QEMU as well).
    pub fn with_sealed_state(
        dir: &std::path::Path,
        ps: &[fcc_sim_providers::Provider],
        with_keys: bool,
    ) -> Result<(Self, [u8; 32], std::path::PathBuf)> {
        let (root, init_id) = crate::flare::trust_root_file(dir, ps, with_keys);
        let sealed = dir.join("sealed-state.bin");
        let config = fcc_proxy::Config {
            trust_root: Some(root),
            sealed_state: Some(sealed.clone()),
            ..test_config(crate::flare::CHAIN_ID)
        };
        Ok((Self::start(config)?, init_id, sealed))
    }

    /// The running proxy.
    pub fn running(&self) -> &fcc_proxy::Running {
        self.running.as_ref().expect("running until dropped")
    }

    /// The guest link's port on 127.0.0.1.
    pub fn link_port(&self) -> u16 {
        self.running().link_addr.port()
    }

    /// Runs a future on the proxy's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.rt.block_on(running.shutdown());
        }
    }
}
