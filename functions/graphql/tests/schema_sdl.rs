//! The committed SDL (`schema.graphql`) is the schema the code builds. Regenerate it with
//! `UPDATE_SCHEMA=1 cargo test -p pms-graphql --test schema_sdl`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::path::Path;

#[test]
fn committed_sdl_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let sdl = pms_graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != sdl {
        let first = committed
            .lines()
            .zip(sdl.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(sdl.lines().count()));
        panic!(
            "functions/graphql/schema.graphql is out of date (first difference at line {}): \
             run `UPDATE_SCHEMA=1 cargo test -p pms-graphql --test schema_sdl` and commit it",
            first + 1
        );
    }
}
