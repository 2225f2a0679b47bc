//! The punctuation schedules of a task: which node's [`crate::Processor::punctuate`] is due
//! when stream time or the wall clock moves.
//!
//! As in Kafka Streams (`PunctuationSchedule`, `StreamTask.schedule`): a stream-time schedule
//! is aligned to multiples of its interval from 0, so it first fires as soon as the task has a
//! stream time; a wall-clock schedule is first due one interval after the wall-clock time the
//! task had when it was made (the task's first wall-clock time, for schedules made while the
//! task is created). A due schedule fires once and moves to its next time on its grid after
//! the current time, skipping the intervals it missed. [`Cancellable::cancel`] stops one.

use std::cell::Cell;
use std::rc::Rc;

/// When a punctuation fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// When the task's stream time reaches the scheduled time (driven by record timestamps).
    StreamTime,
    /// When the wall clock reaches the scheduled time.
    WallClockTime,
}

/// Cancels the schedule [`crate::ProcessorContext::schedule`] returned it for (Kafka's
/// `Cancellable`). Cancelling twice, or from inside the punctuation, is harmless.
#[derive(Debug, Clone)]
pub struct Cancellable(Rc<Cell<bool>>);

impl Cancellable {
    /// Stops the schedule: it does not fire again.
    pub fn cancel(&self) {
        self.0.set(true);
    }

    /// Whether [`Cancellable::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.get()
    }
}

struct Schedule {
    node: usize,
    interval: i64,
    kind: PunctuationType,
    /// The next time it is due; `None` for a wall-clock schedule made before the task knew
    /// its wall-clock time.
    next: Option<i64>,
    cancelled: Rc<Cell<bool>>,
}

/// Every schedule of one task.
pub(crate) struct Punctuations {
    schedules: Vec<Schedule>,
    /// The earliest due time of the stream-time schedules (`i64::MAX`: none).
    next_stream: i64,
    /// Whether the wall clock was set once (by the first [`Punctuations::take_due`] of
    /// wall-clock schedules).
    wall_clock_known: bool,
}

impl Punctuations {
    pub(crate) fn new() -> Self {
        Self { schedules: Vec::new(), next_stream: i64::MAX, wall_clock_known: false }
    }

    /// Schedules `node` every `interval` ms of `kind`: a stream-time schedule is due at the
    /// first stream time, a wall-clock one `interval` after `wall_clock` (or after the task's
    /// first wall-clock time, when it has none yet).
    pub(crate) fn add(
        &mut self,
        node: usize,
        interval: i64,
        kind: PunctuationType,
        wall_clock: i64,
    ) -> Cancellable {
        let next = match kind {
            PunctuationType::StreamTime => Some(0),
            PunctuationType::WallClockTime => {
                self.wall_clock_known.then(|| wall_clock.saturating_add(interval))
            }
        };
        if kind == PunctuationType::StreamTime {
            self.next_stream = self.next_stream.min(0);
        }
        let cancelled = Rc::new(Cell::new(false));
        self.schedules.push(Schedule { node, interval, kind, next, cancelled: cancelled.clone() });
        Cancellable(cancelled)
    }

    /// Whether a stream-time punctuation is due at `stream_time`.
    pub(crate) fn stream_due(&self, stream_time: i64) -> bool {
        stream_time >= self.next_stream
    }

    /// The nodes whose schedule of `kind` is due at `now`, in schedule order; each of them is
    /// moved to its next time on its grid after `now`. Cancelled schedules are dropped.
    pub(crate) fn take_due(&mut self, kind: PunctuationType, now: i64) -> Vec<usize> {
        self.schedules.retain(|s| !s.cancelled.get());
        let first_wall_clock = kind == PunctuationType::WallClockTime && !self.wall_clock_known;
        if kind == PunctuationType::WallClockTime {
            self.wall_clock_known = true;
        }
        let mut due = Vec::new();
        for s in self.schedules.iter_mut().filter(|s| s.kind == kind) {
            match s.next {
                None if first_wall_clock => s.next = Some(now.saturating_add(s.interval)),
                None => {}
                Some(next) if next <= now => {
                    let behind = now.saturating_sub(next) / s.interval;
                    s.next = Some(next.saturating_add((behind + 1).saturating_mul(s.interval)));
                    due.push(s.node);
                }
                Some(_) => {}
            }
        }
        self.next_stream = self
            .schedules
            .iter()
            .filter(|s| s.kind == PunctuationType::StreamTime)
            .filter_map(|s| s.next)
            .min()
            .unwrap_or(i64::MAX);
        due
    }
}

impl Default for Punctuations {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_time_schedules_fire_on_the_grid_from_zero_and_skip_missed_intervals() {
        let mut p = Punctuations::new();
        p.add(7, 10_000, PunctuationType::StreamTime, 0);
        let mut fired = Vec::new();
        for t in [3_000, 8_000, 10_500, 35_000, 40_000] {
            if p.stream_due(t) && !p.take_due(PunctuationType::StreamTime, t).is_empty() {
                fired.push(t);
            }
        }
        assert_eq!(fired, vec![3_000, 10_500, 35_000, 40_000]);
    }

    #[test]
    fn wall_clock_schedules_start_at_the_first_wall_clock_time_and_can_be_cancelled() {
        let mut p = Punctuations::new();
        let handle = p.add(1, 1_000, PunctuationType::WallClockTime, 0);
        assert!(p.take_due(PunctuationType::WallClockTime, 5_000).is_empty(), "anchored at 5 000");
        assert_eq!(p.take_due(PunctuationType::WallClockTime, 6_000), vec![1]);
        p.add(2, 500, PunctuationType::WallClockTime, 6_000);
        assert_eq!(p.take_due(PunctuationType::WallClockTime, 6_500), vec![2]);
        handle.cancel();
        handle.cancel();
        assert_eq!(p.take_due(PunctuationType::WallClockTime, 9_000), vec![2]);
        assert!(handle.is_cancelled());
    }
}
