//! The task runtime: one thread per task, a bounded channel to the operator.
