//! A small intrinsic-function resolver: `Ref` (parameters, pseudo parameters, resources),
//! `Fn::Sub` (`${X}`, `${X.Attr}`, `${!Literal}`, and the `[string, vars]` form),
//! `Fn::GetAtt`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::ToJsonString`.
//! Conditions (`Fn::If` and friends) are not supported and say so.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::template::Template;
use super::{LocalError, LocalResult, ACCOUNT_ID, PARTITION, REGION};

/// What a provisioned resource resolves to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Physical {
    /// The value of `Ref` (a queue's URL, a table's or bus's name, a secret's ARN).
    pub reference: String,
    /// `Fn::GetAtt` values by attribute name.
    pub attributes: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct Resolver {
    stack_name: String,
    parameters: BTreeMap<String, Value>,
    resources: BTreeMap<String, Physical>,
}

fn err(context: &str, reason: impl Into<String>) -> LocalError {
    LocalError::Resolve {
        context: context.to_string(),
        reason: reason.into(),
    }
}

impl Resolver {
    /// Parameters take `overrides`, else their defaults; a parameter with neither is an error,
    /// as it would be in CloudFormation.
    pub fn new(
        template: &Template,
        stack_name: &str,
        overrides: &BTreeMap<String, String>,
    ) -> LocalResult<Resolver> {
        let mut parameters = BTreeMap::new();
        for (name, p) in &template.parameters {
            let raw = match overrides.get(name) {
                Some(v) => v.clone(),
                None => match &p.default {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(other) => other.to_string(),
                    None => {
                        return Err(err(
                            &format!("parameter {name}"),
                            "no value given and no Default",
                        ))
                    }
                },
            };
            if !p.allowed_values.is_empty()
                && !p
                    .allowed_values
                    .iter()
                    .any(|a| scalar_string(a).as_deref() == Some(raw.as_str()))
            {
                return Err(err(
                    &format!("parameter {name}"),
                    format!("{raw:?} is not one of its AllowedValues"),
                ));
            }
            let value = if p.kind == "CommaDelimitedList" || p.kind.starts_with("List<") {
                Value::Array(raw.split(',').map(|s| Value::from(s.trim())).collect())
            } else {
                Value::String(raw)
            };
            parameters.insert(name.clone(), value);
        }
        for name in overrides.keys() {
            if !template.parameters.contains_key(name) {
                return Err(err(
                    &format!("parameter {name}"),
                    "the template declares no such parameter",
                ));
            }
        }
        Ok(Resolver {
            stack_name: stack_name.to_string(),
            parameters,
            resources: BTreeMap::new(),
        })
    }

    pub fn stack_name(&self) -> &str {
        &self.stack_name
    }

    /// Record what a resource resolves to, once it exists.
    pub fn set(&mut self, logical_id: &str, physical: Physical) {
        self.resources.insert(logical_id.to_string(), physical);
    }

    pub fn physical(&self, logical_id: &str) -> Option<&Physical> {
        self.resources.get(logical_id)
    }

    pub fn resources(&self) -> &BTreeMap<String, Physical> {
        &self.resources
    }

    /// Resolve every intrinsic in `v`. `context` names the place for error messages.
    /// Properties set to `!Ref AWS::NoValue` disappear, as in CloudFormation.
    pub fn resolve(&self, v: &Value, context: &str) -> LocalResult<Value> {
        Ok(self.resolve_opt(v, context)?.unwrap_or(Value::Null))
    }

    /// Resolve to a string (numbers and booleans are stringified, as CloudFormation does).
    pub fn resolve_string(&self, v: &Value, context: &str) -> LocalResult<String> {
        scalar_string(&self.resolve(v, context)?).ok_or_else(|| err(context, "expected a string"))
    }

