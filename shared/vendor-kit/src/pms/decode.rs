//! Response decoders, for fuzzing (`tests/fuzz`) and the vendor-example tests (feature
//! `testing`).
//!
//! Each vendor's `decode` module lists one [`Decoder`] per response body its adapter reads: the
//! bytes of a 2xx body to canonical records, through the wire types, envelope and mapping the
//! adapter uses, without the transport, paging and enrichment calls around them. A decoder
//! never panics, whatever the bytes; that is what the fuzz targets check.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::http::VendorResponse;
use pms_domain::domain::{Currency, Guest, Money, PropertyTz, Reservation, RoomStatus};
use pms_domain::pms::PmsResult;

/// What a decoder knows about the hotel, as an adapter does from its config.
#[derive(Clone, Copy, Debug)]
pub struct Hotel {
    pub tz: PropertyTz,
    pub currency: Currency,
    /// The time of the read (Cloudbeds guests carry no update time of their own).
    pub now: DateTime<Utc>,
}

impl Hotel {
    /// A few hotels that differ where mapping does: a zone with daylight saving time or far
    /// from UTC, currencies with 2, 0 and 3 decimals.
    pub fn samples() -> [Hotel; 3] {
        let now = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        let hotel = |tz: &str, currency: &str| Hotel {
            tz: PropertyTz::parse(tz).unwrap_or_else(|_| PropertyTz::utc()),
            currency: Currency::parse(currency).unwrap_or_else(|_| Currency::usd()),
            now,
        };
        [
            hotel("America/New_York", "USD"),
            hotel("Asia/Tokyo", "JPY"),
            hotel("Pacific/Chatham", "KWD"),
        ]
    }
}

/// One canonical result of a response.
#[derive(Clone, Debug, PartialEq)]
pub enum Canonical {
    Reservation(Box<Reservation>),
    Guest(Box<Guest>),
    Room(Box<RoomStatus>),
    Balance(Money),
    /// A code or message the adapter uses as text (rate codes, error messages).
    Text(String),
}

impl Canonical {
    /// Whether the record reads back equal from the JSON it is stored as: one that does not
    /// would be written and then fail every read.
    pub fn round_trips(&self) -> bool {
        fn same<T: Serialize + DeserializeOwned + PartialEq>(v: &T) -> bool {
            serde_json::to_string(v)
                .ok()
                .and_then(|s| serde_json::from_str::<T>(&s).ok())
                .is_some_and(|back| back == *v)
        }
        match self {
            Canonical::Reservation(r) => same(r.as_ref()),
            Canonical::Guest(g) => same(g.as_ref()),
            Canonical::Room(r) => same(r.as_ref()),
            Canonical::Balance(m) => same(m),
            Canonical::Text(_) => true,
        }
    }
}

/// The records one body decoded to, and the items that could not be mapped (the adapters
/// report those as item failures and keep the rest).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decoded {
    pub records: Vec<Canonical>,
    pub failures: Vec<String>,
}

impl Decoded {
    /// What an error-body decoder yields: the message it read, if any.
    pub fn error_text(message: Option<String>) -> PmsResult<Self> {
        Ok(Decoded {
            records: message.map(Canonical::Text).into_iter().collect(),
            failures: Vec::new(),
        })
    }

    pub fn push<T>(&mut self, mapped: Result<T, impl std::fmt::Display>, f: fn(T) -> Canonical) {
        match mapped {
            Ok(v) => self.records.push(f(v)),
            Err(e) => self.failures.push(e.to_string()),
        }
    }
}

/// A response decoder: `name` is the vendor operation whose answer it reads.
#[derive(Clone, Copy)]
pub struct Decoder {
    pub name: &'static str,
    pub decode: fn(&[u8], &Hotel) -> PmsResult<Decoded>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// A 200 response with this body, as the transports hand it over.
pub fn response(body: &[u8]) -> VendorResponse {
    VendorResponse {
        status: reqwest::StatusCode::OK,
        headers: Default::default(),
        body: bytes::Bytes::copy_from_slice(body),
        request_id: None,
    }
}

// For the vendor crates' decoder tests too (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod tests {
    use super::*;

    /// A committed vendor example: `name` in `dir` (a vendor crate's `testdata/examples`).
    pub fn example(dir: &str, name: &str) -> Vec<u8> {
        let path = format!("{dir}/{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Decodes a committed vendor example with the named decoder, in every sample hotel, and
    /// checks that it maps whole: at least one record, no item failure, every record
    /// round-tripping through its stored form.
    pub fn decodes_whole(decoders: &[Decoder], name: &str, body: &[u8]) -> Vec<Canonical> {
        decodes_whole_in(&Hotel::samples(), decoders, name, body)
    }

    /// [`decodes_whole`] for the given hotels (amounts in a currency the hotel does not use are
    /// refused, rightly).
    pub fn decodes_whole_in(
        hotels: &[Hotel],
        decoders: &[Decoder],
        name: &str,
        body: &[u8],
    ) -> Vec<Canonical> {
        let decoder = decoders
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no decoder {name}"));
        let mut first = None;
        for hotel in hotels {
            let decoded = (decoder.decode)(body, hotel)
                .unwrap_or_else(|e| panic!("{name} in {}: {e}", hotel.currency));
            assert!(
                decoded.failures.is_empty(),
                "{name}: {:?}",
                decoded.failures
            );
            assert!(!decoded.records.is_empty(), "{name}: no record");
            for r in &decoded.records {
                assert!(r.round_trips(), "{name}: {r:?} does not round-trip");
            }
            first.get_or_insert(decoded.records);
        }
        first.unwrap_or_default()
    }

    /// Every decoder reads no reservation, guest or room from what is not a body of its kind.
    pub fn refuse_garbage(decoders: &[Decoder]) {
        for d in decoders {
            for body in [&b"{"[..], b"[1,2]", b"\"x\"", b"{\"data\":7}", b"\xff\xfe"] {
                for hotel in Hotel::samples() {
                    if let Ok(decoded) = (d.decode)(body, &hotel) {
                        assert!(
                            decoded
                                .records
                                .iter()
                                .all(|r| matches!(r, Canonical::Text(_) | Canonical::Balance(_))),
                            "{}: records from {:?}",
                            d.name,
                            String::from_utf8_lossy(body)
                        );
                    }
                }
            }
        }
    }
}
