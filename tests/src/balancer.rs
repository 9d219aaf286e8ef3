//! A TCP balancer: one address in front of several backends, as an operator puts a load
//! balancer in front of two proxies. Each new connection goes to the next backend in turn that
//! accepts it (a dead one is skipped), and bytes are copied both ways until either side closes
//! — so when a backend dies, its connections close and reconnecting clients reach another.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use tokio::net::{TcpListener, TcpStream};

/// A running balancer; stops accepting when dropped.
#[derive(Debug)]
pub struct Balancer {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Connections handed to each backend so far.
    pub routed: Arc<Vec<AtomicUsize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// Listens on a loopback port the OS picks, in front of `backends`.
    pub async fn start(backends: Vec<SocketAddr>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let routed: Arc<Vec<AtomicUsize>> = Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = routed.clone();
        let task = tokio::spawn(async move {
            let mut next = 0usize;
            while let Ok((mut client, _)) = listener.accept().await {
                let start = next;
                next = next.wrapping_add(1);
                let (backends, counts) = (backends.clone(), counts.clone());
                tokio::spawn(async move {
                    for k in 0..backends.len() {
                        let i = (start + k) % backends.len();
                        if let Ok(mut server) = TcpStream::connect(backends[i]).await {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                    // No backend alive: the client's connection just closes.
                });
            }
        });
        Ok(Self { addr, routed, task })
    }

    /// Connections handed to backend `i`.
    pub fn routed_to(&self, i: usize) -> usize {
        self.routed[i].load(Ordering::Relaxed)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
