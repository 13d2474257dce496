//! Snapshots of source offsets and sink positions.