    fn resolve_opt(&self, v: &Value, ctx: &str) -> LocalResult<Option<Value>> {
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = self.resolve_opt(item, &format!("{ctx}[{i}]"))? {
                        out.push(r);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(m) => {
                if let Some((k, arg)) = m.iter().next().filter(|_| m.len() == 1) {
                    if k == "Ref" || k.starts_with("Fn::") {
                        return self.intrinsic(k, arg, ctx);
                    }
                }
                let mut out = Map::new();
                for (k, item) in m {
                    if let Some(r) = self.resolve_opt(item, &format!("{ctx}.{k}"))? {
                        out.insert(k.clone(), r);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Value, ctx: &str) -> LocalResult<Option<Value>> {
        match name {
            "Ref" => {
                let target = arg.as_str().ok_or_else(|| err(ctx, "Ref takes a name"))?;
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(target, ctx).map(Some)
            }
            "Fn::GetAtt" => {
                let (res, attr) = match arg {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .ok_or_else(|| {
                            err(ctx, format!("GetAtt {s}: expected Resource.Attribute"))
                        })?,
                    Value::Array(a) if a.len() == 2 => {
                        let res = a[0]
                            .as_str()
                            .ok_or_else(|| err(ctx, "GetAtt resource must be a name"))?
                            .to_string();
                        (res, self.resolve_string(&a[1], ctx)?)
                    }
                    _ => return Err(err(ctx, "GetAtt takes [Resource, Attribute]")),
                };
                self.attribute(&res, &attr, ctx)
                    .map(|s| Some(Value::String(s)))
            }
            "Fn::Sub" => {
                let (text, vars) = match arg {
                    Value::String(s) => (s.as_str(), Map::new()),
                    Value::Array(a) if a.len() == 2 => {
                        let text = a[0]
                            .as_str()
                            .ok_or_else(|| err(ctx, "Sub's first element must be a string"))?;
                        let vars = match self.resolve(&a[1], ctx)? {
                            Value::Object(m) => m,
                            _ => return Err(err(ctx, "Sub's second element must be a mapping")),
                        };
                        (text, vars)
                    }
                    _ => return Err(err(ctx, "Sub takes a string or [string, variables]")),
                };
                self.substitute(text, &vars, ctx)
                    .map(|s| Some(Value::String(s)))
            }
            "Fn::Join" => {
                let a = arg
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| err(ctx, "Join takes [delimiter, list]"))?;
                let delim = a[0]
                    .as_str()
                    .ok_or_else(|| err(ctx, "Join's delimiter must be a string"))?;
                let parts = match self.resolve(&a[1], ctx)? {
                    Value::Array(items) => items,
                    _ => return Err(err(ctx, "Join's second element must be a list")),
                };
                let parts = parts
                    .iter()
                    .map(|p| scalar_string(p).ok_or_else(|| err(ctx, "Join of a non-string")))
                    .collect::<LocalResult<Vec<_>>>()?;
                Ok(Some(Value::String(parts.join(delim))))
            }
            "Fn::Select" => {
                let a = arg
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| err(ctx, "Select takes [index, list]"))?;
                let index: usize = self
                    .resolve_string(&a[0], ctx)?
                    .parse()
                    .map_err(|_| err(ctx, "Select's index must be a number"))?;
                match self.resolve(&a[1], ctx)? {
                    Value::Array(items) => items
                        .get(index)
                        .cloned()
                        .map(Some)
                        .ok_or_else(|| err(ctx, format!("Select index {index} out of range"))),
                    _ => Err(err(ctx, "Select's second element must be a list")),
                }
            }
            "Fn::Split" => {
                let a = arg
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| err(ctx, "Split takes [delimiter, string]"))?;
                let delim = a[0]
                    .as_str()
                    .ok_or_else(|| err(ctx, "Split's delimiter must be a string"))?;
                let s = self.resolve_string(&a[1], ctx)?;
                Ok(Some(Value::Array(
                    s.split(delim).map(Value::from).collect(),
                )))
            }
            "Fn::ToJsonString" => {
                let v = self.resolve(arg, ctx)?;
                Ok(Some(Value::String(v.to_string())))
            }
            other => Err(err(
                ctx,
                format!("{other} is not supported by the local resolver"),
            )),
        }
    }

    fn reference(&self, target: &str, ctx: &str) -> LocalResult<Value> {
        if let Some(v) = self.pseudo(target) {
            return Ok(v);
        }
        if let Some(p) = self.parameters.get(target) {
            return Ok(p.clone());
        }
        self.resources
            .get(target)
            .map(|p| Value::String(p.reference.clone()))
            .ok_or_else(|| {
                err(
                    ctx,
                    format!("Ref {target}: no such parameter or provisioned resource"),
                )
            })
    }

    fn attribute(&self, res: &str, attr: &str, ctx: &str) -> LocalResult<String> {
        let p = self.resources.get(res).ok_or_else(|| {
            err(
                ctx,
                format!("GetAtt {res}.{attr}: {res} is not a provisioned resource"),
            )
        })?;
        p.attributes
            .get(attr)
            .cloned()
            .ok_or_else(|| err(ctx, format!("GetAtt {res}.{attr}: unknown attribute")))
    }

    fn pseudo(&self, name: &str) -> Option<Value> {
        Some(Value::String(match name {
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Region" => REGION.to_string(),
            "AWS::AccountId" => ACCOUNT_ID.to_string(),
            "AWS::Partition" => PARTITION.to_string(),
            "AWS::URLSuffix" => "amazonaws.com".to_string(),
            "AWS::StackId" => format!(
                "arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{}/local",
                self.stack_name
            ),
            "AWS::NotificationARNs" => return Some(Value::Array(Vec::new())),
            _ => return None,
        }))
    }

    fn substitute(&self, text: &str, vars: &Map<String, Value>, ctx: &str) -> LocalResult<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| err(ctx, format!("unclosed ${{ in Sub {text:?}")))?;
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                // `${!Name}` is the escape for a literal `${Name}`.
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(
                    &scalar_string(v)
                        .ok_or_else(|| err(ctx, format!("Sub variable {name} is not a string")))?,
                );
            } else if let Some((res, attr)) = name.split_once('.') {
                out.push_str(&self.attribute(res, attr, ctx)?);
            } else {
                let v = self.reference(name, ctx)?;
                out.push_str(
                    &scalar_string(&v)
                        .ok_or_else(|| err(ctx, format!("${{{name}}} is not a string")))?,
                );
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Logical ids a value refers to (through `Ref`, `Fn::GetAtt`, `Fn::Sub`), pseudo parameters
/// excluded. Parameters are included; callers keep the ids that are resources.
pub fn references(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_refs(v, &mut out);
    out
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        Value::Object(m) => {
            if let Some((k, arg)) = m.iter().next().filter(|_| m.len() == 1) {
                match (k.as_str(), arg) {
                    ("Ref", Value::String(s)) if !s.starts_with("AWS::") => {
                        out.insert(s.clone());
                        return;
                    }
                    ("Fn::GetAtt", Value::Array(a)) => {
                        if let Some(s) = a.first().and_then(Value::as_str) {
                            out.insert(s.to_string());
                        }
                        return;
                    }
                    ("Fn::GetAtt", Value::String(s)) => {
                        out.insert(s.split('.').next().unwrap_or(s).to_string());
                        return;
                    }
                    ("Fn::Sub", arg) => {
                        let (text, vars) = match arg {
                            Value::String(s) => (s.as_str(), None),
                            Value::Array(a) if a.len() == 2 => {
                                (a[0].as_str().unwrap_or(""), a[1].as_object())
                            }
                            _ => ("", None),
                        };
                        let mut rest = text;
                        while let Some(start) = rest.find("${") {
                            let after = &rest[start + 2..];
                            let Some(end) = after.find('}') else { break };
                            let name = after[..end].trim();
                            let base = name.split('.').next().unwrap_or(name);
                            if !name.starts_with('!')
                                && !base.starts_with("AWS::")
                                && !vars.is_some_and(|v| v.contains_key(name))
                            {
                                out.insert(base.to_string());
                            }
                            rest = &after[end + 1..];
                        }
                        if let Some(vars) = vars {
                            vars.values().for_each(|v| collect_refs(v, out));
                        }
                        return;
                    }
                    _ => {}
                }
            }
            m.values().for_each(|i| collect_refs(i, out));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolver() -> Resolver {
        let t = Template::from_json(json!({
            "Parameters": {
                "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
                "Names": {"Type": "CommaDelimitedList", "Default": "a,b"},
            },
            "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
        }))
        .unwrap();
        let mut r = Resolver::new(&t, "st", &BTreeMap::new()).unwrap();
        r.set(
            "Q",
            Physical {
                reference: "http://moto/123456789012/st-q".into(),
                attributes: [(
                    "Arn".to_string(),
                    "arn:aws:sqs:us-east-1:123456789012:st-q".to_string(),
                )]
                .into(),
            },
        );
        r
    }

    #[test]
    fn refs_subs_getatts_joins() {
        let r = resolver();
        let v = r
            .resolve(
                &json!({
                    "a": {"Ref": "Q"},
                    "b": {"Fn::Sub": "${AWS::StackName}-${Stage}-${Q.Arn}-${!Literal}"},
                    "c": {"Fn::GetAtt": ["Q", "Arn"]},
                    "d": {"Fn::Join": [":", ["x", {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}]]},
                    "e": {"Fn::Sub": ["${X}/${AWS::Partition}", {"X": {"Ref": "Stage"}}]},
                    "f": {"Ref": "AWS::NoValue"},
                    "g": [1, {"Ref": "AWS::NoValue"}, {"Fn::Select": [1, {"Ref": "Names"}]}],
                    "h": {"Fn::GetAtt": "Q.Arn"},
                    "i": {"Fn::ToJsonString": {"k": {"Ref": "Stage"}}},
                }),
                "test",
            )
            .unwrap();
        assert_eq!(
            v,
            json!({
                "a": "http://moto/123456789012/st-q",
                "b": "st-dev-arn:aws:sqs:us-east-1:123456789012:st-q-${Literal}",
                "c": "arn:aws:sqs:us-east-1:123456789012:st-q",
                "d": "x:us-east-1:123456789012",
                "e": "dev/aws",
                "g": [1, "b"],
                "h": "arn:aws:sqs:us-east-1:123456789012:st-q",
                "i": "{\"k\":\"dev\"}",
            })
        );
    }

    #[test]
    fn errors_name_the_place_and_the_cause() {
        let r = resolver();
        let e = r
            .resolve(&json!({"x": {"Ref": "Missing"}}), "Res")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Res.x") && e.contains("Missing"), "{e}");
        let e = r
            .resolve(&json!({"Fn::If": ["C", 1, 2]}), "Res")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Fn::If is not supported"), "{e}");
        let e = r
            .resolve(&json!({"Fn::GetAtt": ["Q", "Nope"]}), "Res")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown attribute"), "{e}");
        let e = r
            .resolve(&json!({"Fn::Sub": "${Open"}), "Res")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unclosed"), "{e}");
    }

    #[test]
    fn parameters_check_allowed_values_and_names() {
        let t = Template::from_json(json!({
            "Parameters": {"Stage": {"Type": "String", "AllowedValues": ["dev", "prod"]}},
            "Resources": {},
        }))
        .unwrap();
        assert!(Resolver::new(&t, "s", &BTreeMap::new()).is_err());
        let bad = [("Stage".to_string(), "qa".to_string())].into();
        assert!(Resolver::new(&t, "s", &bad).is_err());
        let unknown = [
            ("Nope".to_string(), "x".to_string()),
            ("Stage".to_string(), "dev".to_string()),
        ]
        .into();
        assert!(Resolver::new(&t, "s", &unknown).is_err());
        let ok = [("Stage".to_string(), "prod".to_string())].into();
        let r = Resolver::new(&t, "s", &ok).unwrap();
        assert_eq!(
            r.resolve(&json!({"Ref": "Stage"}), "x").unwrap(),
            json!("prod")
        );
    }

    #[test]
    fn references_finds_resources_in_every_form() {
        let refs = references(&json!({
            "a": {"Ref": "A"},
            "b": {"Fn::GetAtt": ["B", "Arn"]},
            "c": {"Fn::Sub": "${C}-${D.Arn}-${AWS::Region}-${!E}"},
            "d": {"Fn::Sub": ["${F}-${G}", {"F": {"Ref": "H"}}]},
            "e": {"Ref": "AWS::StackName"},
        }));
        let want: BTreeSet<String> = ["A", "B", "C", "D", "G", "H"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(refs, want);
    }
}
