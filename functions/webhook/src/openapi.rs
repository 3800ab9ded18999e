//! The OpenAPI 3.1 document of every route, committed as `openapi.json` and served at
//! `GET /openapi.json`. Tests keep it true: its paths are exactly [`crate::routes::ROUTES`],
//! and the integration tests check each answer's status and body against it.

use std::sync::LazyLock;

static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("../openapi.json")).unwrap_or_default());

pub fn document() -> &'static serde_json::Value {
    &DOCUMENT
}

/// The (method, path) pairs the document declares.
pub fn operations() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = document().get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    out.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    out.sort();
    out
}

/// The statuses the document declares for an operation.
pub fn statuses(method: &str, path: &str) -> Vec<u16> {
    document()["paths"][path][method.to_ascii_lowercase()]["responses"]
        .as_object()
        .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn the_document_parses_and_is_openapi_3_1() {
        assert_eq!(document()["openapi"], "3.1.0");
        assert!(document()["info"]["title"].is_string());
    }

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routes.sort();
        assert_eq!(operations(), routes);
    }

    #[test]
    fn every_operation_declares_its_errors() {
        for (method, path) in operations() {
            let s = statuses(&method, &path);
            if path.starts_with("/v1/hotels/") {
                for code in [200, 201, 400, 401, 403, 409, 413, 415, 422, 503] {
                    assert!(s.contains(&code), "{method} {path} lacks {code}");
                }
            }
            if path.starts_with("/v1/webhooks/") {
                for code in [200, 202, 400, 403, 404, 413, 415, 422, 503] {
                    assert!(s.contains(&code), "{method} {path} lacks {code}");
                }
            }
        }
    }
}
