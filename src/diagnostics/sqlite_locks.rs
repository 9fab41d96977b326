//! Who holds a lock on a SQLite file right now, read from the operating system's lock table
//! without taking a lock.
//!
//! SQLite has no server whose sessions could be listed: "database is locked" (SQLITE_BUSY) means
//! another *process* holds a lock on the file. SQLite's unix VFS takes POSIX advisory locks on
//! fixed bytes ("File Locking And Concurrency In SQLite Version 3"; `os_unix.c`):
//!
//! * rollback-journal modes, in the database file: PENDING at byte 0x40000000, RESERVED (the
//!   write lock of a write transaction) at 0x40000001, and the 510-byte SHARED range after them,
//!   read-locked by readers and write-locked by a writer committing (EXCLUSIVE);
//! * WAL mode, in the `-shm` file: the WAL write lock at byte 120, the checkpoint lock at 121 and
//!   the reader marks at 123–127.
//!
//! `fcntl(F_GETLK)` asks the kernel which process would conflict with a lock on a range, and
//! changes nothing. The descriptors it needs are opened once per file and **never closed**: closing
//! any descriptor of a file drops every POSIX lock this process holds on it, which would silently
//! release the read locks of the bot's own SQLite connections ("How To Corrupt An SQLite Database
//! File" §2.2). Only Linux is supported; elsewhere the probe reports that it could not look.

use super::{ResultSet, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Byte offsets of SQLite's unix VFS locks (`os_unix.c`, `wal.c`).
const PENDING_BYTE: i64 = 0x4000_0000;
const RESERVED_BYTE: i64 = PENDING_BYTE + 1;
const SHARED_FIRST: i64 = PENDING_BYTE + 2;
const SHARED_SIZE: i64 = 510;
/// `UNIX_SHM_BASE`: (22 + SQLITE_SHM_NLOCK) * 4.
const SHM_WRITE_LOCK: i64 = 120;
const SHM_READ_MARKS: (i64, i64) = (123, 5);

/// Files opened for lock queries, by path, with the inode they were opened on. At most one
/// entry per configured SQLite target (plus its `-shm` file); bounded by [`MAX_FILES`].
static OPEN: Mutex<Option<HashMap<PathBuf, (u64, std::fs::File)>>> = Mutex::new(None);
const MAX_FILES: usize = 256;

/// A lock another process holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    /// The holder's process id as this process sees it (0 when it is in another PID namespace).
    pub pid: i32,
    /// The holder's executable name (`/proc/<pid>/comm`), never its command line (which can carry
    /// passwords).
    pub process: Option<String>,
}

/// What the lock table says about one SQLite file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LockReport {
    /// The write lock (`reserved`, `pending`, `exclusive`, `wal write`) and its holder.
    pub writer: Option<(&'static str, Holder)>,
    /// One process holding a read lock (the kernel names one conflicting lock, not all).
    pub reader: Option<Holder>,
    /// Size (bytes) and age (seconds since last written) of the rollback journal, if present.
    pub journal: Option<(u64, u64)>,
    /// Size of the `-wal` file in bytes, if present.
    pub wal_bytes: Option<u64>,
    /// Why the lock table could not be read, when it could not.
    pub error: Option<String>,
}

