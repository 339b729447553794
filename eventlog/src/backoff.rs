//! How long a retry waits, by backon's exponential schedule. The portal's retries are
//! durable: the number of failed attempts and the time of the next one live in the
//! database (an outbox row, a consumer's failure record), so a restart does not forget or
//! hurry them, and the loop that retries is the background worker's poll, not backon's
//! `Retryable` (which keeps its attempts in the memory of one future). What backon
//! gives every one of them is the schedule.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The wait after `failures` failed attempts (1 for the first failure): `first`, then
/// multiplied by `factor` per further failure, never more than `max`. No jitter: the
/// attempts are spread by the workers' polls, and operators read the schedule.
pub fn backoff(first: Duration, factor: f32, max: Duration, failures: u32) -> Duration {
    let first = first.min(max);
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(max)
        .with_factor(factor)
        .without_max_times()
        .build()
        // Past 64 failures the wait is the maximum whatever the factor.
        .nth(failures.clamp(1, 64) as usize - 1)
        .unwrap_or(max)
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_grows_by_the_factor_up_to_the_maximum() {
        let second = Duration::from_secs(1);
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff(second, 2.0, hour, 0), second);
        assert_eq!(backoff(second, 2.0, hour, 1), second);
        assert_eq!(backoff(second, 2.0, hour, 2), 2 * second);
        assert_eq!(backoff(second, 2.0, hour, 6), 32 * second);
        assert_eq!(backoff(second, 2.0, hour, 20), hour);
        assert_eq!(backoff(second, 2.0, hour, u32::MAX), hour);
        assert_eq!(backoff(second, 5.0, hour, 3), 25 * second);
        assert_eq!(
            backoff(2 * hour, 2.0, hour, 1),
            hour,
            "never above the maximum"
        );
    }
}
