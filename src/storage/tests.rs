use std::collections::BTreeMap;

use super::*;

fn local() -> (tempfile::TempDir, Arc<dyn Storage>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Location::from(dir.path()).open(&BTreeMap::new()).unwrap();
    (dir, storage)
}

#[test]
fn locations_parse_from_strings_and_paths() {
    assert_eq!(
        Location::from("s3://b"),
        Location::S3 {
            bucket: "b".into(),
            prefix: String::new()
        }
    );
    assert_eq!(
        Location::from(PathBuf::from("s3://b/x/y/")),
        Location::S3 {
            bucket: "b".into(),
            prefix: "x/y".into()
        }
    );
    assert_eq!(
        Location::from("s3://b/x").join("state").to_string(),
        "s3://b/x/state"
    );
    assert_eq!(Location::from("s3://b").join("x").to_string(), "s3://b/x");
    assert_eq!(
        Location::from("./s3:/x"),
        Location::Local(PathBuf::from("./s3:/x"))
    );
}

#[test]
fn create_never_replaces_and_put_does() {
    let (_dir, s) = local();
    s.create("x.bin", b"one").unwrap();
    let err = s.create("x.bin", b"two").unwrap_err();
    assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
    assert_eq!(s.read("x.bin", 10).unwrap(), b"one");
    s.put("x.bin", b"three").unwrap();
    assert_eq!(s.read("x.bin", 10).unwrap(), b"three");
    assert_eq!(s.size("x.bin").unwrap(), 5);
}

#[test]
fn reads_are_bounded_and_missing_objects_named() {
    let (dir, s) = local();
    s.put("big", &[7u8; 100]).unwrap();
    let err = s.read("big", 99).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::TooLarge {
                size: 100,
                limit: 99,
                ..
            }
        ),
        "{err}"
    );
    let err = s.read("nope", 99).unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&dir.path().join("nope").display().to_string()),
        "{err}"
    );
}

#[test]
fn listing_shows_files_and_directories_and_no_temp_file_stays() {
    let (_dir, s) = local();
    s.create("state/op/seg-1", b"a").unwrap();
    s.put("state/op/seg-2", b"bb").unwrap();
    s.create("top", b"c").unwrap();
    assert_eq!(s.list("").unwrap().dirs, vec!["state".to_owned()]);
    assert_eq!(s.list("").unwrap().files, vec![("top".to_owned(), 1)]);
    assert_eq!(s.list("state").unwrap().dirs, vec!["op".to_owned()]);
    assert_eq!(
        s.list("state/op").unwrap().files,
        vec![("seg-1".to_owned(), 1), ("seg-2".to_owned(), 2)]
    );
    assert_eq!(s.list("missing/dir").unwrap(), Listing::default());
    s.delete("state/op/seg-1").unwrap();
    s.delete("state/op/seg-1").unwrap(); // gone already: fine
    assert_eq!(s.list("state/op").unwrap().files.len(), 1);
}

#[test]
fn names_cannot_leave_the_root() {
    let (_dir, s) = local();
    for bad in ["", "../x", "a//b", "a/./b", "/abs"] {
        assert!(s.put(bad, b"x").is_err(), "{bad:?} was accepted");
    }
}

#[cfg(unix)]
#[test]
fn links_are_not_followed() {
    let (dir, s) = local();
    std::fs::write(dir.path().join("target"), b"secret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("target"), dir.path().join("link")).unwrap();
    let err = s.read("link", 100).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::NotRegular {
                kind: "a symbolic link",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_existing_location_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Location::from(dir.path().join("nothing"));
    assert!(missing.open_existing(&BTreeMap::new()).is_err());
    assert!(!dir.path().join("nothing").exists());
}
