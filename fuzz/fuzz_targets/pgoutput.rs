//! The pgoutput message decoder on arbitrary bytes: a clear error or a
//! message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timely_connect_pgwire::pgoutput::PgOutput;

fuzz_target!(|data: &[u8]| {
    let _ = PgOutput::decode(&bytes::Bytes::copy_from_slice(data));
});
