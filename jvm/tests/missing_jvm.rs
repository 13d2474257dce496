//! With `JAVA_HOME` pointing at no JDK, the error names `JAVA_HOME` and
//! nothing crashes. (Its own test binary: it changes the environment.)

#[test]
fn a_java_home_without_a_jvm_is_a_clear_error_naming_java_home() {
    let dir = std::env::temp_dir().join("timely-connect-no-jdk");
    std::fs::create_dir_all(&dir).unwrap();
    // SAFETY: this test binary has one test; nothing else reads the environment.
    unsafe { std::env::set_var("JAVA_HOME", &dir) };
    let err = timely_connect_jvm::jvm(&timely_connect_jvm::JvmOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("JAVA_HOME") && text.contains(&dir.display().to_string()),
        "{text}"
    );
}
