//! Event-time alignment as a pure function: which tasks of a stream thread to hold back
//! because they run too far ahead, in event time, of the slowest task of their sub-topology.
//!
//! A task whose highest timestamp runs more than `event.time.max.skew.ms` ahead of the
//! slowest task of its sub-topology on the same thread is held: its records wait in its
//! partition queue (see `TaskManager`) until it is within half the skew again. Downstream
//! windows close on the slowest upstream task's watermark, so without holds a task catching up
//! on a backlog would push the others' records past the grace period.
//!
//! A task holds the others back only while it has records to read:
//! - one that processed nothing for `event.time.idle.ms` (and is not held) is *quiet*;
//! - one that has seen no record and has none waiting in its partitions has nothing to say;
//! - a slowest task that has been silent for a moment while holding others, and has no
//!   records waiting (the end of a backlog), is passed over for the next slowest.
//!
//! Whether records wait is a question for the broker; [`plan`] asks it through a closure,
//! only when the answer matters.

use std::collections::{BTreeMap, BTreeSet};

use kstreams_core::TaskId;

/// What alignment knows of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskView {
    pub(crate) id: TaskId,
    /// The highest timestamp it has seen (`i64::MIN`: none yet).
    pub(crate) observed: i64,
    /// Whether it is held back now.
    pub(crate) held: bool,
    /// Whether it processed nothing for `event.time.idle.ms`.
    pub(crate) quiet: bool,
    /// Whether it processed nothing for a moment (long enough to ask whether it ran dry).
    pub(crate) silent: bool,
}

/// Per sub-topology: its slowest task and the event time the others may run ahead to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SkewLimits(BTreeMap<u32, (TaskId, i64)>);

impl SkewLimits {
    /// Whether task `id`, having seen `observed`, ran past its sub-topology's limit (and is
    /// not the slowest task itself).
    pub(crate) fn is_ahead(&self, id: TaskId, observed: i64) -> bool {
        self.0.get(&id.subtopology).is_some_and(|(slowest, limit)| *slowest != id && observed > *limit)
    }
}

/// What to do after a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The limits the per-record check holds tasks at until the next plan.
    pub(crate) limits: SkewLimits,
    /// Tasks to hold back.
    pub(crate) hold: Vec<TaskId>,
    /// Held tasks to let go on.
    pub(crate) release: Vec<TaskId>,
}

