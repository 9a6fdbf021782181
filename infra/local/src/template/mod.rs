//! `template.yaml` as the local stack reads it: its tables, queues, functions, HTTP routes,
//! event sources and the functions' environment. The template is the one description of
//! both the deployed system and the local stack.
//!
//! Secrets: a variable `X_PARAMETER: !Ref P` gives a function the name (the template parameter
//! `P`) of an SSM Parameter Store `SecureString` that the function reads at cold start; see
//! [`crate::provision`] for how the local stack puts it into the emulator.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use serde_yaml::Value;

/// The route key of an HTTP API's catch-all route: what no other route matches.
pub const DEFAULT_ROUTE: &str = "$default";

/// The parsed template.
pub struct Template {
    parameters: serde_yaml::Mapping,
    resources: serde_yaml::Mapping,
    environment: serde_yaml::Mapping,
    /// `Globals.Function.Timeout`.
    global_timeout: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub logical_id: String,
    pub attributes: Vec<(String, String)>,
    pub key: Vec<(String, String)>,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    pub name: String,
    pub key: Vec<(String, String)>,
    pub projection: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub visibility_timeout: Option<u64>,
    pub retention: Option<u64>,
    /// `MaximumMessageSize`: SQS refuses a larger message.
    pub maximum_message_size: Option<u64>,
    /// The dead-letter queue's logical id and the receive count that sends a job there.
    pub redrive: Option<(String, u64)>,
    /// `FifoQueue`: a FIFO queue (its name ends in `.fifo`).
    pub fifo: bool,
    /// `ContentBasedDeduplication`, for a FIFO queue.
    pub content_based_deduplication: bool,
}

/// A value of the functions' environment as the template writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    Literal(String),
    /// `!Ref X`: a table's name, a queue's URL or a parameter's value.
    Ref(String),
    /// `!GetAtt X.Arn`.
    Arn(String),
    /// `X_PARAMETER: !Ref P`: the name of the SSM `SecureString` parameter that holds a
    /// secret, given by the template parameter `P`.
    SecureParameter(String),
}

