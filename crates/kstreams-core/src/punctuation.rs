//! The punctuation schedules of a task: which node's [`crate::Processor::punctuate`] is due
//! when stream time or the wall clock moves.

/// When a punctuation fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// When the task's stream time passes the scheduled time (driven by record timestamps).
    StreamTime,
    /// When the wall clock passes the scheduled time.
    WallClockTime,
}

struct Schedule {
    node: usize,
    interval: i64,
    kind: PunctuationType,
    /// The next time it is due; `None` for a stream-time schedule that has not seen a stream
    /// time yet.
    next: Option<i64>,
}

/// Every schedule of one task.
#[derive(Default)]
pub(crate) struct Punctuations {
    schedules: Vec<Schedule>,
    /// The earliest due time of the stream-time schedules (`i64::MAX`: none).
    next_stream: i64,
}

impl Punctuations {
    pub(crate) fn new() -> Self {
        Self { schedules: Vec::new(), next_stream: i64::MAX }
    }

    /// Schedules `node` every `interval` ms of `kind`; a wall-clock schedule is first due one
    /// interval after `wall_clock`, a stream-time one at the first stream time it sees.
    pub(crate) fn add(&mut self, node: usize, interval: i64, kind: PunctuationType, wall_clock: i64) {
        let next = match kind {
            PunctuationType::StreamTime => None,
            PunctuationType::WallClockTime => Some(wall_clock.saturating_add(interval)),
        };
        self.schedules.push(Schedule { node, interval, kind, next });
    }

    /// Whether a stream-time punctuation is due at `stream_time`.
    pub(crate) fn stream_due(&self, stream_time: i64) -> bool {
        stream_time >= self.next_stream
            || (stream_time != i64::MIN
                && self.schedules.iter().any(|s| s.kind == PunctuationType::StreamTime && s.next.is_none()))
    }

    /// The nodes whose schedule of `kind` is due at `now`, in schedule order; each of them is
    /// moved to its next time on its grid after `now`.
    pub(crate) fn take_due(&mut self, kind: PunctuationType, now: i64) -> Vec<usize> {
        let mut due = Vec::new();
        for s in self.schedules.iter_mut().filter(|s| s.kind == kind) {
            match s.next {
                None => {
                    // A stream-time schedule starts at the first stream time it sees.
                    s.next = Some(now.saturating_add(s.interval));
                    due.push(s.node);
                }
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
