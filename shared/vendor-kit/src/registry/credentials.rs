//! Vendor credentials, as stored (JSON) in each hotel's Secrets Manager secret.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use pms_domain::domain::{Provider, ValidationError};

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

/// Secrets per vendor. `Debug` never shows a secret (`SecretString` redacts itself).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum VendorCredentials {
    Opera {
        #[serde(rename = "clientId")]
        client_id: String,
        #[serde(rename = "clientSecret")]
        client_secret: SecretString,
        #[serde(rename = "appKey")]
        app_key: SecretString,
        #[serde(flatten)]
        grant: OperaGrant,
    },
    Mews {
        #[serde(rename = "clientToken")]
        client_token: SecretString,
        #[serde(rename = "accessToken")]
        access_token: SecretString,
        /// "Name and version" sent as `Client`.
        #[serde(rename = "client", default = "default_client")]
        client: String,
    },
    Cloudbeds {
        #[serde(rename = "apiKey")]
        api_key: SecretString,
    },
    Mock {},
}

fn default_client() -> String {
    concat!("pms-integration ", env!("CARGO_PKG_VERSION")).to_owned()
}

impl VendorCredentials {
    pub fn provider(&self) -> Provider {
        match self {
            VendorCredentials::Opera { .. } => Provider::Opera,
            VendorCredentials::Mews { .. } => Provider::Mews,
            VendorCredentials::Cloudbeds { .. } => Provider::Cloudbeds,
            VendorCredentials::Mock {} => Provider::Mock,
        }
    }

    /// Parses a stored secret. The error never echoes the input.
    pub fn parse(secret: &SecretString) -> Result<Self, ValidationError> {
        serde_json::from_str(secret.expose_secret()).map_err(|e| {
            // serde's message can quote values; keep only the position.
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

    /// Builds credentials from `key=value` pairs given to the CLI, checking the required keys.
    pub fn from_pairs(
        provider: Provider,
        pairs: &[(String, SecretString)],
    ) -> Result<Self, ValidationError> {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.expose_secret().to_owned())
        };
        let need = |k: &'static str| {
            get(k).filter(|v| !v.is_empty()).ok_or_else(|| {
                ValidationError::new(k, format!("missing credential {k} for {provider}"))
            })
        };
        let value = match provider {
            Provider::Opera => {
                let mut v = json!({
                    "provider": "opera",
                    "clientId": need("clientId")?,
                    "clientSecret": need("clientSecret")?,
                    "appKey": need("appKey")?,
                });
                match get("username") {
                    Some(u) => {
                        v["grantType"] = json!("password");
                        v["username"] = json!(u);
                        v["password"] = json!(need("password")?);
                    }
                    None => {
                        v["grantType"] = json!("client_credentials");
                        v["scope"] =
                            json!(get("scope")
                                .unwrap_or_else(|| "urn:opc:hgbu:ws:__myscopes__".into()));
                        if let Some(e) = get("enterpriseId") {
                            v["enterpriseId"] = json!(e);
                        }
                    }
                }
                v
            }
            Provider::Mews => {
                let mut v = json!({
                    "provider": "mews",
                    "clientToken": need("clientToken")?,
                    "accessToken": need("accessToken")?,
                });
                if let Some(c) = get("client") {
                    v["client"] = json!(c);
                }
                v
            }
            Provider::Cloudbeds => json!({"provider": "cloudbeds", "apiKey": need("apiKey")?}),
            Provider::Mock => json!({"provider": "mock"}),
            Provider::Partner => {
                return Err(ValidationError::new(
                    "provider",
                    "partner is a record source, not a PMS: it has no vendor credentials",
                ))
            }
        };
        Self::parse(&SecretString::from(value.to_string()))
    }

    /// The JSON stored in Secrets Manager.
    pub fn to_secret(&self) -> SecretString {
        let v = match self {
            VendorCredentials::Opera {
                client_id,
                client_secret,
                app_key,
                grant,
            } => {
                let mut v = json!({
                    "provider": "opera",
                    "clientId": client_id,
                    "clientSecret": client_secret.expose_secret(),
                    "appKey": app_key.expose_secret(),
                });
                match grant {
                    OperaGrant::ClientCredentials {
                        scope,
                        enterprise_id,
                    } => {
                        v["grantType"] = json!("client_credentials");
                        v["scope"] = json!(scope);
                        if let Some(e) = enterprise_id {
                            v["enterpriseId"] = json!(e);
                        }
                    }
                    OperaGrant::Password { username, password } => {
                        v["grantType"] = json!("password");
                        v["username"] = json!(username);
                        v["password"] = json!(password.expose_secret());
                    }
                }
                v
            }
            VendorCredentials::Mews {
                client_token,
                access_token,
                client,
            } => json!({
                "provider": "mews",
                "clientToken": client_token.expose_secret(),
                "accessToken": access_token.expose_secret(),
                "client": client,
            }),
            VendorCredentials::Cloudbeds { api_key } => {
                json!({"provider": "cloudbeds", "apiKey": api_key.expose_secret()})
            }
            VendorCredentials::Mock {} => json!({"provider": "mock"}),
        };
        SecretString::from(v.to_string())
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
    fn round_trips_and_never_debug_prints_secrets() {
        let c = VendorCredentials::from_pairs(
            Provider::Mews,
            &pairs(&[
                ("clientToken", "ct-SECRET-1"),
                ("accessToken", "at-SECRET-2"),
            ]),
        )
        .unwrap();
        assert_eq!(c.provider(), Provider::Mews);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        let back = VendorCredentials::parse(&c.to_secret()).unwrap();
        assert!(matches!(back, VendorCredentials::Mews { .. }));
    }

    #[test]
    fn missing_keys_are_named() {
        let err = VendorCredentials::from_pairs(Provider::Opera, &pairs(&[("clientId", "x")]))
            .unwrap_err();
        assert_eq!(err.field, "clientSecret");
        let c = VendorCredentials::from_pairs(
            Provider::Opera,
            &pairs(&[("clientId", "c"), ("clientSecret", "s"), ("appKey", "k")]),
        )
        .unwrap();
        assert!(matches!(
            c,
            VendorCredentials::Opera {
                grant: OperaGrant::ClientCredentials { .. },
                ..
            }
        ));
    }

    #[test]
    fn parse_errors_do_not_echo_input() {
        let err = VendorCredentials::parse(&SecretString::from(
            "{\"provider\":\"mews\",\"clientToken\":\"TOPSECRET\"}".to_string(),
        ))
        .unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"));
    }
}