/// The holds for `tasks` (in task order) with a skew of `skew` ms; `waiting(id)` tells whether
/// records wait in the partitions of task `id` beyond what it consumed.
pub(crate) fn plan(tasks: &[TaskView], skew: i64, mut waiting: impl FnMut(TaskId) -> bool) -> Plan {
    let mut excluded: BTreeSet<TaskId> = BTreeSet::new();
    for t in tasks {
        if !t.held && t.quiet {
            excluded.insert(t.id); // quiet: does not hold the others back
        } else if t.observed == i64::MIN && !waiting(t.id) {
            excluded.insert(t.id); // nothing seen and nothing to read
        }
    }
    let slowest = loop {
        let mut slowest: BTreeMap<u32, (TaskId, i64)> = BTreeMap::new();
        for t in tasks.iter().filter(|t| !excluded.contains(&t.id)) {
            let s = slowest.entry(t.id.subtopology).or_insert((t.id, t.observed));
            if t.observed < s.1 {
                *s = (t.id, t.observed);
            }
        }
        let ran_dry = slowest.values().copied().find(|(id, seen)| {
            let holding = tasks.iter().any(|o| {
                o.id.subtopology == id.subtopology
                    && o.id != *id
                    && (o.held || o.observed > seen.saturating_add(skew))
            });
            let silent = tasks.iter().find(|t| t.id == *id).is_some_and(|t| t.silent);
            *seen != i64::MIN && holding && silent && !waiting(*id)
        });
        match ran_dry {
            Some((id, _)) => {
                excluded.insert(id);
            }
            None => break slowest,
        }
    };
    // The per-record check only runs against a slowest task that has seen records; one still
    // waiting for its first record is handled here, once per batch.
    let limits = SkewLimits(
        slowest
            .iter()
            .filter(|(_, (_, t))| *t != i64::MIN)
            .map(|(sub, (id, t))| (*sub, (*id, t.saturating_add(skew))))
            .collect(),
    );
    let mut plan = Plan { limits, ..Plan::default() };
    for t in tasks {
        match slowest.get(&t.id.subtopology).map(|(_, min)| *min) {
            Some(min) if !t.held && t.observed > min.saturating_add(skew) => plan.hold.push(t.id),
            Some(min) if t.held && t.observed <= min.saturating_add(skew / 2) => plan.release.push(t.id),
            Some(_) => {}
            None if t.held => plan.release.push(t.id),
            None => {}
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(sub: u32, p: i32) -> TaskId {
        TaskId { subtopology: sub, partition: p }
    }

    fn view(id: TaskId, observed: i64) -> TaskView {
        TaskView { id, observed, held: false, quiet: false, silent: false }
    }

    const SKEW: i64 = 60_000;

    #[test]
    fn a_task_too_far_ahead_is_held_and_released_within_half_the_skew() {
        let tasks = [view(id(0, 0), 0), view(id(0, 1), 30_000), view(id(0, 2), 60_001)];
        let p = plan(&tasks, SKEW, |_| true);
        assert_eq!(p.hold, vec![id(0, 2)], "only the task past slowest + skew");
        assert!(p.release.is_empty());
        assert!(p.limits.is_ahead(id(0, 1), 60_001) && !p.limits.is_ahead(id(0, 1), 60_000));
        assert!(!p.limits.is_ahead(id(0, 0), i64::MAX), "the slowest task is never ahead of itself");

        // Held at 60 001: released once the slowest reaches 30 001 (within half the skew).
        let mut held = view(id(0, 2), 60_001);
        held.held = true;
        let still = plan(&[view(id(0, 0), 30_000), held], SKEW, |_| true);
        assert!(still.release.is_empty() && still.hold.is_empty());
        let go = plan(&[view(id(0, 0), 30_001), held], SKEW, |_| true);
        assert_eq!(go.release, vec![id(0, 2)]);
    }

    #[test]
    fn sub_topologies_are_aligned_apart() {
        let tasks = [view(id(0, 0), 0), view(id(1, 0), 500_000), view(id(1, 1), 400_000)];
        let p = plan(&tasks, SKEW, |_| true);
        assert_eq!(p.hold, vec![id(1, 0)], "measured against 1_1, not against 0_0");
    }

    #[test]
    fn quiet_tasks_and_tasks_with_nothing_to_read_hold_nobody() {
        let mut quiet = view(id(0, 0), 0);
        quiet.quiet = true;
        let p = plan(&[quiet, view(id(0, 1), 500_000)], SKEW, |_| true);
        assert!(p.hold.is_empty(), "a quiet task is not the slowest");

        // Never saw a record: holds the others only while records wait for it.
        let fresh = view(id(0, 0), i64::MIN);
        let ahead = view(id(0, 1), 500_000);
        assert!(plan(&[fresh, ahead], SKEW, |_| false).hold.is_empty());
        assert_eq!(plan(&[fresh, ahead], SKEW, |_| true).hold, vec![id(0, 1)]);
        assert!(
            plan(&[fresh, ahead], SKEW, |_| true).limits == SkewLimits::default(),
            "no per-record limit yet"
        );
    }

    #[test]
    fn a_silent_slowest_task_that_ran_dry_is_passed_over() {
        let mut dry = view(id(0, 0), 0);
        dry.silent = true;
        let mut held = view(id(0, 2), 500_000);
        held.held = true;
        let tasks = [dry, view(id(0, 1), 480_000), held];
        // Records still wait for 0_0: it stays the slowest, and 0_2 stays held.
        let p = plan(&tasks, SKEW, |_| true);
        assert!(p.release.is_empty());
        // 0_0 read its partitions to the end: 0_1 is the slowest now, and 0_2 goes on.
        let p = plan(&tasks, SKEW, |t| t != id(0, 0));
        assert_eq!(p.release, vec![id(0, 2)]);
        assert!(p.limits.is_ahead(id(0, 2), 540_001));
    }

    #[test]
    fn the_broker_is_asked_only_when_it_matters() {
        let mut asked = Vec::new();
        let tasks = [view(id(0, 0), 0), view(id(0, 1), 10)];
        plan(&tasks, SKEW, |t| {
            asked.push(t);
            true
        });
        assert!(asked.is_empty(), "every task has seen records and none holds another: {asked:?}");
    }
}
