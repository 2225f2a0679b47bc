//! Unit tests of the configuration.

use super::*;

fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn base() -> Vec<(&'static str, &'static str)> {
    vec![("application.id", "app"), ("bootstrap.servers", "127.0.0.1:9092")]
}

fn err_key(pairs: &[(&str, &str)]) -> String {
    let mut all = base();
    all.extend_from_slice(pairs);
    let e = StreamsConfig::from_properties(&props(&all)).unwrap_err();
    e.config_key().unwrap_or_else(|| panic!("not a config error: {e}")).to_string()
}

#[test]
fn defaults_follow_kafka_streams() {
    let c = StreamsConfig::from_properties(&props(&base())).unwrap();
    assert_eq!(c.application_id(), "app");
    assert_eq!(c.num_stream_threads(), 1);
    assert_eq!(c.processing_guarantee(), ProcessingGuarantee::AtLeastOnce);
    assert_eq!(c.commit_interval(), Duration::from_secs(30));
    assert_eq!(c.cache_max_bytes(), 10 * 1024 * 1024);
    assert_eq!(c.max_task_idle(), Duration::ZERO);
    assert_eq!(c.task_timeout(), Duration::from_secs(300));
    assert_eq!(
        c.event_time(),
        &kstreams_core::EventTimeConfig { max_future_ms: Some(3_600_000), ..Default::default() },
        "the core's defaults, and timestamps an hour ahead of the wall clock are implausible (the broker's default)"
    );
    assert_eq!(c.watermark_interval(), Duration::from_millis(200));
    assert_eq!(c.max_skew_ms(), 60_000);
    assert!(c.client_id().starts_with("app-"));
    assert!(matches!(c.deserialization_handler(), DeserializationHandler::Fail));
    assert!(matches!(c.processing_handler(), ProcessingHandler::Fail));
    assert_eq!(c.production_handler(), &ProductionHandler::Fail);
}

