//! Stream-stream, stream-table and table-table joins against hand-computed outputs.
//!
//! Join window notation: with `JoinWindows { before, after, grace }` a left record at `t` joins
//! right records in `[t - before, t + after]` and its window closes once stream time passes
//! `t + after + grace`; a right record at `t` joins left records in `[t - after, t + before]`
//! and closes once stream time passes `t + before + grace`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use kstreams_dsl::prelude::*;
use kstreams_state::WindowStore;
use kstreams_test::TopologyTestDriver;

fn s(x: &str) -> String {
    x.to_string()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

enum Kind {
    Inner,
    Left,
    Outer,
}

fn show(v: Option<&String>) -> &str {
    v.map_or("null", |v| v.as_str())
}

/// `left` and `right` topics of strings joined into `out`, values rendered `left+right`.
fn stream_join(
    kind: Kind,
    windows: JoinWindows,
    joined: Joined<String, String, String>,
) -> TopologyTestDriver {
    let mut b = StreamsBuilder::new();
    let left = b.stream("left", Consumed::with(StringSerde, StringSerde));
    let right = b.stream("right", Consumed::with(StringSerde, StringSerde));
    let out = match kind {
        Kind::Inner => left.join(&right, |_k, l, r| format!("{l}+{r}"), windows, joined),
        Kind::Left => left.left_join(&right, |_k, l, r| format!("{l}+{}", show(r)), windows, joined),
        Kind::Outer => {
            left.outer_join(&right, |_k, l, r| format!("{}+{}", show(l), show(r)), windows, joined)
        }
    };
    out.to("out", Produced::with(StringSerde, StringSerde));
    TopologyTestDriver::new(b.build().unwrap()).unwrap()
}

struct Io {
    driver: TopologyTestDriver,
}

impl Io {
    fn left(&self, k: &str, v: &str, ts: i64) {
        self.driver.input_topic("left", StringSerde, StringSerde).pipe(s(k), s(v), ts).unwrap();
    }
    fn right(&self, k: &str, v: &str, ts: i64) {
        self.driver.input_topic("right", StringSerde, StringSerde).pipe(s(k), s(v), ts).unwrap();
    }
    /// `(key, value, timestamp)` of everything written to `out` since the last read.
    fn out(&self) -> Vec<(String, String, i64)> {
        let recs = self.driver.output_topic("out", StringSerde, StringSerde).read_records().unwrap();
        recs.into_iter().map(|r| (r.key, r.value, r.timestamp)).collect()
    }
    fn late(&self) -> u64 {
        self.driver.metrics().late_records_dropped
    }
}

fn o(k: &str, v: &str, ts: i64) -> (String, String, i64) {
    (s(k), s(v), ts)
}

#[test]
fn inner_join_pairs_records_inside_the_window_in_both_directions() {
    for joined in [Joined::default(), Joined::default().in_memory()] {
        // before = after = 10 ms, no grace.
        let io = Io { driver: stream_join(Kind::Inner, JoinWindows::of(ms(10)), joined) };
        io.left("A", "a1", 100);
        assert_eq!(io.out(), vec![]);
        io.right("A", "b1", 105); // left in [95, 115]: a1
        assert_eq!(io.out(), vec![o("A", "a1+b1", 105)]);
        io.right("A", "b2", 111); // left in [101, 121]: none
        assert_eq!(io.out(), vec![]);
        io.left("A", "a2", 112); // right in [102, 122]: b1, b2; the later timestamp wins
        io.left("B", "c1", 112); // other key
        assert_eq!(io.out(), vec![o("A", "a2+b1", 112), o("A", "a2+b2", 112)]);
        // Stream time 112. b3's window closed at 90 + 10 = 100: dropped and counted.
        io.right("A", "b3", 90);
        assert_eq!(io.late(), 1);
        // b4 closes at 102 + 10 = 112 = stream time: still open. Its range [92, 112] holds a1
        // and a2, but a1's own window closed at 110, so only a2 joins.
        io.right("A", "b4", 102);
        assert_eq!(io.out(), vec![o("A", "a2+b4", 112)]);
        assert_eq!(io.late(), 1);
    }
}

#[test]
fn asymmetric_windows_mirror_for_the_other_side() {
    // Left at t joins right in [t - 5, t + 20]; right at t joins left in [t - 20, t + 5].
    let windows = JoinWindows::of(ms(0)).before(ms(5)).after(ms(20)).grace(ms(50));
    let io = Io { driver: stream_join(Kind::Inner, windows, Joined::default().named("asym")) };
    io.left("A", "a1", 100);
    io.right("A", "b1", 96); // left in [76, 101]: a1
    io.right("A", "b2", 94); // left in [74, 99]: none (94 is 6 ms before a1)
    io.right("A", "b3", 120); // left in [100, 125]: a1 (exactly 20 ms after)
    io.right("A", "b4", 121); // left in [101, 126]: none
    assert_eq!(io.out(), vec![o("A", "a1+b1", 100), o("A", "a1+b3", 120)]);
    io.left("A", "a2", 126); // right in [121, 146]: b4
    io.left("A", "a3", 90); // right in [85, 110]: b2, b1 (ascending time)
    assert_eq!(io.out(), vec![o("A", "a2+b4", 126), o("A", "a3+b2", 94), o("A", "a3+b1", 96)]);
    assert_eq!(io.late(), 0);
    // Every record is buffered in its side's window store, duplicates kept.
    let count = |store: &str| {
        io.driver.with_store::<WindowStore<String, String>, _>(store, |_, st| {
            st.fetch_range(&s("A"), 0, 1_000).unwrap().len()
        })
    };
    assert_eq!(count("asym-this-join-store"), vec![3]);
    assert_eq!(count("asym-other-join-store"), vec![4]);
}

#[test]
fn late_records_are_dropped_after_the_grace_period() {
    let io = Io { driver: stream_join(Kind::Inner, JoinWindows::of(ms(10)).grace(ms(5)), Joined::default()) };
    io.left("A", "x", 190); // open until stream time 205
    io.right("A", "y", 200); // left in [190, 210]: x
    assert_eq!(io.out(), vec![o("A", "x+y", 200)]);
    // Stream time 200. z at 182 closed at 182 + 10 + 5 = 197: dropped, though x is in its range.
    io.right("A", "z", 182);
    assert_eq!(io.late(), 1);
    // w at 185 closes at exactly 200: accepted and joined, out of order.
    io.right("A", "w", 185);
    assert_eq!(io.out(), vec![o("A", "x+w", 190)]);
    io.left("A", "v", 184); // closed at 199
    assert_eq!(io.late(), 2);
    assert_eq!(io.out(), vec![]);
}

#[test]
fn left_join_emits_unmatched_left_records_only_after_their_window_closes() {
    let io = Io { driver: stream_join(Kind::Left, JoinWindows::of(ms(10)).grace(ms(5)), Joined::default()) };
    io.left("A", "a1", 100); // closes once stream time passes 115
    assert_eq!(io.out(), vec![]);
    io.right("B", "x", 110);
    io.right("B", "y", 115); // stream time 115: a1 still open
    assert_eq!(io.out(), vec![], "a right record without partner emits nothing in a left join");
    io.left("A", "a2", 108); // right in [98, 118] for A: none yet
    io.right("A", "r1", 112); // left in [102, 122]: a2 (a1 is outside)
    assert_eq!(io.out(), vec![o("A", "a2+r1", 112)]);
    io.right("C", "z", 116); // stream time 116 > 115: a1 is final
    assert_eq!(io.out(), vec![o("A", "a1+null", 100)]);
    // r2 (open until 120) has a1 and a2 in range; a1 already went out unmatched, so it does
    // not join any more: only a2 does.
    io.right("A", "r2", 105);
    assert_eq!(io.out(), vec![o("A", "a2+r2", 108)]);
    io.left("A", "a0", 50); // late: dropped, never emitted as unmatched
    io.left("A", "a3", 200);
    assert_eq!(io.out(), vec![], "a2 was joined, so it is not emitted unmatched");
    assert_eq!(io.late(), 1);
    io.right("D", "later", 216); // a3 closes at 215
    assert_eq!(io.out(), vec![o("A", "a3+null", 200)]);
}

#[test]
fn unmatched_records_go_out_on_a_punctuation_when_stream_time_advances_elsewhere() {
    let mut b = StreamsBuilder::new();
    let left = b.stream("left", Consumed::with(StringSerde, StringSerde)).filter(|_k, v| v != "tick");
    let right = b.stream("right", Consumed::with(StringSerde, StringSerde));
    left.left_join(&right, |_k, l, r| format!("{l}+{}", show(r)), JoinWindows::of(ms(10)), Joined::default())
        .to("out", Produced::with(StringSerde, StringSerde));
    let io = Io { driver: TopologyTestDriver::new(b.build().unwrap()).unwrap() };
    io.left("A", "a1", 100);
    io.left("T", "tick", 110); // stream time 110 = a1's close: still open
    assert_eq!(io.out(), vec![]);
    io.left("T", "tick", 111); // filtered out before the join; the punctuation emits a1
    assert_eq!(io.out(), vec![o("A", "a1+null", 100)]);
}

#[test]
fn outer_join_emits_unmatched_records_of_both_sides_when_their_windows_close() {
    for joined in [Joined::default(), Joined::default().in_memory().named("outer")] {
        let io = Io { driver: stream_join(Kind::Outer, JoinWindows::of(ms(10)), joined) };
        io.left("A", "a1", 100);
        io.right("B", "b1", 103); // open until 113
        assert_eq!(io.out(), vec![]);
        io.right("A", "r1", 105); // joins a1, which leaves the unmatched buffer
        assert_eq!(io.out(), vec![o("A", "a1+r1", 105)]);
        io.left("E", "e1", 113); // stream time 113: b1 still open; e1 open until 123
        assert_eq!(io.out(), vec![]);
        io.left("B", "l1", 125); // b1 (103) and e1 (113) closed, oldest first; l1 waits
        assert_eq!(io.out(), vec![o("B", "null+b1", 103), o("E", "e1+null", 113)]);
        io.left("C", "c1", 126);
        assert_eq!(io.out(), vec![]);
        io.right("D", "d1", 140); // l1 closed at 135, c1 at 136; d1 waits
        assert_eq!(io.out(), vec![o("B", "l1+null", 125), o("C", "c1+null", 126)]);
        io.left("D", "d2", 141); // joins d1
        assert_eq!(io.out(), vec![o("D", "d2+d1", 141)]);
        io.left("Z", "z", 1_000);
        assert_eq!(io.out(), vec![], "d1 and d2 joined; z waits until 1_010");
    }
}

#[test]
fn stream_table_joins_look_up_the_current_value_and_ignore_table_updates() {
    let mut b = StreamsBuilder::new();
    let users =
        b.table("users", Consumed::with(StringSerde, StringSerde), Materialized::as_("users").in_memory());
    let clicks = b.stream("clicks", Consumed::with(StringSerde, I64Serde));
    clicks
        .join_table(&users, |_k, c, name| format!("{name}:{c}"))
        .to("inner", Produced::with(StringSerde, StringSerde));
    clicks
        .left_join_table(&users, |_k, c, name| format!("{}:{c}", show(name)))
        .to("left", Produced::with(StringSerde, StringSerde));
    // A filtered table is not materialized: the join materializes it.
    clicks
        .join_table(&users.filter(|_k, name| name != "bob"), |_k, c, name| format!("{name}:{c}"))
        .to("filtered", Produced::with(StringSerde, StringSerde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let users_in = driver.input_topic("users", StringSerde, OptionSerde(StringSerde));
    let clicks_in = driver.input_topic("clicks", StringSerde, I64Serde);
    let read = |t: &str| -> Vec<(String, String, i64)> {
        let recs = driver.output_topic(t, StringSerde, StringSerde).read_records().unwrap();
        recs.into_iter().map(|r| (r.key, r.value, r.timestamp)).collect()
    };

    clicks_in.pipe(s("u1"), 5, 1).unwrap();
    users_in.pipe(s("u1"), Some(s("ann")), 2).unwrap(); // a table update emits nothing
    clicks_in.pipe(s("u1"), 7, 3).unwrap();
    users_in.pipe(s("u1"), Some(s("bob")), 4).unwrap();
    clicks_in.pipe(s("u1"), 1, 5).unwrap();
    users_in.pipe(s("u1"), None, 6).unwrap(); // tombstone: u1 leaves the table
    clicks_in.pipe(s("u1"), 2, 7).unwrap();
    clicks_in.pipe(s("u2"), 3, 8).unwrap();

    assert_eq!(read("inner"), vec![o("u1", "ann:7", 3), o("u1", "bob:1", 5)]);
    assert_eq!(
        read("left"),
        vec![
            o("u1", "null:5", 1),
            o("u1", "ann:7", 3),
            o("u1", "bob:1", 5),
            o("u1", "null:2", 7),
            o("u2", "null:3", 8)
        ]
    );
    assert_eq!(read("filtered"), vec![o("u1", "ann:7", 3)]);
}

#[test]
fn table_table_joins_emit_changes_and_deletes() {
    let mut b = StreamsBuilder::new();
    let names =
        b.table("names", Consumed::with(StringSerde, StringSerde), Materialized::as_("names").in_memory());
    let ages = b.table("ages", Consumed::with(StringSerde, I64Serde), Materialized::as_("ages"));
    let show_age = |a: Option<&i64>| a.map_or(s("-"), |a| a.to_string());
    let produced = || Produced::with(StringSerde, OptionSerde(StringSerde));
    names.join(&ages, |_k, n, a| format!("{n}/{a}")).to_changelog_stream().to("inner", produced());
    names
        .left_join(&ages, move |_k, n, a| format!("{n}/{}", show_age(a)))
        .to_changelog_stream()
        .to("left", produced());
    names
        .outer_join(&ages, move |_k, n, a| format!("{}/{}", n.map_or("-", |n| n.as_str()), show_age(a)))
        .to_changelog_stream()
        .to("outer", produced());
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let names_in = driver.input_topic("names", StringSerde, OptionSerde(StringSerde));
    let ages_in = driver.input_topic("ages", StringSerde, OptionSerde(I64Serde));

    names_in.pipe(s("k1"), Some(s("ann")), 1).unwrap();
    ages_in.pipe(s("k1"), Some(30), 2).unwrap();
    ages_in.pipe(s("k2"), Some(40), 3).unwrap(); // no name for k2
    names_in.pipe(s("k1"), Some(s("anna")), 4).unwrap(); // update
    names_in.pipe(s("k1"), None, 5).unwrap(); // delete the left row
    ages_in.pipe(s("k1"), None, 6).unwrap(); // delete the right row

    let read =
        |t: &str| driver.output_topic(t, StringSerde, OptionSerde(StringSerde)).read_key_values().unwrap();
    let row = |k: &str, v: Option<&str>| (s(k), v.map(s));
    assert_eq!(read("inner"), vec![row("k1", Some("ann/30")), row("k1", Some("anna/30")), row("k1", None)]);
    assert_eq!(
        read("left"),
        vec![
            row("k1", Some("ann/-")),
            row("k1", Some("ann/30")),
            row("k1", Some("anna/30")),
            row("k1", None)
        ]
    );
    assert_eq!(
        read("outer"),
        vec![
            row("k1", Some("ann/-")),
            row("k1", Some("ann/30")),
            row("k2", Some("-/40")),
            row("k1", Some("anna/30")),
            row("k1", Some("-/30")),
            row("k1", None),
        ]
    );
}

#[test]
fn joins_after_select_key_repartition_the_rekeyed_side() {
    let mut b = StreamsBuilder::new();
    // Orders keyed by order id, valued "user:item"; re-keyed by user.
    let orders = b
        .stream("orders", Consumed::with(StringSerde, StringSerde))
        .select_key(|_id, v| v.split(':').next().unwrap_or_default().to_string());
    let logins = b.stream("logins", Consumed::with(StringSerde, StringSerde));
    let users =
        b.table("users", Consumed::with(StringSerde, StringSerde), Materialized::as_("users").in_memory());
    orders
        .join(
            &logins,
            |user, order, login| format!("{user}:{order}|{login}"),
            JoinWindows::of(ms(100)),
            Joined::with(StringSerde, StringSerde, StringSerde).named("order-logins").in_memory(),
        )
        .to("order-logins", Produced::with(StringSerde, StringSerde));
    orders
        .join_table(&users, |_user, order, name| format!("{order} by {name}"))
        .to("named-orders", Produced::with(StringSerde, StringSerde));
    let topology = b.build().unwrap();
    let description = topology.describe().to_string();
    assert!(description.contains("order-logins-left-repartition"), "{description}");
    assert!(!description.contains("order-logins-right-repartition"), "{description}");
    let driver = TopologyTestDriver::new(topology).unwrap();
    driver.input_topic("users", StringSerde, StringSerde).pipe(s("u1"), s("Ann"), 0).unwrap();
    driver.input_topic("orders", StringSerde, StringSerde).pipe(s("o1"), s("u1:book"), 10).unwrap();
    driver.input_topic("logins", StringSerde, StringSerde).pipe(s("u1"), s("web"), 20).unwrap();
    driver.input_topic("logins", StringSerde, StringSerde).pipe(s("o1"), s("app"), 20).unwrap(); // wrong key
    let read = |t: &str| driver.output_topic(t, StringSerde, StringSerde).read_key_values().unwrap();
    assert_eq!(read("order-logins"), vec![(s("u1"), s("u1:u1:book|web"))]);
    assert_eq!(read("named-orders"), vec![(s("u1"), s("u1:book by Ann"))]);
}

#[test]
fn a_join_that_must_repartition_without_serdes_fails_at_build() {
    let mut b = StreamsBuilder::new();
    let rekeyed = b.stream("a", Consumed::with(StringSerde, I64Serde)).map(|k, v| (k, v.to_string()));
    let other = b.stream("b", Consumed::with(StringSerde, I64Serde));
    rekeyed
        .join(&other, |_k, x, y| format!("{x}{y}"), JoinWindows::of(ms(1)), Joined::default())
        .to("out", Produced::with(StringSerde, StringSerde));
    let err = b.build().expect_err("the join has no value serde for the re-keyed side").to_string();
    assert!(err.contains("join") && err.contains("Joined::with"), "{err}");

    let mut b = StreamsBuilder::new();
    let users = b.table("users", Consumed::with(StringSerde, StringSerde), Materialized::as_("users"));
    b.stream("a", Consumed::with(StringSerde, I64Serde))
        .map(|k, v| (k, v + 1))
        .join_table(&users, |_k, v, n| format!("{n}{v}"))
        .to("out", Produced::with(StringSerde, StringSerde));
    let err = b.build().expect_err("the re-keyed stream has no serdes to repartition").to_string();
    assert!(err.contains("stream-table join") && err.contains("repartition"), "{err}");
}
