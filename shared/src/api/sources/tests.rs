use std::collections::BTreeSet;

use super::*;
use crate::api::http::Route;

fn repository_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The paths `docs/openapi.yaml` describes: its keys two spaces deep under `paths:`.
fn openapi_paths() -> BTreeSet<String> {
    let document = repository_file("docs/openapi.yaml");
    let paths = document
        .split("\npaths:\n")
        .nth(1)
        .expect("a paths section");
    paths
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .filter_map(|line| line.strip_prefix("  /"))
        .filter(|line| !line.starts_with(' '))
        .map(|line| format!("/{}", line.trim_end().trim_end_matches(':')))
        .collect()
}

/// A concrete path for an OpenAPI path template, with names nobody chose for a fixture.
fn concrete(path: &str) -> String {
    path.replace("{app_name}", "night-shift.ops")
        .replace("{token}", "Zq9-token_4x")
        .replace("{source}", "build-bot_7")
}

#[test]
fn every_source_is_in_the_openapi_document() {
    let documented = openapi_paths();
    assert!(documented.contains("/{app_name}/{token}"), "{documented:?}");
    for source in &SOURCES {
        for path in source.openapi_paths {
            assert!(
                documented.contains(*path),
                "docs/openapi.yaml has no {path} for the {} source",
                source.segment
            );
        }
    }
}

#[test]
fn every_source_path_in_the_openapi_document_is_in_the_registry() {
    let registered: BTreeSet<&str> = SOURCES
        .iter()
        .flat_map(|source| source.openapi_paths.iter().copied())
        .collect();
    for path in openapi_paths() {
        let literal_source = path
            .split('/')
            .skip(2)
            .any(|segment| !segment.starts_with('{') && is_source_segment(segment));
        if literal_source {
            assert!(
                registered.contains(path.as_str()),
                "docs/openapi.yaml describes {path}, a source no row of SOURCES names"
            );
        }
    }
}

#[test]
fn each_documented_path_routes_to_its_source() {
    for source in &SOURCES {
        for path in source.openapi_paths {
            let route =
                Route::parse("POST", &concrete(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(route.name(), source.route_name(), "{path}");
            assert_eq!(
                Route::parse("POST", &format!("/webhooks{}", concrete(path)))
                    .unwrap()
                    .name(),
                source.route_name()
            );
            assert!(matches!(
                Route::parse("GET", &concrete(path)),
                Err(ApiError::MethodNotAllowed("POST"))
            ));
        }
    }
}

#[test]
fn a_hook_route_carries_its_name_and_token() {
    assert_eq!(
        Route::parse("POST", "/team-a/tk_91/hooks/gitea-main"),
        Ok(Route::Hook {
            app: "team-a".into(),
            token: Some("tk_91".into()),
            name: "gitea-main".into(),
        })
    );
    assert_eq!(
        Route::parse("POST", "/webhooks/team-a/hooks/gitea-main"),
        Ok(Route::Hook {
            app: "team-a".into(),
            token: None,
            name: "gitea-main".into(),
        })
    );
    // An unknown last word after a token is no route; an empty name is none either.
    assert_eq!(
        Route::parse("POST", "/team-a/tk_91/gitea-main"),
        Err(ApiError::RouteNotFound)
    );
    assert_eq!(
        Route::parse("POST", "/team-a/tk_91/hooks/"),
        Route::parse("POST", "/team-a/tk_91/hooks")
    );
}

#[test]
fn every_source_is_in_the_sources_page() {
    let page = repository_file("docs/sources.md");
    for source in &SOURCES {
        let segment = format!("/{}", source.segment);
        assert!(
            page.contains(&segment),
            "docs/sources.md never names {segment}"
        );
    }
}

#[test]
fn the_registry_names_every_template_kind_once_per_family() {
    use crate::domain::sources::aws_events::TemplateKind;
    let registered: BTreeSet<&str> = SOURCES
        .iter()
        .flat_map(|source| source.template_kinds())
        .collect();
    let known: BTreeSet<&str> = TemplateKind::names().into_iter().collect();
    assert_eq!(registered, known);
    for kind in &registered {
        assert!(TemplateKind::from_name(kind).is_some(), "{kind}");
    }
}

#[test]
fn segments_are_unique_and_a_wrong_body_is_a_400() {
    let segments: BTreeSet<&str> = SOURCES.iter().map(|s| s.segment).collect();
    assert_eq!(segments.len(), SOURCES.len());
    for source in &SOURCES {
        assert_eq!(source.not_its_body.status(), 400, "{}", source.segment);
        assert!(is_source_segment(source.segment));
        // A source's word is never a token, nor taken for the user route's `fchat`.
        assert_ne!(source.segment, "fchat");
        assert_ne!(source.segment, "messages");
    }
    assert!(!is_source_segment("Grafana"));
    assert!(!is_source_segment("fchat"));
}

#[test]
fn every_alert_source_has_its_row() {
    for source in AlertSource::ALL {
        let row =
            by_segment(source.name()).unwrap_or_else(|| panic!("no row of SOURCES for {source}"));
        assert_eq!(row.kind, SourceKind::Alerts(source));
        // Its refusal is the one the alert routes answer.
        assert_eq!(
            crate::api::validate::parse_alerts(source, br#"{"neither": "kind"}"#).err(),
            Some(row.not_its_body.clone())
        );
    }
}
