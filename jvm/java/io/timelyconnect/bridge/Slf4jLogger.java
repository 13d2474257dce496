package io.timelyconnect.bridge;

import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/** An SLF4J logger that queues its events for Rust's tracing. */
public final class Slf4jLogger extends LegacyAbstractLogger {
    private static final long serialVersionUID = 1L;

    Slf4jLogger(String name) {
        this.name = name;
    }

    @Override
    public boolean isTraceEnabled() {
        return Log.threshold <= Log.TRACE;
    }

    @Override
    public boolean isDebugEnabled() {
        return Log.threshold <= Log.DEBUG;
    }

    @Override
    public boolean isInfoEnabled() {
        return Log.threshold <= Log.INFO;
    }

    @Override
    public boolean isWarnEnabled() {
        return Log.threshold <= Log.WARN;
    }

    @Override
    public boolean isErrorEnabled() {
        return true;
    }

    @Override
    protected String getFullyQualifiedCallerName() {
        return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern, Object[] args, Throwable t) {
        int l;
        switch (level) {
            case TRACE:
                l = Log.TRACE;
                break;
            case DEBUG:
                l = Log.DEBUG;
                break;
            case INFO:
                l = Log.INFO;
                break;
            case WARN:
                l = Log.WARN;
                break;
            default:
                l = Log.ERROR;
                break;
        }
        String message = MessageFormatter.basicArrayFormat(pattern, args);
        if (t != null) {
            message = message + ": " + Errors.describe(t);
        }
        Log.emit(l, name, message);
    }
}
