use super::*;
use crate::domain::message::MAX_TEXT_CHARS;
use crate::domain::template::MAX_TEMPLATE_BYTES;
use serde_json::json;

fn alertmanager(alerts: Vec<Value>, extra: Value) -> AlertNotification {
    let mut payload = json!({
        "version": "4", "status": "firing", "receiver": "r-x", "groupKey": "{}:{}",
        "groupLabels": {"alertname": "QueueBacklog"},
        "commonLabels": {"alertname": "QueueBacklog", "severity": "page", "cluster": "eu-2"},
        "commonAnnotations": {}, "externalURL": "http://am.test:9093/", "truncatedAlerts": 0,
        "alerts": alerts,
    });
    for (k, v) in extra.as_object().unwrap() {
        payload[k] = v.clone();
    }
    AlertNotification::parse(AlertSource::Alertmanager, payload.to_string().as_bytes()).unwrap()
}

fn alert(status: &str, queue: &str, summary: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "QueueBacklog", "severity": "page", "cluster": "eu-2", "queue": queue},
        "annotations": {"summary": summary, "description": format!("{queue} has 10k jobs waiting")},
        "generatorURL": format!("http://prom.test/graph?q={queue}"),
        "startsAt": "2026-11-24T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
    })
}

#[test]
fn source_names_are_known_and_reserved() {
    assert_eq!(
        AlertSource::from_name("alertmanager"),
        Some(AlertSource::Alertmanager)
    );
    assert_eq!(
        AlertSource::from_name("grafana"),
        Some(AlertSource::Grafana)
    );
    for source in AlertSource::ALL {
        assert!(AlertNotification::parse(source, source.sample_payload().as_bytes()).is_ok());
    }
}

#[test]
fn the_alertmanager_fixtures_render_readably() {
    let firing = AlertNotification::parse(
        AlertSource::Alertmanager,
        include_bytes!("../../../../tests/fixtures/alertmanager-firing.json"),
    )
    .unwrap();
    let text = render(&firing, None);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "[FIRING:2] DiskAlmostFull (critical)", "{text}");
    assert_eq!(lines[1], "env=prod, job=node", "{text}");
    assert!(text.contains("\nFIRING: Disk /var on db-1 is 93% full\nOnly 7% left; at this rate it fills in 3 hours.\ninstance=db-1:9100, mountpoint=/var\nSource: http://prometheus.example.com:9090/graph?g0.expr=disk_used_ratio+%3E+0.9"), "{text}");
    assert!(
        text.contains("FIRING: Disk / on db-2 is 91% full"),
        "{text}"
    );
    // The group's silence link: Alertmanager's UI with the common labels as matchers.
    assert!(text.ends_with("Silence: http://alertmanager.example.com:9093/#/silences/new?filter=%7Balertname%3D%22DiskAlmostFull%22%2Cenv%3D%22prod%22%2Cjob%3D%22node%22%2Cseverity%3D%22critical%22%7D"), "{text}");
    assert!(!text.contains("more"), "{text}");

    let resolved = AlertNotification::parse(
        AlertSource::Alertmanager,
        include_bytes!("../../../../tests/fixtures/alertmanager-resolved.json"),
    )
    .unwrap();
    let text = render(&resolved, None);
    assert!(text.starts_with("[RESOLVED:1] HighRequestLatency (warning)\nservice=checkout\n\nRESOLVED: p99 latency above 1s\npod=checkout-7d9f-x2"), "{text}");
    // Alertmanager's own truncation is shown; a resolved group has no silence link.
    assert!(
        text.ends_with("...and 3 more (3 left out by Alertmanager)"),
        "{text}"
    );
    assert!(!text.contains("Silence"), "{text}");
}

