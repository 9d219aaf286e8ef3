//! A scripted JSON-RPC node for tests (feature `testing`): a real HTTP server on loopback that
//! answers the four requests the monitor and the proxy make — `eth_blockNumber`,
//! `eth_getBlockByNumber`, `eth_getLogs`, `eth_getTransactionByHash` — from a chain the test
//! writes, and lies, stalls or reorganises exactly as the test says — over HTTP, or over HTTPS
//! with a certificate of a throw-away test CA ([`TestCa`]). Never in a production binary.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use alloy::consensus::{Signed, TxEnvelope, TxLegacy};
use alloy::primitives::aliases::U24;
use alloy::primitives::{Address, B256, Bytes, LogData, Signature, TxKind, U256};
use alloy::rpc::types::{Block, Log, Transaction};
use alloy::sol_types::SolEvent;
use axum::Json;
use axum::extract::State;
use fcc_core::policy::SigningPolicy;
use serde_json::{Value, json};

use crate::SigningPolicyInitialized;

/// What the node says: its chain and its faults. Tests edit it through [`ScriptedNode::with`].
#[derive(Debug, Default)]
pub struct Chain {
    /// The head it reports.
    pub head: u64,
    /// Block hashes by number (a block it has no hash for is answered `null`).
    pub blocks: BTreeMap<u64, B256>,
    /// Logs, answered for `eth_getLogs` by block number (whatever their hash says).
    pub logs: Vec<Log>,
    /// Transaction inputs by hash.
    pub transactions: HashMap<B256, Bytes>,
    /// Methods it never answers.
    pub stall: HashSet<String>,
    /// Every method asked, in order.
    pub asked: Vec<String>,
}

impl Chain {
    /// A hash for block `n` on fork `fork` (distinct per pair).
    pub fn hash(n: u64, fork: u8) -> B256 {
        let mut h = [fork; 32];
        h[24..].copy_from_slice(&n.to_be_bytes());
        B256::from(h)
    }

    /// Blocks `0..=head` on `fork`, and that head.
    pub fn grow(&mut self, head: u64, fork: u8) {
        for n in 0..=head {
            self.blocks.insert(n, Self::hash(n, fork));
        }
        self.head = head;
    }

    /// Blocks `from..=head` move to `fork` (a reorg); their logs go unless re-added.
    pub fn reorg(&mut self, from: u64, head: u64, fork: u8) {
        self.blocks.retain(|n, _| *n < from);
        for n in from..=head {
            self.blocks.insert(n, Self::hash(n, fork));
        }
        self.logs.retain(|l| l.block_number.is_some_and(|b| b < from));
        self.head = head;
    }

    /// Adds a log of `address` in block `block` (its hash is the block's now), from transaction
    /// `tx`.
    pub fn log(&mut self, address: Address, data: LogData, block: u64, tx: B256) {
        let index = self.logs.iter().filter(|l| l.block_number == Some(block)).count() as u64;
        self.logs.push(Log {
            inner: alloy::primitives::Log { address, data },
            block_hash: self.blocks.get(&block).copied(),
            block_number: Some(block),
            block_timestamp: None,
            transaction_hash: Some(tx),
            transaction_index: Some(0),
            log_index: Some(index),
            removed: false,
        });
    }
}

impl Chain {
    /// Adds the relay's `SigningPolicyInitialized` for the policy `bytes` (a well-formed event:
    /// its fields are the bytes') in `block`, emitted by transaction `tx` whose input is `input`
    /// (a `relay()` call, or anything else for the owner's setter).
    pub fn policy(&mut self, relay: Address, bytes: &[u8], block: u64, tx: B256, input: Bytes) {
        let p = SigningPolicy::decode(bytes).expect("a policy");
        let e = SigningPolicyInitialized {
            rewardEpochId: U24::from(p.reward_epoch_id()),
            startVotingRoundId: p.start_voting_round_id(),
            threshold: p.threshold(),
            seed: U256::from_be_bytes(*p.seed()),
            voters: p.voters().iter().map(|v| Address::from(v.address)).collect(),
            weights: p.voters().iter().map(|v| v.weight).collect(),
            signingPolicyBytes: Bytes::copy_from_slice(bytes),
            timestamp: 0,
        };
        self.transactions.insert(tx, input);
        self.log(relay, e.encode_log_data(), block, tx);
    }
}

/// The running node.
#[derive(Debug)]
pub struct ScriptedNode {
    /// Its address.
    pub addr: SocketAddr,
    chain: Arc<Mutex<Chain>>,
    task: tokio::task::JoinHandle<()>,
    tls: bool,
    refused: Arc<std::sync::atomic::AtomicUsize>,
}

