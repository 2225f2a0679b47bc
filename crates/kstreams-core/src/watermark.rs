//! Watermarks through repartition topics: event time that survives re-keying.
//!
//! A task that writes a repartition topic publishes its progress — its stream time, and
//! whether its input is idle — to **every** partition of that topic, as a control record:
//! null key, a 9-byte value (big-endian `i64` watermark, then `1` for idle or `0`), and a
//! [`WATERMARK_HEADER`] naming the writing task's partition. Each repartition partition
//! therefore carries, in order, the data of every upstream task followed by that task's
//! statement "I have processed my input up to this event time".
//!
//! A task reading a repartition topic never hands those records to user code. It keeps the
//! latest watermark of each upstream task and bounds its stream time by the minimum over the
//! upstream tasks that are *active*:
//!
//! ```text
//! stream time = max(previous stream time, min(highest timestamp seen, min(active watermarks)))
//! ```
//!
//! An upstream task is left out of the minimum while it says it is idle (it processed no
//! record for [`crate::EventTimeConfig::idle_ms`]); it rejoins with its next watermark, and since
//! stream time never goes back, its records older than stream time minus grace are late. An
//! upstream task never heard from holds stream time back (at `i64::MIN`) until it reports:
//! every running upstream task reports within the idle time (a watermark, a heartbeat, or
//! "idle"), so only one that is not running — not yet assigned, or restoring — stalls
//! window closing, which is safe: nothing is dropped.
//!
//! Records still update their windows as they arrive; only window closing, late-dropping and
//! suppression wait for the slowest upstream task. See `docs/time-and-windows.md`.

use std::collections::HashMap;

use crate::task_config::TaskConfig;
use crate::topology::{SubTopology, Topology};

/// Header marking a watermark control record; its value is the writing task's partition.
pub const WATERMARK_HEADER: &str = "kstreams.watermark";

/// The value of a watermark control record.
pub fn encode(watermark: i64, idle: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(9);
    v.extend_from_slice(&watermark.to_be_bytes());
    v.push(u8::from(idle));
    v
}

/// Parses the value of a watermark control record: `(watermark, idle)`.
pub fn decode(value: &[u8]) -> Option<(i64, bool)> {
    let (wm, rest) = value.split_first_chunk::<8>()?;
    let idle = match rest {
        [0] => false,
        [1] => true,
        _ => return None,
    };
    Some((i64::from_be_bytes(*wm), idle))
}

/// What a task knows of one upstream task: its latest watermark and whether it is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Writer {
    watermark: i64,
    idle: bool,
}

/// The watermarks a task follows: per repartition topic it reads, its upstream tasks indexed
/// by the writing task's partition (`None` until heard from).
#[derive(Debug, Clone, Default)]
pub(crate) struct WatermarkInputs {
    topics: HashMap<String, Vec<Option<Writer>>>,
}

impl WatermarkInputs {
    /// Follows `topics`: `(topic, number of upstream tasks)`.
    pub(crate) fn new(topics: impl IntoIterator<Item = (String, i32)>) -> Self {
        let topics = topics
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| (t, vec![None; usize::try_from(n).unwrap_or(0)]))
            .collect();
        Self { topics }
    }

    /// The followed topics, sorted (for logs).
    pub(crate) fn topic_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.topics.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    pub(crate) fn tracks(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// Records a watermark of upstream task `writer` of `topic`. Unknown writers (a partition
    /// count that grew) are added.
    pub(crate) fn observe(&mut self, topic: &str, writer: i32, watermark: i64, idle: bool) {
        let (Some(writers), Ok(i)) = (self.topics.get_mut(topic), usize::try_from(writer)) else { return };
        if writers.len() <= i {
            writers.resize(i + 1, None);
        }
        let previous = writers[i].map_or(i64::MIN, |w| w.watermark);
        // A replayed (older) watermark never moves a writer back.
        writers[i] = Some(Writer { watermark: watermark.max(previous), idle });
    }

    /// The minimum watermark over the upstream tasks that are not idle (one never heard from
    /// counts as `i64::MIN`), or `None` when all are idle (stream time is then the highest
    /// timestamp seen).
    ///
    /// Silence alone never makes an upstream task idle here: its watermarks may simply be
    /// waiting, unread, in a partition this task is behind on. Only the upstream task knows
    /// it is idle, and says so.
    pub(crate) fn bound(&self) -> Option<i64> {
        let mut bound: Option<i64> = None;
        for w in self.topics.values().flatten() {
            let wm = match w {
                Some(w) if w.idle => continue,
                Some(w) => w.watermark,
                None => i64::MIN,
            };
            bound = Some(bound.map_or(wm, |b| b.min(wm)));
        }
        bound
    }
}

/// The watermark a task publishes to the repartition topics it writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct WatermarkOutputs {
    /// `(topic, partition count)`.
    pub(crate) topics: Vec<(String, i32)>,
    idle_ms: i64,
    last: Option<(i64, bool)>,
    last_at: i64,
    /// Wall-clock time of the last data record processed (or of the first wall-clock time).
    pub(crate) last_data_at: Option<i64>,
    /// Whether the runtime holds the task back (event-time alignment): a held task is not
    /// idle, it has records waiting.
    pub(crate) held: bool,
}

