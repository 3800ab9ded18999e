//! Empty: present so the crate's build-dependencies (which unify the features of other build
//! scripts' and proc macros' dependencies) are part of the build.
fn main() {}