/// Reads the lock table for the database at `db` (an absolute path from `pragma_database_list`)
/// in journal mode `mode`. Blocking file-system calls: run it off the async threads.
pub fn inspect(db: &Path, mode: &str) -> LockReport {
    let mut report = LockReport {
        journal: side_file(db, "-journal").map(|m| (m.len(), age_s(&m))),
        wal_bytes: side_file(db, "-wal").map(|m| m.len()),
        ..Default::default()
    };
    let wal = mode.eq_ignore_ascii_case("wal");
    let result = (|| -> Result<(), String> {
        // An exclusive lock on the database file: a rollback-mode commit, or any connection in
        // locking_mode=EXCLUSIVE (WAL included).
        match conflict(db, SHARED_FIRST, SHARED_SIZE)? {
            Some((true, h)) => report.writer = Some(("exclusive", h)),
            Some((false, h)) if !wal => report.reader = Some(h),
            _ => {}
        }
        if wal {
            let shm = sibling(db, "-shm");
            if shm.exists() {
                if report.writer.is_none() {
                    if let Some((_, h)) = conflict(&shm, SHM_WRITE_LOCK, 1)? {
                        report.writer = Some(("wal write", h));
                    }
                }
                if let Some((_, h)) = conflict(&shm, SHM_READ_MARKS.0, SHM_READ_MARKS.1)? {
                    report.reader = Some(h);
                }
            }
        } else if report.writer.is_none() {
            if let Some((_, h)) = conflict(db, PENDING_BYTE, 1)? {
                report.writer = Some(("pending", h));
            } else if let Some((_, h)) = conflict(db, RESERVED_BYTE, 1)? {
                report.writer = Some(("reserved", h));
            }
        }
        Ok(())
    })();
    report.error = result.err();
    report
}

