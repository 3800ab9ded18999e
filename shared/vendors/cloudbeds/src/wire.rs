//! Cloudbeds API v1.3 wire types (`pms-v1.3-openapi.yaml`), read tolerantly.
//!
//! The API is PHP behind JSON, and it shows: ids and amounts arrive as strings or numbers,
//! booleans as `true`/`"1"`/`1`, an empty map as `[]`, `balanceDetailed` as an object or an
//! array, and absent values as `null`, `""` or missing. Every field here is optional and every
//! scalar goes through a tolerant reader; unknown fields are ignored. Whether a record is usable
//! is decided in `mapping`, not by serde.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

// ---- tolerant scalar readers -------------------------------------------------------------------

/// A string from a string, number or boolean; `null` and blank strings are `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// A decimal amount as text ("123.45"), from a JSON number or a numeric string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Amount(pub String);

pub fn opt_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    Ok(match Value::deserialize(d)? {
        // serde_json prints the shortest text that reads back to the same f64: "612.4".
        Value::Number(n) => Some(Amount(n.to_string())),
        Value::String(s) if !s.trim().is_empty() => Some(Amount(s.trim().replace(',', ""))),
        _ => None,
    })
}

/// A count from a number or a numeric string ("2"); anything else is `None`.
pub fn opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A flag from `true`/`false`, `1`/`0`, `"true"`/`"1"`/`"yes"`; `None` when absent or unreadable.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(flag(&Value::deserialize(d)?))
}

pub fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A list that PHP may send as an object of entries (`{"52014": {...}}`), as an array, as an
/// empty array `[]` for an empty map, or as `null`. Keys are kept when there are any.
pub fn keyed<'de, D, T>(d: D) -> Result<Vec<(Option<String>, T)>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::de::DeserializeOwned> Visitor<'de> for V<T> {
        type Value = Vec<(Option<String>, T)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object or an array")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, Value>()? {
                out.push((Some(k), T::deserialize(v).map_err(de::Error::custom)?));
            }
            Ok(out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element::<Value>()? {
                out.push((None, T::deserialize(v).map_err(de::Error::custom)?));
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            // `""` for "nothing" is PHP too.
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

/// One object or an array of them (`balanceDetailed` is `oneOf` object | array in the spec).
pub fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .map(|v| T::deserialize(v).map_err(de::Error::custom))
            .collect::<Result<_, _>>()?,
        v @ Value::Object(_) => vec![T::deserialize(v).map_err(de::Error::custom)?],
        _ => Vec::new(),
    })
}

/// An array, or nothing (`null`, `""`, an object where a list was expected is not ours to guess).
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .map(|v| T::deserialize(v).map_err(de::Error::custom))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    })
}

// ---- getReservation ---------------------------------------------------------------------------

/// `GetReservationResponse.data`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReservationDetail {
    #[serde(rename = "reservationID", deserialize_with = "opt_string")]
    pub reservation_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub status: Option<String>,
    #[serde(rename = "guestName", deserialize_with = "opt_string")]
    pub guest_name: Option<String>,
    #[serde(rename = "guestEmail", deserialize_with = "opt_string")]
    pub guest_email: Option<String>,
    #[serde(rename = "guestList", deserialize_with = "keyed")]
    pub guest_list: Vec<(Option<String>, GuestEntry)>,
    #[serde(rename = "dateCreated", deserialize_with = "opt_string")]
    pub date_created: Option<String>,
    #[serde(rename = "dateModified", deserialize_with = "opt_string")]
    pub date_modified: Option<String>,
    #[serde(rename = "estimatedArrivalTime", deserialize_with = "opt_string")]
    pub estimated_arrival_time: Option<String>,
    #[serde(rename = "thirdPartyIdentifier", deserialize_with = "opt_string")]
    pub third_party_identifier: Option<String>,
    #[serde(deserialize_with = "opt_amount")]
    pub total: Option<Amount>,
    #[serde(deserialize_with = "opt_amount")]
    pub balance: Option<Amount>,
    #[serde(rename = "balanceDetailed", deserialize_with = "one_or_many")]
    pub balance_detailed: Vec<BalanceDetailed>,
    #[serde(deserialize_with = "list")]
    pub assigned: Vec<RoomStay>,
    #[serde(deserialize_with = "list")]
    pub unassigned: Vec<RoomStay>,
    #[serde(rename = "startDate", deserialize_with = "opt_string")]
    pub start_date: Option<String>,
    #[serde(rename = "endDate", deserialize_with = "opt_string")]
    pub end_date: Option<String>,
}

