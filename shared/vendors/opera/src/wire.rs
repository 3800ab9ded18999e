//! OHIP wire types, as the specs (`rsv.json`, `crm.json`, `csh.json`, `hsk.json`, `int.json`,
//! `oauth.json`, OAS 2.0) and their official examples show them. Only the fields the mapping
//! reads are declared; everything else is ignored, never refused.
//!
//! The official examples are loose with JSON types (paging fields as strings in
//! `getHousekeepingOverview`, `actionId` as a number in one business event and a string in the
//! next, `transactionCode` as a number in the workflows although the schema says string), so
//! scalar fields that carry ids, counts or amounts accept either form.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A scalar the vendor sends as a string or a number; kept as its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flex(pub String);

impl Flex {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.0.trim().parse().ok()
    }
}

struct FlexVisitor;

impl Visitor<'_> for FlexVisitor {
    type Value = Flex;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Flex, E> {
        Ok(Flex(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Flex, E> {
        Ok(Flex(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flex, E> {
        Ok(Flex(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flex, E> {
        Ok(Flex(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Flex, E> {
        // Rust prints the shortest text that reads back as the same f64, never in exponent
        // form: "12.34" stays "12.34", so decimal amounts survive exactly (to 15 digits).
        Ok(Flex(format!("{v}")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flex, E> {
        Ok(Flex(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for Flex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FlexVisitor)
    }
}

/// A boolean the vendor may send as `true` or `"true"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlexBool(pub bool);

impl<'de> Deserialize<'de> for FlexBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = Flex::deserialize(d)?;
        Ok(FlexBool(f.0.trim().eq_ignore_ascii_case("true")))
    }
}

/// `uniqueID_Type`: `{id, type, idContext}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UniqueId {
    pub id: Option<Flex>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id_context: Option<String>,
}

/// Finds the id of a given `type` ("Reservation", "Confirmation", "Profile") in an id list.
pub fn id_of_type<'a>(ids: &'a [UniqueId], kind: &str) -> Option<&'a str> {
    ids.iter()
        .find(|i| {
            i.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(kind))
        })
        .and_then(|i| i.id.as_ref())
        .map(Flex::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// `currencyAmountType`: `{amount: number, currencyCode}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CurrencyAmount {
    pub amount: Option<Flex>,
    pub currency_code: Option<String>,
}

/// The paging attributes OHIP lists carry (`hasMore`, `totalResults`, `count`, ...).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Paging {
    pub has_more: Option<FlexBool>,
    pub total_results: Option<Flex>,
    pub count: Option<Flex>,
    pub offset: Option<Flex>,
    pub limit: Option<Flex>,
}

// ---- errors and tokens -----------------------------------------------------------------------

/// `exceptionDetailType` (RFC 7807-like), the body of 400/404/500 answers.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExceptionDetail {
    pub title: Option<String>,
    pub detail: Option<String>,
    pub status: Option<Flex>,
    #[serde(rename = "o:errorCode")]
    pub error_code: Option<String>,
    #[serde(rename = "o:errorDetails")]
    pub error_details: Vec<ErrorInstance>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorInstance {
    pub title: Option<String>,
    pub detail: Option<String>,
    #[serde(rename = "o:errorCode")]
    pub error_code: Option<String>,
    #[serde(rename = "o:errorPath")]
    pub error_path: Option<String>,
}

/// `OAuth2TokenResponse`.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<Flex>,
    #[serde(default)]
    pub token_type: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("token_type", &self.token_type)
            .finish()
    }
}

// ---- reservations (rsv) ----------------------------------------------------------------------

/// `reservation`: the answer of getReservation (and of putReservation).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReservationResponse {
    pub reservations: Option<HotelReservations>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HotelReservations {
    pub reservation: Vec<HotelReservation>,
}

/// `hotelReservationType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HotelReservation {
    pub reservation_id_list: Vec<UniqueId>,
    pub room_stay: Option<RoomStay>,
    pub reservation_guests: Wrapped<ResGuest>,
    pub comments: Wrapped<CommentInfo>,
    pub hotel_id: Option<String>,
    pub reservation_status: Option<String>,
    pub computed_reservation_status: Option<String>,
    pub create_date_time: Option<String>,
    pub last_modify_date_time: Option<String>,
}

/// A list the specs declare as an array but some official examples wrap in an object
/// (`comments: {commentInfo: [...]}`, `reservationGuests: {reservationGuest: [...]}`).
#[derive(Clone, Debug)]
pub struct Wrapped<T>(pub Vec<T>);

impl<T> Default for Wrapped<T> {
    fn default() -> Self {
        Wrapped(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Wrapped<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form<T> {
            List(Vec<T>),
            // Any object whose one list member holds the items.
            Object(std::collections::BTreeMap<String, serde_json::Value>),
        }
        match Form::<T>::deserialize(d)? {
            Form::List(items) => Ok(Wrapped(items)),
            Form::Object(map) => {
                for (_, v) in map {
                    if v.is_array() {
                        return Vec::<T>::deserialize(v)
                            .map(Wrapped)
                            .map_err(de::Error::custom);
                    }
                }
                Ok(Wrapped(Vec::new()))
            }
        }
    }
}

/// `roomStayType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoomStay {
    pub arrival_date: Option<String>,
    pub departure_date: Option<String>,
    pub expected_times: Option<ExpectedTimes>,
    pub current_room_info: Option<CurrentRoomInfo>,
    pub room_rates: Vec<RoomRate>,
    pub guest_counts: Option<GuestCounts>,
    pub total: Option<Total>,
}

/// `resExpectedTimesType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExpectedTimes {
    pub reservation_expected_arrival_time: Option<String>,
    pub reservation_expected_departure_time: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CurrentRoomInfo {
    pub room_id: Option<Flex>,
    pub room_type: Option<String>,
}

/// `roomRateType` (only the fields a stay summary needs).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoomRate {
    pub room_id: Option<Flex>,
    pub room_type: Option<String>,
    pub rate_plan_code: Option<String>,
    pub guest_counts: Option<GuestCounts>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GuestCounts {
    pub adults: Option<Flex>,
    pub children: Option<Flex>,
}

/// `totalType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Total {
    pub amount_after_tax: Option<Flex>,
    pub amount_before_tax: Option<Flex>,
    pub currency_code: Option<String>,
}

/// `resGuestType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResGuest {
    pub profile_info: Option<ProfileInfo>,
    pub primary: Option<FlexBool>,
}

/// `{profileIdList, profile}`: how reservations, getProfiles and the getProfile example nest
/// a profile.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileInfo {
    pub profile_id_list: Vec<UniqueId>,
    pub profile: Option<Profile>,
}

/// `commentInfoType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommentInfo {
    pub comment: Option<Comment>,
    pub id: Option<Flex>,
}

/// `commentType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Comment {
    pub text: Option<FormattedText>,
    pub comment_title: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub internal: Option<FlexBool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FormattedText {
    pub value: Option<String>,
}

/// `reservationsDetails`: the answer of getHotelReservations.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReservationsDetails {
    pub reservations: Option<ReservationInfoList>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReservationInfoList {
    pub reservation_info: Vec<ReservationInfo>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// `reservationInfoType`: the flatter search result.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReservationInfo {
    pub reservation_id_list: Vec<UniqueId>,
    pub room_stay: Option<StayInfo>,
    pub reservation_guest: Option<ResGuestInfo>,
    pub hotel_id: Option<String>,
    pub reservation_status: Option<String>,
    pub computed_reservation_status: Option<String>,
    pub create_date_time: Option<String>,
    pub last_modify_date_time: Option<String>,
}

/// `stayInfoType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StayInfo {
    pub arrival_date: Option<String>,
    pub departure_date: Option<String>,
    pub expected_times: Option<ExpectedTimes>,
    pub adult_count: Option<Flex>,
    pub child_count: Option<Flex>,
    pub room_type: Option<String>,
    pub room_id: Option<Flex>,
    pub rate_plan_code: Option<String>,
    pub total_amount: Option<CurrencyAmount>,
    pub balance: Option<CurrencyAmount>,
}

/// `resGuestInfoType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResGuestInfo {
    pub id: Option<Flex>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}

