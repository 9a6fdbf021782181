use super::*;
use crate::domain::message::MAX_TEXT_CHARS;
use serde_json::json;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/aws/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn event(name: &str) -> AwsEvent {
    AwsEvent::from_body(fixture(name).as_bytes()).unwrap()
}

fn text(name: &str) -> String {
    render(&event(name), None).text
}

#[test]
fn kinds_are_named_and_never_collide_with_alert_sources() {
    for kind in AwsKind::ALL {
        assert_eq!(AwsKind::from_name(kind.name()), Some(kind));
        assert_eq!(
            TemplateKind::from_name(kind.name()),
            Some(TemplateKind::Aws(kind))
        );
        assert!(AlertSource::from_name(kind.name()).is_none());
        // Every sample is recognised as its own kind and renders.
        assert_eq!(sample(kind).kind, kind, "{kind}");
        assert!(!render(&sample(kind), None).text.is_empty());
        check_template(kind, kind.default_template()).unwrap();
    }
    assert_eq!(
        TemplateKind::from_name("grafana"),
        Some(TemplateKind::Alert(AlertSource::Grafana))
    );
    assert_eq!(TemplateKind::names().len(), 12);
}

#[test]
fn a_cloudwatch_alarm_from_sns_reads_well_and_hints_its_thread() {
    let alarm = AwsEvent::from_sns(
        &fixture("cloudwatch-alarm-sns.json"),
        Some("ALARM: \"api-high-cpu\" in EU (Ireland)"),
        "arn:aws:sns:eu-west-1:123456789012:ops-alarms",
    );
    assert_eq!(alarm.kind, AwsKind::CloudWatchAlarm);
    let rendered = render(&alarm, None);
    assert_eq!(
        rendered.text,
        "[ALARM] api-high-cpu (was OK)\n\
         CPU of the API instance above 80% for 5 minutes\n\
         Reason: Threshold Crossed: 1 out of the last 1 datapoints [93.4 (24/11/26 05:25:00)] was greater than the threshold (80.0) (minimum 1 datapoint for OK -> ALARM transition).\n\
         Metric: AWS/EC2 CPUUtilization (Average, 300 s) > 80.0\n\
         Dimensions: InstanceId=i-0a1b2c3d4e5f67890\n\
         Account 123456789012, eu-west-1, 2026-11-24T05:30:12.345+0000\n\
         https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/api-high-cpu"
    );
    assert_eq!(
        rendered.thread,
        Some(ThreadHint {
            key: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:api-high-cpu".into(),
            resolved: false,
            reply_only: false
        })
    );
    // Its OK is the same thread, resolved.
    let ok = AwsEvent::from_sns(&fixture("cloudwatch-alarm-sns-ok.json"), None, "t");
    let rendered = render(&ok, None);
    assert!(rendered.text.starts_with("[OK] api-high-cpu (was ALARM)\n"));
    let hint = rendered.thread.unwrap();
    assert!(hint.resolved && !hint.reply_only);
    assert!(hint.key.ends_with(":alarm:api-high-cpu"));
}

#[test]
fn an_alarms_states_are_one_thread_and_a_chatbot_thread_is_replies() {
    use crate::domain::sources::alert_thread::ThreadAction;
    let firing = render(
        &AwsEvent::from_sns(&fixture("cloudwatch-alarm-sns.json"), None, "t"),
        None,
    );
    let ok = render(
        &AwsEvent::from_sns(&fixture("cloudwatch-alarm-sns-ok.json"), None, "t"),
        None,
    );
    let step = |rendered: &RenderedEvent, scope: &str, at| {
        rendered
            .thread
            .as_ref()
            .unwrap()
            .step(scope, &rendered.text, at)
    };
    let first = step(&firing, "app\ngroup\ng", 1);
    let then = step(&ok, "app\ngroup\ng", 2);
    assert_eq!(first.key, then.key);
    assert_ne!(first.key, step(&firing, "other\ngroup\ng", 1).key);
    assert!(!first.resolved && then.resolved && !then.threaded);
    assert_eq!(then.reply, "✅ OK: api-high-cpu");
    let thread = first.remembered("app", "chat", "m-1", &Default::default(), None, 10);
    assert_eq!(
        then.action(Some(&thread), "chat"),
        ThreadAction::Edit { reply: true }
    );
    // The same state again changes nothing.
    assert_eq!(
        step(&firing, "app\ngroup\ng", 3).action(Some(&thread), "chat"),
        ThreadAction::Nothing
    );

    let custom = render(&event("chatbot-custom-notification.json"), None);
    let hint = custom.thread.clone().expect("a threadId");
    assert!(hint.reply_only);
    let step = step(&custom, "app\ngroup\ng", 1);
    assert!(step.threaded);
    let thread = step.remembered("app", "chat", "m-9", &Default::default(), None, 10);
    assert_eq!(step.action(Some(&thread), "chat"), ThreadAction::Reply);
}

