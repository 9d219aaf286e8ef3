//! The real host proxy around the booted guest: `fcc-proxy` in-process (its library, on a
//! temporary SQLite file) or as its binary in a child process (killed on drop), and an HTTP
//! client playing the simulated data providers against its Flare-compatible API.
//!
//! Votes are posted with `fcc_sim_providers::client` (which checks every receipt). Reading
//! results and status is written here against the API itself (`GET /action/result/{id}`,
//! `GET /action/status/...`, docs/PROTOCOL.md §15): the result JSON is parsed back into
//! fcc-core's `SignedResult` so its signature can be recovered independently of the proxy,
//! which checked it too.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fcc_core::hash::H256;
use fcc_core::result::SignedResult;
use serde_json::Value;

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

/// An HTTP client of one proxy.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Api {
    /// A client of the proxy whose HTTP API listens on `http`.
    pub fn new(http: SocketAddr) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("reqwest client");
        Self { client, base: format!("http://{http}") }
    }

    /// `GET /action/status/{epoch}/{id}`: `None` while the proxy has never heard of it.
    pub async fn status(&self, epoch: u32, id: &H256) -> Result<Option<Value>> {
        let r = self.client.get(format!("{}/action/status/{epoch}/{}", self.base, hex0x(id))).send().await?;
        match r.status().as_u16() {
            200 => Ok(Some(r.json().await?)),
            404 => Ok(None),
            code => bail!("GET /action/status: {code} {}", r.text().await.unwrap_or_default()),
        }
    }

    /// `GET /action/result/{id}` once: `None` while there is none.
    pub async fn result(&self, id: &H256) -> Result<Option<(SignedResult, Value)>> {
        let r = self.client.get(format!("{}/action/result/{}", self.base, hex0x(id))).send().await?;
        match r.status().as_u16() {
            200 => {
                let body: Value = r.json().await?;
                Ok(Some((parse_result(&body)?, body)))
            }
            404 => Ok(None),
            code => bail!("GET /action/result: {code} {}", r.text().await.unwrap_or_default()),
        }
    }

    /// Polls `GET /action/result/{id}` until a result is there.
    pub async fn wait_result(&self, id: &H256, timeout: Duration) -> Result<(SignedResult, Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            // The proxy may be restarting: connection errors are retried until the deadline.
            match self.result(id).await {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {}
            }
            ensure!(Instant::now() < deadline, "no result for {} within {timeout:?}", hex0x(id));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET /info` once the guest has connected (polls until it answers 200).
    pub async fn wait_info(&self, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = self.client.get(format!("{}/info", self.base)).send().await
                && r.status() == 200
            {
                return Ok(r.json().await?);
            }
            ensure!(Instant::now() < deadline, "GET /info did not answer 200 within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /metrics` (OpenMetrics text).
    pub async fn metrics(&self) -> Result<String> {
        Ok(self.client.get(format!("{}/metrics", self.base)).send().await?.text().await?)
    }
}

/// The proxy's result JSON (`{result, signature, proxySignature}`, `fcc_flare_json`) as
/// fcc-core's `SignedResult`.
pub fn parse_result(body: &Value) -> Result<SignedResult> {
    let response: fcc_flare_json::ActionResponse =
        serde_json::from_value(body.clone()).context("the proxy's result JSON")?;
    Ok(response.signed_result()?)
}

/// How to start the proxy as a process of its own: `fcc-devnet proxy ...`, which serves
/// `fcc-proxy`'s command line with the same code as the `fcc-proxy` binary
/// (`fcc_proxy::cli::run`). Cargo builds `fcc-devnet` with this crate's tests (and the workspace
/// test run builds it with everything else), so no second build of the proxy with another
/// feature set is needed. `FCC_PROXY_BIN` runs a real `fcc-proxy` binary instead.
#[derive(Debug, Clone)]
pub struct ProxyCommand {
    program: PathBuf,
    prefix: Vec<String>,
}

impl ProxyCommand {
    /// The proxy served by the `fcc-devnet` executable at `devnet` (integration tests pass
    /// `env!("CARGO_BIN_EXE_fcc-devnet")`, the devnet its own executable), unless
    /// `FCC_PROXY_BIN` names a proxy binary.
    pub fn new(devnet: impl Into<PathBuf>) -> Self {
        match std::env::var_os("FCC_PROXY_BIN") {
            Some(bin) => Self { program: bin.into(), prefix: Vec::new() },
            None => Self { program: devnet.into(), prefix: vec![crate::PROXY_SUBCOMMAND.to_owned()] },
        }
    }

    /// A `Command` running the proxy, to which the proxy's own arguments are added.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.prefix);
        cmd
    }
}

/// The `fcc-proxy` binary running as a child process; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ProxyProcess {
    child: Child,
    /// HTTP API.
    pub http: SocketAddr,
    /// Guest link.
    pub link: SocketAddr,
    /// Its log (stderr).
    pub log: PathBuf,
}

/// Parses the binary's `LISTENING http=<addr> link=<addr>` line.
fn parse_listening(line: &str) -> Result<(SocketAddr, SocketAddr)> {
    let rest = line.trim().strip_prefix("LISTENING ").with_context(|| format!("not a LISTENING line: {line:?}"))?;
    let mut http = None;
    let mut link = None;
    for kv in rest.split_whitespace() {
        if let Some(v) = kv.strip_prefix("http=") {
            http = Some(v.parse()?);
        } else if let Some(v) = kv.strip_prefix("link=") {
            link = Some(v.parse()?);
        }
    }
    Ok((http.context("no http= in LISTENING")?, link.context("no link= in LISTENING")?))
}

impl ProxyProcess {
    /// Starts the proxy with `args` and `env`, its stderr appended to `log`, and waits for its
    /// `LISTENING` line.
    pub fn spawn(proxy: &ProxyCommand, args: &[String], env: &[(&str, String)], log: &Path) -> Result<Self> {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let mut cmd = proxy.command();
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {}", proxy.program.display()))?;
        let stdout = child.stdout.take().context("proxy stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the proxy never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log_text = std::fs::read_to_string(log).unwrap_or_default();
                bail!("fcc-proxy printed no LISTENING line; its log:\n{log_text}");
            }
        };
        let (http, link) = match parse_listening(&line) {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Self { child, http, link, log: log.to_path_buf() })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reaps it.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM (a clean shutdown), waiting up to `timeout` before SIGKILL.
    pub fn terminate(&mut self, timeout: Duration) {
        // `kill(1)` rather than libc: this crate has no unsafe code.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// A free TCP port on 127.0.0.1 (bound and released; the proxy binary binds it next).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line() {
        let (h, l) = parse_listening("LISTENING http=127.0.0.1:1 link=127.0.0.1:2\n").unwrap();
        assert_eq!((h.port(), l.port()), (1, 2));
        assert!(parse_listening("LISTENING http=127.0.0.1:1").is_err());
        assert!(parse_listening("hello").is_err());
    }
}
