package com.example.tc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.source.SourceConnector;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

/**
 * Reads the names listed in `names.file`; its task emits `count` records
 * per name. When the file changes, it asks for task reconfiguration, as a
 * JDBC connector does when a table appears; when it says "boom", it raises
 * an error through its context.
 */
public class ReconfiguringSourceConnector extends SourceConnector {
    private Map<String, String> props;
    private volatile String names;
    private volatile boolean running;
    private Thread monitor;

    static String read(String file) {
        try {
            return String.join(",", Files.readAllLines(Path.of(file))).trim();
        } catch (IOException e) {
            throw new ConnectException("cannot read " + file, e);
        }
    }

    @Override
    public String version() {
        return "1.0-test";
    }

    @Override
    public void start(Map<String, String> props) {
        this.props = props;
        String file = props.get("names.file");
        names = read(file);
        running = true;
        monitor = new Thread(() -> {
            while (running) {
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
                String now = read(file);
                if (now.contains("boom")) {
                    context().raiseError(new ConnectException("the names file says boom"));
                    return;
                }
                if (!now.equals(names)) {
                    // As a JDBC connector does: note what changed, ask for
                    // new task configs, keep watching.
                    names = now;
                    context().requestTaskReconfiguration();
                }
            }
        }, "names-monitor");
        monitor.setDaemon(true);
        monitor.start();
    }

    @Override
    public Class<? extends Task> taskClass() {
        return NamesTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        Map<String, String> c = new java.util.HashMap<>(props);
        c.put("names", names);
        return List.of(c);
    }

    @Override
    public void stop() {
        running = false;
        if (monitor != null) {
            monitor.interrupt();
        }
    }

    @Override
    public ConfigDef config() {
        return new ConfigDef()
                .define("names.file", ConfigDef.Type.STRING, ConfigDef.Importance.HIGH, "File of names, one a line.")
                .define("count", ConfigDef.Type.INT, 3, ConfigDef.Importance.LOW, "Records per name.");
    }

    /** Emits `count` records per name, resuming from its offsets. */
    public static class NamesTask extends SourceTask {
        private final List<String> pending = new ArrayList<>();

        @Override
        public String version() {
            return "1.0-test";
        }

        @Override
        public void start(Map<String, String> props) {
            int count = Integer.parseInt(props.getOrDefault("count", "3"));
            for (String name : props.get("names").split(",")) {
                if (name.isEmpty()) {
                    continue;
                }
                Map<String, Object> offset = context.offsetStorageReader().offset(Map.of("name", name));
                long from = offset == null ? 0 : (Long) offset.get("i") + 1;
                for (long i = from; i < count; i++) {
                    pending.add(name + "-" + i);
                }
            }
        }

        @Override
        public List<SourceRecord> poll() throws InterruptedException {
            if (pending.isEmpty()) {
                Thread.sleep(50);
                return null;
            }
            String v = pending.remove(0);
            String name = v.substring(0, v.lastIndexOf('-'));
            long i = Long.parseLong(v.substring(v.lastIndexOf('-') + 1));
            return List.of(new SourceRecord(Map.of("name", name), Map.of("i", i), "names", Schema.STRING_SCHEMA, v));
        }

        @Override
        public void stop() {}
    }
}
