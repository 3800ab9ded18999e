//! Standard Webhooks signatures (<https://www.standardwebhooks.com>, v1): a delivery carries
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated
//! list of `v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`. The key is the secret's
//! base64 part after `whsec_`, decoded. Receivers verify with the Standard Webhooks (or Svix)
//! libraries as they are, so this must reproduce the reference implementation exactly: the
//! published test vector is a test here.
//!
//! During a rotation a delivery is signed with every secret still valid (the new one and, for
//! 24 hours, the old one): a receiver holding either verifies it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const PREFIX: &str = "whsec_";
/// Bytes of a generated secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;
/// How far a receiver may trust a timestamp (the libraries' default tolerance, 5 minutes).
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningError {
    /// Not `whsec_` + base64 of 24 to 64 bytes. Never echoes the value.
    #[error("a signing secret must be whsec_ followed by base64 of 24 to 64 bytes")]
    MalformedSecret,
    #[error("the webhook-signature header has no v1 signature")]
    NoSignature,
    #[error("no signature matches the body")]
    Mismatch,
    #[error(
        "the webhook-timestamp is missing, unreadable, or more than {TOLERANCE_SECONDS} s away"
    )]
    Timestamp,
}

/// A subscription's signing secret, `whsec_<base64>`. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct SigningSecret {
    text: SecretString,
    /// The keyed HMAC, ready to clone per signature.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(whsec_…)")
    }
}

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let bytes: [u8; SECRET_BYTES] = rand::rng().random();
        // HMAC pads a key shorter than its 64-byte block with zeros: the padded key is the key.
        let mut block = [0u8; 64];
        block[..SECRET_BYTES].copy_from_slice(&bytes);
        let keyed = <Hmac<Sha256> as KeyInit>::new(&block.into());
        let text = format!("{PREFIX}{}", STANDARD.encode(bytes));
        Self {
            text: SecretString::from(text),
            keyed,
        }
    }

    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let b64 = text
            .strip_prefix(PREFIX)
            .ok_or(SigningError::MalformedSecret)?;
        let key = STANDARD
            .decode(b64)
            .map_err(|_| SigningError::MalformedSecret)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SigningError::MalformedSecret);
        }
        let keyed =
            Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SigningError::MalformedSecret)?;
        Ok(Self {
            text: SecretString::from(text.to_owned()),
            keyed,
        })
    }

    /// The `whsec_…` text, to hand to the subscriber once (and to store as a secret).
    pub fn expose(&self) -> &str {
        self.text.expose_secret()
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// One `v1,<base64>` signature.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a receiver does (its libraries do the same): the timestamp is within the tolerance of
/// `now`, and one of the header's v1 signatures is the body's under `secret`, compared in
/// constant time. Used by our tests and as the reference for the README's examples.
pub fn verify(
    secret: &SigningSecret,
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SigningError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SigningError::Timestamp)?;
    if (now - ts).abs() > TOLERANCE_SECONDS {
        return Err(SigningError::Timestamp);
    }
    let expected = secret.mac(id, ts, body);
    let mut any = false;
    for sig in signature_header.split(' ') {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        any = true;
        if let Ok(bytes) = STANDARD.decode(b64) {
            if bool::from(bytes.as_slice().ct_eq(&expected)) {
                return Ok(());
            }
        }
    }
    Err(if any {
        SigningError::Mismatch
    } else {
        SigningError::NoSignature
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn the_published_test_vector_is_reproduced() {
        let s = SigningSecret::parse(VECTOR_SECRET).unwrap();
        assert_eq!(
            s.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let old = SigningSecret::generate();
        let new = SigningSecret::generate();
        let header = signature_header(&[new.clone(), old.clone()], "msg_1", 100, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        for s in [&old, &new] {
            verify(s, "msg_1", "100", &header, b"{}", 100).unwrap();
        }
        let other = SigningSecret::generate();
        assert_eq!(
            verify(&other, "msg_1", "100", &header, b"{}", 100),
            Err(SigningError::Mismatch)
        );
    }

    #[test]
    fn tampering_or_a_stale_timestamp_fails() {
        let s = SigningSecret::generate();
        let h = signature_header(std::slice::from_ref(&s), "msg_1", 100, b"{\"a\":1}");
        assert_eq!(
            verify(&s, "msg_1", "100", &h, b"{\"a\":2}", 100),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            verify(&s, "msg_2", "100", &h, b"{\"a\":1}", 100),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            verify(
                &s,
                "msg_1",
                "100",
                &h,
                b"{\"a\":1}",
                100 + TOLERANCE_SECONDS + 1
            ),
            Err(SigningError::Timestamp)
        );
        assert_eq!(
            verify(&s, "msg_1", "100", "v2,abc", b"{\"a\":1}", 100),
            Err(SigningError::NoSignature)
        );
    }

    #[test]
    fn secrets_round_trip_and_never_print() {
        let s = SigningSecret::generate();
        assert!(s.expose().starts_with("whsec_"));
        let again = SigningSecret::parse(s.expose()).unwrap();
        assert_eq!(again.sign("i", 1, b"b"), s.sign("i", 1, b"b"));
        assert!(!format!("{s:?}").contains(&s.expose()[6..]));
        for bad in [
            "",
            "whsec_",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!!!",
            "whsec_AAAA",
        ] {
            assert_eq!(
                SigningSecret::parse(bad).unwrap_err(),
                SigningError::MalformedSecret
            );
        }
    }
}
