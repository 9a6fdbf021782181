//! Creates the tables and queues that `template.yaml` declares ([`crate::template`]), and
//! computes the functions' environment from the template's `Globals.Function.Environment`.
//!
//! Secrets: a variable `X_PARAMETER: !Ref P` gives a function the name (the template parameter
//! `P`) of an SSM Parameter Store `SecureString` that the function reads at cold start. The
//! local stack puts that parameter into the emulator with the value it is given as `X`
//! (`--param FCHAT_BOT_TOKEN=...` for `FCHAT_BOT_TOKEN_PARAMETER`); the functions' environment
//! holds the name only.

use std::collections::HashMap;

use anyhow::{anyhow, Context as _, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::template::{EnvValue, TableSpec, Template, SECURE_PARAMETER_SUFFIX};

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
        let name = template.queue_name(prefix, &queue.logical_id);
        let mut request = sqs.create_queue().queue_name(&name);
        if queue.fifo {
            request = request
                .attributes(QueueAttributeName::FifoQueue, "true")
                .attributes(
                    QueueAttributeName::ContentBasedDeduplication,
                    queue.content_based_deduplication.to_string(),
                );
        }
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
