//! Checks requests and responses against the OHIP spec excerpts in `testdata/`
//! (operations with their parameters, and the schema definitions they reference).

use std::collections::HashMap;
use std::path::PathBuf;

use pms_opera::sim::RecordedRequest;
use serde_json::Value;

pub struct Spec {
    ops: serde_json::Map<String, Value>,
    defs: HashMap<String, Value>,
}

/// Headers any HTTP client sends, outside OHIP's parameter lists.
const TRANSPORT_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "content-type",
    "content-length",
    "host",
    "user-agent",
];

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

pub fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(testdata().join("examples").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

impl Spec {
    pub fn load() -> Spec {
        let ops: Value = serde_json::from_str(
            &std::fs::read_to_string(testdata().join("operations.json")).unwrap(),
        )
        .unwrap();
        let mut defs = HashMap::new();
        for module in ["oauth", "crm", "rsv", "csh", "hsk", "int"] {
            let text =
                std::fs::read_to_string(testdata().join(format!("definitions/{module}.json")))
                    .unwrap();
            defs.insert(module.to_owned(), serde_json::from_str(&text).unwrap());
        }
        Spec {
            ops: ops.as_object().unwrap().clone(),
            defs,
        }
    }

    /// The operation a method and path are, by the specs' path templates.
    pub fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.ops.iter().find_map(|(id, op)| {
            if op["method"].as_str()? != method {
                return None;
            }
            let tpl: Vec<&str> = op["path"].as_str()?.trim_matches('/').split('/').collect();
            let same = tpl.len() == segs.len()
                && tpl
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s);
            same.then_some((id.as_str(), op))
        })
    }

    /// Every way `r` departs from the spec of its operation.
    pub fn check_request(&self, r: &RecordedRequest) -> Vec<String> {
        let mut errs = Vec::new();
        let Some((id, op)) = self.operation(&r.method, &r.path) else {
            return vec![format!(
                "{} {} is no operation of the specs",
                r.method, r.path
            )];
        };
        let module = op["module"].as_str().unwrap();
        let params = op["parameters"].as_array().unwrap();
        let declared = |place: &str, name: &str| {
            params.iter().find(|p| {
                p["in"] == place
                    && p["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        };
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        // Headers: every required one present, every OHIP one declared and valid.
        for p in params.iter().filter(|p| p["in"] == "header") {
            let name = p["name"].as_str().unwrap();
            if p["required"] == true && header(name).is_none() {
                errs.push(format!("{id}: required header {name} is missing"));
            }
        }
        for (k, v) in &r.headers {
            if TRANSPORT_HEADERS.contains(&k.as_str()) || k == "authorization" {
                continue;
            }
            match declared("header", k) {
                None => errs.push(format!("{id}: header {k} is not in the spec")),
                Some(p) => {
                    if k == "x-app-key" && v != "known" {
                        errs.push(format!("{id}: x-app-key is not the registered key"));
                    }
                    if k == "x-request-id" && uuid::Uuid::parse_str(v).is_err() {
                        errs.push(format!(
                            "{id}: x-request-id {v:?} is not a UUID ({})",
                            p["pattern"]
                        ));
                    }
                    if k == "enterpriseid" {
                        let ok = (1..=8).contains(&v.len())
                            && v.chars()
                                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                        if !ok {
                            errs.push(format!(
                                "{id}: enterpriseId {v:?} does not match its pattern"
                            ));
                        }
                    }
                }
            }
        }
        let scheme = header("authorization");
        let want = if id == "getToken" { "Basic" } else { "Bearer" };
        if scheme != Some(want) {
            errs.push(format!("{id}: authorization is {scheme:?}, not {want}"));
        }
        // Query parameters: declared, valid values, repeated only when an array.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, v) in &r.query {
            *seen.entry(k.as_str()).or_default() += 1;
            match declared("query", k) {
                None => errs.push(format!("{id}: query parameter {k} is not in the spec")),
                Some(p) => {
                    let item = if p["type"] == "array" { &p["items"] } else { p };
                    if let Some(e) = check_scalar(item, &Value::String(v.clone()), true) {
                        errs.push(format!("{id}: {k}={v}: {e}"));
                    }
                    if let Some(max) = p["maximum"].as_f64() {
                        if v.parse::<f64>().is_ok_and(|n| n > max) {
                            errs.push(format!("{id}: {k}={v} is above the maximum {max}"));
                        }
                    }
                }
            }
        }
        for (k, n) in seen {
            if n > 1 && declared("query", k).is_some_and(|p| p["type"] != "array") {
                errs.push(format!("{id}: {k} repeated but not an array"));
            }
        }
        for p in params
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] == true)
        {
            if !r
                .query
                .iter()
                .any(|(k, _)| k == p["name"].as_str().unwrap())
            {
                errs.push(format!(
                    "{id}: required query parameter {} missing",
                    p["name"]
                ));
            }
        }
        // Bodies: form fields for the token, JSON by schema for the rest.
        let form_params: Vec<&Value> = params.iter().filter(|p| p["in"] == "formData").collect();
        if !form_params.is_empty() {
            if r.content_type.as_deref() != Some("application/x-www-form-urlencoded") {
                errs.push(format!("{id}: body is {:?}, not a form", r.content_type));
            }
            let form: Vec<(String, String)> =
                url::form_urlencoded::parse(r.body.as_deref().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            for (k, v) in &form {
                match declared("formData", k) {
                    None => errs.push(format!("{id}: form field {k} is not in the spec")),
                    Some(p) => {
                        if let Some(e) = check_scalar(p, &Value::String(v.clone()), true) {
                            errs.push(format!("{id}: form {k}: {e}"));
                        }
                    }
                }
            }
            for p in form_params.iter().filter(|p| p["required"] == true) {
                if !form.iter().any(|(k, _)| k == p["name"].as_str().unwrap()) {
                    errs.push(format!("{id}: required form field {} missing", p["name"]));
                }
            }
        } else if op["body"].is_null() {
            if r.body.is_some() {
                errs.push(format!("{id}: a body was sent to an operation without one"));
            }
        } else {
            if r.content_type.as_deref() != Some("application/json") {
                errs.push(format!("{id}: body is {:?}, not JSON", r.content_type));
            }
            match r.body.as_deref().map(serde_json::from_str::<Value>) {
                Some(Ok(body)) => self.validate(module, &body, &op["body"], id, &mut errs),
                _ => errs.push(format!("{id}: the body is not JSON")),
            }
        }
        errs
    }

    /// Every way a 2xx answer departs from the operation's response schema.
    pub fn check_response(&self, r: &RecordedRequest) -> Vec<String> {
        let Some((id, op)) = self.operation(&r.method, &r.path) else {
            return vec![format!(
                "{} {} is no operation of the specs",
                r.method, r.path
            )];
        };
        let status = r.status.to_string();
        let Some(resp) = op["responses"].get(&status) else {
            return vec![format!("{id}: status {status} is not a documented answer")];
        };
        let mut errs = Vec::new();
        match (&resp["schema"], r.response_body.as_deref()) {
            (Value::Null, None) => {}
            (Value::Null, Some(_)) if r.status == 204 => {
                errs.push(format!("{id}: 204 with a body"));
            }
            (Value::Null, Some(_)) => {}
            (schema, Some(body)) => match serde_json::from_str::<Value>(body) {
                Ok(v) => self.validate(op["module"].as_str().unwrap(), &v, schema, id, &mut errs),
                Err(_) => errs.push(format!("{id}: the answer is not JSON")),
            },
            (_, None) => {}
        }
        errs
    }

    fn resolve<'a>(&'a self, module: &str, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap();
                &self.defs[module][name]
            }
            None => schema,
        }
    }

    /// Checks `v` against a schema: every property known, every type right.
    pub fn validate(
        &self,
        module: &str,
        v: &Value,
        schema: &Value,
        at: &str,
        errs: &mut Vec<String>,
    ) {
        let schema = self.resolve(module, schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.validate(module, v, s, at, errs);
            }
            return;
        }
        let kind = schema.get("type").and_then(Value::as_str);
        let props = schema.get("properties").and_then(Value::as_object);
        match (kind, v) {
            (Some("object") | None, Value::Object(map)) if props.is_some() => {
                let props = props.unwrap();
                for (k, child) in map {
                    match props.get(k) {
                        None => errs.push(format!("{at}.{k}: not a property in the spec")),
                        Some(s) => self.validate(module, child, s, &format!("{at}.{k}"), errs),
                    }
                }
            }
            (Some("object"), Value::Object(_)) | (None, _) => {}
            (Some("object"), other) => errs.push(format!("{at}: expected an object, got {other}")),
            (Some("array"), Value::Array(items)) => {
                if let Some(item) = schema.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        self.validate(module, x, item, &format!("{at}[{i}]"), errs);
                    }
                }
            }
            (Some("array"), other) => errs.push(format!("{at}: expected an array, got {other}")),
            _ => {
                if let Some(e) = check_scalar(schema, v, false) {
                    errs.push(format!("{at}: {e}"));
                }
            }
        }
    }
}

