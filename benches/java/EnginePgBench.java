import io.debezium.embedded.Connect;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import java.io.FileInputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.source.SourceRecord;

/**
 * The baseline of jvm/benches/debezium_pg.rs: Debezium's PostgresConnector
 * in Debezium's embedded engine (Connect format, batches marked processed)
 * with the properties in args[0], until args[1] change events have arrived.
 * Prints `first_ms last_ms` (from start) and then each event's latency in
 * ms (arrival − `source.ts_ms`, the commit time), one per line.
 */
public class EnginePgBench {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        props.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
        props.setProperty("offset.flush.interval.ms", "1000");
        long want = Long.parseLong(args[1]);
        long start = System.currentTimeMillis();
        long[] first = {0};
        long[] last = {0};
        List<Long> latencies = new ArrayList<>();
        Object done = new Object();
        DebeziumEngine<ChangeEvent<SourceRecord, SourceRecord>> engine = DebeziumEngine.create(Connect.class)
                .using(props)
                .notifying((batch, committer) -> {
                    long now = System.currentTimeMillis();
                    synchronized (done) {
                        for (ChangeEvent<SourceRecord, SourceRecord> e : batch) {
                            Object v = e.value().value();
                            if (v instanceof Struct && ((Struct) v).schema().field("source") != null) {
                                long ts = ((Struct) v).getStruct("source").getInt64("ts_ms");
                                latencies.add(now - ts);
                                if (first[0] == 0) {
                                    first[0] = now;
                                }
                                last[0] = now;
                            }
                            committer.markProcessed(e);
                        }
                        if (latencies.size() >= want) {
                            done.notifyAll();
                        }
                    }
                    committer.markBatchFinished();
                })
                .build();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        executor.execute(engine);
        synchronized (done) {
            while (latencies.size() < want) {
                done.wait(1000);
            }
        }
        StringBuilder out = new StringBuilder();
        out.append(first[0] - start).append(' ').append(last[0] - start).append('\n');
        for (long l : latencies) {
            out.append(l).append('\n');
        }
        System.out.print(out);
        System.out.flush();
        engine.close();
        executor.shutdown();
        executor.awaitTermination(10, TimeUnit.SECONDS);
        System.exit(0);
    }
}
