//! Session and sliding windows against hand-computed results, and sliding windows against a
//! brute-force recomputation of their definition.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use kstreams_dsl::prelude::*;
use kstreams_test::TopologyTestDriver;
use proptest::prelude::*;

fn s(x: &str) -> String {
    x.to_string()
}

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// `(key, start, end, value)` of each output record; `None` for deletions.
type Out<V> = Vec<(String, i64, i64, Option<V>)>;

fn read_changelog<V: 'static>(driver: &TopologyTestDriver, serde: impl Serde<V> + 'static) -> Out<V> {
    driver
        .output_topic("out", SessionWindowedSerde::string(), OptionSerde(serde))
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.key, k.window.start, k.window.end, v))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Session windows

fn session_counts(gap: u64, grace: u64, store: StoreType) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap(ms(gap)).grace(ms(grace)))
        .count(Materialized::as_("sessions").with_store_type(store))
        .to_changelog_stream()
        .to("out", Produced::with(SessionWindowedSerde::string(), OptionSerde(U64Serde)));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

#[test]
fn a_record_bridging_two_sessions_merges_them_and_deletes_both() {
    for store in [StoreType::InMemory, StoreType::RocksDb] {
        let driver = session_counts(10, 100, store);
        let input = driver.input_topic("in", StringSerde, I64Serde);
        input.pipe(s("a"), 0, 0).unwrap();
        input.pipe(s("a"), 0, 20).unwrap(); // 20 apart: a second session
        input.pipe(s("b"), 0, 12).unwrap(); // other key: independent
        assert_eq!(
            read_changelog(&driver, U64Serde),
            vec![(s("a"), 0, 0, Some(1)), (s("a"), 20, 20, Some(1)), (s("b"), 12, 12, Some(1))]
        );
        input.pipe(s("a"), 0, 10).unwrap(); // within 10 of both: bridges them
        assert_eq!(
            read_changelog(&driver, U64Serde),
            vec![(s("a"), 0, 0, None), (s("a"), 20, 20, None), (s("a"), 0, 20, Some(3))]
        );
        let sessions = driver
            .with_store::<kstreams_state::SessionStore<String, u64>, _>("sessions", |_, st| {
                (st.fetch_key(&s("a")).unwrap(), st.fetch_key(&s("b")).unwrap())
            });
        assert_eq!(sessions, vec![(vec![(0, 20, 3)], vec![(12, 12, 1)])], "{store:?}");
    }
}

#[test]
fn records_exactly_gap_apart_share_a_session_and_a_record_inside_updates_in_place() {
    let driver = session_counts(10, 100, StoreType::InMemory);
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe(s("a"), 0, 100).unwrap();
    input.pipe(s("a"), 0, 110).unwrap(); // exactly gap after the end: touching sessions merge
    input.pipe(s("a"), 0, 90).unwrap(); // exactly gap before the start
    input.pipe(s("a"), 0, 105).unwrap(); // inside [90, 110]: same bounds, no deletion
    input.pipe(s("a"), 0, 121).unwrap(); // gap + 1 after the end: a new session
    assert_eq!(
        read_changelog(&driver, U64Serde),
        vec![
            (s("a"), 100, 100, Some(1)),
            (s("a"), 100, 100, None),
            (s("a"), 100, 110, Some(2)),
            (s("a"), 100, 110, None),
            (s("a"), 90, 110, Some(3)),
            (s("a"), 90, 110, Some(4)),
            (s("a"), 121, 121, Some(1)),
        ]
    );
    assert_eq!(driver.metrics().late_records_dropped, 0);
}

