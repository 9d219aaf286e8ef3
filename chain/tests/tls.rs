//! HTTPS to the RPC node (`fcc_chain::http`): a scripted node serving TLS with a throw-away CA's
//! certificate is read through a client that trusts that CA's file — and refused by one that
//! trusts only the platform's roots or another CA; a CA file without a certificate is a clear
//! error, not an empty trust store.

use alloy::providers::Provider;
use anyhow::Result;
use fcc_chain::http;
use fcc_chain::testing::{Chain, ScriptedNode, TestCa};

async fn node(ca: &TestCa) -> Result<ScriptedNode> {
    let node = ScriptedNode::start_tls(Chain::default(), ca).await?;
    node.with(|c| c.grow(7, 0));
    Ok(node)
}

fn ca_file(dir: &tempfile::TempDir, name: &str, pem: &str) -> Result<std::path::PathBuf> {
    let path = dir.path().join(name);
    std::fs::write(&path, pem)?;
    Ok(path)
}

#[tokio::test]
async fn an_https_node_is_read_only_through_the_trusted_ca() -> Result<()> {
    let ca = TestCa::new();
    let node = node(&ca).await?;
    let dir = tempfile::tempdir()?;
    let url: reqwest::Url = node.url().parse()?;
    assert_eq!(url.scheme(), "https");

    let trusted = http::provider(url.clone(), http::client(Some(&ca_file(&dir, "ca.pem", &ca.ca_pem)?))?);
    assert_eq!(trusted.get_chain_id().await?, 14);
    assert_eq!(trusted.get_block_number().await?, 7);

    // The platform's roots do not know the test CA; another CA is not this one.
    let platform = http::provider(url.clone(), http::client(None)?);
    let err = platform.get_block_number().await.expect_err("an unknown issuer was trusted");
    assert!(format!("{err:?}").to_lowercase().contains("certificate"), "{err:?}");
    let other = TestCa::new();
    let stranger = http::provider(url, http::client(Some(&ca_file(&dir, "other.pem", &other.ca_pem)?))?);
    let err = stranger.get_block_number().await.expect_err("another CA's certificate was trusted");
    assert!(format!("{err:?}").to_lowercase().contains("certificate"), "{err:?}");
    assert!(node.with(|c| c.asked.iter().all(|m| m == "eth_chainId" || m == "eth_blockNumber")));
    assert_eq!(node.with(|c| c.asked.len()), 2, "only the trusting client's requests reached the node");
    // The server notes a refused handshake when the client's alert reaches it.
    for _ in 0..100 {
        if node.refused_handshakes() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(node.refused_handshakes() >= 2, "the refusals were the clients' handshakes");

    // A CA file that holds no certificate is refused when the client is made.
    let empty = ca_file(&dir, "empty.pem", "not a certificate\n")?;
    let err = http::client(Some(&empty)).expect_err("an empty trust store");
    assert!(format!("{err:#}").contains("holds no certificate"), "{err:#}");
    let missing = dir.path().join("missing.pem");
    assert!(format!("{:#}", http::client(Some(&missing)).unwrap_err()).contains("reading the CA file"));
    Ok(())
}
