//! Creates the tables and queues that `template.yaml` declares, and computes the functions'
//! environment from the template's `Globals.Function.Environment`: the template is the one
//! description of both, for AWS and for the local stack.
//!
//! Secrets: a variable `X_PARAMETER: !Ref P` gives a function the name (the template parameter
//! `P`) of an SSM Parameter Store `SecureString` that the function reads at cold start. The
//! local stack puts that parameter into the emulator with the value it is given as `X`
//! (`--param FCHAT_BOT_TOKEN=...` for `FCHAT_BOT_TOKEN_PARAMETER`); the functions' environment
//! holds the name only.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
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

/// Where the local stack put what the template declares.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub table_names: HashMap<String, String>,
    pub queue_urls: HashMap<String, String>,
    pub queue_arns: HashMap<String, String>,
    /// The functions' environment, resolved.
    pub environment: HashMap<String, String>,
    /// The SSM `SecureString` parameters put into the emulator, by name.
    pub secure_parameters: Vec<String>,
}

/// Creates every table and queue of the template on the emulator `sdk` points at. Names are
/// the logical ids behind `prefix`; creating what exists already is not an error.
pub async fn provision(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    prefix: &str,
    parameters: &HashMap<String, String>,
) -> Result<Provisioned> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let mut provisioned = Provisioned::default();

    for table in template.tables()? {
        let name = format!("{prefix}{}", table.logical_id);
        create_table(&dynamodb, &name, &table).await?;
        provisioned.table_names.insert(table.logical_id, name);
    }

    let queues = template.queues()?;
    for queue in &queues {
        let name = format!("{prefix}{}", queue.logical_id);
        let mut request = sqs.create_queue().queue_name(&name);
        if let Some(seconds) = queue.visibility_timeout {
            request =
                request.attributes(QueueAttributeName::VisibilityTimeout, seconds.to_string());
        }
        if let Some(bytes) = queue.maximum_message_size {
            request = request.attributes(QueueAttributeName::MaximumMessageSize, bytes.to_string());
        }
        if let Some(seconds) = queue.retention {
            request = request.attributes(
                QueueAttributeName::MessageRetentionPeriod,
                seconds.to_string(),
            );
        }
        let url = request
            .send()
            .await
            .with_context(|| format!("creating queue {name}"))?
            .queue_url
            .ok_or_else(|| anyhow!("no URL for queue {name}"))?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| anyhow!("no ARN for queue {name}"))?;
        provisioned.queue_urls.insert(queue.logical_id.clone(), url);
        provisioned.queue_arns.insert(queue.logical_id.clone(), arn);
    }
    for queue in &queues {
        if let Some((dead_letter, count)) = &queue.redrive {
            let target = provisioned
                .queue_arns
                .get(dead_letter)
                .ok_or_else(|| anyhow!("{}: no queue {dead_letter}", queue.logical_id))?;
            let policy =
                serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": count});
            sqs.set_queue_attributes()
                .queue_url(&provisioned.queue_urls[&queue.logical_id])
                .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
                .send()
                .await
                .with_context(|| format!("setting the redrive policy of {}", queue.logical_id))?;
        }
    }

    for (name, value) in template.function_environment()? {
        let resolved = match &value {
            EnvValue::Literal(text) => text.clone(),
            EnvValue::Ref(id) => provisioned
                .table_names
                .get(id)
                .or_else(|| provisioned.queue_urls.get(id))
                .or_else(|| parameters.get(id))
                .cloned()
                .or_else(|| template.parameter_default(id))
                .ok_or_else(|| {
                    anyhow!("{name}: !Ref {id} names nothing the local stack creates")
                })?,
            EnvValue::SecureParameter(id) => {
                let parameter = parameters
                    .get(id)
                    .cloned()
                    .or_else(|| template.parameter_default(id))
                    .ok_or_else(|| anyhow!("{name}: the template parameter {id} has no value"))?;
                let secret = name.trim_end_matches(SECURE_PARAMETER_SUFFIX);
                let value = parameters.get(secret).ok_or_else(|| {
                    anyhow!("{name} names a secret: give the local stack its value (--param {secret}=...)")
                })?;
                put_secure_parameter(&ssm, &parameter, value).await?;
                provisioned.secure_parameters.push(parameter.clone());
                parameter
            }
            EnvValue::Arn(id) => provisioned.queue_arns.get(id).cloned().ok_or_else(|| {
                anyhow!("{name}: !GetAtt {id}.Arn names nothing the local stack creates")
            })?,
        };
        provisioned.environment.insert(name, resolved);
    }
    Ok(provisioned)
}