#[test]
fn the_grafana_fixture_renders_with_its_links() {
    let notification = AlertNotification::parse(
        AlertSource::Grafana,
        include_bytes!("../../../../tests/fixtures/grafana-firing.json"),
    )
    .unwrap();
    let text = render(&notification, None);
    assert!(text.starts_with("[FIRING:1] CPU above 90%, 1 resolved\ngrafana_folder=Infra, team=platform\n\nFIRING: web-3 CPU at 97%\nCPU has been above 90% for 5 minutes.\nhost=web-3\nSource: https://grafana.example.com/alerting/grafana/cpu90/view?orgId=1\nDashboard: https://grafana.example.com/d/hosts?orgId=1\nPanel: https://grafana.example.com/d/hosts?orgId=1&viewPanel=4\nSilence: https://grafana.example.com/alerting/silence/new?"), "{text}");
    assert!(
        text.contains("\n\nRESOLVED: web-5 CPU back to normal\nhost=web-5\n"),
        "{text}"
    );
    // A resolved alert needs no silence link.
    assert_eq!(text.matches("Silence:").count(), 1, "{text}");
}

#[test]
fn a_large_group_is_shortened_with_and_n_more() {
    let alerts: Vec<Value> = (0..300)
        .map(|i| {
            alert(
                "firing",
                &format!("jobs-{i}"),
                &format!("backlog on jobs-{i}"),
            )
        })
        .collect();
    let notification = alertmanager(alerts, json!({"truncatedAlerts": 7}));
    let text = render(&notification, None);
    assert!(text.chars().count() <= MAX_TEXT_CHARS, "{}", text.len());
    assert!(text.starts_with("[FIRING:300] QueueBacklog (page)\ncluster=eu-2"));
    let shown = text.matches("FIRING: backlog on").count();
    assert!(shown > 3 && shown < 300, "{shown}");
    // Every alert not shown is counted: those left out here and by Alertmanager.
    let more = 300 - shown + 7;
    assert!(
        text.contains(&format!("...and {more} more (7 left out by Alertmanager)")),
        "{text}"
    );
    // The silence link is kept at the end.
    assert!(text.contains("Silence: http://am.test:9093/#/silences/new?filter="));
}

#[test]
fn thousands_of_alerts_are_shortened_quickly() {
    let alerts: Vec<Value> = (0..3000)
        .map(|i| alert("firing", &format!("shard-{i}"), &format!("shard-{i} lags")))
        .collect();
    let notification = alertmanager(alerts, json!({}));
    let started = std::time::Instant::now();
    let text = render(&notification, None);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(
        text.starts_with("[FIRING:3000] QueueBacklog (page)"),
        "{text}"
    );
    let shown = text.matches("FIRING: shard-").count();
    assert!(shown > 3, "{text}");
    assert!(
        text.contains(&format!("...and {} more", 3000 - shown)),
        "{text}"
    );
    // A template that does too much work per alert shows fewer alerts instead of failing.
    let heavy = "{% for a in alerts %}{% for i in range(300) %}{% endfor %}{{ a.labels.queue }} {% endfor %}+{{ more }}";
    let text = render(&notification, Some(heavy));
    assert!(text.starts_with("shard-0 shard-1 "), "{text}");
    assert!(
        text.ends_with(&format!("+{}", 3000 - text.matches("shard-").count())),
        "{text}"
    );
}

#[test]
fn one_huge_alert_is_cut_not_refused() {
    let mut big = alert("firing", "q-huge", "huge");
    big["annotations"]["description"] = Value::from("ü".repeat(10_000));
    let text = render(&alertmanager(vec![big.clone()], json!({})), None);
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
    assert!(text.ends_with('…'));
    // The alert is shown as far as it fits, not replaced by "and 1 more".
    assert!(text.contains("FIRING: huge\nüüü"), "{text}");
    let text = render(
        &alertmanager(vec![big, alert("firing", "q-2", "second")], json!({})),
        None,
    );
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
    assert!(text.contains("FIRING: huge\nüüü"), "{text}");
}

