//! The `.properties` parser on arbitrary text: never a panic; what it
//! accepts, it accepts again when written back in the same form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timely_connect::config::parse_properties;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(props) = parse_properties(&text, "fuzz.properties") {
        // Every parsed key and value survives an escaped round trip.
        let mut again = String::new();
        for (k, v) in &props {
            again.push_str(&escape(k, true));
            again.push('=');
            again.push_str(&escape(v, false));
            again.push('\n');
        }
        let reparsed = parse_properties(&again, "again.properties")
            .unwrap_or_else(|e| panic!("written back, not parsed: {e}\n{again}"));
        assert_eq!(reparsed, props);
    }
});

/// Escapes as Java's `Properties.store` does, for what our parser reads.
fn escape(s: &str, key: bool) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if key || i == 0 => out.push_str("\\ "),
            c if (c as u32) < 0x20 || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}
