//! Secrets stay out of the logs (issue 22 item 2): the `fcc-proxy` binary runs with a Postgres
//! password in its database URL, an RPC provider's key in the chain URL's path, a password in its
//! userinfo and an API key in its query, and a receipt key in the environment, at the most verbose
//! log level; the chain follower fails against the unreachable node and logs its errors. Neither
//! its log, nor its exit error, nor `GET /info` contains any of them; the settings are printed
//! readably (addresses as hex, URLs masked).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

const DB_PASSWORD: &str = "db-pass-5e1d7c";
const RPC_PASSWORD: &str = "rpc-pass-9f3a21";
const RPC_PATH_KEY: &str = "0123456789abcdefKEY42";
const RPC_QUERY_KEY: &str = "QUERYKEY77aa";
const RECEIPT_KEY: &str = "4242424242424242424242424242424242424242424242424242424242424242";

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn assert_clean(what: &str, text: &str) {
    for secret in [DB_PASSWORD, RPC_PASSWORD, RPC_PATH_KEY, RPC_QUERY_KEY, RECEIPT_KEY] {
        assert!(!text.contains(secret), "{what} shows the secret {secret}:\n{text}");
    }
}

fn proxy(database: &str, rpc: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fcc-proxy"));
    c.args(["--database", database, "--http", "127.0.0.1:0", "--link", "127.0.0.1:0", "--chain-id", "14"])
        .args(["--chain-rpc-url", rpc, "--chain-poll-ms", "100", "--chain-rpc-timeout-ms", "500"])
        .args(["--chain-relay", "0x1111111111111111111111111111111111111111"])
        .args(["--chain-instruction-sender", "0x2222222222222222222222222222222222222222"])
        .env("RUST_LOG", "trace")
        .env("FCC_PROXY_KEY", format!("0x{RECEIPT_KEY}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A running proxy: its process, its log read to the end in the background, its HTTP address.
struct Running {
    child: std::process::Child,
    log: std::thread::JoinHandle<String>,
    http: String,
}

impl Running {
    /// Spawns `command` and waits for its LISTENING line.
    fn start(mut command: Command) -> Self {
        let mut child = command.spawn().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let http = line.split_whitespace().find_map(|w| w.strip_prefix("http=")).expect("LISTENING http=…").to_string();
        Self { child, log, http }
    }

    /// Kills it and returns its whole log.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.join().unwrap()
    }
}

#[tokio::test]
async fn a_run_configured_with_secrets_logs_none_of_them() {
    let rpc = format!("http://fcc:{RPC_PASSWORD}@127.0.0.1:{}/v3/{RPC_PATH_KEY}?apikey={RPC_QUERY_KEY}", closed_port());
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/proxy.db", dir.path().display());
    let proxy = Running::start(proxy(&db, &rpc));
    let info = reqwest::get(format!("http://{}/info", proxy.http)).await.unwrap().text().await.unwrap();
    assert_clean("GET /info", &info);
    // Let the follower fail against the closed port a few times.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = proxy.stop();
    assert_clean("the log", &log);
    assert!(
        log.contains("starting: http=127.0.0.1:0 link=127.0.0.1:0 metrics=on the API's listener database=sqlite://"),
        "{log}"
    );
    assert!(log.contains("relay=0x1111111111111111111111111111111111111111"), "addresses as hex: {log}");
    assert!(log.contains("rpc-url=http://fcc:***@127.0.0.1:"), "{log}");
    assert!(log.contains("key=set"), "{log}");
    assert!(log.contains("chain monitor"), "the follower's errors were logged (and scrubbed): {log}");
}

#[test]
fn an_unreachable_database_is_reported_without_its_password() {
    let db = format!("postgres://fcc:{DB_PASSWORD}@127.0.0.1:{}/fcc", closed_port());
    let out = proxy(&db, "http://127.0.0.1:1/rpc").output().unwrap();
    assert!(!out.status.success(), "the proxy cannot start without its database");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_clean("the exit error", &stderr);
    assert!(stderr.contains("database"), "{stderr}");
}

/// Issue 22 item 3 (part): `--log-format json` writes one JSON object a line — scrubbed the same
/// way — and `/metrics` names the build.
#[tokio::test]
async fn json_logs_are_one_object_a_line_and_metrics_name_the_build() {
    let rpc = format!("http://fcc:{RPC_PASSWORD}@127.0.0.1:{}/v3/{RPC_PATH_KEY}", closed_port());
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/proxy.db", dir.path().display());
    let mut command = proxy(&db, &rpc);
    command.args(["--log-format", "json"]).env("RUST_LOG", "info");
    let proxy = Running::start(command);
    let metrics = reqwest::get(format!("http://{}/metrics", proxy.http)).await.unwrap().text().await.unwrap();
    let build = format!(
        "fcc_proxy_build_info{{version=\"{}\",core=\"{}\",link_protocol=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        fcc_core::config::VERSION,
        fcc_core::wire::PROTOCOL_VERSION
    );
    assert!(metrics.contains(&build), "{build} not in\n{metrics}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = proxy.stop();
    assert_clean("the JSON log", &log);
    let mut lines = 0;
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
        lines += 1;
    }
    assert!(lines >= 2 && log.contains("starting: http="), "{log}");
}