/// The suffix of a variable that names an SSM `SecureString` parameter.
pub const SECURE_PARAMETER_SUFFIX: &str = "_PARAMETER";

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self> {
        let doc: Value = serde_yaml::from_str(text).context("template.yaml is not YAML")?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .cloned()
            .ok_or_else(|| anyhow!("template has no Resources"))?;
        // The local stack gives every function one environment: the globals, then each
        // function's own variables.
        let variables = |node: Option<&Value>| {
            node.and_then(|n| n.get("Environment"))
                .and_then(|e| e.get("Variables"))
                .and_then(Value::as_mapping)
                .cloned()
                .unwrap_or_default()
        };
        let mut environment = variables(doc.get("Globals").and_then(|g| g.get("Function")));
        for resource in resources.values() {
            if resource.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function") {
                environment.extend(variables(resource.get("Properties")));
            }
        }
        let parameters = doc
            .get("Parameters")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        let global_timeout = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Timeout"))
            .and_then(Value::as_u64);
        Ok(Template {
            parameters,
            resources,
            environment,
            global_timeout,
        })
    }

    /// Every resource of a type, as its logical id and its `Properties` (null when it has none).
    pub fn resources_of_type(&self, kind: &'static str) -> impl Iterator<Item = (String, &Value)> {
        self.resources.iter().filter_map(move |(id, resource)| {
            let id = id.as_str()?.to_owned();
            (resource.get("Type")?.as_str()? == kind)
                .then(|| (id, resource.get("Properties").unwrap_or(&Value::Null)))
        })
    }

    pub fn tables(&self) -> Result<Vec<TableSpec>> {
        self.resources_of_type("AWS::DynamoDB::Table")
            .map(|(logical_id, properties)| {
                let attributes = pairs(
                    properties.get("AttributeDefinitions"),
                    "AttributeName",
                    "AttributeType",
                )?;
                let key = pairs(properties.get("KeySchema"), "AttributeName", "KeyType")?;
                let indexes = match properties.get("GlobalSecondaryIndexes") {
                    Some(Value::Sequence(indexes)) => indexes
                        .iter()
                        .map(|index| {
                            Ok(IndexSpec {
                                name: string(index.get("IndexName"), "IndexName")?,
                                key: pairs(index.get("KeySchema"), "AttributeName", "KeyType")?,
                                projection: index
                                    .get("Projection")
                                    .and_then(|p| p.get("ProjectionType"))
                                    .and_then(Value::as_str)
                                    .unwrap_or("ALL")
                                    .to_owned(),
                            })
                        })
                        .collect::<Result<_>>()?,
                    _ => Vec::new(),
                };
                let ttl = properties.get("TimeToLiveSpecification");
                let ttl_attribute = ttl
                    .filter(|t| t.get("Enabled").and_then(Value::as_bool).unwrap_or(false))
                    .and_then(|t| t.get("AttributeName"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Ok(TableSpec {
                    logical_id,
                    attributes,
                    key,
                    indexes,
                    ttl_attribute,
                })
            })
            .collect()
    }

    pub fn queues(&self) -> Result<Vec<QueueSpec>> {
        self.resources_of_type("AWS::SQS::Queue")
            .map(|(logical_id, properties)| {
                let number = |name: &str| properties.get(name).and_then(Value::as_u64);
                let flag = |name: &str| properties.get(name).and_then(Value::as_bool) == Some(true);
                let redrive = match properties.get("RedrivePolicy") {
                    Some(policy) => {
                        let target = policy
                            .get("deadLetterTargetArn")
                            .and_then(get_att_arn)
                            .ok_or_else(|| {
                                anyhow!("{logical_id}: deadLetterTargetArn must be !GetAtt X.Arn")
                            })?;
                        let count = policy
                            .get("maxReceiveCount")
                            .and_then(Value::as_u64)
                            .ok_or_else(|| anyhow!("{logical_id}: maxReceiveCount is missing"))?;
                        Some((target, count))
                    }
                    None => None,
                };
                Ok(QueueSpec {
                    logical_id,
                    visibility_timeout: number("VisibilityTimeout"),
                    retention: number("MessageRetentionPeriod"),
                    maximum_message_size: number("MaximumMessageSize"),
                    redrive,
                    fifo: flag("FifoQueue"),
                    content_based_deduplication: flag("ContentBasedDeduplication"),
                })
            })
            .collect()
    }

    /// The functions' shared environment, as written in the template.
    pub fn function_environment(&self) -> Result<Vec<(String, EnvValue)>> {
        self.environment
            .iter()
            .map(|(name, value)| {
                let name = name
                    .as_str()
                    .ok_or_else(|| anyhow!("environment variable names are strings"))?
                    .to_owned();
                let value = if let Some(arn) = get_att_arn(value) {
                    EnvValue::Arn(arn)
                } else if let Some(target) = tagged(value, "Ref") {
                    if name.ends_with(SECURE_PARAMETER_SUFFIX) && self.parameters.contains_key(target.as_str()) {
                        EnvValue::SecureParameter(target)
                    } else {
                        EnvValue::Ref(target)
                    }
                } else if tagged(value, "Sub").is_some_and(|t| t.contains("{{resolve:")) {
                    bail!(
                        "{name}: a dynamic reference puts the secret's value in the function's configuration; \
                         give the function the name of an SSM SecureString parameter ({name}{SECURE_PARAMETER_SUFFIX}: !Ref ...)"
                    )
                } else if let Some(text) = value.as_str() {
                    EnvValue::Literal(text.to_owned())
                } else {
                    bail!("{name}: only literals, !Ref and !GetAtt X.Arn are understood")
                };
                Ok((name, value))
            })
            .collect()
    }

    /// A resource as the template writes it (`Type`, `Properties`, `Metadata`...).
    pub fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.resources.get(logical_id)
    }

    /// The name the local stack gives a queue of the template: its logical id behind
    /// `prefix`, and `.fifo` after a FIFO queue's, as SQS requires and CloudFormation does.
    pub fn queue_name(&self, prefix: &str, logical_id: &str) -> String {
        let fifo = self
            .resource(logical_id)
            .and_then(|r| r.get("Properties"))
            .and_then(|p| p.get("FifoQueue"))
            .and_then(Value::as_bool)
            == Some(true);
        if fifo {
            format!("{prefix}{logical_id}.fifo")
        } else {
            format!("{prefix}{logical_id}")
        }
    }

    /// A parameter's default value.
    pub fn parameter_default(&self, name: &str) -> Option<String> {
        match self.parameters.get(name)?.get("Default")? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }
}

/// An SQS event source: which function (binary) takes batches from which queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSource {
    pub queue: String,
    pub function: String,
    pub batch_size: i32,
    /// `ScalingConfig.MaximumConcurrency`: at most this many batches in flight at once.
    pub max_concurrency: Option<usize>,
}

/// A function of the template: the binary it is built from and its timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDecl {
    pub logical_id: String,
    pub binary: String,
    /// `Timeout`, else `Globals.Function.Timeout`, else Lambda's default (3 seconds).
    pub timeout: std::time::Duration,
}

/// A route of the HTTP API and the function (its binary's name) behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
    pub function: String,
}

