//! Progress of a long turn (a multi-MB log analysis), from the engine to the adapter that shows
//! it (Slack edits its placeholder with the percentage, the console prints lines).
//!
//! The adapter runs [`MessageHandler::handle`](crate::MessageHandler::handle) inside
//! [`scope`] with the sending half of a [`channel`]; the engine asks for the [`current`]
//! [`Reporter`] of its turn (a task-local, so it passes through wrappers such as the serve
//! path's turn limiter without any of them knowing) and reports from any thread, also a blocking
//! one. Only the latest update is kept (a `watch` channel): a slow platform call never holds up
//! the analysis and no queue grows.

use std::future::Future;
use tokio::sync::watch;

/// One progress update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Percent done, 0–100; `None` for a note such as "busy, queued".
    pub percent: Option<u8>,
    /// What is being done ("Analysing postgresql.log"), or the note.
    pub what: String,
}

impl Update {
    /// "Analysing postgresql.log… 42%", or the note as it is.
    pub fn line(&self) -> String {
        match self.percent {
            Some(p) => format!("{}… {p}%", self.what),
            None => self.what.clone(),
        }
    }
}

/// Receives the latest [`Update`] of a turn.
pub type Receiver = watch::Receiver<Option<Update>>;

/// Reports progress of the current turn; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct Reporter(watch::Sender<Option<Update>>);

impl Reporter {
    /// Publishes an update; only sent when the percentage or the text changed.
    pub fn report(&self, percent: u8, what: &str) {
        self.publish(Some(percent.min(100)), what);
    }

    /// Publishes a note without a percentage ("busy, queued").
    pub fn note(&self, text: &str) {
        self.publish(None, text);
    }

    fn publish(&self, percent: Option<u8>, what: &str) {
        self.0.send_if_modified(|cur| {
            let same = cur
                .as_ref()
                .is_some_and(|u| u.percent == percent && u.what == what);
            if !same {
                *cur = Some(Update {
                    percent,
                    what: what.to_string(),
                });
            }
            !same
        });
    }
}

/// A reporter and the receiver the adapter watches.
pub fn channel() -> (Reporter, Receiver) {
    let (tx, rx) = watch::channel(None);
    (Reporter(tx), rx)
}

tokio::task_local! {
    static CURRENT: Reporter;
}

/// Runs `fut` (a turn) with `reporter` as its [`current`] reporter.
pub async fn scope<F: Future>(reporter: Reporter, fut: F) -> F::Output {
    CURRENT.scope(reporter, fut).await
}

/// The reporter of the turn running on this task, if its adapter shows progress.
pub fn current() -> Option<Reporter> {
    CURRENT.try_with(Reporter::clone).ok()
}

/// The polite "busy, queued" line for a turn that waits because `limit` turns are running.
pub fn queued_text(waiting: usize, limit: usize) -> String {
    let ahead = match waiting {
        0 => String::new(),
        1 => " behind 1 other waiting question".to_string(),
        n => format!(" behind {n} other waiting questions"),
    };
    format!(
        "I'm busy answering {limit} questions right now, so yours is queued{ahead}; I'll answer here as soon as it's its turn."
    )
}

/// Tells the current turn's adapter (if it shows progress) that the turn is queued: called by
/// the turn limiter when no permit is free, before it waits. `waiting` turns are queued ahead.
pub fn notify_queued(waiting: usize, limit: usize) {
    if let Some(r) = current() {
        r.note(&queued_text(waiting, limit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn updates_reach_the_scope_owner_and_repeats_are_dropped() {
        assert!(current().is_none(), "no reporter outside a scope");
        let (tx, mut rx) = channel();
        scope(tx, async {
            let r = current().expect("reporter inside the scope");
            // From a blocking thread, as the log reader does.
            let moved = r.clone();
            tokio::task::spawn_blocking(move || moved.report(40, "Analysing a.log"))
                .await
                .expect("join");
        })
        .await;
        // The scope has ended (its sender is gone); the last update is still there.
        let u = rx.borrow_and_update().clone().expect("an update");
        assert_eq!(u.line(), "Analysing a.log… 40%");
        let (tx, mut rx) = channel();
        scope(tx, async { notify_queued(2, 32) }).await;
        let note = rx.borrow_and_update().clone().expect("a note");
        assert_eq!(note.percent, None);
        assert_eq!(
            note.line(),
            "I'm busy answering 32 questions right now, so yours is queued behind 2 other waiting questions; I'll answer here as soon as it's its turn."
        );
        notify_queued(1, 1); // outside a scope: nobody to tell, no panic
        let (tx, rx) = channel();
        tx.report(5, "x");
        let mut rx2 = rx.clone();
        rx2.borrow_and_update();
        tx.report(5, "x");
        assert!(
            !rx2.has_changed().expect("open"),
            "same update is not resent"
        );
        tx.report(6, "x");
        assert!(rx2.has_changed().expect("open"));
    }
}
