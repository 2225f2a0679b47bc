//! Window definitions and windowed keys.
//!
//! Time windows (tumbling and hopping) are half-open, `[start, end)`. Sliding windows and
//! session windows are closed, `[start, end]`, as in Kafka Streams. Every window type carries a
//! grace period: a window *closes* when stream time reaches `end + grace`, and a record that
//! would land in a closed window is dropped and counted as late.

use std::time::Duration;

use crate::error::SerdeError;
use crate::serde::{Serde, StringSerde};

/// Converts a duration to whole milliseconds, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A window's bounds in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// Start of the window (inclusive).
    pub start: i64,
    /// End of the window (exclusive for time windows, inclusive for sliding and session windows).
    pub end: i64,
}

impl Window {
    /// A window from `start` to `end`.
    pub fn new(start: i64, end: i64) -> Self {
        Self { start, end }
    }
}

/// A key together with the window it was aggregated in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

impl<K> Windowed<K> {
    /// Pairs a key with a window.
    pub fn new(key: K, window: Window) -> Self {
        Self { key, window }
    }
}

/// Serde for windowed keys: the inner key's bytes, then the window start and end as big-endian
/// `i64`s (16 bytes in all at the end, so the inner key can have any length).
#[derive(Debug, Clone, Default)]
pub struct WindowedSerde<S>(pub S);

impl WindowedSerde<StringSerde> {
    /// Windowed string keys.
    pub fn string() -> Self {
        Self(StringSerde)
    }
}

impl<S> WindowedSerde<S> {
    /// Wraps the serde of the inner key.
    pub fn of(inner: S) -> Self {
        Self(inner)
    }
}

impl<K, S: Serde<K>> Serde<Windowed<K>> for WindowedSerde<S> {
    fn serialize_into(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        self.0.serialize_into(&value.key, out)?;
        out.extend_from_slice(&value.window.start.to_be_bytes());
        out.extend_from_slice(&value.window.end.to_be_bytes());
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        if bytes.len() < 16 {
            return Err(SerdeError(format!("windowed key needs 16 trailing bytes, got {}", bytes.len())));
        }
        let (key, times) = bytes.split_at(bytes.len() - 16);
        let mut start = [0u8; 8];
        let mut end = [0u8; 8];
        start.copy_from_slice(&times[..8]);
        end.copy_from_slice(&times[8..]);
        Ok(Windowed {
            key: self.0.deserialize(key)?,
            window: Window { start: i64::from_be_bytes(start), end: i64::from_be_bytes(end) },
        })
    }
}

/// Fixed-size windows aligned to the epoch. Tumbling when `advance == size`, hopping otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    /// Window size in ms.
    pub size_ms: i64,
    /// Distance between consecutive window starts in ms.
    pub advance_ms: i64,
    /// Grace period in ms.
    pub grace_ms: i64,
}

/// Tumbling windows: fixed size, no overlap, no gaps.
pub struct TumblingWindows;

impl TumblingWindows {
    /// Tumbling windows of `size` with no grace period.
    ///
    /// # Panics
    /// If `size` is zero: a window definition is fixed by the program, not by input.
    #[allow(clippy::new_ret_no_self)]
    pub fn of(size: Duration) -> TimeWindows {
        let size_ms = millis(size);
        assert!(size_ms > 0, "window size must be positive");
        TimeWindows { size_ms, advance_ms: size_ms, grace_ms: 0 }
    }
}

/// Hopping windows: fixed size, advancing by a smaller step, so they overlap.
pub struct HoppingWindows;

impl HoppingWindows {
    /// Hopping windows of `size` advancing by `advance`, with no grace period.
    ///
    /// # Panics
    /// If `advance` is zero or larger than `size`.
    pub fn of(size: Duration, advance: Duration) -> TimeWindows {
        let (size_ms, advance_ms) = (millis(size), millis(advance));
        assert!(advance_ms > 0 && advance_ms <= size_ms, "advance must be in (0, size]");
        TimeWindows { size_ms, advance_ms, grace_ms: 0 }
    }
}

