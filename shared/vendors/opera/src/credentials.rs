//! What an OPERA Cloud hotel's secret holds: the OHIP integration's OAuth client (`clientId`,
//! `clientSecret`), its application key (`x-app-key`) and the grant it uses.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Map};

use pms_domain::domain::ValidationError;
use pms_vendor_kit::pms::CredentialSchema;
use pms_vendor_kit::registry::{parse_secret, secret_json, CredentialPairs};

/// The keys `pmsctl hotel add --credential` takes for OPERA Cloud: `username` and `password`
/// choose the password grant, else client credentials with `scope` (and `enterpriseId`).
pub const KEYS: &[&str] = &[
    "clientId",
    "clientSecret",
    "appKey",
    "scope",
    "enterpriseId",
    "username",
    "password",
];

/// The scope OHIP's client credentials grant asks for unless told otherwise.
pub const DEFAULT_SCOPE: &str = "urn:opc:hgbu:ws:__myscopes__";

/// OHIP OAuth grant.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "grantType", rename_all = "snake_case")]
pub enum OperaGrant {
    ClientCredentials {
        /// e.g. `urn:opc:hgbu:ws:__myscopes__`
        scope: String,
        #[serde(rename = "enterpriseId", default)]
        enterprise_id: Option<String>,
    },
    Password {
        username: String,
        password: SecretString,
    },
}

/// `Debug` never shows a secret (`SecretString` redacts itself).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperaCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
    pub app_key: SecretString,
    #[serde(flatten)]
    pub grant: OperaGrant,
}

impl OperaCredentials {
    pub fn parse(secret: &SecretString) -> Result<Self, ValidationError> {
        parse_secret(secret)
    }

    /// The JSON stored in the hotel's secret.
    pub fn to_secret(&self) -> SecretString {
        let mut m = Map::new();
        m.insert("clientId".into(), json!(self.client_id));
        m.insert(
            "clientSecret".into(),
            json!(self.client_secret.expose_secret()),
        );
        m.insert("appKey".into(), json!(self.app_key.expose_secret()));
        match &self.grant {
            OperaGrant::ClientCredentials {
                scope,
                enterprise_id,
            } => {
                m.insert("grantType".into(), json!("client_credentials"));
                m.insert("scope".into(), json!(scope));
                if let Some(e) = enterprise_id {
                    m.insert("enterpriseId".into(), json!(e));
                }
            }
            OperaGrant::Password { username, password } => {
                m.insert("grantType".into(), json!("password"));
                m.insert("username".into(), json!(username));
                m.insert("password".into(), json!(password.expose_secret()));
            }
        }
        secret_json(crate::PROVIDER, m)
    }
}

fn from_pairs(p: &CredentialPairs<'_>) -> Result<SecretString, ValidationError> {
    let mut m = Map::new();
    m.insert("clientId".into(), json!(p.need("clientId")?));
    m.insert("clientSecret".into(), json!(p.need("clientSecret")?));
    m.insert("appKey".into(), json!(p.need("appKey")?));
    match p.get("username") {
        Some(user) => {
            m.insert("grantType".into(), json!("password"));
            m.insert("username".into(), json!(user));
            m.insert("password".into(), json!(p.need("password")?));
        }
        None => {
            m.insert("grantType".into(), json!("client_credentials"));
            let scope = p.get("scope").unwrap_or_else(|| DEFAULT_SCOPE.into());
            m.insert("scope".into(), json!(scope));
            if let Some(e) = p.get("enterpriseId") {
                m.insert("enterpriseId".into(), json!(e));
            }
        }
    }
    Ok(secret_json(crate::PROVIDER, m))
}

fn check(secret: &SecretString) -> Result<(), ValidationError> {
    OperaCredentials::parse(secret).map(|_| ())
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

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, SecretString)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), SecretString::from(v.to_string())))
            .collect()
    }

    #[test]
    fn missing_keys_are_named_and_the_grant_follows_the_keys_given() {
        let v = crate::vendor();
        let err = v
            .credentials_from_pairs(&pairs(&[("clientId", "x")]))
            .unwrap_err();
        assert_eq!(err.field, "clientSecret");
        let base = [("clientId", "c"), ("clientSecret", "s"), ("appKey", "k")];
        let secret = v.credentials_from_pairs(&pairs(&base)).unwrap().unwrap();
        let c = OperaCredentials::parse(&secret).unwrap();
        assert!(
            matches!(c.grant, OperaGrant::ClientCredentials { ref scope, .. } if scope == DEFAULT_SCOPE)
        );
        let mut with_user = base.to_vec();
        with_user.push(("username", "u"));
        assert_eq!(
            v.credentials_from_pairs(&pairs(&with_user))
                .unwrap_err()
                .field,
            "password"
        );
        with_user.push(("password", "p-SECRET"));
        let secret = v
            .credentials_from_pairs(&pairs(&with_user))
            .unwrap()
            .unwrap();
        let c = OperaCredentials::parse(&secret).unwrap();
        assert!(matches!(c.grant, OperaGrant::Password { .. }));
        assert!(!format!("{c:?}").contains("SECRET"));
    }
}
