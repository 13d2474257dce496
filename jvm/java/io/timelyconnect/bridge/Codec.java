package io.timelyconnect.bridge;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Offset values (the JSON-like values of source partitions and offsets)
 * and string maps, in the bridge's binary form. Tags: 0 null, 1 boolean,
 * 2 integer, 3 floating point, 4 string, 5 list, 6 map.
 */
final class Codec {
    private Codec() {}

    static void offsetValue(Out out, Object v) {
        if (v == null) {
            out.u8(0);
        } else if (v instanceof Boolean) {
            out.u8(1);
            out.u8((Boolean) v ? 1 : 0);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            out.u8(2);
            out.i64(((Number) v).longValue());
        } else if (v instanceof Double || v instanceof Float) {
            out.u8(3);
            out.i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
        } else if (v instanceof String) {
            out.u8(4);
            out.str((String) v);
        } else if (v instanceof Collection) {
            Collection<?> c = (Collection<?>) v;
            out.u8(5);
            out.varint(c.size());
            for (Object o : c) {
                offsetValue(out, o);
            }
        } else if (v instanceof Map) {
            out.u8(6);
            offsetMap(out, (Map<?, ?>) v);
        } else {
            throw new IllegalArgumentException("a source partition or offset holds a "
                    + v.getClass().getName()
                    + "; only null, Boolean, integers, Float, Double, String, List and Map are stored (as in Kafka Connect's offset store)");
        }
    }

    /** A map with string keys, without a tag. */
    static void offsetMap(Out out, Map<?, ?> m) {
        out.varint(m.size());
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (!(e.getKey() instanceof String)) {
                throw new IllegalArgumentException("a source partition or offset has a key that is not a String: " + e.getKey());
            }
            out.str((String) e.getKey());
            offsetValue(out, e.getValue());
        }
    }

    /**
     * Reads a value the way Kafka's offset store gives it back through its
     * JSON converter: integers as Long, floating point as Double.
     */
    static Object readOffsetValue(In in) {
        int tag = in.u8();
        switch (tag) {
            case 0:
                return null;
            case 1:
                return in.u8() != 0;
            case 2:
                return in.i64();
            case 3:
                return Double.longBitsToDouble(in.i64());
            case 4:
                return in.str();
            case 5: {
                int n = (int) in.varint();
                List<Object> l = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    l.add(readOffsetValue(in));
                }
                return l;
            }
            case 6:
                return readOffsetMap(in);
            default:
                throw new IllegalArgumentException("bridge message: offset tag " + tag);
        }
    }

    static Map<String, Object> readOffsetMap(In in) {
        int n = (int) in.varint();
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < n; i++) {
            String k = in.str();
            m.put(k, readOffsetValue(in));
        }
        return m;
    }

    /** The form a partition has after a round trip through the offset store. */
    static Object normalize(Object v) {
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        } else if (v instanceof Float) {
            return ((Float) v).doubleValue();
        } else if (v instanceof Collection) {
            List<Object> l = new ArrayList<>();
            for (Object o : (Collection<?>) v) {
                l.add(normalize(o));
            }
            return l;
        } else if (v instanceof Map) {
            Map<Object, Object> m = new HashMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                m.put(e.getKey(), normalize(e.getValue()));
            }
            return m;
        }
        return v;
    }

    static void stringMap(Out out, Map<String, String> m) {
        out.varint(m.size());
        for (Map.Entry<String, String> e : m.entrySet()) {
            out.str(e.getKey());
            out.optStr(e.getValue());
        }
    }

    static Map<String, String> readStringMap(In in) {
        int n = (int) in.varint();
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String k = in.str();
            m.put(k, in.optStr());
        }
        return m;
    }

    static List<String> readStrings(In in) {
        int n = (int) in.varint();
        List<String> l = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            l.add(in.str());
        }
        return l;
    }
}
