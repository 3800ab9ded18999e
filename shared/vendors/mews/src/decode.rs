//! Mews response bodies -> canonical records (see [`pms_vendor_kit::pms::decode`]). Every `getAll`
//! answer is a page (`wire::Page`) whose items are decoded one by one, as the transport and
//! `decode_items` do.

use serde::de::DeserializeOwned;

use super::mapping::{self, Lookups};
use super::transport::error_message;
use super::{decode_items, wire};
use pms_domain::pms::{PmsError, PmsResult};
use pms_vendor_kit::pms::decode::{response, Canonical, Decoded, Decoder, Hotel};

/// One per response body the adapter reads.
pub const DECODERS: &[Decoder] = &[
    Decoder {
        name: "reservations/getAll",
        decode: reservations,
    },
    Decoder {
        name: "customers/getAll",
        decode: customers,
    },
    Decoder {
        name: "resources/getAll",
        decode: resources,
    },
    Decoder {
        name: "orderItems/getAll",
        decode: order_items,
    },
    Decoder {
        name: "payments/getAll",
        decode: payments,
    },
    Decoder {
        name: "rates/getAll",
        decode: rates,
    },
    Decoder {
        name: "resourceCategories/getAll",
        decode: categories,
    },
    Decoder {
        name: "configuration/get",
        decode: configuration,
    },
    Decoder {
        name: "error",
        decode: error,
    },
];

/// The raw items of one page under `key`, as `MewsTransport::get_all` collects them.
fn page(bytes: &[u8], key: &str) -> PmsResult<Vec<serde_json::Value>> {
    let r = response(bytes);
    if r.is_empty() {
        return Ok(Vec::new());
    }
    let page: wire::Page = r.json()?;
    page.items(key)
        .ok_or_else(|| PmsError::protocol(format!("{key} is not an array")))
}

/// The decodable items of one page under `key`; the others are counted as failures.
fn items<T: DeserializeOwned>(bytes: &[u8], key: &str, out: &mut Decoded) -> PmsResult<Vec<T>> {
    let (ok, failures) = decode_items::<T>(page(bytes, key)?, key);
    out.failures.extend(failures.into_iter().map(|f| f.message));
    Ok(ok)
}

/// Reservations, enriched from whatever lookup lists the same body carries (`Customers`,
/// `Resources`, `ServiceOrderNotes`, `Rates`, `ResourceCategories`, `AgeCategories`): the
/// adapter gathers those with separate calls; here one body can reach every enrichment path.
fn reservations(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let rs: Vec<wire::Reservation> = items(bytes, "Reservations", &mut out)?;
    let mut ignored = Decoded::default();
    let mut lk = Lookups::default();
    for c in items::<wire::Customer>(bytes, "Customers", &mut ignored)? {
        lk.customers.insert(c.id.clone(), c);
    }
    for r in items::<wire::Resource>(bytes, "Resources", &mut ignored)? {
        lk.resources.insert(r.id, r.name);
    }
    for n in items::<wire::ServiceOrderNote>(bytes, "ServiceOrderNotes", &mut ignored)? {
        lk.notes.entry(n.order_id.clone()).or_default().push(n);
    }
    for r in items::<wire::Rate>(bytes, "Rates", &mut ignored)? {
        if let Some(code) = mapping::rate_code(&r) {
            lk.rates.insert(r.id, code);
        }
    }
    for c in items::<wire::ResourceCategory>(bytes, "ResourceCategories", &mut ignored)? {
        if let Some(code) = mapping::category_code(&c) {
            lk.categories.insert(c.id, code);
        }
    }
    for a in items::<wire::AgeCategory>(bytes, "AgeCategories", &mut ignored)? {
        if let Some(class) = a.classification {
            lk.age_categories.insert(a.id, class);
        }
    }
    for r in &rs {
        out.push(mapping::reservation(r, hotel.tz, &lk), |r| {
            Canonical::Reservation(Box::new(r))
        });
    }
    Ok(out)
}

fn customers(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    for c in items::<wire::Customer>(bytes, "Customers", &mut out)? {
        out.push(mapping::guest(&c), |g| Canonical::Guest(Box::new(g)));
    }
    Ok(out)
}