impl TimeWindows {
    /// Sets the grace period.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace_ms = millis(grace);
        self
    }

    /// Every window containing `timestamp`, in ascending order of start.
    pub fn windows_for(&self, timestamp: i64) -> impl Iterator<Item = Window> + '_ {
        // As in Kafka Streams, windows start at 0 or later (negative timestamps are invalid).
        let first = (timestamp - self.size_ms + self.advance_ms).max(0) / self.advance_ms * self.advance_ms;
        let size = self.size_ms;
        (0..)
            .map(move |i| first + i * self.advance_ms)
            .take_while(move |start| *start <= timestamp)
            .map(move |start| Window { start, end: start + size })
    }

    /// How long a window store must keep windows: size plus grace.
    pub fn retention_ms(&self) -> i64 {
        self.size_ms + self.grace_ms
    }
}

/// Sliding windows: every window of width `time_difference` that starts or ends at a record,
/// inclusive at both ends. Two records fall in a common window when their timestamps differ by at
/// most `time_difference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    /// Maximum time difference between records of one window, in ms.
    pub time_difference_ms: i64,
    /// Grace period in ms.
    pub grace_ms: i64,
}

impl SlidingWindows {
    /// Sliding windows with the given maximum time difference and grace period.
    pub fn with_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        Self { time_difference_ms: millis(difference), grace_ms: millis(grace) }
    }
}

/// Session windows: per key, records closer than the inactivity gap belong to one session;
/// sessions merge when a record bridges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    /// Inactivity gap in ms.
    pub gap_ms: i64,
    /// Grace period in ms.
    pub grace_ms: i64,
}

impl SessionWindows {
    /// Session windows with the given inactivity gap and no grace period.
    pub fn with_inactivity_gap(gap: Duration) -> Self {
        Self { gap_ms: millis(gap), grace_ms: 0 }
    }

    /// Sets the grace period.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace_ms = millis(grace);
        self
    }
}

/// The time bounds of a stream-stream join: a left record at `t` joins right records in
/// `[t - before, t + after]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    /// How far the other side may be earlier, in ms.
    pub before_ms: i64,
    /// How far the other side may be later, in ms.
    pub after_ms: i64,
    /// Grace period in ms.
    pub grace_ms: i64,
}

impl JoinWindows {
    /// Records join when their timestamps differ by at most `difference`; no grace period.
    pub fn of(difference: Duration) -> Self {
        let d = millis(difference);
        Self { before_ms: d, after_ms: d, grace_ms: 0 }
    }

    /// Sets how much earlier the other side may be.
    pub fn before(mut self, before: Duration) -> Self {
        self.before_ms = millis(before);
        self
    }

    /// Sets how much later the other side may be.
    pub fn after(mut self, after: Duration) -> Self {
        self.after_ms = millis(after);
        self
    }

    /// Sets the grace period.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace_ms = millis(grace);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(w: &TimeWindows, ts: i64) -> Vec<i64> {
        w.windows_for(ts).map(|w| w.start).collect()
    }

    #[test]
    fn tumbling_windows_assign_one_window() {
        let w = TumblingWindows::of(Duration::from_secs(60));
        assert_eq!(starts(&w, 0), vec![0]);
        assert_eq!(starts(&w, 59_999), vec![0]);
        assert_eq!(starts(&w, 60_000), vec![60_000]);
        assert_eq!(starts(&w, -1), Vec::<i64>::new());
    }

    #[test]
    fn hopping_windows_assign_every_containing_window() {
        let w = HoppingWindows::of(Duration::from_secs(10), Duration::from_secs(5));
        assert_eq!(starts(&w, 12_000), vec![5_000, 10_000]);
        assert_eq!(starts(&w, 10_000), vec![5_000, 10_000]);
        assert_eq!(starts(&w, 4_999), vec![0]);
        assert_eq!(starts(&w, 3_000), vec![0], "no window starts before 0");
        let w = HoppingWindows::of(Duration::from_secs(10), Duration::from_secs(3));
        for ts in [0, 7, 9_999, 10_000, 123_456] {
            let got = starts(&w, ts);
            let want: Vec<i64> =
                (0..=ts / 3000 + 1).map(|i| i * 3000).filter(|s| *s <= ts && ts < s + 10_000).collect();
            assert_eq!(got, want, "ts {ts}");
        }
    }

    #[test]
    fn windowed_serde_round_trips_with_any_key_length() {
        let s = WindowedSerde::string();
        for key in ["", "a", "sensor-with-a-long-name"] {
            let w = Windowed::new(key.to_string(), Window::new(60_000, 120_000));
            let bytes = s.serialize(&w).unwrap();
            assert_eq!(s.deserialize(&bytes).unwrap(), w);
        }
        assert!(s.deserialize(&[1, 2, 3]).is_err());
    }
}
