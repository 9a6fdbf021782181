//! The local stack's IAM gate on moto: each caller held to its policy in `template.yaml`,
//! action and resource, and refused in AWS's shape for each protocol.

use aws_sdk_dynamodb::types::AttributeValue;
use fchat_local::harness::{LocalAws, LOCAL_CALLBACK_SECRET};
use fchat_local::iam::{function_credentials, OPERATOR_ACCESS_KEY};

async fn aws() -> LocalAws {
    LocalAws::start()
        .await
        .expect("moto starts (run `make venv` first)")
}

fn service_message<E: std::error::Error + 'static>(error: &E) -> String {
    format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(error))
}

#[tokio::test]
async fn a_query_on_an_index_the_policy_does_not_name_is_refused_naming_action_and_resource() {
    let aws = aws().await;
    let apps = aws.config.tables.apps.clone();
    let ingest = aws_sdk_dynamodb::Client::new(&aws.sdk_as(&function_credentials("ingest")).await);
    let query = |index: &str| {
        let key = if index == "by-group" {
            "group_id"
        } else {
            "token_hash"
        };
        ingest
            .query()
            .table_name(&apps)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", key)
            .expression_attribute_values(":v", AttributeValue::S(format!("v-{index}")))
            .send()
    };
    // The index ingest's policy lists: allowed, and answered by moto.
    let found = query("by-token-hash")
        .await
        .expect("by-token-hash is granted");
    assert_eq!(found.count, 0);
    // An index of the same table that it does not list: refused.
    let error = query("by-group")
        .await
        .expect_err("by-group is not granted");
    let service = error.as_service_error().expect("a service error");
    assert_eq!(service.meta().code(), Some("AccessDeniedException"));
    let message = service.meta().message().unwrap_or_default();
    assert!(
        message.contains("is not authorized to perform: dynamodb:Query"),
        "{message}"
    );
    assert!(
        message.contains(&format!(":table/{apps}/index/by-group")),
        "{message}"
    );
    assert!(
        message.contains("assumed-role/IngestFunctionRole/ingest"),
        "{message}"
    );
    let denials = aws.gate.denials();
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0].action, "dynamodb:Query");

    // The table itself: GetItem yes, a write no (the apps table is the operator's).
    let key = format!("app-{}", std::process::id());
    ingest
        .get_item()
        .table_name(&apps)
        .key("name", AttributeValue::S(key.clone()))
        .send()
        .await
        .expect("GetItem on the apps table is granted");
    let error = ingest
        .put_item()
        .table_name(&apps)
        .item("name", AttributeValue::S(key.clone()))
        .send()
        .await
        .expect_err("PutItem on the apps table is not granted");
    assert!(service_message(&error).contains("dynamodb:PutItem"));
    // Nothing was written.
    let item = aws
        .dynamodb()
        .get_item()
        .table_name(&apps)
        .key("name", AttributeValue::S(key))
        .send()
        .await
        .unwrap();
    assert!(item.item.is_none());
}

#[tokio::test]
async fn queues_and_secrets_are_held_to_each_role_and_unknown_keys_refused() {
    let aws = aws().await;
    let queue = aws.config.delivery_queue_url.clone();
    let sqs_as = |key: String| {
        let aws = &aws;
        async move { aws_sdk_sqs::Client::new(&aws.sdk_as(&key).await) }
    };
    // Ingest queues jobs but may not take them.
    let ingest = sqs_as(function_credentials("ingest")).await;
    ingest
        .send_message()
        .queue_url(&queue)
        .message_group_id("iam")
        .message_deduplication_id("iam-1")
        .message_body("{}")
        .send()
        .await
        .expect("ingest may queue jobs");
    let error = ingest
        .receive_message()
        .queue_url(&queue)
        .send()
        .await
        .expect_err("ingest may not receive");
    let service = error.as_service_error().expect("a service error");
    assert_eq!(service.meta().code(), Some("AccessDenied"));
    let message = service.meta().message().unwrap_or_default();
    assert!(message.contains("sqs:receivemessage"), "{message}");
    assert!(message.contains(":DeliveryQueue"), "{message}");
    // The delivery function's role polls, through the managed policy SAM attaches for its
    // SQS event, and the poller deletes what it delivered.
    let delivery = sqs_as(function_credentials("delivery")).await;
    let received = delivery
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("the delivery role polls its queue");
    let handle = received.messages.unwrap_or_default()[0]
        .receipt_handle
        .clone()
        .unwrap();
    delivery
        .delete_message()
        .queue_url(&queue)
        .receipt_handle(handle)
        .send()
        .await
        .expect("and deletes");
    // No role may empty the queue.
    let purge = delivery.purge_queue().queue_url(&queue).send().await;
    assert!(purge.is_err());

    // Secrets: the callback secret is the callback function's alone.
    let secret = aws
        .provisioned
        .secure_parameters
        .iter()
        .find(|name| name.contains("callback"))
        .cloned()
        .expect("the callback secret's parameter");
    for (key, allowed) in [
        (function_credentials("callback"), true),
        (function_credentials("ingest"), false),
        (function_credentials("delivery"), false),
        (OPERATOR_ACCESS_KEY.to_owned(), false),
    ] {
        let ssm = aws_sdk_ssm::Client::new(&aws.sdk_as(&key).await);
        let read = ssm
            .get_parameters()
            .names(&secret)
            .with_decryption(true)
            .send()
            .await;
        match read {
            Ok(found) => {
                assert!(allowed, "{key} read the callback secret");
                let value = found.parameters.unwrap_or_default()[0].value.clone();
                assert_eq!(value.as_deref(), Some(LOCAL_CALLBACK_SECRET));
            }
            Err(error) => {
                assert!(!allowed, "{key}: {}", service_message(&error));
                let service = error.as_service_error().expect("a service error");
                assert_eq!(service.meta().code(), Some("AccessDeniedException"));
                assert!(service_message(&error).contains("ssm:GetParameters"));
            }
        }
    }

    // A key nobody holds.
    let stranger = aws_sdk_dynamodb::Client::new(&aws.sdk_as("AKIANOBODY").await);
    let error = stranger
        .list_tables()
        .send()
        .await
        .expect_err("unknown key");
    assert!(
        service_message(&error).contains("security token included in the request is invalid"),
        "{}",
        service_message(&error)
    );
}
