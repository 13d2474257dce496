use std::fs;

use super::*;

fn put(k: &str, v: &str) -> StateEntry {
    (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))
}

fn del(k: &str) -> StateEntry {
    (k.as_bytes().to_vec(), None)
}

fn as_strings(map: &HashMap<Vec<u8>, Vec<u8>>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k.clone()).unwrap(),
                String::from_utf8(v.clone()).unwrap(),
            )
        })
        .collect()
}

fn setup() -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    (dir, state)
}

/// Three epochs of changes from two workers.
fn history(state: &StateDir) -> StateManifest {
    let segments = vec![
        state
            .write_segment("rows", 1, 1, 0, &[put("a", "1"), put("b", "1")])
            .unwrap(),
        state
            .write_segment("rows", 1, 1, 1, &[put("c", "1")])
            .unwrap(),
        state
            .write_segment("rows", 2, 1, 0, &[put("a", "2"), del("b")])
            .unwrap(),
        state
            .write_segment("rows", 3, 1, 1, &[del("c"), put("d", "3"), put("c", "3")])
            .unwrap(),
    ];
    StateManifest { segments }
}

#[test]
fn segment_round_trips_in_order_with_its_reference() {
    let (dir, state) = setup();
    assert_eq!(state.root(), dir.path().join("state"));
    let entries = vec![put("k2", "v2"), del("k1"), put("k1", ""), (vec![], None)];
    let seg = state.write_segment("rows.v1", 7, 2, 3, &entries).unwrap();
    assert_eq!(seg.file, "seg-00000000000000000007-x2-w3.tcst");
    assert_eq!((seg.epoch, seg.entries, seg.base), (7, 4, false));
    let path = state.root().join("rows.v1").join(&seg.file);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(seg.bytes, bytes.len() as u64);
    assert_eq!(&bytes[..8], b"TCSTATE1");
    assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
    assert_eq!(seg.crc, crc32fast::hash(&bytes[SEGMENT_HEADER_LEN..]));
    // The payload is the entries' bincode, as documented.
    let as_vec = payload_options().serialize(&entries).unwrap();
    assert_eq!(&bytes[SEGMENT_HEADER_LEN..], &as_vec[..]);
    assert_eq!(state.read_segment("rows.v1", &seg).unwrap(), entries);
    // No temp file is left behind.
    let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn truncated_or_corrupt_segment_is_a_clear_error_naming_the_file() {
    let (_dir, state) = setup();
    let seg = state
        .write_segment("rows", 5, 1, 0, &[put("a", "1"), put("b", "2")])
        .unwrap();
    let path = state.root().join("rows").join(&seg.file);
    let good = fs::read(&path).unwrap();
    let check = |bytes: &[u8], seg: &SegmentRef, says: &str| {
        fs::write(&path, bytes).unwrap();
        let err = state.read_segment("rows", seg).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(says), "{text}");
        assert!(
            text.contains(&seg.file) && text.contains("`rows`"),
            "{text}"
        );
    };
    check(&good[..good.len() - 3], &seg, "truncated");
    // Truncated and the reference agreeing: the header catches it.
    let short = SegmentRef {
        bytes: good.len() as u64 - 3,
        ..seg.clone()
    };
    check(&good[..good.len() - 3], &short, "truncated");
    let header_only = SegmentRef {
        bytes: 10,
        ..seg.clone()
    };
    check(&good[..10], &header_only, "truncated");
    let mut longer = good.clone();
    longer.push(0);
    check(&longer, &seg, "trailing bytes");
    for i in SEGMENT_HEADER_LEN..good.len() {
        let mut flipped = good.clone();
        flipped[i] ^= 0x20;
        check(&flipped, &seg, "checksum mismatch");
    }
    let mut magic = good.clone();
    magic[0] = b'X';
    check(&magic, &seg, "bad magic");
    let mut version = good.clone();
    version[8] = 9;
    check(&version, &seg, "format version 9");
    // A reference whose CRC disagrees with a file that checks out.
    let other = SegmentRef {
        crc: seg.crc ^ 1,
        ..seg.clone()
    };
    check(&good, &other, "checksum mismatch");
    let count = SegmentRef {
        entries: 3,
        ..seg.clone()
    };
    check(&good, &count, "reference says 3");
    // A consistent header around a payload that does not decode.
    let payload = [0xffu8; 16];
    let mut bad = Vec::new();
    bad.extend_from_slice(b"TCSTATE1");
    bad.extend_from_slice(&1u32.to_le_bytes());
    bad.extend_from_slice(&16u64.to_le_bytes());
    bad.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bad.extend_from_slice(&payload);
    let undecodable = SegmentRef {
        bytes: bad.len() as u64,
        crc: crc32fast::hash(&payload),
        ..seg.clone()
    };
    check(&bad, &undecodable, "cannot decode");
    fs::remove_file(&path).unwrap();
    check_missing(&state, &seg);
}

