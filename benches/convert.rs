//! Placeholder: filled in by the work on this bench.
fn main() {}
