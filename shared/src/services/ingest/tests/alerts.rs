//! The alert routes on in-memory ports.

use super::*;

fn alert_post(path: &str, body: &str, bearer: Option<&str>) -> HttpRequest {
    let mut request = post(path, Value::Null);
    request.body = body.as_bytes().to_vec();
    if let Some(token) = bearer {
        request
            .headers
            .push(("Authorization".into(), format!("Bearer {token}")));
    }
    request
}

fn job_text(job: &Job) -> &str {
    match &job.kind {
        JobKind::SendGroup { content, .. }
        | JobKind::SendUser { content, .. }
        | JobKind::SendAlert { content, .. } => &content.text,
        other => panic!("not a message: {other:?}"),
    }
}

#[tokio::test]
async fn an_alert_uses_the_apps_own_template_for_its_source_only() {
    let w = world().await;
    let mut app = w.store.app_by_name("grouponly").await.unwrap().unwrap();
    app.alert_templates.insert(
        "grafana".into(),
        "{{ status }} on {% for a in alerts %}{{ a.labels.host }};{% endfor %}".into(),
    );
    w.store.put_app(&app).await.unwrap();
    let grafana = crate::domain::sources::alerts::AlertSource::Grafana.sample_payload();
    let am = crate::domain::sources::alerts::AlertSource::Alertmanager.sample_payload();
    let (status, body) = w
        .send(alert_post(
            "/grouponly/grafana",
            grafana,
            Some("tok-grouponly"),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = w
        .send(alert_post(
            "/webhooks/grouponly/tok-grouponly/alertmanager",
            am,
            None,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let jobs = w.queue.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(job_text(&jobs[0]), "firing on web-3;web-5;");
    assert!(job_text(&jobs[1]).starts_with("[FIRING:2] DiskAlmostFull (critical)"));
}

#[tokio::test]
async fn a_refused_alert_changes_nothing() {
    let w = world().await;
    let am = crate::domain::sources::alerts::AlertSource::Alertmanager.sample_payload();
    for (request, expected) in [
        (
            alert_post("/alerts/alertmanager", am, None),
            error(
                401,
                "Unauthorized: send the app's token as Authorization: Bearer <token>",
            ),
        ),
        (
            alert_post("/alerts/alertmanager", am, Some("tok-grouponly")),
            error(404, "Channel or token not found"),
        ),
        (
            alert_post("/disabled/tok-disabled/alertmanager", am, None),
            error(404, "Channel or token not found"),
        ),
        (
            alert_post("/groupless/tok-groupless/alertmanager", am, None),
            error(404, "Application does not have a group assigned"),
        ),
        (
            alert_post("/orphan/tok-orphan/alertmanager", am, None),
            error(404, "Group not found"),
        ),
        (
            alert_post("/sleepy/tok-sleepy/alertmanager", am, None),
            error(400, "Bad Request: group is not active"),
        ),
        (
            alert_post("/nameless/tok-nameless/alertmanager", am, None),
            error(400, "Bad Request: beatchat group id not found"),
        ),
        (
            alert_post("/alerts/tok-alerts/grafana", am, None),
            error(
                400,
                "Bad Request: body is not a Grafana webhook payload (unified alerting)",
            ),
        ),
        (
            HttpRequest {
                query: "email=ghost%40example.com".into(),
                ..alert_post("/alerts/tok-alerts/alertmanager", am, None)
            },
            error(404, "User ghost@example.com not found!"),
        ),
        (
            HttpRequest {
                query: "email=a%40b.co".into(),
                ..alert_post("/grouponly/tok-grouponly/alertmanager", am, None)
            },
            error(404, "this app have not permission to send fchat message"),
        ),
    ] {
        let path = request.path.clone();
        assert_eq!(w.send(request).await, expected, "{path}");
    }
    w.assert_unchanged();
}
