package dev.kstreams.bench;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** `--name value` command-line flags: each known name once, except the repeatable ones. */
final class Flags {
    private final Map<String, List<String>> values = new HashMap<>();
    private final String usage;

    private Flags(String usage) {
        this.usage = usage;
    }

    /**
     * Parses {@code args}; exits with code 2 and the usage text on an unknown flag, a flag
     * without a value, or a non-repeatable flag given twice. {@code --help} prints the usage.
     */
    static Flags parse(String[] args, Set<String> known, Set<String> repeatable, String usage) {
        Flags f = new Flags(usage);
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                System.out.print(usage);
                System.exit(0);
            }
            if (!a.startsWith("--")) {
                f.fail("unexpected argument: " + a);
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) { // --name=value too
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else {
                if (i + 1 >= args.length) {
                    f.fail("--" + name + " needs a value");
                }
                value = args[++i];
            }
            if (!known.contains(name)) {
                f.fail("unknown flag --" + name);
            }
            List<String> list = f.values.computeIfAbsent(name, k -> new ArrayList<>());
            if (!list.isEmpty() && !repeatable.contains(name)) {
                f.fail("--" + name + " given twice");
            }
            list.add(value);
        }
        return f;
    }

    void fail(String message) {
        System.err.println("error: " + message);
        System.err.print(usage);
        System.exit(2);
    }

    String get(String name, String dflt) {
        List<String> l = values.get(name);
        return l == null ? dflt : l.get(0);
    }

    String get(String name) {
        return get(name, null);
    }

    String required(String name) {
        String v = get(name);
        if (v == null) {
            fail("--" + name + " is required");
        }
        return v;
    }

    List<String> all(String name) {
        return values.getOrDefault(name, List.of());
    }

    long getLong(String name, long dflt) {
        String v = get(name);
        if (v == null) {
            return dflt;
        }
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            fail("--" + name + " needs an integer, not " + v);
            return dflt;
        }
    }

    int getInt(String name, int dflt) {
        long v = getLong(name, dflt);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            fail("--" + name + " is out of range: " + v);
        }
        return (int) v;
    }

    double getDouble(String name, double dflt) {
        String v = get(name);
        if (v == null) {
            return dflt;
        }
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            fail("--" + name + " needs a number, not " + v);
            return dflt;
        }
    }

    boolean getBoolean(String name, boolean dflt) {
        String v = get(name);
        if (v == null) {
            return dflt;
        }
        if (v.equals("true")) {
            return true;
        }
        if (v.equals("false")) {
            return false;
        }
        fail("--" + name + " needs true or false, not " + v);
        return dflt;
    }

    String oneOf(String name, String dflt, String... allowed) {
        String v = get(name, dflt);
        for (String a : allowed) {
            if (a.equals(v)) {
                return v;
            }
        }
        fail("--" + name + " must be one of " + String.join(", ", allowed) + ", not " + v);
        return dflt;
    }
}
