//! Reading a (SAM) CloudFormation template.
//!
//! YAML short-form intrinsics (`!Ref`, `!Sub`, `!GetAtt`...) arrive from the YAML parser as
//! tagged values; they are rewritten to the long JSON form (`{"Ref": ..}`, `{"Fn::Sub": ..}`)
//! so the resolver only has one form to understand, and tests can edit a template as JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::{LocalError, LocalResult};

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub logical_id: String,
    /// `Type`, e.g. `AWS::SQS::Queue`.
    pub kind: String,
    pub properties: Value,
    pub metadata: Value,
    pub depends_on: Vec<String>,
}

impl Resource {
    /// A property, if present.
    pub fn prop(&self, name: &str) -> Option<&Value> {
        self.properties.get(name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    pub kind: String,
    pub default: Option<Value>,
    pub allowed_values: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub parameters: BTreeMap<String, Parameter>,
    /// `Globals` (SAM), as written.
    pub globals: Value,
    pub resources: BTreeMap<String, Resource>,
    /// `Outputs`: name -> the `Value` expression.
    pub outputs: BTreeMap<String, Value>,
}

impl Template {
    pub fn load(path: &Path) -> LocalResult<Template> {
        let text = std::fs::read_to_string(path).map_err(|source| LocalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Template::parse(&text)
    }

    pub fn parse(yaml: &str) -> LocalResult<Template> {
        let doc: serde_norway::Value =
            serde_norway::from_str(yaml).map_err(|e| LocalError::Yaml(e.to_string()))?;
        Template::from_json(yaml_to_json(doc)?)
    }

    pub fn from_json(doc: Value) -> LocalResult<Template> {
        let Value::Object(mut doc) = doc else {
            return Err(LocalError::template("the document is not a mapping"));
        };
        let mut parameters = BTreeMap::new();
        if let Some(Value::Object(ps)) = doc.remove("Parameters") {
            for (name, p) in ps {
                parameters.insert(
                    name,
                    Parameter {
                        kind: p
                            .get("Type")
                            .and_then(Value::as_str)
                            .unwrap_or("String")
                            .to_string(),
                        default: p.get("Default").cloned(),
                        allowed_values: p
                            .get("AllowedValues")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                    },
                );
            }
        }
        let mut resources = BTreeMap::new();
        match doc.remove("Resources") {
            Some(Value::Object(rs)) => {
                for (logical_id, r) in rs {
                    let kind = r
                        .get("Type")
                        .and_then(Value::as_str)
                        .ok_or_else(|| LocalError::template(format!("{logical_id} has no Type")))?
                        .to_string();
                    let depends_on = match r.get("DependsOn") {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect(),
                        _ => Vec::new(),
                    };
                    resources.insert(
                        logical_id.clone(),
                        Resource {
                            logical_id,
                            kind,
                            properties: r
                                .get("Properties")
                                .cloned()
                                .unwrap_or(Value::Object(Map::new())),
                            metadata: r.get("Metadata").cloned().unwrap_or(Value::Null),
                            depends_on,
                        },
                    );
                }
            }
            _ => return Err(LocalError::template("no Resources mapping")),
        }
        let mut outputs = BTreeMap::new();
        if let Some(Value::Object(os)) = doc.remove("Outputs") {
            for (name, o) in os {
                if let Some(v) = o.get("Value") {
                    outputs.insert(name, v.clone());
                }
            }
        }
        Ok(Template {
            parameters,
            globals: doc.remove("Globals").unwrap_or(Value::Null),
            resources,
            outputs,
        })
    }

    /// Resources of one type, in logical-id order.
    pub fn resources_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources.values().filter(move |r| r.kind == kind)
    }

    /// `Globals.Function.<key>`.
    pub fn function_global(&self, key: &str) -> Option<&Value> {
        self.globals.get("Function").and_then(|f| f.get(key))
    }

    /// A mutable resource's properties, for tests that edit a copy of the template.
    pub fn properties_mut(&mut self, logical_id: &str) -> Option<&mut Value> {
        self.resources
            .get_mut(logical_id)
            .map(|r| &mut r.properties)
    }
}

/// The long name of a short-form tag (`!GetAtt` -> `Fn::GetAtt`).
fn long_intrinsic(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "Ref" => "Ref",
        "Condition" => "Condition",
        "Sub" => "Fn::Sub",
        "GetAtt" => "Fn::GetAtt",
        "Join" => "Fn::Join",
        "Select" => "Fn::Select",
        "Split" => "Fn::Split",
        "If" => "Fn::If",
        "Equals" => "Fn::Equals",
        "Not" => "Fn::Not",
        "And" => "Fn::And",
        "Or" => "Fn::Or",
        "FindInMap" => "Fn::FindInMap",
        "Base64" => "Fn::Base64",
        "Cidr" => "Fn::Cidr",
        "ImportValue" => "Fn::ImportValue",
        "GetAZs" => "Fn::GetAZs",
        "Transform" => "Fn::Transform",
        "ToJsonString" => "Fn::ToJsonString",
        "Length" => "Fn::Length",
        _ => return None,
    })
}

