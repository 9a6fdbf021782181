//! IAM policies as `template.yaml` writes them, resolved to the local stack's resources, and
//! evaluated as IAM evaluates identity-based policies: an explicit `Deny` wins, then an
//! `Allow` whose action and resource both match, and anything else is an implicit deny.
//!
//! What a role holds, as SAM builds it:
//! - each `Policies` entry of an `AWS::Serverless::Function`: an inline document
//!   (`- Statement: [...]`), an AWS managed policy SAM knows by name, or a `!Ref` to an
//!   `AWS::IAM::ManagedPolicy` of the template;
//! - `AWSLambdaBasicExecutionRole` (logs only) on every function;
//! - `AWSLambdaSQSQueueExecutionRole` on a function with an `SQS` event: the event source
//!   mapping's poller receives, deletes and reads queue attributes with the function's role.
//!
//! The operator's policy is the template's `OperatorPolicy` (`AWS::IAM::ManagedPolicy`).
//!
//! Anything the local stack cannot hold to the same rules (a `Condition`, `NotAction`,
//! `NotResource`, a SAM policy template, an unknown managed policy) is an error, never
//! ignored: a statement read wrongly would make the local stack more forgiving than AWS.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context as _, Result};
use serde_yaml::Value;

use crate::template::Template;

/// The account moto serves (its default), in every ARN of the local stack.
pub const LOCAL_ACCOUNT: &str = "123456789012";
/// The local stack's region.
pub const LOCAL_REGION: &str = "us-east-1";
const PARTITION: &str = "aws";

/// The logical id of the operator's managed policy in the template.
pub const OPERATOR_POLICY: &str = "OperatorPolicy";

/// One statement of an identity-based policy, its ARNs resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub allow: bool,
    /// `service:Action`, with `*` and `?` wildcards; matched without regard to case.
    pub actions: Vec<String>,
    /// ARNs, with `*` and `?` wildcards.
    pub resources: Vec<String>,
}

impl Statement {
    fn matches(&self, action: &str, resource: &str) -> bool {
        self.actions
            .iter()
            .any(|pattern| glob(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && self.resources.iter().any(|pattern| glob(pattern, resource))
    }
}

/// Whether `statements` allow `action` on `resource`.
pub fn allows(statements: &[Statement], action: &str, resource: &str) -> bool {
    let matching = || statements.iter().filter(|s| s.matches(action, resource));
    !matching().any(|s| !s.allow) && matching().any(|s| s.allow)
}

/// IAM's wildcard match: `*` any run of characters (`/` and `:` included), `?` one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Turns the template's intrinsic functions into the local stack's names and ARNs.
pub struct Resolver<'a> {
    template: &'a Template,
    /// Template parameters' values (the rest take their defaults).
    parameters: &'a HashMap<String, String>,
    /// Before every table's and queue's logical id, as [`crate::provision::provision`] names them.
    prefix: &'a str,
}

impl<'a> Resolver<'a> {
    pub fn new(
        template: &'a Template,
        parameters: &'a HashMap<String, String>,
        prefix: &'a str,
    ) -> Self {
        Resolver {
            template,
            parameters,
            prefix,
        }
    }

    /// A `Resource` value: one ARN or a list of them.
    pub fn arns(&self, value: &Value) -> Result<Vec<String>> {
        match value {
            Value::Sequence(items) => items.iter().map(|item| self.arn(item)).collect(),
            one => Ok(vec![self.arn(one)?]),
        }
    }

    fn arn(&self, value: &Value) -> Result<String> {
        match value {
            Value::String(text) => Ok(text.clone()),
            Value::Tagged(tagged) => {
                let text = tagged
                    .value
                    .as_str()
                    .ok_or_else(|| anyhow!("!{} takes a string here", tagged.tag))?;
                match tagged.tag.to_string().trim_start_matches('!') {
                    "GetAtt" => {
                        let (id, attribute) = text
                            .split_once('.')
                            .ok_or_else(|| anyhow!("!GetAtt {text}: expected X.Attribute"))?;
                        self.attribute(id, attribute)
                    }
                    "Ref" => self.reference(text),
                    "Sub" => self.substitute(text),
                    tag => bail!("!{tag} is not understood in a policy's Resource"),
                }
            }
            other => bail!("a Resource must be a string, !GetAtt, !Ref or !Sub, not {other:?}"),
        }
    }

