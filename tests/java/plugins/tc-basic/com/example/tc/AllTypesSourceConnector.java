package com.example.tc;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.source.SourceConnector;

/** Emits `count` records whose values use every type of the Connect data model. */
public class AllTypesSourceConnector extends SourceConnector {
    private Map<String, String> props;

    @Override
    public String version() {
        return "1.0-test";
    }

    @Override
    public void start(Map<String, String> props) {
        this.props = props;
    }

    @Override
    public Class<? extends Task> taskClass() {
        return AllTypesSourceTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> configs = new ArrayList<>();
        configs.add(props);
        return configs;
    }

    @Override
    public void stop() {}

    @Override
    public ConfigDef config() {
        return new ConfigDef()
                .define("count", ConfigDef.Type.INT, 10, ConfigDef.Importance.HIGH, "How many records.")
                .define("topic", ConfigDef.Type.STRING, "all-types", ConfigDef.Importance.LOW, "Topic.")
                .define("expected.file", ConfigDef.Type.STRING, ConfigDef.Importance.HIGH,
                        "Where Kafka's JsonConverter's bytes of each value are written, one per line.");
    }
}
