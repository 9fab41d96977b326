//! Replay protection for signed webhooks: a bounded, expiring memory of delivery keys.
//!
//! A captured, validly signed request can be sent again; its signature still verifies. Each
//! adapter therefore (1) rejects requests whose signed timestamp is outside a short window and
//! (2) remembers a delivery key of every accepted request (Slack's `trigger_id` and the request
//! signature, Discord's interaction id) for at least as long as that window, so a second
//! delivery inside the window is recognised and runs nothing. Memory is bounded: entries expire
//! after the ttl and, past the capacity, the oldest go first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys remembered at once unless a caller says otherwise (about 10 MB at 100-byte keys).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The seen-keys memory. Cheap to share behind an `Arc`; methods take `&self`.
pub struct ReplayGuard {
    ttl: Duration,
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    at: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl std::fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl ReplayGuard {
    /// Remembers keys for `ttl` (which must cover the whole accepted timestamp window, i.e.
    /// twice the allowed clock distance), at most `capacity` of them (at least 1).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        ReplayGuard {
            ttl,
            capacity: capacity.max(1),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// How long a key is remembered.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `true` when none of `keys` was seen within the ttl; all of them are then recorded.
    /// `false` for a replay (nothing is recorded). Empty keys are ignored; with no usable key
    /// the delivery counts as first.
    pub fn first_delivery(&self, keys: &[&str]) -> bool {
        self.first_delivery_at(keys, Instant::now())
    }

    /// As [`ReplayGuard::first_delivery`] at time `now` (for tests).
    pub fn first_delivery_at(&self, keys: &[&str], now: Instant) -> bool {
        let mut seen = match self.seen.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let Seen { at, order } = &mut *seen;
        while let Some((t, k)) = order.front() {
            if now.saturating_duration_since(*t) >= self.ttl || order.len() > self.capacity {
                if at.get(k) == Some(t) {
                    at.remove(k);
                }
                order.pop_front();
            } else {
                break;
            }
        }
        let keys: Vec<&str> = keys.iter().copied().filter(|k| !k.is_empty()).collect();
        if keys.iter().any(|k| {
            at.get(*k)
                .is_some_and(|t| now.saturating_duration_since(*t) < self.ttl)
        }) {
            return false;
        }
        for k in keys {
            at.insert(k.to_string(), now);
            order.push_back((now, k.to_string()));
        }
        while order.len() > self.capacity {
            if let Some((t, k)) = order.pop_front() {
                if at.get(&k) == Some(&t) {
                    at.remove(&k);
                }
            }
        }
        true
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        match self.seen.lock() {
            Ok(s) => s.at.len(),
            Err(p) => p.into_inner().at.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_caught_within_the_ttl_and_forgotten_after() {
        let g = ReplayGuard::new(Duration::from_secs(600), 10);
        let t0 = Instant::now();
        assert!(g.first_delivery_at(&["sig:a", "trigger:1"], t0));
        assert!(!g.first_delivery_at(&["sig:a", "trigger:1"], t0 + Duration::from_secs(1)));
        // Either key alone is enough to recognise the delivery.
        assert!(!g.first_delivery_at(&["sig:b", "trigger:1"], t0 + Duration::from_secs(2)));
        assert!(!g.first_delivery_at(&["sig:a"], t0 + Duration::from_secs(599)));
        assert!(g.first_delivery_at(&["sig:a"], t0 + Duration::from_secs(600)));
        assert!(g.first_delivery_at(&["", "sig:c"], t0 + Duration::from_secs(601)));
        assert!(g.first_delivery_at(&[], t0));
    }

    #[test]
    fn memory_is_bounded() {
        let g = ReplayGuard::new(Duration::from_secs(3600), 100);
        let t0 = Instant::now();
        for i in 0..1000 {
            assert!(g.first_delivery_at(&[&format!("k{i}")], t0));
        }
        assert_eq!(g.len(), 100);
        // The newest are still remembered, the oldest were evicted.
        assert!(!g.first_delivery_at(&["k999"], t0));
        assert!(g.first_delivery_at(&["k0"], t0));
    }
}
