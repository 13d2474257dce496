package com.example.tc;

import java.io.FileOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Date;
import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Time;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.header.ConnectHeaders;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

public class AllTypesSourceTask extends SourceTask {
    static final Schema INNER = SchemaBuilder.struct().name("com.example.Inner").version(2).doc("nested")
            .field("label", Schema.STRING_SCHEMA)
            .field("weight", Schema.OPTIONAL_FLOAT64_SCHEMA)
            .build();
    static final Schema VALUE = SchemaBuilder.struct().name("com.example.AllTypes").version(7).doc("every type")
            .parameter("origin", "test")
            // Kafka keeps parameters in insertion order, not sorted.
            .parameter("zeta", "added second")
            .parameter("alpha", "added third")
            .field("i8", Schema.INT8_SCHEMA)
            .field("i16", Schema.INT16_SCHEMA)
            .field("i32", Schema.INT32_SCHEMA)
            .field("i64", Schema.INT64_SCHEMA)
            .field("f32", Schema.FLOAT32_SCHEMA)
            .field("f64", Schema.FLOAT64_SCHEMA)
            .field("flag", Schema.BOOLEAN_SCHEMA)
            .field("text", Schema.STRING_SCHEMA)
            .field("blob", Schema.BYTES_SCHEMA)
            .field("tags", SchemaBuilder.array(Schema.STRING_SCHEMA).build())
            .field("counts", SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT32_SCHEMA).build())
            .field("inner", INNER)
            .field("maybe", Schema.OPTIONAL_STRING_SCHEMA)
            .field("dflt", SchemaBuilder.int32().optional().defaultValue(42).build())
            .field("price", Decimal.schema(2))
            .field("day", Date.SCHEMA)
            .field("clock", Time.SCHEMA)
            .field("at", Timestamp.SCHEMA)
            .build();

    private String topic;
    private int count;
    private long next;
    private JsonConverter json;
    private FileOutputStream expected;

    @Override
    public String version() {
        return "1.0-test";
    }

    @Override
    public void start(Map<String, String> props) {
        topic = props.getOrDefault("topic", "all-types");
        count = Integer.parseInt(props.getOrDefault("count", "10"));
        Map<String, Object> offset = context.offsetStorageReader().offset(Map.of("p", "all"));
        if (offset != null) {
            Object seq = offset.get("seq");
            if (!(seq instanceof Long)) {
                throw new ConnectException("restored offset seq is " + (seq == null ? "null" : seq.getClass().getName())
                        + ", not Long as Kafka's offset store gives");
            }
            next = (Long) seq + 1;
        }
        json = new JsonConverter();
        json.configure(Map.of("schemas.enable", "true"), false);
        try {
            expected = new FileOutputStream(props.get("expected.file"), true);
        } catch (IOException e) {
            throw new ConnectException("expected.file", e);
        }
    }

    @Override
    public List<SourceRecord> poll() throws InterruptedException {
        if (next >= count) {
            Thread.sleep(50);
            return null;
        }
        List<SourceRecord> records = new ArrayList<>();
        for (int n = 0; n < 3 && next < count; n++, next++) {
            long i = next;
            Map<String, Integer> counts = new LinkedHashMap<>();
            counts.put("a", (int) i);
            counts.put("b", -1);
            Struct value = new Struct(VALUE)
                    .put("i8", (byte) (i - 100))
                    .put("i16", (short) (i * 300 - 20000))
                    .put("i32", (int) (i * 100000))
                    .put("i64", i * 10_000_000_000L)
                    .put("f32", 1.5f * i)
                    .put("f64", -0.25 * i)
                    .put("flag", i % 2 == 0)
                    .put("text", "caf\u00e9 \"" + i + "\"\n\u2603 \uD83D\uDE00")
                    .put("blob", new byte[] {0, (byte) 255, (byte) i})
                    .put("tags", List.of("x" + i, "y\uD83C\uDF89"))
                    .put("counts", counts)
                    .put("inner", new Struct(INNER).put("label", "in" + i).put("weight", i % 3 == 0 ? null : 0.5 * i))
                    .put("maybe", i % 2 == 0 ? null : "set")
                    .put("price", new BigDecimal(BigDecimal.valueOf(i * 1234 - 5000).toBigInteger(), 2))
                    .put("day", new java.util.Date(86_400_000L * (19_000 + i)))
                    .put("clock", new java.util.Date(3_600_000L + i))
                    .put("at", new java.util.Date(1_700_000_000_000L + i));
            if (i % 4 == 1) {
                value.put("dflt", 7);
            }
            ConnectHeaders headers = new ConnectHeaders();
            headers.addString("source", "all-types");
            headers.addLong("seq", i);
            SourceRecord r = new SourceRecord(Map.of("p", "all"), Map.of("seq", (int) i), topic, (int) (i % 3),
                    Schema.INT64_SCHEMA, i, VALUE, value, 1_700_000_000_000L + i, headers);
            records.add(r);
            byte[] bytes = json.fromConnectData(topic, VALUE, value);
            try {
                expected.write(bytes);
                expected.write('\n');
                expected.flush();
            } catch (IOException e) {
                throw new ConnectException(e);
            }
        }
        return records;
    }

    @Override
    public void stop() {
        try {
            if (expected != null) {
                expected.close();
            }
        } catch (IOException e) {
            // closing a test file
        }
    }
}
