//! No code: this crate only pins the features of third-party crates (see its Cargo.toml).
