//! Root package of the workspace. It has no code of its own; it owns the
//! cross-crate tests in `tests/` and the criterion benches in `benches/`.
