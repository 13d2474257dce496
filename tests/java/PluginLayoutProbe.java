// Loads each installed Java connector plugin the way Kafka Connect does: one
// class loader per plugin directory over the worker's platform class path,
// the plugin's loader as the thread's context loader while its code runs.
// Prints one line per connector: class, version(), number of config keys,
// and the plugin directory its class came from.
import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.connect.source.SourceConnector;

public class PluginLayoutProbe {
    public static void main(String[] args) throws Exception {
        File plugins = new File(args[0], "plugins");
        for (int i = 1; i + 1 < args.length; i += 2) {
            File dir = new File(plugins, args[i]);
            File[] jars = dir.listFiles((d, name) -> name.endsWith(".jar"));
            if (jars == null) {
                throw new IllegalStateException("no plugin directory " + dir);
            }
            List<URL> urls = new ArrayList<>();
            for (File jar : jars) {
                urls.add(jar.toURI().toURL());
            }
            URLClassLoader loader = new URLClassLoader(
                urls.toArray(new URL[0]), PluginLayoutProbe.class.getClassLoader());
            Thread.currentThread().setContextClassLoader(loader);
            Class<?> cls = loader.loadClass(args[i + 1]);
            SourceConnector connector = (SourceConnector) cls.getDeclaredConstructor().newInstance();
            String from = new File(cls.getProtectionDomain().getCodeSource().getLocation().toURI())
                .getParentFile().getName();
            System.out.println(args[i + 1] + " " + connector.version() + " "
                + connector.config().names().size() + " " + from);
        }
    }
}
