package io.timelyconnect.bridge;

import java.nio.charset.StandardCharsets;

/** Reads what Rust wrote with the same encoding as {@link Out}. */
final class In {
    private final byte[] buf;
    private int pos;

    In(byte[] buf) {
        this.buf = buf == null ? new byte[0] : buf;
    }

    boolean done() {
        return pos >= buf.length;
    }

    int u8() {
        need(1);
        return buf[pos++] & 0xFF;
    }

    int i32() {
        need(4);
        int v = (buf[pos] & 0xFF) | (buf[pos + 1] & 0xFF) << 8 | (buf[pos + 2] & 0xFF) << 16
                | (buf[pos + 3] & 0xFF) << 24;
        pos += 4;
        return v;
    }

    long i64() {
        need(8);
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v |= (buf[pos + i] & 0xFFL) << (8 * i);
        }
        pos += 8;
        return v;
    }

    long varint() {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            int b = u8();
            v |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
        }
        throw new IllegalArgumentException("bridge message: varint too long");
    }

    byte[] bytes() {
        int n = (int) varint();
        need(n);
        byte[] b = new byte[n];
        System.arraycopy(buf, pos, b, 0, n);
        pos += n;
        return b;
    }

    String str() {
        int n = (int) varint();
        need(n);
        String s = new String(buf, pos, n, StandardCharsets.UTF_8);
        pos += n;
        return s;
    }

    String optStr() {
        return u8() == 0 ? null : str();
    }

    private void need(int n) {
        if (n < 0 || pos + n > buf.length) {
            throw new IllegalArgumentException("bridge message: truncated");
        }
    }
}
