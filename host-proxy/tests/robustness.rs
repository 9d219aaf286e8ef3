//! Faults at the edges: a slow-loris HTTP client is cut off after the header timeout while other
//! clients are served, and shutdown with a connected guest and an idle keep-alive client
//! completes promptly, closing the guest's link.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::config;
use fcc_proxy::store::{SqliteStore, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start(dir: &tempfile::TempDir, config: fcc_proxy::Config) -> fcc_proxy::Running {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&format!("sqlite://{}/proxy.db", dir.path().display())).await.unwrap());
    let http = TcpListener::bind(config.http).await.unwrap();
    let link = TcpListener::bind(config.link).await.unwrap();
    fcc_proxy::start_with(config, store, http, link).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_client_is_cut_off_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, fcc_proxy::Config { header_timeout_ms: 600, ..config() }).await;
    let addr = running.http_addr;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    // One header byte every 50 ms: the headers would take 10 s to arrive.
    let trickle = tokio::spawn(async move {
        let request = format!("GET /healthy HTTP/1.1\r\nHost: {addr}\r\nX-Slow: {}\r\n\r\n", "a".repeat(160));
        for b in request.as_bytes() {
            if slow.write_all(&[*b]).await.is_err() {
                return (slow, true);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (slow, false)
    });
    // Meanwhile a normal client is served.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ok = reqwest::get(format!("http://{addr}/healthy")).await.unwrap();
    assert_eq!(ok.status(), 200);
    // The slow client's connection is closed: reading yields EOF (or a reset, or a 408) well
    // before its headers could have been complete.
    let (mut slow, write_failed) = tokio::time::timeout(Duration::from_secs(8), trickle).await.unwrap().unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), slow.read_to_end(&mut buf)).await;
    let elapsed = started.elapsed();
    assert!(write_failed || read.is_ok(), "the slow connection stayed open");
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "unexpected answer: {text}");
    assert!(!text.contains("200 OK"), "the slow request was served: {text}");
    assert!(elapsed < Duration::from_secs(6), "cut off only after {elapsed:?}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_connected_guest_and_keep_alive_client_is_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&dir, config()).await;
    let tee = Arc::new(Mutex::new(fcc_proxy_testing::new_tee(common::CHAIN_ID).unwrap()));
    let link = running.link_addr;
    let guest =
        tokio::spawn(async move { fcc_proxy_testing::connect_once(link, &tee, fcc_proxy_testing::Mode::Serve).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.shared.sessions.connected() == 0 {
        assert!(Instant::now() < deadline, "the guest did not connect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // An idle keep-alive HTTP connection stays in the client's pool.
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("http://{}/healthy", running.http_addr)).send().await.unwrap().status(), 200);
    let http_addr = running.http_addr;
    let started = Instant::now();
    // The guest's pull is held (long poll 60 s in this config): shutdown must not wait for it.
    tokio::time::timeout(Duration::from_secs(3), running.shutdown()).await.expect("shutdown took over 3 s");
    let took = started.elapsed();
    let ended = tokio::time::timeout(Duration::from_secs(2), guest).await.expect("the guest's link stayed open");
    // The proxy closed the link: the stand-in guest sees EOF (Ok) or a reset (Err), not a hang.
    let _ = ended.unwrap();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(TcpStream::connect(http_addr).await.is_err(), "the HTTP listener is closed");
}
