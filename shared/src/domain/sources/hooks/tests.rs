use super::*;

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn lookup<'a>(pairs: &'a [(String, String)]) -> impl Fn(&str) -> Option<&'a str> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn source(template: &str) -> HookSource {
    HookSource {
        name: "ci-builds".into(),
        template: template.into(),
        verify: None,
        group_by: None,
        resolved_when: None,
    }
}

#[test]
fn github_s_documented_signature_verifies() {
    // GitHub's "Validating webhook deliveries" test values.
    let verify = HookVerify::parse(
        "hmac-sha256:X-Hub-Signature-256",
        "It's a Secret to Everybody".into(),
    )
    .unwrap();
    let signed = headers(&[(
        "x-hub-signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert!(verify.verify(lookup(&signed), b"Hello, World!", 0));
    // Bare hex (Sentry's form), in any case.
    let bare = headers(&[(
        "X-Hub-Signature-256",
        "757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
    )]);
    assert!(verify.verify(lookup(&bare), b"Hello, World!", 0));
    // Another body, another secret, no header, not hex: refused.
    assert!(!verify.verify(lookup(&signed), b"Hello, World?", 0));
    let other = HookVerify::parse("hmac-sha256:x-hub-signature-256", "another".into()).unwrap();
    assert!(!other.verify(lookup(&signed), b"Hello, World!", 0));
    assert!(!verify.verify(lookup(&[]), b"Hello, World!", 0));
    let garbage = headers(&[("x-hub-signature-256", "sha256=zz")]);
    assert!(!verify.verify(lookup(&garbage), b"Hello, World!", 0));
    let short = headers(&[("x-hub-signature-256", "sha256=7571")]);
    assert!(!verify.verify(lookup(&short), b"Hello, World!", 0));
}

#[test]
fn standard_webhooks_signatures_verify_within_the_tolerance() {
    // The specification libraries' example (also the gateway's own signer's test).
    let verify = HookVerify::parse(
        "standard-webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
    )
    .unwrap();
    let body = br#"{"test": 2432232314}"#;
    let signed = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    assert!(verify.verify(lookup(&signed), body, 1614265330 + 10));
    assert!(verify.verify(lookup(&signed), body, 1614265330 - 10));
    // A replay from beyond the tolerance, a changed body, a missing header: refused.
    let late = 1614265330 + SIGNATURE_TOLERANCE_SECONDS + 1;
    assert!(!verify.verify(lookup(&signed), body, late));
    assert!(!verify.verify(lookup(&signed), br#"{"test": 1}"#, 1614265330));
    assert!(!verify.verify(lookup(&signed[..2]), body, 1614265330));
}

#[test]
fn verify_settings_are_read_strictly() {
    assert_eq!(
        HookVerify::parse("hmac-sha1:X-Hub-Signature", "s".into()),
        Err(VerifyError::UnknownScheme)
    );
    assert_eq!(
        HookVerify::parse("hmac-sha256:", "s".into()),
        Err(VerifyError::BadHeader)
    );
    assert_eq!(
        HookVerify::parse("hmac-sha256:X Sig\n", "s".into()),
        Err(VerifyError::BadHeader)
    );
    assert_eq!(
        HookVerify::parse("hmac-sha256:X-Sig", String::new()),
        Err(VerifyError::BadSecretLength)
    );
    assert_eq!(
        HookVerify::parse("standard-webhooks", "plain".into()),
        Err(VerifyError::NotWhsec)
    );
    let parsed = HookVerify::parse("HMAC-SHA256:X-Signature-Sha256", "s3cr3t".into()).unwrap();
    assert_eq!(parsed.describe(), "hmac-sha256:x-signature-sha256");
}

#[test]
fn names_are_one_path_segment() {
    for name in ["github", "sentry-prod", "ci_2", "9lives"] {
        assert!(valid_name(name), "{name}");
    }
    let long = "a".repeat(MAX_HOOK_NAME_CHARS + 1);
    for name in ["", "GitHub", "-x", "a/b", "a b", "é", long.as_str()] {
        assert!(!valid_name(name), "{name:?}");
    }
}

#[test]
fn an_event_renders_with_its_group_and_resolution() {
    let mut ci =
        source("{{ headers['x-event'] }}: {{ body.pipeline.name }} is {{ body.pipeline.status }}");
    ci.group_by = Some("{{ body.pipeline.id }}".into());
    ci.resolved_when = Some("{{ body.pipeline.status == 'passed' }}".into());
    let event = json!({"pipeline": {"id": 8841, "name": "nightly-arm", "status": "running"}});
    let seen = headers(&[("X-Event", "pipeline"), ("Authorization", "Bearer t0k")]);
    let message = ci.render(&event, &seen);
    assert_eq!(message.text, "pipeline: nightly-arm is running");
    assert_eq!(message.group.as_deref(), Some("8841"));
    assert!(!message.resolved);
    let done = json!({"pipeline": {"id": 8841, "name": "nightly-arm", "status": "passed"}});
    assert!(ci.render(&done, &seen).resolved);

    // One key, one thread: the same for both events, apart from another source's.
    let a = message.thread_step("scope", "ci-builds", 1).unwrap();
    let b = ci
        .render(&done, &seen)
        .thread_step("scope", "ci-builds", 2)
        .unwrap();
    assert_eq!(a.key, b.key);
    assert_ne!(a.fingerprint, b.fingerprint);
    assert!(b.reply.starts_with("✅ Resolved: pipeline: nightly-arm"));
    let c = message.thread_step("scope", "other", 1).unwrap();
    assert_ne!(a.key, c.key);
    // No group key rendered: no thread.
    let ungrouped = ci.render(&json!({"pipeline": {}}), &seen);
    assert_eq!(ungrouped.group, None);
    assert!(ungrouped.thread_step("scope", "ci-builds", 1).is_none());
}

#[test]
fn credentials_in_headers_never_reach_a_template() {
    let leaky =
        source("[{{ headers.authorization }}{{ headers.cookie }}{{ headers['x-api-key'] }}]");
    let seen = headers(&[
        ("Authorization", "Bearer secret-token"),
        ("Cookie", "session=abc"),
        ("X-Api-Key", "k"),
    ]);
    let message = leaky.render(&json!({}), &seen);
    assert!(!message.text.contains("secret"), "{}", message.text);
    assert!(!message.text.contains("session"), "{}", message.text);
}

#[test]
fn a_template_failing_on_an_event_still_gives_a_message() {
    let strict = source("{{ body.items | length }} items {{ 1 / body.zero }}");
    let message = strict.render(&json!({"items": [1, 2], "zero": 0}), &[]);
    assert!(message
        .text
        .starts_with("⚠️ ci-builds: the template could not render"));
    assert!(message.text.contains(r#""zero":0"#), "{}", message.text);
    let empty = source("{% if body.never %}x{% endif %}");
    assert!(empty
        .render(&json!({"n": 1}), &[])
        .text
        .contains("rendered nothing"));
}

#[test]
fn long_output_is_cut_to_the_contract() {
    let chatty = source("{% for i in range(3000) %}x{% endfor %}");
    let text = chatty.render(&json!({}), &[]).text;
    assert_eq!(text.chars().count(), crate::domain::message::MAX_TEXT_CHARS);
    assert!(text.ends_with('…'));
}

#[test]
fn adding_a_source_checks_its_templates_against_the_sample() {
    let sample = br#"{"repo": {"name": "fleet"}, "n": 3}"#;
    assert_eq!(source("{{ body.repo.name }}").check(sample, &[]), Ok(()));
    let broken = source("line one\n{{ body.repo.name ");
    match broken.check(sample, &[]) {
        Err(HookCheckError::Template { which, error }) => {
            assert_eq!(which, "message");
            assert_eq!(error.line, Some(2));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        source("{{ body }}").check(b"not json", &[]),
        Err(HookCheckError::SampleNotJson(_))
    ));
    assert_eq!(
        source("{% if body.missing %}x{% endif %}").check(sample, &[]),
        Err(HookCheckError::RendersNothing)
    );
    let mut named = source("{{ body.n }}");
    named.name = "Bad Name".into();
    assert_eq!(named.check(sample, &[]), Err(HookCheckError::BadName));
    let mut grouped = source("{{ body.n }}");
    grouped.group_by = Some("{{ body.repo.name".into());
    assert!(matches!(
        grouped.check(sample, &[]),
        Err(HookCheckError::Template {
            which: "group-by",
            ..
        })
    ));
    grouped.group_by = Some("x".repeat(MAX_KEY_TEMPLATE_BYTES + 1));
    assert_eq!(
        grouped.check(sample, &[]),
        Err(HookCheckError::KeyTemplateTooLong("group-by"))
    );
}

#[test]
fn the_secret_never_shows_in_debug() {
    let mut signed = source("x");
    signed.verify = Some(HookVerify::HmacSha256 {
        header: "x-sig".into(),
        secret: "hunter2-very-secret".into(),
    });
    let shown = format!("{signed:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("hmac-sha256:x-sig"));
}

/// The example templates of docs/sources/ render their samples as samples.json says.
#[test]
fn the_shipped_examples_render_their_samples() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/sources");
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let samples: Vec<Value> = serde_json::from_str(&read("samples.json")).unwrap();
    assert!(samples.len() >= 6);
    let mut families = std::collections::BTreeSet::new();
    for sample in samples {
        let family = sample["template"].as_str().unwrap();
        families.insert(family.to_owned());
        let example = HookSource {
            name: family.into(),
            template: read(&format!("{family}.j2")),
            verify: None,
            group_by: Some(read(&format!("{family}-group-by.j2"))),
            resolved_when: Some(read(&format!("{family}-resolved-when.j2"))),
        };
        let file = sample["file"].as_str().unwrap();
        let body = read(file);
        let headers: Vec<(String, String)> = sample["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        example
            .check(body.as_bytes(), &headers)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let message = example.render(&serde_json::from_str(&body).unwrap(), &headers);
        assert!(!message.text.starts_with("⚠️"), "{file}: {}", message.text);
        for expected in sample["expect"].as_array().unwrap() {
            let expected = expected.as_str().unwrap();
            assert!(
                message.text.contains(expected),
                "{file}: {expected:?} missing from\n{}",
                message.text
            );
        }
        assert_eq!(
            message.group.unwrap_or_default(),
            sample["group"].as_str().unwrap(),
            "{file}"
        );
        assert_eq!(
            message.resolved,
            sample["resolved"].as_bool().unwrap(),
            "{file}"
        );
    }
    assert!(
        families.contains("github") && families.contains("sentry"),
        "{families:?}"
    );
}
