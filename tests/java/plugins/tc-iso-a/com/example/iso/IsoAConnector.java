package com.example.iso;

import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.source.SourceConnector;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

/** Emits one record naming the version of com.example.iso.Lib its plugin ships. */
public class IsoAConnector extends SourceConnector {
    public static class IsoTask extends SourceTask {
        private boolean sent;

        @Override
        public String version() {
            return Lib.version();
        }

        @Override
        public void start(Map<String, String> props) {}

        @Override
        public List<SourceRecord> poll() throws InterruptedException {
            if (sent) {
                Thread.sleep(50);
                return null;
            }
            sent = true;
            return List.of(new SourceRecord(Map.of("plugin", "a"), Map.of("sent", 1), "iso", Schema.STRING_SCHEMA,
                    "IsoAConnector sees " + Lib.version()));
        }

        @Override
        public void stop() {}
    }

    @Override
    public String version() {
        return Lib.version();
    }

    @Override
    public void start(Map<String, String> props) {}

    @Override
    public Class<? extends Task> taskClass() {
        return IsoTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        return List.of(Map.of());
    }

    @Override
    public void stop() {}

    @Override
    public ConfigDef config() {
        return new ConfigDef();
    }
}
