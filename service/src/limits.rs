//! Per-member rate limits: a quota per key (a member id, or an agency), so one member's
//! flood does not starve the others. Refusals say how long to wait, which the services
//! answer as 429 with `Retry-After`.
//!
//! The limiter is `governor`'s keyed GCRA limiter: a sustained rate and a burst, the same
//! admission as a token bucket of `burst` tokens refilled at `per_second`.

use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use serde::Deserialize;
use std::num::NonZeroU32;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests per second allowed to one member.
    #[serde(default = "default_per_second")]
    pub per_second: f64,
    /// Requests one member may make at once above the sustained rate.
    #[serde(default = "default_burst")]
    pub burst: u32,
}

fn default_per_second() -> f64 {
    50.0
}

fn default_burst() -> u32 {
    100
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: default_per_second(),
            burst: default_burst(),
        }
    }
}

impl RateLimitSettings {
    /// The quota: one request every `1 / per_second` (at least 0.001 per second), `burst`
    /// at once (at least 1).
    fn quota(&self) -> Quota {
        let period = Duration::try_from_secs_f64(1.0 / self.per_second.max(0.001))
            .ok()
            .filter(|p| !p.is_zero())
            .unwrap_or(Duration::from_nanos(1));
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst)
    }
}

type Keyed<C> = governor::RateLimiter<
    String,
    DashMapStateStore<String>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter: Keyed<C>,
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    fn with_clock(settings: RateLimitSettings, clock: C) -> Self {
        Self {
            limiter: governor::RateLimiter::dashmap_with_clock(settings.quota(), clock),
        }
    }

    /// Takes one request's worth of `key`'s quota, or says how long until there is one.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_burst_then_the_sustained_rate_per_key() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(
            RateLimitSettings {
                per_second: 2.0,
                burst: 3,
            },
            clock.clone(),
        );
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(limiter.check("b").is_ok(), "other members are unaffected");
        clock.advance(Duration::from_millis(500));
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_err());
    }
}