fn check_missing(state: &StateDir, seg: &SegmentRef) {
    let err = state.read_segment("rows", seg).unwrap_err();
    assert!(matches!(err, StateError::Io { .. }), "{err}");
    assert!(err.to_string().contains(&seg.file), "{err}");
}

#[test]
fn a_reference_to_a_path_outside_the_operator_is_refused() {
    let (_dir, state) = setup();
    let mut seg = state.write_segment("rows", 1, 1, 0, &[]).unwrap();
    seg.file = "../other/seg-00000000000000000001-x1-w0.tcst".into();
    assert!(matches!(
        state.read_segment("rows", &seg),
        Err(StateError::BadFileName { .. })
    ));
}

#[test]
fn load_applies_segments_in_order_later_overriding_earlier_and_deletes() {
    let (_dir, state) = setup();
    let manifest = history(&state);
    let loaded = state.load("rows", &manifest, |_| true).unwrap();
    let expected: BTreeMap<String, String> = [("a", "2"), ("c", "3"), ("d", "3")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(as_strings(&loaded), expected);
    // As of epoch 2 only.
    let early = StateManifest {
        segments: manifest.segments[..3].to_vec(),
    };
    let loaded = state.load("rows", &early, |_| true).unwrap();
    assert_eq!(
        as_strings(&loaded),
        [("a", "2"), ("c", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    );
    assert!(state
        .load("rows", &StateManifest::default(), |_| true)
        .unwrap()
        .is_empty());
}

#[test]
fn load_keeps_only_the_keys_asked_for() {
    let (_dir, state) = setup();
    let manifest = history(&state);
    // One worker of two keeps the keys it owns.
    let mut asked = Vec::new();
    let mine = state
        .load("rows", &manifest, |k| {
            asked.push(k.to_vec());
            k == b"a" || k == b"c"
        })
        .unwrap();
    assert_eq!(
        as_strings(&mine),
        [("a", "2"), ("c", "3")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    );
    assert!(asked.iter().any(|k| k == b"d"));
}

#[test]
fn compact_equals_load_of_the_full_manifest_and_drops_deletes() {
    let (_dir, state) = setup();
    let manifest = history(&state);
    let base = state.compact("rows", &manifest, 4).unwrap();
    assert_eq!(base.file, "base-00000000000000000003-x4.tcst");
    assert_eq!(
        Some(base.file.clone()),
        StateDir::base_name_for(&manifest, 4)
    );
    assert!(base.base);
    assert_eq!((base.epoch, base.entries), (3, 3));
    let entries = state.read_segment("rows", &base).unwrap();
    assert!(entries.iter().all(|(_, v)| v.is_some()), "no deletes");
    let keys: Vec<_> = entries.iter().map(|(k, _)| k.clone()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "sorted by key");
    let compacted = StateManifest {
        segments: vec![base.clone()],
    };
    assert_eq!(
        state.load("rows", &compacted, |_| true).unwrap(),
        state.load("rows", &manifest, |_| true).unwrap()
    );
    // Compacting a base with later segments again.
    let later = state
        .write_segment("rows", 4, 4, 0, &[del("a"), put("e", "4")])
        .unwrap();
    let next = StateManifest {
        segments: vec![base, later],
    };
    let base2 = state.compact("rows", &next, 4).unwrap();
    assert_eq!(
        state
            .load(
                "rows",
                &StateManifest {
                    segments: vec![base2]
                },
                |_| true
            )
            .unwrap(),
        state.load("rows", &next, |_| true).unwrap()
    );
    assert!(matches!(
        state.compact("rows", &StateManifest::default(), 4),
        Err(StateError::EmptyManifest { .. })
    ));
}

#[test]
fn collect_garbage_keeps_referenced_newer_and_protected_files() {
    let (_dir, state) = setup();
    let manifest = history(&state);
    let base = state.compact("rows", &manifest, 1).unwrap();
    let newer = state
        .write_segment("rows", 9, 1, 0, &[put("z", "9")])
        .unwrap();
    let other = state
        .write_segment("other", 2, 1, 0, &[put("q", "1")])
        .unwrap();
    let dir = state.root().join("rows");
    // A crashed write of epoch 3, and one in progress for epoch 9.
    fs::write(
        dir.join(".seg-00000000000000000003-x1-w5.tcst.tmp"),
        b"half",
    )
    .unwrap();
    fs::write(
        dir.join(".seg-00000000000000000009-x1-w5.tcst.tmp"),
        b"half",
    )
    .unwrap();
    // A base being written, and files that are not ours.
    fs::write(dir.join(".base-00000000000000000002-x7.tcst.tmp"), b"half").unwrap();
    fs::write(dir.join("notes.txt"), b"keep").unwrap();
    fs::write(dir.join("seg-3-x1-w0.tcst"), b"keep").unwrap();
    fs::create_dir(state.root().join(".hidden")).unwrap();
    fs::write(
        state.root().join(".hidden").join(&other.file),
        b"not an operator dir",
    )
    .unwrap();

    // The old snapshot references the first two segments and c's; the
    // new one the base.
    let old: BTreeMap<String, StateManifest> = [(
        "rows".to_owned(),
        StateManifest {
            segments: manifest.segments[..2].to_vec(),
        },
    )]
    .into_iter()
    .collect();
    let new: BTreeMap<String, StateManifest> = [(
        "rows".to_owned(),
        StateManifest {
            segments: vec![base.clone()],
        },
    )]
    .into_iter()
    .collect();
    let protect = vec!["base-00000000000000000002-x7.tcst".to_owned()];
    let deleted = state.collect_garbage(&[&old, &new], 3, &protect).unwrap();
    // seg 2 w0, seg 3 w1, the crashed temp, and `other`'s segment.
    assert_eq!(deleted, 4);
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let mut expected = vec![
        manifest.segments[0].file.clone(),
        manifest.segments[1].file.clone(),
        base.file.clone(),
        newer.file.clone(),
        ".seg-00000000000000000009-x1-w5.tcst.tmp".to_owned(),
        ".base-00000000000000000002-x7.tcst.tmp".to_owned(),
        "notes.txt".to_owned(),
        "seg-3-x1-w0.tcst".to_owned(),
    ];
    expected.sort();
    assert_eq!(left, expected);
    assert!(!state.root().join("other").join(&other.file).exists());
    assert!(state.root().join(".hidden").join(&other.file).exists());
    // Everything a snapshot still names loads.
    state.load("rows", &new["rows"], |_| true).unwrap();
    state.load("rows", &old["rows"], |_| true).unwrap();
    // No state directory at all: nothing to do.
    let (_empty, fresh) = setup();
    assert_eq!(fresh.collect_garbage(&[], u64::MAX, &[]).unwrap(), 0);
}

#[test]
fn bad_operator_names_are_refused() {
    let (_dir, state) = setup();
    let long = "x".repeat(101);
    for bad in [
        "",
        ".",
        "..",
        ".hidden",
        "a/b",
        "a b",
        "ü",
        "a\\b",
        long.as_str(),
    ] {
        let err = StateDir::check_operator_name(bad).unwrap_err();
        assert!(matches!(err, StateError::BadOperatorName { .. }), "{bad}");
        assert!(err.to_string().contains("bad operator name"), "{err}");
        assert!(state.write_segment(bad, 1, 1, 0, &[]).is_err(), "{bad}");
        assert!(state
            .load(bad, &StateManifest::default(), |_| true)
            .is_err());
    }
    for good in ["rows", "a.b-c_d", "X9", &"y".repeat(100)] {
        StateDir::check_operator_name(good).unwrap();
    }
    assert!(!state.root().exists(), "nothing was created");
}

#[test]
fn file_names_parse_back() {
    let seg = segment_file_name(42, 3, 7);
    assert_eq!(
        parse_file_name(&seg),
        Some(FileName {
            epoch: 42,
            base: false
        })
    );
    let base = base_file_name(u64::MAX, 0);
    assert_eq!(
        parse_file_name(&base),
        Some(FileName {
            epoch: u64::MAX,
            base: true
        })
    );
    assert_eq!(temp_target(&format!(".{seg}.tmp")), Some(seg.as_str()));
    assert_eq!(temp_target(&format!(".{seg}.4711.tmp")), Some(seg.as_str()));
    for bad in [
        "seg-42-x1-w0.tcst",
        "seg-00000000000000000042-x1.tcst",
        "base-00000000000000000042-x1-w0.tcst",
        "seg-00000000000000000042-x-w0.tcst",
        "seg-00000000000000000042-x1-w0.tcs",
        "seg-0000000000000000004a-x1-w0.tcst",
        "snapshot-00000000000000000042.tcs",
    ] {
        assert_eq!(parse_file_name(bad), None, "{bad}");
    }
}

#[test]
fn compacting_a_base_merges_changes_before_between_and_after_its_keys() {
    let (_dir, state) = setup();
    // A base of even keys, then changes: puts and deletes of keys below,
    // among and above the base's, some of them several times.
    let first: Vec<StateEntry> = (0..400)
        .step_by(2)
        .map(|i| put(&format!("k{i:04}"), "base"))
        .collect();
    let seg = state.write_segment("rows", 1, 1, 0, &first).unwrap();
    let other = state
        .write_segment("rows", 1, 1, 1, &[put("a", "0")])
        .unwrap();
    let base = state
        .compact(
            "rows",
            &StateManifest {
                segments: vec![seg, other],
            },
            1,
        )
        .unwrap();
    let mut seed = 7u64;
    let mut segments = vec![base];
    for epoch in 2..6 {
        let mut changes = Vec::new();
        for _ in 0..60 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = format!("k{:04}", (seed >> 33) % 420);
            if (seed >> 20).is_multiple_of(3) {
                changes.push(del(&key));
            } else {
                changes.push(put(&key, &format!("v{epoch}")));
            }
        }
        changes.push(put("0first", &format!("v{epoch}")));
        changes.push(put("zlast", &format!("v{epoch}")));
        segments.push(state.write_segment("rows", epoch, 1, 0, &changes).unwrap());
    }
    let manifest = StateManifest { segments };
    let compacted = state.compact("rows", &manifest, 2).unwrap();
    let entries = state.read_segment("rows", &compacted).unwrap();
    assert!(
        entries.windows(2).all(|w| w[0].0 < w[1].0),
        "sorted, each key once"
    );
    assert_eq!(
        as_strings(
            &state
                .load(
                    "rows",
                    &StateManifest {
                        segments: vec![compacted]
                    },
                    |_| true
                )
                .unwrap()
        ),
        as_strings(&state.load("rows", &manifest, |_| true).unwrap())
    );
}

/// A payload that checks out but whose entries do not decode: the error
/// says which entry and why, and names the file.
#[test]
fn an_undecodable_entry_is_named() {
    let (_dir, state) = setup();
    let seg = state
        .write_segment("rows", 5, 1, 0, &[put("a", "1")])
        .unwrap();
    let path = state.root().join("rows").join(&seg.file);
    for (payload, says) in [
        // One entry: key "k", then option tag 2.
        (
            [&1u64.to_le_bytes()[..], &1u64.to_le_bytes(), b"k", &[2]].concat(),
            "entry 0: option tag 2",
        ),
        // One entry whose key is longer than what is left.
        (
            [&1u64.to_le_bytes()[..], &1000u64.to_le_bytes(), b"k", &[0]].concat(),
            "entry 0: a length of 1000 bytes with 2 bytes left",
        ),
    ] {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"TCSTATE1");
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        fs::write(&path, &bytes).unwrap();
        let bad = SegmentRef {
            bytes: bytes.len() as u64,
            crc: crc32fast::hash(&payload),
            entries: 1,
            ..seg.clone()
        };
        let text = state.read_segment("rows", &bad).unwrap_err().to_string();
        assert!(text.contains(says) && text.contains(&seg.file), "{text}");
    }
}
