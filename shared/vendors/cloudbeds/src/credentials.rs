//! What a Cloudbeds hotel's secret holds: the property's API key (`x-api-key`).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Map;

use pms_domain::domain::ValidationError;
use pms_vendor_kit::pms::CredentialSchema;
use pms_vendor_kit::registry::{parse_secret, secret_json, CredentialPairs};

/// The keys `pmsctl hotel add --credential` takes for Cloudbeds.
pub const KEYS: &[&str] = &["apiKey"];

/// `Debug` never shows the key (`SecretString` redacts itself).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudbedsCredentials {
    pub api_key: SecretString,
}

impl CloudbedsCredentials {
    pub fn parse(secret: &SecretString) -> Result<Self, ValidationError> {
        parse_secret(secret)
    }

    /// The JSON stored in the hotel's secret.
    pub fn to_secret(&self) -> SecretString {
        let mut m = Map::new();
        m.insert("apiKey".into(), self.api_key.expose_secret().into());
        secret_json(crate::PROVIDER, m)
    }
}

fn from_pairs(p: &CredentialPairs<'_>) -> Result<SecretString, ValidationError> {
    let mut m = Map::new();
    m.insert("apiKey".into(), p.need("apiKey")?.into());
    Ok(secret_json(crate::PROVIDER, m))
}

fn check(secret: &SecretString) -> Result<(), ValidationError> {
    CloudbedsCredentials::parse(secret).map(|_| ())
}

pub fn schema() -> CredentialSchema {
    CredentialSchema {
        keys: KEYS,
        from_pairs,
        check,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_round_trips_and_is_required() {
        let v = crate::vendor();
        let secret = v
            .credentials_from_pairs(&[("apiKey".into(), SecretString::from("cbat_SECRET"))])
            .unwrap()
            .unwrap();
        let c = CloudbedsCredentials::parse(&secret).unwrap();
        assert_eq!(c.api_key.expose_secret(), "cbat_SECRET");
        assert!(!format!("{c:?}").contains("SECRET"));
        assert_eq!(v.credentials_from_pairs(&[]).unwrap_err().field, "apiKey");
    }
}