// ---- profiles (crm) --------------------------------------------------------------------------

/// `profile`: the answer of getProfile. The schema puts the profile in `profileDetails`; the
/// official example puts it in `profiles.profileInfo[].profile`. Both are read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileResponse {
    pub profile_id_list: Vec<UniqueId>,
    pub profile_details: Option<Profile>,
    pub profiles: Option<ProfileInfoList>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileInfoList {
    pub profile_info: Vec<ProfileInfo>,
}

/// `profileSummaries`: the answer of getProfiles.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileSummaries {
    pub profile_summaries: Option<ProfileSummaryList>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileSummaryList {
    pub profile_info: Vec<ProfileInfo>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// `profileType` (detailed) and the fields of `profileSummaryType` that carry the same facts
/// (`emailInfo`, `telephoneInfo`, `profileMembership`, `formerName`), read from one struct.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Profile {
    pub customer: Option<Customer>,
    pub emails: Option<EmailList>,
    pub telephones: Option<TelephoneList>,
    pub profile_memberships: Option<MembershipList>,
    pub preference_collection: Option<PreferenceCollection>,
    pub profile_type: Option<String>,
    pub status_code: Option<String>,
    pub create_date_time: Option<String>,
    pub last_modify_date_time: Option<String>,
    // profileSummaryType
    pub former_name: Option<SummaryName>,
    pub email_info: Option<EmailInfo>,
    pub telephone_info: Option<TelephoneInfo>,
    pub profile_membership: Option<Membership>,
    pub vip_status: Option<serde_json::Value>,
    /// The hotel the profile is registered with (profiles are the chain's).
    pub registered_property: Option<String>,
    pub profile_access_type: Option<ProfileAccess>,
}

