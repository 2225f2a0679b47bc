//! The temperature-average application with its HTTP server, on librdkafka's embedded mock
//! cluster: after readings went through, `/metrics` shows the runtime's named metrics and
//! `/sensors/<id>/...` answers every window with the averages computed here independently.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams::http::{install_prometheus_recorder, metrics_handler, HttpServer};
use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, State, StreamsConfig};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "expected/mod.rs"]
mod expected;
use common::queries::queries_handler;
use common::simulator::{Compression, Publish, ReadingProducer, Simulation};
use common::{temperature_averages, Reading, TemperatureSettings, WindowAverage};

const T0: f64 = 1_764_115_200.0; // a minute boundary
const SENSORS: u32 = 4;

/// `GET path` → (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn expected(readings: &[Reading]) -> BTreeMap<(u32, i64), WindowAverage> {
    expected::window_averages(readings, None)
}

fn assert_close(g: &WindowAverage, w: &WindowAverage) {
    assert_eq!(
        (g.sensor_id, g.window_start, g.window_end, g.count),
        (w.sensor_id, w.window_start, w.window_end, w.count)
    );
    assert!((g.avg - w.avg).abs() < 1e-9 && g.min == w.min && g.max == w.max, "{g:?} vs {w:?}");
}

#[test]
fn metrics_and_window_queries_are_served_over_http() {
    let handle = install_prometheus_recorder().unwrap();
    let cluster = MockCluster::<DefaultProducerContext>::new(1).unwrap();
    let servers = cluster.bootstrap_servers();
    cluster.create_topic("eventos_sensores", 1, 1).unwrap();
    cluster.create_topic("sensor-averages", 3, 1).unwrap();

    // 4 sensors, 24 readings/s at 6× speed: 480 readings span 2 minutes of event time, so
    // both windows are still in the store (retention: window + grace).
    let sim = Simulation { sensors: SENSORS, rate: 24, speedup: 6, epoch: T0 };
    let readings: Vec<Reading> = (0..480).map(|i| sim.reading(i)).collect();
    let want = expected(&readings);
    assert_eq!(want.len(), SENSORS as usize * 2);

    let dir = tempfile::tempdir().unwrap();
    let config = StreamsConfig::builder("temperature-averages", servers.as_str())
        .state_dir(dir.path().join("state"))
        .commit_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, &TemperatureSettings::default());
    let mut streams = KafkaStreams::new(Arc::new(b.build().unwrap()), config);
    let handler = queries_handler(streams.queries(), 60_000, metrics_handler(handle));
    let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), handler).unwrap();
    let addr = server.local_addr();
    streams.start_with_topic_creator(&cluster).unwrap();
    assert_eq!(
        streams.wait_for_state(State::Running, Duration::from_secs(30)),
        State::Running,
        "{:?}",
        streams.error()
    );

    let publish = Publish {
        servers: servers.clone(),
        topic: "eventos_sensores".into(),
        keyed: false,
        compression: Compression::None,
    };
    let producer = ReadingProducer::new(publish).unwrap();
    for r in &readings {
        producer.send(r).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    // Every sensor's windows, over HTTP, until all readings are counted.
    let all = |sensor: u32| -> Vec<WindowAverage> {
        let (status, body) = get(addr, &format!("/sensors/{sensor}/windows?from=0&to={}", i64::MAX));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let counted = || (0..SENSORS).flat_map(all).map(|w| w.count).sum::<u64>();
    while counted() < readings.len() as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    for sensor in 0..SENSORS {
        let got = all(sensor);
        let mine: Vec<&WindowAverage> = want.values().filter(|w| w.sensor_id == sensor).collect();
        assert_eq!(got.len(), mine.len(), "sensor {sensor}: {got:?}");
        for (g, w) in got.iter().zip(mine) {
            assert_close(g, w);
        }
        let (status, body) = get(addr, &format!("/sensors/{sensor}/latest"));
        assert_eq!(status, 200, "{body}");
        let latest: WindowAverage = serde_json::from_str(&body).unwrap();
        assert_close(&latest, want.values().rfind(|w| w.sensor_id == sensor).unwrap());
    }
    // A range holding only the first minute.
    let first = T0 as i64 * 1000;
    let (status, body) = get(addr, &format!("/sensors/1/windows?from={first}&to={}", first + 59_999));
    assert_eq!(status, 200, "{body}");
    let ranged: Vec<WindowAverage> = serde_json::from_str(&body).unwrap();
    assert_eq!(ranged.len(), 1);
    assert_close(&ranged[0], &want[&(1, first)]);

    // Unknown sensors, bad input.
    assert_eq!(get(addr, "/sensors/999/latest").0, 404);
    assert_eq!(get(addr, "/sensors/999/windows").1, "[]");
    let (status, body) = get(addr, "/sensors/seven/latest");
    assert_eq!(status, 400);
    assert!(body.contains("sensor id"), "{body}");
    let (status, body) = get(addr, "/sensors/1/windows?from=10&to=5");
    assert_eq!(status, 400);
    assert!(body.contains("after"), "{body}");
    assert_eq!(get(addr, "/sensors/1/windows?from=x").0, 400);
    assert_eq!(get(addr, "/sensors/1/nothing").0, 404);

    // The runtime's named metrics, scraped from the same server.
    let (status, metrics) = get(addr, "/metrics");
    assert_eq!(status, 200);
    for name in [
        "kstreams_records_consumed_total",
        "kstreams_records_produced_total",
        "kstreams_rebalances_total",
        "kstreams_active_tasks",
        "kstreams_commit_latency_seconds",
        "kstreams_store_entries",
    ] {
        assert!(metrics.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{metrics}");
    }
    let consumed: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("kstreams_records_consumed_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // Each reading is consumed twice: from the input topic and from the repartition topic.
    assert!(consumed >= 2.0 * readings.len() as f64, "consumed {consumed}:\n{metrics}");

    server.stop();
    streams.close().unwrap();
}