#[test]
fn a_cloudwatch_alarm_from_eventbridge_reads_the_same_way() {
    let rendered = render(&event("eventbridge-cloudwatch-alarm.json"), None);
    assert_eq!(
        rendered.text,
        "[ALARM] orders-5xx (was OK)\n\
         Orders API answers 5xx\n\
         Reason: Threshold Crossed: 2 out of the last 2 datapoints [17.0 (24/11/26 05:28:00), 12.0 (24/11/26 05:27:00)] were greater than or equal to the threshold (10.0).\n\
         Metric: AWS/ApplicationELB HTTPCode_Target_5XX_Count (Sum, 60 s)\n\
         Dimensions: LoadBalancer=app/orders/50dc6c495c0c9188, TargetGroup=targetgroup/orders/73e2d6bc24d8a067\n\
         Account 123456789012, eu-west-1, 2026-11-24T05:30:12.345+0000\n\
         https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/orders-5xx"
    );
    assert_eq!(
        rendered.thread.unwrap().key,
        "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders-5xx"
    );
}

#[test]
fn security_events_read_well() {
    assert_eq!(
        text("eventbridge-guardduty-finding.json"),
        "[GuardDuty High 8] 198.51.100.7 is performing SSH brute force attacks against i-99999999.\n\
         UnauthorizedAccess:EC2/SSHBruteForce\n\
         198.51.100.7 is performing SSH brute force attacks against i-99999999. Brute force attacks are used to gain unauthorized access to your instance by guessing the SSH password.\n\
         Resource: Instance i-99999999\n\
         Seen 14 time(s), last 2026-11-24T05:29:40.000Z\n\
         Account 123456789012, eu-west-1\n\
         https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=16afba5c5c43e07c9e3e5e2e544e95df"
    );
    let hub = text("eventbridge-securityhub-findings.json");
    assert!(
        hub.starts_with(
            "[Security Hub] 2 findings (Security Hub Findings - Imported)\n\n\
             HIGH: S3.8 S3 general purpose buckets should block public access\n\
             AwsS3Bucket arn:aws:s3:::invoices-export\n\
             Compliance FAILED, workflow NEW\n\
             Fix: https://docs.aws.amazon.com/console/securityhub/S3.8/remediation\n\n\
             CRITICAL: IAM.6 Hardware MFA should be enabled for the root user\n"
        ),
        "{hub}"
    );
    assert!(
        hub.ends_with(
            "https://eu-west-1.console.aws.amazon.com/securityhub/home?region=eu-west-1#/findings"
        ),
        "{hub}"
    );
    // Many findings: the first few, and how many more.
    let mut many: Value =
        serde_json::from_str(&fixture("eventbridge-securityhub-findings.json")).unwrap();
    let finding = many["detail"]["findings"][0].clone();
    many["detail"]["findings"] = Value::Array(vec![finding; 40]);
    let text = render(
        &AwsEvent::from_body(many.to_string().as_bytes()).unwrap(),
        None,
    )
    .text;
    assert!(text.starts_with("[Security Hub] 40 findings"), "{text}");
    assert!(text.contains("\n\n...and 35 more\n"), "{text}");
    assert!(text.chars().count() <= MAX_TEXT_CHARS);
}

