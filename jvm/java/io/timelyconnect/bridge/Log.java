package io.timelyconnect.bridge;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Log events from Java (SLF4J), queued for Rust's log thread, which takes
 * them with a blocking wait and hands them to tracing. The queue is
 * bounded: when Rust falls behind, events are counted and dropped rather
 * than blocking the connector.
 */
final class Log {
    private Log() {}

    static final int TRACE = 0;
    static final int DEBUG = 1;
    static final int INFO = 2;
    static final int WARN = 3;
    static final int ERROR = 4;

    /** The lowest level passed on; set from Rust's tracing level. */
    static volatile int threshold = INFO;

    /** "connector|task-N" of the code running on this thread (inherited by threads it starts). */
    static final InheritableThreadLocal<String> CONTEXT = new InheritableThreadLocal<>();

    private static final BlockingQueue<String[]> QUEUE = new LinkedBlockingQueue<>(10_000);
    private static final AtomicLong DROPPED = new AtomicLong();

    static void emit(int level, String logger, String message) {
        if (level < threshold) {
            return;
        }
        String ctx = CONTEXT.get();
        String[] event = {Integer.toString(level), logger, ctx == null ? "" : ctx, message};
        if (!QUEUE.offer(event)) {
            DROPPED.incrementAndGet();
        }
    }

    /** Waits up to {@code timeoutMs} for events, then takes all that are queued. */
    static byte[] take(int timeoutMs) throws InterruptedException {
        List<String[]> events = new ArrayList<>();
        String[] first = QUEUE.poll(timeoutMs, TimeUnit.MILLISECONDS);
        if (first != null) {
            events.add(first);
            QUEUE.drainTo(events, 1000);
        }
        Out out = new Out(256);
        out.i64(DROPPED.getAndSet(0));
        out.varint(events.size());
        for (String[] e : events) {
            out.u8(Integer.parseInt(e[0]));
            out.str(e[1]);
            out.str(e[2]);
            out.str(e[3]);
        }
        return out.toArray();
    }
}
