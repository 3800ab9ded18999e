//! JSON answers: every one carries the request's correlation id.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

pub const CORRELATION_HEADER: &str = "x-correlation-id";

pub fn json_response<T: Serialize>(
    status: StatusCode,
    body: &T,
    correlation_id: &str,
) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        headers.insert(CORRELATION_HEADER, v);
    }
    resp
}
