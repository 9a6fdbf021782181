//! The template as the code reads it: keys, indexes, queues, secrets and functions the code
//! relies on, checked against `template.yaml` itself.

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
                    .strip_prefix(
                        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${",
                    )
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

#[test]
fn the_delivery_queue_and_its_dead_letter_queue_are_fifo_and_named_so() {
    let template = template();
    for queue in template.queues().unwrap() {
        // A FIFO queue's dead-letter queue is FIFO too; every send names its group and its
        // deduplication id, so content-based deduplication stays off.
        assert!(queue.fifo, "{}", queue.logical_id);
        assert!(!queue.content_based_deduplication, "{}", queue.logical_id);
        let prefix = format!("t{}-", queue.logical_id.len());
        assert_eq!(
            template.queue_name(&prefix, &queue.logical_id),
            format!("{prefix}{}.fifo", queue.logical_id)
        );
    }
    // A queue the template does not declare FIFO keeps its plain name.
    assert_eq!(template.queue_name("p-", "NoSuchQueue"), "p-NoSuchQueue");
}
