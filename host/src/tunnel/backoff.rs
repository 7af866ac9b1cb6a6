//! Reconnect pacing shared by every provider: exponential, capped, jittered.
//!
//! Owns: only the delay between reconnect attempts. Jitter keeps many hosts that lost
//! the same relay from reconnecting in lockstep.

use std::time::Duration;

pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// Start again from the minimum (after a session that worked).
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The next delay: 50–150 % of the nominal one, which then doubles up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.subsec_nanos())
            .unwrap_or(0);
        let delay = self.next.mul_f64(0.5 + f64::from(nanos % 1000) / 1000.0);
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let d: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        for (delay, nominal) in d.iter().zip([100, 200, 400, 400, 400]) {
            assert!(
                *delay >= Duration::from_millis(nominal / 2)
                    && *delay <= Duration::from_millis(nominal * 3 / 2),
                "{d:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(150));
    }
}
