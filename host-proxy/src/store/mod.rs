//! Durable state behind one trait: instructions collecting votes, the action queue with leases,
//! results (exactly one per id), the policies votes are weighed against, the connected TEE and
//! block cursors for the chain monitor. SQLite (embedded, zero set-up) and PostgreSQL (several
//! proxies on one database) implement it with the same SQL and pass the same test-suite.
//!
//! Every method that changes state commits before it returns, so whatever the proxy acknowledges
//! (a receipt, an `Ack`) survives a crash.

mod interface;
mod sql;

pub use interface::*;
pub use sql::{PgStore, SqliteStore};

/// Opens the store a URL names: `sqlite://path` (created if missing) or `postgres://…`.
pub async fn open(url: &str) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(PgStore::open(url).await?))
    } else {
        anyhow::bail!("database URL must start with sqlite: or postgres: (got a URL with another scheme)")
    }
}
