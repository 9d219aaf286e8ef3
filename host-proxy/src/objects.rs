//! Extension data objects (`docs/PROTOCOL.md` §9, "Host data"): files in the operator's
//! directory (`--objects`) named by the lowercase hex of their SHA-256, streamed to the guest
//! when an extension's instruction asks for one (`NeedData`). The proxy is not trusted with
//! them — the guest's extension checks what it is given — so it only finds and reads them. There
//! is no upload through the public API: whoever runs the proxy decides what data it holds
//! (`fcc object add FILE --dir DIR` files one under its hash).

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use fcc_core::hash::H256;
use tokio::io::AsyncSeekExt;

/// Why an object cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// No file of that name.
    #[error("object 0x{} is not in the objects directory", hex::encode(.0))]
    Missing(H256),
    /// The file ends before the range asked for.
    #[error("object 0x{} has {have} bytes, the guest asked for bytes {from}..{to}", hex::encode(.object))]
    TooShort {
        /// The object.
        object: H256,
        /// Its size.
        have: u64,
        /// The range asked for.
        from: u64,
        /// Its end.
        to: u64,
    },
    /// Reading failed.
    #[error("object 0x{}: {source}", hex::encode(.object))]
    Io {
        /// The object.
        object: H256,
        /// The failure.
        source: std::io::Error,
    },
}

/// The objects directory.
#[derive(Debug, Clone)]
pub struct Objects {
    dir: PathBuf,
}

impl Objects {
    /// The objects in `dir` (created if missing).
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("objects directory {}: {e}", dir.display()))?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// Where `object` is kept.
    pub fn path(&self, object: &H256) -> PathBuf {
        self.dir.join(hex::encode(object))
    }

    /// `object`, positioned at `offset`, once it is known to hold `len` bytes from there.
    pub async fn open_range(&self, object: &H256, offset: u64, len: u64) -> Result<tokio::fs::File, ObjectError> {
        let io = |source| ObjectError::Io { object: *object, source };
        let mut file = match tokio::fs::File::open(self.path(object)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ObjectError::Missing(*object)),
            Err(e) => return Err(io(e)),
        };
        let have = file.metadata().await.map_err(io)?.len();
        let to = offset.saturating_add(len);
        if to > have {
            return Err(ObjectError::TooShort { object: *object, have, from: offset, to });
        }
        file.seek(SeekFrom::Start(offset)).await.map_err(io)?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn ranges_are_served_only_within_the_object() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::open(&dir.path().join("objects")).unwrap();
        let object = [0xab; 32];
        std::fs::write(objects.path(&object), b"0123456789").unwrap();
        let mut f = objects.open_range(&object, 3, 7).await.unwrap();
        let mut got = String::new();
        f.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "3456789");
        assert!(matches!(objects.open_range(&object, 3, 8).await, Err(ObjectError::TooShort { have: 10, to: 11, .. })));
        assert!(matches!(objects.open_range(&object, u64::MAX, 2).await, Err(ObjectError::TooShort { .. })));
        assert!(matches!(objects.open_range(&[1; 32], 0, 1).await, Err(ObjectError::Missing(_))));
    }
}
