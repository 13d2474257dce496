package com.example.tc;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

/** Throws RetriableException from its first `failures` polls, then emits `count` records; `poll.fail=fatal` fails instead. */
public class RetriableSourceTask extends SourceTask {
    private int failures;
    private int count;
    private int polls;
    private int emitted;
    private boolean fatal;
    private String index;

    @Override
    public String version() {
        return "1.0-test";
    }

    @Override
    public void start(Map<String, String> props) {
        failures = Integer.parseInt(props.getOrDefault("failures", "0"));
        count = Integer.parseInt(props.getOrDefault("count", "5"));
        fatal = "poll".equals(props.get("fail.in"));
        index = props.getOrDefault("task.index", "0");
        Map<String, Object> offset = context.offsetStorageReader().offset(Map.of("p", "r" + index));
        if (offset != null) {
            emitted = ((Long) offset.get("n")).intValue() + 1;
        }
    }

    @Override
    public List<SourceRecord> poll() throws InterruptedException {
        polls++;
        if (fatal) {
            throw new ConnectException("poll broke", new IllegalArgumentException("bad row 17"));
        }
        if (polls <= failures) {
            throw new RetriableException("source busy (attempt " + polls + ")");
        }
        if (emitted >= count) {
            Thread.sleep(50);
            return null;
        }
        List<SourceRecord> records = new ArrayList<>();
        records.add(new SourceRecord(Map.of("p", "r" + index), Map.of("n", emitted), "retried", Schema.STRING_SCHEMA,
                "task " + index + " after " + failures + " retries: " + emitted));
        emitted++;
        return records;
    }

    @Override
    public void stop() {}
}