#[test]
fn out_of_order_session_records_within_grace_merge_and_late_ones_are_dropped_and_counted() {
    for store in [StoreType::InMemory, StoreType::RocksDb] {
        // gap 10, grace 5: close time = stream time - 15.
        let driver = session_counts(10, 5, store);
        let input = driver.input_topic("in", StringSerde, I64Serde);
        input.pipe(s("a"), 0, 0).unwrap();
        input.pipe(s("a"), 0, 100).unwrap(); // stream time 100, close time 85
        assert_eq!(
            read_changelog(&driver, U64Serde),
            vec![(s("a"), 0, 0, Some(1)), (s("a"), 100, 100, Some(1))]
        );

        input.pipe(s("a"), 0, 84).unwrap(); // session [84, 84] ends before the close time: late
        input.pipe(s("a"), 0, 2).unwrap(); // would extend [0, 0] to [0, 2]: late
        assert_eq!(read_changelog(&driver, U64Serde), vec![]);
        assert_eq!(driver.metrics().late_records_dropped, 2, "{store:?}");

        input.pipe(s("a"), 0, 85).unwrap(); // ends exactly at the close time: accepted (Kafka's rule)
        input.pipe(s("a"), 0, 90).unwrap(); // out of order, bridges [85, 85] and [100, 100]
        assert_eq!(
            read_changelog(&driver, U64Serde),
            vec![
                (s("a"), 85, 85, Some(1)),
                (s("a"), 85, 85, None),
                (s("a"), 100, 100, None),
                (s("a"), 85, 100, Some(3)),
            ]
        );
        assert_eq!(driver.metrics().late_records_dropped, 2);
    }
}

#[test]
fn suppressed_sessions_are_emitted_once_when_they_close() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap(ms(10)).grace(ms(5)))
        .count(Materialized::as_("sessions"))
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to("out", Produced::with(SessionWindowedSerde::string(), U64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    let out = driver.output_topic("out", SessionWindowedSerde::string(), U64Serde);
    let read = || -> Vec<(String, i64, i64, u64)> {
        out.read_key_values()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.key, k.window.start, k.window.end, v))
            .collect()
    };
    // A session is closed once stream time passes end + gap + grace = end + 15.
    input.pipe(s("a"), 0, 0).unwrap();
    input.pipe(s("a"), 0, 5).unwrap(); // [0, 5], closed after 20
    input.pipe(s("b"), 0, 10).unwrap(); // [10, 10], closed after 25
    input.pipe(s("a"), 0, 19).unwrap(); // 14 after a's end: a new session [19, 19]
    assert_eq!(read(), vec![], "the deleted [0, 0] is not emitted, nothing is closed yet");
    input.pipe(s("c"), 0, 20).unwrap();
    assert_eq!(read(), vec![], "[0, 5] ends at the close time 5: still open");
    input.pipe(s("a"), 0, 3).unwrap(); // so this record still joins it: [0, 5] = 3
    input.pipe(s("a"), 0, 24).unwrap(); // a: [19, 24], closed after 39
    input.pipe(s("x"), 0, 40).unwrap();
    assert_eq!(
        read(),
        vec![(s("a"), 0, 5, 3), (s("b"), 10, 10, 1), (s("c"), 20, 20, 1), (s("a"), 19, 24, 2)],
        "one final result per session, the merged-away [19, 19] not at all"
    );
    assert_eq!(driver.metrics().late_records_dropped, 0);
    input.pipe(s("x"), 0, 1_000).unwrap();
    assert_eq!(read(), vec![(s("x"), 40, 40, 1)]);
}

#[test]
fn session_reduce_combines_values_and_merged_results() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap(ms(10)).grace(ms(100)))
        .reduce(|a: &String, b: &String| format!("{a}{b}"), Materialized::as_("paths").in_memory())
        .to_stream()
        .to("out", Produced::with(SessionWindowedSerde::string(), StringSerde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, StringSerde);
    input.pipe_all([(s("u"), s("a"), 0), (s("u"), s("c"), 20), (s("u"), s("b"), 10)]).unwrap();
    let got: Vec<(i64, i64, String)> = driver
        .output_topic("out", SessionWindowedSerde::string(), StringSerde)
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.window.start, k.window.end, v))
        .collect();
    // Merge reduces the two sessions in store order, then adds the bridging record.
    assert_eq!(got, vec![(0, 0, s("a")), (20, 20, s("c")), (0, 20, s("acb"))]);
}

