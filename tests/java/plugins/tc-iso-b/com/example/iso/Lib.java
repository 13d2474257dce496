package com.example.iso;

/** The same class name in two plugins, with different contents: version B. */
public class Lib {
    public static String version() {
        return "lib-B";
    }
}