/// Adds the lock table's answer to the `file`/`journal_mode` row the catalog's SQL returned, as
/// the columns `lock`, `pid`, `process`, `reader_pid`, `reader_process`, `journal_bytes`,
/// `journal_age_s`, `wal_bytes` and `probe_error`.
pub fn augment(rows: &mut ResultSet) {
    let (file, mode) = match rows.first() {
        Some(r) => (r.str("file"), r.str("journal_mode")),
        None => return,
    };
    let report = if file.is_empty() {
        LockReport {
            error: Some("an in-memory or temporary database has no file to inspect".into()),
            ..Default::default()
        }
    } else {
        inspect(Path::new(&file), &mode)
    };
    let text = |s: Option<String>| s.map(Value::Text).unwrap_or(Value::Null);
    let int = |n: Option<i64>| n.map(Value::Int).unwrap_or(Value::Null);
    let (lock, pid, process) = match &report.writer {
        Some((kind, h)) => (
            Some(kind.to_string()),
            Some(i64::from(h.pid)),
            h.process.clone(),
        ),
        None => (None, None, None),
    };
    let cells = [
        ("lock", text(lock)),
        ("pid", int(pid)),
        ("process", text(process)),
        (
            "reader_pid",
            int(report.reader.as_ref().map(|h| i64::from(h.pid))),
        ),
        (
            "reader_process",
            text(report.reader.as_ref().and_then(|h| h.process.clone())),
        ),
        ("journal_bytes", int(report.journal.map(|(b, _)| b as i64))),
        ("journal_age_s", int(report.journal.map(|(_, a)| a as i64))),
        ("wal_bytes", int(report.wal_bytes.map(|b| b as i64))),
        ("probe_error", text(report.error)),
    ];
    for (name, value) in cells {
        rows.columns.push(name.to_string());
        if let Some(row) = rows.rows.first_mut() {
            row.push(value);
        }
    }
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn side_file(db: &Path, suffix: &str) -> Option<std::fs::Metadata> {
    std::fs::metadata(sibling(db, suffix))
        .ok()
        .filter(|m| m.is_file() && m.len() > 0)
}

fn age_s(m: &std::fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The lock another process holds that conflicts with a write lock on `len` bytes at `start`:
/// `(is_write_lock, holder)`, or `None` when the range is free.
#[cfg(target_os = "linux")]
fn conflict(path: &Path, start: i64, len: i64) -> Result<Option<(bool, Holder)>, String> {
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;
    use std::os::unix::fs::MetadataExt;

    let mut guard = OPEN
        .lock()
        .map_err(|_| "lock table probe poisoned".to_string())?;
    let files = guard.get_or_insert_with(HashMap::new);
    let ino = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .ino();
    let stale = files.get(path).is_some_and(|(i, _)| *i != ino);
    if stale {
        // The file was replaced. Its old descriptor is kept open on purpose (see the module
        // docs): closing it could drop this process's locks on the old inode.
        if let Some((_, old)) = files.remove(path) {
            std::mem::forget(old);
        }
    }
    if !files.contains_key(path) {
        if files.len() >= MAX_FILES {
            return Err("too many SQLite files inspected by this process".into());
        }
        let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        files.insert(path.to_path_buf(), (ino, f));
    }
    let Some((_, file)) = files.get(path) else {
        return Err(format!("{}: not open", path.display()));
    };
    let mut fl = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: start,
        l_len: len,
        l_pid: 0,
    };
    fcntl(file, FcntlArg::F_GETLK(&mut fl)).map_err(|e| format!("fcntl(F_GETLK): {e}"))?;
    if fl.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    let pid = fl.l_pid;
    let process = (pid > 0)
        .then(|| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(Some((
        fl.l_type == libc::F_WRLCK as libc::c_short,
        Holder { pid, process },
    )))
}

#[cfg(not(target_os = "linux"))]
fn conflict(_: &Path, _: i64, _: i64) -> Result<Option<(bool, Holder)>, String> {
    Err("reading the lock table is only supported on Linux".into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// Runs `python3` with SQLite (the system library, another process) executing `sql` on `db`
    /// and waiting; returns the child once it printed that its statements ran.
    fn hold(db: &Path, journal: &str, sql: &str) -> std::process::Child {
        let script = format!(
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('PRAGMA journal_mode={journal}')\n\
             c.execute('CREATE TABLE IF NOT EXISTS t(x)')\n\
             for s in sys.argv[2].split(';'):\n    c.execute(s)\n\
             print('held', flush=True)\n\
             time.sleep(30)\n"
        );
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(db)
            .arg(sql)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        if let Some(out) = child.stdout.as_mut() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        assert_eq!(line.trim(), "held", "the holder started");
        child
    }

    fn temp_db(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("dbabot-locks-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db = dir.join("t.db");
        (dir, db)
    }

    /// An open write transaction in another process (rollback journal) is named with its pid
    /// and executable, and its journal is seen; once it ends the file is free.
    #[test]
    fn a_write_transaction_in_another_process_is_named() {
        let (dir, db) = temp_db("delete");
        let mut child = hold(&db, "delete", "BEGIN IMMEDIATE;INSERT INTO t VALUES (1)");
        let report = inspect(&db, "delete");
        let _ = child.kill();
        let _ = child.wait();
        let after = inspect(&db, "delete");
        let _ = std::fs::remove_dir_all(&dir);
        let (kind, holder) = report.writer.clone().expect("the writer is seen");
        assert_eq!(kind, "reserved", "{report:?}");
        assert_eq!(holder.pid as u32, child.id());
        assert!(holder.process.is_some_and(|p| p.starts_with("python")));
        assert!(report.journal.is_some(), "{report:?}");
        assert_eq!(after.writer, None, "{after:?}");
    }

    /// In WAL mode the writer holds the `-shm` write lock.
    #[test]
    fn a_wal_writer_is_named() {
        let (dir, db) = temp_db("wal");
        let mut child = hold(&db, "wal", "BEGIN IMMEDIATE;INSERT INTO t VALUES (1)");
        let report = inspect(&db, "wal");
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        let (kind, holder) = report.writer.clone().expect("the writer is seen");
        assert_eq!(kind, "wal write", "{report:?}");
        assert_eq!(holder.pid as u32, child.id());
    }

    /// A reader in rollback mode holds SHARED, which is not a write lock.
    #[test]
    fn a_reader_is_not_a_writer() {
        let (dir, db) = temp_db("reader");
        let mut child = hold(&db, "delete", "BEGIN;SELECT count(*) FROM t");
        let report = inspect(&db, "delete");
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(report.writer, None, "{report:?}");
        assert_eq!(report.reader.map(|h| h.pid as u32), Some(child.id()));
    }
}