fn yaml_to_json(v: serde_norway::Value) -> LocalResult<Value> {
    use serde_norway::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| LocalError::template(format!("number {n} is not finite")))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(
            seq.into_iter()
                .map(yaml_to_json)
                .collect::<LocalResult<_>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(LocalError::template(format!(
                            "unsupported mapping key {other:?}"
                        )))
                    }
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let name = long_intrinsic(tag)
                .ok_or_else(|| LocalError::template(format!("unknown YAML tag !{tag}")))?;
            let inner = yaml_to_json(t.value)?;
            let inner = match (name, inner) {
                // `!GetAtt A.B` is `["A", "B"]`; attribute names may contain dots themselves.
                ("Fn::GetAtt", Value::String(s)) => {
                    let (res, attr) = s.split_once('.').ok_or_else(|| {
                        LocalError::template(format!("!GetAtt {s}: expected Resource.Attribute"))
                    })?;
                    Value::Array(vec![res.into(), attr.into()])
                }
                (_, inner) => inner,
            };
            let mut m = Map::new();
            m.insert(name.to_string(), inner);
            Value::Object(m)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let t = Template::parse(
            r#"
Parameters:
  Stage: { Type: String, Default: dev }
Resources:
  Q:
    Type: AWS::SQS::Queue
    DependsOn: D
    Properties:
      QueueName: !Sub "${AWS::StackName}-q"
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt D.Arn
        maxReceiveCount: 3
      Tags:
        - { Key: k, Value: !Join ["-", [a, !Ref Stage]] }
  D: { Type: AWS::SQS::Queue }
Outputs:
  Url: { Value: !Ref Q }
"#,
        )
        .unwrap();
        let q = &t.resources["Q"];
        assert_eq!(q.depends_on, vec!["D".to_string()]);
        assert_eq!(
            q.properties["QueueName"],
            json!({"Fn::Sub": "${AWS::StackName}-q"})
        );
        assert_eq!(
            q.properties["RedrivePolicy"]["deadLetterTargetArn"],
            json!({"Fn::GetAtt": ["D", "Arn"]})
        );
        assert_eq!(q.properties["RedrivePolicy"]["maxReceiveCount"], json!(3));
        assert_eq!(
            q.properties["Tags"][0]["Value"],
            json!({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]})
        );
        assert_eq!(t.outputs["Url"], json!({"Ref": "Q"}));
        assert_eq!(t.parameters["Stage"].default, Some(json!("dev")));
        assert_eq!(t.resources["D"].properties, json!({}));
    }

    #[test]
    fn rejects_unknown_tags_and_bad_getatt() {
        let e = Template::parse("Resources:\n  A: { Type: X, Properties: { P: !Bogus x } }\n")
            .unwrap_err();
        assert!(e.to_string().contains("!Bogus"), "{e}");
        let e = Template::parse("Resources:\n  A: { Type: X, Properties: { P: !GetAtt Q } }\n")
            .unwrap_err();
        assert!(e.to_string().contains("Resource.Attribute"), "{e}");
    }

    #[test]
    fn the_repository_template_parses() {
        let t = Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
            .unwrap();
        for id in [
            "Table",
            "SyncJobsQueue",
            "SyncJobsDLQ",
            "WriteOpsQueue",
            "WriteOpsDLQ",
            "EventBus",
            "PartnerTokenKey",
        ] {
            assert!(t.resources.contains_key(id), "{id} missing");
        }
        assert!(t.function_global("Environment").is_some());
    }
}
