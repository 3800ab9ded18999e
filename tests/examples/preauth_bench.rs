//! What a hostile GraphQL request costs before (and after) authentication: a 1 KB
//! request of nested fragment spreads (`fragment F{i} on QueryRoot {...F{i-1} ...F{i-1}}`,
//! 2^levels fields once expanded), sent to the graphql function's real handler on moto.
//!
//! - before: the function's former path, replayed: the engine parses and validates the document
//!   with the schema's limits, then an extension refuses it at execution, as the authentication
//!   step did for a bad token (measured at increasing levels; each level doubles it, so 26
//!   levels are extrapolated unless `PREAUTH_FULL=1`);
//! - after: the function as it is, with a garbage token (`Bearer x`), with a well-formed but
//!   unknown token, and with a valid one.
//!
//! usage: scripts/with-moto.sh cargo run -p pms-tests --example preauth_bench

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{EmptySubscription, Response, Schema, ServerError};

use pms_app::registry::Scope;
use pms_tests::graphql::GraphqlStack;
use serde_json::json;

fn doubling_fragments(levels: usize) -> String {
    let mut q = format!("query {{ ...F{levels} }}\nfragment F0 on QueryRoot {{ __typename }}\n");
    for i in 1..=levels {
        q.push_str(&format!(
            "fragment F{i} on QueryRoot {{...F{p} ...F{p}}}\n",
            p = i - 1
        ));
    }
    q
}

/// The former authentication step: it ran at execution, after parse and validation.
struct RefuseAtExecution;

impl ExtensionFactory for RefuseAtExecution {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RefuseAtExecution)
    }
}

#[async_trait::async_trait]
impl Extension for RefuseAtExecution {
    async fn execute(
        &self,
        _ctx: &ExtensionContext<'_>,
        _operation_name: Option<&str>,
        _next: NextExecute<'_>,
    ) -> Response {
        Response::from_errors(vec![ServerError::new(
            "the bearer token is not valid",
            None,
        )])
    }
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let levels = 26;
    let bomb = doubling_fragments(levels);
    println!(
        "the request: {levels} levels of doubling fragment spreads, {} bytes of query",
        bomb.len()
    );

    // Before: the engine's parse + validation of the document, as the function ran it ahead of
    // the token check.
    let schema = Schema::build(
        pms_graphql::query::QueryRoot,
        pms_graphql::mutation::MutationRoot,
        EmptySubscription,
    )
    .limit_depth(pms_graphql::schema::MAX_DEPTH)
    .limit_complexity(pms_graphql::schema::MAX_COMPLEXITY)
    .limit_recursive_depth(pms_graphql::schema::MAX_RECURSION)
    .extension(RefuseAtExecution)
    .finish();
    let mut last = (0, Duration::ZERO);
    println!("\nbefore (engine parse + validation, no token check first):");
    for l in [12, 14, 16, 18, 20] {
        let q = doubling_fragments(l);
        let started = Instant::now();
        let r = schema.execute(q).await;
        let took = started.elapsed();
        println!(
            "  {l:>2} levels: {:>9.1} ms  ({} error(s))",
            ms(took),
            r.errors.len()
        );
        last = (l, took);
    }
    let factor = 2f64.powi((levels - last.0) as i32);
    println!(
        "  {levels} levels: {:>9.1} ms  extrapolated (x{factor} from {} levels)",
        ms(last.1) * factor,
        last.0
    );
    if std::env::var_os("PREAUTH_FULL").is_some() {
        let started = Instant::now();
        schema.execute(bomb.clone()).await;
        println!(
            "  {levels} levels: {:>9.1} ms  measured",
            ms(started.elapsed())
        );
    }

    // After: the function's handler, token first, then the limits.
    let g = GraphqlStack::new().await;
    let hotel = g.add_hotel("bench", "Europe/Prague").await;
    let token = g.token(&[&hotel], &[Scope::Read]).await;
    let body = serde_json::to_vec(&json!({ "query": bomb })).expect("json");
    println!("\nafter (the graphql function's handler, 50 requests each, median):");
    for (name, presented) in [
        ("Bearer x (garbage)", "x".to_owned()),
        (
            "a well-formed unknown token",
            "pms_0123456789abcdef_forged".to_owned(),
        ),
        ("a valid token", token),
    ] {
        let mut times = Vec::new();
        let mut status = 0;
        for _ in 0..50 {
            let started = Instant::now();
            let r = g.post_raw(Some(&presented), body.clone()).await;
            times.push(started.elapsed());
            status = r.status.as_u16();
        }
        println!(
            "  {name:<28} {:>7.2} ms  (HTTP {status}, max {:.2} ms)",
            ms(median(times.clone())),
            ms(*times.iter().max().expect("times"))
        );
    }
}
