//! Reading partner JSON field by field, so every problem is reported with its path
//! (`items[2].checkOut`) and a stable code, all at once, and unknown fields are noticed.

use chrono::{DateTime, NaiveTime, Utc};
use serde_json::{Map, Value};

use super::FieldError;
use pms_domain::domain::{BusinessDate, Currency, Money, ValidationError};

/// Errors and unknown field names collected while reading one request.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub errors: Vec<FieldError>,
    pub unknown: Vec<String>,
}

impl Ctx {
    pub fn error(&mut self, field: String, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field,
            code,
            message: message.into(),
        });
    }
}

/// `-?digits(.digits)?`: the only decimal spelling accepted in strings.
fn is_decimal(s: &str) -> bool {
    if s.len() > 24 {
        return false;
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
}

pub(crate) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// One JSON object being read.
pub(crate) struct Obj<'v> {
    map: &'v Map<String, Value>,
    path: String,
    seen: Vec<&'static str>,
}

impl<'v> Obj<'v> {
    /// `value` as an object, or an error at `path`.
    pub fn of(value: &'v Value, path: &str, ctx: &mut Ctx) -> Option<Obj<'v>> {
        match value.as_object() {
            Some(map) => Some(Obj {
                map,
                path: path.to_owned(),
                seen: Vec::new(),
            }),
            None => {
                let field = if path.is_empty() { "body" } else { path };
                ctx.error(field.to_owned(), "INVALID_TYPE", "must be a JSON object");
                None
            }
        }
    }

    pub fn field(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// The value of a field; `null` counts as absent.
    fn take(&mut self, name: &'static str) -> Option<&'v Value> {
        self.seen.push(name);
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn missing(&self, ctx: &mut Ctx, name: &'static str, required: bool) {
        if required {
            ctx.error(self.field(name), "REQUIRED", "is required");
        }
    }

    pub fn string(
        &mut self,
        ctx: &mut Ctx,
        name: &'static str,
        max: usize,
        required: bool,
    ) -> Option<String> {
        let Some(v) = self.take(name) else {
            self.missing(ctx, name, required);
            return None;
        };
        // Lengths count the string as sent (what a schema's maxLength means); the value kept
        // is trimmed.
        match v.as_str() {
            Some(s) if s.trim().is_empty() => {
                ctx.error(self.field(name), "INVALID_FIELD", "must not be empty");
                None
            }
            Some(s) if s.chars().count() > max => {
                ctx.error(
                    self.field(name),
                    "TOO_LONG",
                    format!("must be at most {max} characters"),
                );
                None
            }
            Some(s) if s.chars().any(char::is_control) => {
                ctx.error(
                    self.field(name),
                    "INVALID_FIELD",
                    "must not contain control characters",
                );
                None
            }
            Some(s) => Some(s.trim().to_owned()),
            None => {
                ctx.error(self.field(name), "INVALID_TYPE", "must be a string");
                None
            }
        }
    }

    /// A string parsed by a validating constructor; its error code is kept.
    pub fn parsed<T>(
        &mut self,
        ctx: &mut Ctx,
        name: &'static str,
        max: usize,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Option<T> {
        let s = self.string(ctx, name, max, required)?;
        match parse(&s) {
            Ok(v) => Some(v),
            Err(e) => {
                ctx.error(self.field(name), e.code, e.message);
                None
            }
        }
    }

    pub fn date(
        &mut self,
        ctx: &mut Ctx,
        name: &'static str,
        required: bool,
    ) -> Option<BusinessDate> {
        self.parsed(ctx, name, 10, required, |s| {
            let shaped = s.len() == 10
                && s.char_indices().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        c == '-'
                    } else {
                        c.is_ascii_digit()
                    }
                });
            shaped
                .then_some(())
                .and_then(|()| BusinessDate::parse(s).ok())
                .ok_or_else(|| {
                    ValidationError::new("date", "must be a date as YYYY-MM-DD")
                        .with_code("INVALID_DATE")
                })
        })
    }

    pub fn time(&mut self, ctx: &mut Ctx, name: &'static str) -> Option<NaiveTime> {
        self.parsed(ctx, name, 8, false, |s| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
                .map_err(|_| {
                    ValidationError::new("time", "must be a time as HH:MM")
                        .with_code("INVALID_TIME")
                })
        })
    }

    pub fn datetime(&mut self, ctx: &mut Ctx, name: &'static str) -> Option<DateTime<Utc>> {
        self.parsed(ctx, name, 40, false, |s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ValidationError::new(
                        "datetime",
                        "must be an RFC 3339 date-time with an offset, e.g. 2026-12-01T10:00:00Z",
                    )
                    .with_code("INVALID_DATETIME")
                })
        })
    }

    pub fn uint(
        &mut self,
        ctx: &mut Ctx,
        name: &'static str,
        max: u64,
        required: bool,
    ) -> Option<u64> {
        let Some(v) = self.take(name) else {
            self.missing(ctx, name, required);
            return None;
        };
        match v.as_u64() {
            Some(n) if n <= max => Some(n),
            Some(_) => {
                ctx.error(
                    self.field(name),
                    "OUT_OF_RANGE",
                    format!("must be at most {max}"),
                );
                None
            }
            None if v.as_i64().is_some_and(|n| n < 0) => {
                ctx.error(self.field(name), "NEGATIVE_NUMBER", "must not be negative");
                None
            }
            None => {
                ctx.error(self.field(name), "INVALID_TYPE", "must be a whole number");
                None
            }
        }
    }

    pub fn boolean(&mut self, ctx: &mut Ctx, name: &'static str) -> Option<bool> {
        let v = self.take(name)?;
        match v.as_bool() {
            Some(b) => Some(b),
            None => {
                ctx.error(self.field(name), "INVALID_TYPE", "must be true or false");
                None
            }
        }
    }

    /// An array of short strings.
    pub fn strings(
        &mut self,
        ctx: &mut Ctx,
        name: &'static str,
        max_items: usize,
        max_len: usize,
    ) -> Vec<String> {
        let Some(v) = self.take(name) else {
            return Vec::new();
        };
        let Some(items) = v.as_array() else {
            ctx.error(
                self.field(name),
                "INVALID_TYPE",
                "must be an array of strings",
            );
            return Vec::new();
        };
        if items.len() > max_items {
            ctx.error(
                self.field(name),
                "TOO_MANY_ITEMS",
                format!("must have at most {max_items} entries"),
            );
            return Vec::new();
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let field = format!("{}[{i}]", self.field(name));
            match item.as_str().map(str::trim) {
                Some(s) if !s.is_empty() && s.chars().count() <= max_len => out.push(s.to_owned()),
                Some(_) => ctx.error(
                    field,
                    "INVALID_FIELD",
                    format!("must be 1 to {max_len} characters"),
                ),
                None => ctx.error(field, "INVALID_TYPE", "must be a string"),
            }
        }
        out
    }

    /// A nested object, read by `read`.
    pub fn object<R>(
        &mut self,
        ctx: &mut Ctx,
        name: &'static str,
        required: bool,
        read: impl FnOnce(&mut Obj<'v>, &mut Ctx) -> Option<R>,
    ) -> Option<R> {
        let Some(v) = self.take(name) else {
            self.missing(ctx, name, required);
            return None;
        };
        let mut obj = Obj::of(v, &self.field(name), ctx)?;
        let out = read(&mut obj, ctx);
        obj.done(ctx);
        out
    }

    /// An array of objects, each read by `read`.
    pub fn objects<R>(
        &mut self,
        ctx: &mut Ctx,
        name: &'static str,
        max_items: usize,
        mut read: impl FnMut(&mut Obj<'v>, &mut Ctx) -> Option<R>,
    ) -> Vec<R> {
        let Some(v) = self.take(name) else {
            return Vec::new();
        };
        let Some(items) = v.as_array() else {
            ctx.error(self.field(name), "INVALID_TYPE", "must be an array");
            return Vec::new();
        };
        if items.len() > max_items {
            ctx.error(
                self.field(name),
                "TOO_MANY_ITEMS",
                format!("must have at most {max_items} entries"),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.field(name));
            if let Some(mut obj) = Obj::of(item, &path, ctx) {
                if let Some(r) = read(&mut obj, ctx) {
                    out.push(r);
                }
                obj.done(ctx);
            }
        }
        out
    }

    /// `{"amount": "123.45" | 123.45, "currency": "EUR"}`. Amounts are exact decimals in the
    /// currency's minor unit; `allow_negative` is for balances (a guest in credit).
    pub fn money(
        &mut self,
        ctx: &mut Ctx,
        name: &'static str,
        allow_negative: bool,
    ) -> Option<Money> {
        self.object(ctx, name, false, |m, ctx| {
            let currency = m.parsed(ctx, "currency", 3, true, |s| {
                Currency::parse(s).map_err(|e| e.with_code("UNKNOWN_CURRENCY"))
            });
            let amount_field = m.field("amount");
            let amount = match m.take("amount") {
                None => {
                    m.missing(ctx, "amount", true);
                    None
                }
                Some(Value::String(s)) if is_decimal(s) => Some(s.clone()),
                Some(Value::String(_)) => {
                    ctx.error(
                        amount_field.clone(),
                        "INVALID_AMOUNT",
                        "must be a decimal such as \"123.45\"",
                    );
                    None
                }
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => {
                    ctx.error(
                        amount_field.clone(),
                        "INVALID_TYPE",
                        "must be a decimal string or number",
                    );
                    None
                }
            };
            let (currency, amount) = (currency?, amount?);
            match Money::from_decimal_str(&amount, currency) {
                Ok(money) if money.amount_minor < 0 && !allow_negative => {
                    ctx.error(amount_field, "NEGATIVE_AMOUNT", "must not be negative");
                    None
                }
                Ok(money) => Some(money),
                Err(e) => {
                    ctx.error(amount_field, "INVALID_AMOUNT", e.message);
                    None
                }
            }
        })
    }

    /// Records the fields of this object no reader asked for.
    pub fn done(self, ctx: &mut Ctx) {
        for key in self.map.keys() {
            if !self.seen.iter().any(|s| s == key) {
                ctx.unknown.push(join(&self.path, key));
            }
        }
    }
}
