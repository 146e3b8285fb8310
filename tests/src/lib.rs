//! End-to-end test support for Hush (built out with the CLI issue).