impl Template {
    /// Every route of the HTTP API (`AWS::ApiGatewayV2::Route`), with the binary of the
    /// function its integration invokes. The `$default` route takes whatever else comes.
    pub fn http_routes(&self) -> Result<Vec<HttpRoute>> {
        let binaries: HashMap<String, String> = self
            .functions()?
            .into_iter()
            .map(|f| (f.logical_id, f.binary))
            .collect();
        let mut routes = Vec::new();
        for (logical_id, properties) in self.resources_of_type("AWS::ApiGatewayV2::Route") {
            let key = string(properties.get("RouteKey"), "RouteKey")?;
            let integration = properties
                .get("Target")
                .and_then(|target| tagged(target, "Sub"))
                .and_then(|target| {
                    Some(
                        target
                            .strip_prefix("integrations/${")?
                            .strip_suffix('}')?
                            .to_owned(),
                    )
                })
                .ok_or_else(|| {
                    anyhow!("{logical_id}: Target must be !Sub \"integrations/${{Integration}}\"")
                })?;
            let function = self
                .resources
                .get(integration.as_str())
                .and_then(|i| i.get("Properties"))
                .and_then(|p| p.get("IntegrationUri"))
                .and_then(get_att_arn)
                .ok_or_else(|| {
                    anyhow!("{integration}: IntegrationUri must be !GetAtt <Function>.Arn")
                })?;
            let binary = binaries
                .get(&function)
                .ok_or_else(|| anyhow!("{integration}: {function} is not a function"))?
                .clone();
            let (method, path) = match key.split_once(' ') {
                _ if key == DEFAULT_ROUTE => ("ANY".to_owned(), DEFAULT_ROUTE.to_owned()),
                Some((method, path)) => (method.to_uppercase(), path.to_owned()),
                None => {
                    bail!("{logical_id}: RouteKey {key:?} is neither $default nor \"METHOD /path\"")
                }
            };
            routes.push(HttpRoute {
                method,
                path,
                function: binary,
            });
        }
        Ok(routes)
    }

    /// Every function, with its binary and timeout.
    pub fn functions(&self) -> Result<Vec<FunctionDecl>> {
        self.resources_of_type("AWS::Serverless::Function")
            .map(|(logical_id, properties)| {
                let binary = self
                    .resources
                    .get(logical_id.as_str())
                    .and_then(|r| r.get("Metadata"))
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        anyhow!("{logical_id}: Metadata.BuildProperties.Binary is missing")
                    })?
                    .to_owned();
                let timeout = properties
                    .get("Timeout")
                    .and_then(Value::as_u64)
                    .or(self.global_timeout)
                    .unwrap_or(3);
                Ok(FunctionDecl {
                    logical_id,
                    binary,
                    timeout: std::time::Duration::from_secs(timeout),
                })
            })
            .collect()
    }

    /// Every `SQS` event of every function, with the template's parameter defaults.
    pub fn queue_sources(&self) -> Result<Vec<QueueSource>> {
        self.queue_sources_with(&HashMap::new())
    }

    /// Every `SQS` event of every function; a `!Ref` to a parameter takes its value from
    /// `parameters`, else the parameter's default.
    pub fn queue_sources_with(
        &self,
        parameters: &HashMap<String, String>,
    ) -> Result<Vec<QueueSource>> {
        let mut sources = Vec::new();
        for (binary, event) in self.function_events("SQS")? {
            let properties = event.get("Properties").unwrap_or(&Value::Null);
            let queue = properties
                .get("Queue")
                .and_then(get_att_arn)
                .ok_or_else(|| anyhow!("{binary}: an SQS event's Queue must be !GetAtt X.Arn"))?;
            let batch_size = properties
                .get("BatchSize")
                .and_then(Value::as_i64)
                .unwrap_or(10);
            let max_concurrency = match properties
                .get("ScalingConfig")
                .and_then(|c| c.get("MaximumConcurrency"))
            {
                None => None,
                Some(value) => {
                    let number = match tagged(value, "Ref") {
                        Some(parameter) => parameters
                            .get(&parameter)
                            .cloned()
                            .or_else(|| self.parameter_default(&parameter))
                            .and_then(|v| v.parse::<usize>().ok()),
                        None => value.as_u64().map(|n| n as usize),
                    };
                    Some(number.filter(|n| *n >= 1).ok_or_else(|| {
                        anyhow!("{binary}: MaximumConcurrency must be a number or a !Ref to one")
                    })?)
                }
            };
            sources.push(QueueSource {
                queue,
                function: binary,
                batch_size: batch_size.clamp(1, 10) as i32,
                max_concurrency,
            });
        }
        Ok(sources)
    }

    /// The events of the given type of every function, with the function's binary name.
    fn function_events(&self, kind: &str) -> Result<Vec<(String, &Value)>> {
        let mut found = Vec::new();
        for (logical_id, resource) in &self.resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let logical_id = logical_id.as_str().unwrap_or_default();
            let binary = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    anyhow!("{logical_id}: Metadata.BuildProperties.Binary is missing")
                })?;
            let events = resource
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping);
            for event in events.into_iter().flat_map(|e| e.values()) {
                if event.get("Type").and_then(Value::as_str) == Some(kind) {
                    found.push((binary.to_owned(), event));
                }
            }
        }
        Ok(found)
    }
}

fn tagged(value: &Value, tag: &str) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == tag => tagged.value.as_str().map(str::to_owned),
        _ => None,
    }
}

fn get_att_arn(value: &Value) -> Option<String> {
    tagged(value, "GetAtt")?
        .strip_suffix(".Arn")
        .map(str::to_owned)
}

fn string(value: Option<&Value>, what: &str) -> Result<String> {
    value
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{what} must be a string"))
}

fn pairs(list: Option<&Value>, first: &str, second: &str) -> Result<Vec<(String, String)>> {
    let Some(Value::Sequence(items)) = list else {
        bail!("expected a list of {{{first}, {second}}}");
    };
    items
        .iter()
        .map(|item| {
            Ok((
                string(item.get(first), first)?,
                string(item.get(second), second)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests;