#[test]
fn operations_events_read_well() {
    assert_eq!(
        text("eventbridge-codepipeline-execution.json"),
        "[CodePipeline] orders-deploy: FAILED\n\
         Execution 01234567-0123-0123-0123-012345678901, started by StartPipelineExecution\n\
         Account 123456789012, eu-west-1, 2026-11-24T05:30:12Z\n\
         https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/orders-deploy/executions/01234567-0123-0123-0123-012345678901/timeline?region=eu-west-1"
    );
    assert_eq!(
        text("eventbridge-ecs-task-state.json"),
        "[ECS] Task b7c1a2e4f0d34c1c8d1d0a9b8e7f6a5b STOPPED\n\
         Cluster prod, service:orders-api, task definition orders-api:42\n\
         Stopped: Essential container in task exited (EssentialContainerExited)\n\
         - api: STOPPED, exit code 137, OutOfMemoryError: Container killed due to memory usage\n\
         Account 123456789012, eu-west-1, 2026-11-24T05:30:12Z\n\
         https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/tasks/b7c1a2e4f0d34c1c8d1d0a9b8e7f6a5b?region=eu-west-1"
    );
    assert_eq!(
        text("eventbridge-health-event.json"),
        "[AWS Health] EC2 issue: AWS_EC2_OPERATIONAL_ISSUE (open)\n\
         We are investigating increased API error rates and latencies in the EU-WEST-1 Region.\n\
         Since Tue, 24 Nov 2026 04:55:00 GMT\n\
         Affected: i-0a1b2c3d4e5f67890\n\
         Account 123456789012, eu-west-1\n\
         https://health.aws.amazon.com/health/home#/account/dashboard/open-issues"
    );
    assert_eq!(
        text("eventbridge-ec2-state-change.json"),
        "[EC2] Instance i-0a1b2c3d4e5f67890 is stopped\n\
         Account 123456789012, eu-west-1, 2026-11-24T05:30:12Z\n\
         https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#InstanceDetails:instanceId=i-0a1b2c3d4e5f67890"
    );
}

#[test]
fn a_custom_notification_reads_as_written_and_threads_by_its_id() {
    for rendered in [
        render(&event("chatbot-custom-notification.json"), None),
        // The same notification published to a topic.
        render(
            &AwsEvent::from_sns(&fixture("chatbot-custom-notification.json"), None, "t"),
            None,
        ),
    ] {
        assert_eq!(
            rendered.text,
            ":warning: Orders backlog growing\n\
             The orders queue holds *12 400* messages; consumers are behind by 14 minutes.\n\
             Next steps:\n\
             - Scale the orders-worker service\n\
             - Check the payment provider's status page\n\
             Keywords: orders, prod, sqs"
        );
        assert_eq!(
            rendered.thread,
            Some(ThreadHint {
                key: "orders-backlog-2026-11-24".into(),
                resolved: false,
                reply_only: true
            })
        );
    }
    // Only the summary: it is the title.
    let bare = AwsEvent::from_body(
        br#"{"version":"1.0","source":"custom","content":{"description":"d"},"metadata":{"summary":"S"}}"#,
    )
    .unwrap();
    assert_eq!(render(&bare, None).text, "S\nd");
    assert_eq!(render(&bare, None).thread, None);
}

