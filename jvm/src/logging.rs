//! Java's logging (SLF4J, through the shim's provider) into `tracing`: a
//! thread attached to the JVM waits on the shim's log queue (a blocking
//! take, no polling loop) and re-emits each event at its level, with the
//! Java logger's name and the connector and task it came from.

use crate::bridge::{Bridge, Op};
use crate::codec::{Reader, Writer};

/// Starts the log thread and tells the shim the lowest level wanted.
pub(crate) fn start(bridge: &'static Bridge) {
    let level = if tracing::enabled!(tracing::Level::TRACE) {
        0
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        1
    } else if tracing::enabled!(tracing::Level::INFO) {
        2
    } else if tracing::enabled!(tracing::Level::WARN) {
        3
    } else {
        4
    };
    let mut w = Writer::default();
    w.u8(level);
    if let Err(e) = bridge.call(Op::LogLevel, 0, &w.buf) {
        tracing::warn!(error = %e, "cannot set the Java log level");
    }
    let spawned = std::thread::Builder::new()
        .name("jvm-log".to_owned())
        .stack_size(4 << 20)
        .spawn(move || loop {
            let mut w = Writer::default();
            w.i32(60_000);
            match bridge.call(Op::LogTake, 0, &w.buf) {
                Ok(events) => {
                    if let Err(e) = emit(&events) {
                        tracing::warn!(error = %e, "a Java log event could not be read");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the Java log thread stops");
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the Java log thread");
    }
}

fn emit(events: &[u8]) -> Result<(), crate::codec::CodecError> {
    let mut r = Reader::new(events);
    let dropped = r.i64()?;
    if dropped > 0 {
        tracing::warn!(dropped, "Java log events dropped: the log queue was full");
    }
    let n = r.varint()?;
    for _ in 0..n {
        let level = r.u8()?;
        let logger = r.str()?;
        let context = r.str()?;
        let message = r.str()?;
        let (connector, task) = match context.split_once('|') {
            Some((c, t)) => (c.to_owned(), t.to_owned()),
            None => (context, String::new()),
        };
        match level {
            0 => tracing::trace!(target: "java", %connector, %task, %logger, "{message}"),
            1 => tracing::debug!(target: "java", %connector, %task, %logger, "{message}"),
            2 => tracing::info!(target: "java", %connector, %task, %logger, "{message}"),
            3 => tracing::warn!(target: "java", %connector, %task, %logger, "{message}"),
            _ => tracing::error!(target: "java", %connector, %task, %logger, "{message}"),
        }
    }
    Ok(())
}
