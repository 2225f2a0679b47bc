//! Versioned tables and stream-table joins that read them as of the stream record's time
//! (KIP-889, KIP-914, KIP-923), against research §9, computed by hand from Kafka's
//! `RocksDBVersionedStore` and `KStreamKTableJoinProcessor`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kstreams_dsl::prelude::*;
use kstreams_test::TopologyTestDriver;

fn s(x: &str) -> String {
    x.to_string()
}

fn joined(
    left: bool,
    grace: Option<Duration>,
    history: Duration,
) -> kstreams_core::Result<TopologyTestDriver> {
    let mut b = StreamsBuilder::new();
    let table = b.table(
        "table",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_("versions").versioned(history),
    );
    let stream = b.stream("stream", Consumed::with(StringSerde, StringSerde));
    let mut options = Joined::with(StringSerde, StringSerde, StringSerde);
    if let Some(g) = grace {
        options = options.with_grace_period(g);
    }
    let out = if left {
        stream.left_join_table_with(
            &table,
            |_k, v, t| format!("{v}+{}", t.map_or("null", |t| t.as_str())),
            options,
        )
    } else {
        stream.join_table_with(&table, |_k, v, t| format!("{v}+{t}"), options)
    };
    out.to("out", Produced::with(StringSerde, StringSerde));
    TopologyTestDriver::new(b.build()?)
}

fn read(driver: &TopologyTestDriver) -> Vec<(String, i64)> {
    driver
        .output_topic("out", StringSerde, StringSerde)
        .read_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect()
}

/// Research §9, history retention 10 s: each stream record joins the version valid at its
/// timestamp; an update older than the history is rejected; a lookup older than the history
/// sees only the latest version.
#[test]
fn a_stream_table_join_reads_a_versioned_table_as_of_each_record() {
    for left in [false, true] {
        let driver = joined(left, None, Duration::from_secs(10)).unwrap();
        let table = driver.input_topic("table", StringSerde, StringSerde);
        let stream = driver.input_topic("stream", StringSerde, StringSerde);
        table.pipe(s("k"), s("a"), 1_000).unwrap();
        table.pipe(s("k"), s("b"), 5_000).unwrap();
        table.pipe(s("k"), s("c"), 3_000).unwrap(); // out of order: valid in [3 000, 5 000)
        stream.pipe(s("k"), s("x"), 4_000).unwrap();
        stream.pipe(s("k"), s("y"), 6_000).unwrap(); // a plain table would give c: it overwrote b
        stream.pipe(s("k"), s("z"), 500).unwrap(); // no version yet at 500
        table.pipe(s("k"), s("d"), 20_000).unwrap();
        table.pipe(s("k"), s("e"), 9_000).unwrap(); // older than 20 000 − 10 000: rejected
        stream.pipe(s("k"), s("w"), 8_000).unwrap(); // before the history: latest (20 000) only
        stream.pipe(s("k"), s("v"), 25_000).unwrap();
        let mut want = vec![(s("x+c"), 4_000), (s("y+b"), 6_000)];
        if left {
            want.push((s("z+null"), 500));
        }
        want.push(if left { (s("w+null"), 8_000) } else { (s("v+d"), 25_000) });
        if left {
            want.push((s("v+d"), 25_000));
        }
        assert_eq!(read(&driver), want, "left join: {left}");
        // The table's store is queried for its latest values.
        let latest = driver.with_store::<ReadOnlyKeyValueStore<String, String>, _>("versions", |_, st| {
            st.get_with_timestamp(&s("k")).unwrap()
        });
        assert_eq!(latest, vec![Some((s("d"), 20_000))]);
        assert_eq!(driver.metrics().dropped_records, 1, "the rejected update");
    }
}

/// Kafka's `KStreamKTableJoinTest.shouldDelayJoinByGracePeriod` and
/// `shouldHandleLateJoinsWithGracePeriod` (grace 2 ms): stream records wait until the buffer's
/// time is 2 ms past them, so a table update arriving meanwhile is seen; a record already that
/// late joins at once.
#[test]
fn a_grace_period_delays_the_join_until_out_of_order_table_updates_arrived() {
    let driver = joined(false, Some(Duration::from_millis(2)), Duration::from_secs(10)).unwrap();
    let table = driver.input_topic("table", StringSerde, StringSerde);
    let stream = driver.input_topic("stream", StringSerde, StringSerde);
    table.pipe(s("k"), s("A"), 0).unwrap();
    for ts in 0..4 {
        stream.pipe(s("k"), format!("s{ts}"), ts).unwrap();
    }
    assert_eq!(read(&driver), vec![(s("s0+A"), 0), (s("s1+A"), 1)]);
    table.pipe(s("k"), s("B"), 2).unwrap();
    stream.pipe(s("k"), s("s7"), 7).unwrap();
    assert_eq!(read(&driver), vec![(s("s2+B"), 2), (s("s3+B"), 3)]);
    stream.pipe(s("k"), s("s4"), 4).unwrap(); // 4 < 7 − 2: not buffered, joined now
    assert_eq!(read(&driver), vec![(s("s4+B"), 4)]);
    stream.pipe(s("k"), s("s9"), 9).unwrap();
    assert_eq!(read(&driver), vec![(s("s7+B"), 7)]);
}

#[test]
fn a_grace_period_needs_a_versioned_table_with_enough_history() {
    let err =
        joined(false, Some(Duration::from_secs(20)), Duration::from_secs(10)).err().unwrap().to_string();
    assert!(err.contains("history retention"), "{err}");
    let mut b = StreamsBuilder::new();
    let table = b.table("t", Consumed::with(StringSerde, StringSerde), Materialized::as_("t"));
    b.stream("s", Consumed::with(StringSerde, StringSerde))
        .join_table_with(
            &table,
            |_k, v, t| format!("{v}{t}"),
            Joined::default().with_grace_period(Duration::from_secs(1)),
        )
        .to("out", Produced::default());
    let err = b.build().err().unwrap().to_string();
    assert!(err.contains("must be versioned"), "{err}");
}

/// Table-table joins read a versioned table's latest values.
#[test]
fn table_table_joins_read_a_versioned_tables_latest_values() {
    let mut b = StreamsBuilder::new();
    let v = b.table(
        "v",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_("v").versioned(Duration::from_secs(60)),
    );
    let t = b.table("t", Consumed::with(StringSerde, StringSerde), Materialized::as_("t"));
    t.join(&v, |_k, a, b| format!("{a}{b}")).to_stream().to("out", Produced::with(StringSerde, StringSerde));
    let driver = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    driver.input_topic("v", StringSerde, StringSerde).pipe(s("k"), s("2"), 2_000).unwrap();
    driver.input_topic("v", StringSerde, StringSerde).pipe(s("k"), s("1"), 1_000).unwrap(); // older: kept as history
    driver.input_topic("t", StringSerde, StringSerde).pipe(s("k"), s("x"), 3_000).unwrap();
    assert_eq!(read(&driver), vec![(s("x2"), 3_000)]);
}
