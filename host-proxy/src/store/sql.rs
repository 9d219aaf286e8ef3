//! The SQL implementations. Both dialects run the same statements (`$n` placeholders, `ON
//! CONFLICT`, `RETURNING`); they differ in column types, in row locks (PostgreSQL locks the rows
//! it reads for update, so several proxies can share one database; SQLite serialises writers on
//! its one connection) and in how durability is configured.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use fcc_core::action::{Action, ActionKind};
use fcc_core::hash::{H256, keccak256};
use fcc_core::instruction::InstructionData;
use fcc_core::policy::Address;
use fcc_core::result::{SignedResult, SubmissionTag};
use fcc_core::verify::Vote;
use fcc_core::wire::Hello;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::interface::{
    ChainApplied, ChainBatch, ChainInstruction, Counts, InstructionStatus, MAX_RECENT_ACTIONS, NewVote, OpenLimits,
    PolicyConflict, RecentAction, Store, StoreError, StoreResult, VoteOutcome, VoteRejection,
};
use fcc_flare_json::receipt::{initial_vote_hash, next_vote_hash};

// A candidate's states: collecting votes, queued (it decided its id), answered, superseded
// (another candidate of its id was queued) or expired. Open means below STATE_DONE.
const STATE_COLLECTING: i64 = 0;
const STATE_QUEUED: i64 = 1;
const STATE_DONE: i64 = 2;
const STATE_SUPERSEDED: i64 = 3;
const STATE_EXPIRED: i64 = 4;

/// Instructions and their votes, one row per (id, `hashFixed`) candidate; `creator` is the voter
/// whose vote opened it (the per-voter bound counts these).
const SQLITE_INSTRUCTIONS: &str = "
CREATE TABLE IF NOT EXISTS instructions (id BLOB NOT NULL, hash_fixed BLOB NOT NULL, epoch INTEGER NOT NULL,
    data BLOB NOT NULL, threshold INTEGER NOT NULL, weight INTEGER NOT NULL, cosigners INTEGER NOT NULL,
    votes INTEGER NOT NULL, last_vote_hash BLOB NOT NULL, state INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    creator BLOB NOT NULL, PRIMARY KEY (id, hash_fixed));
CREATE TABLE IF NOT EXISTS votes (instruction_id BLOB NOT NULL, hash_fixed BLOB NOT NULL, signer BLOB NOT NULL,
    seq INTEGER NOT NULL, signature BLOB NOT NULL, avm BLOB NOT NULL, signer_index INTEGER NOT NULL, r_y BLOB,
    vote_hash BLOB NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (instruction_id, hash_fixed, signer));
";

/// Databases made when an instruction id held one row (schema 1) are rebuilt into candidates:
/// every row keeps its data and votes (its creator is unknown: empty).
const SQLITE_MIGRATE_CANDIDATES: &str = "
DROP INDEX IF EXISTS instructions_state;
ALTER TABLE instructions RENAME TO instructions_v1;
ALTER TABLE votes RENAME TO votes_v1;
CREATE TABLE instructions (id BLOB NOT NULL, hash_fixed BLOB NOT NULL, epoch INTEGER NOT NULL,
    data BLOB NOT NULL, threshold INTEGER NOT NULL, weight INTEGER NOT NULL, cosigners INTEGER NOT NULL,
    votes INTEGER NOT NULL, last_vote_hash BLOB NOT NULL, state INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    creator BLOB NOT NULL, PRIMARY KEY (id, hash_fixed));
CREATE TABLE votes (instruction_id BLOB NOT NULL, hash_fixed BLOB NOT NULL, signer BLOB NOT NULL,
    seq INTEGER NOT NULL, signature BLOB NOT NULL, avm BLOB NOT NULL, signer_index INTEGER NOT NULL, r_y BLOB,
    vote_hash BLOB NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (instruction_id, hash_fixed, signer));
INSERT INTO instructions (id, hash_fixed, epoch, data, threshold, weight, cosigners, votes, last_vote_hash, state,
    created_ms, creator)
    SELECT id, hash_fixed, epoch, data, threshold, weight, cosigners, votes, last_vote_hash, state, created_ms, X''
    FROM instructions_v1;
INSERT INTO votes (instruction_id, hash_fixed, signer, seq, signature, avm, signer_index, r_y, vote_hash, ts)
    SELECT v.instruction_id, i.hash_fixed, v.signer, v.seq, v.signature, v.avm, v.signer_index, v.r_y, v.vote_hash,
    v.ts FROM votes_v1 v JOIN instructions_v1 i ON i.id = v.instruction_id;
DROP TABLE votes_v1;
DROP TABLE instructions_v1;
";