/// An entry of `guestList` (getReservation and getReservations with `includeGuestsDetails`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct GuestEntry {
    #[serde(rename = "guestID", deserialize_with = "opt_string")]
    pub guest_id: Option<String>,
    #[serde(rename = "guestName", deserialize_with = "opt_string")]
    pub guest_name: Option<String>,
    #[serde(rename = "guestFirstName", deserialize_with = "opt_string")]
    pub first_name: Option<String>,
    #[serde(rename = "guestLastName", deserialize_with = "opt_string")]
    pub last_name: Option<String>,
    #[serde(rename = "guestEmail", deserialize_with = "opt_string")]
    pub email: Option<String>,
    #[serde(rename = "guestPhone", deserialize_with = "opt_string")]
    pub phone: Option<String>,
    #[serde(rename = "guestCellPhone", deserialize_with = "opt_string")]
    pub cell_phone: Option<String>,
    #[serde(rename = "isMainGuest", deserialize_with = "opt_bool")]
    pub is_main_guest: Option<bool>,
}

/// `balanceDetailed` (object, or an array of these).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct BalanceDetailed {
    #[serde(rename = "subTotal", deserialize_with = "opt_amount")]
    pub sub_total: Option<Amount>,
    #[serde(rename = "additionalItems", deserialize_with = "opt_amount")]
    pub additional_items: Option<Amount>,
    #[serde(rename = "taxesFees", deserialize_with = "opt_amount")]
    pub taxes_fees: Option<Amount>,
    #[serde(rename = "grandTotal", deserialize_with = "opt_amount")]
    pub grand_total: Option<Amount>,
    #[serde(deserialize_with = "opt_amount")]
    pub paid: Option<Amount>,
}

/// An entry of `assigned` / `unassigned` (one room of the reservation).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoomStay {
    #[serde(rename = "roomID", deserialize_with = "opt_string")]
    pub room_id: Option<String>,
    #[serde(rename = "roomName", deserialize_with = "opt_string")]
    pub room_name: Option<String>,
    #[serde(rename = "roomTypeName", deserialize_with = "opt_string")]
    pub room_type_name: Option<String>,
    #[serde(rename = "subReservationID", deserialize_with = "opt_string")]
    pub sub_reservation_id: Option<String>,
    #[serde(deserialize_with = "opt_count")]
    pub adults: Option<u64>,
    #[serde(deserialize_with = "opt_count")]
    pub children: Option<u64>,
}

// ---- getReservations --------------------------------------------------------------------------

/// An element of `GetReservationsResponse.data`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReservationRow {
    #[serde(rename = "reservationID", deserialize_with = "opt_string")]
    pub reservation_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub status: Option<String>,
    #[serde(rename = "guestID", deserialize_with = "opt_string")]
    pub guest_id: Option<String>,
    #[serde(rename = "guestName", deserialize_with = "opt_string")]
    pub guest_name: Option<String>,
    #[serde(rename = "startDate", deserialize_with = "opt_string")]
    pub start_date: Option<String>,
    #[serde(rename = "endDate", deserialize_with = "opt_string")]
    pub end_date: Option<String>,
    #[serde(deserialize_with = "opt_count")]
    pub adults: Option<u64>,
    #[serde(deserialize_with = "opt_count")]
    pub children: Option<u64>,
    #[serde(deserialize_with = "opt_amount")]
    pub balance: Option<Amount>,
    #[serde(rename = "dateCreated", deserialize_with = "opt_string")]
    pub date_created: Option<String>,
    #[serde(rename = "dateModified", deserialize_with = "opt_string")]
    pub date_modified: Option<String>,
    #[serde(rename = "thirdPartyIdentifier", deserialize_with = "opt_string")]
    pub third_party_identifier: Option<String>,
    /// Only with `includeAllRooms=true`.
    #[serde(deserialize_with = "list")]
    pub rooms: Vec<RowRoom>,
    /// Only with `includeGuestsDetails=true`.
    #[serde(rename = "guestList", deserialize_with = "keyed")]
    pub guest_list: Vec<(Option<String>, GuestEntry)>,
}