/// A scalar against its type, enum, format and length. `text` is true for query and form
/// values, which are strings on the wire whatever their type.
fn check_scalar(schema: &Value, v: &Value, text: bool) -> Option<String> {
    let kind = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    let s = v.as_str();
    let ok = match kind {
        "string" => v.is_string(),
        "integer" => {
            v.is_i64() || v.is_u64() || (text && s.is_some_and(|s| s.parse::<i64>().is_ok()))
        }
        "number" => v.is_number() || (text && s.is_some_and(|s| s.parse::<f64>().is_ok())),
        "boolean" => v.is_boolean() || (text && matches!(s, Some("true" | "false"))),
        _ => true,
    };
    if !ok {
        return Some(format!("{v} is not a {kind}"));
    }
    if let (Some(values), Some(s)) = (schema.get("enum").and_then(Value::as_array), s) {
        if !values.iter().any(|e| e.as_str() == Some(s)) {
            return Some(format!(
                "{s:?} is not one of {}",
                Value::Array(values.clone())
            ));
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date") {
        if let Some(s) = s {
            if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                return Some(format!("{s:?} is not a date"));
            }
        }
    } else if let (Some(max), Some(s)) = (schema.get("maxLength").and_then(Value::as_u64), s) {
        // (Date fields carry a maxLength of 8 in the specs, shorter than the dates they
        // hold; lengths are checked on other strings only.)
        if s.chars().count() as u64 > max {
            return Some(format!("{s:?} is longer than {max}"));
        }
    }
    None
}
