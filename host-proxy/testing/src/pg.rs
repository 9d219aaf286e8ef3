//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, `pg_ctl start`
//! on a free loopback port (as the `postgres` user when running as root, since the server
//! refuses root), stopped and deleted on drop. `FCC_PROXY_PG_URL` points at an existing server
//! instead. Without PostgreSQL binaries the caller prints SKIPPED — unless
//! `FCC_REQUIRE_POSTGRES=1` (CI), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running server.
pub struct Postgres {
    dir: Option<tempfile::TempDir>,
    pg_ctl: Option<PathBuf>,
    as_postgres: bool,
    base_url: String,
    next_db: std::sync::atomic::AtomicU32,
}

fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

impl Postgres {
    /// Starts a server, or `None` (after printing SKIPPED) when none can be had here.
    pub fn start(test: &str) -> Option<Postgres> {
        if let Ok(url) = std::env::var("FCC_PROXY_PG_URL") {
            return Some(Postgres {
                dir: None,
                pg_ctl: None,
                as_postgres: false,
                base_url: url,
                next_db: Default::default(),
            });
        }
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var("FCC_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "FCC_REQUIRE_POSTGRES=1 but no PostgreSQL binaries under /usr/lib/postgresql"
            );
            println!("SKIPPED: {test} (no PostgreSQL binaries under /usr/lib/postgresql; apt-get install postgresql)");
            return None;
        };
        Some(Self::init(&bin).expect("starting a throwaway PostgreSQL"))
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn init(bin: &Path) -> anyhow::Result<Postgres> {
        let dir = tempfile::Builder::new().prefix("fcc-proxy-pg").tempdir()?;
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut pg = Postgres {
            dir: Some(dir),
            pg_ctl: Some(bin.join("pg_ctl")),
            as_postgres,
            base_url: format!("postgres://postgres@127.0.0.1:{port}"),
            next_db: Default::default(),
        };
        let data = pg.dir.as_ref().expect("dir").path().join("data");
        run(pg.command(&bin.join("initdb")).args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"]).arg(&data))?;
        let opts =
            format!("-p {port} -k {} -c listen_addresses=127.0.0.1", pg.dir.as_ref().expect("dir").path().display());
        let log = pg.dir.as_ref().expect("dir").path().join("log");
        run(pg
            .command(&bin.join("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(&log)
            .arg("start"))
        .inspect_err(|_| pg.pg_ctl = None)?;
        Ok(pg)
    }

    /// A fresh, empty database on the server.
    pub async fn database(&self) -> String {
        use sqlx::Connection;
        let n = self.next_db.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("fcc_test_{}_{n}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", self.base_url)).await.unwrap();
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        format!("{}/{name}", self.base_url)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let (Some(pg_ctl), Some(dir)) = (&self.pg_ctl, &self.dir) {
            let _ = self
                .command(pg_ctl)
                .args(["-D"])
                .arg(dir.path().join("data"))
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }
}
