//! The application clock of one lane: real time plus an offset the driver moves forward to let
//! time pass without sleeping (a crashed writer's lease lapsing). Vendor adapters keep the real
//! clock: their rate limiter must pace real requests, and the simulators count real time.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use pms_domain::ports::Clock;

#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
}

impl OffsetClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock forward by at least `by` (whole milliseconds, rounded up, so a clock
    /// moved to a moment has reached it); it never goes back.
    pub fn advance(&self, by: Duration) {
        let ms = by.num_milliseconds();
        let rounded_up = if by > Duration::milliseconds(ms) {
            ms + 1
        } else {
            ms
        };
        self.offset_ms
            .fetch_add(rounded_up.max(0), Ordering::SeqCst);
    }

    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_moved_to_a_moment_has_reached_it() {
        let clock = OffsetClock::new();
        // Sub-millisecond remainders are rounded up, not lost.
        let at = clock.now() + Duration::microseconds(1_300);
        clock.advance(at - clock.now());
        assert!(clock.now() >= at);
        let before = clock.offset();
        clock.advance(Duration::seconds(-5));
        assert_eq!(clock.offset(), before, "never back");
    }
}
