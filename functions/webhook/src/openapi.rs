//! The OpenAPI 3.1 document of every route, served at `GET /openapi.json`: the committed
//! `openapi.json` (partner ingestion and what every webhook answers) with each webhook vendor's
//! own path and body schema merged in (its crate's `webhook.openapi.json`). Tests keep it true:
//! its paths are exactly [`crate::routes::routes`], and the integration tests check each
//! answer's status and body against it.

use std::sync::LazyLock;

use serde_json::Value;

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let mut doc: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap_or_default();
    for vendor in pms_vendors::webhooks() {
        merge_vendor(
            &mut doc,
            &crate::routes::webhook_path(&vendor),
            vendor.openapi,
        );
    }
    doc
});

/// Adds a vendor's fragment (`{"pathItem": .., "schemas": ..}`) to the document. A fragment
/// that does not parse adds nothing, and the route then fails the document's tests.
fn merge_vendor(doc: &mut Value, path: &str, fragment: &str) {
    let Ok(Value::Object(mut fragment)) = serde_json::from_str::<Value>(fragment) else {
        return;
    };
    if let (Some(item), Some(paths)) = (
        fragment.remove("pathItem"),
        doc.get_mut("paths").and_then(Value::as_object_mut),
    ) {
        paths.insert(path.to_owned(), item);
    }
    if let (Some(Value::Object(schemas)), Some(all)) = (
        fragment.remove("schemas"),
        doc.pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut),
    ) {
        all.extend(schemas);
    }
}

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

    #[test]
    fn the_document_parses_and_is_openapi_3_1() {
        assert_eq!(document()["openapi"], "3.1.0");
        assert!(document()["info"]["title"].is_string());
    }

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let mut routes = crate::routes::routes();
        routes.sort();
        assert_eq!(operations(), routes);
    }

    #[test]
    fn every_reference_resolves() {
        let text = document().to_string();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("\"$ref\":\"#/") {
            rest = &rest[i + 9..];
            let end = rest.find('"').unwrap();
            let pointer = &rest[..end];
            assert!(document().pointer(pointer).is_some(), "{pointer}");
            rest = &rest[end..];
        }
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
