package io.timelyconnect.bridge;

import java.io.File;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.apache.kafka.connect.connector.Connector;
import org.apache.kafka.connect.sink.SinkConnector;
import org.apache.kafka.connect.source.SourceConnector;

/** Plugin class loaders (one per plugin location, for the process's life) and connector discovery. */
final class Plugins {
    private Plugins() {}

    /** A plugin location as Rust found it under plugin.path. */
    static final class Location {
        final String path;
        final List<String> urls;

        Location(String path, List<String> urls) {
            this.path = path;
            this.urls = urls;
        }
    }

    /** A connector class found in a plugin. */
    static final class Found {
        final Class<? extends Connector> type;
        final ClassLoader loader;
        /** The plugin's path, or "(class path)" for the worker's own class path. */
        final String location;

        Found(Class<? extends Connector> type, ClassLoader loader, String location) {
            this.type = type;
            this.loader = loader;
            this.location = location;
        }
    }

    private static final Map<String, PluginLoader> LOADERS = new ConcurrentHashMap<>();
    private static final Map<String, List<Found>> FOUND = new ConcurrentHashMap<>();

    static List<Location> readLocations(In in) {
        int n = (int) in.varint();
        List<Location> l = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String path = in.str();
            l.add(new Location(path, Codec.readStrings(in)));
        }
        return l;
    }

    static PluginLoader loader(Location loc) {
        return LOADERS.computeIfAbsent(loc.path, p -> {
            try {
                URL[] urls = new URL[loc.urls.size()];
                for (int i = 0; i < urls.length; i++) {
                    urls[i] = new File(loc.urls.get(i)).toURI().toURL();
                }
                return new PluginLoader(p, urls, Plugins.class.getClassLoader());
            } catch (java.net.MalformedURLException e) {
                throw new IllegalArgumentException("plugin " + p + ": " + e.getMessage(), e);
            }
        });
    }

    /**
     * The connectors (source and sink) a plugin holds: those its service
     * files declare, and when it declares none, those found by scanning
     * its classes (as Kafka's hybrid discovery does).
     */
    static List<Found> connectors(Location loc) {
        return FOUND.computeIfAbsent(loc.path, p -> discover(loc));
    }

    private static List<Found> discover(Location loc) {
        PluginLoader loader = loader(loc);
        Set<Class<? extends Connector>> types = new LinkedHashSet<>();
        for (Class<? extends Connector> api : List.of(SourceConnector.class, SinkConnector.class)) {
            for (ServiceLoader.Provider<? extends Connector> provider : ServiceLoader.load(api, loader).stream().toList()) {
                Class<? extends Connector> t = provider.type();
                if (t.getClassLoader() == loader) {
                    types.add(t);
                }
            }
        }
        if (types.isEmpty()) {
            types.addAll(scan(loader, loc));
        }
        List<Found> found = new ArrayList<>();
        for (Class<? extends Connector> t : types) {
            found.add(new Found(t, loader, loc.path));
        }
        return found;
    }

    @SuppressWarnings("unchecked")
    private static List<Class<? extends Connector>> scan(PluginLoader loader, Location loc) {
        List<String> names = new ArrayList<>();
        for (String url : loc.urls) {
            File f = new File(url);
            if (f.isDirectory()) {
                classesIn(f, "", names);
            } else {
                try (JarFile jar = new JarFile(f)) {
                    Enumeration<JarEntry> entries = jar.entries();
                    while (entries.hasMoreElements()) {
                        String e = entries.nextElement().getName();
                        if (e.endsWith(".class") && !e.contains("$") && !e.startsWith("META-INF/")) {
                            names.add(e.substring(0, e.length() - 6).replace('/', '.'));
                        }
                    }
                } catch (java.io.IOException e) {
                    throw new IllegalArgumentException("cannot read " + url + " (" + e.getMessage() + ")", e);
                }
            }
        }
        List<Class<? extends Connector>> types = new ArrayList<>();
        for (String name : names) {
            try {
                Class<?> c = Class.forName(name, false, loader);
                if (c.getClassLoader() == loader && Connector.class.isAssignableFrom(c)
                        && !Modifier.isAbstract(c.getModifiers()) && Modifier.isPublic(c.getModifiers())) {
                    types.add((Class<? extends Connector>) c);
                }
            } catch (Throwable t) {
                // A class that does not link is not a connector we can run.
            }
        }
        return types;
    }

    private static void classesIn(File dir, String prefix, List<String> names) {
        File[] children = dir.listFiles();
        if (children == null) {
            return;
        }
        for (File c : children) {
            if (c.isDirectory()) {
                classesIn(c, prefix + c.getName() + ".", names);
            } else if (c.getName().endsWith(".class") && !c.getName().contains("$")) {
                names.add(prefix + c.getName().substring(0, c.getName().length() - 6));
            }
        }
    }

    /** Every connector of every location, with the failures of those that did not load. */
    static List<Found> all(List<Location> locs, List<String[]> failures) {
        List<Found> all = new ArrayList<>();
        for (Location loc : locs) {
            try {
                all.addAll(connectors(loc));
            } catch (Throwable t) {
                failures.add(new String[] {loc.path, Errors.describe(t)});
            }
        }
        return all;
    }

    /** Kafka's aliases of a class: its simple name, and that name without a trailing "Connector". */
    static boolean aliasMatches(Class<?> c, String name) {
        String simple = c.getSimpleName();
        return simple.equals(name) || (simple.endsWith("Connector") && simple.length() > 9
                && simple.substring(0, simple.length() - 9).equals(name));
    }
}
