//! Money in minor units with an ISO 4217 currency. Never floats: vendor decimals are converted
//! once, at the boundary, with the currency's own exponent (JPY 0, EUR 2, BHD 3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Active ISO 4217 codes and their minor-unit exponents.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An ISO 4217 currency code we know the exponent of.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|(c, e)| {
                let b = c.as_bytes();
                Currency {
                    code: [b[0], b[1], b[2]],
                    exponent: *e,
                }
            })
            .ok_or_else(|| {
                ValidationError::new("currency", format!("unknown ISO 4217 currency {code:?}"))
            })
    }

    pub fn code(&self) -> &str {
        // The bytes always come from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Digits after the decimal point (2 for EUR, 0 for JPY, 3 for BHD).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    pub const fn usd() -> Self {
        Self {
            code: *b"USD",
            exponent: 2,
        }
    }
    pub const fn eur() -> Self {
        Self {
            code: *b"EUR",
            exponent: 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> String {
        value.code().to_owned()
    }
}

/// An amount in minor units (cents) of a currency. Signed: balances and refunds can be negative.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// Parses a vendor decimal ("123.45", "-7", "1e2" is rejected) exactly, without floats.
    /// More fractional digits than the currency allows are an error, never silently rounded.
    pub fn from_decimal_str(value: &str, currency: Currency) -> Result<Self, ValidationError> {
        let s = value.trim();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        let valid = !int_part.is_empty() || !frac_part.is_empty();
        if !valid
            || !int_part.chars().all(|c| c.is_ascii_digit())
            || !frac_part.chars().all(|c| c.is_ascii_digit())
        {
            return Err(ValidationError::new(
                "amount",
                format!("{value:?} is not a decimal amount"),
            ));
        }
        let exp = currency.exponent() as usize;
        let frac_trimmed = frac_part.trim_end_matches('0');
        if frac_trimmed.len() > exp {
            return Err(ValidationError::new(
                "amount",
                format!("{value:?} has more than {exp} decimals for {currency}"),
            ));
        }
        let mut frac = frac_trimmed.to_owned();
        while frac.len() < exp {
            frac.push('0');
        }
        let combined = format!(
            "{}{}",
            if int_part.is_empty() { "0" } else { int_part },
            frac
        );
        let magnitude: i64 = combined
            .parse()
            .map_err(|_| ValidationError::new("amount", format!("{value:?} is out of range")))?;
        Ok(Self::new(
            if negative { -magnitude } else { magnitude },
            currency,
        ))
    }

    /// Converts a vendor float (Mews and Cloudbeds send JSON numbers) to minor units, rounding
    /// half away from zero at the currency's exponent. Only for values that arrive as floats.
    pub fn from_f64(value: f64, currency: Currency) -> Result<Self, ValidationError> {
        if !value.is_finite() {
            return Err(ValidationError::new("amount", "is not a finite number"));
        }
        let scaled = value * 10f64.powi(currency.exponent() as i32);
        if scaled.abs() > 9.0e15 {
            return Err(ValidationError::new("amount", "is out of range"));
        }
        Ok(Self::new(scaled.round() as i64, currency))
    }

    /// The amount as a decimal string with the currency's exponent ("123.45").
    pub fn to_decimal_string(&self) -> String {
        let exp = self.currency.exponent() as u32;
        if exp == 0 {
            return self.amount_minor.to_string();
        }
        let div = 10i64.pow(exp);
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            abs / div as u64,
            abs % div as u64,
            width = exp as usize
        )
    }

    /// The amount as a float in major units, for vendor APIs that take JSON numbers.
    pub fn to_major_f64(&self) -> f64 {
        self.amount_minor as f64 / 10f64.powi(self.currency.exponent() as i32)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Some(Money::new(
            self.amount_minor.checked_add(other.amount_minor)?,
            self.currency,
        ))
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Some(Money::new(
            self.amount_minor.checked_sub(other.amount_minor)?,
            self.currency,
        ))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currency_exponents() {
        assert_eq!(Currency::parse("jpy").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("BHD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("EUR").unwrap().code(), "EUR");
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn decimal_parsing_is_exact() {
        let eur = Currency::eur();
        assert_eq!(
            Money::from_decimal_str("123.45", eur).unwrap().amount_minor,
            12345
        );
        assert_eq!(
            Money::from_decimal_str("-0.5", eur).unwrap().amount_minor,
            -50
        );
        assert_eq!(Money::from_decimal_str("7", eur).unwrap().amount_minor, 700);
        assert_eq!(
            Money::from_decimal_str("1.230", eur).unwrap().amount_minor,
            123
        );
        assert!(Money::from_decimal_str("1.234", eur).is_err());
        assert!(Money::from_decimal_str("1e2", eur).is_err());
        assert!(Money::from_decimal_str(".", eur).is_err());
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(
            Money::from_decimal_str("1500", jpy).unwrap().amount_minor,
            1500
        );
        assert!(Money::from_decimal_str("1500.5", jpy).is_err());
    }

    #[test]
    fn floats_round_half_away_from_zero() {
        let usd = Currency::usd();
        assert_eq!(Money::from_f64(19.99, usd).unwrap().amount_minor, 1999);
        assert_eq!(Money::from_f64(0.125, usd).unwrap().amount_minor, 13);
        assert!(Money::from_f64(f64::NAN, usd).is_err());
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies() {
        let a = Money::new(100, Currency::usd());
        let b = Money::new(100, Currency::eur());
        assert!(a.checked_add(b).is_none());
        assert_eq!(a.checked_add(a).unwrap().amount_minor, 200);
    }

    proptest! {
        #[test]
        fn decimal_string_round_trips(minor in -1_000_000_000i64..1_000_000_000, code in prop::sample::select(vec!["EUR", "JPY", "BHD"])) {
            let currency = Currency::parse(code).unwrap();
            let money = Money::new(minor, currency);
            let back = Money::from_decimal_str(&money.to_decimal_string(), currency).unwrap();
            prop_assert_eq!(back, money);
        }
    }

    #[test]
    fn the_currency_constants_are_the_tables_entries() {
        assert_eq!(Currency::usd(), Currency::parse("USD").unwrap());
        assert_eq!(Currency::eur(), Currency::parse("EUR").unwrap());
    }
}