/// Each room as vacant and as occupied (the adapter knows which from the reservations).
fn resources(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    for r in items::<wire::Resource>(bytes, "Resources", &mut out)? {
        for in_house in [false, true] {
            out.push(mapping::room_status(&r, in_house), |s| {
                Canonical::Room(Box::new(s))
            });
        }
    }
    Ok(out)
}

fn order_items(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let items = items::<wire::OrderItem>(bytes, "OrderItems", &mut out)?;
    let balance = mapping::folio_balance(&items, &[], hotel.currency)?;
    out.records.push(Canonical::Balance(balance));
    Ok(out)
}

fn payments(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let payments = items::<wire::Payment>(bytes, "Payments", &mut out)?;
    let balance = mapping::folio_balance(&[], &payments, hotel.currency)?;
    out.records.push(Canonical::Balance(balance));
    Ok(out)
}

fn rates(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    for r in items::<wire::Rate>(bytes, "Rates", &mut out)? {
        out.records
            .extend(mapping::rate_code(&r).map(Canonical::Text));
    }
    Ok(out)
}

fn categories(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    for c in items::<wire::ResourceCategory>(bytes, "ResourceCategories", &mut out)? {
        out.records
            .extend(mapping::category_code(&c).map(Canonical::Text));
    }
    Ok(out)
}

fn configuration(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let cfg: wire::Configuration = response(bytes).json()?;
    let mut out = Decoded::default();
    out.records.push(Canonical::Text(cfg.enterprise.id));
    Ok(out)
}

fn error(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    Decoded::error_text(error_message(400, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::domain::Currency;
    use pms_vendor_kit::pms::decode::tests::{decodes_whole, decodes_whole_in, refuse_garbage};

    fn example(name: &str) -> Vec<u8> {
        pms_vendor_kit::pms::decode::tests::example(
            concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/examples"),
            name,
        )
    }

    #[test]
    fn the_official_examples_decode_whole() {
        for (decoder, file) in [
            (
                "reservations/getAll",
                "reservations_getAll_2023-06-06.response.json",
            ),
            ("customers/getAll", "customers_getAll.response.json"),
            ("resources/getAll", "resources_getAll.response.json"),
            ("rates/getAll", "rates_getAll.response.json"),
            (
                "resourceCategories/getAll",
                "resourceCategories_getAll.response.json",
            ),
            ("configuration/get", "configuration_get.response.json"),
        ] {
            decodes_whole(DECODERS, decoder, &example(file));
        }
        // The examples' amounts are in euros; a hotel in another currency refuses them.
        let euro = Hotel {
            currency: Currency::eur(),
            ..Hotel::samples()[0]
        };
        for (decoder, file) in [
            ("orderItems/getAll", "orderItems_getAll.response.json"),
            ("payments/getAll", "payments_getAll.response.json"),
        ] {
            let balance = decodes_whole_in(&[euro], DECODERS, decoder, &example(file));
            assert!(matches!(&balance[..], [Canonical::Balance(m)] if m.currency == euro.currency));
            let usd = (DECODERS.iter().find(|d| d.name == decoder).unwrap().decode)(
                &example(file),
                &Hotel::samples()[0],
            );
            assert!(usd.is_err(), "{decoder}: euros read as dollars");
        }
    }

    #[test]
    fn lookups_in_the_same_body_enrich_reservations() {
        let mut body: serde_json::Value =
            serde_json::from_slice(&example("reservations_getAll_2023-06-06.response.json"))
                .unwrap();
        let customers: serde_json::Value =
            serde_json::from_slice(&example("customers_getAll.response.json")).unwrap();
        let plain = decodes_whole(DECODERS, "reservations/getAll", body.to_string().as_bytes());
        body["Customers"] = customers["Customers"].clone();
        let first_customer = customers["Customers"][0]["Id"].clone();
        body["Reservations"][0]["AccountId"] = first_customer;
        body["Reservations"][0]["AccountType"] = "Customer".into();
        let enriched = decodes_whole(DECODERS, "reservations/getAll", body.to_string().as_bytes());
        let guest = |c: &Canonical| match c {
            Canonical::Reservation(r) => r.guest.clone(),
            _ => None,
        };
        assert_ne!(guest(&plain[0]), guest(&enriched[0]));
        assert!(guest(&enriched[0]).is_some_and(|g| g.last_name.is_some()));
    }

    #[test]
    fn garbage_is_refused_without_records() {
        refuse_garbage(DECODERS);
    }
}
