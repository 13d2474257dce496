package com.example.tc;

/** A class that is not a connector, to name in connector.class. */
public class NotAConnector {
    public NotAConnector() {}
}
