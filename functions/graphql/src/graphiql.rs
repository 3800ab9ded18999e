//! GraphiQL, served by the function itself with its assets (vendored from npm by
//! `scripts/vendor-graphiql.sh`), so it works with no CDN. Assets are addressed by a query
//! parameter on the page's own URL (`?asset=…`): a query-only relative URL keeps the path, so
//! the page works under any mount prefix without extra routes.

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};

/// Changes whenever an asset changes, so browsers may cache assets forever.
pub const ASSET_VERSION: &str = "graphiql-4.0.3_react-18.3.1_1";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "react.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "init.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/graphiql-init.js"),
    },
];

/// Only our own origin: proves (and keeps) the page free of CDN loads. GraphiQL sets inline
/// styles and embeds its fonts as data URLs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn page() -> String {
    let src = |name: &str| format!("?asset={name}&amp;v={ASSET_VERSION}");
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>PMS integration: GraphQL</title>
    <style>body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }} #graphiql {{ height: 100vh; }}</style>
    <link rel="stylesheet" href="{css}">
  </head>
  <body>
    <div id="graphiql">Loading…</div>
    <script src="{react}"></script>
    <script src="{react_dom}"></script>
    <script src="{graphiql}"></script>
    <script src="{init}"></script>
  </body>
</html>
"#,
        css = src("graphiql.css"),
        react = src("react.js"),
        react_dom = src("react-dom.js"),
        graphiql = src("graphiql.js"),
        init = src("init.js"),
    )
}

fn response(status: StatusCode) -> lambda_http::http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
}

/// The GraphiQL page, or the asset `?asset=` names.
pub fn respond(asset: Option<&str>) -> Response<Body> {
    let built = match asset {
        None => response(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::CONTENT_SECURITY_POLICY, CSP)
            .header("referrer-policy", "no-referrer")
            .body(Body::Text(page())),
        Some(name) => match ASSETS.iter().find(|a| a.name == name) {
            Some(a) => response(StatusCode::OK)
                .header(header::CONTENT_TYPE, a.content_type)
                .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
                .body(Body::Text(a.body.to_owned())),
            None => response(StatusCode::NOT_FOUND)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(Body::Text("no such asset".into())),
        },
    };
    built.unwrap_or_else(|_| Response::new(Body::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets() {
        let page = page();
        assert!(
            !page.contains("http"),
            "the page must not reference another origin"
        );
        for a in ASSETS {
            assert!(
                page.contains(&format!("?asset={}&amp;v=", a.name)),
                "{}",
                a.name
            );
            let r = respond(Some(a.name));
            assert_eq!(r.status(), 200);
            assert!(!a.body.is_empty());
        }
        assert_eq!(respond(Some("../secret")).status(), 404);
        let r = respond(None);
        assert!(r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
    }

    /// The behaviour is checked by `scripts/graphiql/init.test.mjs` (node) and in Chromium by
    /// `make graphiql-check`; this keeps the served script's contract visible to `cargo test`.
    #[test]
    fn graphiql_does_not_persist_the_token_unless_the_user_asks() {
        let init = ASSETS
            .iter()
            .find(|a| a.name == "init.js")
            .map(|a| a.body)
            .unwrap_or_default();
        let compact: String = init.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(
            !compact.contains("shouldPersistHeaders:true"),
            "headers (the token) must not be persisted by default"
        );
        assert!(compact.contains("shouldPersistHeaders:persist,"));
        assert!(compact.contains("showPersistHeadersSettings:true"));
        // Headers persisted by earlier pages are removed unless the user switched it on here.
        assert!(compact.contains("storage.removeItem('graphiql:headers')"));
    }
}
