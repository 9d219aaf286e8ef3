//! The system's processes as the devnet (and the end-to-end tests) run them: the `fcc-proxy`
//! command line in a child process (killed with SIGKILL when dropped, or asked to stop), a free
//! port for it, and an HTTP client of its Flare-compatible API that reads results back into
//! fcc-core's `SignedResult` (`fcc_flare_json`'s format) so their signatures can be recovered
//! independently of the proxy, which checked them too.

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

    /// `POST /wallet/backup` for `key`, then the backup it made (Flare's `TEEBackupResponse`
    /// JSON) from where the providers fetch it.
    pub async fn wallet_backup(&self, key: &fcc_core::wallet::KeyIdPair) -> Result<MadeBackup> {
        let r = self
            .client
            .post(format!("{}/wallet/backup", self.base))
            .json(&serde_json::json!({"walletId": hex0x(&key.wallet_id), "keyId": key.key_id}))
            .send()
            .await?;
        let code = r.status().as_u16();
        let made: Value = r.json().await?;
        ensure!(code == 200, "POST /wallet/backup: {code} {made}");
        let id = made["id"].as_str().with_context(|| format!("no id in {made}"))?.trim_start_matches("0x");
        let id: H256 = hex::decode(id)?.try_into().map_err(|_| anyhow::anyhow!("id is not 32 bytes"))?;
        let url = format!("{}{}", self.base, made["path"].as_str().with_context(|| format!("no path in {made}"))?);
        let json = self.client.get(&url).send().await?.error_for_status()?.text().await?;
        Ok(MadeBackup { id, url, json })
    }

    /// `POST /wallet/heartbeat`: the TEE's signed `KeyBackupRegistry` heartbeat naming the backup
    /// `backup` (an id [`Api::wallet_backup`] returned) for `registry` and `extension_id` after
    /// block `reference` (number, hash).
    pub async fn wallet_heartbeat(
        &self,
        backup: &H256,
        registry: &[u8; 20],
        extension_id: &H256,
        reference: (u64, H256),
    ) -> Result<SignedResult> {
        let r = self
            .client
            .post(format!("{}/wallet/heartbeat", self.base))
            .json(&serde_json::json!({
                "backup": hex0x(backup),
                "registry": hex0x(registry),
                "extensionId": hex0x(extension_id),
                "referenceBlock": reference.0,
                "referenceHash": hex0x(&reference.1),
            }))
            .send()
            .await?;
        let code = r.status().as_u16();
        let body: Value = r.json().await?;
        ensure!(code == 200, "POST /wallet/heartbeat: {code} {body}");
        parse_result(&body)
    }
}

/// A backup made through `POST /wallet/backup`.
#[derive(Debug, Clone)]
pub struct MadeBackup {
    /// Its id (the `TEE_BACKUP` action's).
    pub id: H256,
    /// Where the providers fetch it.
    pub url: String,
    /// Flare's `TEEBackupResponse` JSON served there.
    pub json: String,
}

/// The proxy's result JSON (`{result, signature, proxySignature}`, `fcc_flare_json`) as
/// fcc-core's `SignedResult`.
pub fn parse_result(body: &Value) -> Result<SignedResult> {
    let response: fcc_flare_json::ActionResponse =
        serde_json::from_value(body.clone()).context("the proxy's result JSON")?;
    Ok(response.signed_result()?)
}

/// How to start the proxy as a process of its own: a program serving `fcc-proxy`'s command line
/// (`fcc_proxy::cli::run`) — the devnet's own executable with its `proxy` subcommand, or a
/// binary the caller's package builds with it, so no second build of the proxy with another
/// feature set is needed. `FCC_PROXY_BIN` runs a real `fcc-proxy` binary instead.
#[derive(Debug, Clone)]
pub struct ProxyCommand {
    program: PathBuf,
    prefix: Vec<String>,
}

impl ProxyCommand {
    /// The proxy as `program <subcommand> <args…>` (the devnet: its own executable and
    /// [`crate::PROXY_SUBCOMMAND`]), or `program <args…>` without one; `FCC_PROXY_BIN`, if set,
    /// names a proxy binary to run instead.
    pub fn new(program: impl Into<PathBuf>, subcommand: Option<&str>) -> Self {
        match std::env::var_os("FCC_PROXY_BIN") {
            Some(bin) => Self { program: bin.into(), prefix: Vec::new() },
            None => Self { program: program.into(), prefix: subcommand.map(str::to_owned).into_iter().collect() },
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
