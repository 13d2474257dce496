package io.timelyconnect.bridge;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.connect.connector.Connector;
import org.apache.kafka.connect.sink.SinkConnector;
import org.apache.kafka.connect.source.SourceConnector;
import org.apache.kafka.connect.source.SourceTask;

/**
 * The one entry point Rust calls: {@code call(op, handle, argument)}. Every
 * argument and result is a byte array in the bridge's encoding ({@link In},
 * {@link Out}); a result starts with 0 (then the payload) or 1 (then an
 * error: kind, description, config key, extras). Connectors and tasks live
 * in a handle table; plugin code always runs with its plugin's class loader
 * as the thread's context class loader, as under Kafka Connect.
 */
public final class Bridge {
    private Bridge() {}

    static final int LIST = 1;
    static final int CONNECTOR_NEW = 2;
    static final int VALIDATE = 3;
    static final int START = 4;
    static final int TASK_CONFIGS = 5;
    static final int CONNECTOR_STOP = 6;
    static final int TASK_NEW = 7;
    static final int TASK_START = 8;
    static final int POLL = 9;
    static final int COMMIT = 10;
    static final int TASK_STOP = 11;
    static final int RELEASE = 12;
    static final int LOG_TAKE = 13;
    static final int LOG_LEVEL = 14;
    static final int CONNECTOR_STATE = 15;

    private static final Map<Long, Object> HANDLES = new ConcurrentHashMap<>();
    private static final AtomicLong NEXT = new AtomicLong(1);
    private static final byte[] NOTHING = {0, 0};

    public static byte[] call(int op, long handle, byte[] arg) {
        Thread thread = Thread.currentThread();
        ClassLoader saved = thread.getContextClassLoader();
        String savedContext = Log.CONTEXT.get();
        try {
            Out out = new Out(64);
            out.u8(0);
            byte[] batch = dispatch(op, handle, new In(arg), out);
            return batch != null ? batch : out.toArray();
        } catch (Throwable t) {
            return Errors.encode(t);
        } finally {
            thread.setContextClassLoader(saved);
            Log.CONTEXT.set(savedContext);
        }
    }

    private static <T> T get(long handle, Class<T> type) {
        Object o = HANDLES.get(handle);
        if (!type.isInstance(o)) {
            throw new IllegalStateException("bridge: no " + type.getSimpleName() + " with handle " + handle);
        }
        return type.cast(o);
    }

    private static long put(Object o) {
        long h = NEXT.getAndIncrement();
        HANDLES.put(h, o);
        return h;
    }

    private static byte[] dispatch(int op, long handle, In in, Out out) throws Exception {
        switch (op) {
            case LIST: {
                List<String[]> failures = new ArrayList<>();
                List<Plugins.Found> found = Plugins.all(Plugins.readLocations(in), failures);
                out.varint(found.size());
                for (Plugins.Found f : found) {
                    out.str(f.type.getName());
                    out.str(version(f));
                    out.str(f.location);
                    out.u8(SourceConnector.class.isAssignableFrom(f.type) ? 0 : SinkConnector.class.isAssignableFrom(f.type) ? 1 : 2);
                }
                out.varint(failures.size());
                for (String[] e : failures) {
                    out.str(e[0]);
                    out.str(e[1]);
                }
                return null;
            }
            case CONNECTOR_NEW: {
                List<Plugins.Location> locs = Plugins.readLocations(in);
                String name = in.str();
                Plugins.Found f = resolve(locs, name);
                Thread.currentThread().setContextClassLoader(f.loader);
                SourceConnector c = (SourceConnector) f.type.getDeclaredConstructor().newInstance();
                ConnectorHost host = new ConnectorHost(c, f.loader, f.location);
                out.i64(put(host));
                out.str(f.type.getName());
                out.str(String.valueOf(c.version()));
                out.str(f.location);
                host.configDef(out);
                return null;
            }
            case VALIDATE: {
                ConnectorHost h = get(handle, ConnectorHost.class);
                enter(h.loader, in.str());
                h.validate(Codec.readStringMap(in), out);
                return null;
            }
            case START: {
                ConnectorHost h = get(handle, ConnectorHost.class);
                enter(h.loader, in.str());
                h.connector.start(Codec.readStringMap(in));
                return null;
            }
            case TASK_CONFIGS: {
                ConnectorHost h = get(handle, ConnectorHost.class);
                enter(h.loader, in.str());
                h.taskConfigs(in.i32(), out);
                return null;
            }
            case CONNECTOR_STOP: {
                ConnectorHost h = get(handle, ConnectorHost.class);
                enter(h.loader, in.str());
                HANDLES.remove(handle);
                h.connector.stop();
                return null;
            }
            case CONNECTOR_STATE: {
                ConnectorHost h = get(handle, ConnectorHost.class);
                in.str(); // the connector's name, unused
                out.u8(h.reconfigurationRequested ? 1 : 0);
                h.reconfigurationRequested = false;
                Exception e = h.raised;
                out.optStr(e == null ? null : Errors.describe(e));
                return null;
            }
            case TASK_NEW: {
                List<Plugins.Location> locs = Plugins.readLocations(in);
                String connectorClass = in.str();
                String taskClass = in.str();
                String context = in.str();
                Plugins.Found f = resolve(locs, connectorClass);
                enter(f.loader, context);
                Class<?> t = Class.forName(taskClass, true, f.loader);
                if (!SourceTask.class.isAssignableFrom(t)) {
                    throw new Errors.BridgeException("fatal", "task.class " + taskClass + " of " + connectorClass
                            + " is not a org.apache.kafka.connect.source.SourceTask", List.of());
                }
                SourceTask task = (SourceTask) t.getDeclaredConstructor().newInstance();
                out.i64(put(new TaskHost(task, f.loader, context)));
                return null;
            }
            case TASK_START: {
                TaskHost h = get(handle, TaskHost.class);
                enter(h.loader, h.context);
                Map<String, String> config = Codec.readStringMap(in);
                h.start(config, new OffsetReader(in));
                return null;
            }
            case POLL: {
                TaskHost h = get(handle, TaskHost.class);
                enter(h.loader, h.context);
                byte[] batch = h.poll();
                if (batch == null) {
                    return NOTHING;
                }
                // The status byte, a presence byte, then the batch.
                byte[] result = new byte[batch.length + 2];
                result[1] = 1;
                System.arraycopy(batch, 0, result, 2, batch.length);
                return result;
            }
            case COMMIT: {
                TaskHost h = get(handle, TaskHost.class);
                enter(h.loader, h.context);
                h.commit(in.varint(), in);
                return null;
            }
            case TASK_STOP: {
                TaskHost h = get(handle, TaskHost.class);
                enter(h.loader, h.context);
                if (h.stopped.compareAndSet(false, true)) {
                    h.task.stop();
                }
                return null;
            }
            case RELEASE:
                HANDLES.remove(handle);
                return null;
            case LOG_TAKE:
                return concat(Log.take(in.i32()));
            case LOG_LEVEL:
                Log.threshold = in.u8();
                return null;
            default:
                throw new IllegalArgumentException("bridge: unknown operation " + op);
        }
    }

