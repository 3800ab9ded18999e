//! Checks values and requests against OpenAPI 3.0 operation excerpts (JSON, `$ref`s resolved),
//! for contract tests: a response fixture must fit its schema, and a request the adapter sends
//! must use the operation's method, parameter names, value types and body encoding.
//!
//! Covers the subset vendor specs use: `type`, `properties`, `additionalProperties`, `items`,
//! `enum`, `nullable`, `oneOf`/`anyOf`, and the `date`, `date-time` and `time` formats.

use serde_json::Value;

/// Checks `value` against `schema`; every problem is pushed to `out` with its JSON path.
pub fn check_value(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    if value.is_null() {
        let typed = schema.get("type").is_some()
            || schema.get("oneOf").is_some()
            || schema.get("properties").is_some();
        if typed && schema.get("nullable") != Some(&Value::Bool(true)) {
            out.push(format!("{path}: null, but the schema is not nullable"));
        }
        return;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(alternatives)) = schema.get(key) {
            let fits = alternatives.iter().any(|alt| {
                let mut probe = Vec::new();
                check_value(alt, value, path, &mut probe);
                probe.is_empty()
            });
            if !fits {
                out.push(format!("{path}: matches no alternative of {key}"));
            }
            return;
        }
    }
    let ty = schema.get("type").and_then(Value::as_str);
    match ty {
        Some("object") => {
            let Value::Object(map) = value else {
                out.push(format!("{path}: expected an object"));
                return;
            };
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, v) in map {
                let p = format!("{path}.{k}");
                match (props.and_then(|ps| ps.get(k)), additional) {
                    (Some(s), _) => check_value(s, v, &p, out),
                    (None, Some(Value::Bool(false))) => {
                        out.push(format!("{p}: not allowed by the schema"));
                    }
                    (None, Some(s @ Value::Object(_))) => check_value(s, v, &p, out),
                    (None, _) if props.is_some_and(|ps| !ps.is_empty()) => {
                        out.push(format!("{p}: not a property of the schema"));
                    }
                    (None, _) => {}
                }
            }
        }
        Some("array") => {
            let Value::Array(items) = value else {
                out.push(format!("{path}: expected an array"));
                return;
            };
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check_value(s, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        Some("string") => match value.as_str() {
            Some(s) => check_string(schema, s, path, out),
            None => out.push(format!("{path}: expected a string")),
        },
        Some("number") if !value.is_number() => out.push(format!("{path}: expected a number")),
        Some("integer") if !(value.is_i64() || value.is_u64()) => {
            out.push(format!("{path}: expected an integer"));
        }
        Some("boolean") if !value.is_boolean() => {
            out.push(format!("{path}: expected a boolean"));
        }
        _ => {}
    }
}

fn check_string(schema: &Value, s: &str, path: &str, out: &mut Vec<String>) {
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.iter().any(|a| a.as_str() == Some(s)) {
            out.push(format!("{path}: {s:?} is not one of the enum values"));
        }
    }
    // An empty string is how these APIs say "none"; formats apply to values.
    if s.is_empty() {
        return;
    }
    let ok = match schema.get("format").and_then(Value::as_str) {
        Some("date") => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        // Vendors write local date-times with a space (Cloudbeds) or RFC 3339.
        Some("date-time") => {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok()
                || chrono::DateTime::parse_from_rfc3339(s).is_ok()
        }
        Some("time") => {
            chrono::NaiveTime::parse_from_str(s, "%H:%M").is_ok()
                || chrono::NaiveTime::parse_from_str(s, "%H:%M:%S").is_ok()
        }
        _ => true,
    };
    if !ok {
        out.push(format!(
            "{path}: {s:?} does not have the format {}",
            schema["format"]
        ));
    }
}

/// Checks a text value (query string or form field) against a scalar schema.
pub fn check_text(schema: &Value, text: &str, path: &str, out: &mut Vec<String>) {
    let ty = schema.get("type").and_then(Value::as_str);
    match ty {
        Some("integer") if text.parse::<i64>().is_err() => {
            out.push(format!("{path}: {text:?} is not an integer"));
        }
        Some("number") if text.parse::<f64>().is_err() => {
            out.push(format!("{path}: {text:?} is not a number"));
        }
        Some("boolean") if !matches!(text, "true" | "false" | "1" | "0") => {
            out.push(format!("{path}: {text:?} is not a boolean"));
        }
        Some("object") | Some("array") => {
            out.push(format!("{path}: a structured value sent as plain text"));
        }
        _ => check_string(schema, text, path, out),
    }
}