/// `profileAccessType`: where the profile was created.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileAccess {
    pub hotel_id: Option<String>,
}

/// `customerType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Customer {
    pub person_name: Vec<PersonName>,
    pub language: Option<String>,
    pub vip_status: Option<Flex>,
}

/// `personNameType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PersonName {
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub name_type: Option<String>,
}

/// The name node of `profileSummaryType` (`formerName`: `name` is the surname).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SummaryName {
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub language: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailList {
    pub email_info: Vec<EmailInfo>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailInfo {
    pub email: Option<Email>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Email {
    pub email_address: Option<String>,
    pub primary_ind: Option<FlexBool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TelephoneList {
    pub telephone_info: Vec<TelephoneInfo>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TelephoneInfo {
    pub telephone: Option<Telephone>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Telephone {
    pub phone_number: Option<String>,
    pub phone_tech_type: Option<String>,
    pub primary_ind: Option<FlexBool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MembershipList {
    pub profile_membership: Vec<Membership>,
}

/// `profileMembershipType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Membership {
    pub membership_type: Option<String>,
    pub membership_id: Option<Flex>,
    pub membership_level: Option<String>,
    pub primary_membership: Option<FlexBool>,
    pub inactive: Option<FlexBool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PreferenceCollection {
    pub preference_type: Vec<PreferenceGroup>,
}

/// `preferenceTypeType`: a preference group and its preferences.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PreferenceGroup {
    pub preference_type: Option<String>,
    pub preference: Vec<PreferenceItem>,
}

/// `preferenceType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PreferenceItem {
    pub preference_value: Option<String>,
    pub preference_code: Option<String>,
    pub description: Option<String>,
}

// ---- housekeeping (hsk) ----------------------------------------------------------------------

/// `housekeepingBoard`: the answer of getHousekeepingOverview.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HousekeepingBoard {
    pub housekeeping_room_info: Option<HousekeepingRoomInfo>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HousekeepingRoomInfo {
    pub housekeeping_rooms: Option<HousekeepingRooms>,
    #[serde(flatten)]
    pub paging: Paging,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HousekeepingRooms {
    pub room: Vec<HousekeepingRoom>,
}

/// `roomType` of the housekeeping board (a room, not a room type).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HousekeepingRoom {
    pub room_id: Option<Flex>,
    pub room_type: Option<RoomTypeField>,
    pub floor: Option<Flex>,
    pub housekeeping: Option<Housekeeping>,
}

/// A room type given as a code or as `roomTypeShortInfoType` (`{roomType: "STDK", ...}`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RoomTypeField {
    Code(String),
    Info {
        #[serde(rename = "roomType", default)]
        room_type: Option<String>,
    },
}

impl RoomTypeField {
    pub fn code(&self) -> Option<&str> {
        match self {
            RoomTypeField::Code(c) => Some(c),
            RoomTypeField::Info { room_type } => room_type.as_deref(),
        }
    }
}

/// `housekeepingType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Housekeeping {
    pub housekeeping_room_status: Option<RoomStatusWire>,
    pub guest_service_request: Option<String>,
}

/// `roomStatusType`: cleaning status and front office status are separate dimensions.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoomStatusWire {
    pub housekeeping_room_status: Option<String>,
    pub front_office_status: Option<String>,
    pub housekeeping_status: Option<String>,
}

// ---- cashiering (csh) ------------------------------------------------------------------------

/// `folio`: the answer of getFolio.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FolioResponse {
    pub reservation_folio_information: Option<ReservationFolioInfo>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReservationFolioInfo {
    pub reservation_info: Option<FolioReservationInfo>,
    pub folio_windows: Vec<FolioWindow>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FolioReservationInfo {
    pub room_stay: Option<FolioRoomStay>,
    pub revenues_and_balances: Option<RevenuesAndBalances>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FolioRoomStay {
    pub balance: Option<CurrencyAmount>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RevenuesAndBalances {
    pub balance: Option<CurrencyAmount>,
}

/// `folioWindowType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FolioWindow {
    pub folio_window_no: Option<Flex>,
    pub balance: Option<CurrencyAmount>,
    pub folios: Vec<Folio>,
    #[serde(flatten)]
    pub paging: Paging,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Folio {
    pub postings: Vec<Posting>,
}

/// `summaryPostingType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Posting {
    pub transaction_no: Option<Flex>,
    pub transaction_code: Option<Flex>,
    pub reference: Option<String>,
    pub remark: Option<String>,
    pub posted_amount: Option<CurrencyAmount>,
}

/// `billingChargesDetails`: the (optional) body of a 201 from postBillingCharges.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BillingChargesDetails {
    pub postings: Vec<Posting>,
}

// ---- business events (int) -------------------------------------------------------------------

/// `businessEvents`: the answer of getBusinessEvents.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BusinessEvents {
    pub business_event_data: Vec<BusinessEventData>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BusinessEventData {
    pub business_event: Option<BusinessEvent>,
    pub business_event_id: Option<UniqueId>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BusinessEvent {
    pub header: Option<BusinessEventHeader>,
    pub details: Vec<BusinessEventDetail>,
}

/// `businessEventHeaderType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BusinessEventHeader {
    pub module_name: Option<String>,
    pub action_type: Option<String>,
    pub action_id: Option<Flex>,
    pub primary_key: Option<Flex>,
    pub created_date_time: Option<String>,
    pub hotel_id: Option<String>,
}

/// `businessEventDetailType`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BusinessEventDetail {
    pub data_element: Option<String>,
    pub old_value: Option<Flex>,
    pub new_value: Option<Flex>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_reads_strings_and_numbers() {
        let v: Vec<Flex> = serde_json::from_str(r#"["20", 20, 12.34, -0.5, true]"#).unwrap();
        let texts: Vec<&str> = v.iter().map(Flex::as_str).collect();
        assert_eq!(texts, ["20", "20", "12.34", "-0.5", "true"]);
        assert_eq!(v[0].as_u64(), Some(20));
        let b: Vec<FlexBool> = serde_json::from_str(r#"[true, "true", "false", false]"#).unwrap();
        assert_eq!(
            b.iter().map(|b| b.0).collect::<Vec<_>>(),
            [true, true, false, false]
        );
    }

    #[test]
    fn wrapped_lists_read_both_forms() {
        let a: Wrapped<CommentInfo> =
            serde_json::from_str(r#"[{"comment":{"text":{"value":"a"}}}]"#).unwrap();
        let b: Wrapped<CommentInfo> =
            serde_json::from_str(r#"{"commentInfo":[{"comment":{"text":{"value":"b"}}}]}"#)
                .unwrap();
        assert_eq!(a.0.len(), 1);
        assert_eq!(
            b.0[0]
                .comment
                .as_ref()
                .and_then(|c| c.text.as_ref())
                .and_then(|t| t.value.as_deref()),
            Some("b")
        );
    }

    #[test]
    fn token_debug_hides_the_token() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"secret-jwt","expires_in":3600}"#).unwrap();
        assert!(!format!("{t:?}").contains("secret-jwt"));
    }
}