    private static byte[] concat(byte[] payload) {
        byte[] result = new byte[payload.length + 1];
        System.arraycopy(payload, 0, result, 1, payload.length);
        return result;
    }

    private static void enter(ClassLoader loader, String context) {
        Thread.currentThread().setContextClassLoader(loader);
        Log.CONTEXT.set(context);
    }

    private static String version(Plugins.Found f) {
        ClassLoader saved = Thread.currentThread().getContextClassLoader();
        try {
            Thread.currentThread().setContextClassLoader(f.loader);
            Connector c = f.type.getDeclaredConstructor().newInstance();
            return String.valueOf(c.version());
        } catch (Throwable t) {
            return "unknown (" + Errors.describe(t) + ")";
        } finally {
            Thread.currentThread().setContextClassLoader(saved);
        }
    }

    /**
     * The connector class {@code name} names: a full class name, looked up
     * in each plugin and then on the worker's class path, or a simple name
     * (with or without its "Connector" suffix) among the connectors found.
     */
    private static Plugins.Found resolve(List<Plugins.Location> locs, String name) throws Exception {
        Class<?> type = null;
        ClassLoader loader = null;
        String location = null;
        List<String[]> failures = new ArrayList<>();
        if (name.contains(".")) {
            for (Plugins.Location loc : locs) {
                PluginLoader l = Plugins.loader(loc);
                try {
                    Class<?> c = Class.forName(name, false, l);
                    if (c.getClassLoader() == l) {
                        type = c;
                        loader = l;
                        location = loc.path;
                        break;
                    }
                } catch (ClassNotFoundException e) {
                    // Not in this plugin.
                } catch (LinkageError e) {
                    throw new Errors.BridgeException("fatal", "connector.class " + name + " in plugin " + loc.path
                            + " does not load: " + Errors.describe(e), List.of());
                }
            }
            if (type == null) {
                try {
                    type = Class.forName(name, false, Bridge.class.getClassLoader());
                    loader = Bridge.class.getClassLoader();
                    location = "(class path)";
                } catch (ClassNotFoundException e) {
                    // Reported below.
                }
            }
        } else {
            List<Plugins.Found> matches = new ArrayList<>();
            for (Plugins.Found f : Plugins.all(locs, failures)) {
                if (Plugins.aliasMatches(f.type, name)) {
                    matches.add(f);
                }
            }
            if (matches.size() > 1) {
                List<String> names = new ArrayList<>();
                for (Plugins.Found f : matches) {
                    names.add(f.type.getName() + " (" + f.location + ")");
                }
                throw new Errors.BridgeException("ambiguous", "connector.class " + name + " names more than one connector: "
                        + String.join(", ", names) + "; use the full class name", names);
            }
            if (matches.size() == 1) {
                type = matches.get(0).type;
                loader = matches.get(0).loader;
                location = matches.get(0).location;
            }
        }
        if (type == null) {
            List<String> known = new ArrayList<>();
            for (Plugins.Found f : Plugins.all(locs, failures)) {
                if (SourceConnector.class.isAssignableFrom(f.type)) {
                    known.add(f.type.getName());
                }
            }
            for (String[] failure : failures) {
                known.add("!" + failure[0] + ": " + failure[1]);
            }
            throw new Errors.BridgeException("notfound", "connector.class " + name + " was not found", known);
        }
        if (SinkConnector.class.isAssignableFrom(type)) {
            throw new Errors.BridgeException("sink", "connector.class " + name + " is a sink connector ("
                    + type.getName() + " extends org.apache.kafka.connect.sink.SinkConnector); timely-connect runs source connectors only", List.of());
        }
        if (!SourceConnector.class.isAssignableFrom(type)) {
            throw new Errors.BridgeException("notsource", "connector.class " + name + " (" + type.getName()
                    + ") is not a org.apache.kafka.connect.source.SourceConnector", List.of());
        }
        @SuppressWarnings("unchecked")
        Class<? extends Connector> t = (Class<? extends Connector>) type;
        return new Plugins.Found(t, loader, location);
    }
}
