//! Window definitions and windowed keys.
//!
//! Time windows (tumbling and hopping) are half-open, `[start, end)`. Sliding windows and
//! session windows are closed, `[start, end]`, as in Kafka Streams. Every window type carries a
//! grace period, and a record that would land in a closed window is dropped and counted as
//! late. As in Kafka Streams, with `close time = stream time - grace` (`- gap` too for
//! sessions), a time window is closed once `end <= close time`, a sliding window or a session
//! once `end < close time`: an inclusive end stays open while it equals the close time.
//!
//! Windowed keys travel in Kafka Streams' formats: [`TimeWindowedSerde`] (key, start) and
//! [`SessionWindowedSerde`] (key, end, start).

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

/// Kafka Streams' time-windowed key format (`TimeWindowedSerde`): the inner key's bytes, then
/// the window start as a big-endian `i64`. The end is not written; reading computes it as
/// start + the window size the serde was made with (saturating), as Kafka's
/// `TimeWindowedDeserializer` does. For tumbling, hopping and sliding windows (size = the
/// time difference), so Java consumers read what kstreams writes and the other way round.
#[derive(Debug, Clone)]
pub struct TimeWindowedSerde<S> {
    inner: S,
    size_ms: i64,
}

impl TimeWindowedSerde<StringSerde> {
    /// Time-windowed string keys of windows of `size`.
    pub fn string(size: Duration) -> Self {
        Self::of(StringSerde, size)
    }
}

impl<S> TimeWindowedSerde<S> {
    /// Wraps the serde of the inner key, for windows of `size` (Kafka's
    /// `WindowedSerdes.timeWindowedSerdeFrom(class, size)`).
    pub fn of(inner: S, size: Duration) -> Self {
        Self::of_millis(inner, millis(size))
    }

    /// [`TimeWindowedSerde::of`] with the size in milliseconds.
    pub fn of_millis(inner: S, size_ms: i64) -> Self {
        Self { inner, size_ms }
    }
}

/// Splits `bytes` into the inner key and `N` trailing big-endian `i64`s.
fn split_times<'b, const N: usize>(bytes: &'b [u8], what: &str) -> Result<(&'b [u8], [i64; N]), SerdeError> {
    let tail = 8 * N;
    if bytes.len() < tail {
        return Err(SerdeError(format!("{what} key needs {tail} trailing bytes, got {}", bytes.len())));
    }
    let (key, times) = bytes.split_at(bytes.len() - tail);
    let mut out = [0i64; N];
    for (i, chunk) in times.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        out[i] = i64::from_be_bytes(b);
    }
    Ok((key, out))
}

impl<K, S: Serde<K>> Serde<Windowed<K>> for TimeWindowedSerde<S> {
    fn serialize_into(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        self.inner.serialize_into(&value.key, out)?;
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let (key, [start]) = split_times::<1>(bytes, "time-windowed")?;
        let end = start.checked_add(self.size_ms).unwrap_or(i64::MAX);
        Ok(Windowed { key: self.inner.deserialize(key)?, window: Window { start, end } })
    }
}

/// Kafka Streams' session-windowed key format (`SessionWindowedSerde`): the inner key's bytes,
/// then the session end and the session start as big-endian `i64`s (the end first). Needs no
/// window size, so it also reads any window whose bounds are both wanted on the wire.
#[derive(Debug, Clone, Default)]
pub struct SessionWindowedSerde<S>(pub S);

impl SessionWindowedSerde<StringSerde> {
    /// Session-windowed string keys.
    pub fn string() -> Self {
        Self(StringSerde)
    }
}

impl<S> SessionWindowedSerde<S> {
    /// Wraps the serde of the inner key.
    pub fn of(inner: S) -> Self {
        Self(inner)
    }
}

impl<K, S: Serde<K>> Serde<Windowed<K>> for SessionWindowedSerde<S> {
    fn serialize_into(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        self.0.serialize_into(&value.key, out)?;
        out.extend_from_slice(&value.window.end.to_be_bytes());
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let (key, [end, start]) = split_times::<2>(bytes, "session-windowed")?;
        Ok(Windowed { key: self.0.deserialize(key)?, window: Window { start, end } })
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
    /// Sliding windows with the given maximum time difference and grace period (Kafka's
    /// `SlidingWindows.ofTimeDifferenceAndGrace`).
    pub fn with_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        Self { time_difference_ms: millis(difference), grace_ms: millis(grace) }
    }

    /// Sliding windows with no grace period (`ofTimeDifferenceWithNoGrace`).
    pub fn with_time_difference(difference: Duration) -> Self {
        Self::with_time_difference_and_grace(difference, Duration::ZERO)
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
    fn windowed_serdes_round_trip_with_any_key_length() {
        let time = TimeWindowedSerde::string(Duration::from_secs(60));
        let session = SessionWindowedSerde::string();
        for key in ["", "a", "sensor-with-a-long-name"] {
            let w = Windowed::new(key.to_string(), Window::new(60_000, 120_000));
            assert_eq!(time.deserialize(&time.serialize(&w).unwrap()).unwrap(), w);
            assert_eq!(session.deserialize(&session.serialize(&w).unwrap()).unwrap(), w);
        }
        assert!(time.deserialize(&[1, 2, 3]).is_err());
        assert!(session.deserialize(&[0; 15]).is_err());
        let huge = Windowed::new(String::new(), Window::new(i64::MAX - 1, i64::MAX));
        assert_eq!(time.deserialize(&time.serialize(&huge).unwrap()).unwrap(), huge, "the end saturates");
    }
}
