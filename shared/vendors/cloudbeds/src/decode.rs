//! Cloudbeds response bodies -> canonical records (see [`pms_vendor_kit::pms::decode`]). Every body goes
//! through the `{success, data}` envelope first (an error can arrive as HTTP 200).

use serde_json::Value;

use super::mapping::{self, Ctx};
use super::transport::{decode_value, error_message, Transport};
use super::{entries, wire};
use pms_domain::pms::PmsResult;
use pms_vendor_kit::pms::decode::{Canonical, Decoded, Decoder, Hotel};

/// One per response body the adapter reads.
pub const DECODERS: &[Decoder] = &[
    Decoder {
        name: "getReservation",
        decode: reservation,
    },
    Decoder {
        name: "getReservations",
        decode: reservations,
    },
    Decoder {
        name: "getGuest",
        decode: guest,
    },
    Decoder {
        name: "getGuestList",
        decode: guest_list,
    },
    Decoder {
        name: "getHousekeepingStatus",
        decode: housekeeping,
    },
    Decoder {
        name: "postCustomItem",
        decode: custom_item,
    },
    Decoder {
        name: "error",
        decode: error,
    },
];

fn ctx(hotel: &Hotel) -> Ctx {
    Ctx {
        tz: hotel.tz,
        currency: hotel.currency,
    }
}

/// `data` of a `success:true` envelope.
fn data(endpoint: &str, bytes: &[u8]) -> PmsResult<Value> {
    Ok(Transport::envelope(endpoint, bytes, None)?.data().clone())
}

/// A reservation and its balance, as `get_reservation` and `get_balance` read them.
fn reservation(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let data = data("getReservation", bytes)?;
    // "Not found" can also be an empty `data`.
    if data.as_object().is_none_or(|o| o.is_empty()) {
        return Ok(out);
    }
    let detail: wire::ReservationDetail = decode_value(data, "getReservation", None)?;
    if detail.reservation_id.is_none() {
        return Ok(out);
    }
    out.push(
        mapping::reservation_from_detail(&detail, &ctx(hotel)),
        |r| Canonical::Reservation(Box::new(r)),
    );
    out.push(
        mapping::detail_balance(&detail, hotel.currency),
        Canonical::Balance,
    );
    Ok(out)
}

fn reservations(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let data = data("getReservations", bytes)?;
    for (_, row) in entries(&data) {
        match decode_value::<wire::ReservationRow>(row.clone(), "getReservations", None) {
            Ok(r) => out.push(mapping::reservation_from_row(&r, &ctx(hotel)), |r| {
                Canonical::Reservation(Box::new(r))
            }),
            Err(e) => out.failures.push(e.to_string()),
        }
    }
    Ok(out)
}

fn guest(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let data = data("getGuest", bytes)?;
    if data.as_object().is_none_or(|o| o.is_empty()) {
        return Ok(out);
    }
    let detail: wire::GuestDetail = decode_value(data, "getGuest", None)?;
    match mapping::guest_from_detail("52014", &detail, hotel.now) {
        Ok(Some(g)) => out.records.push(Canonical::Guest(Box::new(g))),
        Ok(None) => {}
        Err(e) => out.failures.push(e.to_string()),
    }
    Ok(out)
}

fn guest_list(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let data = data("getGuestList", bytes)?;
    for (key, v) in entries(&data) {
        let entry: wire::GuestListEntry = decode_value(v.clone(), "getGuestList", None)?;
        match mapping::guest_from_list(key.as_deref(), &entry, hotel.now) {
            Ok(Some(g)) => out.records.push(Canonical::Guest(Box::new(g))),
            Ok(None) => {}
            Err(e) => out.failures.push(e.to_string()),
        }
    }
    Ok(out)
}

fn housekeeping(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let data = data("getHousekeepingStatus", bytes)?;
    for (_, v) in entries(&data) {
        let room: wire::HousekeepingRoom = decode_value(v.clone(), "getHousekeepingStatus", None)?;
        out.push(mapping::room_from_housekeeping(&room), |r| {
            Canonical::Room(Box::new(r))
        });
    }
    Ok(out)
}

/// The vendor id of a posted charge, as `post_charge` reads it.
fn custom_item(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let data = data("postCustomItem", bytes)?;
    let posted: wire::CustomItemPosted = if data.is_object() {
        decode_value(data, "postCustomItem", None)?
    } else {
        wire::CustomItemPosted::default()
    };
    out.records.extend(
        posted
            .transaction_id
            .or(posted.sold_product_id)
            .map(Canonical::Text),
    );
    Ok(out)
}

fn error(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    Decoded::error_text(error_message(400, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_domain::pms::PmsError;
    use pms_vendor_kit::pms::decode::tests::{decodes_whole, refuse_garbage};

    fn example(name: &str) -> Vec<u8> {
        pms_vendor_kit::pms::decode::tests::example(
            concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/responses"),
            name,
        )
    }

    #[test]
    fn the_schema_examples_decode_whole() {
        for (decoder, file) in [
            ("getReservation", "getReservation.from-schema.json"),
            (
                "getReservation",
                "getReservation.balance-array.from-schema.json",
            ),
            ("getReservations", "getReservations.from-schema.json"),
            ("getGuest", "getGuest.from-schema.json"),
            ("getGuestList", "getGuestList.from-schema.json"),
            (
                "getHousekeepingStatus",
                "getHousekeepingStatus.from-schema.json",
            ),
            ("postCustomItem", "postCustomItem.from-schema.json"),
            (
                "postCustomItem",
                "postCustomItem.duplicate.from-schema.json",
            ),
        ] {
            decodes_whole(DECODERS, decoder, &example(file));
        }
        let r = decodes_whole(
            DECODERS,
            "getReservation",
            &example("getReservation.from-schema.json"),
        );
        assert!(matches!(
            r[..],
            [Canonical::Reservation(_), Canonical::Balance(_)]
        ));
    }

    #[test]
    fn merged_guests_and_errors_on_200_are_not_records() {
        let hotel = Hotel::samples()[0];
        let merged = guest(&example("getGuest.merged.from-schema.json"), &hotel).unwrap();
        assert!(merged.records.is_empty() && merged.failures.is_empty());
        for file in [
            "error.http200.official.json",
            "getReservation.not-found.json",
        ] {
            for d in DECODERS.iter().filter(|d| d.name != "error") {
                assert!(
                    (d.decode)(&example(file), &hotel).is_err(),
                    "{} {file}",
                    d.name
                );
            }
            let message = error(&example(file), &hotel).unwrap();
            assert!(matches!(&message.records[..], [Canonical::Text(_)]));
        }
        assert!(matches!(
            reservation(&example("getReservation.not-found.json"), &hotel),
            Err(PmsError::NotFound { .. })
        ));
    }

    #[test]
    fn garbage_is_refused_without_records() {
        refuse_garbage(DECODERS);
    }
}