/// A throw-away certificate authority and a server certificate it issued for `localhost` and
/// 127.0.0.1.
pub struct TestCa {
    /// The CA's certificate (PEM): what a client must trust.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA and server certificate.
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "fcc test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("a CA certificate");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("a server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("names");
        let cert = params.signed_by(&key, &issuer).expect("a server certificate");
        let chain = vec![cert.der().clone(), ca_cert.der().clone()];
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let server = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).expect("TLS");
        Self { ca_pem: ca_cert.pem(), server: Arc::new(server) }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ScriptedNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn block_json(n: u64, hash: B256) -> Value {
    let mut b = Block::<Transaction>::default();
    b.header.hash = hash;
    b.header.inner.number = n;
    serde_json::to_value(b).expect("a block serialises")
}

fn transaction_json(hash: B256, input: &Bytes) -> Value {
    let tx = TxLegacy {
        chain_id: Some(14),
        to: TxKind::Call(Address::ZERO),
        value: U256::ZERO,
        input: input.clone(),
        ..Default::default()
    };
    let signature = Signature::new(U256::from(1), U256::from(1), false);
    let envelope = TxEnvelope::Legacy(Signed::new_unchecked(tx, signature, hash));
    let t = Transaction {
        inner: alloy::consensus::transaction::Recovered::new_unchecked(envelope, Address::ZERO),
        block_hash: None,
        block_number: None,
        block_timestamp: None,
        transaction_index: None,
        effective_gas_price: None,
    };
    serde_json::to_value(t).expect("a transaction serialises")
}

fn quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

async fn answer(State(chain): State<Arc<Mutex<Chain>>>, Json(request): Json<Value>) -> Json<Value> {
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    let params = &request["params"];
    let result = {
        let mut c = chain.lock().expect("node lock");
        c.asked.push(method.clone());
        if c.stall.contains(&method) {
            None
        } else {
            Some(match method.as_str() {
                "eth_blockNumber" => json!(format!("{:#x}", c.head)),
                "eth_getBlockByNumber" => match quantity(&params[0]).and_then(|n| c.blocks.get(&n).map(|h| (n, *h))) {
                    Some((n, h)) if n <= c.head => block_json(n, h),
                    _ => Value::Null,
                },
                "eth_getLogs" => {
                    let (from, to) = (quantity(&params[0]["fromBlock"]), quantity(&params[0]["toBlock"]));
                    let (from, to) = (from.unwrap_or(0), to.unwrap_or(u64::MAX));
                    let logs: Vec<&Log> =
                        c.logs.iter().filter(|l| l.block_number.is_some_and(|b| (from..=to).contains(&b))).collect();
                    serde_json::to_value(logs).expect("logs serialise")
                }
                "eth_getTransactionByHash" => {
                    let hash: Option<B256> = params[0].as_str().and_then(|h| h.parse().ok());
                    match hash.and_then(|h| c.transactions.get(&h).map(|i| (h, i.clone()))) {
                        Some((h, input)) => transaction_json(h, &input),
                        None => Value::Null,
                    }
                }
                "eth_chainId" => json!("0xe"),
                _ => {
                    return Json(
                        json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "no such method"}}),
                    );
                }
            })
        }
    };
    match result {
        Some(result) => Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result})),
        None => std::future::pending().await,
    }
}

impl ScriptedNode {
    /// Starts a node answering from `chain`.
    pub async fn start(chain: Chain) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let chain = Arc::new(Mutex::new(chain));
        let app = axum::Router::new().route("/", axum::routing::post(answer)).with_state(chain.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, chain, task, tls: false, refused: Arc::default() })
    }

    /// Starts a node answering from `chain` over HTTPS with `ca`'s server certificate.
    pub async fn start_tls(chain: Chain, ca: &TestCa) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let chain = Arc::new(Mutex::new(chain));
        let app = axum::Router::new().route("/", axum::routing::post(answer)).with_state(chain.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server.clone());
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = refused.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app, counter) = (acceptor.clone(), app.clone(), counter.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends its handshake here.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, chain, task, tls: true, refused })
    }

    /// TLS handshakes that did not complete (a client refused the certificate).
    pub fn refused_handshakes(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Its URL (`https://localhost:…/` when it serves TLS: the name its certificate carries).
    pub fn url(&self) -> String {
        if self.tls { format!("https://localhost:{}/", self.addr.port()) } else { format!("http://{}/", self.addr) }
    }

    /// Edits (or reads) what it says.
    pub fn with<T>(&self, f: impl FnOnce(&mut Chain) -> T) -> T {
        f(&mut self.chain.lock().expect("node lock"))
    }
}
