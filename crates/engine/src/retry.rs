//! The retry schedule, as configuration: the delay before each retry (the first attempt is not
//! a retry), with random spread so that many gateways do not retry in step.

use std::time::Duration;

use rand::Rng;

/// Delays between attempts.
#[derive(Debug, Clone)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
}

impl RetrySchedule {
    /// A schedule; an empty list means retries follow at once. `jitter` is clamped to 0..=1.
    pub fn new(delays: Vec<Duration>, jitter: f64) -> RetrySchedule {
        RetrySchedule {
            delays,
            jitter: jitter.clamp(0.0, 1.0),
        }
    }

    /// The delay before retry number `retry` (0 for the first retry); beyond the list, the last
    /// delay repeats.
    pub fn delay(&self, retry: u32) -> Duration {
        let Some(base) = self
            .delays
            .get(retry as usize)
            .or_else(|| self.delays.last())
            .copied()
        else {
            return Duration::ZERO;
        };
        if self.jitter == 0.0 {
            return base;
        }
        let factor = 1.0 + rand::rng().random_range(-self.jitter..=self.jitter);
        base.mul_f64(factor.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_list_and_repeat_the_last() {
        let schedule = RetrySchedule::new(vec![Duration::from_millis(10), Duration::from_millis(20)], 0.0);
        assert_eq!(schedule.delay(0), Duration::from_millis(10));
        assert_eq!(schedule.delay(1), Duration::from_millis(20));
        assert_eq!(schedule.delay(7), Duration::from_millis(20));
        assert_eq!(RetrySchedule::new(Vec::new(), 0.5).delay(0), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let schedule = RetrySchedule::new(vec![Duration::from_millis(100)], 0.2);
        for _ in 0..200 {
            let delay = schedule.delay(0);
            assert!(
                delay >= Duration::from_millis(80) && delay <= Duration::from_millis(120),
                "{delay:?}"
            );
        }
    }
}
