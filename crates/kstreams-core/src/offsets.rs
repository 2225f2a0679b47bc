//! [`Offsets`]: an offset per topic partition — the committed input offsets of a task, the
//! input position its local state reflects, or the changelog offsets a checkpoint records.
//!
//! Their text form is the one of Kafka Streams' `.checkpoint` files: a version line (`0`), a
//! count line, then one `topic partition offset` line per entry.
//!
//! ```
//! use kstreams_core::{Offsets, TopicPartition};
//!
//! let mut o = Offsets::new();
//! o.insert(TopicPartition::new("readings", 2), 42);
//! assert_eq!(o.to_text(), "0\n1\nreadings 2 42\n");
//! assert_eq!(Offsets::parse(&o.to_text()), Ok(o.clone()));
//! assert_eq!(o.get("readings", 2), Some(42));
//! ```

use std::collections::BTreeMap;

use crate::topic::TopicPartition;

/// An offset per topic partition, ordered by topic and partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offsets(BTreeMap<TopicPartition, i64>);

/// One partition where a task's local state is ahead of what the group committed: its
/// input position and the committed offset (`None`: nothing committed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ahead {
    /// The partition.
    pub partition: TopicPartition,
    /// Where the local state is (the next offset it would process).
    pub at: i64,
    /// What the group committed.
    pub committed: Option<i64>,
}

impl Offsets {
    /// No offsets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the offset of `partition`.
    pub fn insert(&mut self, partition: TopicPartition, offset: i64) {
        self.0.insert(partition, offset);
    }

    /// The offset of `topic`-`partition`.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.iter().find(|(tp, _)| tp.is(topic, partition)).map(|(_, o)| *o)
    }

    /// The offset of `partition`.
    pub fn of(&self, partition: &TopicPartition) -> Option<i64> {
        self.0.get(partition).copied()
    }

    /// Raises the offset of `partition` to `offset` (sets it if absent).
    pub fn raise(&mut self, partition: TopicPartition, offset: i64) {
        let slot = self.0.entry(partition).or_insert(offset);
        *slot = (*slot).max(offset);
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&TopicPartition, i64) -> bool) {
        self.0.retain(|tp, o| keep(tp, *o));
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, i64)> {
        self.0.iter().map(|(tp, o)| (tp, *o))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text form (see the module docs).
    pub fn to_text(&self) -> String {
        let mut text = format!("0\n{}\n", self.0.len());
        for (tp, offset) in &self.0 {
            text.push_str(&format!("{} {} {offset}\n", tp.topic(), tp.partition()));
        }
        text
    }

    /// Parses the text form; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        match lines.next().map(str::trim) {
            Some("0") => {}
            other => return Err(format!("unsupported version line {other:?}")),
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| "missing or invalid entry count".to_string())?;
        let mut offsets = Self::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let mut parts = line.split_whitespace();
            let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(t), Some(p), Some(o), None) => {
                    p.parse::<i32>().ok().zip(o.parse::<i64>().ok()).map(|po| (t, po))
                }
                _ => None,
            };
            let (topic, (partition, offset)) = parsed.ok_or_else(|| format!("malformed line `{line}`"))?;
            offsets.insert(TopicPartition::new(topic, partition), offset);
        }
        if offsets.len() != count {
            return Err(format!("header says {count} entries, found {}", offsets.len()));
        }
        Ok(offsets)
    }

    /// The partitions where these offsets (the input position a task's local state reflects)
    /// are ahead of `committed` (the group's committed offsets): records the state already
    /// counts but whose offsets were never committed, so they will be processed again. A
    /// partition without a committed offset is ahead as soon as the state reflects any of its
    /// records.
    pub fn ahead_of(&self, committed: &Offsets) -> Vec<Ahead> {
        self.0
            .iter()
            .filter_map(|(tp, &at)| {
                let c = committed.of(tp);
                (at > c.unwrap_or(0)).then(|| Ahead { partition: tp.clone(), at, committed: c })
            })
            .collect()
    }
}

impl FromIterator<(TopicPartition, i64)> for Offsets {
    fn from_iter<I: IntoIterator<Item = (TopicPartition, i64)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("in", p)
    }

    #[test]
    fn the_text_form_round_trips_and_names_what_is_wrong() {
        let o: Offsets =
            [(TopicPartition::new("app-counts-changelog", 1), 42), (TopicPartition::new("b", 1), 7)]
                .into_iter()
                .collect();
        assert_eq!(o.to_text(), "0\n2\napp-counts-changelog 1 42\nb 1 7\n", "Kafka Streams' format");
        assert_eq!(Offsets::parse(&o.to_text()), Ok(o));
        for bad in ["1\n0\n", "0\n2\nt 0 1\n", "0\n1\nt zero 1\n", ""] {
            assert!(Offsets::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_position_is_ahead_only_where_it_passed_the_committed_offset() {
        let local: Offsets = [(tp(0), 10), (tp(1), 5), (tp(2), 3)].into_iter().collect();
        let committed: Offsets = [(tp(0), 10), (tp(1), 7)].into_iter().collect();
        // Partition 0 equal, 1 behind (another owner went on): kept. 2 has nothing committed.
        assert_eq!(local.ahead_of(&committed), vec![Ahead { partition: tp(2), at: 3, committed: None }]);
        let committed: Offsets = [(tp(0), 9), (tp(1), 7), (tp(2), 3)].into_iter().collect();
        assert_eq!(local.ahead_of(&committed), vec![Ahead { partition: tp(0), at: 10, committed: Some(9) }]);
        assert!(Offsets::new().ahead_of(&committed).is_empty());
        let mut raised = local.clone();
        raised.raise(tp(0), 4);
        raised.raise(tp(5), 1);
        assert_eq!((raised.get("in", 0), raised.get("in", 5)), (Some(10), Some(1)));
    }
}