#[test]
fn payloads_of_the_wrong_shape_are_refused() {
    let am =
        |v: Value| AlertNotification::parse(AlertSource::Alertmanager, v.to_string().as_bytes());
    assert_eq!(
        AlertNotification::parse(AlertSource::Alertmanager, b"{nope"),
        Err(PayloadError::NotJson)
    );
    assert_eq!(am(json!({"text": "hi"})), Err(PayloadError::NotPayload));
    assert_eq!(am(json!([1])), Err(PayloadError::NotPayload));
    // Grafana's payload is not Alertmanager's (version "1"), nor one without a version.
    let grafana: Value = serde_json::from_str(AlertSource::Grafana.sample_payload()).unwrap();
    assert_eq!(am(grafana.clone()), Err(PayloadError::NotPayload));
    assert_eq!(
        am(json!({"status": "firing", "alerts": []})),
        Err(PayloadError::NotPayload)
    );
    assert_eq!(
        am(json!({"version": "4", "status": "pending", "alerts": []})),
        Err(PayloadError::NotPayload)
    );
    assert_eq!(
        am(
            json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"a": 1}}]})
        ),
        Err(PayloadError::NotPayload)
    );
    assert_eq!(
        am(json!({"version": "4", "status": "firing", "alerts": ["x"]})),
        Err(PayloadError::NotPayload)
    );
    // Alertmanager's payload is not Grafana's.
    let alertmanager: Value =
        serde_json::from_str(AlertSource::Alertmanager.sample_payload()).unwrap();
    assert_eq!(
        AlertNotification::parse(AlertSource::Grafana, alertmanager.to_string().as_bytes()),
        Err(PayloadError::NotPayload)
    );
    // An empty group still renders something.
    let empty = am(json!({"version": "4", "status": "resolved", "alerts": []})).unwrap();
    assert!(!render(&empty, None).trim().is_empty());
}

#[test]
fn an_apps_template_replaces_the_default() {
    let notification = alertmanager(
        vec![
            alert("firing", "billing", "slow"),
            alert("resolved", "mail", "ok"),
        ],
        json!({}),
    );
    let template = "{{ alertname }} x{{ total }}: {% for a in alerts %}{{ a.labels.queue }}={{ a.status }} {% endfor %}";
    check_template(AlertSource::Alertmanager, template).unwrap();
    assert_eq!(
        render(&notification, Some(template)),
        "QueueBacklog x2: billing=firing mail=resolved"
    );
    // One that fails or renders nothing gives way to the default.
    for broken in ["{{ 1 / 0 }}", "   {# nothing #}  "] {
        assert!(render(&notification, Some(broken)).starts_with("[FIRING:1] QueueBacklog"));
    }
}

#[test]
fn a_template_is_checked_with_its_line() {
    let error = check_template(
        AlertSource::Grafana,
        "ok\n{% for a in alerts %}\n{{ a.status }\n",
    )
    .unwrap_err();
    assert_eq!(error.line, Some(3), "{error}");
    assert!(error.to_string().starts_with("line 3: "), "{error}");
    let error = check_template(AlertSource::Alertmanager, "{% if x %}never closed").unwrap_err();
    assert!(error.line.is_some(), "{error}");
    // A runtime error on the sample is refused too.
    assert!(check_template(
        AlertSource::Alertmanager,
        "a\n{{ nosuchfilter|frobnicate }}"
    )
    .is_err());
    // Nothing is read from anywhere.
    assert!(check_template(AlertSource::Alertmanager, "{% include '/etc/passwd' %}").is_err());
    let huge = "x".repeat(MAX_TEMPLATE_BYTES + 1);
    assert!(check_template(AlertSource::Alertmanager, &huge).is_err());
}

#[test]
fn templates_run_with_bounded_time_and_output() {
    let notification = alertmanager(vec![alert("firing", "q1", "s")], json!({}));
    // An endless loop runs out of fuel: the default is used instead.
    let spin = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}";
    assert!(check_template(AlertSource::Alertmanager, spin).is_err());
    assert!(render(&notification, Some(spin)).starts_with("[FIRING:1]"));
    // A flood of output is cut at the contract's length.
    let flood = "{% for i in range(10000) %}flood {% endfor %}";
    let text = render(&notification, Some(flood));
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
    assert!(text.starts_with("flood flood"));
}
