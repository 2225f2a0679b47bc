// Writes seed-shaped sensor readings to a topic, to feed TemperatureAverages (or kstreams'
// example) in tests and benchmarks.
//
// Build (from the repository root):
//   mvn -q -B -f benches/kafka-streams/pom.xml package dependency:copy-dependencies -DincludeScope=runtime
// Run:
//   java -cp 'benches/kafka-streams/target/classes:benches/kafka-streams/target/dependency/*' \
//       dev.kstreams.bench.ProduceReadings --bootstrap HOST:PORT [flags]
package dev.kstreams.bench;

import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.IntegerSerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * For i = 0..readings-1 and each sensor s = 1..sensors, in that order: the reading
 * {"sensor_id": s, "temperatura": 20 + s + 0.5 * (i % 12), "timestamp": start + i * interval}
 * (seconds); then, unless --close-after-s is 0, one closing reading per sensor that much
 * event time after the last one, so every window of the readings closes. With the defaults
 * (start on a minute, 5 s apart) window k of sensor s holds readings 12k..12k+11: count 12,
 * min 20+s, max 25.5+s, avg 22.75+s, all exact in binary.
 */
public final class ProduceReadings {
    static final String USAGE = """
            usage: ProduceReadings --bootstrap HOST:PORT [flags]
              --topic TOPIC            (default eventos_sensores)
              --sensors S              sensor ids 1..S (default 4)
              --readings N             readings per sensor (default 24: two minutes)
              --start SECONDS          event time of the first reading (default 1764115200.0)
              --interval-s SECONDS     event time between a sensor's readings (default 5)
              --close-after-s SECONDS  closing readings this long after the last ones
                                       (default 600; 0: none)
              --closing-delay-ms N     wall-clock wait before the closing readings (default 0)
              --keyed B                false (default): no key, as the seed; true: the sensor
                                       id as key, 4 bytes big-endian
              --create-topic N         first create the topic with N partitions (and
                                       retention.ms=-1) if missing
              --config KEY=VALUE       any producer property; repeatable
            Prints `PRODUCED <records> <elapsed ms>` when all are acknowledged.
            """;

    private ProduceReadings() {}

    static String seconds(long ms) {
        // Like Python's repr of the float: 1764115200.0, 1764115200.53
        String frac = String.format("%03d", Math.floorMod(ms, 1000L)).replaceAll("0+$", "");
        return Math.floorDiv(ms, 1000L) + "." + (frac.isEmpty() ? "0" : frac);
    }

    static String reading(int sensor, double temperatura, long ms) {
        return "{\"sensor_id\": " + sensor + ", \"temperatura\": " + temperatura
                + ", \"timestamp\": " + seconds(ms) + "}";
    }

    public static void main(String[] args) throws Exception {
        Flags f = Flags.parse(args, Set.of("bootstrap", "topic", "sensors", "readings", "start",
                "interval-s", "close-after-s", "closing-delay-ms", "keyed", "create-topic", "config"),
                Set.of("config"), USAGE);
        String bootstrap = f.required("bootstrap");
        String topic = f.get("topic", "eventos_sensores");
        int sensors = f.getInt("sensors", 4);
        long readings = f.getLong("readings", 24);
        long startMs = Math.round(f.getDouble("start", 1764115200.0) * 1000.0);
        long intervalMs = Math.round(f.getDouble("interval-s", 5) * 1000.0);
        long closeAfterMs = Math.round(f.getDouble("close-after-s", 600) * 1000.0);
        long closingDelayMs = f.getLong("closing-delay-ms", 0);
        boolean keyed = f.getBoolean("keyed", false);
        int partitions = f.getInt("create-topic", 0);
        if (partitions > 0) {
            TemperatureAverages.createTopics(bootstrap, List.of(topic), partitions);
        }

        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        for (String kv : f.all("config")) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                f.fail("--config needs KEY=VALUE, not " + kv);
            }
            p.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        long t0 = System.nanoTime();
        long sent = 0;
        // Keys as Serdes.Integer() writes them (and kstreams' U32Serde for non-negative ids).
        IntegerSerializer keys = new IntegerSerializer();
        try (KafkaProducer<byte[], String> producer =
                new KafkaProducer<>(p, new ByteArraySerializer(), new StringSerializer())) {
            long lastMs = startMs;
            for (long i = 0; i < readings; i++) {
                long ms = startMs + i * intervalMs;
                lastMs = ms;
                for (int s = 1; s <= sensors; s++) {
                    double t = 20 + s + 0.5 * (i % 12);
                    producer.send(new ProducerRecord<>(topic, keyed ? keys.serialize(topic, s) : null,
                            reading(s, t, ms)));
                    sent++;
                }
            }
            producer.flush();
            if (closeAfterMs > 0) {
                if (closingDelayMs > 0) {
                    Thread.sleep(closingDelayMs);
                }
                for (int s = 1; s <= sensors; s++) {
                    producer.send(new ProducerRecord<>(topic, keyed ? keys.serialize(topic, s) : null,
                            reading(s, 20 + s, lastMs + closeAfterMs)));
                    sent++;
                }
            }
            producer.flush();
        }
        System.out.println("PRODUCED " + sent + " " + (System.nanoTime() - t0) / 1_000_000);
    }
}
