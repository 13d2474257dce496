//! JsonConverter's reader on arbitrary bytes, with and without schemas:
//! never a panic; what it reads, it can write.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timely_connect::config::Properties;
use timely_connect::convert::{Converter, JsonConverter};

fuzz_target!(|data: &[u8]| {
    for schemas in ["true", "false"] {
        let mut props = Properties::new();
        props.insert("schemas.enable".into(), schemas.into());
        let Ok(mut converter) = JsonConverter::configured(&props, false) else {
            return;
        };
        if let Ok(read) = converter.to_connect("t", Some(data)) {
            let mut out = Vec::new();
            let _ = converter.from_connect("t", read.schema.as_deref(), &read.value, &mut out);
        }
    }
});