#[test]
fn an_aggregator_without_merge_fails_with_a_clear_error_when_sessions_must_merge() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::with_inactivity_gap(ms(10)).grace(ms(100)))
        .aggregate(
            FnAggregator::new(|| 0i64, |_k: &String, v: &i64, acc: i64| acc + v),
            Materialized::as_("s"),
        )
        .to_stream()
        .to("out", Produced::with(SessionWindowedSerde::string(), I64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe(s("a"), 1, 0).unwrap();
    input.pipe(s("a"), 2, 5).unwrap(); // extends one session: no merge needed
    input.pipe(s("a"), 4, 20).unwrap();
    let err = input.pipe(s("a"), 8, 12).unwrap_err().to_string();
    assert!(err.contains("Aggregator::merge"), "{err}");
    assert!(err.contains("KSTREAM-SESSION-WINDOWED-AGGREGATE"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Sliding windows

type Windows = Vec<(i64, i64, Vec<i64>)>;

/// Each window's value is the sorted list of the record values it holds; the tests pipe each
/// record's timestamp as its value, so a window shows exactly which records it contains.
fn sliding_lists(difference: u64, grace: u64) -> TopologyTestDriver {
    sliding_lists_in(difference, grace, StoreType::InMemory)
}

fn sliding_lists_in(difference: u64, grace: u64, store: StoreType) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(SlidingWindows::with_time_difference_and_grace(ms(difference), ms(grace)))
        .aggregate(
            FnAggregator::new(Vec::new, |_k: &String, v: &i64, mut acc: Vec<i64>| {
                acc.push(*v);
                acc.sort_unstable();
                acc
            }),
            Materialized::as_("sliding").with_store_type(store),
        )
        .to_stream()
        .to("out", Produced::with(SessionWindowedSerde::string(), JsonSerde::<Vec<i64>>::new()));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

fn pipe_ts(driver: &TopologyTestDriver, key: &str, ts: i64) {
    driver.input_topic("in", StringSerde, I64Serde).pipe(s(key), ts, ts).unwrap();
}

fn read_windows(driver: &TopologyTestDriver) -> Windows {
    driver
        .output_topic("out", SessionWindowedSerde::string(), JsonSerde::<Vec<i64>>::new())
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.window.start, k.window.end, v))
        .collect()
}

#[test]
fn sliding_windows_create_left_and_right_windows_and_out_of_order_records_update_them() {
    for store in [StoreType::InMemory, StoreType::RocksDb] {
        sliding_walk_through(store);
    }
}

fn sliding_walk_through(store: StoreType) {
    let driver = sliding_lists_in(10, 1_000, store);
    pipe_ts(&driver, "a", 10);
    assert_eq!(read_windows(&driver), vec![(0, 10, vec![10])]);
    // Kafka's order: the windows containing the record (descending start), then the previous
    // record's new right window, the new left window, the record's own new right window.
    pipe_ts(&driver, "a", 15); // 10's right window [11,21] is created; left [5,15] takes 10
    assert_eq!(read_windows(&driver), vec![(11, 21, vec![15]), (5, 15, vec![10, 15])]);
    pipe_ts(&driver, "a", 22); // 15's right window [16,26]; left [12,22] copies [11,21]
    assert_eq!(read_windows(&driver), vec![(16, 26, vec![22]), (12, 22, vec![15, 22])]);
    pipe_ts(&driver, "a", 28);
    assert_eq!(read_windows(&driver), vec![(23, 33, vec![28]), (18, 28, vec![22, 28])]);
    // Out of order: 13 joins the three windows containing it, gets a left window [3,13] and a
    // right window [14,24] holding 15 and 22. 10's right window [11,21] already exists.
    pipe_ts(&driver, "a", 13);
    assert_eq!(
        read_windows(&driver),
        vec![
            (12, 22, vec![13, 15, 22]),
            (11, 21, vec![13, 15]),
            (5, 15, vec![10, 13, 15]),
            (3, 13, vec![10, 13]),
            (14, 24, vec![15, 22]),
        ]
    );
    // A duplicate timestamp only updates the windows containing it.
    pipe_ts(&driver, "a", 28);
    assert_eq!(read_windows(&driver), vec![(23, 33, vec![28, 28]), (18, 28, vec![22, 28, 28])]);
    // Another key is independent; a record before the time difference gets the window [0, 10]
    // (Kafka's processEarly: the record's own right window first, then [0, 10]).
    pipe_ts(&driver, "b", 4);
    pipe_ts(&driver, "b", 2);
    assert_eq!(read_windows(&driver), vec![(0, 10, vec![4]), (3, 13, vec![4]), (0, 10, vec![2, 4])]);
    assert_eq!(driver.metrics().late_records_dropped, 0, "{store:?}");
}

#[test]
fn sliding_window_count_and_reduce() {
    let mut b = StreamsBuilder::new();
    let grouped = b
        .stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(SlidingWindows::with_time_difference_and_grace(ms(10), ms(100)));
    grouped
        .count(Materialized::as_("c").in_memory())
        .to_stream()
        .to("count", Produced::with(SessionWindowedSerde::string(), U64Serde));
    grouped
        .reduce(|a: &i64, b: &i64| a + b, Materialized::as_("r"))
        .to_stream()
        .to("sum", Produced::with(SessionWindowedSerde::string(), I64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe_all([(s("k"), 1, 100), (s("k"), 2, 105), (s("k"), 4, 120)]).unwrap();
    let counts: Vec<(i64, u64)> = driver
        .output_topic("count", SessionWindowedSerde::string(), U64Serde)
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.window.start, v))
        .collect();
    // 100: [90,100]. 105: 100's right [101,111] = {105}, then [95,105] = {100,105}.
    // 120: [110,120] = {120} (105 is outside), 105's right window is not needed.
    assert_eq!(counts, vec![(90, 1), (101, 1), (95, 2), (110, 1)]);
    let sums: Vec<(i64, i64)> = driver
        .output_topic("sum", SessionWindowedSerde::string(), I64Serde)
        .read_key_values()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.window.start, v))
        .collect();
    assert_eq!(sums, vec![(90, 1), (101, 2), (95, 3), (110, 4)]);
}

