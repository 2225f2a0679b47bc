//! Segment arithmetic shared by every window and session store.
//!
//! Time is cut into segments of `interval_ms`; segment `id = floor(ts / interval_ms)` (so
//! negative timestamps get negative ids, in order). With stream time `t`, the cutoff is
//! `t - retention_ms`: timestamps below it are expired, and segments whose id is below the
//! cutoff's segment hold only expired data and are dropped whole. At most
//! `retention_ms / interval_ms + 1` segments are live at once.

use crate::StoreError;

/// Retention and segment width of a window or session store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSpec {
    retention_ms: i64,
    interval_ms: i64,
}

impl SegmentSpec {
    /// The smallest default segment width (Kafka's).
    pub const MIN_DEFAULT_INTERVAL_MS: i64 = 60_000;

    /// A spec for `retention_ms`, with `interval_ms` or Kafka's default
    /// `max(retention_ms / 2, 60_000)`.
    ///
    /// ```
    /// use kstreams_state::SegmentSpec;
    /// let spec = SegmentSpec::new("s", 600_000, None).unwrap();
    /// assert_eq!(spec.interval_ms(), 300_000);
    /// assert_eq!(spec.segment_id(-1), -1);
    /// assert_eq!(spec.max_live_segments(), 3);
    /// ```
    pub fn new(store: &str, retention_ms: i64, interval_ms: Option<i64>) -> Result<Self, StoreError> {
        let invalid = |detail: String| StoreError::InvalidConfig { store: store.to_owned(), detail };
        if retention_ms < 0 {
            return Err(invalid(format!("retention {retention_ms} ms is negative")));
        }
        let interval_ms =
            interval_ms.unwrap_or_else(|| (retention_ms / 2).max(Self::MIN_DEFAULT_INTERVAL_MS));
        if interval_ms <= 0 {
            return Err(invalid(format!("segment interval {interval_ms} ms is not positive")));
        }
        Ok(Self { retention_ms, interval_ms })
    }

    /// The retention period in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// The segment width in milliseconds.
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// The segment holding timestamp `ts`.
    pub fn segment_id(&self, ts: i64) -> i64 {
        ts.div_euclid(self.interval_ms)
    }

    /// The smallest timestamp that is not expired at stream time `observed`.
    pub fn cutoff(&self, observed: i64) -> i64 {
        observed.saturating_sub(self.retention_ms)
    }

    /// Whether `ts` is expired at stream time `observed`: `ts < observed - retention`.
    pub fn is_expired(&self, ts: i64, observed: i64) -> bool {
        is_expired(ts, observed, self.retention_ms)
    }

    /// The oldest segment still live at stream time `observed`.
    pub fn min_live_segment(&self, observed: i64) -> i64 {
        self.segment_id(self.cutoff(observed))
    }

    /// The most segments that can be live at once.
    pub fn max_live_segments(&self) -> i64 {
        self.retention_ms / self.interval_ms + 1
    }
}

/// The one expiry rule of window and session stores, also used by caches that only know the
/// retention: `ts < observed - retention` (saturating, so nothing expires before the first put).
pub(crate) fn is_expired(ts: i64, observed: i64, retention_ms: i64) -> bool {
    ts < observed.saturating_sub(retention_ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_interval_follows_kafka() {
        let small = SegmentSpec::new("s", 1_000, None).unwrap();
        assert_eq!(small.interval_ms(), 60_000);
        let big = SegmentSpec::new("s", 86_400_000, None).unwrap();
        assert_eq!(big.interval_ms(), 43_200_000);
        assert!(SegmentSpec::new("s", -1, None).is_err());
        assert!(SegmentSpec::new("s", 1, Some(0)).is_err());
    }

    #[test]
    fn expiry_and_live_segments() {
        let spec = SegmentSpec::new("s", 120_000, Some(60_000)).unwrap();
        assert!(!spec.is_expired(0, i64::MIN));
        assert!(!spec.is_expired(i64::MIN, i64::MIN));
        assert!(spec.is_expired(-2, 119_999));
        assert!(!spec.is_expired(-1, 119_999));
        assert!(!spec.is_expired(0, 120_000));
        assert!(spec.is_expired(0, 120_001));
        assert_eq!(spec.min_live_segment(119_999), -1);
        let live = spec.segment_id(119_999) - spec.min_live_segment(119_999) + 1;
        assert!(live <= spec.max_live_segments());
    }
}

/// A task's stream time, shared with its segmented stores so that segments expire by the
/// task's stream time (held back by watermarks) rather than by the newest timestamp written:
/// a record from a partition running ahead must not expire windows that are still open.
#[derive(Clone)]
pub struct StreamClock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Default for StreamClock {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamClock {
    /// A clock at `i64::MIN` (nothing seen).
    pub fn new() -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)))
    }

    /// A clock reading the given shared value.
    pub fn from_shared(value: std::sync::Arc<std::sync::atomic::AtomicI64>) -> Self {
        Self(value)
    }

    /// The current stream time.
    pub fn get(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the stream time.
    pub fn set(&self, t: i64) {
        self.0.store(t, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for StreamClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamClock({})", self.get())
    }
}

impl PartialEq for StreamClock {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for StreamClock {}
