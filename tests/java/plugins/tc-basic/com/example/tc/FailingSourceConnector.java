package com.example.tc;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.source.SourceConnector;

/** Fails where `fail.in` says: start (with `fail.kind` config or connect), taskConfigs, or too-many-tasks. */
public class FailingSourceConnector extends SourceConnector {
    private Map<String, String> props;

    @Override
    public String version() {
        return "1.0-test";
    }

    @Override
    public void start(Map<String, String> props) {
        this.props = props;
        if ("start".equals(props.get("fail.in"))) {
            if ("config".equals(props.get("fail.kind"))) {
                throw new ConfigException("mode", props.get("mode"), "must be one of fast, slow");
            }
            throw new ConnectException("cannot reach the source",
                    new java.io.IOException("connection refused: db.example:5432"));
        }
    }

    @Override
    public Class<? extends Task> taskClass() {
        return RetriableSourceTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        if ("taskConfigs".equals(props.get("fail.in"))) {
            throw new IllegalStateException("no tables to read");
        }
        List<Map<String, String>> configs = new ArrayList<>();
        int tasks = Integer.parseInt(props.getOrDefault("tasks", "1"));
        int n = "too-many-tasks".equals(props.get("fail.in")) ? maxTasks + 1 : Math.min(tasks, maxTasks);
        for (int i = 0; i < n; i++) {
            Map<String, String> c = new java.util.HashMap<>(props);
            c.put("task.index", Integer.toString(i));
            configs.add(c);
        }
        return configs;
    }

    @Override
    public void stop() {}

    @Override
    public ConfigDef config() {
        return new ConfigDef()
                .define("fail.in", ConfigDef.Type.STRING, "none", ConfigDef.Importance.HIGH, "Where to fail.")
                .define("fail.kind", ConfigDef.Type.STRING, "connect", ConfigDef.Importance.LOW, "config or connect.")
                .define("mode", ConfigDef.Type.STRING, "fast", ConfigDef.Importance.LOW, "A key to name.")
                .define("failures", ConfigDef.Type.INT, 0, ConfigDef.Importance.LOW, "Retriable failures of poll.")
                .define("count", ConfigDef.Type.INT, 5, ConfigDef.Importance.LOW, "Records to emit per task.")
                .define("tasks", ConfigDef.Type.INT, 1, ConfigDef.Importance.LOW, "Tasks wanted.");
    }
}
