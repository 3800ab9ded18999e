//! Ids as partners see them in the API and as operators type them, accepted in either form: an
//! id copied from a partner's complaint works in `pmsctl` as-is, and `pmsctl` shows the form the
//! API takes.

use pms_domain::domain::{ExternalId, HotelId, Provider, RecordId, ValidationError};

use crate::writes::{OperationId, OperationRef};

/// An operation as given on the command line: `op_<32 hex>`, or the API's `<hotel>/op_<32 hex>`
/// (`Operation.id`), which also names the hotel it must belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationSelector {
    pub hotel: Option<HotelId>,
    pub id: OperationId,
}

impl OperationSelector {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let value = value.trim();
        if value.contains('/') {
            let r = OperationRef::parse(value)?;
            return Ok(Self {
                hotel: Some(r.hotel),
                id: r.id,
            });
        }
        OperationId::parse(value)
            .map(|id| Self { hotel: None, id })
            .map_err(|_| {
                ValidationError::new("id", "expected `op_<32 hex>` or `<hotel>/op_<32 hex>`")
            })
    }

    /// Whether an operation of `hotel` is the one meant.
    pub fn matches_hotel(&self, hotel: &HotelId) -> bool {
        self.hotel.as_ref().is_none_or(|h| h == hotel)
    }
}

/// A vendor record id of `hotel` (whose PMS is `provider`) in any form the API shows it: the
/// vendor's own id, `Guest.id` / `Booking.recordId` (`<provider>:<id>`), or `Booking.id`
/// (`<hotel>/<provider>:<id>`). A prefix naming another hotel or provider is refused rather
/// than silently read as part of the vendor's id.
pub fn vendor_id(
    hotel: &HotelId,
    provider: Provider,
    value: &str,
) -> Result<ExternalId, ValidationError> {
    let value = value.trim();
    let rest = match value.split_once('/') {
        Some((h, rest)) => {
            if HotelId::parse(h)? != *hotel {
                return Err(ValidationError::new(
                    "id",
                    format!("names hotel {h}, not {hotel}"),
                ));
            }
            let record: RecordId = rest.parse()?;
            return check_provider(record, provider);
        }
        None => value,
    };
    if let Some((p, _)) = rest.split_once(':') {
        if let Ok(named) = p.parse::<Provider>() {
            let record: RecordId = rest.parse()?;
            if named != provider {
                return Err(ValidationError::new(
                    "id",
                    format!("is a {named} id, but {hotel} runs {provider}"),
                ));
            }
            return Ok(record.external().clone());
        }
    }
    ExternalId::parse(rest)
}

fn check_provider(record: RecordId, provider: Provider) -> Result<ExternalId, ValidationError> {
    if record.provider() != provider {
        return Err(ValidationError::new(
            "id",
            format!(
                "is a {} id, but the hotel runs {provider}",
                record.provider()
            ),
        ));
    }
    Ok(record.external().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_in_either_form() {
        let op = "op_0123456789abcdef0123456789abcdef";
        let bare = OperationSelector::parse(op).unwrap();
        assert_eq!(bare.hotel, None);
        assert_eq!(bare.id.as_str(), op);
        let global = OperationSelector::parse(&format!("demo-mews/{op}")).unwrap();
        assert_eq!(global.hotel.as_ref().unwrap().as_str(), "demo-mews");
        assert_eq!(global.id, bare.id);
        assert!(global.matches_hotel(&HotelId::parse("demo-mews").unwrap()));
        assert!(!global.matches_hotel(&HotelId::parse("other").unwrap()));
        assert!(bare.matches_hotel(&HotelId::parse("other").unwrap()));
        for bad in [
            "op_12".to_owned(),
            "demo/op_12".to_owned(),
            format!("h#1/{op}"),
            format!("{op}/x"),
        ] {
            assert!(OperationSelector::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vendor_ids_in_every_form_the_api_shows() {
        let h = HotelId::parse("demo-mews").unwrap();
        for form in ["abc-1", "mews:abc-1", "demo-mews/mews:abc-1"] {
            assert_eq!(
                vendor_id(&h, Provider::named("mews"), form)
                    .unwrap()
                    .as_str(),
                "abc-1",
                "{form}"
            );
        }
        assert!(vendor_id(&h, Provider::named("mews"), "cloudbeds:abc-1").is_err());
        assert!(vendor_id(&h, Provider::named("mews"), "other/mews:abc-1").is_err());
        assert!(vendor_id(&h, Provider::named("mews"), "demo-mews/cloudbeds:1").is_err());
    }
}
