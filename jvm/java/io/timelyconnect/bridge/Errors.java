package io.timelyconnect.bridge;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.connect.errors.RetriableException;

/** Turns a Java exception into the error Rust reports: its kind, the cause chain and, for config errors, the key. */
final class Errors {
    private Errors() {}

    /** Thrown by the bridge itself with a kind Rust maps (notfound, notsource, sink, ...). */
    static final class BridgeException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final String kind;
        final List<String> extras;

        BridgeException(String kind, String message, List<String> extras) {
            super(message);
            this.kind = kind;
            this.extras = extras;
        }
    }

    private static final Pattern CONFIG_KEY = Pattern.compile("for configuration (\\S+?):? ");

    /** Every exception of the chain: class and message, outermost first. */
    static String describe(Throwable t) {
        StringBuilder b = new StringBuilder();
        int depth = 0;
        for (Throwable c = t; c != null && depth < 16; c = c.getCause(), depth++) {
            if (depth > 0) {
                b.append("; caused by ");
            }
            b.append(c.getClass().getName());
            if (c.getMessage() != null) {
                b.append(": ").append(c.getMessage());
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return b.toString();
    }

    static byte[] encode(Throwable t) {
        if (t instanceof java.lang.reflect.InvocationTargetException && t.getCause() != null) {
            t = t.getCause();
        }
        Out out = new Out(256);
        out.u8(1);
        String kind = "fatal";
        String key = null;
        List<String> extras = new ArrayList<>();
        if (t instanceof BridgeException) {
            kind = ((BridgeException) t).kind;
            extras = ((BridgeException) t).extras;
        } else {
            for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
                if (c instanceof RetriableException
                        || c instanceof org.apache.kafka.common.errors.RetriableException) {
                    kind = c == t ? "retriable" : kind;
                }
                if (c instanceof ConfigException) {
                    kind = "config";
                    Matcher m = CONFIG_KEY.matcher(String.valueOf(c.getMessage()) + " ");
                    if (m.find()) {
                        key = m.group(1);
                    }
                    break;
                }
            }
        }
        out.str(kind);
        out.str(t instanceof BridgeException ? t.getMessage() : describe(t));
        out.optStr(key);
        out.varint(extras.size());
        for (String e : extras) {
            out.str(e);
        }
        return out.toArray();
    }
}
