//! A CloudFormation template (SAM or plain) as JSON, intrinsics in their long form
//! (`{"Ref": ..}`, `{"Fn::Sub": ..}`), which is how AWS's SAM library reads YAML (`sam`). SAM is
//! never interpreted here: AWS's transform turns it into plain CloudFormation first
//! ([`Template::plain`]).

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
    /// The resource's other attributes (`Condition`, `DeletionPolicy`...), kept so the
    /// template can be written back for the transform.
    pub attributes: Map<String, Value>,
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
    pub resources: BTreeMap<String, Resource>,
    /// `Outputs`: name -> the `Value` expression.
    pub outputs: BTreeMap<String, Value>,
    /// Every top-level section but `Resources`, as written (`Transform`, `Globals`,
    /// `Conditions`, `Parameters`, `Outputs`...).
    pub sections: Map<String, Value>,
}

impl Template {
    pub fn load(path: &Path) -> LocalResult<Template> {
        let text = std::fs::read_to_string(path).map_err(|source| LocalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Template::from_json(super::sam::read(&text)?)
    }

    pub fn from_json(doc: Value) -> LocalResult<Template> {
        let Value::Object(mut doc) = doc else {
            return Err(LocalError::template("the document is not a mapping"));
        };
        let mut sections = doc.clone();
        sections.remove("Resources");
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
                    let mut attributes = r.as_object().cloned().unwrap_or_default();
                    for known in ["Type", "Properties", "Metadata", "DependsOn"] {
                        attributes.remove(known);
                    }
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
                            attributes,
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
            resources,
            outputs,
            sections,
        })
    }

    /// The template as a JSON document (resources as they are now, edits included).
    pub fn to_json(&self) -> Value {
        let mut doc = self.sections.clone();
        let resources: Map<String, Value> = self
            .resources
            .iter()
            .map(|(id, r)| {
                let mut m = r.attributes.clone();
                m.insert("Type".into(), Value::String(r.kind.clone()));
                if r.properties.as_object().is_none_or(|p| !p.is_empty()) {
                    m.insert("Properties".into(), r.properties.clone());
                }
                if !r.metadata.is_null() {
                    m.insert("Metadata".into(), r.metadata.clone());
                }
                if !r.depends_on.is_empty() {
                    m.insert("DependsOn".into(), r.depends_on.clone().into());
                }
                (id.clone(), Value::Object(m))
            })
            .collect();
        doc.insert("Resources".into(), Value::Object(resources));
        Value::Object(doc)
    }

    /// The template as plain CloudFormation: translated by AWS's SAM transform if it is SAM, as
    /// it is otherwise.
    pub fn plain(&self) -> LocalResult<Template> {
        if self.is_sam() {
            Template::from_json(super::sam::translate(&self.to_json())?)
        } else {
            Ok(self.clone())
        }
    }

    /// Whether the template needs the SAM transform before CloudFormation can read it.
    pub fn is_sam(&self) -> bool {
        let named = |v: &Value| v.as_str().is_some_and(|s| s.starts_with("AWS::Serverless"));
        match self.sections.get("Transform") {
            Some(Value::Array(list)) => list.iter().any(named),
            Some(v) => named(v),
            None => false,
        }
    }

    /// Resources of one type, in logical-id order.
    pub fn resources_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources.values().filter(move |r| r.kind == kind)
    }

    /// A mutable resource's properties, for tests that edit a copy of the template.
    pub fn properties_mut(&mut self, logical_id: &str) -> Option<&mut Value> {
        self.resources
            .get_mut(logical_id)
            .map(|r| &mut r.properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let text = r#"
Parameters:
  Stage: { Type: String, Default: dev }
Resources:
  Q:
    Type: AWS::SQS::Queue
    DependsOn: D
    DeletionPolicy: Retain
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
"#;
        let t = Template::from_json(crate::sam::read(text).unwrap()).unwrap();
        let q = &t.resources["Q"];
        assert_eq!(q.depends_on, vec!["D".to_string()]);
        assert_eq!(q.attributes["DeletionPolicy"], "Retain");
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
        assert!(!t.is_sam());
    }

    #[test]
    fn the_repository_template_parses() {
        let t = Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
            .unwrap();
        for id in [
            "Table",
            "SyncJobsQueue",
            "SyncJobsDLQ",
            "RefreshJobsQueue",
            "RefreshJobsDLQ",
            "WriteOpsQueue",
            "WriteOpsDLQ",
            "EventBus",
            "PartnerTokenKey",
        ] {
            assert!(t.resources.contains_key(id), "{id} missing");
        }
        assert!(t.is_sam());
        // Written back, it reads the same.
        assert_eq!(Template::from_json(t.to_json()).unwrap(), t);
    }

    #[test]
    fn the_repository_template_becomes_plain_cloudformation() {
        let t = Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
            .unwrap();
        let cfn = t.plain().unwrap();
        assert!(!cfn.is_sam());
        assert_eq!(cfn.resources_of("AWS::Serverless::Function").count(), 0);
        let writer = &cfn.resources["WriterFunction"];
        assert_eq!(writer.kind, "AWS::Lambda::Function");
        assert_eq!(writer.metadata["BuildProperties"]["Binary"], "writer");
        // Globals are merged into every function by the transform.
        let vars = &writer.properties["Environment"]["Variables"];
        assert_eq!(vars["TABLE_NAME"], json!({"Ref": "Table"}));
        assert_eq!(vars["WRITE_MAX_RECEIVE_COUNT"], "3");
        assert_eq!(
            cfn.resources["WriterFunctionWriteOps"].kind,
            "AWS::Lambda::EventSourceMapping"
        );
        // Plain templates pass through.
        assert_eq!(cfn.plain().unwrap(), cfn);
    }
}
