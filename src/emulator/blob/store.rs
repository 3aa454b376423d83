//! Durable state: an index in redb (containers, blob properties and metadata, committed block
//! lists, uncommitted blocks, service properties) plus one file per uploaded block or Put Blob
//! body under `files/`, named by a generated id.
//!
//! A content file is written and fsynced (with its directory, by a group commit shared with
//! the other writes in flight) before the index refers to it,
//! and the index commit (durable in redb) is the moment a write becomes visible; the response
//! is sent after it. A crash can therefore leave only unreferenced files, which `open` removes.
//! Files that a commit stops referring to are removed after that commit.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::content::ContentDir;
use super::error::BlobError;
use super::xml::{BlockKind, ListItem};
use crate::emulator::EmulatorError;

/// Containers by name.
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
/// Blobs by `container \0 name` (names never contain NUL), so a container's blobs are one
/// contiguous range in name order.
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
/// Uncommitted blocks by `container \0 blob \0 block id`.
const BLOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("blocks");
/// Account-level documents (`properties`: the service properties XML).
const SERVICE: TableDefinition<&str, &[u8]> = TableDefinition::new("service");

/// Times in the index: nanoseconds since the Unix epoch.
mod nanos {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        match t.timestamp_nanos_opt() {
            Some(n) => s.serialize_i64(n),
            None => Err(serde::ser::Error::custom("time out of range")),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        Ok(DateTime::from_timestamp_nanos(i64::deserialize(d)?))
    }
}

/// Most blocks a committed blob may have (the service's limit).
pub const MAX_COMMITTED_BLOCKS: usize = 50_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRec {
    #[serde(with = "nanos")]
    pub created: DateTime<Utc>,
    #[serde(with = "nanos")]
    pub modified: DateTime<Utc>,
    /// Quoted, as in the ETag header.
    pub etag: String,
    pub metadata: Vec<(String, String)>,
}

/// The standard HTTP properties a blob keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobProps {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub content_disposition: Option<String>,
    pub cache_control: Option<String>,
    /// Base64, as in the Content-MD5 header.
    pub content_md5: Option<String>,
}

/// One piece of a blob's content: a whole content file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub file: String,
    pub len: u64,
    /// The committed block id; `None` for the body of a Put Blob.
    pub block_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobRec {
    #[serde(with = "nanos")]
    pub created: DateTime<Utc>,
    #[serde(with = "nanos")]
    pub modified: DateTime<Utc>,
    /// Quoted, as in the ETag header.
    pub etag: String,
    pub size: u64,
    pub props: BlobProps,
    pub metadata: Vec<(String, String)>,
    pub segments: Vec<Segment>,
}

