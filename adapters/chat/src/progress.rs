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
    /// Percent done, 0–100.
    pub percent: u8,
    /// What is being done ("Analysing postgresql.log").
    pub what: String,
}

impl Update {
    /// "Analysing postgresql.log… 42%".
    pub fn line(&self) -> String {
        format!("{}… {}%", self.what, self.percent)
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
        let percent = percent.min(100);
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
