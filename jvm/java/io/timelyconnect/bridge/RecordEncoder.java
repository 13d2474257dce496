package io.timelyconnect.bridge;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Date;
import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Time;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.source.SourceRecord;

/**
 * Writes one poll's records as one byte array. Source partitions, topics
 * and schemas are interned for the task's life: each is written in full
 * once, then by number (a reference is 0 for none, 1 when a definition
 * follows, else 2 + the number; numbers count definitions in the order
 * they end, so a schema's children come before it). When a table grows past {@link #MAX_INTERNED} the tables are
 * reset at the start of the next batch, so a connector that builds a new
 * schema per record cannot grow them without bound.
 *
 * Value tags: 0 null, 1 int8, 2 int16, 3 int32, 4 int64, 5 float32,
 * 6 float64, 7 boolean, 8 string, 9 bytes, 10 array, 11 map, 12 struct.
 */
final class RecordEncoder {
    static final int MAX_INTERNED = 4096;

    private final Map<Map<String, ?>, Integer> partitions = new HashMap<>();
    private final Map<String, Integer> topics = new HashMap<>();
    private final IdentityHashMap<Schema, Integer> schemas = new IdentityHashMap<>();
    /** The last partition seen and its number: connectors often repeat one. */
    private Map<String, ?> lastPartition;
    private int lastPartitionId;
    /** UTF-8 of offset keys (usually one constant string per connector), by identity. */
    private final IdentityHashMap<String, byte[]> keyBytes = new IdentityHashMap<>();
    /** The size of the last batch, to size the next one's buffer. */
    private int lastSize = 4096;

    byte[] encode(List<SourceRecord> records) {
        Out out = new Out(lastSize + lastSize / 8);
        boolean reset = partitions.size() > MAX_INTERNED || topics.size() > MAX_INTERNED
                || schemas.size() > MAX_INTERNED || keyBytes.size() > MAX_INTERNED;
        if (reset) {
            partitions.clear();
            topics.clear();
            schemas.clear();
            keyBytes.clear();
            lastPartition = null;
        }
        out.u8(reset ? 1 : 0);
        out.varint(records.size());
        for (SourceRecord r : records) {
            record(out, r);
        }
        byte[] batch = out.toArray();
        lastSize = batch.length;
        return batch;
    }

    private void record(Out out, SourceRecord r) {
        Map<String, ?> partition = r.sourcePartition();
        if (partition == null) {
            out.varint(0);
        } else if (partition == lastPartition || partition.equals(lastPartition)) {
            out.varint(lastPartitionId + 2);
        } else {
            Integer id = partitions.get(partition);
            if (id != null) {
                out.varint(id + 2);
            } else {
                out.varint(1);
                Codec.offsetMap(out, partition);
                id = partitions.size();
                partitions.put(partition, id);
            }
            lastPartition = partition;
            lastPartitionId = id;
        }
        offset(out, r.sourceOffset());
        String topic = r.topic();
        if (topic == null) {
            out.varint(0);
        } else {
            Integer id = topics.get(topic);
            if (id != null) {
                out.varint(id + 2);
            } else {
                out.varint(1);
                out.str(topic);
                topics.put(topic, topics.size());
            }
        }
        Integer kp = r.kafkaPartition();
        if (kp == null) {
            out.u8(0);
        } else {
            out.u8(1);
            out.i32(kp);
        }
        schemaRef(out, r.keySchema());
        value(out, r.keySchema(), r.key());
        schemaRef(out, r.valueSchema());
        value(out, r.valueSchema(), r.value());
        Long ts = r.timestamp();
        if (ts == null) {
            out.u8(0);
        } else {
            out.u8(1);
            out.i64(ts);
        }
        int n = r.headers() == null ? 0 : r.headers().size();
        out.varint(n);
        if (n > 0) {
            for (Header h : r.headers()) {
                out.str(h.key());
                schemaRef(out, h.schema());
                value(out, h.schema(), h.value());
            }
        }
    }

    /** As {@link Codec#offsetValue}, with each key's UTF-8 computed once. */
    private void offset(Out out, Map<String, ?> offset) {
        if (offset == null) {
            out.u8(0);
            return;
        }
        out.u8(6);
        out.varint(offset.size());
        for (Map.Entry<String, ?> e : offset.entrySet()) {
            String k = e.getKey();
            if (k == null) {
                throw new IllegalArgumentException("a source offset has a null key");
            }
            byte[] b = keyBytes.get(k);
            if (b == null) {
                b = k.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                keyBytes.put(k, b);
            }
            out.bytes(b);
            Codec.offsetValue(out, e.getValue());
        }
    }

    private void schemaRef(Out out, Schema s) {
        if (s == null) {
            out.varint(0);
            return;
        }
        Integer id = schemas.get(s);
        if (id != null) {
            out.varint(id + 2);
            return;
        }
        out.varint(1);
        schemaBody(out, s);
        schemas.put(s, schemas.size());
    }

