package io.timelyconnect.bridge;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.Config;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigValue;
import org.apache.kafka.common.metrics.PluginMetrics;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.source.SourceConnector;
import org.apache.kafka.connect.source.SourceConnectorContext;
import org.apache.kafka.connect.storage.OffsetStorageReader;

/** A Java SourceConnector and the context we give it. */
final class ConnectorHost implements SourceConnectorContext {
    final SourceConnector connector;
    final ClassLoader loader;
    final String plugin;
    volatile boolean reconfigurationRequested;
    volatile Exception raised;
    private final OffsetReader reader = new OffsetReader();

    ConnectorHost(SourceConnector connector, ClassLoader loader, String plugin) {
        this.connector = connector;
        this.loader = loader;
        this.plugin = plugin;
        connector.initialize(this);
    }

    @Override
    public void requestTaskReconfiguration() {
        reconfigurationRequested = true;
    }

    @Override
    public void raiseError(Exception e) {
        raised = e;
    }

    @Override
    public PluginMetrics pluginMetrics() {
        return null;
    }

    @Override
    public OffsetStorageReader offsetStorageReader() {
        return reader;
    }

    /** name, type, default (or none), importance, documentation, group, order: one row per key. */
    void configDef(Out out) {
        ConfigDef def = connector.config();
        Map<String, ConfigDef.ConfigKey> keys = def == null ? Map.of() : def.configKeys();
        out.varint(keys.size());
        for (ConfigDef.ConfigKey k : keys.values()) {
            out.str(k.name);
            out.str(k.type.name());
            if (k.defaultValue == ConfigDef.NO_DEFAULT_VALUE) {
                out.u8(0);
            } else {
                out.u8(1);
                out.optStr(k.defaultValue == null ? null : ConfigDef.convertToString(k.defaultValue, k.type));
            }
            out.str(k.importance == null ? "LOW" : k.importance.name());
            out.optStr(k.documentation);
            out.optStr(k.group);
            out.i32(k.orderInGroup);
        }
    }

    void validate(Map<String, String> props, Out out) {
        Config config = connector.validate(props);
        List<String[]> issues = new ArrayList<>();
        if (config != null) {
            for (ConfigValue v : config.configValues()) {
                for (String m : v.errorMessages()) {
                    issues.add(new String[] {v.name(), m});
                }
            }
        }
        out.varint(issues.size());
        for (String[] i : issues) {
            out.str(i[0]);
            out.str(i[1]);
        }
    }

    void taskConfigs(int maxTasks, Out out) {
        Class<? extends Task> taskClass = connector.taskClass();
        List<Map<String, String>> configs = connector.taskConfigs(maxTasks);
        if (configs == null) {
            configs = List.of();
        }
        out.str(taskClass == null ? "" : taskClass.getName());
        out.varint(configs.size());
        for (Map<String, String> c : configs) {
            Map<String, String> withClass = new HashMap<>(c == null ? Map.of() : c);
            // What Kafka's worker adds to every task config.
            if (taskClass != null) {
                withClass.put("task.class", taskClass.getName());
            }
            Codec.stringMap(out, withClass);
        }
    }
}
