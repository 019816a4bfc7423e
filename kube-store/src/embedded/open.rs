//! Opening the data directory: initialise an empty one, refuse one that is not ours.
//!
//! A directory is accepted when it is missing or empty (a new store is initialised), or when it
//! holds only the store's database file, written by this layout version. Anything else fails
//! with [`Error::Unusable`] and is left untouched: unrelated files, a file that is not a redb
//! database, a redb database of some other program, a truncated or corrupt file.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError, ReadableDatabase, TableError};

use super::tables::{
    DB_FILE, FORMAT_VERSION, INIT_FILE, INITIAL_REVISION, KEYS, LOG, META, META_COMPACTED,
    META_FORMAT, META_REVISION,
};
use crate::{Error, Result, Revision};

/// Names a store's directory may hold besides its own files (a file system's own directory).
const FOREIGN_NAMES_ALLOWED: &[&str] = &["lost+found"];

/// The first bytes of every redb file.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// What an opened database holds in its meta table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    /// The revision of the latest write.
    pub revision: Revision,
    /// The revision of the last compaction (0 before any).
    pub compacted: Revision,
}

/// How to open the database file.
pub(crate) struct OpenConfig {
    /// redb's page cache, in bytes.
    pub cache_bytes: usize,
    /// Verify every page's checksum on open.
    pub verify_on_open: bool,
}

/// Opens (or initialises) the store in `dir`.
pub(crate) fn open_dir(dir: &Path, config: &OpenConfig) -> Result<(Database, Meta)> {
    let entries = prepare_dir(dir)?;
    let db_path = dir.join(DB_FILE);
    if entries.iter().any(|name| name == INIT_FILE) {
        // A crash while initialising: no write was ever acknowledged from that file.
        remove_file(dir, &dir.join(INIT_FILE))?;
    }
    if !entries.iter().any(|name| name == DB_FILE) {
        initialise(dir, config)?;
    }
    check_header(&db_path)?;
    check_owner_read_only(&db_path)?;

    let db = redb::Builder::new()
        .set_cache_size(config.cache_bytes)
        .set_check_integrity_on_open(config.verify_on_open)
        .open(&db_path)
        .map_err(|e| open_error(&db_path, e))?;
    let meta = read_meta(&db_path, &db)?;
    Ok((db, meta))
}

/// Creates `dir` if missing and lists its entries, refusing any that are not the store's.
fn prepare_dir(dir: &Path) -> Result<Vec<String>> {
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(unusable(
                dir,
                "this is not a directory; give the store a directory of its own",
                None,
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir)
                .map_err(|e| unusable(dir, "the directory cannot be created", Some(e.into())))?;
        }
        Err(e) => {
            return Err(unusable(
                dir,
                "the directory cannot be read",
                Some(e.into()),
            ));
        }
    }
    let read = fs::read_dir(dir)
        .map_err(|e| unusable(dir, "the directory cannot be read", Some(e.into())))?;
    let mut names = Vec::new();
    let mut foreign = Vec::new();
    for entry in read {
        let entry =
            entry.map_err(|e| unusable(dir, "the directory cannot be read", Some(e.into())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == DB_FILE || name == INIT_FILE {
            names.push(name);
        } else if !FOREIGN_NAMES_ALLOWED.contains(&name.as_str()) {
            foreign.push(name);
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        let shown: Vec<_> = foreign.iter().take(5).map(|n| format!("{n:?}")).collect();
        let more = if foreign.len() > 5 {
            format!(" and {} more", foreign.len() - 5)
        } else {
            String::new()
        };
        return Err(unusable(
            dir,
            format!(
                "the directory holds files that are not the store's ({}{more}); give the store an \
                 empty or new directory, or the directory of an existing store, which holds only \
                 {DB_FILE:?}",
                shown.join(", ")
            ),
            None,
        ));
    }
    Ok(names)
}

/// Builds a new database in [`INIT_FILE`] and renames it into place, so that [`DB_FILE`]
/// never exists without its meta table.
fn initialise(dir: &Path, config: &OpenConfig) -> Result<()> {
    let init_path = dir.join(INIT_FILE);
    let db = redb::Builder::new()
        .set_cache_size(config.cache_bytes)
        .create(&init_path)
        .map_err(|e| {
            unusable(
                &init_path,
                "a new database cannot be created",
                Some(e.into()),
            )
        })?;
    let write = || -> std::result::Result<(), redb::Error> {
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_FORMAT, FORMAT_VERSION)?;
            meta.insert(META_REVISION, INITIAL_REVISION)?;
            meta.insert(META_COMPACTED, 0)?;
            txn.open_table(KEYS)?;
            txn.open_table(LOG)?;
        }
        txn.commit()?;
        Ok(())
    };
    write().map_err(|e| {
        unusable(
            &init_path,
            "a new database cannot be written",
            Some(e.into()),
        )
    })?;
    drop(db);
    let db_path = dir.join(DB_FILE);
    fs::rename(&init_path, &db_path).map_err(|e| {
        unusable(
            &db_path,
            "a new database cannot be put in place",
            Some(e.into()),
        )
    })?;
    sync_dir(dir)
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| unusable(dir, "the directory cannot be synced", Some(e.into())))
}

