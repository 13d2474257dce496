package io.timelyconnect.bridge;

import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.metrics.PluginMetrics;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;
import org.apache.kafka.connect.source.SourceTaskContext;
import org.apache.kafka.connect.storage.OffsetStorageReader;

/**
 * A Java SourceTask and its context. Each non-empty poll's records are
 * kept until Rust says a durable snapshot covers that poll; only then are
 * they given to commitRecord, in order, followed by commit().
 */
final class TaskHost implements SourceTaskContext {
    final SourceTask task;
    final ClassLoader loader;
    final String context;
    private Map<String, String> configs = Map.of();
    private OffsetReader reader = new OffsetReader();
    private final RecordEncoder encoder = new RecordEncoder();
    private final ArrayDeque<List<SourceRecord>> uncommitted = new ArrayDeque<>();
    private long sequence;
    /** Whether the task overrides commitRecord: only then are records kept until durable. */
    private final boolean keepsRecords;

    final java.util.concurrent.atomic.AtomicBoolean stopped = new java.util.concurrent.atomic.AtomicBoolean();

    TaskHost(SourceTask task, ClassLoader loader, String context) {
        this.task = task;
        this.loader = loader;
        this.context = context;
        this.keepsRecords = overrides(task.getClass(), "commitRecord", SourceRecord.class, RecordMetadata.class)
                || overrides(task.getClass(), "commitRecord", SourceRecord.class);
    }

    /** Whether {@code type} or a superclass below SourceTask declares the method. */
    private static boolean overrides(Class<?> type, String name, Class<?>... params) {
        for (Class<?> c = type; c != null && c != SourceTask.class; c = c.getSuperclass()) {
            try {
                c.getDeclaredMethod(name, params);
                return true;
            } catch (NoSuchMethodException e) {
                // Look further up.
            }
        }
        return false;
    }

    @Override
    public Map<String, String> configs() {
        return configs;
    }

    @Override
    public OffsetStorageReader offsetStorageReader() {
        return reader;
    }

    @Override
    public PluginMetrics pluginMetrics() {
        return null;
    }

    void start(Map<String, String> configs, OffsetReader reader) {
        this.configs = configs;
        this.reader = reader;
        task.initialize(this);
        task.start(configs);
    }

    /** One poll's records, encoded; null when there are none. */
    byte[] poll() throws InterruptedException {
        List<SourceRecord> records = task.poll();
        if (records == null || records.isEmpty()) {
            return null;
        }
        byte[] batch = encoder.encode(records);
        if (keepsRecords) {
            synchronized (uncommitted) {
                uncommitted.addLast(records);
            }
        }
        return batch;
    }

    /**
     * The first {@code polls} kept polls are durable, with the offsets
     * {@code in} holds: update the reader, acknowledge their records, then
     * commit.
     */
    void commit(long polls, In in) throws InterruptedException {
        reader.update(in);
        for (long i = 0; i < polls; i++) {
            List<SourceRecord> durable;
            synchronized (uncommitted) {
                durable = uncommitted.pollFirst();
            }
            if (durable == null) {
                break;
            }
            for (SourceRecord r : durable) {
                TopicPartition tp = new TopicPartition(r.topic() == null ? "" : r.topic(),
                        r.kafkaPartition() == null ? 0 : r.kafkaPartition());
                long ts = r.timestamp() == null ? -1L : r.timestamp();
                task.commitRecord(r, new RecordMetadata(tp, sequence++, 0, ts, -1, -1));
            }
        }
        task.commit();
    }
}