const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS policies (epoch INTEGER PRIMARY KEY, bytes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tee (slot INTEGER PRIMARY KEY, hello BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tees (tee_id BLOB PRIMARY KEY, seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS actions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL UNIQUE, body BLOB NOT NULL,
    lease_until INTEGER NOT NULL, owner TEXT, deliveries INTEGER NOT NULL, done INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS actions_ready ON actions (done, seq);
CREATE TABLE IF NOT EXISTS results (id BLOB PRIMARY KEY, body BLOB NOT NULL, status INTEGER NOT NULL,
    stored_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, block INTEGER NOT NULL, hash BLOB);
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT NOT NULL, block INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (name, block));
CREATE TABLE IF NOT EXISTS chain_instructions (id BLOB PRIMARY KEY, epoch INTEGER NOT NULL, block INTEGER NOT NULL,
    tx BLOB NOT NULL, announced BLOB);
";

/// Indexes, after any migration (they name columns older schemas lack).
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS instructions_state ON instructions (state);
CREATE INDEX IF NOT EXISTS instructions_creator ON instructions (creator, state);
";

/// Databases created before cursors stored a block hash get the column (NULL: the chain follower
/// does not trust such a cursor and reads from its first block again, which the sink applies
/// idempotently).
const SQLITE_CURSOR_HASH: &str = "ALTER TABLE cursors ADD COLUMN hash BLOB";
/// Databases created before announcements were kept get the column (NULL: only the epoch is
/// checked for those rows).
const SQLITE_ANNOUNCED: &str = "ALTER TABLE chain_instructions ADD COLUMN announced BLOB";
/// Databases created before actions were addressed get the column (NULL: any TEE may take the
/// action, as before).
const SQLITE_ACTION_TEE: &str = "ALTER TABLE actions ADD COLUMN tee BLOB";
/// Databases created before the status page timed actions get the column (NULL: not known).
const SQLITE_ACTION_QUEUED: &str = "ALTER TABLE actions ADD COLUMN queued_ms INTEGER";

/// As [`SQLITE_INSTRUCTIONS`].
const PG_INSTRUCTIONS: &str = "
CREATE TABLE IF NOT EXISTS instructions (id BYTEA NOT NULL, hash_fixed BYTEA NOT NULL, epoch BIGINT NOT NULL,
    data BYTEA NOT NULL, threshold BIGINT NOT NULL, weight BIGINT NOT NULL, cosigners BIGINT NOT NULL,
    votes BIGINT NOT NULL, last_vote_hash BYTEA NOT NULL, state BIGINT NOT NULL, created_ms BIGINT NOT NULL,
    creator BYTEA NOT NULL, PRIMARY KEY (id, hash_fixed));
CREATE TABLE IF NOT EXISTS votes (instruction_id BYTEA NOT NULL, hash_fixed BYTEA NOT NULL, signer BYTEA NOT NULL,
    seq BIGINT NOT NULL, signature BYTEA NOT NULL, avm BYTEA NOT NULL, signer_index BIGINT NOT NULL, r_y BYTEA,
    vote_hash BYTEA NOT NULL, ts BIGINT NOT NULL, PRIMARY KEY (instruction_id, hash_fixed, signer));
";

/// As [`SQLITE_MIGRATE_CANDIDATES`], in place (PostgreSQL can change a primary key).
const PG_MIGRATE_CANDIDATES: &str = "
ALTER TABLE instructions ADD COLUMN creator BYTEA NOT NULL DEFAULT '\\x'::bytea;
ALTER TABLE instructions ALTER COLUMN creator DROP DEFAULT;
ALTER TABLE instructions DROP CONSTRAINT instructions_pkey;
ALTER TABLE instructions ADD PRIMARY KEY (id, hash_fixed);
ALTER TABLE votes ADD COLUMN hash_fixed BYTEA;
UPDATE votes v SET hash_fixed = i.hash_fixed FROM instructions i WHERE i.id = v.instruction_id;
ALTER TABLE votes ALTER COLUMN hash_fixed SET NOT NULL;
ALTER TABLE votes DROP CONSTRAINT votes_pkey;
ALTER TABLE votes ADD PRIMARY KEY (instruction_id, hash_fixed, signer);
";

const PG_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS policies (epoch BIGINT PRIMARY KEY, bytes BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS tee (slot BIGINT PRIMARY KEY, hello BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS tees (tee_id BYTEA PRIMARY KEY, seen_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS actions (seq BIGSERIAL PRIMARY KEY, id BYTEA NOT NULL UNIQUE, body BYTEA NOT NULL,
    lease_until BIGINT NOT NULL, owner TEXT, deliveries BIGINT NOT NULL, done BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS actions_ready ON actions (done, seq);
CREATE TABLE IF NOT EXISTS results (id BYTEA PRIMARY KEY, body BYTEA NOT NULL, status BIGINT NOT NULL,
    stored_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, block BIGINT NOT NULL);
ALTER TABLE cursors ADD COLUMN IF NOT EXISTS hash BYTEA;
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT NOT NULL, block BIGINT NOT NULL, hash BYTEA NOT NULL,
    PRIMARY KEY (name, block));
CREATE TABLE IF NOT EXISTS chain_instructions (id BYTEA PRIMARY KEY, epoch BIGINT NOT NULL, block BIGINT NOT NULL,
    tx BYTEA NOT NULL);
ALTER TABLE chain_instructions ADD COLUMN IF NOT EXISTS announced BYTEA;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS tee BYTEA;
ALTER TABLE actions ADD COLUMN IF NOT EXISTS queued_ms BIGINT;
";

/// SQLite in WAL mode with `synchronous = FULL`: a commit returns only after the WAL is on disk,
/// so an acknowledged vote or result survives power loss, not just a process crash (`NORMAL`
/// would only survive the latter). Votes are group-committed, so the fsync is shared.
///
/// Writes go through one connection (SQLite has one writer anyway, and this keeps
/// read-modify-write transactions free of `SQLITE_BUSY` upgrades); plain reads — results,
/// status, `/ready`, `/metrics`, policies — through a pool of read-only connections, which WAL
/// lets read the last commit while a write is under way, so no reader waits behind the vote
/// writer and no scrape holds it up.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    read: SqlitePool,
}

/// Read-only SQLite connections beside the writer.
pub const SQLITE_READERS: u32 = 4;

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`).
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(SQLITE_SCHEMA).execute(&mut *tx).await?;
        let has = async |tx: &mut sqlx::SqliteConnection, table: &str, column: &str| -> sqlx::Result<bool> {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pragma_table_info($1) WHERE name = $2")
                .bind(table)
                .bind(column)
                .fetch_one(tx)
                .await?;
            Ok(n > 0)
        };
        if !has(&mut tx, "cursors", "hash").await? {
            sqlx::raw_sql(SQLITE_CURSOR_HASH).execute(&mut *tx).await?;
        }
        if !has(&mut tx, "chain_instructions", "announced").await? {
            sqlx::raw_sql(SQLITE_ANNOUNCED).execute(&mut *tx).await?;
        }
        if !has(&mut tx, "actions", "tee").await? {
            sqlx::raw_sql(SQLITE_ACTION_TEE).execute(&mut *tx).await?;
        }
        if !has(&mut tx, "actions", "queued_ms").await? {
            sqlx::raw_sql(SQLITE_ACTION_QUEUED).execute(&mut *tx).await?;
        }
        if has(&mut tx, "instructions", "id").await? && !has(&mut tx, "votes", "hash_fixed").await? {
            sqlx::raw_sql(SQLITE_MIGRATE_CANDIDATES).execute(&mut *tx).await?;
        }
        sqlx::raw_sql(SQLITE_INSTRUCTIONS).execute(&mut *tx).await?;
        sqlx::raw_sql(INDEXES).execute(&mut *tx).await?;
        tx.commit().await?;
        // An in-memory database is one per connection: it reads through the writer.
        let read = if options.get_filename() == std::path::Path::new(":memory:") {
            pool.clone()
        } else {
            let readers = options.read_only(true).create_if_missing(false);
            SqlitePoolOptions::new().max_connections(SQLITE_READERS).connect_with(readers).await?
        };
        Ok(Self { pool, read })
    }
}

/// PostgreSQL: several proxies may share the database (row locks with `FOR UPDATE`, leases taken
/// with `SKIP LOCKED`). Durability is the server's (`synchronous_commit = on` by default).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL's connections read and write alike.
    read: PgPool,
}

impl PgStore {
    /// Connects to `url` and creates the tables if missing.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let pool =
            PgPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(10)).connect(url).await?;
        // Concurrent `CREATE TABLE IF NOT EXISTS` from several proxies can race on the catalog;
        // an advisory lock makes the schema set-up one at a time.
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(7411)").execute(&mut *tx).await?;
        sqlx::raw_sql(PG_SCHEMA).execute(&mut *tx).await?;
        let has = async |tx: &mut sqlx::PgConnection, table: &str, column: &str| -> sqlx::Result<bool> {
            let n: i64 = sqlx::query_scalar(concat!(
                "SELECT COUNT(*) FROM information_schema.columns ",
                "WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
            ))
            .bind(table)
            .bind(column)
            .fetch_one(tx)
            .await?;
            Ok(n > 0)
        };
        if has(&mut tx, "instructions", "id").await? && !has(&mut tx, "votes", "hash_fixed").await? {
            sqlx::raw_sql(PG_MIGRATE_CANDIDATES).execute(&mut *tx).await?;
        }
        sqlx::raw_sql(PG_INSTRUCTIONS).execute(&mut *tx).await?;
        sqlx::raw_sql(INDEXES).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Self { read: pool.clone(), pool })
    }
}

fn h256(bytes: Vec<u8>) -> StoreResult<H256> {
    bytes.try_into().map_err(|_| StoreError(anyhow::anyhow!("stored hash is not 32 bytes")))
}

fn seconds(ms: i64) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
}

/// A stored vote as read back: signature, additional variable message, signer index, y of `R`.
type VoteRow = (Vec<u8>, Vec<u8>, i64, Option<Vec<u8>>);

/// An announcement from its `chain_instructions` row (epoch, block, tx, announced).
fn chain_instruction<R: Row>(id: &H256, r: &R) -> StoreResult<ChainInstruction>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let announced: Option<Vec<u8>> = r.try_get(3)?;
    Ok(ChainInstruction {
        id: *id,
        epoch: r.try_get::<i64, _>(0)? as u32,
        block: r.try_get::<i64, _>(1)? as u64,
        tx: h256(r.try_get::<Vec<u8>, _>(2)?)?,
        announced: announced.map(|b| postcard::from_bytes(&b)).transpose()?,
    })
}

/// A vote applied in memory, not yet written: its position and the chain's hash after it.
struct NewRow<'a> {
    vote: &'a NewVote,
    sequence: u64,
    vote_hash: H256,
}

/// The sizes of the statements that take a list (votes inserted, signers looked up), largest
/// first: a list goes in as few statements of these sizes as it can, each size one prepared
/// statement.
const LIST_SIZES: [usize; 4] = [64, 16, 4, 1];

/// `SELECT signer FROM votes` of a candidate (`$1`, `$2`) among `signers` signers (`$3…`).
fn voted_sql(signers: usize) -> String {
    let list: Vec<String> = (3..3 + signers).map(|p| format!("${p}")).collect();
    format!(
        "SELECT signer FROM votes WHERE instruction_id = $1 AND hash_fixed = $2 AND signer IN ({})",
        list.join(", ")
    )
}

/// `INSERT INTO votes … VALUES (…), (…)` for `rows` rows.
fn insert_votes_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO votes (instruction_id, hash_fixed, signer, seq, signature, avm, signer_index, r_y, vote_hash, ts) VALUES ",
    );
    for r in 0..rows {
        let p: Vec<String> = (1..=10).map(|c| format!("${}", r * 10 + c)).collect();
        sql.push_str(if r == 0 { "(" } else { ", (" });
        sql.push_str(&p.join(", "));
        sql.push(')');
    }
    sql
}

/// The TEE an action is for (its `tee_id`), or `None` for any (direct policy actions name none).
fn addressee(action: &Action) -> Option<Vec<u8>> {
    let tee = action.instruction.tee_id;
    (tee != [0; 20]).then(|| tee.to_vec())
}

/// Turns an instruction and its stored votes (in vote order) into the action the guest gets.
fn instruction_action(data: &[u8], rows: Vec<VoteRow>) -> StoreResult<Action> {
    let instruction: InstructionData = postcard::from_bytes(data)?;
    let votes = rows
        .into_iter()
        .map(|(signature, avm, index, r_y)| {
            let signature: [u8; 65] =
                signature.try_into().map_err(|_| StoreError(anyhow::anyhow!("stored signature is not 65 bytes")))?;
            let r_y = r_y.map(h256).transpose()?;
            let hint = fcc_core::verify::SignerHint { signer_index: index as u16, r_y };
            Ok(Vote { signature, additional_variable_message: avm, hint: Some(hint) })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Action { kind: ActionKind::Instruction, submission_tag: SubmissionTag::Threshold, instruction, votes })
}

/// One implementation for both databases: the statements are shared; `$lock` is `FOR UPDATE` on
/// PostgreSQL and empty on SQLite, `$skip` adds `SKIP LOCKED` to lease selection.
macro_rules! sql_store {
    ($store:ty, $db:ty, $lock:literal, $skip:literal) => {
        impl $store {
            /// Writes `rows` (one candidate's new votes) in a few multi-row statements.
            async fn insert_votes(tx: &mut sqlx::Transaction<'static, $db>, mut rows: &[NewRow<'_>]) -> StoreResult<()> {
                while !rows.is_empty() {
                    let n = LIST_SIZES.into_iter().find(|&n| n <= rows.len()).expect("1 fits");
                    let (now, rest) = rows.split_at(n);
                    rows = rest;
                    let sql = insert_votes_sql(n);
                    let mut q = sqlx::query(&sql);
                    for r in now {
                        let v = r.vote;
                        q = q
                            .bind(v.instruction.instruction_id.to_vec())
                            .bind(v.hash_fixed.to_vec())
                            .bind(v.signer.to_vec())
                            .bind(r.sequence as i64)
                            .bind(v.signature.to_vec())
                            .bind(v.additional_variable_message.clone())
                            .bind(i64::from(v.hint.signer_index))
                            .bind(v.hint.r_y.map(|y| y.to_vec()))
                            .bind(r.vote_hash.to_vec())
                            .bind(v.now_ms);
                    }
                    q.execute(&mut **tx).await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            async fn put_policy(&self, reward_epoch_id: u32, bytes: &[u8]) -> StoreResult<()> {
                sqlx::query("INSERT INTO policies (epoch, bytes) VALUES ($1, $2) ON CONFLICT (epoch) DO NOTHING")
                    .bind(i64::from(reward_epoch_id))
                    .bind(bytes)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn policy(&self, reward_epoch_id: u32) -> StoreResult<Option<Vec<u8>>> {
                let row = sqlx::query("SELECT bytes FROM policies WHERE epoch = $1")
                    .bind(i64::from(reward_epoch_id))
                    .fetch_optional(&self.read)
                    .await?;
                Ok(row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose()?)
            }

            async fn put_tee(&self, hello: &Hello, now_ms: i64) -> StoreResult<()> {
                let blob = postcard::to_stdvec(hello)?;
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO tee (slot, hello) VALUES (0, $1) ON CONFLICT (slot) DO UPDATE SET hello = $1")
                    .bind(blob)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO tees (tee_id, seen_ms) VALUES ($1, $2) ON CONFLICT (tee_id) DO UPDATE SET seen_ms = $2",
                )
                .bind(hello.tee_id.to_vec())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn tee(&self) -> StoreResult<Option<Hello>> {
                let row = sqlx::query("SELECT hello FROM tee WHERE slot = 0").fetch_optional(&self.read).await?;
                let Some(r) = row else { return Ok(None) };
                // A greeting of an older link protocol (before it was signed) does not decode:
                // the TEE is shown again once it reconnects.
                match postcard::from_bytes(&r.try_get::<Vec<u8>, _>(0)?) {
                    Ok(hello) => Ok(Some(hello)),
                    Err(e) => {
                        tracing::warn!("the stored greeting does not decode ({e}): no TEE until one connects");
                        Ok(None)
                    }
                }
            }

            async fn known_tee(&self, tee_id: &Address) -> StoreResult<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tees WHERE tee_id = $1")
                    .bind(tee_id.to_vec())
                    .fetch_one(&self.read)
                    .await?;
                Ok(n > 0)
            }

            async fn add_votes(
                &self,
                votes: &[NewVote],
                limits: OpenLimits,
            ) -> StoreResult<Vec<Result<VoteOutcome, VoteRejection>>> {
                let mut tx = self.pool.begin().await?;
                // Open candidates in all: counted once per batch, then kept current.
                let mut open: Option<u64> = None;
                // Candidates in (id, hashFixed) order: concurrent batches on PostgreSQL lock rows
                // in the same order and cannot deadlock. Each candidate's votes (in arrival order)
                // are applied together, with a few statements per candidate rather than per vote;
                // the outcomes are those of applying them one at a time.
                let mut order: Vec<usize> = (0..votes.len()).collect();
                order.sort_by_key(|&i| (votes[i].instruction.instruction_id, votes[i].hash_fixed));
                let mut results: Vec<Option<Result<VoteOutcome, VoteRejection>>> = vec![None; votes.len()];
                for group in order.chunk_by(|&a, &b| {
                    (votes[a].instruction.instruction_id, votes[a].hash_fixed)
                        == (votes[b].instruction.instruction_id, votes[b].hash_fixed)
                }) {
                    let first = &votes[group[0]];
                    let id = first.instruction.instruction_id.to_vec();
                    let hash_fixed = first.hash_fixed.to_vec();
                    // Where the chain is followed and the instruction was announced, the data must
                    // be what the contract emitted (votes may also come first: the chain can lag
                    // the providers). The announced fields are all in `hashFixed`.
                    let on_chain = sqlx::query("SELECT epoch, block, tx, announced FROM chain_instructions WHERE id = $1")
                        .bind(&id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| chain_instruction(&first.instruction.instruction_id, &r))
                        .transpose()?;
                    if let Some(field) = on_chain.as_ref().and_then(|c| c.mismatch(&first.instruction)) {
                        for &i in group {
                            results[i] = Some(Err(VoteRejection::NotAsAnnounced { field }));
                        }
                        continue;
                    }
                    let announced = on_chain.is_some_and(|c| c.announced.is_some());
                    // An id decided with other data takes no more votes for other data (within
                    // the batch only an earlier candidate can have decided it).
                    let decided: Option<Vec<u8>> = sqlx::query_scalar(
                        "SELECT hash_fixed FROM instructions WHERE id = $1 AND state IN ($2, $3) LIMIT 1",
                    )
                    .bind(&id)
                    .bind(STATE_QUEUED)
                    .bind(STATE_DONE)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if decided.is_some_and(|h| h != hash_fixed) {
                        for &i in group {
                            results[i] = Some(Err(VoteRejection::Conflict));
                        }
                        continue;
                    }
                    let select = concat!(
                        "SELECT weight, cosigners, votes, last_vote_hash, state, created_ms FROM instructions ",
                        "WHERE id = $1 AND hash_fixed = $2 ",
                        $lock
                    );
                    let mut row = sqlx::query(select).bind(&id).bind(&hash_fixed).fetch_optional(&mut *tx).await?;
                    // A new candidate: the votes before the first that may open it are refused.
                    let mut opener = 0;
                    while row.is_none() && opener < group.len() {
                        let i = group[opener];
                        let v = &votes[i];
                        // Only a voter opens a candidate, or a listed cosigner of an instruction
                        // whose announcement on chain the data match: anyone can list themselves.
                        if v.weight == 0 && !announced {
                            results[i] = Some(Err(VoteRejection::NoVoterYet));
                            opener += 1;
                            continue;
                        }
                        let open_now = match open {
                            Some(n) => n,
                            None => {
                                let n: i64 = sqlx::query("SELECT COUNT(*) FROM instructions WHERE state < $1")
                                    .bind(STATE_DONE)
                                    .fetch_one(&mut *tx)
                                    .await?
                                    .try_get(0)?;
                                n as u64
                            }
                        };
                        open = Some(open_now);
                        if open_now >= limits.max_open {
                            results[i] = Some(Err(VoteRejection::QueueFull { max: limits.max_open }));
                            opener += 1;
                            continue;
                        }
                        let by_creator: i64 =
                            sqlx::query_scalar("SELECT COUNT(*) FROM instructions WHERE creator = $1 AND state < $2")
                                .bind(v.signer.to_vec())
                                .bind(STATE_DONE)
                                .fetch_one(&mut *tx)
                                .await?;
                        if by_creator as u64 >= limits.max_open_per_signer {
                            results[i] = Some(Err(VoteRejection::SignerFull { max: limits.max_open_per_signer }));
                            opener += 1;
                            continue;
                        }
                        let d = &v.instruction;
                        let init = initial_vote_hash(&d.instruction_id, &v.hash_fixed, d.reward_epoch_id, &d.tee_id);
                        let inserted = sqlx::query(concat!(
                            "INSERT INTO instructions (id, hash_fixed, epoch, data, threshold, weight, cosigners, ",
                            "votes, last_vote_hash, state, created_ms, creator) ",
                            "VALUES ($1, $2, $3, $4, $5, 0, 0, 0, $6, $7, $8, $9) ",
                            "ON CONFLICT (id, hash_fixed) DO NOTHING"
                        ))
                        .bind(&id)
                        .bind(&hash_fixed)
                        .bind(i64::from(d.reward_epoch_id))
                        .bind(postcard::to_stdvec(d)?)
                        .bind(i64::from(v.requirement.weight_above))
                        .bind(init.to_vec())
                        .bind(STATE_COLLECTING)
                        .bind(v.now_ms)
                        .bind(v.signer.to_vec())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        open = Some(open_now + inserted);
                        row = sqlx::query(select).bind(&id).bind(&hash_fixed).fetch_optional(&mut *tx).await?;
                        if row.is_none() {
                            return Err(StoreError(anyhow::anyhow!("instruction row vanished")));
                        }
                    }
                    let Some(row) = row else { continue };
                    let group = &group[opener..];
                    let (mut weight, mut cosigners, mut count, last, mut state): (i64, i64, i64, Vec<u8>, i64) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
                    let opened_ms: i64 = row.try_get(5)?;
                    if state == STATE_EXPIRED {
                        for &i in group {
                            results[i] = Some(Err(VoteRejection::Expired));
                        }
                        continue;
                    }
                    // Which of these signers voted for it before this batch: their first vote stands.
                    let mut voted: std::collections::HashSet<Vec<u8>> = Default::default();
                    if count > 0 {
                        let mut signers: Vec<Vec<u8>> = group.iter().map(|&i| votes[i].signer.to_vec()).collect();
                        signers.sort_unstable();
                        signers.dedup();
                        for chunk in signers.chunks(LIST_SIZES[0]) {
                            // Padded with its first signer to one of a few sizes (prepared once each).
                            let n = LIST_SIZES.into_iter().rev().find(|&n| n >= chunk.len()).expect("a chunk fits");
                            let sql = voted_sql(n);
                            let mut q = sqlx::query_scalar(&sql).bind(&id).bind(&hash_fixed);
                            for k in 0..n {
                                q = q.bind(chunk.get(k).unwrap_or(&chunk[0]));
                            }
                            voted.extend(q.fetch_all(&mut *tx).await?);
                        }
                    }
                    let before = count;
                    let mut last = h256(last)?;
                    let mut unwritten: Vec<NewRow<'_>> = Vec::new();
                    // A signer's vote accepted in this batch, for the same signer voting again in it.
                    let mut in_batch: std::collections::HashMap<Address, VoteOutcome> = Default::default();
                    for &i in group {
                        let v = &votes[i];
                        if let Some(earlier) = in_batch.get(&v.signer) {
                            let weight = weight as u32;
                            results[i] =
                                Some(Ok(VoteOutcome { weight, queued_now: false, repeated: true, ..earlier.clone() }));
                            continue;
                        }
                        if voted.contains(v.signer.as_slice()) {
                            let e = sqlx::query(concat!(
                                "SELECT seq, vote_hash, ts, avm, signature FROM votes ",
                                "WHERE instruction_id = $1 AND hash_fixed = $2 AND signer = $3"
                            ))
                            .bind(&id)
                            .bind(&hash_fixed)
                            .bind(v.signer.to_vec())
                            .fetch_one(&mut *tx)
                            .await?;
                            results[i] = Some(Ok(VoteOutcome {
                                sequence: e.try_get::<i64, _>(0)? as u64,
                                vote_hash: h256(e.try_get(1)?)?,
                                timestamp: seconds(e.try_get(2)?),
                                weight: weight as u32,
                                queued_now: false,
                                opened_ms,
                                repeated: true,
                                avm_hash: keccak256(&e.try_get::<Vec<u8>, _>(3)?),
                                signature: e.try_get(4)?,
                            }));
                            continue;
                        }
                        // 0-based, as tee-proxy's vote box counts.
                        let sequence = count as u64;
                        let avm_hash = keccak256(&v.additional_variable_message);
                        let timestamp = seconds(v.now_ms);
                        let vote_hash = next_vote_hash(&last, sequence, &v.signature, &avm_hash, timestamp);
                        unwritten.push(NewRow { vote: v, sequence, vote_hash });
                        last = vote_hash;
                        count += 1;
                        weight += i64::from(v.weight);
                        cosigners += i64::from(v.cosigner);
                        let passes = v.requirement.is_met(weight as u32, cosigners as u64);
                        let mut queued_now = false;
                        if state == STATE_COLLECTING && passes {
                            Self::insert_votes(&mut tx, &unwritten).await?;
                            unwritten.clear();
                            let rows = sqlx::query(concat!(
                                "SELECT signature, avm, signer_index, r_y FROM votes ",
                                "WHERE instruction_id = $1 AND hash_fixed = $2 ORDER BY seq"
                            ))
                            .bind(&id)
                            .bind(&hash_fixed)
                            .fetch_all(&mut *tx)
                            .await?
                            .into_iter()
                            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
                            .collect::<Result<Vec<_>, sqlx::Error>>()?;
                            let data: Vec<u8> =
                                sqlx::query_scalar("SELECT data FROM instructions WHERE id = $1 AND hash_fixed = $2")
                                    .bind(&id)
                                    .bind(&hash_fixed)
                                    .fetch_one(&mut *tx)
                                    .await?;
                            let action = instruction_action(&data, rows)?;
                            // Another candidate of the id may have been queued meanwhile (another
                            // proxy on the same database): the first action stands.
                            queued_now = sqlx::query(concat!(
                                "INSERT INTO actions (id, body, lease_until, owner, deliveries, done, tee, queued_ms) ",
                                "VALUES ($1, $2, 0, NULL, 0, 0, $3, $4) ON CONFLICT (id) DO NOTHING"
                            ))
                            .bind(&id)
                            .bind(postcard::to_stdvec(&action)?)
                            .bind(addressee(&action))
                            .bind(v.now_ms)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                                == 1;
                        }
                        if queued_now {
                            state = STATE_QUEUED;
                            // The id is decided: its other candidates close (and free their slots).
                            let closed = sqlx::query(
                                "UPDATE instructions SET state = $1 WHERE id = $2 AND hash_fixed <> $3 AND state = $4",
                            )
                            .bind(STATE_SUPERSEDED)
                            .bind(&id)
                            .bind(&hash_fixed)
                            .bind(STATE_COLLECTING)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                            open = open.map(|n| n.saturating_sub(closed));
                        }
                        let outcome = VoteOutcome {
                            sequence,
                            vote_hash,
                            timestamp,
                            weight: weight as u32,
                            queued_now,
                            opened_ms,
                            repeated: false,
                            avm_hash,
                            signature: v.signature.to_vec(),
                        };
                        in_batch.insert(v.signer, outcome.clone());
                        results[i] = Some(Ok(outcome));
                    }
                    Self::insert_votes(&mut tx, &unwritten).await?;
                    if count == before {
                        continue;
                    }
                    sqlx::query(concat!(
                        "UPDATE instructions SET weight = $1, cosigners = $2, votes = $3, last_vote_hash = $4, ",
                        "state = $5 WHERE id = $6 AND hash_fixed = $7"
                    ))
                    .bind(weight)
                    .bind(cosigners)
                    .bind(count)
                    .bind(last.to_vec())
                    .bind(state)
                    .bind(&id)
                    .bind(&hash_fixed)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                results
                    .into_iter()
                    .map(|r| r.ok_or_else(|| StoreError(anyhow::anyhow!("vote left unprocessed"))))
                    .collect()
            }

            async fn enqueue_direct(&self, action: &Action, now_ms: i64) -> StoreResult<bool> {
                let n = sqlx::query(concat!(
                    "INSERT INTO actions (id, body, lease_until, owner, deliveries, done, tee, queued_ms) ",
                    "VALUES ($1, $2, 0, NULL, 0, 0, $3, $4) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(action.instruction.instruction_id.to_vec())
                .bind(postcard::to_stdvec(action)?)
                .bind(addressee(action))
                .bind(now_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn lease(
                &self,
                owner: &str,
                tee: &Address,
                max: usize,
                now_ms: i64,
                lease_ms: i64,
            ) -> StoreResult<Vec<Action>> {
                let rows = sqlx::query(concat!(
                    "UPDATE actions SET lease_until = $1, owner = $2, deliveries = deliveries + 1 WHERE seq IN ",
                    "(SELECT seq FROM actions WHERE done = 0 AND lease_until <= $3 AND (tee IS NULL OR tee = $5) ",
                    "ORDER BY seq LIMIT $4 ",
                    $skip,
                    ") RETURNING seq, body"
                ))
                .bind(now_ms + lease_ms)
                .bind(owner)
                .bind(now_ms)
                .bind(max as i64)
                .bind(tee.to_vec())
                .fetch_all(&self.pool)
                .await?;
                let mut actions = rows
                    .into_iter()
                    .map(|r| Ok((r.try_get::<i64, _>(0)?, postcard::from_bytes(&r.try_get::<Vec<u8>, _>(1)?)?)))
                    .collect::<StoreResult<Vec<(i64, Action)>>>()?;
                actions.sort_by_key(|(seq, _)| *seq);
                Ok(actions.into_iter().map(|(_, a)| a).collect())
            }

            async fn release(&self, owner: &str, ids: &[H256]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for id in ids {
                    sqlx::query("UPDATE actions SET lease_until = 0 WHERE id = $1 AND owner = $2 AND done = 0")
                        .bind(id.to_vec())
                        .bind(owner)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn defer(&self, owner: &str, id: &H256, until_ms: i64, max_deliveries: u64) -> StoreResult<bool> {
                let n = sqlx::query(concat!(
                    "UPDATE actions SET lease_until = $1 ",
                    "WHERE id = $2 AND owner = $3 AND done = 0 AND deliveries < $4"
                ))
                .bind(until_ms)
                .bind(id.to_vec())
                .bind(owner)
                .bind(i64::try_from(max_deliveries).unwrap_or(i64::MAX))
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn store_results(&self, results: &[SignedResult], now_ms: i64) -> StoreResult<Vec<bool>> {
                let mut tx = self.pool.begin().await?;
                let mut stored = Vec::with_capacity(results.len());
                for r in results {
                    let id = r.result.id.to_vec();
                    // Only for an action still queued: a late answer to a forgotten one (`forget`)
                    // is not kept.
                    let n = sqlx::query(concat!(
                        "INSERT INTO results (id, body, status, stored_ms) SELECT $1, $2, $3, $4 ",
                        "WHERE EXISTS (SELECT 1 FROM actions WHERE id = $1) ON CONFLICT (id) DO NOTHING"
                    ))
                    .bind(&id)
                    .bind(postcard::to_stdvec(r)?)
                    .bind(i64::from(r.result.status))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    sqlx::query("UPDATE actions SET done = 1, lease_until = 0 WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    // The queued candidate is answered; any other still collecting is closed.
                    sqlx::query(concat!(
                        "UPDATE instructions SET state = CASE WHEN state = $1 THEN $2 ELSE $3 END ",
                        "WHERE id = $4 AND state IN ($1, $5)"
                    ))
                    .bind(STATE_QUEUED)
                    .bind(STATE_DONE)
                    .bind(STATE_SUPERSEDED)
                    .bind(&id)
                    .bind(STATE_COLLECTING)
                    .execute(&mut *tx)
                    .await?;
                    stored.push(n == 1);
                }
                tx.commit().await?;
                Ok(stored)
            }

            async fn forget(&self, id: &H256) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM results WHERE id = $1").bind(id.to_vec()).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM actions WHERE id = $1").bind(id.to_vec()).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn result(&self, id: &H256) -> StoreResult<Option<SignedResult>> {
                let row =
                    sqlx::query("SELECT body FROM results WHERE id = $1").bind(id.to_vec()).fetch_optional(&self.read).await?;
                match row {
                    Some(r) => Ok(Some(postcard::from_bytes(&r.try_get::<Vec<u8>, _>(0)?)?)),
                    None => Ok(None),
                }
            }

            async fn action(&self, id: &H256) -> StoreResult<Option<Action>> {
                let row =
                    sqlx::query("SELECT body FROM actions WHERE id = $1").bind(id.to_vec()).fetch_optional(&self.read).await?;
                match row {
                    Some(r) => Ok(Some(postcard::from_bytes(&r.try_get::<Vec<u8>, _>(0)?)?)),
                    None => Ok(None),
                }
            }

            async fn result_stored_at(&self, id: &H256) -> StoreResult<Option<i64>> {
                let row = sqlx::query("SELECT stored_ms FROM results WHERE id = $1")
                    .bind(id.to_vec())
                    .fetch_optional(&self.read)
                    .await?;
                Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
            }

            async fn status(&self, reward_epoch_id: u32, id: &H256) -> StoreResult<Option<InstructionStatus>> {
                // The candidate that decided the id, else the one with the most weight.
                let row = sqlx::query(concat!(
                    "SELECT i.votes, i.weight, i.cosigners, i.threshold, i.state, a.deliveries, ",
                    "(SELECT COUNT(*) FROM instructions c WHERE c.id = i.id) ",
                    "FROM instructions i LEFT JOIN actions a ON a.id = i.id WHERE i.id = $1 AND i.epoch = $2 ",
                    "ORDER BY (i.state = $3 OR i.state = $4) DESC, i.weight DESC, i.created_ms LIMIT 1"
                ))
                .bind(id.to_vec())
                .bind(i64::from(reward_epoch_id))
                .bind(STATE_QUEUED)
                .bind(STATE_DONE)
                .fetch_optional(&self.read)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let deliveries: Option<i64> = r.try_get(5)?;
                let state = match r.try_get::<i64, _>(4)? {
                    STATE_COLLECTING => "collecting",
                    STATE_QUEUED if deliveries.unwrap_or(0) > 0 => "delivered",
                    STATE_QUEUED => "queued",
                    STATE_DONE => "done",
                    STATE_EXPIRED => "expired",
                    _ => "superseded",
                };
                Ok(Some(InstructionStatus {
                    state,
                    votes: r.try_get::<i64, _>(0)? as u64,
                    weight: r.try_get::<i64, _>(1)? as u32,
                    cosigners: r.try_get::<i64, _>(2)? as u32,
                    threshold: r.try_get::<i64, _>(3)? as u32,
                    candidates: r.try_get::<i64, _>(6)? as u32,
                    deliveries: deliveries.unwrap_or(0) as u64,
                }))
            }

            async fn counts(&self) -> StoreResult<Counts> {
                let r = sqlx::query(concat!(
                    "SELECT (SELECT COUNT(*) FROM instructions WHERE state < 2), ",
                    "(SELECT COUNT(*) FROM actions WHERE done = 0), (SELECT COUNT(*) FROM results)"
                ))
                .fetch_one(&self.read)
                .await?;
                Ok(Counts {
                    open: r.try_get::<i64, _>(0)? as u64,
                    pending_actions: r.try_get::<i64, _>(1)? as u64,
                    results: r.try_get::<i64, _>(2)? as u64,
                })
            }

            async fn recent_actions(&self, max: usize) -> StoreResult<Vec<RecentAction>> {
                let rows = sqlx::query(concat!(
                    "SELECT a.body, a.deliveries, a.done, a.queued_ms, r.status, r.stored_ms, ",
                    "(SELECT MIN(i.created_ms) FROM instructions i WHERE i.id = a.id) ",
                    "FROM actions a LEFT JOIN results r ON r.id = a.id ORDER BY a.seq DESC LIMIT $1"
                ))
                .bind(max.min(MAX_RECENT_ACTIONS) as i64)
                .fetch_all(&self.read)
                .await?;
                rows.into_iter()
                    .map(|r| {
                        let action: Action = postcard::from_bytes(&r.try_get::<Vec<u8>, _>(0)?)?;
                        Ok(RecentAction {
                            id: action.instruction.instruction_id,
                            kind: action.kind,
                            op_type: action.instruction.op_type,
                            op_command: action.instruction.op_command,
                            deliveries: r.try_get::<i64, _>(1)? as u64,
                            done: r.try_get::<i64, _>(2)? != 0,
                            queued_ms: r.try_get(3)?,
                            status: r.try_get::<Option<i64>, _>(4)?.map(|s| s as u8),
                            result_ms: r.try_get(5)?,
                            opened_ms: r.try_get(6)?,
                        })
                    })
                    .collect()
            }

            async fn expire(&self, epoch_below: u32, opened_before_ms: i64) -> StoreResult<u64> {
                let n = sqlx::query(concat!(
                    "UPDATE instructions SET state = $1 ",
                    "WHERE state = $2 AND (epoch < $3 OR created_ms < $4)"
                ))
                .bind(STATE_EXPIRED)
                .bind(STATE_COLLECTING)
                .bind(i64::from(epoch_below))
                .bind(opened_before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n)
            }

            async fn latest_epoch(&self) -> StoreResult<Option<u32>> {
                let e: Option<i64> = sqlx::query_scalar("SELECT MAX(epoch) FROM policies").fetch_one(&self.read).await?;
                Ok(e.map(|e| e as u32))
            }

            async fn cursor(&self, name: &str) -> StoreResult<Option<(u64, Option<H256>)>> {
                let row = sqlx::query("SELECT block, hash FROM cursors WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.read)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let hash = r.try_get::<Option<Vec<u8>>, _>(1)?.map(h256).transpose()?;
                Ok(Some((r.try_get::<i64, _>(0)? as u64, hash)))
            }

            async fn set_cursor(&self, name: &str, block: u64, hash: &H256) -> StoreResult<()> {
                self.commit_chain(name, &ChainBatch::default(), block, hash, 0).await?.map_err(|c| StoreError(c.into()))?;
                Ok(())
            }

            async fn checkpoints(&self, name: &str) -> StoreResult<Vec<(u64, H256)>> {
                let rows = sqlx::query("SELECT block, hash FROM checkpoints WHERE name = $1 ORDER BY block DESC")
                    .bind(name)
                    .fetch_all(&self.read)
                    .await?;
                rows.into_iter().map(|r| Ok((r.try_get::<i64, _>(0)? as u64, h256(r.try_get(1)?)?))).collect()
            }

            async fn commit_chain(
                &self,
                name: &str,
                batch: &ChainBatch,
                block: u64,
                hash: &H256,
                forget_below: u64,
            ) -> StoreResult<Result<ChainApplied, PolicyConflict>> {
                let mut tx = self.pool.begin().await?;
                let mut applied = ChainApplied::default();
                for (epoch, bytes) in &batch.policies {
                    let old: Option<Vec<u8>> = sqlx::query_scalar(concat!("SELECT bytes FROM policies WHERE epoch = $1 ", $lock))
                        .bind(i64::from(*epoch))
                        .fetch_optional(&mut *tx)
                        .await?;
                    match old {
                        Some(old) if old == *bytes => {}
                        // An epoch's policy is written once: nothing of this range is applied.
                        Some(stored) => {
                            return Ok(Err(PolicyConflict { epoch: *epoch, stored, offered: bytes.clone() }));
                        }
                        None => {
                            sqlx::query("INSERT INTO policies (epoch, bytes) VALUES ($1, $2)")
                                .bind(i64::from(*epoch))
                                .bind(bytes.as_slice())
                                .execute(&mut *tx)
                                .await?;
                            applied.policies_new += 1;
                        }
                    }
                }
                for action in &batch.actions {
                    let n = sqlx::query(concat!(
                        "INSERT INTO actions (id, body, lease_until, owner, deliveries, done, tee, queued_ms) ",
                        "VALUES ($1, $2, 0, NULL, 0, 0, $3, $4) ON CONFLICT (id) DO NOTHING"
                    ))
                    .bind(action.instruction.instruction_id.to_vec())
                    .bind(postcard::to_stdvec(action)?)
                    .bind(addressee(action))
                    .bind(batch.now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    applied.actions_queued += n as usize;
                }
                for i in &batch.instructions {
                    let block = i64::try_from(i.block).map_err(|_| StoreError(anyhow::anyhow!("block number over i64")))?;
                    let announced = i.announced.as_ref().map(postcard::to_stdvec).transpose()?;
                    let n = sqlx::query(concat!(
                        "INSERT INTO chain_instructions (id, epoch, block, tx, announced) VALUES ($1, $2, $3, $4, $5) ",
                        "ON CONFLICT (id) DO NOTHING"
                    ))
                    .bind(i.id.to_vec())
                    .bind(i64::from(i.epoch))
                    .bind(block)
                    .bind(i.tx.to_vec())
                    .bind(&announced)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if n == 0 {
                        // Seen before (a reorg moved it, or a rewind read it again): keep the
                        // latest place and fields.
                        sqlx::query(concat!(
                            "UPDATE chain_instructions SET epoch = $1, block = $2, tx = $3, announced = $4 ",
                            "WHERE id = $5"
                        ))
                        .bind(i64::from(i.epoch))
                        .bind(block)
                        .bind(i.tx.to_vec())
                        .bind(&announced)
                        .bind(i.id.to_vec())
                        .execute(&mut *tx)
                        .await?;
                    }
                    applied.instructions_new += n as usize;
                }
                let block = i64::try_from(block).map_err(|_| StoreError(anyhow::anyhow!("block number over i64")))?;
                sqlx::query(concat!(
                    "INSERT INTO cursors (name, block, hash) VALUES ($1, $2, $3) ",
                    "ON CONFLICT (name) DO UPDATE SET block = $2, hash = $3"
                ))
                .bind(name)
                .bind(block)
                .bind(hash.to_vec())
                .execute(&mut *tx)
                .await?;
                // The new checkpoint; any at or above it were orphaned; those below `forget_below`
                // go but the newest of them.
                sqlx::query("DELETE FROM checkpoints WHERE name = $1 AND block >= $2").bind(name).bind(block).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO checkpoints (name, block, hash) VALUES ($1, $2, $3)")
                    .bind(name)
                    .bind(block)
                    .bind(hash.to_vec())
                    .execute(&mut *tx)
                    .await?;
                let forget_below = i64::try_from(forget_below).unwrap_or(i64::MAX);
                sqlx::query(concat!(
                    "DELETE FROM checkpoints WHERE name = $1 AND block < ",
                    "(SELECT MAX(block) FROM checkpoints WHERE name = $1 AND block < $2)"
                ))
                .bind(name)
                .bind(forget_below)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Ok(applied))
            }

            async fn rewind_chain(&self, name: &str, to: Option<(u64, H256)>) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                // Everything read above `to` came from orphaned blocks (policies stay: an
                // epoch's policy is written once, and a re-read that differs is a conflict).
                let above = match to {
                    Some((block, _)) => i64::try_from(block).map_err(|_| StoreError(anyhow::anyhow!("block number over i64")))?,
                    None => -1,
                };
                sqlx::query("DELETE FROM chain_instructions WHERE block > $1").bind(above).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM checkpoints WHERE name = $1 AND block > $2").bind(name).bind(above).execute(&mut *tx).await?;
                match to {
                    Some((_, hash)) => {
                        sqlx::query("UPDATE cursors SET block = $2, hash = $3 WHERE name = $1")
                            .bind(name)
                            .bind(above)
                            .bind(hash.to_vec())
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM cursors WHERE name = $1").bind(name).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }


            async fn chain_instruction(&self, id: &H256) -> StoreResult<Option<ChainInstruction>> {
                let row = sqlx::query("SELECT epoch, block, tx, announced FROM chain_instructions WHERE id = $1")
                    .bind(id.to_vec())
                    .fetch_optional(&self.read)
                    .await?;
                row.map(|r| chain_instruction(id, &r)).transpose()
            }

            async fn chain_instruction_count(&self) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chain_instructions").fetch_one(&self.read).await?;
                Ok(n as u64)
            }
        }
    };
}

sql_store!(SqliteStore, sqlx::Sqlite, "", "");
sql_store!(PgStore, sqlx::Postgres, "FOR UPDATE", "FOR UPDATE SKIP LOCKED");

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads go through their own connections: a write transaction under way (the vote writer's
    /// group commit, say) holds the one writer connection, and results, status, `/ready` and
    /// `/metrics` still answer at once — with the last committed state.
    #[tokio::test]
    async fn sqlite_reads_do_not_wait_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}/r.db", dir.path().display())).await.unwrap();
        store.put_policy(1, b"one").await.unwrap();
        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query("INSERT INTO policies (epoch, bytes) VALUES (2, x'02')").execute(&mut *tx).await.unwrap();
        let (one, two, counts, ping) = tokio::time::timeout(Duration::from_secs(2), async {
            (store.policy(1).await, store.policy(2).await, store.counts().await, store.ping().await)
        })
        .await
        .expect("reads answered while a write was open");
        assert_eq!(one.unwrap(), Some(b"one".to_vec()));
        assert_eq!(two.unwrap(), None, "not committed yet");
        assert_eq!(counts.unwrap(), Counts::default());
        ping.unwrap();
        // Readers cannot write, even by mistake.
        assert!(sqlx::query("DELETE FROM policies").execute(&store.read).await.is_err());
        tx.commit().await.unwrap();
        assert_eq!(store.policy(2).await.unwrap(), Some(vec![2]));

        // An in-memory database is one per connection: it is read through the writer.
        let memory = SqliteStore::open("sqlite::memory:").await.unwrap();
        memory.put_policy(3, b"three").await.unwrap();
        assert_eq!(memory.policy(3).await.unwrap(), Some(b"three".to_vec()));
    }
}