#[test]
fn late_sliding_records_are_dropped_and_closed_windows_are_not_updated() {
    // d = 10, grace = 5: close time = stream time - 5; a window closes once end < close time.
    let driver = sliding_lists(10, 5);
    pipe_ts(&driver, "a", 100);
    pipe_ts(&driver, "a", 130); // stream time 130, close time 125
    assert_eq!(read_windows(&driver), vec![(90, 100, vec![100]), (120, 130, vec![130])]);
    // Its right window [115, 125] would end at the close time: dropped whole, counted once.
    pipe_ts(&driver, "a", 114);
    assert_eq!(read_windows(&driver), vec![]);
    assert_eq!(driver.metrics().late_records_dropped, 1);
    // 124's left window [114, 124] has closed (counted), but [120, 130] is open and its new
    // right window [125, 135] too.
    pipe_ts(&driver, "a", 124);
    assert_eq!(read_windows(&driver), vec![(120, 130, vec![124, 130]), (125, 135, vec![130])]);
    assert_eq!(driver.metrics().late_records_dropped, 2);
}

#[test]
fn suppressed_sliding_windows_are_emitted_once_when_they_close() {
    let mut b = StreamsBuilder::new();
    b.stream("in", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::default())
        .windowed_by(SlidingWindows::with_time_difference_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("c"))
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to("out", Produced::with(SessionWindowedSerde::string(), U64Serde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input_topic("in", StringSerde, I64Serde);
    let out = driver.output_topic("out", SessionWindowedSerde::string(), U64Serde);
    let read = || -> Vec<(String, i64, i64, u64)> {
        out.read_key_values()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.key, k.window.start, k.window.end, v))
            .collect()
    };
    // A window is closed once stream time passes end + grace = end + 5.
    input.pipe_all([(s("a"), 0, 100), (s("a"), 0, 104)]).unwrap(); // [90,100] [101,111] [94,104]
    assert_eq!(read(), vec![]);
    input.pipe(s("b"), 0, 109).unwrap(); // [99,109]; closes [90,100], not [94,104] (109 = 104 + 5)
    assert_eq!(read(), vec![(s("a"), 90, 100, 1)]);
    // Stream time 109, close time 104: 103's left window [93,103] is closed (one late count);
    // [94,104] ends at the close time, still open: updated, as [101,111]; [104,114] created.
    // (Kafka's suppression would have emitted [94,104] = 2 at 109, and now again = 3.)
    input.pipe(s("a"), 0, 103).unwrap();
    assert_eq!(read(), vec![]);
    assert_eq!(driver.metrics().late_records_dropped, 1);
    input.pipe(s("b"), 0, 116).unwrap(); // closes a's [94,104] and b's [99,109]
    assert_eq!(read(), vec![(s("a"), 94, 104, 3), (s("b"), 99, 109, 1)]);
    input.pipe(s("b"), 0, 200).unwrap();
    assert_eq!(
        read(),
        vec![(s("a"), 101, 111, 2), (s("a"), 104, 114, 1), (s("b"), 106, 116, 2), (s("b"), 110, 120, 1)]
    );
}

