//! The temperature-average application with its HTTP server, on librdkafka's embedded mock
//! cluster and on Apache Kafka: after readings went through, `/metrics` shows the runtime's named metrics and
//! `/sensors/<id>/...` answers every window with the averages computed here independently.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kstreams::http::{install_prometheus_recorder, metrics_router, not_found, HttpServer};
use kstreams::prelude::*;
use kstreams::runtime::{KafkaStreams, State, StreamsConfig};
use kstreams_broker_harness::{unique_name, TestCluster};

use kstreams_example::expected;
use kstreams_example::queries::queries_router;
use kstreams_example::simulator::{Compression, Publish, ReadingProducer, Simulation};
use kstreams_example::{temperature_averages, Reading, TemperatureSettings, WindowAverage};

const T0: f64 = 1_764_115_200.0; // a minute boundary
const SENSORS: u32 = 4;

/// `GET path` → (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = request(addr, path);
    (status, body)
}

/// `GET path` → (status, `Location` header, body).
fn request(addr: SocketAddr, path: &str) -> (u16, Option<String>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let location = head.lines().find_map(|l| l.strip_prefix("Location: ")).map(str::to_string);
    (status, location, body.to_string())
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

/// Starts `streams` on `cluster`, creating its internal topics (through the mock's own API on
/// the mock cluster).
fn start_on(cluster: &TestCluster, streams: &mut KafkaStreams) {
    match cluster.mock() {
        Some(mock) => streams.start_with_topic_creator(mock).unwrap(),
        None => streams.start().unwrap(),
    }
}

/// The Prometheus recorder, installed once for the process (both variants scrape it).
fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| install_prometheus_recorder().unwrap()).clone()
}

#[test]
fn metrics_and_window_queries_are_served_over_http() {
    queries_over_http_on(TestCluster::embedded().unwrap());
}

#[test]
fn metrics_and_window_queries_are_served_over_http_on_kafka() {
    queries_over_http_on(TestCluster::kafka().unwrap_or_else(|e| panic!("{e}")));
}

fn queries_over_http_on(cluster: TestCluster) {
    let handle = prometheus();
    let servers = cluster.bootstrap();
    let settings = TemperatureSettings {
        input_topic: unique_name("eventos_sensores"),
        output_topic: unique_name("sensor-averages"),
        ..TemperatureSettings::default()
    };
    cluster.create_topic(&settings.input_topic, 1).unwrap();
    cluster.create_topic(&settings.output_topic, 3).unwrap();

    // 4 sensors, 24 readings/s at 6× speed: 480 readings span 2 minutes of event time, so
    // both windows are still in the store (retention: window + grace).
    let sim = Simulation { sensors: SENSORS, rate: 24, speedup: 6, epoch: T0 };
    let readings: Vec<Reading> = (0..480).map(|i| sim.reading(i)).collect();
    let want = expected(&readings);
    assert_eq!(want.len(), SENSORS as usize * 2);

    let dir = tempfile::tempdir().unwrap();
    let config = StreamsConfig::builder(unique_name("temperature-averages"), servers.as_str())
        .state_dir(dir.path().join("state"))
        .commit_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut b = StreamsBuilder::new();
    temperature_averages(&mut b, &settings);
    let mut streams = KafkaStreams::new(Arc::new(b.build().unwrap()), config);
    let routes = queries_router(streams.queries(), 60_000).merge(metrics_router(handle)).fallback(not_found);
    let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), routes).unwrap();
    let addr = server.local_addr();
    start_on(&cluster, &mut streams);
    assert_eq!(
        streams.wait_for_state(State::Running, Duration::from_secs(30)),
        State::Running,
        "{:?}",
        streams.error()
    );

    let publish = Publish {
        servers: servers.clone(),
        topic: settings.input_topic.clone(),
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

/// A free loopback address (bound and released: the port is free a moment later).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `GET path` → (status, `Location` header).
fn get_location(addr: SocketAddr, path: &str) -> (u16, Option<String>) {
    let (status, location, _) = request(addr, path);
    (status, location)
}

/// Two instances, each serving HTTP at its `application.server`: the one that does not host
/// a sensor's window task redirects to the one that does, which answers.
#[test]
fn an_instance_redirects_a_query_to_the_instance_hosting_the_sensor() {
    redirects_on(TestCluster::embedded().unwrap());
}

#[test]
fn an_instance_redirects_a_query_to_the_instance_hosting_the_sensor_on_kafka() {
    redirects_on(TestCluster::kafka().unwrap_or_else(|e| panic!("{e}")));
}

fn redirects_on(cluster: TestCluster) {
    let servers = cluster.bootstrap();
    let settings = TemperatureSettings {
        input_topic: unique_name("eventos_sensores"),
        output_topic: unique_name("sensor-averages"),
        ..TemperatureSettings::default()
    };
    // One input partition: one window task, so exactly one instance hosts every sensor.
    cluster.create_topic(&settings.input_topic, 1).unwrap();
    cluster.create_topic(&settings.output_topic, 1).unwrap();
    let app = unique_name("redirects");
    let dir = tempfile::tempdir().unwrap();
    let instance = |name: &str| {
        let addr = free_addr();
        let config = StreamsConfig::builder(app.as_str(), servers.as_str())
            .state_dir(dir.path().join(name))
            .commit_interval(Duration::from_millis(200))
            .application_server(addr.to_string())
            .set("consumer.session.timeout.ms", "6000")
            .set("consumer.heartbeat.interval.ms", "500")
            .build()
            .unwrap();
        let mut b = StreamsBuilder::new();
        temperature_averages(&mut b, &settings);
        let mut streams = KafkaStreams::new(Arc::new(b.build().unwrap()), config);
        let routes = queries_router(streams.queries(), 60_000).fallback(not_found);
        let server = HttpServer::start(addr, routes).unwrap();
        start_on(&cluster, &mut streams);
        (streams, server, addr)
    };
    let (mut a, _server_a, addr_a) = instance("a");
    let (mut b, _server_b, addr_b) = instance("b");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Both running, the window task (sub-topology 1) on one of them, and announced.
    let outcome = loop {
        let both_running = a.state() == State::Running && b.state() == State::Running;
        let answers = [get_location(addr_a, "/sensors/1/latest"), get_location(addr_b, "/sensors/1/latest")];
        if both_running && answers.iter().any(|(s, _)| *s == 307) {
            break answers;
        }
        assert!(Instant::now() < deadline, "no redirect: {answers:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (host, other) = if outcome[0].0 == 307 { (addr_b, &outcome[0]) } else { (addr_a, &outcome[1]) };
    assert_eq!(other.1.as_deref(), Some(format!("http://{host}/sensors/1/latest").as_str()));
    // The hosting instance answers itself: 404 "no window" until a reading arrives, never 307.
    let (status, _) = get_location(host, "/sensors/1/latest");
    assert_eq!(status, 404);
    let (status, location) =
        get_location(if host == addr_a { addr_b } else { addr_a }, "/sensors/1/windows?from=0&to=5");
    assert_eq!((status, location), (307, Some(format!("http://{host}/sensors/1/windows?from=0&to=5"))));
    a.close().unwrap();
    b.close().unwrap();
}
