//! The snapshot decoder on arbitrary bytes: a clear error or a snapshot,
//! never a panic or an unbounded allocation; a decoded snapshot encodes
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timely_connect::snapshot::Snapshot;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("snapshot-00000000000000000000.tcs");
    if let Ok(snapshot) = Snapshot::decode(data, path) {
        let bytes = snapshot.encode().expect("a decoded snapshot encodes");
        let again = Snapshot::decode(&bytes, path).expect("re-encoded bytes decode");
        assert_eq!(again, snapshot);
    }
});
