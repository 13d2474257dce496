package io.timelyconnect.bridge;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A growable little-endian byte buffer: what crosses JNI to Rust. */
final class Out {
    private byte[] buf;
    private int len;

    Out(int capacity) {
        buf = new byte[Math.max(16, capacity)];
    }

    private void room(int n) {
        if (len + n > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
        }
    }

    void u8(int v) {
        room(1);
        buf[len++] = (byte) v;
    }

    void i32(int v) {
        room(4);
        buf[len++] = (byte) v;
        buf[len++] = (byte) (v >>> 8);
        buf[len++] = (byte) (v >>> 16);
        buf[len++] = (byte) (v >>> 24);
    }

    void i64(long v) {
        room(8);
        for (int i = 0; i < 8; i++) {
            buf[len++] = (byte) (v >>> (8 * i));
        }
    }

    /** An unsigned LEB128 integer. */
    void varint(long v) {
        room(10);
        while ((v & ~0x7FL) != 0) {
            buf[len++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        buf[len++] = (byte) v;
    }

    void bytes(byte[] b) {
        varint(b.length);
        room(b.length);
        System.arraycopy(b, 0, buf, len, b.length);
        len += b.length;
    }

    void str(String s) {
        // The JDK encodes Latin-1-only strings with an intrinsic copy.
        bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    /** A string that may be null: a presence byte first. */
    void optStr(String s) {
        if (s == null) {
            u8(0);
        } else {
            u8(1);
            str(s);
        }
    }

    byte[] toArray() {
        return Arrays.copyOf(buf, len);
    }
}