impl WatermarkOutputs {
    pub(crate) fn new(topics: Vec<(String, i32)>, idle_ms: i64) -> Self {
        Self { topics, idle_ms, ..Self::default() }
    }

    /// What to publish at wall-clock `now` for stream time `stream_time`: `Some` when it
    /// changed, or again every quarter of the idle time, so that a reader that starts later
    /// (after a rebalance: it keeps no watermarks) learns this task's progress even when it
    /// no longer changes.
    pub(crate) fn due(&mut self, stream_time: i64, now: i64) -> Option<(i64, bool)> {
        let last_data = *self.last_data_at.get_or_insert(now);
        let idle = !self.held && now.saturating_sub(last_data) >= self.idle_ms;
        if stream_time == i64::MIN && !idle {
            return None; // nothing to say yet: readers wait for us until the idle time
        }
        let current = (stream_time, idle);
        let heartbeat = now.saturating_sub(self.last_at) >= (self.idle_ms / 4).max(1);
        if self.last == Some(current) && !heartbeat {
            return None;
        }
        self.last = Some(current);
        self.last_at = now;
        Some(current)
    }
}

/// The repartition topics sub-topology `sub` follows watermarks of (with their number of
/// upstream tasks) and those it publishes to (with their partition counts).
pub(crate) fn task_watermarks(
    topology: &Topology,
    sub: &SubTopology,
    config: &TaskConfig,
) -> (WatermarkInputs, WatermarkOutputs) {
    let et = &config.event_time;
    if !et.watermarks {
        return (WatermarkInputs::default(), WatermarkOutputs::default());
    }
    let app = &config.application_id;
    let repartitions: Vec<String> =
        topology.repartition_topics().iter().map(|r| r.topic.resolve(app)).collect();
    let partitions = |t: &str| config.topic_partitions.get(t).copied();
    let subs = topology.subtopologies();
    let inputs =
        sub.source_topics.iter().map(|t| t.resolve(app)).filter(|t| repartitions.contains(t)).filter_map(
            |t| {
                // The upstream tasks: one per partition of the writing sub-topology's inputs.
                let writer = subs.iter().find(|s| s.sink_topics.iter().any(|w| w.resolve(app) == t))?;
                let n = writer.task_count(app, partitions)?;
                Some((t, n))
            },
        );
    let outputs = sub
        .sink_topics
        .iter()
        .map(|t| t.resolve(app))
        .filter(|t| repartitions.contains(t))
        .filter_map(|t| partitions(&t).map(|n| (t, n)))
        .collect();
    (WatermarkInputs::new(inputs), WatermarkOutputs::new(outputs, et.idle_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_garbage_is_rejected() {
        assert_eq!(decode(&encode(1_764_115_200_000, false)), Some((1_764_115_200_000, false)));
        assert_eq!(decode(&encode(i64::MIN, true)), Some((i64::MIN, true)));
        assert_eq!(decode(b"short"), None);
        assert_eq!(decode(&[0, 0, 0, 0, 0, 0, 0, 1, 7]), None);
    }

    #[test]
    fn the_bound_is_the_slowest_writer_that_is_not_idle() {
        let mut w = WatermarkInputs::new([("r".to_string(), 3)]);
        // Writers never heard from hold everything back.
        assert_eq!(w.bound(), Some(i64::MIN));
        w.observe("r", 0, 500, false);
        w.observe("r", 1, 200, false);
        assert_eq!(w.bound(), Some(i64::MIN), "writer 2 not heard from yet");
        w.observe("r", 2, 300, false);
        assert_eq!(w.bound(), Some(200));
        // An idle writer is left out; it rejoins with its next non-idle watermark.
        w.observe("r", 1, 200, true);
        assert_eq!(w.bound(), Some(300));
        w.observe("r", 1, 250, false);
        assert_eq!(w.bound(), Some(250));
        // An older (replayed) watermark does not move a writer back.
        w.observe("r", 1, 100, false);
        assert_eq!(w.bound(), Some(250));
        // All idle: no bound.
        for i in 0..3 {
            w.observe("r", i, 900, true);
        }
        assert_eq!(w.bound(), None);
        // Other topics and unknown writers.
        w.observe("other", 0, 1, false);
        w.observe("r", 3, 50, false);
        assert_eq!(w.bound(), Some(50), "writer 3 appeared with 50");
    }

    #[test]
    fn outputs_publish_changes_heartbeats_and_idleness() {
        let mut o = WatermarkOutputs::new(vec![("r".into(), 2)], 1000);
        assert_eq!(o.due(i64::MIN, 0), None, "nothing seen, not idle yet");
        o.last_data_at = Some(0);
        assert_eq!(o.due(50, 10), Some((50, false)));
        assert_eq!(o.due(50, 20), None, "unchanged");
        assert_eq!(o.due(60, 30), Some((60, false)));
        assert_eq!(o.due(60, 290), Some((60, false)), "heartbeat after a quarter of the idle time");
        assert_eq!(o.due(60, 1000), Some((60, true)), "no data for the idle time");
        o.held = true;
        assert_eq!(o.due(60, 1001), Some((60, false)), "a paused task is not idle");
    }
}