/// Checks query parameters against an operation's `parameters`: every name is declared (in the
/// query), every required one is present, every value fits its schema.
pub fn check_query(operation: &Value, pairs: &[(String, String)], out: &mut Vec<String>) {
    let params: Vec<&Value> = operation["parameters"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for (name, value) in pairs {
        match params
            .iter()
            .find(|p| p["name"] == name.as_str() && p["in"] == "query")
        {
            Some(p) => check_text(&p["schema"], value, name, out),
            None => out.push(format!("query parameter {name:?} is not in the spec")),
        }
    }
    for p in params {
        if p["required"] == true && p["in"] == "query" {
            let name = p["name"].as_str().unwrap_or_default();
            if !pairs.iter().any(|(n, _)| n == name) {
                out.push(format!("required query parameter {name:?} is missing"));
            }
        }
    }
}

/// Splits a bracketed form name, `items[0][itemName]` -> `["items", "0", "itemName"]`.
pub fn form_path(name: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (head, mut rest) = match name.find('[') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    parts.push(head);
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(end) => {
                parts.push(&stripped[..end]);
                rest = &stripped[end + 1..];
            }
            None => break,
        }
    }
    parts
}

/// Checks a form-urlencoded body against an operation's `requestBody`: the content type is
/// declared, every (bracketed) field is a property of the schema, every value fits it.
pub fn check_form(
    operation: &Value,
    content_type: &str,
    pairs: &[(String, String)],
    out: &mut Vec<String>,
) {
    const FORM: &str = "application/x-www-form-urlencoded";
    if !content_type.starts_with(FORM) {
        out.push(format!("body sent as {content_type:?}, expected {FORM}"));
    }
    let Some(schema) = operation.pointer(&format!(
        "/requestBody/content/{}/schema",
        FORM.replace('/', "~1")
    )) else {
        out.push(format!("the operation declares no {FORM} body"));
        return;
    };
    for (name, value) in pairs {
        let mut s = schema;
        let mut ok = true;
        for part in form_path(name) {
            s = match s.get("type").and_then(Value::as_str) {
                Some("array") if part.parse::<usize>().is_ok() => &s["items"],
                Some("array") => {
                    out.push(format!("{name}: array element {part:?} is not an index"));
                    ok = false;
                    break;
                }
                _ => match s.pointer(&format!("/properties/{part}")) {
                    Some(next) => next,
                    None => {
                        out.push(format!("form field {name:?} is not in the spec"));
                        ok = false;
                        break;
                    }
                },
            };
        }
        if ok {
            check_text(s, value, name, out);
        }
    }
    if let Some(Value::Array(required)) = schema.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if !pairs.iter().any(|(n, _)| form_path(n)[0] == r) {
                out.push(format!("required form field {r:?} is missing"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_against_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "n": {"type": "number"},
                "when": {"type": "string", "format": "date-time", "nullable": true},
                "state": {"type": "string", "enum": ["a", "b"]},
                "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"x": {"type": "boolean"}}}},
                "either": {"oneOf": [{"type": "object"}, {"type": "array"}]}
            }
        });
        let mut out = Vec::new();
        check_value(
            &schema,
            &json!({"id": "1", "n": 2.5, "when": "2026-03-08 03:15:42", "state": "a",
                    "map": {"k": {"x": true}}, "either": []}),
            "$",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        check_value(
            &schema,
            &json!({"id": 1, "n": "2", "when": "yesterday", "state": "c", "extra": 1,
                    "map": {"k": {"x": "no"}}, "either": 3}),
            "$",
            &mut out,
        );
        assert_eq!(out.len(), 7, "{out:?}");
    }

    #[test]
    fn form_paths_and_bodies() {
        assert_eq!(
            form_path("items[0][itemTaxes][1][taxName]"),
            ["items", "0", "itemTaxes", "1", "taxName"]
        );
        let op = json!({"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object",
            "properties": {
                "reservationID": {"type": "string"},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "itemPrice": {"type": "number"}, "itemQuantity": {"type": "integer"}}}}
            }
        }}}}});
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let mut out = Vec::new();
        check_form(
            &op,
            "application/x-www-form-urlencoded",
            &pairs(&[
                ("reservationID", "1"),
                ("items[0][itemPrice]", "24.50"),
                ("items[0][itemQuantity]", "1"),
            ]),
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        check_form(
            &op,
            "application/json",
            &pairs(&[
                ("items[x][itemPrice]", "1"),
                ("items[0][itemQuantity]", "1.5"),
            ]),
            &mut out,
        );
        assert_eq!(out.len(), 3, "{out:?}");
    }
}
