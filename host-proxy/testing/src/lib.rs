//! `fcc-proxy-testing`: an in-process stand-in for the guest — an `fcc_core::Tee` behind the
//! same client session (`fcc_core::session::Session`) the unikernel runs, over a real TCP
//! connection to the proxy's link port — and loopback proxies on SQLite. The proxy's tests and
//! benchmark, the simulated providers' and the end-to-end tests use it as a dev-dependency; no
//! production binary links it. The end-to-end tests with the ROM in QEMU speak to the same link.
//! `pg` starts a throwaway PostgreSQL server for the tests that need a real one.

pub mod pg;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fcc_core::Config;
use fcc_core::action::ActionKind;
use fcc_core::attester::Simulated;
use fcc_core::ops::Registry;
use fcc_core::policy::PolicyHashScheme;
use fcc_core::session::Session;
use fcc_core::tee::Tee;
use fcc_core::wire::{FrameReader, ProxyMessage, decode_body};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A fresh TEE (new identity) for `chain_id`, legacy policy hashes.
pub fn new_tee(chain_id: u64) -> Result<Tee> {
    let config = Config { chain_id, policy_hash: PolicyHashScheme::Legacy, registration: None };
    Tee::new(config, &mut rand::rng(), Registry::system()).map_err(|e| anyhow::anyhow!("TEE: {e}"))
}

/// Loopback listeners on ports the OS picks, serving `chain_id`; the rest default.
pub fn loopback_config(chain_id: u64) -> fcc_proxy::Config {
    fcc_proxy::Config {
        http: "127.0.0.1:0".parse().expect("address"),
        link: "127.0.0.1:0".parse().expect("address"),
        chain_id,
        ..fcc_proxy::Config::default()
    }
}

/// A proxy with `config` on a new SQLite file `proxy.db` in `dir` (which the caller keeps), its
/// listeners bound where `config` says.
pub async fn start_sqlite(dir: &std::path::Path, config: fcc_proxy::Config) -> Result<fcc_proxy::Running> {
    let store = fcc_proxy::store::SqliteStore::open(&format!("sqlite://{}/proxy.db", dir.display())).await?;
    let http = tokio::net::TcpListener::bind(config.http).await.context("binding the HTTP address")?;
    let link = tokio::net::TcpListener::bind(config.link).await.context("binding the link address")?;
    fcc_proxy::start_with(config, Arc::new(store), http, link).await
}

/// How the stand-in behaves on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answer everything.
    Serve,
    /// Serve direct actions, but close the connection, unanswered, when a batch with an
    /// instruction arrives (a guest dying mid-action).
    DieOnInstruction,
    /// Serve direct actions, but never answer a batch with an instruction and keep the
    /// connection open (a guest hanging mid-action); returns when the proxy closes it.
    HangOnInstruction,
}

/// One connection: greets, then answers actions until the proxy closes it or `mode` says die.
/// Returns the number of actions answered.
pub async fn connect_once(addr: SocketAddr, tee: &Mutex<Tee>, mode: Mode) -> Result<u64> {
    let mut stream = TcpStream::connect(addr).await.context("connecting to the proxy's link")?;
    stream.set_nodelay(true)?;
    let mut session = Session::start();
    let mut watch = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Consuming may queue the next pull (backpressure): write until nothing is left.
        while !session.output().is_empty() {
            stream.write_all(session.output()).await?;
            let n = session.output().len();
            session.consume(n).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let room = session.room().min(buf.len());
        let n = stream.read(&mut buf[..room]).await?;
        if n == 0 {
            return Ok(session.handled);
        }
        if mode != Mode::Serve {
            watch.push(&buf[..n]).map_err(|e| anyhow::anyhow!("{e}"))?;
            while let Some(body) = watch.next_body().map_err(|e| anyhow::anyhow!("{e}"))? {
                if let Ok(ProxyMessage::Actions(a)) = decode_body::<ProxyMessage>(&body)
                    && a.iter().any(|a| a.kind == ActionKind::Instruction)
                {
                    if mode == Mode::HangOnInstruction {
                        // Silent until the proxy gives up on this connection.
                        while stream.read(&mut buf).await? > 0 {}
                    }
                    return Ok(session.handled);
                }
            }
        }
        let mut tee = tee.lock().expect("tee lock");
        if let Err(e) = session.receive(&buf[..n], &mut tee, &mut Simulated) {
            bail!("the session ended: {e}");
        }
    }
}

/// A guest that reconnects (after 20 ms) whenever its connection ends, until aborted.
pub fn spawn_guest(addr: SocketAddr, tee: Arc<Mutex<Tee>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let _ = connect_once(addr, &tee, Mode::Serve).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}