    fn substitute(&self, text: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| anyhow!("!Sub {text}: an unclosed ${{"))?;
            let name = &rest[start + 2..start + end];
            out.push_str(&match name.split_once('.') {
                Some((id, attribute)) if !name.starts_with("AWS::") => {
                    self.attribute(id, attribute)?
                }
                _ => self.reference(name)?,
            });
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn reference(&self, name: &str) -> Result<String> {
        Ok(match name {
            "AWS::Partition" => PARTITION.to_owned(),
            "AWS::Region" => LOCAL_REGION.to_owned(),
            "AWS::AccountId" => LOCAL_ACCOUNT.to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::StackName" => "local".to_owned(),
            _ => match self.parameters.get(name) {
                Some(value) => value.clone(),
                None => match self.template.parameter_default(name) {
                    Some(value) => value,
                    None => match self.kind(name)? {
                        // `!Ref` of a table is its name; of a queue, its URL (never an ARN).
                        "AWS::DynamoDB::Table" => format!("{}{name}", self.prefix),
                        kind => bail!("!Ref {name} ({kind}) is not understood in a policy"),
                    },
                },
            },
        })
    }

    fn attribute(&self, id: &str, attribute: &str) -> Result<String> {
        let name = format!("{}{id}", self.prefix);
        match (self.kind(id)?, attribute) {
            ("AWS::DynamoDB::Table", "Arn") => Ok(table_arn(&name)),
            ("AWS::SQS::Queue", "Arn") => Ok(queue_arn(&self.template.queue_name(self.prefix, id))),
            ("AWS::SQS::Queue", "QueueName") => Ok(self.template.queue_name(self.prefix, id)),
            (kind, _) => bail!("!GetAtt {id}.{attribute} ({kind}) is not understood in a policy"),
        }
    }

    fn kind(&self, id: &str) -> Result<&str> {
        self.template
            .resource(id)
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{id} is neither a parameter nor a resource of the template"))
    }

    /// A policy document's `Statement` list.
    pub fn statements(&self, document: &Value) -> Result<Vec<Statement>> {
        let list = match document.get("Statement") {
            Some(Value::Sequence(list)) => list.clone(),
            Some(one @ Value::Mapping(_)) => vec![one.clone()],
            _ => bail!("a policy document without a Statement list"),
        };
        list.iter()
            .map(|statement| {
                for key in [
                    "Condition",
                    "NotAction",
                    "NotResource",
                    "Principal",
                    "NotPrincipal",
                ] {
                    if statement.get(key).is_some() {
                        bail!(
                            "{key} in a statement: the local stack cannot hold it to IAM's rules"
                        );
                    }
                }
                let allow = match statement.get("Effect").and_then(Value::as_str) {
                    Some("Allow") => true,
                    Some("Deny") => false,
                    other => bail!("Effect must be Allow or Deny, not {other:?}"),
                };
                let actions = match statement.get("Action") {
                    Some(Value::String(one)) => vec![one.clone()],
                    Some(Value::Sequence(list)) => list
                        .iter()
                        .map(|a| a.as_str().map(str::to_owned))
                        .collect::<Option<_>>()
                        .ok_or_else(|| anyhow!("Action lists strings"))?,
                    _ => bail!("a statement without Action"),
                };
                let resources = self.arns(
                    statement
                        .get("Resource")
                        .ok_or_else(|| anyhow!("a statement without Resource"))?,
                )?;
                Ok(Statement {
                    sid: statement
                        .get("Sid")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    allow,
                    actions,
                    resources,
                })
            })
            .collect()
    }