/// An element of a getReservations row's `rooms` (assigned and unassigned together).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RowRoom {
    #[serde(rename = "roomID", deserialize_with = "opt_string")]
    pub room_id: Option<String>,
    #[serde(rename = "roomName", deserialize_with = "opt_string")]
    pub room_name: Option<String>,
    #[serde(rename = "roomTypeName", deserialize_with = "opt_string")]
    pub room_type_name: Option<String>,
    #[serde(rename = "subReservationID", deserialize_with = "opt_string")]
    pub sub_reservation_id: Option<String>,
    #[serde(rename = "roomStatus", deserialize_with = "opt_string")]
    pub room_status: Option<String>,
    /// Per room in `getReservationsWithRateDetails` (strings in the schema).
    #[serde(deserialize_with = "opt_count")]
    pub adults: Option<u64>,
    #[serde(deserialize_with = "opt_count")]
    pub children: Option<u64>,
}

// ---- getReservationsWithRateDetails ------------------------------------------------------------

/// An element of `GetReservationsWithRateDetailsResponse.data`: the list that also carries what
/// `getReservations` rows lack (`total`, `estimatedArrivalTime`, `balanceDetailed`), with the
/// same paging (`pageSize` up to 100).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RateDetailsRow {
    #[serde(rename = "reservationID", deserialize_with = "opt_string")]
    pub reservation_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub status: Option<String>,
    #[serde(rename = "guestID", deserialize_with = "opt_string")]
    pub guest_id: Option<String>,
    /// `date-time` in the schema; the date part is the stay's first night.
    #[serde(rename = "reservationCheckIn", deserialize_with = "opt_string")]
    pub check_in: Option<String>,
    #[serde(rename = "reservationCheckOut", deserialize_with = "opt_string")]
    pub check_out: Option<String>,
    #[serde(rename = "dateCreated", deserialize_with = "opt_string")]
    pub date_created: Option<String>,
    #[serde(rename = "dateModified", deserialize_with = "opt_string")]
    pub date_modified: Option<String>,
    #[serde(rename = "estimatedArrivalTime", deserialize_with = "opt_string")]
    pub estimated_arrival_time: Option<String>,
    #[serde(deserialize_with = "opt_amount")]
    pub total: Option<Amount>,
    #[serde(deserialize_with = "opt_amount")]
    pub balance: Option<Amount>,
    #[serde(rename = "balanceDetailed", deserialize_with = "one_or_many")]
    pub balance_detailed: Vec<BalanceDetailed>,
    #[serde(rename = "thirdPartyIdentifier", deserialize_with = "opt_string")]
    pub third_party_identifier: Option<String>,
    #[serde(deserialize_with = "list")]
    pub rooms: Vec<RowRoom>,
    /// Only with `includeGuestsDetails=true`.
    #[serde(rename = "guestList", deserialize_with = "keyed")]
    pub guest_list: Vec<(Option<String>, GuestEntry)>,
}

// ---- guests -----------------------------------------------------------------------------------

/// `GetGuestResponse.data`. It carries no guest id (the caller knows it) and no modification
/// time.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct GuestDetail {
    #[serde(rename = "firstName", deserialize_with = "opt_string")]
    pub first_name: Option<String>,
    #[serde(rename = "lastName", deserialize_with = "opt_string")]
    pub last_name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub email: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub phone: Option<String>,
    #[serde(rename = "cellPhone", deserialize_with = "opt_string")]
    pub cell_phone: Option<String>,
    #[serde(rename = "isMerged", deserialize_with = "opt_bool")]
    pub is_merged: Option<bool>,
    #[serde(rename = "newGuestID", deserialize_with = "opt_string")]
    pub new_guest_id: Option<String>,
}

