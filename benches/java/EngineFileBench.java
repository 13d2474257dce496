import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.ChangeEvent;
import io.debezium.embedded.Connect;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.connect.source.SourceRecord;

/**
 * The baseline of benches/java_bridge.sh: Debezium's embedded engine runs
 * Kafka's FileStreamSourceConnector (the same jar the bridge runs) over a
 * file until it has handed over `lines` records, each batch marked
 * processed as a Debezium Server sink does. Prints `first_ms total_ms`:
 * from start to the first record, and to the last.
 */
public class EngineFileBench {
    public static void main(String[] args) throws Exception {
        String file = args[0];
        long lines = Long.parseLong(args[1]);
        Properties props = new Properties();
        props.setProperty("name", "engine-bench");
        props.setProperty("connector.class", "org.apache.kafka.connect.file.FileStreamSourceConnector");
        props.setProperty("file", file);
        props.setProperty("topic", "lines");
        props.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
        props.setProperty("offset.flush.interval.ms", "1000");
        AtomicLong seen = new AtomicLong();
        AtomicLong first = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        long start = System.nanoTime();
        DebeziumEngine<ChangeEvent<SourceRecord, SourceRecord>> engine = DebeziumEngine.create(Connect.class)
                .using(props)
                .notifying((List<ChangeEvent<SourceRecord, SourceRecord>> batch,
                        DebeziumEngine.RecordCommitter<ChangeEvent<SourceRecord, SourceRecord>> committer) -> {
                    if (first.get() == 0) {
                        first.set(System.nanoTime());
                    }
                    for (ChangeEvent<SourceRecord, SourceRecord> r : batch) {
                        committer.markProcessed(r);
                    }
                    committer.markBatchFinished();
                    if (seen.addAndGet(batch.size()) >= lines) {
                        done.countDown();
                    }
                })
                .build();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        executor.execute(engine);
        done.await();
        long end = System.nanoTime();
        System.out.println((first.get() - start) / 1_000_000 + " " + (end - start) / 1_000_000);
        engine.close();
        executor.shutdown();
        executor.awaitTermination(10, TimeUnit.SECONDS);
        System.exit(0);
    }
}