impl BlobRec {
    /// The committed block list: (id, size) in order.
    pub fn committed_blocks(&self) -> Vec<(String, u64)> {
        self.segments
            .iter()
            .filter_map(|s| s.block_id.clone().map(|id| (id, s.len)))
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockRec {
    pub file: String,
    pub len: u64,
}

/// What a new blob version gets besides its content.
#[derive(Debug, Clone, Default)]
pub struct NewBlob {
    pub props: BlobProps,
    pub metadata: Vec<(String, String)>,
}

/// One page of a listing and the name to continue from.
pub type Page<T> = (Vec<T>, Option<String>);
/// A blob (if committed) and its uncommitted blocks.
pub type BlockLists = (Option<BlobRec>, Vec<(String, BlockRec)>);

/// A precondition evaluated against the current blob inside the write transaction.
pub type Check<'a> = &'a dyn Fn(Option<&BlobRec>) -> Result<(), BlobError>;

pub struct Store {
    db: Database,
    files: PathBuf,
    /// `files` and its fsyncs, shared by the writes in flight.
    content: Arc<ContentDir>,
    /// Last ETag tick handed out; ticks only grow, so every write gets a new ETag.
    clock: AtomicU64,
}

fn db_err(e: impl std::fmt::Display) -> BlobError {
    BlobError::internal(format!("blob index: {e}"))
}

fn blob_key(c: &str, b: &str) -> String {
    format!("{c}\0{b}")
}

fn block_prefix(c: &str, b: &str) -> String {
    format!("{c}\0{b}\0")
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, BlobError> {
    serde_json::to_vec(v).map_err(db_err)
}

fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, BlobError> {
    serde_json::from_slice(b).map_err(db_err)
}

/// The smallest string greater than every string starting with `prefix` (for range ends):
/// `prefix` with its last byte incremented. Keys here end in `\0`, so this never overflows.
fn prefix_end(prefix: &str) -> String {
    let mut s = prefix.to_string();
    match s.pop() {
        Some('\0') => {
            s.push('\u{1}');
            s
        }
        Some(c) => {
            s.push(c);
            s.push(char::MAX);
            s
        }
        None => String::from(char::MAX),
    }
}

impl Store {
    /// Opens (or creates) the index under `dir` and removes content files it does not refer to.
    pub fn open(dir: &Path) -> Result<Store, EmulatorError> {
        let files = dir.join("files");
        std::fs::create_dir_all(&files).map_err(|source| EmulatorError::DataDir {
            path: files.clone(),
            source,
        })?;
        let path = dir.join("index.redb");
        let bad = |e: &dyn std::fmt::Display| EmulatorError::Database {
            path: path.clone(),
            message: e.to_string(),
        };
        let db = Database::create(&path).map_err(|e| bad(&e))?;
        let w = db.begin_write().map_err(|e| bad(&e))?;
        for t in [CONTAINERS, BLOBS, BLOCKS, SERVICE] {
            w.open_table(t).map_err(|e| bad(&e))?;
        }
        w.commit().map_err(|e| bad(&e))?;
        let store = Store {
            db,
            content: Arc::new(ContentDir::new(files.clone())),
            files,
            clock: AtomicU64::new(0),
        };
        let removed = store.remove_orphans().map_err(|e| bad(&e))?;
        if removed > 0 {
            tracing::info!(removed, "removed unreferenced blob content files");
        }
        Ok(store)
    }

    pub fn files_dir(&self) -> &Path {
        &self.files
    }

    /// Where new content files are written (see [`ContentDir`]).
    pub fn content_dir(&self) -> Arc<ContentDir> {
        self.content.clone()
    }

    pub fn file_path(&self, id: &str) -> PathBuf {
        self.files.join(id)
    }

    /// A new ETag (quoted, `0x` + 15-16 hex digits of 100 ns ticks, as the service's) and the
    /// time of the change.
    pub fn next_version(&self) -> (String, DateTime<Utc>) {
        let now = Utc::now();
        // 100 ns ticks since 1601, like the service's FILETIME-based ETags.
        let ticks = (now.timestamp_nanos_opt().unwrap_or(0) / 100) as u64 + 116_444_736_000_000_000;
        let mut prev = self.clock.load(Ordering::Relaxed);
        let tick = loop {
            let next = ticks.max(prev + 1);
            match self
                .clock
                .compare_exchange(prev, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break next,
                Err(p) => prev = p,
            }
        };
        (format!("\"0x{tick:X}\""), now)
    }

    fn remove_orphans(&self) -> Result<usize, BlobError> {
        let mut referenced = HashSet::new();
        let r = self.db.begin_read().map_err(db_err)?;
        for entry in r
            .open_table(BLOBS)
            .map_err(db_err)?
            .iter()
            .map_err(db_err)?
        {
            let (_, v) = entry.map_err(db_err)?;
            let rec: BlobRec = decode(v.value())?;
            referenced.extend(rec.segments.into_iter().map(|s| s.file));
        }
        for entry in r
            .open_table(BLOCKS)
            .map_err(db_err)?
            .iter()
            .map_err(db_err)?
        {
            let (_, v) = entry.map_err(db_err)?;
            let rec: BlockRec = decode(v.value())?;
            referenced.insert(rec.file);
        }
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.files).map_err(db_err)? {
            let entry = entry.map_err(db_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !referenced.contains(&name) {
                std::fs::remove_file(entry.path()).map_err(db_err)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes content files no longer referenced (after the commit that dropped them).
    pub fn remove_files(&self, ids: &[String]) {
        for id in ids {
            if let Err(e) = std::fs::remove_file(self.file_path(id))
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %id, error = %e, "could not remove a blob content file; it is removed at the next start");
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Containers

    pub fn container(&self, name: &str) -> Result<Option<ContainerRec>, BlobError> {
        let r = self.db.begin_read().map_err(db_err)?;
        let t = r.open_table(CONTAINERS).map_err(db_err)?;
        match t.get(name).map_err(db_err)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    pub fn create_container(
        &self,
        name: &str,
        metadata: Vec<(String, String)>,
    ) -> Result<ContainerRec, BlobError> {
        let (etag, now) = self.next_version();
        let rec = ContainerRec {
            created: now,
            modified: now,
            etag,
            metadata,
        };
        let w = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = w.open_table(CONTAINERS).map_err(db_err)?;
            if t.get(name).map_err(db_err)?.is_some() {
                return Err(BlobError::container_exists());
            }
            t.insert(name, encode(&rec)?.as_slice()).map_err(db_err)?;
        }
        w.commit().map_err(db_err)?;
        Ok(rec)
    }

    pub fn set_container_metadata(
        &self,
        name: &str,
        metadata: Vec<(String, String)>,
    ) -> Result<ContainerRec, BlobError> {
        let (etag, now) = self.next_version();
        let w = self.db.begin_write().map_err(db_err)?;
        let rec = {
            let mut t = w.open_table(CONTAINERS).map_err(db_err)?;
            let mut rec: ContainerRec = match t.get(name).map_err(db_err)? {
                Some(v) => decode(v.value())?,
                None => return Err(BlobError::container_not_found()),
            };
            rec.metadata = metadata;
            rec.etag = etag;
            rec.modified = now;
            t.insert(name, encode(&rec)?.as_slice()).map_err(db_err)?;
            rec
        };
        w.commit().map_err(db_err)?;
        Ok(rec)
    }

    /// Deletes a container with all its blobs and blocks; returns the files to remove.
    pub fn delete_container(
        &self,
        name: &str,
        check: &dyn Fn(&ContainerRec) -> Result<(), BlobError>,
    ) -> Result<Vec<String>, BlobError> {
        let w = self.db.begin_write().map_err(db_err)?;
        let mut files = Vec::new();
        {
            let mut t = w.open_table(CONTAINERS).map_err(db_err)?;
            let rec: ContainerRec = match t.get(name).map_err(db_err)? {
                Some(v) => decode(v.value())?,
                None => return Err(BlobError::container_not_found()),
            };
            check(&rec)?;
            t.remove(name).map_err(db_err)?;
            let start = format!("{name}\0");
            let end = prefix_end(&start);
            let mut blobs = w.open_table(BLOBS).map_err(db_err)?;
            for entry in blobs
                .extract_from_if(start.as_str()..end.as_str(), |_, _| true)
                .map_err(db_err)?
            {
                let (_, v) = entry.map_err(db_err)?;
                let rec: BlobRec = decode(v.value())?;
                files.extend(rec.segments.into_iter().map(|s| s.file));
            }
            let mut blocks = w.open_table(BLOCKS).map_err(db_err)?;
            for entry in blocks
                .extract_from_if(start.as_str()..end.as_str(), |_, _| true)
                .map_err(db_err)?
            {
                let (_, v) = entry.map_err(db_err)?;
                let rec: BlockRec = decode(v.value())?;
                files.push(rec.file);
            }
        }
        w.commit().map_err(db_err)?;
        Ok(files)
    }

    /// Containers whose names start with `prefix`, from `from` on, at most `max`; and the
    /// name to continue from.
    pub fn list_containers(
        &self,
        prefix: &str,
        from: Option<&str>,
        max: usize,
    ) -> Result<Page<(String, ContainerRec)>, BlobError> {
        let r = self.db.begin_read().map_err(db_err)?;
        let t = r.open_table(CONTAINERS).map_err(db_err)?;
        let start = match from {
            Some(m) if m > prefix => m,
            _ => prefix,
        };
        let mut out = Vec::new();
        for entry in t.range(start..).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let name = k.value();
            if !name.starts_with(prefix) {
                break;
            }
            if out.len() == max {
                return Ok((out, Some(name.to_string())));
            }
            out.push((name.to_string(), decode(v.value())?));
        }
        Ok((out, None))
    }

    // -----------------------------------------------------------------------------------------
    // Blobs

    fn require_container(w: &redb::WriteTransaction, c: &str) -> Result<(), BlobError> {
        let t = w.open_table(CONTAINERS).map_err(db_err)?;
        if t.get(c).map_err(db_err)?.is_none() {
            return Err(BlobError::container_not_found());
        }
        Ok(())
    }

    /// The blob, or `ContainerNotFound` when its container does not exist.
    pub fn blob(&self, c: &str, b: &str) -> Result<Option<BlobRec>, BlobError> {
        let r = self.db.begin_read().map_err(db_err)?;
        if r.open_table(CONTAINERS)
            .map_err(db_err)?
            .get(c)
            .map_err(db_err)?
            .is_none()
        {
            return Err(BlobError::container_not_found());
        }
        let t = r.open_table(BLOBS).map_err(db_err)?;
        match t.get(blob_key(c, b).as_str()).map_err(db_err)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Removes the blob's uncommitted blocks inside `w`; returns their files.
    fn take_blocks(
        w: &redb::WriteTransaction,
        c: &str,
        b: &str,
    ) -> Result<Vec<(String, BlockRec)>, BlobError> {
        let start = block_prefix(c, b);
        let end = prefix_end(&start);
        let mut t = w.open_table(BLOCKS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t
            .extract_from_if(start.as_str()..end.as_str(), |_, _| true)
            .map_err(db_err)?
        {
            let (k, v) = entry.map_err(db_err)?;
            let id = k.value()[start.len()..].to_string();
            out.push((id, decode(v.value())?));
        }
        Ok(out)
    }

    fn write_blob(
        &self,
        w: &redb::WriteTransaction,
        c: &str,
        b: &str,
        existing: Option<&BlobRec>,
        new: NewBlob,
        segments: Vec<Segment>,
    ) -> Result<BlobRec, BlobError> {
        let (etag, now) = self.next_version();
        let rec = BlobRec {
            created: existing.map_or(now, |e| e.created),
            modified: now,
            etag,
            size: segments.iter().map(|s| s.len).sum(),
            props: new.props,
            metadata: new.metadata,
            segments,
        };
        let mut t = w.open_table(BLOBS).map_err(db_err)?;
        t.insert(blob_key(c, b).as_str(), encode(&rec)?.as_slice())
            .map_err(db_err)?;
        Ok(rec)
    }

    fn current(w: &redb::WriteTransaction, c: &str, b: &str) -> Result<Option<BlobRec>, BlobError> {
        let t = w.open_table(BLOBS).map_err(db_err)?;
        let v = t.get(blob_key(c, b).as_str()).map_err(db_err)?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// Put Blob: the blob becomes the single content file `file`. Uncommitted blocks are
    /// discarded. Returns the new record and the files to remove.
    pub fn put_blob(
        &self,
        c: &str,
        b: &str,
        file: Segment,
        new: NewBlob,
        check: Check<'_>,
    ) -> Result<(BlobRec, Vec<String>), BlobError> {
        let w = self.db.begin_write().map_err(db_err)?;
        Self::require_container(&w, c)?;
        let existing = Self::current(&w, c, b)?;
        check(existing.as_ref())?;
        let mut garbage: Vec<String> = Self::take_blocks(&w, c, b)?
            .into_iter()
            .map(|(_, r)| r.file)
            .collect();
        if let Some(e) = &existing {
            garbage.extend(e.segments.iter().map(|s| s.file.clone()));
        }
        let rec = self.write_blob(&w, c, b, existing.as_ref(), new, vec![file])?;
        w.commit().map_err(db_err)?;
        Ok((rec, garbage))
    }

    /// Put Block: stages (or replaces) an uncommitted block. Returns the files to remove.
    pub fn put_block(
        &self,
        c: &str,
        b: &str,
        id: &str,
        block: BlockRec,
    ) -> Result<Vec<String>, BlobError> {
        let w = self.db.begin_write().map_err(db_err)?;
        Self::require_container(&w, c)?;
        let prefix = block_prefix(c, b);
        let old = {
            let mut t = w.open_table(BLOCKS).map_err(db_err)?;
            // All block ids of a blob have the same length.
            let end = prefix_end(&prefix);
            if let Some(first) = t
                .range(prefix.as_str()..end.as_str())
                .map_err(db_err)?
                .next()
            {
                let (k, _) = first.map_err(db_err)?;
                if k.value().len() - prefix.len() != id.len() {
                    return Err(BlobError::invalid_blob_or_block().with(
                        "Reason",
                        "all block ids of a blob must have the same length",
                    ));
                }
            }
            let key = format!("{prefix}{id}");
            t.insert(key.as_str(), encode(&block)?.as_slice())
                .map_err(db_err)?
                .map(|v| decode::<BlockRec>(v.value()))
                .transpose()?
        };
        w.commit().map_err(db_err)?;
        Ok(old.map(|o| vec![o.file]).unwrap_or_default())
    }

    /// Put Block List: the blob becomes the listed blocks; all uncommitted blocks of the blob
    /// are discarded. Returns the new record and the files to remove.
    pub fn commit_blocks(
        &self,
        c: &str,
        b: &str,
        list: &[(BlockKind, String)],
        new: NewBlob,
        check: Check<'_>,
    ) -> Result<(BlobRec, Vec<String>), BlobError> {
        if list.len() > MAX_COMMITTED_BLOCKS {
            return Err(BlobError::invalid_block_list().with(
                "Reason",
                format!("a blob has at most {MAX_COMMITTED_BLOCKS} committed blocks"),
            ));
        }
        let w = self.db.begin_write().map_err(db_err)?;
        Self::require_container(&w, c)?;
        let existing = Self::current(&w, c, b)?;
        check(existing.as_ref())?;
        let committed: HashMap<String, Segment> = existing
            .iter()
            .flat_map(|e| e.segments.iter())
            .filter_map(|s| s.block_id.clone().map(|id| (id, s.clone())))
            .collect();
        let staged = Self::take_blocks(&w, c, b)?;
        let uncommitted: HashMap<&str, &BlockRec> =
            staged.iter().map(|(id, r)| (id.as_str(), r)).collect();
        let mut segments = Vec::with_capacity(list.len());
        for (kind, id) in list {
            let from_staged = || {
                uncommitted.get(id.as_str()).map(|r| Segment {
                    file: r.file.clone(),
                    len: r.len,
                    block_id: Some(id.clone()),
                })
            };
            let seg = match kind {
                BlockKind::Committed => committed.get(id).cloned(),
                BlockKind::Uncommitted => from_staged(),
                BlockKind::Latest => from_staged().or_else(|| committed.get(id).cloned()),
            };
            match seg {
                Some(s) => segments.push(s),
                // Dropping `w` aborts: the staged blocks stay.
                None => return Err(BlobError::invalid_block_list()),
            }
        }
        let used: HashSet<&str> = segments.iter().map(|s| s.file.as_str()).collect();
        let mut garbage: Vec<String> = staged
            .iter()
            .map(|(_, r)| r.file.clone())
            .chain(
                existing
                    .iter()
                    .flat_map(|e| e.segments.iter().map(|s| s.file.clone())),
            )
            .filter(|f| !used.contains(f.as_str()))
            .collect();
        garbage.sort();
        garbage.dedup();
        let rec = self.write_blob(&w, c, b, existing.as_ref(), new, segments)?;
        w.commit().map_err(db_err)?;
        Ok((rec, garbage))
    }

    /// The blob (if committed) and its uncommitted blocks in id order.
    pub fn block_lists(&self, c: &str, b: &str) -> Result<BlockLists, BlobError> {
        let blob = self.blob(c, b)?;
        let r = self.db.begin_read().map_err(db_err)?;
        let t = r.open_table(BLOCKS).map_err(db_err)?;
        let start = block_prefix(c, b);
        let end = prefix_end(&start);
        let mut blocks = Vec::new();
        for entry in t.range(start.as_str()..end.as_str()).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            blocks.push((k.value()[start.len()..].to_string(), decode(v.value())?));
        }
        Ok((blob, blocks))
    }

    /// Deletes a blob and its uncommitted blocks; returns the files to remove.
    pub fn delete_blob(
        &self,
        c: &str,
        b: &str,
        check: Check<'_>,
    ) -> Result<Vec<String>, BlobError> {
        let w = self.db.begin_write().map_err(db_err)?;
        Self::require_container(&w, c)?;
        let Some(existing) = Self::current(&w, c, b)? else {
            return Err(BlobError::blob_not_found());
        };
        check(Some(&existing))?;
        w.open_table(BLOBS)
            .map_err(db_err)?
            .remove(blob_key(c, b).as_str())
            .map_err(db_err)?;
        let mut files: Vec<String> = existing.segments.into_iter().map(|s| s.file).collect();
        files.extend(
            Self::take_blocks(&w, c, b)?
                .into_iter()
                .map(|(_, r)| r.file),
        );
        w.commit().map_err(db_err)?;
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// Changes a blob's metadata or properties (a new ETag and Last-Modified).
    pub fn update_blob(
        &self,
        c: &str,
        b: &str,
        check: Check<'_>,
        change: &dyn Fn(&mut BlobRec),
    ) -> Result<BlobRec, BlobError> {
        let w = self.db.begin_write().map_err(db_err)?;
        Self::require_container(&w, c)?;
        let Some(mut rec) = Self::current(&w, c, b)? else {
            return Err(BlobError::blob_not_found());
        };
        check(Some(&rec))?;
        change(&mut rec);
        let (etag, now) = self.next_version();
        rec.etag = etag;
        rec.modified = now;
        w.open_table(BLOBS)
            .map_err(db_err)?
            .insert(blob_key(c, b).as_str(), encode(&rec)?.as_slice())
            .map_err(db_err)?;
        w.commit().map_err(db_err)?;
        Ok(rec)
    }

    /// Blobs of container `c` whose names start with `prefix`, from `from` on, grouped by
    /// `delimiter` into prefixes; at most `max` entries, and the name to continue from.
    pub fn list_blobs(
        &self,
        c: &str,
        prefix: &str,
        delimiter: Option<&str>,
        from: Option<&str>,
        max: usize,
    ) -> Result<Page<ListItem>, BlobError> {
        let r = self.db.begin_read().map_err(db_err)?;
        if r.open_table(CONTAINERS)
            .map_err(db_err)?
            .get(c)
            .map_err(db_err)?
            .is_none()
        {
            return Err(BlobError::container_not_found());
        }
        let t = r.open_table(BLOBS).map_err(db_err)?;
        let first = match from {
            Some(m) if m > prefix => m,
            _ => prefix,
        };
        let start = blob_key(c, first);
        let end = prefix_end(&format!("{c}\0"));
        let base = c.len() + 1;
        let mut out: Vec<ListItem> = Vec::new();
        let mut last_prefix: Option<String> = None;
        for entry in t.range(start.as_str()..end.as_str()).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let name = &k.value()[base..];
            if !name.starts_with(prefix) {
                break;
            }
            let group = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                name[prefix.len()..]
                    .find(d)
                    .map(|i| &name[..prefix.len() + i + d.len()])
            });
            if let Some(g) = group {
                if last_prefix.as_deref() == Some(g) {
                    continue;
                }
                if out.len() == max {
                    return Ok((out, Some(g.to_string())));
                }
                last_prefix = Some(g.to_string());
                out.push(ListItem::Prefix(g.to_string()));
                continue;
            }
            if out.len() == max {
                return Ok((out, Some(name.to_string())));
            }
            out.push(ListItem::Blob(
                name.to_string(),
                Box::new(decode(v.value())?),
            ));
        }
        Ok((out, None))
    }

    // -----------------------------------------------------------------------------------------
    // Service

    pub fn service_properties(&self) -> Result<Option<Vec<u8>>, BlobError> {
        let r = self.db.begin_read().map_err(db_err)?;
        let t = r.open_table(SERVICE).map_err(db_err)?;
        Ok(t.get("properties")
            .map_err(db_err)?
            .map(|v| v.value().to_vec()))
    }

    pub fn set_service_properties(&self, xml: &[u8]) -> Result<(), BlobError> {
        let w = self.db.begin_write().map_err(db_err)?;
        w.open_table(SERVICE)
            .map_err(db_err)?
            .insert("properties", xml)
            .map_err(db_err)?;
        w.commit().map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(store: &Store, bytes: &[u8], block: Option<&str>) -> Segment {
        let id = uuid::Uuid::new_v4().simple().to_string();
        std::fs::write(store.file_path(&id), bytes).unwrap();
        Segment {
            file: id,
            len: bytes.len() as u64,
            block_id: block.map(str::to_string),
        }
    }

    fn ok(_: Option<&BlobRec>) -> Result<(), BlobError> {
        Ok(())
    }

    #[test]
    fn etags_always_grow() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let a = s.next_version().0;
        let b = s.next_version().0;
        assert_ne!(a, b);
        assert!(a.starts_with("\"0x") && a.ends_with('"'));
    }

    #[test]
    fn block_commit_and_garbage() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.create_container("c1", vec![]).unwrap();
        for (id, data) in [("QQ==", b"aa".as_slice()), ("Qg==", b"bbb".as_slice())] {
            let sg = seg(&s, data, None);
            s.put_block(
                "c1",
                "x/y",
                id,
                BlockRec {
                    file: sg.file,
                    len: sg.len,
                },
            )
            .unwrap();
        }
        // Block ids of one blob all have the same length.
        let sg = seg(&s, b"c", None);
        let e = s
            .put_block(
                "c1",
                "x/y",
                "QUJDRA==",
                BlockRec {
                    file: sg.file,
                    len: 1,
                },
            )
            .unwrap_err();
        assert_eq!(e.code, "InvalidBlobOrBlock");
        let list = vec![
            (BlockKind::Latest, "Qg==".to_string()),
            (BlockKind::Uncommitted, "QQ==".to_string()),
        ];
        let (rec, garbage) = s
            .commit_blocks("c1", "x/y", &list, NewBlob::default(), &ok)
            .unwrap();
        assert_eq!(rec.size, 5);
        assert!(garbage.is_empty());
        assert_eq!(
            rec.committed_blocks(),
            vec![("Qg==".to_string(), 3), ("QQ==".to_string(), 2)]
        );
        // Keep only one committed block: the other's file becomes garbage.
        let (rec2, garbage) = s
            .commit_blocks(
                "c1",
                "x/y",
                &[(BlockKind::Committed, "QQ==".into())],
                NewBlob::default(),
                &ok,
            )
            .unwrap();
        assert_eq!(rec2.size, 2);
        assert_eq!(garbage, vec![rec.segments[0].file.clone()]);
        assert_eq!(rec2.created, rec.created);
        assert_ne!(rec2.etag, rec.etag);
        // A missing block fails and changes nothing.
        let e = s
            .commit_blocks(
                "c1",
                "x/y",
                &[(BlockKind::Uncommitted, "QQ==".into())],
                NewBlob::default(),
                &ok,
            )
            .unwrap_err();
        assert_eq!(e.code, "InvalidBlockList");
        assert_eq!(s.blob("c1", "x/y").unwrap().unwrap().etag, rec2.etag);
    }

    #[test]
    fn listing_pages_and_groups() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.create_container("c1", vec![]).unwrap();
        s.create_container("c10", vec![]).unwrap();
        for name in ["a/1", "a/2", "b", "c/d/e", "ca"] {
            let sg = seg(&s, b"x", None);
            s.put_blob("c1", name, sg, NewBlob::default(), &ok).unwrap();
        }
        let sg = seg(&s, b"x", None);
        s.put_blob("c10", "zz", sg, NewBlob::default(), &ok)
            .unwrap();
        let names = |items: &[ListItem]| {
            items
                .iter()
                .map(|i| match i {
                    ListItem::Blob(n, _) => n.clone(),
                    ListItem::Prefix(p) => format!("P:{p}"),
                })
                .collect::<Vec<_>>()
        };
        let (all, next) = s.list_blobs("c1", "", None, None, 100).unwrap();
        assert_eq!(names(&all), ["a/1", "a/2", "b", "c/d/e", "ca"]);
        assert_eq!(next, None);
        let (p1, next) = s.list_blobs("c1", "", Some("/"), None, 2).unwrap();
        assert_eq!(names(&p1), ["P:a/", "b"]);
        assert_eq!(next.as_deref(), Some("c/"));
        let (p2, next) = s
            .list_blobs("c1", "", Some("/"), next.as_deref(), 2)
            .unwrap();
        assert_eq!(names(&p2), ["P:c/", "ca"]);
        assert_eq!(next, None);
        let (p, _) = s.list_blobs("c1", "c", Some("/"), None, 10).unwrap();
        assert_eq!(names(&p), ["P:c/", "ca"]);
        let (p, next) = s.list_blobs("c1", "a/", None, Some("a/2"), 1).unwrap();
        assert_eq!(names(&p), ["a/2"]);
        assert_eq!(next, None);
        assert_eq!(
            s.list_blobs("nope", "", None, None, 1)
                .err()
                .map(|e| e.code),
            Some("ContainerNotFound")
        );
    }

    #[test]
    fn orphans_are_removed_on_open_and_deletes_cascade() {
        let d = tempfile::tempdir().unwrap();
        let kept;
        {
            let s = Store::open(d.path()).unwrap();
            s.create_container("c1", vec![]).unwrap();
            let sg = seg(&s, b"keep", None);
            kept = sg.file.clone();
            s.put_blob("c1", "k", sg, NewBlob::default(), &ok).unwrap();
            seg(&s, b"orphan", None);
            std::fs::write(s.files_dir().join(".tmp-x"), b"t").unwrap();
        }
        let s = Store::open(d.path()).unwrap();
        let left: Vec<String> = std::fs::read_dir(s.files_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec![kept.clone()]);
        let files = s.delete_container("c1", &|_| Ok(())).unwrap();
        assert_eq!(files, vec![kept]);
        assert!(s.container("c1").unwrap().is_none());
        assert_eq!(s.blob("c1", "k").unwrap_err().code, "ContainerNotFound");
    }
}
