//! Request checks shared by the routes: media type, size and JSON, each failing as a
//! [`Problem`].

use lambda_http::http::header;
use lambda_http::{Body, Request};

use crate::problem::Problem;

pub fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether the body is declared as JSON (`application/json`, `…+json`, any parameters).
/// `required = false` accepts a missing header (vendors that send none).
pub fn check_json_media_type(req: &Request, required: bool) -> Result<(), Problem> {
    match header(req, header::CONTENT_TYPE.as_str()) {
        None if !required => Ok(()),
        None => Err(Problem::unsupported_media_type()),
        Some(ct) => {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
            {
                Ok(())
            } else {
                Err(Problem::unsupported_media_type())
            }
        }
    }
}

/// The body's bytes, refused above `limit`.
pub fn body_bytes(req: &Request, limit: usize) -> Result<&[u8], Problem> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > limit {
        return Err(Problem::too_large(limit));
    }
    Ok(bytes)
}

/// Parses JSON, answering 400 with serde's position-only message (it never quotes the input).
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, Problem> {
    if bytes.is_empty() {
        return Err(Problem::malformed_json("the body is empty"));
    }
    serde_json::from_slice(bytes).map_err(|e| Problem::malformed_json(e.to_string()))
}
