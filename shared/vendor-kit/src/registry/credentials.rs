//! Vendor credentials as stored (JSON) in each hotel's Secrets Manager secret: the parts every
//! vendor's credential schema is built from. Each vendor crate owns its own shape (its
//! `credentials.rs`) and registers it with its [`crate::pms::Vendor`].
//!
//! A stored secret is a JSON object whose `provider` field names the vendor it is for, so a
//! hotel moved to another vendor with stale credentials fails clearly.

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use pms_domain::domain::{Provider, ValidationError};

/// Parses a stored secret into a vendor's credentials type. The error never echoes the input
/// (serde's messages can quote values): only the position.
pub fn parse_secret<T: DeserializeOwned>(secret: &SecretString) -> Result<T, ValidationError> {
    serde_json::from_str(secret.expose_secret()).map_err(|e| {
        ValidationError::new(
            "credentials",
            format!(
                "not valid vendor credentials JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// The vendor a stored secret is for (its `provider` field).
pub fn stored_provider(secret: &SecretString) -> Result<Provider, ValidationError> {
    #[derive(Deserialize)]
    struct Tag {
        provider: String,
    }
    let tag: Tag = parse_secret(secret)?;
    Provider::parse(&tag.provider)
}

/// The JSON stored for `provider`: `fields` with the `provider` tag added.
pub fn secret_json(provider: Provider, mut fields: Map<String, Value>) -> SecretString {
    fields.insert("provider".into(), Value::String(provider.to_string()));
    SecretString::from(Value::Object(fields).to_string())
}

/// `key=value` credentials given to the CLI (or a credentials file), for a vendor's schema to
/// check and shape.
pub struct CredentialPairs<'a> {
    provider: Provider,
    pairs: &'a [(String, SecretString)],
}

impl<'a> CredentialPairs<'a> {
    pub fn new(provider: Provider, pairs: &'a [(String, SecretString)]) -> Self {
        Self { provider, pairs }
    }

    /// A value given for `key` (the last one wins), if any.
    pub fn get(&self, key: &str) -> Option<String> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == key)
            .map(|(_, v)| v.expose_secret().to_owned())
    }

    /// A value that must be given and not empty.
    pub fn need(&self, key: &'static str) -> Result<String, ValidationError> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            ValidationError::new(
                key,
                format!("missing credential {key} for {}", self.provider),
            )
        })
    }

    /// Refuses keys the schema does not know: a typo would otherwise be dropped silently and
    /// surface later as a PMS 401.
    pub fn only(&self, known: &[&str]) -> Result<(), ValidationError> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((k, _)) => Err(ValidationError::new(
                "credentials",
                format!(
                    "{} credentials have no key {k:?} (known: {})",
                    self.provider,
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_provider_is_read_without_echoing_secrets() {
        let secret = SecretString::from(r#"{"provider":"mews","accessToken":"TOPSECRET"}"#);
        assert_eq!(stored_provider(&secret).unwrap(), Provider::named("mews"));
        let err =
            stored_provider(&SecretString::from(r#"{"accessToken":"TOPSECRET"}"#)).unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"), "{err}");
        let err = stored_provider(&SecretString::from(r#"{"provider":"TOPSECRET!"}"#));
        assert!(err.is_err());
    }

    #[test]
    fn pairs_name_what_is_missing_and_what_is_unknown() {
        let given = vec![("apiKey".to_owned(), SecretString::from("k"))];
        let p = CredentialPairs::new(Provider::named("cloudbeds"), &given);
        assert_eq!(p.need("apiKey").unwrap(), "k");
        assert_eq!(p.need("other").unwrap_err().field, "other");
        assert!(p.only(&["apiKey"]).is_ok());
        assert!(p.only(&["apikey"]).unwrap_err().message.contains("apiKey"));
    }

    #[test]
    fn the_stored_json_carries_its_provider() {
        let mut m = Map::new();
        m.insert("apiKey".into(), "k".into());
        let s = secret_json(Provider::named("cloudbeds"), m);
        assert_eq!(stored_provider(&s).unwrap(), Provider::named("cloudbeds"));
    }
}