/// A value of `GetGuestListResponse.data` (an object keyed by guest id).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct GuestListEntry {
    #[serde(rename = "guestID", deserialize_with = "opt_string")]
    pub guest_id: Option<String>,
    #[serde(rename = "reservationID", deserialize_with = "opt_string")]
    pub reservation_id: Option<String>,
    #[serde(rename = "guestName", deserialize_with = "opt_string")]
    pub guest_name: Option<String>,
    #[serde(rename = "guestFirstName", deserialize_with = "opt_string")]
    pub first_name: Option<String>,
    #[serde(rename = "guestLastName", deserialize_with = "opt_string")]
    pub last_name: Option<String>,
    #[serde(rename = "guestEmail", deserialize_with = "opt_string")]
    pub email: Option<String>,
    #[serde(rename = "guestPhone", deserialize_with = "opt_string")]
    pub phone: Option<String>,
    #[serde(rename = "guestCellPhone", deserialize_with = "opt_string")]
    pub cell_phone: Option<String>,
    #[serde(rename = "isMerged", deserialize_with = "opt_bool")]
    pub is_merged: Option<bool>,
    #[serde(rename = "newGuestID", deserialize_with = "opt_string")]
    pub new_guest_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub status: Option<String>,
}

// ---- housekeeping -----------------------------------------------------------------------------

/// An element of `GetHousekeepingStatusResponse.data`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct HousekeepingRoom {
    #[serde(rename = "roomID", deserialize_with = "opt_string")]
    pub room_id: Option<String>,
    #[serde(rename = "roomName", deserialize_with = "opt_string")]
    pub room_name: Option<String>,
    #[serde(rename = "roomTypeName", deserialize_with = "opt_string")]
    pub room_type_name: Option<String>,
    #[serde(rename = "roomCondition", deserialize_with = "opt_string")]
    pub room_condition: Option<String>,
    #[serde(rename = "roomOccupied", deserialize_with = "opt_bool")]
    pub room_occupied: Option<bool>,
    #[serde(rename = "roomBlocked", deserialize_with = "opt_bool")]
    pub room_blocked: Option<bool>,
    #[serde(rename = "frontdeskStatus", deserialize_with = "opt_string")]
    pub frontdesk_status: Option<String>,
    #[serde(rename = "doNotDisturb", deserialize_with = "opt_bool")]
    pub do_not_disturb: Option<bool>,
    #[serde(rename = "refusedService", deserialize_with = "opt_bool")]
    pub refused_service: Option<bool>,
    #[serde(rename = "vacantPickup", deserialize_with = "opt_bool")]
    pub vacant_pickup: Option<bool>,
}

// ---- rate plans (availability) ------------------------------------------------------------------

/// An element of `GetRatePlansResponse.data`: one rate of one room type.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RatePlan {
    #[serde(rename = "rateID", deserialize_with = "opt_string")]
    pub rate_id: Option<String>,
    #[serde(rename = "roomTypeID", deserialize_with = "opt_string")]
    pub room_type_id: Option<String>,
    /// The spec types it `integer` (its description is a room type *name*); read as text
    /// whichever it is.
    #[serde(rename = "roomTypeName", deserialize_with = "opt_string")]
    pub room_type_name: Option<String>,
    /// Set when the rate belongs to a rate plan; none for the room type's base rate.
    #[serde(rename = "ratePlanID", deserialize_with = "opt_string")]
    pub rate_plan_id: Option<String>,
    /// Per night, with `detailedRates=true`.
    #[serde(rename = "roomRateDetailed", deserialize_with = "list")]
    pub nights: Vec<RateNight>,
}

/// An element of `roomRateDetailed`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RateNight {
    #[serde(deserialize_with = "opt_string")]
    pub date: Option<String>,
    /// "Number of rooms available for the selected date".
    #[serde(rename = "roomsAvailable", deserialize_with = "opt_count")]
    pub rooms_available: Option<u64>,
}

// ---- writes -----------------------------------------------------------------------------------

/// `PostCustomItemResponse.data`. On a repeated `referenceID` Cloudbeds creates nothing and says
/// so in `notice`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CustomItemPosted {
    #[serde(rename = "soldProductID", deserialize_with = "opt_string")]
    pub sold_product_id: Option<String>,
    #[serde(rename = "transactionID", deserialize_with = "opt_string")]
    pub transaction_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub notice: Option<String>,
}

/// One item of a `postCustomItem` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomItem {
    pub app_item_id: String,
    pub name: String,
    /// Major units, exact ("24.50").
    pub price: String,
    pub quantity: u32,
    pub category: Option<String>,
    pub note: Option<String>,
}

