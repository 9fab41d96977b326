//! Durable writes to sled without its concurrent-flush hang.
//!
//! sled 0.34 can deadlock when several `flush_async` calls run at once (spacejam/sled#1241,
//! #1308: every I/O thread parks in `iobuf::make_stable_inner`); issue 16 saw the whole bot
//! freeze under bursts of 8 or more concurrent turns. Every flush in the bot goes through
//! [`flush`] instead: one at a time in the process, as a blocking `Db::flush` on tokio's
//! blocking pool so no async worker waits on disk.

use std::sync::LazyLock;

static ONE_AT_A_TIME: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Flushes `db` to disk, serialised with every other flush of the process.
///
/// # Errors
/// The sled error of the flush, or an I/O error if the blocking task could not run.
pub async fn flush(db: &sled::Db) -> Result<(), sled::Error> {
    let _turn = ONE_AT_A_TIME.lock().await;
    let db = db.clone();
    match tokio::task::spawn_blocking(move || db.flush()).await {
        Ok(r) => r.map(|_| ()),
        Err(e) => Err(sled::Error::Io(std::io::Error::other(e.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    /// Many concurrent durable writes complete (the pattern that froze sled's own flush_async).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_flushes_complete() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = sled::open(dir.path()).expect("sled");
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.insert(format!("k{i}"), vec![0u8; 512]).expect("insert");
                    super::flush(&db).await.expect("flush");
                })
            })
            .collect();
        let all = futures::future::join_all(tasks);
        tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("no flush hangs");
        assert_eq!(db.len(), 200);
    }
}
