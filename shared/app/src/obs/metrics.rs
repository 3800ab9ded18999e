use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map, Value};

/// Metrics of one invocation, written as one CloudWatch Embedded Metric Format line by
/// [`Metrics::flush`]. Dimensions are low-cardinality (function, provider); the hotel goes in as
/// a property so it is searchable without creating a metric per hotel.
pub struct Metrics {
    namespace: String,
    function: String,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    provider: Option<String>,
    hotel: Option<String>,
    values: BTreeMap<String, (f64, &'static str)>,
    properties: Map<String, Value>,
}

impl Metrics {
    pub fn new(namespace: impl Into<String>, function: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            function: function.into(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_provider(&self, provider: &str) {
        self.lock().provider = Some(provider.to_owned());
    }

    pub fn set_hotel(&self, hotel: &str) {
        self.lock().hotel = Some(hotel.to_owned());
    }

    pub fn count(&self, name: &str, n: u64) {
        let mut inner = self.lock();
        let entry = inner
            .values
            .entry(name.to_owned())
            .or_insert((0.0, "Count"));
        entry.0 += n as f64;
    }

    /// A level (not a sum): the last value set is the one written.
    pub fn gauge(&self, name: &str, value: f64, unit: &'static str) {
        self.lock().values.insert(name.to_owned(), (value, unit));
    }

    pub fn duration(&self, name: &str, d: Duration) {
        let mut inner = self.lock();
        let entry = inner
            .values
            .entry(name.to_owned())
            .or_insert((0.0, "Milliseconds"));
        entry.0 += d.as_secs_f64() * 1000.0;
    }

    pub fn property(&self, key: &str, value: impl Into<Value>) {
        self.lock().properties.insert(key.to_owned(), value.into());
    }

    /// The EMF document, or `None` when nothing was recorded. Resets the metrics.
    pub fn take_document(&self, timestamp_ms: i64) -> Option<Value> {
        let mut inner = self.lock();
        if inner.values.is_empty() {
            return None;
        }
        let values = std::mem::take(&mut inner.values);
        let mut doc = std::mem::take(&mut inner.properties);
        // Two dimension sets: per function (what alarms watch, whatever the vendor) and per
        // function and vendor (for dashboards).
        let mut dims = vec![json!(["Function"])];
        doc.insert("Function".into(), json!(self.function));
        if let Some(p) = inner.provider.take() {
            doc.insert("Provider".into(), json!(p));
            dims.push(json!(["Function", "Provider"]));
        }
        if let Some(h) = inner.hotel.take() {
            doc.insert("hotel".into(), json!(h));
        }
        let metrics: Vec<Value> = values
            .iter()
            .map(|(name, (_, unit))| json!({"Name": name, "Unit": unit}))
            .collect();
        for (name, (v, _)) in values {
            doc.insert(name, json!(v));
        }
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": dims,
                    "Metrics": metrics,
                }]
            }),
        );
        Some(Value::Object(doc))
    }

    /// Writes the EMF line to stdout (CloudWatch extracts the metrics from the log stream).
    pub fn flush(&self) {
        // Optional vendor lookups left out during the invocation (see pms_vendor_kit's
        // `degraded`): a process-wide count, taken by whichever invocation flushes next.
        let degraded = pms_vendor_kit::pms::degraded::take();
        if degraded > 0 {
            self.count("EnrichmentsDegraded", degraded);
        }
        if let Some(doc) = self.take_document(chrono::Utc::now().timestamp_millis()) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{doc}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_shape() {
        let m = Metrics::new("PmsIntegration", "writer");
        assert!(m.take_document(1).is_none());
        m.set_provider("mews");
        m.set_hotel("h1");
        m.count("ChargesPosted", 1);
        m.count("ChargesPosted", 2);
        m.duration("PmsLatency", Duration::from_millis(120));
        let doc = m.take_document(1_700_000_000_000).unwrap();
        assert_eq!(doc["ChargesPosted"], 3.0);
        assert_eq!(doc["PmsLatency"], 120.0);
        assert_eq!(doc["Function"], "writer");
        assert_eq!(doc["Provider"], "mews");
        assert_eq!(doc["hotel"], "h1");
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "PmsIntegration");
        assert_eq!(
            cw["Dimensions"],
            json!([["Function"], ["Function", "Provider"]])
        );
        assert_eq!(cw["Metrics"].as_array().unwrap().len(), 2);
        // Flushed once: the next document is empty.
        assert!(m.take_document(2).is_none());
    }
}
