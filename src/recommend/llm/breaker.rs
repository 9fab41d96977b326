//! A circuit breaker for the provider endpoint: after `threshold` consecutive failures (or a 429
//! with Retry-After) it stops calling the endpoint until the cool-down has passed, then lets one
//! trial through; a failed trial opens it again at once, a success closes it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    consecutive: u32,
    open_until: Option<Instant>,
}

/// Shared by every request of one recommender.
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    /// `threshold` failures in a row open it for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            state: Mutex::new(State::default()),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(remaining)` while open.
    pub fn allow(&self) -> Result<(), Duration> {
        let now = Instant::now();
        match self.lock().open_until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    pub fn success(&self) {
        let mut s = self.lock();
        s.consecutive = 0;
        s.open_until = None;
    }

    /// Counts a failure; returns true when this one opened the breaker.
    pub fn failure(&self) -> bool {
        let mut s = self.lock();
        s.consecutive = s.consecutive.saturating_add(1);
        if s.consecutive >= self.threshold {
            s.open_until = Some(Instant::now() + self.cooldown);
            return true;
        }
        false
    }

    /// The provider asked us to wait (Retry-After): no calls before then.
    pub fn hold_for(&self, wait: Duration) {
        let mut s = self.lock();
        let until = Instant::now() + wait;
        if s.open_until.is_none_or(|u| u < until) {
            s.open_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let b = Breaker::new(2, Duration::from_millis(60));
        assert!(b.allow().is_ok());
        assert!(!b.failure());
        assert!(b.allow().is_ok());
        assert!(b.failure());
        assert!(b.allow().is_err());
        std::thread::sleep(Duration::from_millis(80));
        assert!(b.allow().is_ok(), "half-open after the cool-down");
        assert!(b.failure(), "a failed trial opens it again at once");
        assert!(b.allow().is_err());
        std::thread::sleep(Duration::from_millis(80));
        b.success();
        assert!(b.allow().is_ok());
        assert!(!b.failure(), "a success reset the count");
    }

    #[test]
    fn retry_after_holds_calls() {
        let b = Breaker::new(5, Duration::from_secs(60));
        b.hold_for(Duration::from_millis(50));
        let left = b.allow().expect_err("held");
        assert!(left <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow().is_ok());
    }
}