    /// What a function's role holds: its `Policies` and what SAM adds (see the module docs).
    pub fn function_statements(&self, logical_id: &str) -> Result<Vec<Statement>> {
        let properties = self
            .template
            .resource(logical_id)
            .and_then(|r| r.get("Properties"))
            .ok_or_else(|| anyhow!("{logical_id} is not a function of the template"))?;
        let mut statements = managed_policy("AWSLambdaBasicExecutionRole")?;
        let policies = match properties.get("Policies") {
            None => Vec::new(),
            Some(Value::Sequence(list)) => list.clone(),
            Some(one) => vec![one.clone()],
        };
        for policy in &policies {
            let found = match policy {
                Value::String(name) => managed_policy(name),
                Value::Tagged(tagged) if tagged.tag == "Ref" => {
                    let id = tagged.value.as_str().unwrap_or_default();
                    self.managed_policy_of_template(id)
                }
                Value::Mapping(map) if map.contains_key("Statement") => self.statements(policy),
                Value::Mapping(map) => Err(anyhow!(
                    "the policy template {:?} is not understood by the local stack; write its statements",
                    map.keys().next()
                )),
                other => Err(anyhow!("a policy must be a document or a name, not {other:?}")),
            };
            statements.extend(found.with_context(|| format!("{logical_id}: Policies"))?);
        }
        let sqs_events = properties
            .get("Events")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|events| events.values())
            .any(|event| event.get("Type").and_then(Value::as_str) == Some("SQS"));
        if sqs_events {
            statements.extend(managed_policy("AWSLambdaSQSQueueExecutionRole")?);
        }
        Ok(statements)
    }

    /// The statements of an `AWS::IAM::ManagedPolicy` of the template.
    pub fn managed_policy_of_template(&self, id: &str) -> Result<Vec<Statement>> {
        let resource = self
            .template
            .resource(id)
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::IAM::ManagedPolicy"))
            .ok_or_else(|| anyhow!("{id} is not an AWS::IAM::ManagedPolicy of the template"))?;
        let document = resource
            .get("Properties")
            .and_then(|p| p.get("PolicyDocument"))
            .ok_or_else(|| anyhow!("{id} has no PolicyDocument"))?;
        self.statements(document).with_context(|| id.to_owned())
    }
}

/// The AWS managed policies SAM attaches by itself, as AWS publishes them.
fn managed_policy(name: &str) -> Result<Vec<Statement>> {
    let name = name.rsplit('/').next().unwrap_or(name);
    let allow = |actions: &[&str]| Statement {
        sid: Some(name.to_owned()),
        allow: true,
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        resources: vec!["*".to_owned()],
    };
    let logs = [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ];
    Ok(match name {
        "AWSLambdaBasicExecutionRole" => vec![allow(&logs)],
        "AWSLambdaSQSQueueExecutionRole" => vec![allow(
            &[
                &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                ][..],
                &logs[..],
            ]
            .concat(),
        )],
        _ => bail!("the managed policy {name} is not known to the local stack"),
    })
}

pub fn table_arn(name: &str) -> String {
    format!("arn:{PARTITION}:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}")
}

pub fn queue_arn(name: &str) -> String {
    format!("arn:{PARTITION}:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{name}")
}

