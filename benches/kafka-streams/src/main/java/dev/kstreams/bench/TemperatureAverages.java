// The temperature-average topology of kstreams' examples/common/mod.rs (`temperature_averages`
// and `window_average`) on Apache Kafka Streams 4.2.2, for benchmarks on the same broker.
//
// Build (from the repository root):
//   mvn -q -B -f benches/kafka-streams/pom.xml package dependency:copy-dependencies -DincludeScope=runtime
// Run:
//   java -cp 'benches/kafka-streams/target/classes:benches/kafka-streams/target/dependency/*' \
//       dev.kstreams.bench.TemperatureAverages --bootstrap HOST:PORT --application-id ID [flags]
// (`--help` lists the flags; benches/kafka-streams/README.md describes them.)
package dev.kstreams.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.Suppressed.BufferConfig;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.WindowStore;

/** Per-sensor one-minute windowed temperature statistics, as kstreams' example computes them. */
public final class TemperatureAverages {
    static final String USAGE = """
            usage: TemperatureAverages --bootstrap HOST:PORT --application-id ID [flags]
              --input TOPIC            input topic (default eventos_sensores)
              --output TOPIC           output topic (default sensor-averages)
              --guarantee G            at_least_once (default) or exactly_once_v2
              --threads N              num.stream.threads (default 1)
              --commit-ms N            commit.interval.ms (default: Kafka Streams' own,
                                       30000 at_least_once, 100 exactly_once_v2)
              --state-dir DIR          state.dir (default: Kafka Streams' own)
              --emit final|update      final (default): one record per closed window
                                       (suppress until the window closes); update: every
                                       change of a window (as far as the cache lets through)
              --cache-bytes N          statestore.cache.max.bytes (default: Kafka Streams'
                                       own, 10485760)
              --config KEY=VALUE       any other StreamsConfig/client property; repeatable;
                                       applied last, so it overrides the flags above
              --create-topics N        first create the input and output topics with N
                                       partitions and retention.ms=-1 where missing
                                       (default 0: create none)
              --close-timeout-ms N     how long close() may take (default 30000)
              --exit-on-stdin-eof B    true (default): stop when standard input reaches EOF;
                                       false: only SIGTERM/SIGINT stop it
            Prints `STATE <NEW_STATE> <epoch ms>` on each state change and
            `ERROR <message>` (then exits 1) when a stream thread dies.
            """;

    static final Set<String> FLAGS = Set.of(
            "bootstrap", "application-id", "input", "output", "guarantee", "threads", "commit-ms",
            "state-dir", "emit", "cache-bytes", "config", "create-topics", "close-timeout-ms",
            "exit-on-stdin-eof");

    static final Duration WINDOW = Duration.ofSeconds(60);
    static final Duration GRACE = Duration.ofSeconds(10);
    /** How long closed windows stay in the store (kstreams' QUERYABLE_FOR). */
    static final Duration RETENTION = Duration.ofHours(1);

    private TemperatureAverages() {}

    // ---------------------------------------------------------------- records and their serdes

