//! Per-user and per-guild request budgets (governor's GCRA, keyed by Discord id).

use crate::config::RateLimits;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

/// Keys kept before stale buckets are dropped.
const RETAIN_AFTER_KEYS: usize = 10_000;

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    User(Duration),
    Guild(Duration),
}

impl Exhausted {
    /// A polite line for the user.
    pub fn message(&self) -> String {
        let (who, wait) = match self {
            Exhausted::User(w) => ("you have", w),
            Exhausted::Guild(w) => ("this server has", w),
        };
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        format!(
            "Easy there: {who} sent more requests than I run per minute. Please try again in {secs} s."
        )
    }
}

/// The two keyed limiters.
pub struct Limiter {
    users: Option<DefaultKeyedRateLimiter<String>>,
    guilds: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl Limiter {
    pub fn new(limits: &RateLimits) -> Self {
        let keyed = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Limiter {
            users: keyed(limits.user_per_minute),
            guilds: keyed(limits.guild_per_minute),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `user`'s and `guild`'s budgets (`guild` is `@me` for DMs).
    ///
    /// # Errors
    /// [`Exhausted`] with the wait until the next request is allowed.
    pub fn check(&self, user: &str, guild: &str) -> Result<(), Exhausted> {
        if let Some(u) = &self.users {
            if u.len() > RETAIN_AFTER_KEYS {
                u.retain_recent();
            }
            u.check_key(&user.to_string())
                .map_err(|nu| Exhausted::User(nu.wait_time_from(self.clock.now())))?;
        }
        if let Some(g) = &self.guilds {
            if g.len() > RETAIN_AFTER_KEYS {
                g.retain_recent();
            }
            g.check_key(&guild.to_string())
                .map_err(|nu| Exhausted::Guild(nu.wait_time_from(self.clock.now())))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_then_guild_budgets() {
        let l = Limiter::new(&RateLimits {
            user_per_minute: 2,
            guild_per_minute: 3,
        });
        assert!(l.check("u1", "g").is_ok());
        assert!(l.check("u1", "g").is_ok());
        let e = l.check("u1", "g").unwrap_err();
        assert!(matches!(e, Exhausted::User(w) if w > Duration::from_secs(1)));
        assert!(e.message().contains("try again"));
        assert!(l.check("u2", "g").is_ok());
        assert!(matches!(l.check("u3", "g"), Err(Exhausted::Guild(_))));
        assert!(l.check("u4", "other").is_ok());
        let open = Limiter::new(&RateLimits {
            user_per_minute: 0,
            guild_per_minute: 0,
        });
        for _ in 0..100 {
            assert!(open.check("u", "g").is_ok());
        }
    }
}