/// Puts a `SecureString` parameter (under SSM's default key), replacing an older value.
async fn put_secure_parameter(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) -> Result<()> {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        // The error names the parameter; the SDK's description never carries the value.
        .map_err(|e| {
            anyhow!(
                "putting the SecureString parameter {name}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    table: &TableSpec,
) -> Result<()> {
    let key = |pairs: &[(String, String)]| -> Result<Vec<KeySchemaElement>> {
        pairs
            .iter()
            .map(|(attribute, kind)| {
                Ok(KeySchemaElement::builder()
                    .attribute_name(attribute)
                    .key_type(KeyType::from(kind.as_str()))
                    .build()?)
            })
            .collect()
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key(&table.key)?));
    for (attribute, kind) in &table.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()?,
        );
    }
    for index in &table.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(key(&index.key)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection.as_str()))
                        .build(),
                )
                .build()?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(())
        }
        Err(e) => {
            return Err(anyhow!(
                "creating table {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            ))
        }
    }
    if let Some(attribute) = &table.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .with_context(|| format!("enabling TTL on {name}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use gateway::tables::*;

    fn template() -> Template {
        Template::load(&crate::workspace_root().join("template.yaml")).unwrap()
    }

    fn table(id: &str) -> TableSpec {
        template()
            .tables()
            .unwrap()
            .into_iter()
            .find(|t| t.logical_id == id)
            .unwrap_or_else(|| panic!("template.yaml declares no {id}"))
    }

    #[test]
    fn template_declares_the_keys_the_code_uses() {
        assert_eq!(
            table("AppsTable").key,
            vec![(APPS_KEY.into(), "HASH".into())]
        );
        assert_eq!(
            table("GroupsTable").key,
            vec![(GROUPS_KEY.into(), "HASH".into())]
        );
        assert_eq!(
            table("UsersTable").key,
            vec![(USERS_KEY.into(), "HASH".into())]
        );
        assert_eq!(
            table("ContextsTable").key,
            vec![(CONTEXTS_KEY.into(), "HASH".into())]
        );
    }

    fn index(table_id: &str, name: &str) -> IndexSpec {
        table(table_id)
            .indexes
            .into_iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("{table_id} has no index {name}"))
    }

    #[test]
    fn template_declares_the_indexes_the_code_queries_and_the_ttl() {
        for (table_id, name, attribute) in [
            ("AppsTable", APPS_TOKEN_INDEX, APPS_TOKEN_ATTRIBUTE),
            ("AppsTable", APPS_GROUP_INDEX, APPS_GROUP_ATTRIBUTE),
            (
                "AppsTable",
                APPS_PREVIOUS_TOKEN_INDEX,
                APPS_PREVIOUS_TOKEN_ATTRIBUTE,
            ),
            (
                "GroupsTable",
                GROUPS_BEATCHAT_INDEX,
                GROUPS_BEATCHAT_ATTRIBUTE,
            ),
            (
                "ContextsTable",
                CONTEXTS_MESSAGE_INDEX,
                CONTEXTS_MESSAGE_ATTRIBUTE,
            ),
        ] {
            assert_eq!(
                index(table_id, name).key,
                vec![(attribute.into(), "HASH".into())]
            );
        }
        assert_eq!(
            table("ContextsTable").ttl_attribute.as_deref(),
            Some(EXPIRY_ATTRIBUTE)
        );
    }

    #[test]
    fn template_gives_the_delivery_queue_a_dead_letter_queue_after_the_schedules_receives() {
        let queues = template().queues().unwrap();
        let delivery = queues
            .iter()
            .find(|q| q.logical_id == "DeliveryQueue")
            .unwrap();
        let (dead_letter, count) = delivery.redrive.clone().unwrap();
        assert!(queues.iter().any(|q| q.logical_id == dead_letter));
        // One definition: the retry schedule's receive count is the redrive policy's.
        assert_eq!(
            u32::try_from(count).unwrap(),
            gateway::delivery::MAX_RECEIVE_COUNT
        );
        // Every queue refuses a message over the product's job limit, on AWS as locally.
        for queue in &queues {
            assert_eq!(
                queue.maximum_message_size,
                Some(gateway::job::MAX_JOB_BYTES as u64),
                "{}",
                queue.logical_id
            );
        }
    }

    #[test]
    fn template_environment_names_every_resource_by_reference() {
        let environment = template().function_environment().unwrap();
        let names: Vec<_> = environment.iter().map(|(name, _)| name.as_str()).collect();
        for expected in [
            "APPS_TABLE",
            "GROUPS_TABLE",
            "USERS_TABLE",
            "CONTEXTS_TABLE",
            "DELIVERY_QUEUE_URL",
        ] {
            assert!(names.contains(&expected), "{expected}");
        }
        assert!(environment.contains(&(
            "DELIVERY_QUEUE_URL".into(),
            EnvValue::Ref("DeliveryQueue".into())
        )));
    }

    /// The SSM parameters a function is given names of (globals and its own variables), and
    /// those its policies let it read, for every function.
    fn secrets_named_and_granted() -> Vec<(String, BTreeSet<String>, BTreeSet<String>)> {
        let doc: Value = serde_yaml::from_str(
            &std::fs::read_to_string(crate::workspace_root().join("template.yaml")).unwrap(),
        )
        .unwrap();
        let globals = doc["Globals"]["Function"]["Environment"]["Variables"].clone();
        let mut found = Vec::new();
        for (id, resource) in doc["Resources"].as_mapping().unwrap() {
            if resource["Type"] != "AWS::Serverless::Function" {
                continue;
            }
            let properties = &resource["Properties"];
            let mut named = BTreeSet::new();
            for variables in [&globals, &properties["Environment"]["Variables"]] {
                for (name, value) in variables.as_mapping().into_iter().flatten() {
                    let name = name.as_str().unwrap();
                    assert!(
                        !format!("{value:?}").contains("{{resolve:"),
                        "{name} resolves a secret into the configuration"
                    );
                    if name.ends_with(SECURE_PARAMETER_SUFFIX) {
                        named.insert(tagged(value, "Ref").expect("!Ref of a template parameter"));
                    }
                }
            }
            let mut granted = BTreeSet::new();
            let policies = properties["Policies"].as_sequence().unwrap();
            for statement in policies
                .iter()
                .flat_map(|p| p["Statement"].as_sequence().unwrap())
            {
                let actions: Vec<&str> = match &statement["Action"] {
                    Value::Sequence(list) => list.iter().filter_map(Value::as_str).collect(),
                    action => vec![action.as_str().unwrap()],
                };
                if !actions
                    .iter()
                    .any(|a| a.starts_with("ssm:") || a.starts_with("kms:"))
                {
                    continue;
                }
                assert_eq!(actions, ["ssm:GetParameters"], "{id:?}: only GetParameters");
                let resources = match &statement["Resource"] {
                    Value::Sequence(list) => list.clone(),
                    one => vec![one.clone()],
                };
                for resource in resources {
                    let arn = tagged(&resource, "Sub").expect("a parameter's ARN");
                    let parameter = arn
                        .strip_prefix("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${")
                        .and_then(|rest| rest.strip_suffix('}'))
                        .unwrap_or_else(|| panic!("{id:?}: {arn} is not exactly one parameter"));
                    granted.insert(parameter.to_owned());
                }
            }
            found.push((id.as_str().unwrap().to_owned(), named, granted));
        }
        found
    }

    #[test]
    fn each_function_may_read_exactly_the_secrets_it_is_given_names_of() {
        let found = secrets_named_and_granted();
        assert_eq!(found.len(), 3);
        for (function, named, granted) in &found {
            assert!(!named.is_empty(), "{function} reads FChat's bot token");
            assert_eq!(named, granted, "{function}");
        }
        // The callback secret is the callback function's alone.
        let readers: Vec<&str> = found
            .iter()
            .filter(|(_, named, _)| named.len() > 1)
            .map(|(function, _, _)| function.as_str())
            .collect();
        assert_eq!(readers, ["CallbackFunction"]);
    }

    #[test]
    fn secrets_reach_the_functions_as_parameter_names() {
        let template = template();
        let environment = template.function_environment().unwrap();
        for variable in [
            gateway::config::BOT_TOKEN_PARAMETER,
            gateway::config::CALLBACK_SECRET_PARAMETER,
        ] {
            let (_, value) = environment
                .iter()
                .find(|(name, _)| name == variable)
                .unwrap_or_else(|| panic!("no {variable}"));
            let EnvValue::SecureParameter(parameter) = value else {
                panic!("{variable}: {value:?}");
            };
            assert!(template
                .parameter_default(parameter)
                .unwrap()
                .starts_with('/'));
        }
        // A dynamic reference would put the value in the configuration: refused.
        let resolved = Template::parse(
            "Globals:\n  Function:\n    Environment:\n      Variables:\n        \
             TOKEN: !Sub \"{{resolve:secretsmanager:t:SecretString}}\"\nResources: {}\n",
        )
        .unwrap();
        let error = resolved.function_environment().unwrap_err().to_string();
        assert!(error.contains("TOKEN_PARAMETER"), "{error}");
    }

    #[test]
    fn the_delivery_function_takes_the_delivery_queue_and_the_ingest_function_the_api() {
        let template = template();
        assert_eq!(
            template.queue_sources().unwrap(),
            vec![QueueSource {
                queue: "DeliveryQueue".into(),
                function: "delivery".into(),
                batch_size: 10,
                max_concurrency: Some(5),
            }]
        );
        let scaled = template
            .queue_sources_with(&HashMap::from([(
                "DeliveryMaxConcurrency".to_owned(),
                "7".to_owned(),
            )]))
            .unwrap();
        assert_eq!(scaled[0].max_concurrency, Some(7));
        let routes = template.http_routes().unwrap();
        assert!(routes.contains(&HttpRoute {
            method: "ANY".into(),
            path: "/{proxy+}".into(),
            function: "ingest".into()
        }));
        // `/{proxy+}` does not match the root: whatever no route matches goes to `$default`.
        assert!(routes.contains(&HttpRoute {
            method: "ANY".into(),
            path: DEFAULT_ROUTE.into(),
            function: "ingest".into()
        }));
        assert!(routes.contains(&HttpRoute {
            method: "POST".into(),
            path: "/callback/fchat".into(),
            function: "callback".into()
        }));
        assert_eq!(routes.len(), 3);
    }

    #[test]
    fn functions_have_their_binaries_and_timeouts() {
        let functions = template().functions().unwrap();
        let timeout = |binary: &str| {
            functions
                .iter()
                .find(|f| f.binary == binary)
                .unwrap_or_else(|| panic!("no function built from {binary}"))
                .timeout
        };
        assert_eq!(functions.len(), 3);
        assert_eq!(timeout("delivery"), std::time::Duration::from_secs(30));
        assert_eq!(timeout("ingest"), std::time::Duration::from_secs(10));
        assert_eq!(timeout("callback"), std::time::Duration::from_secs(10));

        // Without its own Timeout, a function has the globals', else Lambda's 3 seconds.
        let text = |globals: &str| {
            format!(
                "{globals}Resources:\n  F:\n    Type: AWS::Serverless::Function\n    \
                 Metadata: {{BuildProperties: {{Binary: fn-bin}}}}\n    Properties: {{CodeUri: .}}\n"
            )
        };
        let with_globals = Template::parse(&text("Globals:\n  Function:\n    Timeout: 12\n"));
        assert_eq!(
            with_globals.unwrap().functions().unwrap()[0].timeout,
            std::time::Duration::from_secs(12)
        );
        let bare = Template::parse(&text("")).unwrap().functions().unwrap();
        assert_eq!(
            bare,
            vec![FunctionDecl {
                logical_id: "F".into(),
                binary: "fn-bin".into(),
                timeout: std::time::Duration::from_secs(3)
            }]
        );
    }

    #[test]
    fn the_delivery_lease_and_the_queue_visibility_fit_the_delivery_timeout() {
        let doc: Value = serde_yaml::from_str(
            &std::fs::read_to_string(crate::workspace_root().join("template.yaml")).unwrap(),
        )
        .unwrap();
        let function = &doc["Resources"]["DeliveryFunction"]["Properties"];
        let timeout = function["Timeout"].as_u64().unwrap();
        let lease: u64 = function["Environment"]["Variables"]["DELIVERY_TIMEOUT_SECONDS"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(lease, timeout);
        let queues = template().queues().unwrap();
        let delivery = queues
            .iter()
            .find(|q| q.logical_id == "DeliveryQueue")
            .unwrap();
        assert!(delivery.visibility_timeout.unwrap() >= 6 * timeout);
        let events = &function["Events"]["DeliveryJobs"]["Properties"];
        assert_eq!(
            events["FunctionResponseTypes"][0],
            "ReportBatchItemFailures"
        );
    }
}
