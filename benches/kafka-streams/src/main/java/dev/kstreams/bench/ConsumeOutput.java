// Prints every record of a topic, from the beginning, as `key<TAB>value` lines, until no
// record has come for --idle-ms (or --max records were read); to check what the topology wrote.
//
// Build (from the repository root):
//   mvn -q -B -f benches/kafka-streams/pom.xml package dependency:copy-dependencies -DincludeScope=runtime
// Run:
//   java -cp 'benches/kafka-streams/target/classes:benches/kafka-streams/target/dependency/*' \
//       dev.kstreams.bench.ConsumeOutput --bootstrap HOST:PORT --topic sensor-averages
package dev.kstreams.bench;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Reads a topic with no consumer group (all partitions assigned, from the start). */
public final class ConsumeOutput {
    static final String USAGE = """
            usage: ConsumeOutput --bootstrap HOST:PORT [flags]
              --topic TOPIC            (default sensor-averages)
              --isolation LEVEL        read_committed (default) or read_uncommitted
              --idle-ms N              stop after N ms without a record (default 5000)
              --max N                  stop after N records (default 0: no limit)
            Prints `key<TAB>value` per record, then `CONSUMED <records>` on stderr.
            """;

    private ConsumeOutput() {}

    public static void main(String[] args) throws Exception {
        Flags f = Flags.parse(args, Set.of("bootstrap", "topic", "isolation", "idle-ms", "max"),
                Set.of(), USAGE);
        String topic = f.get("topic", "sensor-averages");
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, f.required("bootstrap"));
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                f.oneOf("isolation", "read_committed", "read_committed", "read_uncommitted"));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        long idleMs = f.getLong("idle-ms", 5000);
        long max = f.getLong("max", 0);
        long n = 0;
        try (KafkaConsumer<String, String> c =
                new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                tps.add(new TopicPartition(topic, pi.partition()));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            long last = System.currentTimeMillis();
            while (System.currentTimeMillis() - last < idleMs && (max == 0 || n < max)) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    System.out.println(r.key() + "\t" + r.value());
                    n++;
                    last = System.currentTimeMillis();
                }
            }
        }
        System.out.flush();
        System.err.println("CONSUMED " + n);
    }
}