#[test]
fn the_production_handler_has_two_names_and_the_future_guard_can_be_turned_off() {
    let with = |pairs: &[(&str, &str)]| {
        let mut all = base();
        all.extend_from_slice(pairs);
        StreamsConfig::from_properties(&props(&all)).unwrap()
    };
    let c = with(&[("default.production.exception.handler", "dead_letter:refused")]);
    assert_eq!(c.production_handler(), &ProductionHandler::DeadLetter { topic: "refused".into() });
    let c = with(&[("production.exception.handler", "log_and_continue")]);
    assert_eq!(c.production_handler(), &ProductionHandler::LogAndContinue);
    let c = with(&[
        ("production.exception.handler", "log_and_fail"),
        ("default.production.exception.handler", "log_and_fail"),
    ]);
    assert_eq!(c.production_handler(), &ProductionHandler::Fail);
    assert_eq!(
        err_key(&[
            ("production.exception.handler", "log_and_fail"),
            ("default.production.exception.handler", "log_and_continue")
        ]),
        "production.exception.handler",
        "two names that disagree"
    );
    assert_eq!(err_key(&[("production.exception.handler", "retry")]), "production.exception.handler");
    assert_eq!(
        err_key(&[("default.production.exception.handler", "dead_letter:a b")]),
        "default.production.exception.handler"
    );
    assert_eq!(with(&[("event.time.max.future.ms", "0")]).event_time().max_future_ms, None);
    assert_eq!(with(&[("event.time.max.future.ms", "60000")]).event_time().max_future_ms, Some(60_000));
    assert_eq!(err_key(&[("event.time.max.future.ms", "-1")]), "event.time.max.future.ms");
    let b = StreamsConfig::builder("app", "127.0.0.1:9092")
        .production_handler("log_and_continue")
        .event_time_max_future(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(
        (b.production_handler(), b.event_time().max_future_ms),
        (&ProductionHandler::LogAndContinue, Some(60_000))
    );
}

#[test]
fn settings_that_would_void_the_guarantees_are_refused() {
    for (key, value) in [
        ("producer.enable.idempotence", "false"),
        ("enable.idempotence", "false"),
        ("producer.acks", "1"),
        ("acks", "0"),
        ("producer.request.required.acks", "1"),
        ("producer.max.in.flight.requests.per.connection", "6"),
        ("producer.max.in.flight", "100"),
        ("producer.retries", "0"),
    ] {
        assert_eq!(err_key(&[(key, value)]), key, "{key}={value}");
        let mut all = base();
        all.push((key, value));
        let msg = StreamsConfig::from_properties(&props(&all)).unwrap_err().to_string();
        assert!(msg.contains("guarantee") || msg.contains("idempotent"), "{key}: {msg}");
    }
    let mut all = base();
    all.extend_from_slice(&[
        ("producer.acks", "all"),
        ("producer.enable.idempotence", "true"),
        ("producer.max.in.flight.requests.per.connection", "5"),
        ("consumer.acks", "1"),
    ]);
    assert!(StreamsConfig::from_properties(&props(&all)).is_ok(), "settings that keep the guarantees pass");
}

#[test]
fn every_named_setting_is_parsed() {
    let mut all = base();
    all.extend_from_slice(&[
        ("num.stream.threads", "3"),
        ("state.dir", "/var/lib/ks"),
        ("processing.guarantee", "exactly_once_v2"),
        ("commit.interval.ms", "250"),
        ("statestore.cache.max.bytes", "0"),
        ("application.server", "localhost:8080"),
        ("default.deserialization.exception.handler", "dead_letter:bad-input"),
        ("max.task.idle.ms", "500"),
        ("client.id", "me"),
        ("task.timeout.ms", "1000"),
        ("event.time.watermarks", "false"),
        ("event.time.idle.ms", "5000"),
        ("event.time.watermark.interval.ms", "50"),
        ("event.time.max.skew.ms", "0"),
    ]);
    let c = StreamsConfig::from_properties(&props(&all)).unwrap();
    assert_eq!(c.num_stream_threads(), 3);
    assert_eq!(c.state_dir(), Path::new("/var/lib/ks"));
    assert_eq!(c.processing_guarantee(), ProcessingGuarantee::ExactlyOnceV2);
    assert_eq!(c.commit_interval(), Duration::from_millis(250));
    assert_eq!(c.cache_max_bytes(), 0);
    assert_eq!(c.application_server(), Some("localhost:8080"));
    assert!(
        matches!(c.deserialization_handler(), DeserializationHandler::DeadLetter { topic } if topic == "bad-input")
    );
    assert_eq!(c.max_task_idle(), Duration::from_millis(500));
    assert_eq!(c.client_id(), "me");
    assert_eq!(c.task_timeout(), Duration::from_secs(1));
    assert_eq!(
        c.event_time(),
        &kstreams_core::EventTimeConfig { watermarks: false, idle_ms: 5000, max_future_ms: Some(3_600_000) }
    );
    assert_eq!(c.watermark_interval(), Duration::from_millis(50));
    assert_eq!(c.max_skew_ms(), 0);
}

#[test]
fn typed_builder_matches_properties() {
    let c = StreamsConfig::builder("app", "b:1")
        .num_stream_threads(2)
        .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
        .commit_interval(Duration::from_millis(10))
        .deserialization_handler("fail")
        .client_setting(ClientKind::Consumer, "fetch.wait.max.ms", "10")
        .build()
        .unwrap();
    assert_eq!(c.num_stream_threads(), 2);
    assert_eq!(c.commit_interval(), Duration::from_millis(10));
    assert!(matches!(c.deserialization_handler(), DeserializationHandler::Fail));
    assert_eq!(
        c.client_overrides(ClientKind::Consumer).collect::<Vec<_>>(),
        vec![("fetch.wait.max.ms", "10")]
    );
    assert_eq!(c.client_overrides(ClientKind::Producer).count(), 0);
}

#[test]
fn prefixed_settings_go_to_one_client_and_bare_ones_to_all() {
    let mut all = base();
    all.extend_from_slice(&[
        ("producer.linger.ms", "5"),
        ("admin.request.timeout.ms", "1000"),
        ("socket.timeout.ms", "7000"),
    ]);
    let c = StreamsConfig::from_properties(&props(&all)).unwrap();
    let producer: Vec<_> = c.client_overrides(ClientKind::Producer).collect();
    assert_eq!(producer, vec![("linger.ms", "5"), ("socket.timeout.ms", "7000")]);
    let admin: Vec<_> = c.client_overrides(ClientKind::Admin).collect();
    assert_eq!(admin, vec![("request.timeout.ms", "1000"), ("socket.timeout.ms", "7000")]);
    let consumer: Vec<_> = c.client_overrides(ClientKind::Consumer).collect();
    assert_eq!(consumer, vec![("socket.timeout.ms", "7000")]);
}

#[test]
fn invalid_values_name_their_key() {
    assert_eq!(
        StreamsConfig::from_properties(&props(&[("bootstrap.servers", "x")])).unwrap_err().config_key(),
        Some("application.id")
    );
    assert_eq!(err_key(&[("processing.guarantee", "exactly_once")]), "processing.guarantee");
    assert_eq!(err_key(&[("num.stream.threads", "0")]), "num.stream.threads");
    assert_eq!(err_key(&[("num.stream.threads", "two")]), "num.stream.threads");
    assert_eq!(err_key(&[("commit.interval.ms", "-5")]), "commit.interval.ms");
    assert_eq!(err_key(&[("cache.max.bytes", "lots")]), "cache.max.bytes");
    assert_eq!(err_key(&[("application.server", "nohost")]), "application.server");
    assert_eq!(err_key(&[("processing.exception.handler", "retry")]), "processing.exception.handler");
    assert_eq!(
        err_key(&[("processing.exception.handler", "dead_letter:a b")]),
        "processing.exception.handler"
    );
    assert_eq!(
        err_key(&[("default.deserialization.exception.handler", "ignore")]),
        "default.deserialization.exception.handler"
    );
    assert_eq!(
        err_key(&[("default.deserialization.exception.handler", "dead_letter:")]),
        "default.deserialization.exception.handler"
    );
    assert_eq!(err_key(&[("max.task.idle.ms", "soon")]), "max.task.idle.ms");
    assert_eq!(err_key(&[("event.time.watermarks", "yes")]), "event.time.watermarks");
    assert_eq!(err_key(&[("event.time.idle.ms", "0")]), "event.time.idle.ms");
    assert_eq!(err_key(&[("event.time.watermark.interval.ms", "0")]), "event.time.watermark.interval.ms");
    assert_eq!(err_key(&[("event.time.max.skew.ms", "-1")]), "event.time.max.skew.ms");
    assert_eq!(err_key(&[("task.timeout.ms", "never")]), "task.timeout.ms");
    assert_eq!(err_key(&[("consumer.no.such.setting", "1")]), "consumer.no.such.setting");
    assert_eq!(err_key(&[("producer.linger.ms", "not-a-number")]), "producer.linger.ms");
    assert_eq!(err_key(&[("consumer.group.id", "other")]), "consumer.group.id");
    assert_eq!(err_key(&[("application.id", "has space")]), "application.id");
    assert_eq!(err_key(&[("state.dir", " ")]), "state.dir");
}

#[test]
fn store_memory_settings_are_parsed_and_checked() {
    let c = StreamsConfig::from_properties(&props(&base())).unwrap();
    assert_eq!((c.rocksdb_block_cache_bytes(), c.rocksdb_write_buffer_bytes()), (None, None));
    let c = StreamsConfig::builder("app", "127.0.0.1:9092")
        .rocksdb_block_cache_bytes(8 << 20)
        .rocksdb_write_buffer_bytes(1 << 20)
        .cache_max_bytes(0)
        .build()
        .unwrap();
    assert_eq!(c.rocksdb_block_cache_bytes(), Some(8 << 20));
    assert_eq!(c.rocksdb_write_buffer_bytes(), Some(1 << 20));
    assert_eq!(c.cache_max_bytes(), 0);
    assert!(c.client_overrides(ClientKind::Consumer).all(|(k, _)| !k.starts_with("rocksdb.")));
    assert_eq!(err_key(&[("rocksdb.block.cache.bytes", "-1")]), "rocksdb.block.cache.bytes");
    assert_eq!(err_key(&[("rocksdb.write.buffer.bytes", "1000")]), "rocksdb.write.buffer.bytes");
    assert_eq!(err_key(&[("cache.max.bytes", "lots")]), "cache.max.bytes");
}

#[test]
fn error_message_names_key_and_value() {
    let mut all = base();
    all.push(("processing.guarantee", "sometimes"));
    let msg = StreamsConfig::from_properties(&props(&all)).unwrap_err().to_string();
    assert!(msg.contains("processing.guarantee") && msg.contains("sometimes"), "{msg}");
}