/// Every sliding window of a set of timestamps, by definition, with the records it holds.
fn brute_force(timestamps: &[i64], d: i64) -> BTreeMap<i64, Vec<i64>> {
    let mut starts = Vec::new();
    for &t in timestamps {
        starts.push((t - d).max(0));
        if timestamps.iter().any(|&u| u > t && u <= t + d) {
            starts.push(t + 1);
        }
    }
    starts
        .into_iter()
        .map(|start| {
            let mut inside: Vec<i64> =
                timestamps.iter().copied().filter(|&u| start <= u && u <= start + d).collect();
            inside.sort_unstable();
            (start, inside)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sliding_windows_match_a_brute_force_recomputation(
        d in 1i64..20,
        records in prop::collection::vec((0i64..120, prop::bool::ANY), 1..30),
    ) {
        // Grace covers every out-of-order record, so none is late.
        let driver = sliding_lists(d as u64, 1_000);
        let mut seen: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        let mut table: BTreeMap<(&str, i64), Vec<i64>> = BTreeMap::new();
        for &(t, second_key) in &records {
            let key = if second_key { "k2" } else { "k1" };
            let seen = seen.entry(key).or_default();
            let before = brute_force(seen, d);
            seen.push(t);
            let after = brute_force(seen, d);
            pipe_ts(&driver, key, t);
            let mut out = read_windows(&driver);
            out.sort_by_key(|w| w.0); // emitted in Kafka's order; compared as a set of windows
            // Emitted: every window created, and every window containing the record.
            let expected: Windows = after
                .iter()
                .filter(|(start, _)| !before.contains_key(start) || (**start <= t && t <= **start + d))
                .map(|(start, recs)| (*start, start + d, recs.clone()))
                .collect();
            prop_assert_eq!(&out, &expected, "key {} after {:?}", key, seen);
            for (start, _, recs) in out {
                table.insert((key, start), recs);
            }
        }
        let expected: BTreeMap<(&str, i64), Vec<i64>> = seen
            .iter()
            .flat_map(|(key, ts)| brute_force(ts, d).into_iter().map(move |(start, recs)| ((*key, start), recs)))
            .collect();
        prop_assert_eq!(table, expected);
        prop_assert_eq!(driver.metrics().late_records_dropped, 0);
    }

    #[test]
    fn session_windows_match_a_brute_force_recomputation(
        gap in 0i64..15,
        timestamps in prop::collection::vec(0i64..150, 1..30),
    ) {
        let mut b = StreamsBuilder::new();
        b.stream("in", Consumed::with(StringSerde, I64Serde))
            .group_by_key(Grouped::default())
            .windowed_by(SessionWindows::with_inactivity_gap(ms(gap as u64)).grace(ms(1_000)))
            .aggregate(
                FnAggregator::new(Vec::new, |_k: &String, v: &i64, mut acc: Vec<i64>| {
                    acc.push(*v);
                    acc.sort_unstable();
                    acc
                })
                .with_merger(|a: &Vec<i64>, b: &Vec<i64>| {
                    let mut m: Vec<i64> = a.iter().chain(b).copied().collect();
                    m.sort_unstable();
                    m
                }),
                Materialized::as_("sessions"),
            )
            .to_changelog_stream()
            .to("out", Produced::with(SessionWindowedSerde::string(), OptionSerde(JsonSerde::<Vec<i64>>::new())));
        let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
        let input = driver.input_topic("in", StringSerde, I64Serde);
        let mut table: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
        for &t in &timestamps {
            input.pipe(s("k"), t, t).unwrap();
        }
        for (_, start, end, value) in read_changelog(&driver, JsonSerde::<Vec<i64>>::new()) {
            match value {
                Some(v) => table.insert((start, end), v),
                None => table.remove(&(start, end)),
            };
        }
        // Sessions by definition: sorted timestamps split where neighbours are more than gap apart.
        let mut sorted = timestamps.clone();
        sorted.sort_unstable();
        let mut expected: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
        let mut current: Vec<i64> = Vec::new();
        for t in sorted {
            if let Some(&last) = current.last() {
                if t - last > gap {
                    expected.insert((current[0], last), std::mem::take(&mut current));
                }
            }
            current.push(t);
        }
        if let Some(&last) = current.last() {
            expected.insert((current[0], last), current.clone());
        }
        prop_assert_eq!(table, expected);
        prop_assert_eq!(driver.metrics().late_records_dropped, 0);
    }
}