/// Form fields of `postCustomItem`. The spec gives `items` as an array of objects in a
/// form-urlencoded body without an `encoding` object; Cloudbeds (PHP) reads indexed brackets,
/// `items[0][itemName]=...` (see `testdata/README.md`).
pub fn custom_item_form(
    property_id: &str,
    reservation_id: &str,
    reference_id: &str,
    items: &[CustomItem],
) -> Vec<(String, String)> {
    let mut form = vec![
        ("propertyID".to_owned(), property_id.to_owned()),
        ("reservationID".to_owned(), reservation_id.to_owned()),
        ("referenceID".to_owned(), reference_id.to_owned()),
    ];
    for (i, item) in items.iter().enumerate() {
        let mut field = |name: &str, value: String| {
            form.push((format!("items[{i}][{name}]"), value));
        };
        field("appItemID", item.app_item_id.clone());
        field("itemName", item.name.clone());
        field("itemPrice", item.price.clone());
        field("itemQuantity", item.quantity.to_string());
        if let Some(c) = &item.category {
            field("itemCategoryName", c.clone());
        }
        if let Some(n) = &item.note {
            field("itemNote", n.clone());
        }
    }
    // Posting a charge is not a payment: never let Cloudbeds record a cash payment for it.
    form.push(("itemPaid".to_owned(), "false".to_owned()));
    form
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_string")]
        id: Option<String>,
        #[serde(default, deserialize_with = "opt_amount")]
        amount: Option<Amount>,
        #[serde(default, deserialize_with = "opt_count")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "keyed")]
        map: Vec<(Option<String>, GuestEntry)>,
        #[serde(default, deserialize_with = "one_or_many")]
        bd: Vec<BalanceDetailed>,
    }

    fn probe(v: serde_json::Value) -> Probe {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ids_and_amounts_as_strings_or_numbers() {
        let a = probe(json!({"id": 9837261524u64, "amount": 612.4, "n": "2", "b": "1"}));
        let b = probe(json!({"id": "9837261524", "amount": "612.40", "n": 2, "b": true}));
        assert_eq!(a.id, b.id);
        assert_eq!(a.amount, Some(Amount("612.4".into())));
        assert_eq!(b.amount, Some(Amount("612.40".into())));
        assert_eq!((a.n, b.n), (Some(2), Some(2)));
        assert_eq!((a.b, b.b), (Some(true), Some(true)));
        let blank = probe(json!({"id": "", "amount": null, "n": "x", "b": null}));
        assert_eq!(
            (blank.id, blank.amount, blank.n, blank.b),
            (None, None, None, None)
        );
    }

    #[test]
    fn maps_may_be_objects_or_empty_arrays() {
        let m = probe(json!({"map": {"52014": {"guestID": 52014, "isMainGuest": true}}}));
        assert_eq!(m.map.len(), 1);
        assert_eq!(m.map[0].0.as_deref(), Some("52014"));
        assert_eq!(m.map[0].1.guest_id.as_deref(), Some("52014"));
        assert!(probe(json!({"map": []})).map.is_empty());
        assert!(probe(json!({"map": null})).map.is_empty());
    }

    #[test]
    fn balance_detailed_object_or_array() {
        let o = probe(json!({"bd": {"grandTotal": 10, "paid": "4"}}));
        let a = probe(json!({"bd": [{"grandTotal": 10, "paid": 4}]}));
        assert_eq!(o.bd.len(), 1);
        assert_eq!(a.bd.len(), 1);
        assert_eq!(o.bd[0].grand_total, Some(Amount("10".into())));
        assert!(probe(json!({"bd": []})).bd.is_empty());
    }

    #[test]
    fn custom_item_form_uses_indexed_brackets() {
        let form = custom_item_form(
            "318267",
            "9837261524",
            "op-1",
            &[CustomItem {
                app_item_id: "pms-abc".into(),
                name: "Minibar".into(),
                price: "24.50".into(),
                quantity: 1,
                category: Some("F&B".into()),
                note: None,
            }],
        );
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("referenceID"), Some("op-1"));
        assert_eq!(get("items[0][itemName]"), Some("Minibar"));
        assert_eq!(get("items[0][itemPrice]"), Some("24.50"));
        assert_eq!(get("items[0][itemQuantity]"), Some("1"));
        assert_eq!(get("items[0][itemCategoryName]"), Some("F&B"));
        assert_eq!(get("items[0][itemNote]"), None);
        assert_eq!(get("itemPaid"), Some("false"));
    }
}
