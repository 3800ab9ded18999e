//! What a Mews hotel's secret holds: the Connector API's `ClientToken` (ours, per integration)
//! and `AccessToken` (the enterprise's, per property or portfolio), and the `Client` name.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Map;

use pms_domain::domain::ValidationError;
use pms_vendor_kit::pms::CredentialSchema;
use pms_vendor_kit::registry::{parse_secret, secret_json, CredentialPairs};

/// The keys `pmsctl hotel add --credential` takes for Mews.
pub const KEYS: &[&str] = &["clientToken", "accessToken", "client"];

/// `Debug` never shows a token (`SecretString` redacts itself).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MewsCredentials {
    pub client_token: SecretString,
    pub access_token: SecretString,
    /// "Name and version" sent as `Client`.
    #[serde(default = "default_client")]
    pub client: String,
}

fn default_client() -> String {
    concat!("pms-integration ", env!("CARGO_PKG_VERSION")).to_owned()
}

impl MewsCredentials {
    pub fn parse(secret: &SecretString) -> Result<Self, ValidationError> {
        parse_secret(secret)
    }

    /// The JSON stored in the hotel's secret.
    pub fn to_secret(&self) -> SecretString {
        let mut m = Map::new();
        m.insert(
            "clientToken".into(),
            self.client_token.expose_secret().into(),
        );
        m.insert(
            "accessToken".into(),
            self.access_token.expose_secret().into(),
        );
        m.insert("client".into(), self.client.clone().into());
        secret_json(crate::PROVIDER, m)
    }
}

fn from_pairs(p: &CredentialPairs<'_>) -> Result<SecretString, ValidationError> {
    let mut m = Map::new();
    m.insert("clientToken".into(), p.need("clientToken")?.into());
    m.insert("accessToken".into(), p.need("accessToken")?.into());
    m.insert(
        "client".into(),
        p.get("client").unwrap_or_else(default_client).into(),
    );
    Ok(secret_json(crate::PROVIDER, m))
}

fn check(secret: &SecretString) -> Result<(), ValidationError> {
    MewsCredentials::parse(secret).map(|_| ())
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
    fn round_trips_and_never_debug_prints_tokens() {
        let pairs: Vec<(String, SecretString)> = [
            ("clientToken", "ct-SECRET-1"),
            ("accessToken", "at-SECRET-2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), SecretString::from(v.to_string())))
        .collect();
        let secret = crate::vendor()
            .credentials_from_pairs(&pairs)
            .unwrap()
            .unwrap();
        let c = MewsCredentials::parse(&secret).unwrap();
        assert!(c.client.starts_with("pms-integration"));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert_eq!(
            pms_vendor_kit::registry::stored_provider(&secret).unwrap(),
            crate::PROVIDER
        );
    }

    #[test]
    fn parse_errors_do_not_echo_the_secret() {
        let err = MewsCredentials::parse(&SecretString::from(
            r#"{"provider":"mews","clientToken":"TOPSECRET"}"#,
        ))
        .unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"));
    }
}

#[cfg(test)]
mod registration_tests {
    use pms_domain::domain::{Currency, HotelId, PropertyTz};

    #[test]
    fn mews_hotels_are_scoped_to_their_enterprise_by_a_required_property_id() {
        let v = crate::vendor();
        let mut c = v.new_config(
            HotelId::parse("m1").unwrap(),
            "Mews hotel",
            PropertyTz::parse("Europe/Prague").unwrap(),
            Currency::eur(),
            chrono::Utc::now(),
        );
        assert_eq!(c.rate_limit.as_ref().map(|l| l.requests), Some(200));
        c.vendor.base_url = Some("https://api.mews.com".parse().unwrap());
        assert_eq!(v.check_config(&c).unwrap_err().field, "propertyId");
        c.vendor.property_id = Some("  ".into());
        assert_eq!(v.check_config(&c).unwrap_err().field, "propertyId");
        c.vendor.property_id = Some("3fa85f64-5717-4562-b3fc-2c963f66afa6".into());
        assert!(v.check_config(&c).is_ok());
    }
}
