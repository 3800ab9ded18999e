//! OHIP response bodies -> canonical records (see [`pms_vendor_kit::pms::decode`]).

use super::mapping::{self, MapCtx};
use super::transport::error_message;
use super::wire::{
    id_of_type, BusinessEvents, FolioResponse, HousekeepingBoard, ProfileResponse,
    ProfileSummaries, ReservationResponse, ReservationsDetails,
};
use pms_domain::pms::PmsResult;
use pms_vendor_kit::pms::decode::{response, Canonical, Decoded, Decoder, Hotel};

/// One per response body the adapter reads.
pub const DECODERS: &[Decoder] = &[
    Decoder {
        name: "getReservation",
        decode: reservation,
    },
    Decoder {
        name: "getHotelReservations",
        decode: reservations,
    },
    Decoder {
        name: "getProfile",
        decode: profile,
    },
    Decoder {
        name: "getProfiles",
        decode: profiles,
    },
    Decoder {
        name: "getHousekeepingOverview",
        decode: housekeeping,
    },
    Decoder {
        name: "getFolio",
        decode: folio,
    },
    Decoder {
        name: "getBusinessEvents",
        decode: business_events,
    },
    Decoder {
        name: "error",
        decode: error,
    },
];

fn ctx(hotel: &Hotel) -> MapCtx {
    MapCtx {
        tz: hotel.tz,
        currency: hotel.currency,
    }
}

/// The body as `T`, `None` when empty (OHIP's 204), as the transport's `get_json` reads it.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> PmsResult<Option<T>> {
    let r = response(bytes);
    if r.is_empty() {
        return Ok(None);
    }
    r.json().map(Some)
}

fn reservation(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let Some(found) = body::<ReservationResponse>(bytes)? else {
        return Ok(out);
    };
    for r in found.reservations.unwrap_or_default().reservation {
        out.push(mapping::reservation_from_full(&r, &ctx(hotel)), |r| {
            Canonical::Reservation(Box::new(r))
        });
    }
    Ok(out)
}

fn reservations(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let Some(found) = body::<ReservationsDetails>(bytes)? else {
        return Ok(out);
    };
    for info in found.reservations.unwrap_or_default().reservation_info {
        out.push(mapping::reservation_from_info(&info, &ctx(hotel)), |r| {
            Canonical::Reservation(Box::new(r))
        });
    }
    Ok(out)
}

fn profile(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let Some(response) = body::<ProfileResponse>(bytes)? else {
        return Ok(out);
    };
    // The adapter reads `profileDetails` when present, else the first `profiles.profileInfo`
    // under the id it asked for.
    let asked = "1000";
    let mapped = if let Some(details) = &response.profile_details {
        let id = id_of_type(&response.profile_id_list, "Profile").unwrap_or(asked);
        mapping::guest_from_profile(id, details, &ctx(hotel))
    } else if let Some(info) = response
        .profiles
        .and_then(|p| p.profile_info.into_iter().next())
    {
        mapping::guest_from_profile(asked, &info.profile.unwrap_or_default(), &ctx(hotel))
    } else {
        return Ok(out);
    };
    out.push(mapped, |g| Canonical::Guest(Box::new(g)));
    Ok(out)
}

fn profiles(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let Some(found) = body::<ProfileSummaries>(bytes)? else {
        return Ok(out);
    };
    for info in found.profile_summaries.unwrap_or_default().profile_info {
        out.push(mapping::guest_from_profile_info(&info, &ctx(hotel)), |g| {
            Canonical::Guest(Box::new(g))
        });
    }
    Ok(out)
}

fn housekeeping(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let Some(board) = body::<HousekeepingBoard>(bytes)? else {
        return Ok(out);
    };
    let rooms = board
        .housekeeping_room_info
        .and_then(|i| i.housekeeping_rooms)
        .map(|r| r.room)
        .unwrap_or_default();
    for room in &rooms {
        out.push(mapping::room_from_housekeeping(room), |r| {
            Canonical::Room(Box::new(r))
        });
    }
    Ok(out)
}

fn folio(bytes: &[u8], hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    if let Some(folio) = body::<FolioResponse>(bytes)? {
        if let Some(balance) = mapping::folio_balance(folio, &ctx(hotel))? {
            out.records.push(Canonical::Balance(balance));
        }
    }
    Ok(out)
}

/// The reservation ids the events name (the delta reads each of them).
fn business_events(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    let mut out = Decoded::default();
    let Some(events) = body::<BusinessEvents>(bytes)? else {
        return Ok(out);
    };
    for data in &events.business_event_data {
        let Some(header) = data.business_event.as_ref().and_then(|e| e.header.as_ref()) else {
            continue;
        };
        if let Some(key) = header.primary_key.as_ref() {
            out.records
                .push(Canonical::Text(key.as_str().trim().to_owned()));
        }
    }
    Ok(out)
}

fn error(bytes: &[u8], _hotel: &Hotel) -> PmsResult<Decoded> {
    Decoded::error_text(error_message(400, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pms_vendor_kit::pms::decode::tests::{decodes_whole, refuse_garbage};

    fn example(name: &str) -> Vec<u8> {
        pms_vendor_kit::pms::decode::tests::example(
            concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/examples"),
            name,
        )
    }

    #[test]
    fn the_official_examples_decode_whole() {
        let r = decodes_whole(
            DECODERS,
            "getReservation",
            &example("getReservation_200.json"),
        );
        assert!(matches!(&r[0], Canonical::Reservation(r) if r.id.external().as_str() == "571062"));
        let g = decodes_whole(DECODERS, "getProfile", &example("getProfile_200.json"));
        assert!(matches!(&g[0], Canonical::Guest(_)));
        let rooms = decodes_whole(
            DECODERS,
            "getHousekeepingOverview",
            &example("getHousekeepingOverview_200.json"),
        );
        assert!(rooms.iter().all(|r| matches!(r, Canonical::Room(_))));
        decodes_whole(
            DECODERS,
            "getBusinessEvents",
            &example("getBusinessEvents_200.json"),
        );
    }

    #[test]
    fn folio_balance_prefers_the_reservation_then_sums_windows() {
        let hotel = Hotel::samples()[0];
        let direct = br#"{"reservationFolioInformation":{"reservationInfo":{"roomStay":
            {"balance":{"amount":"12.50","currencyCode":"USD"}}},
            "folioWindows":[{"balance":{"amount":"99"}}]}}"#;
        let windows = br#"{"reservationFolioInformation":{"folioWindows":[
            {"balance":{"amount":"1.25"}},{"balance":{"amount":"2"}},{}]}}"#;
        let balance = |b: &[u8]| folio(b, &hotel).unwrap().records;
        assert_eq!(
            balance(direct),
            [Canonical::Balance(pms_domain::domain::Money::new(
                1250,
                hotel.currency
            ))]
        );
        assert_eq!(
            balance(windows),
            [Canonical::Balance(pms_domain::domain::Money::new(
                325,
                hotel.currency
            ))]
        );
        assert!(balance(b"").is_empty());
        let mixed = br#"{"reservationFolioInformation":{"folioWindows":[
            {"balance":{"amount":"1","currencyCode":"EUR"}},{"balance":{"amount":"2"}}]}}"#;
        assert!(folio(mixed, &hotel).is_err());
    }

    #[test]
    fn garbage_is_refused_without_records() {
        refuse_garbage(DECODERS);
    }
}