    private void schemaBody(Out out, Schema s) {
        out.u8(s.type().ordinal());
        out.u8(s.isOptional() ? 1 : 0);
        out.optStr(s.name());
        if (s.version() == null) {
            out.u8(0);
        } else {
            out.u8(1);
            out.i32(s.version());
        }
        out.optStr(s.doc());
        Map<String, String> params = s.parameters();
        if (params == null) {
            out.varint(0);
        } else {
            out.varint(params.size());
            for (Map.Entry<String, String> e : params.entrySet()) {
                out.str(e.getKey());
                out.str(e.getValue() == null ? "" : e.getValue());
            }
        }
        switch (s.type()) {
            case STRUCT:
                out.varint(s.fields().size());
                for (Field f : s.fields()) {
                    out.str(f.name());
                    schemaRef(out, f.schema());
                }
                break;
            case ARRAY:
                schemaRef(out, s.valueSchema());
                break;
            case MAP:
                schemaRef(out, s.keySchema());
                schemaRef(out, s.valueSchema());
                break;
            default:
                break;
        }
        // A struct default would refer to the schema being defined; Kafka
        // connectors do not use them and they are not carried.
        Object def = s.type() == Schema.Type.STRUCT ? null : s.defaultValue();
        if (def == null) {
            out.u8(0);
        } else {
            out.u8(1);
            value(out, s, def);
        }
    }

    private void value(Out out, Schema s, Object v) {
        if (v == null) {
            out.u8(0);
            return;
        }
        if (s != null && s.name() != null) {
            switch (s.name()) {
                case Decimal.LOGICAL_NAME:
                    if (v instanceof BigDecimal) {
                        out.u8(9);
                        out.bytes(((BigDecimal) v).unscaledValue().toByteArray());
                        return;
                    }
                    break;
                case Date.LOGICAL_NAME:
                    if (v instanceof java.util.Date) {
                        out.u8(3);
                        out.i32((int) Math.floorDiv(((java.util.Date) v).getTime(), 86_400_000L));
                        return;
                    }
                    break;
                case Time.LOGICAL_NAME:
                    if (v instanceof java.util.Date) {
                        out.u8(3);
                        out.i32((int) ((java.util.Date) v).getTime());
                        return;
                    }
                    break;
                case Timestamp.LOGICAL_NAME:
                    if (v instanceof java.util.Date) {
                        out.u8(4);
                        out.i64(((java.util.Date) v).getTime());
                        return;
                    }
                    break;
                default:
                    break;
            }
        }
        if (v instanceof String) {
            out.u8(8);
            out.str((String) v);
        } else if (v instanceof Long) {
            out.u8(4);
            out.i64((Long) v);
        } else if (v instanceof Integer) {
            out.u8(3);
            out.i32((Integer) v);
        } else if (v instanceof Struct) {
            Struct st = (Struct) v;
            out.u8(12);
            schemaRef(out, st.schema());
            for (Field f : st.schema().fields()) {
                value(out, f.schema(), st.getWithoutDefault(f.name()));
            }
        } else if (v instanceof Short) {
            out.u8(2);
            out.i32((Short) v);
        } else if (v instanceof Byte) {
            out.u8(1);
            out.i32((Byte) v);
        } else if (v instanceof Double) {
            out.u8(6);
            out.i64(Double.doubleToRawLongBits((Double) v));
        } else if (v instanceof Float) {
            out.u8(5);
            out.i32(Float.floatToRawIntBits((Float) v));
        } else if (v instanceof Boolean) {
            out.u8(7);
            out.u8((Boolean) v ? 1 : 0);
        } else if (v instanceof byte[]) {
            out.u8(9);
            out.bytes((byte[]) v);
        } else if (v instanceof ByteBuffer) {
            ByteBuffer b = ((ByteBuffer) v).duplicate();
            byte[] copy = new byte[b.remaining()];
            b.get(copy);
            out.u8(9);
            out.bytes(copy);
        } else if (v instanceof List) {
            List<?> l = (List<?>) v;
            Schema item = s == null ? null : s.valueSchema();
            out.u8(10);
            out.varint(l.size());
            for (Object o : l) {
                value(out, item, o);
            }
        } else if (v instanceof Map) {
            Map<?, ?> m = (Map<?, ?>) v;
            Schema ks = s == null ? null : s.keySchema();
            Schema vs = s == null ? null : s.valueSchema();
            out.u8(11);
            out.varint(m.size());
            for (Map.Entry<?, ?> e : m.entrySet()) {
                value(out, ks, e.getKey());
                value(out, vs, e.getValue());
            }
        } else {
            throw new IllegalArgumentException("a record holds a value of class " + v.getClass().getName()
                    + (s == null ? " without a schema" : " for schema " + s.type() + (s.name() == null ? "" : " " + s.name()))
                    + ", which the Connect data model does not have");
        }
    }
}
