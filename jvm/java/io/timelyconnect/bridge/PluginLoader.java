package io.timelyconnect.bridge;

import java.net.URL;
import java.net.URLClassLoader;

/**
 * One plugin's class loader: child-first, as Kafka Connect's plugin
 * loaders are, except for the classes every plugin must share with the
 * worker (Java itself, the Connect API, SLF4J, this bridge), which come
 * from the parent first. Kafka's own plugins that ship inside
 * {@code org.apache.kafka} (its file connector, converters, transforms,
 * config providers) are still loaded in isolation.
 */
final class PluginLoader extends URLClassLoader {
    static {
        ClassLoader.registerAsParallelCapable();
    }

    final String location;

    PluginLoader(String location, URL[] urls, ClassLoader parent) {
        super("plugin:" + location, urls, parent);
        this.location = location;
    }

    /** Whether {@code name} is loaded from the plugin before its parent. */
    static boolean isolated(String name) {
        if (name.startsWith("java.") || name.startsWith("javax.") || name.startsWith("jdk.")
                || name.startsWith("sun.") || name.startsWith("org.omg.")
                || name.startsWith("org.w3c.dom.") || name.startsWith("org.xml.sax.")
                || name.startsWith("org.ietf.jgss.") || name.startsWith("org.slf4j.")
                || name.startsWith("io.timelyconnect.bridge.")) {
            return false;
        }
        if (!name.startsWith("org.apache.kafka.")) {
            return true;
        }
        String rest = name.substring("org.apache.kafka.".length());
        if (rest.startsWith("connect.transforms.")) {
            return !rest.equals("connect.transforms.Transformation")
                    && !rest.equals("connect.transforms.predicates.Predicate");
        }
        if (rest.startsWith("common.config.provider.")) {
            return !rest.equals("common.config.provider.ConfigProvider");
        }
        return rest.startsWith("connect.file.") || rest.startsWith("connect.json.")
                || rest.startsWith("connect.mirror.") || rest.startsWith("connect.converters.")
                || rest.equals("connect.storage.StringConverter")
                || rest.equals("connect.storage.SimpleHeaderConverter");
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        synchronized (getClassLoadingLock(name)) {
            Class<?> c = findLoadedClass(name);
            if (c == null && isolated(name)) {
                try {
                    c = findClass(name);
                } catch (ClassNotFoundException e) {
                    // Not in the plugin: the parent's, below.
                }
            }
            if (c == null) {
                c = super.loadClass(name, false);
            }
            if (resolve) {
                resolveClass(c);
            }
            return c;
        }
    }

    @Override
    public URL getResource(String name) {
        URL url = findResource(name);
        return url != null ? url : super.getResource(name);
    }

    @Override
    public String toString() {
        return "PluginLoader(" + location + ")";
    }
}
