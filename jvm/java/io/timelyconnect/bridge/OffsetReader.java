package io.timelyconnect.bridge;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.connect.storage.OffsetStorageReader;

/**
 * The offsets of the job's newest durable snapshot, answered the way
 * Kafka's offset store answers them: a partition is looked up by value
 * (after the integer and float widening a JSON round trip does), and
 * integers come back as Long. It starts with the restored offsets and is
 * brought up to date at each commit, as Kafka's store is when offsets are
 * flushed (Debezium's PostgreSQL task acknowledges its slot from what this
 * reader returns).
 */
final class OffsetReader implements OffsetStorageReader {
    private final Map<Object, Map<String, Object>> offsets = new ConcurrentHashMap<>();

    OffsetReader() {}

    OffsetReader(In in) {
        update(in);
    }

    /** Reads `count, (partition map, tagged offset)*` and stores them. */
    void update(In in) {
        int n = (int) in.varint();
        for (int i = 0; i < n; i++) {
            Map<String, Object> partition = Codec.readOffsetMap(in);
            Object offset = Codec.readOffsetValue(in);
            if (offset instanceof Map) {
                @SuppressWarnings("unchecked")
                Map<String, Object> o = (Map<String, Object>) offset;
                offsets.put(Codec.normalize(partition), o);
            }
        }
    }

    @Override
    public <T> Map<String, Object> offset(Map<String, T> partition) {
        if (partition == null) {
            return null;
        }
        Map<String, Object> o = offsets.get(Codec.normalize(partition));
        return o == null ? null : new HashMap<>(o);
    }

    @Override
    public <T> Map<Map<String, T>, Map<String, Object>> offsets(Collection<Map<String, T>> partitions) {
        Map<Map<String, T>, Map<String, Object>> result = new HashMap<>();
        for (Map<String, T> p : partitions) {
            // Kafka's reader has an entry (possibly null) for each partition asked.
            result.put(p, offset(p));
        }
        return result;
    }
}
