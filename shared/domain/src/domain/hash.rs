//! Content hashes of canonical records: the sync and the webhooks compare these to decide
//! whether anything a partner can see changed, so bookkeeping fields are left out.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Fields that describe the copy rather than the content.
pub(crate) const VOLATILE: &[&str] = &["version", "sourceUpdatedAt", "fetchedAt"];

/// A stable hex digest of a record's mapped fields (SHA-256, first 128 bits).
pub fn content_hash<T: Serialize>(value: &T) -> String {
    let mut json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut json {
        for key in VOLATILE {
            map.remove(*key);
        }
    }
    // serde_json's map is ordered (BTreeMap without `preserve_order`), so this is canonical.
    let bytes = serde_json::to_vec(&json).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    hex::encode(&digest[..16])
}

/// A hex SHA-256 of arbitrary bytes (payload hashes for idempotency keys).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignores_volatile_fields_and_key_order() {
        let a = json!({"a": 1, "b": "x", "version": 1, "sourceUpdatedAt": "t1"});
        let b = json!({"b": "x", "a": 1, "version": 2, "sourceUpdatedAt": "t2"});
        assert_eq!(content_hash(&a), content_hash(&b));
        let c = json!({"a": 2, "b": "x"});
        assert_ne!(content_hash(&a), content_hash(&c));
    }
}