    /** One JSON mapper for everything; the fast double parser and writer are Jackson's own. */
    static final ObjectMapper JSON = JsonMapper.builder(JsonFactory.builder()
                    .enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER)
                    .enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER)
                    .build())
            // As strict as serde_json reading kstreams' `Reading`: every field present, numbers
            // as numbers; unknown fields are ignored (serde's default).
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .build();

    /** A reading as the seed's producer sends it: {"sensor_id": 7, "temperatura": 21.4, "timestamp": 1764115200.53}. */
    @JsonPropertyOrder({"sensor_id", "temperatura", "timestamp"})
    record Reading(
            @JsonProperty("sensor_id") int sensorId,
            @JsonProperty("temperatura") double temperatura,
            @JsonProperty("timestamp") double timestamp) {}

    /** One window's result, exactly the fields of kstreams' `WindowAverage`, in its order. */
    @JsonPropertyOrder({"sensor_id", "window_start", "window_end", "avg", "count", "min", "max"})
    record WindowAverage(
            @JsonProperty("sensor_id") int sensorId,
            @JsonProperty("window_start") long windowStart,
            @JsonProperty("window_end") long windowEnd,
            @JsonProperty("avg") double avg,
            @JsonProperty("count") long count,
            @JsonProperty("min") double min,
            @JsonProperty("max") double max) {}

    /** Count, sum, min and max of the temperatures of one sensor and window. */
    record Stats(long count, double sum, double min, double max) {
        static final Stats EMPTY = new Stats(0, 0.0, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY);

        Stats add(double x) {
            return new Stats(count + 1, sum + x, Math.min(min, x), Math.max(max, x));
        }
    }

    /** JSON readings; a record that is no reading fails with a SerializationException. */
    static Serde<Reading> readingSerde() {
        Serializer<Reading> ser = (topic, r) -> {
            if (r == null) {
                return null;
            }
            try {
                return JSON.writeValueAsBytes(r);
            } catch (IOException e) {
                throw new SerializationException("cannot write a reading", e);
            }
        };
        Deserializer<Reading> de = (topic, data) -> {
            if (data == null) {
                return null;
            }
            Reading r;
            try {
                r = JSON.readValue(data, Reading.class);
            } catch (IOException e) {
                throw new SerializationException("not a reading: " + e.getMessage(), e);
            }
            if (r.sensorId() < 0) { // kstreams' sensor_id is a u32
                throw new SerializationException("not a reading: negative sensor_id " + r.sensorId());
            }
            return r;
        };
        return Serdes.serdeFrom(ser, de);
    }

    /** Stats in 32 bytes: count (i64), sum, min, max (f64), big-endian. */
    static Serde<Stats> statsSerde() {
        Serializer<Stats> ser = (topic, s) -> s == null ? null
                : ByteBuffer.allocate(32).putLong(s.count()).putDouble(s.sum()).putDouble(s.min())
                        .putDouble(s.max()).array();
        Deserializer<Stats> de = (topic, data) -> {
            if (data == null) {
                return null;
            }
            if (data.length != 32) {
                throw new SerializationException("stats need 32 bytes, not " + data.length);
            }
            ByteBuffer b = ByteBuffer.wrap(data);
            return new Stats(b.getLong(), b.getDouble(), b.getDouble(), b.getDouble());
        };
        return Serdes.serdeFrom(ser, de);
    }

    /** Event time: the reading's `timestamp` (seconds, float) in milliseconds. */
    public static final class ReadingTimestamp implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            if (record.value() instanceof Reading r) {
                return Math.round(r.timestamp() * 1000.0);
            }
            return -1; // a null value: Kafka Streams logs and drops records with a negative time
        }
    }

    static String json(WindowAverage w) {
        try {
            return JSON.writeValueAsString(w);
        } catch (IOException e) {
            throw new SerializationException("cannot write a window average", e);
        }
    }

    // ---------------------------------------------------------------------------- the topology

    /**
     * Unkeyed readings → keyed by sensor_id (through the `readings-by-sensor` repartition
     * topic) → 60 s tumbling windows with 10 s grace → count/sum/min/max per sensor and window
     * (RocksDB store `temperature-stats`, kept one hour) → one JSON record per closed window
     * (or per update), keyed by the sensor id as text.
     */
    static Topology topology(String input, String output, boolean emitFinal) {
        Serde<Reading> readings = readingSerde();
        StreamsBuilder b = new StreamsBuilder();
        KTable<Windowed<Integer>, Stats> stats = b
                .stream(input, Consumed.with(Serdes.ByteArray(), readings)
                        .withTimestampExtractor(new ReadingTimestamp()))
                .filter((k, r) -> r != null && Double.isFinite(r.temperatura()))
                .selectKey((k, r) -> r.sensorId())
                .groupByKey(Grouped.with("readings-by-sensor", Serdes.Integer(), readings))
                .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, GRACE))
                .aggregate(
                        () -> Stats.EMPTY,
                        (sensor, r, acc) -> acc.add(r.temperatura()),
                        Materialized.<Integer, Stats, WindowStore<Bytes, byte[]>>as("temperature-stats")
                                .withKeySerde(Serdes.Integer())
                                .withValueSerde(statsSerde())
                                .withRetention(RETENTION));
        if (emitFinal) {
            stats = stats.suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()));
        }
        stats.toStream()
                .map((w, s) -> KeyValue.pair(
                        String.valueOf(w.key()),
                        json(new WindowAverage(w.key(), w.window().start(), w.window().end(),
                                s.sum() / s.count(), s.count(), s.min(), s.max()))))
                .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    // ------------------------------------------------------------------------------ the program

    /**
     * Creates the topics that are missing, with {@code partitions} partitions each, the
     * broker's default replication factor and retention.ms=-1: the seed's event times (and so
     * the output records' timestamps, which are event times) may be older than the broker's
     * default 7-day retention, which would delete them within seconds.
     */
    static void createTopics(String bootstrap, List<String> topics, int partitions) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            for (String t : topics) {
                try {
                    NewTopic nt = new NewTopic(t, Optional.of(partitions), Optional.empty())
                            .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1"));
                    admin.createTopics(List.of(nt)).all().get(60, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
        }
    }

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static String oneLine(Throwable e) {
        StringBuilder sb = new StringBuilder(String.valueOf(e.getMessage() != null ? e.getMessage() : e.toString()));
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root != e) {
            sb.append(" (caused by ").append(root).append(')');
        }
        return sb.toString().replace('\n', ' ').replace('\r', ' ');
    }

    public static void main(String[] args) throws Exception {
        Flags f = Flags.parse(args, FLAGS, Set.of("config"), USAGE);
        String bootstrap = f.required("bootstrap");
        String appId = f.required("application-id");
        String input = f.get("input", "eventos_sensores");
        String output = f.get("output", "sensor-averages");
        String guarantee = f.oneOf("guarantee", StreamsConfig.AT_LEAST_ONCE,
                StreamsConfig.AT_LEAST_ONCE, StreamsConfig.EXACTLY_ONCE_V2);
        boolean emitFinal = f.oneOf("emit", "final", "final", "update").equals("final");
        Duration closeTimeout = Duration.ofMillis(f.getLong("close-timeout-ms", 30_000));
        boolean exitOnEof = f.getBoolean("exit-on-stdin-eof", true);
        int createPartitions = f.getInt("create-topics", 0);

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, f.getInt("threads", 1));
        props.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG,
                LogAndContinueExceptionHandler.class);
        if (f.get("commit-ms") != null) {
            props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, f.getLong("commit-ms", 0));
        }
        if (f.get("state-dir") != null) {
            props.put(StreamsConfig.STATE_DIR_CONFIG, f.get("state-dir"));
        }
        if (f.get("cache-bytes") != null) {
            props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, f.getLong("cache-bytes", 0));
        }
        for (String kv : f.all("config")) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                f.fail("--config needs KEY=VALUE, not " + kv);
            }
            props.put(kv.substring(0, eq), kv.substring(eq + 1));
        }

        if (createPartitions > 0) {
            createTopics(bootstrap, List.of(input, output), createPartitions);
        }

        Topology topology = topology(input, output, emitFinal);
        KafkaStreams streams = new KafkaStreams(topology, props);

        CountDownLatch stop = new CountDownLatch(1); // something asked us to stop
        CountDownLatch closed = new CountDownLatch(1); // close() has returned
        AtomicInteger exitCode = new AtomicInteger(0);

        streams.setStateListener((now, before) -> {
            say("STATE " + now + " " + System.currentTimeMillis());
            if (now == KafkaStreams.State.ERROR) {
                exitCode.compareAndSet(0, 1);
                stop.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            say("ERROR " + oneLine(e));
            exitCode.compareAndSet(0, 1);
            // The client shuts itself down (PENDING_ERROR, then ERROR, which stops main).
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

        // SIGTERM/SIGINT: let main close the client, then end with its exit code (a JVM ended
        // by a signal would otherwise exit 143). Also runs, and returns at once, when main
        // calls System.exit itself.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop.countDown();
            try {
                closed.await(closeTimeout.toMillis() + 10_000, TimeUnit.MILLISECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            System.out.flush();
            Runtime.getRuntime().halt(exitCode.get());
        }, "shutdown-hook"));

        if (exitOnEof) {
            Thread stdin = new Thread(() -> {
                byte[] buf = new byte[256];
                try (InputStream in = System.in) {
                    while (in.read(buf) >= 0) {
                        // discard
                    }
                } catch (IOException ignored) {
                    // closed or broken: stop all the same
                }
                stop.countDown();
            }, "stdin-eof");
            stdin.setDaemon(true);
            stdin.start();
        }

        streams.start();
        stop.await();
        boolean done = streams.close(CloseOptions
                .groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                .withTimeout(closeTimeout));
        if (!done) {
            System.err.println("close() did not finish within " + closeTimeout.toMillis() + " ms");
            exitCode.compareAndSet(0, 3);
        }
        System.out.flush();
        closed.countDown();
        System.exit(exitCode.get());
    }
}