/// An SSM parameter's ARN: `parameter/x` for `x`, `parameter/a/b` for `/a/b`.
pub fn parameter_arn(name: &str) -> String {
    let name = name.strip_prefix('/').unwrap_or(name);
    format!("arn:{PARTITION}:ssm:{LOCAL_REGION}:{LOCAL_ACCOUNT}:parameter/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_matches() {
        assert!(glob("*", "anything/at:all"));
        assert!(glob("arn:aws:sqs:*:*:q", "arn:aws:sqs:us-east-1:1:q"));
        assert!(!glob("arn:aws:sqs:*:*:q", "arn:aws:sqs:us-east-1:1:qq"));
        assert!(glob("table/T/index/*", "table/T/index/by-x"));
        assert!(!glob("table/T", "table/T/index/by-x"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("a*b*c", "a-b-b-c"));
        assert!(!glob("a*b*c", "a-b-b-d"));
    }

    fn statement(allow: bool, actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            sid: None,
            allow,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn an_allow_needs_action_and_resource_and_a_deny_wins() {
        let table = table_arn("T");
        let index = format!("{table}/index/by-x");
        let statements = vec![statement(true, &["dynamodb:Query"], &[&index])];
        assert!(allows(&statements, "dynamodb:Query", &index));
        assert!(
            allows(&statements, "DynamoDB:query", &index),
            "actions ignore case"
        );
        assert!(!allows(&statements, "dynamodb:Query", &table));
        assert!(!allows(&statements, "dynamodb:GetItem", &index));
        assert!(!allows(&[], "dynamodb:Query", &index));
        let mut with_deny = statements.clone();
        with_deny.push(statement(false, &["dynamodb:*"], &["*"]));
        assert!(!allows(&with_deny, "dynamodb:Query", &index));
    }

    const TEMPLATE: &str = r#"
Parameters:
  Secret:
    Type: String
    Default: /a/b
Resources:
  Tbl:
    Type: AWS::DynamoDB::Table
  Q:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
      Policies:
        - Statement:
            - Effect: Allow
              Action: ssm:GetParameters
              Resource: !Sub "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Secret}"
            - Sid: Rows
              Effect: Allow
              Action: [dynamodb:GetItem]
              Resource:
                - !GetAtt Tbl.Arn
                - !Sub "${Tbl.Arn}/index/by-x"
        - !Ref Extra
  Extra:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Statement:
          - Effect: Allow
            Action: sqs:SendMessage
            Resource: !GetAtt Q.Arn
"#;

    #[test]
    fn a_functions_role_holds_its_statements_and_what_sam_adds() {
        let template = Template::parse(TEMPLATE).unwrap();
        let parameters = HashMap::new();
        let resolver = Resolver::new(&template, &parameters, "p-");
        let statements = resolver.function_statements("Fn").unwrap();
        let table = table_arn("p-Tbl");
        assert!(allows(
            &statements,
            "ssm:GetParameters",
            &parameter_arn("/a/b")
        ));
        assert!(!allows(
            &statements,
            "ssm:GetParameters",
            &parameter_arn("/a/c")
        ));
        assert!(allows(&statements, "dynamodb:GetItem", &table));
        assert!(allows(
            &statements,
            "dynamodb:GetItem",
            &format!("{table}/index/by-x")
        ));
        assert!(!allows(&statements, "dynamodb:PutItem", &table));
        assert!(allows(&statements, "sqs:SendMessage", &queue_arn("p-Q")));
        // The SQS event's poller, through SAM's managed policy.
        assert!(allows(&statements, "sqs:ReceiveMessage", &queue_arn("p-Q")));
        assert!(allows(
            &statements,
            "sqs:DeleteMessage",
            &queue_arn("other")
        ));
        assert!(!allows(&statements, "sqs:PurgeQueue", &queue_arn("p-Q")));
        let overridden = HashMap::from([("Secret".to_owned(), "/x".to_owned())]);
        let statements = Resolver::new(&template, &overridden, "p-")
            .function_statements("Fn")
            .unwrap();
        assert!(allows(
            &statements,
            "ssm:GetParameters",
            &parameter_arn("/x")
        ));
    }

    #[test]
    fn what_the_local_stack_cannot_enforce_is_an_error() {
        for bad in [
            "        - Statement:\n            - {Effect: Allow, Action: s3:*, Resource: '*', Condition: {}}",
            "        - SQSSendMessagePolicy: {QueueName: q}",
            "        - AmazonS3FullAccess",
            "        - Statement:\n            - {Effect: Allow, NotAction: s3:*, Resource: '*'}",
        ] {
            let text = format!(
                "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n{bad}\n"
            );
            let template = Template::parse(&text).unwrap();
            let parameters = HashMap::new();
            let found = Resolver::new(&template, &parameters, "").function_statements("Fn");
            assert!(found.is_err(), "{bad}");
        }
    }
}
