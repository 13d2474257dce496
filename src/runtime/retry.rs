//! Exponential backoff for retriable `poll()` errors.

use std::time::{Duration, Instant};

/// How long and how often a retriable error is retried: Kafka's
/// `errors.retry.timeout` (`None` = without limit, the default for `poll`) and
/// `errors.retry.delay.max.ms`. Delays start at 300 ms and double, as Kafka's
/// do, capped at the maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Give up once the first of a run of failures is this old; `None`: never.
    pub timeout: Option<Duration>,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            timeout: None,
            max_delay: Duration::from_secs(60),
        }
    }
}

/// The state of one run of consecutive retriable failures.
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    first_failure: Option<Instant>,
    next_delay: Duration,
    attempts: u32,
}

const INITIAL_DELAY: Duration = Duration::from_millis(300);

impl Backoff {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Backoff {
            policy,
            first_failure: None,
            next_delay: INITIAL_DELAY,
            attempts: 0,
        }
    }

    /// A call succeeded: the next failure starts a new run.
    pub(crate) fn reset(&mut self) {
        self.first_failure = None;
        self.next_delay = INITIAL_DELAY;
        self.attempts = 0;
    }

    /// A call failed retriably at `now`: the delay before the next attempt,
    /// or `None` when the retry timeout has run out.
    pub(crate) fn next(&mut self, now: Instant) -> Option<Duration> {
        let first = *self.first_failure.get_or_insert(now);
        self.attempts += 1;
        let mut delay = self.next_delay.min(self.policy.max_delay);
        if let Some(timeout) = self.policy.timeout {
            let elapsed = now.saturating_duration_since(first);
            if elapsed >= timeout {
                return None;
            }
            delay = delay.min(timeout - elapsed);
        }
        self.next_delay = (self.next_delay * 2).min(self.policy.max_delay);
        Some(delay)
    }

    /// Attempts so far in this run.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max_and_stops_at_timeout() {
        let policy = RetryPolicy {
            timeout: Some(Duration::from_secs(10)),
            max_delay: Duration::from_secs(1),
        };
        let mut b = Backoff::new(policy);
        let t0 = Instant::now();
        assert_eq!(b.next(t0), Some(Duration::from_millis(300)));
        assert_eq!(b.next(t0), Some(Duration::from_millis(600)));
        assert_eq!(b.next(t0), Some(Duration::from_secs(1)));
        assert_eq!(b.next(t0), Some(Duration::from_secs(1)));
        // Near the timeout the delay is cut to what is left.
        assert_eq!(
            b.next(t0 + Duration::from_millis(9_800)),
            Some(Duration::from_millis(200))
        );
        assert_eq!(b.next(t0 + Duration::from_secs(10)), None);
        b.reset();
        assert_eq!(
            b.next(t0 + Duration::from_secs(20)),
            Some(Duration::from_millis(300))
        );
    }

    #[test]
    fn unlimited_policy_never_gives_up() {
        let mut b = Backoff::new(RetryPolicy::default());
        let t0 = Instant::now();
        for i in 0..100 {
            assert!(b.next(t0 + Duration::from_secs(i * 3600)).is_some());
        }
    }
}