fn remove_file(dir: &Path, path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| {
        unusable(
            path,
            "a database left by an interrupted initialisation cannot be removed",
            Some(e.into()),
        )
    })?;
    sync_dir(dir)
}

/// Refuses a file that does not start like a redb database, before redb sees it.
fn check_header(path: &Path) -> Result<()> {
    let mut file = fs::File::open(path)
        .map_err(|e| unusable(path, "the database file cannot be opened", Some(e.into())))?;
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    file.by_ref()
        .take(REDB_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| unusable(path, "the database file cannot be read", Some(e.into())))?;
    if head.is_empty() {
        return Err(unusable(
            path,
            "the database file is empty (truncated?); restore it from a backup, or remove it to \
             start an empty store",
            None,
        ));
    }
    if head != REDB_MAGIC {
        return Err(unusable(
            path,
            "this file is not a redb database; it is not the store's: move it away, or give the \
             store another directory",
            None,
        ));
    }
    Ok(())
}

/// Checks, without writing to the file, that it is a store of this layout version. A file that
/// needs a repair after a crash cannot be read this way; [`read_meta`] checks it after the
/// repair.
fn check_owner_read_only(path: &Path) -> Result<()> {
    match redb::Builder::new().open_read_only(path) {
        Ok(db) => {
            let txn = db.begin_read().map_err(|e| corrupt(path, e.into()))?;
            let meta = txn.open_table(META).map_err(|e| meta_error(path, e))?;
            check_format(
                path,
                meta.get(META_FORMAT)
                    .map_err(|e| corrupt(path, e.into()))?
                    .map(|v| v.value()),
            )
        }
        Err(DatabaseError::RepairAborted) => Ok(()),
        Err(e) => Err(open_error(path, e)),
    }
}

/// Reads the meta table of an opened database, checking that it is ours.
fn read_meta(path: &Path, db: &Database) -> Result<Meta> {
    let txn = db.begin_read().map_err(|e| corrupt(path, e.into()))?;
    let meta = txn.open_table(META).map_err(|e| meta_error(path, e))?;
    let get = |name: &str| -> Result<Option<i64>> {
        Ok(meta
            .get(name)
            .map_err(|e| corrupt(path, e.into()))?
            .map(|v| v.value()))
    };
    check_format(path, get(META_FORMAT)?)?;
    // The other tables must be there too, with their types.
    for check in [
        txn.open_table(KEYS).map(drop),
        txn.open_table(LOG).map(drop),
    ] {
        check.map_err(|e| meta_error(path, e))?;
    }
    match (get(META_REVISION)?, get(META_COMPACTED)?) {
        (Some(revision), Some(compacted))
            if revision >= INITIAL_REVISION && compacted <= revision =>
        {
            Ok(Meta {
                revision,
                compacted,
            })
        }
        (revision, compacted) => Err(unusable(
            path,
            format!(
                "the store's meta table is damaged (revision {revision:?}, compacted \
                 {compacted:?}); restore the file from a backup"
            ),
            None,
        )),
    }
}

fn check_format(path: &Path, version: Option<i64>) -> Result<()> {
    match version {
        Some(FORMAT_VERSION) => Ok(()),
        Some(other) => Err(unusable(
            path,
            format!(
                "the store was written in format version {other}, and this build reads version \
                 {FORMAT_VERSION}; open it with a matching build"
            ),
            None,
        )),
        None => Err(unusable(
            path,
            "the store's meta table has no format version; the file is damaged or not the \
             store's",
            None,
        )),
    }
}

fn meta_error(path: &Path, e: TableError) -> Error {
    match e {
        TableError::TableDoesNotExist(_)
        | TableError::TableTypeMismatch { .. }
        | TableError::TableIsMultimap(_)
        | TableError::TypeDefinitionChanged { .. } => unusable(
            path,
            "this redb database is not the store's (it lacks the store's tables); move it away, \
             or give the store another directory",
            Some(e.into()),
        ),
        other => corrupt(path, other.into()),
    }
}

fn open_error(path: &Path, e: DatabaseError) -> Error {
    match e {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => unusable(
            path,
            "the database is open in another process (or another store in this one); stop it \
             first",
            Some(e.into()),
        ),
        DatabaseError::UpgradeRequired(_) => unusable(
            path,
            "the database file was written by another redb file format version",
            Some(e.into()),
        ),
        other => corrupt(path, other.into()),
    }
}

fn corrupt(path: &Path, e: redb::Error) -> Error {
    unusable(
        path,
        "the database file is corrupt or truncated; restore it from a backup (the file was left \
         as it is)",
        Some(e.into()),
    )
}

fn unusable(
    path: impl Into<PathBuf>,
    reason: impl Into<String>,
    source: Option<crate::error::BoxError>,
) -> Error {
    Error::Unusable {
        path: path.into().display().to_string(),
        reason: reason.into(),
        source,
    }
}
