//! `fcc object add`: files a compute extension's data object in a proxy's objects directory
//! (`--objects`) under the name the proxy serves it by — the lowercase hex of its SHA-256 — and
//! prints that id, which an instruction names (docs/EXTENSIONS.md, PROTOCOL.md §8.9).

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::outcome::Outcome;

/// Copies `file` into `dir` as `<sha256 hex>` (through a temporary file renamed into place, so the
/// proxy never serves a partial copy), reading it once.
pub fn add(file: &Path, dir: &Path) -> Result<Outcome> {
    std::fs::create_dir_all(dir).with_context(|| format!("objects directory {}", dir.display()))?;
    let mut input = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).context("a temporary file in the objects directory")?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).with_context(|| format!("reading {}", file.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).context("writing the copy")?;
        size += n as u64;
    }
    tmp.as_file().sync_all().context("syncing the copy")?;
    let id = hex::encode(hasher.finalize());
    let path = dir.join(&id);
    tmp.persist(&path).with_context(|| format!("renaming the copy to {}", path.display()))?;
    Ok(Outcome::Ok(json!({ "object": format!("0x{id}"), "size": size, "path": path.display().to_string() })))
}