#[test]
fn unknown_events_get_a_short_readable_fallback() {
    let text = text("eventbridge-unknown-event.json");
    assert_eq!(
        text,
        "[Object Created] from aws.s3\n\
         Resources: arn:aws:s3:::invoices-export\n\
         bucket: {\"name\":\"invoices-export\"}\n\
         object: {\"etag\":\"b1946ac92492d2347c6235b4d2611184\",\"key\":\"2026/11/24/report.csv\",\"sequencer\":\"00617F08299329D189\",\"size\":52341}\n\
         reason: PutObject\n\
         request-id: N4N7GDK58NMKJ12R\n\
         requester: 123456789012\n\
         source-ip-address: 203.0.113.15\n\
         version: 0\n\
         Account 123456789012, eu-west-1, 2026-11-24T05:30:12Z"
    );
    // A huge event is never dumped: a few short fields, and how many more.
    let fields: Map<String, Value> = (0..500)
        .map(|i| (format!("field{i:03}"), Value::from("x".repeat(5000))))
        .collect();
    let huge = json!({"detail-type": "Big Thing", "source": "my.app", "account": "1", "region": "eu-west-1",
                      "resources": (0..50).map(|i| format!("arn:r{i}")).collect::<Vec<_>>(), "detail": fields});
    let text = render(
        &AwsEvent::from_body(huge.to_string().as_bytes()).unwrap(),
        None,
    )
    .text;
    assert!(text.chars().count() <= MAX_TEXT_CHARS, "{}", text.len());
    assert!(text.starts_with("[Big Thing] from my.app\nResources: arn:r0, arn:r1, arn:r2, arn:r3, arn:r4 and 45 more\nfield000: xxx"), "{text}");
    let shown = text.matches("\nfield").count();
    assert!((2..10).contains(&shown), "{text}");
    assert!(
        text.contains(&format!("\n...and {} more fields\n", 500 - shown)),
        "{text}"
    );
    // An input transformer's own object, and its text.
    let shaped = AwsEvent::from_body(br#"{"instance":"i-1","state":"running"}"#).unwrap();
    assert_eq!(shaped.kind, AwsKind::Generic);
    assert_eq!(
        render(&shaped, None).text,
        "[AWS event]\ninstance: i-1\nstate: running"
    );
    let plain = AwsEvent::from_text(b"Instance i-1 is running").unwrap();
    assert_eq!(plain.kind, AwsKind::Text);
    assert_eq!(render(&plain, None).text, "Instance i-1 is running");
    let quoted = AwsEvent::from_body(br#""Instance i-2 is running""#).unwrap();
    assert_eq!(render(&quoted, None).text, "Instance i-2 is running");
    // SNS text keeps its subject.
    let sns = AwsEvent::from_sns("Backup done", Some("Nightly backup"), "t");
    assert_eq!(render(&sns, None).text, "Nightly backup\nBackup done");
}

#[test]
fn bodies_that_are_no_event_are_refused() {
    assert_eq!(AwsEvent::from_body(b""), Err(EventError::Empty));
    assert_eq!(AwsEvent::from_body(b"  \n"), Err(EventError::Empty));
    assert_eq!(AwsEvent::from_body(b"[1,2]"), Err(EventError::NotEvent));
    assert_eq!(AwsEvent::from_body(b"42"), Err(EventError::NotEvent));
    assert_eq!(AwsEvent::from_body(b"\"  \""), Err(EventError::NotEvent));
    assert_eq!(AwsEvent::from_body(&[0xff, 0xfe]), Err(EventError::NotJson));
    assert_eq!(
        AwsEvent::from_body(b"plain words"),
        Err(EventError::NotJson)
    );
    assert_eq!(
        AwsEvent::from_text(&[0xff, 0xfe]),
        Err(EventError::NotEvent)
    );
    assert_eq!(AwsEvent::from_text(b" "), Err(EventError::Empty));
    assert_eq!(
        AwsEvent::from_text("\u{feff}\u{a0}".as_bytes()),
        Err(EventError::Empty)
    );
}

#[test]
fn an_apps_template_replaces_the_default_for_its_kind() {
    let alarm = event("eventbridge-cloudwatch-alarm.json");
    let template = "{{ alarm.name }} is {{ alarm.state }} in {{ region }}";
    check_template(AwsKind::CloudWatchAlarm, template).unwrap();
    assert_eq!(
        render(&alarm, Some(template)).text,
        "orders-5xx is ALARM in eu-west-1"
    );
    // One that fails, renders nothing or runs forever gives way to the default.
    for broken in [
        "{{ 1 / 0 }}",
        "  ",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    ] {
        assert!(render(&alarm, Some(broken))
            .text
            .starts_with("[ALARM] orders-5xx"));
    }
    // A flood is cut to the contract's length.
    let flood = render(
        &alarm,
        Some("{% for i in range(100000) %}flood {% endfor %}"),
    )
    .text;
    assert_eq!(flood.chars().count(), MAX_TEXT_CHARS);
    let error = check_template(AwsKind::GuardDuty, "ok\n{{ detail.title }").unwrap_err();
    assert_eq!(error.line, Some(2), "{error}");
    assert!(check_template(AwsKind::Generic, "{% include 'x' %}").is_err());
}
