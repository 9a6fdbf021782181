//! The HTTP shape of the public API, independent of API Gateway's event types: routes, the
//! request and response the handlers see, and the success body.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::api::sources::{self, Source, SourceKind, HOOKS_SEGMENT};
use crate::domain::sources::alerts::AlertSource;
use crate::domain::{Context, DeliveryStatus, UnixTime};

#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without its `?`; empty when there is none.
    pub query: String,
    /// Header names in any case; looked up case-insensitively.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_string(body).expect("response bodies always serialise"),
        }
    }

    pub fn error(error: &ApiError) -> Self {
        let mut response = Self::json(error.status(), &error.body());
        if let ApiError::MethodNotAllowed(allowed) = error {
            response.headers.push(("allow".into(), (*allowed).into()));
        }
        if let ApiError::SlowDown = error {
            response.headers.push((
                "retry-after".into(),
                crate::api::error::SLOW_DOWN_SECONDS.to_string(),
            ));
        }
        response
    }

    pub fn accepted(context_id: &str, parameters: &Map<String, Value>) -> Self {
        Self::json(
            200,
            &AcceptedBody {
                ok: true,
                error_code: 200,
                description: "Message sent to queue",
                context: ContextRef {
                    id: context_id,
                    parameters,
                },
            },
        )
    }
}

impl HttpResponse {
    /// The answer to an accepted edit or deletion: queued, to be applied after the send and
    /// the app's earlier changes (the status route shows when it is).
    pub fn change_accepted(context_id: &str, delete: bool) -> Self {
        Self::json(
            200,
            &serde_json::json!({
                "ok": true,
                "error_code": 200,
                "description": if delete { "Deletion sent to queue" } else { "Edit sent to queue" },
                "context": {"id": context_id},
            }),
        )
    }

    /// The answer of the status route. A message still waiting when its context expired
    /// reads `expired`; `sending` is reported as `queued`.
    pub fn status(context: &Context, now: UnixTime) -> Self {
        let status = match context.status {
            // Its window passed while no attempt was left to say so (a job parked after
            // crashes, say): it will not be delivered.
            _ if context.delivery_window_passed(now) => DeliveryStatus::Expired,
            DeliveryStatus::Sending => DeliveryStatus::Queued,
            other => other,
        };
        Self::json(
            200,
            &serde_json::json!({
                "ok": true,
                "error_code": 200,
                "description": "OK",
                "context": {
                    "id": context.id,
                    "status": status.as_str(),
                    "attempts": context.attempts,
                    "last_error": context.last_error,
                    "fchat_message_id": context.fchat_message_id,
                    "created_at": context.created_at,
                    "deliver_by": context.deliver_by,
                    "expires_at": context.expires_at,
                    "parameters": context.parameters,
                    "version": context.conversation.version(),
                    "deleted": context.conversation.deleted,
                    "changes_pending": context.conversation.pending_changes(),
                    "change_error": context.conversation.change_error,
                }
            }),
        )
    }
}

#[derive(Serialize)]
struct AcceptedBody<'a> {
    ok: bool,
    error_code: u16,
    description: &'static str,
    context: ContextRef<'a>,
}

#[derive(Serialize)]
struct ContextRef<'a> {
    id: &'a str,
    parameters: &'a Map<String, Value>,
}

/// The send API's routes. Paths may carry the contract's `/webhooks` base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /{app_name}/{token}`
    GroupMessage { app: String, token: String },
    /// `POST /{token}/fchat`
    UserMessage { token: String },
    /// `GET /{token}/messages/{context_id}`
    MessageStatus { token: String, context_id: String },
    /// `PATCH /{token}/messages/{context_id}`: edits the message.
    EditMessage { token: String, context_id: String },
    /// `DELETE /{token}/messages/{context_id}`: deletes the message.
    DeleteMessage { token: String, context_id: String },
    /// `POST /{app_name}/{token}/{source}`, or `POST /{app_name}/{source}` with the token in
    /// `Authorization: Bearer` (`token` is `None`): an alert notification in the source's own
    /// format. A source's name is never a token, so these never shadow the routes above.
    Alerts {
        app: String,
        token: Option<String>,
        source: AlertSource,
    },
    /// `POST /{app_name}/{token}/sns`: Amazon SNS's HTTPS deliveries (`token` is `None` for
    /// `POST /{app_name}/sns`, the token then in a header).
    Sns { app: String, token: Option<String> },
    /// `POST /{app_name}/events` with the token in `Authorization: Bearer` or `x-api-key`, or
    /// `POST /{app_name}/{token}/events`: an EventBridge event.
    Events { app: String, token: Option<String> },
    /// `POST /{app_name}/{token}/hooks/{name}`, or `POST /{app_name}/hooks/{name}` with the
    /// token in `Authorization: Bearer`: one of the app's custom sources.
    Hook {
        app: String,
        token: Option<String>,
        name: String,
    },
}

impl Route {
    pub fn parse(method: &str, path: &str) -> Result<Route, ApiError> {
        let mut segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if segments.len() >= 3 && segments[0] == BASE_PATH_SEGMENT {
            segments.remove(0);
        }
        let route = match segments.as_slice() {
            [token, "messages", id] if !token.is_empty() && !id.is_empty() => {
                let (token, context_id) = ((*token).to_owned(), (*id).to_owned());
                return match method.to_ascii_uppercase().as_str() {
                    "GET" => Ok(Route::MessageStatus { token, context_id }),
                    "PATCH" => Ok(Route::EditMessage { token, context_id }),
                    "DELETE" => Ok(Route::DeleteMessage { token, context_id }),
                    _ => Err(ApiError::MethodNotAllowed(MESSAGE_METHODS)),
                };
            }
            [token, "fchat"] if !token.is_empty() => Route::UserMessage {
                token: (*token).to_owned(),
            },
            [app, token, HOOKS_SEGMENT, name]
                if !app.is_empty() && !token.is_empty() && !name.is_empty() =>
            {
                Route::Hook {
                    app: (*app).to_owned(),
                    token: Some((*token).to_owned()),
                    name: (*name).to_owned(),
                }
            }
            [app, HOOKS_SEGMENT, name] if !app.is_empty() && !name.is_empty() => Route::Hook {
                app: (*app).to_owned(),
                token: None,
                name: (*name).to_owned(),
            },
            [app, token, segment] if !app.is_empty() && !token.is_empty() => {
                match sources::by_segment(segment) {
                    Some(source) => source_route(source, app, Some(token)),
                    None => return Err(ApiError::RouteNotFound),
                }
            }
            [app, segment] if !app.is_empty() && sources::is_source_segment(segment) => {
                let source = sources::by_segment(segment).expect("matched above");
                source_route(source, app, None)
            }
            [app, token] if !app.is_empty() && !token.is_empty() => Route::GroupMessage {
                app: (*app).to_owned(),
                token: (*token).to_owned(),
            },
            _ => return Err(ApiError::RouteNotFound),
        };
        if !method.eq_ignore_ascii_case("POST") {
            return Err(ApiError::MethodNotAllowed("POST"));
        }
        Ok(route)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Route::GroupMessage { .. } => "group_message",
            Route::UserMessage { .. } => "user_message",
            Route::MessageStatus { .. } => "message_status",
            Route::EditMessage { .. } => "message_edit",
            Route::DeleteMessage { .. } => "message_delete",
            Route::Alerts { source, .. } => source.name(),
            Route::Sns { .. } => crate::domain::sources::aws_events::SNS_ROUTE,
            Route::Events { .. } => crate::domain::sources::aws_events::EVENTS_ROUTE,
            Route::Hook { .. } => HOOKS_SEGMENT,
        }
    }
}

/// The route of a source in the registry, its token in the path or not.
fn source_route(source: &Source, app: &str, token: Option<&str>) -> Route {
    let (app, token) = (app.to_owned(), token.map(str::to_owned));
    match source.kind {
        SourceKind::Alerts(source) => Route::Alerts { app, token, source },
        SourceKind::Sns => Route::Sns { app, token },
        SourceKind::Events => Route::Events { app, token },
        // `/{app}/{token}/hooks` names no custom source.
        SourceKind::Hooks => Route::Hook {
            app,
            token,
            name: String::new(),
        },
    }
}

/// The contract's base URL ends in `/webhooks`; deployments may keep it or not.
const BASE_PATH_SEGMENT: &str = "webhooks";

/// The methods of `/{token}/messages/{id}` (its `Allow` header).
pub const MESSAGE_METHODS: &str = "GET, PATCH, DELETE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_contract() {
        assert_eq!(
            Route::parse("POST", "/MY_APP/MY_TOKEN"),
            Ok(Route::GroupMessage {
                app: "MY_APP".into(),
                token: "MY_TOKEN".into()
            })
        );
        assert_eq!(
            Route::parse("POST", "/MY_TOKEN/fchat"),
            Ok(Route::UserMessage {
                token: "MY_TOKEN".into()
            })
        );
    }

    #[test]
    fn the_webhooks_base_path_is_accepted() {
        assert_eq!(
            Route::parse("POST", "/webhooks/MY_APP/MY_TOKEN"),
            Ok(Route::GroupMessage {
                app: "MY_APP".into(),
                token: "MY_TOKEN".into()
            })
        );
        assert_eq!(
            Route::parse("post", "/webhooks/T/fchat"),
            Ok(Route::UserMessage { token: "T".into() })
        );
        // An app may itself be called "webhooks".
        assert_eq!(
            Route::parse("POST", "/webhooks/T"),
            Ok(Route::GroupMessage {
                app: "webhooks".into(),
                token: "T".into()
            })
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        assert_eq!(
            Route::parse("GET", "/webhooks/T/messages/c1"),
            Ok(Route::MessageStatus {
                token: "T".into(),
                context_id: "c1".into()
            })
        );
        assert_eq!(
            Route::parse("POST", "/T/messages/c1"),
            Err(ApiError::MethodNotAllowed(MESSAGE_METHODS))
        );
        assert_eq!(
            Route::parse("patch", "/webhooks/T/messages/c1"),
            Ok(Route::EditMessage {
                token: "T".into(),
                context_id: "c1".into()
            })
        );
        assert_eq!(
            Route::parse("DELETE", "/T/messages/c1"),
            Ok(Route::DeleteMessage {
                token: "T".into(),
                context_id: "c1".into()
            })
        );
        let refused = HttpResponse::error(&ApiError::MethodNotAllowed(MESSAGE_METHODS));
        assert!(refused
            .headers
            .contains(&("allow".into(), "GET, PATCH, DELETE".into())));
        assert!(refused
            .body
            .contains("this route accepts GET, PATCH, DELETE only"));
        for path in [
            "/",
            "/one",
            "/a/b/c",
            "/a//",
            "//b",
            "/a/b/c/d",
            "/t/messages//x",
        ] {
            assert_eq!(
                Route::parse("POST", path),
                Err(ApiError::RouteNotFound),
                "{path}"
            );
        }
        assert_eq!(
            Route::parse("GET", "/a/b"),
            Err(ApiError::MethodNotAllowed("POST"))
        );
        let response = HttpResponse::error(&ApiError::MethodNotAllowed("POST"));
        assert_eq!(response.status, 405);
        assert!(response.headers.contains(&("allow".into(), "POST".into())));
    }

    #[test]
    fn empty_and_odd_paths_are_no_route_whatever_the_method() {
        for path in [
            "",
            "/",
            "//",
            "///",
            "/webhooks",
            "/webhooks/",
            "/webhooks//",
            "/a//b",
        ] {
            for method in ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", ""] {
                assert_eq!(
                    Route::parse(method, path),
                    Err(ApiError::RouteNotFound),
                    "{method} {path:?}"
                );
            }
        }
    }

    #[test]
    fn alert_routes_take_the_token_in_the_path_or_a_header() {
        for (source, name) in [
            (AlertSource::Alertmanager, "alertmanager"),
            (AlertSource::Grafana, "grafana"),
        ] {
            for base in ["", "/webhooks"] {
                assert_eq!(
                    Route::parse("POST", &format!("{base}/ops-{name}/t0k3n/{name}")),
                    Ok(Route::Alerts {
                        app: format!("ops-{name}"),
                        token: Some("t0k3n".into()),
                        source
                    })
                );
                assert_eq!(
                    Route::parse("POST", &format!("{base}/sec.team/{name}")),
                    Ok(Route::Alerts {
                        app: "sec.team".into(),
                        token: None,
                        source
                    })
                );
                assert_eq!(
                    Route::parse("GET", &format!("{base}/sec/{name}")),
                    Err(ApiError::MethodNotAllowed("POST"))
                );
            }
            // The contract's routes keep their meaning: the user route of a token, the status
            // route, and an unknown last segment.
            assert_eq!(
                Route::parse("POST", &format!("/{name}/fchat")),
                Ok(Route::UserMessage { token: name.into() })
            );
            assert_eq!(
                Route::parse("GET", &format!("/t/messages/{name}")),
                Ok(Route::MessageStatus {
                    token: "t".into(),
                    context_id: name.into()
                })
            );
            assert_eq!(
                Route::parse("POST", &format!("/a//{name}")),
                Err(ApiError::RouteNotFound)
            );
            assert_eq!(
                Route::parse("POST", &format!("//{name}")),
                Err(ApiError::RouteNotFound)
            );
        }
        assert_eq!(
            Route::parse("POST", "/app/tok/prometheus"),
            Err(ApiError::RouteNotFound)
        );
        assert_eq!(
            Route::parse("POST", "/app/Grafana"),
            Ok(Route::GroupMessage {
                app: "app".into(),
                token: "Grafana".into()
            })
        );
    }

    #[test]
    fn aws_routes_take_the_token_in_the_path_or_a_header() {
        for base in ["", "/webhooks"] {
            assert_eq!(
                Route::parse("POST", &format!("{base}/ops.aws/t0k/sns")),
                Ok(Route::Sns {
                    app: "ops.aws".into(),
                    token: Some("t0k".into())
                })
            );
            assert_eq!(
                Route::parse("POST", &format!("{base}/ops.aws/events")),
                Ok(Route::Events {
                    app: "ops.aws".into(),
                    token: None
                })
            );
            assert_eq!(
                Route::parse("POST", &format!("{base}/ops.aws/t0k/events")),
                Ok(Route::Events {
                    app: "ops.aws".into(),
                    token: Some("t0k".into())
                })
            );
        }
        assert_eq!(
            Route::parse("GET", "/a/t/sns"),
            Err(ApiError::MethodNotAllowed("POST"))
        );
        assert_eq!(
            Route::parse("POST", "/a//sns"),
            Err(ApiError::RouteNotFound)
        );
        assert_eq!(
            Route::parse("POST", "//events"),
            Err(ApiError::RouteNotFound)
        );
        // The contract's routes keep their meaning.
        assert_eq!(
            Route::parse("POST", "/events/fchat"),
            Ok(Route::UserMessage {
                token: "events".into()
            })
        );
        let slow = HttpResponse::error(&ApiError::SlowDown);
        assert_eq!(slow.status, 429);
        assert!(slow.headers.contains(&("retry-after".into(), "5".into())));
    }

    #[test]
    fn success_body_matches_the_contract() {
        let mut parameters = Map::new();
        parameters.insert("ticket".into(), Value::from(7));
        let response = HttpResponse::accepted("abc", &parameters);
        let body: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"ok": true, "error_code": 200, "description": "Message sent to queue",
                               "context": {"id": "abc", "parameters": {"ticket": 7}}})
        );
    }

    #[test]
    fn headers_are_case_insensitive() {
        let request = HttpRequest {
            query: String::new(),
            headers: vec![("idempotency-key".into(), "k1".into())],
            ..Default::default()
        };
        assert_eq!(request.header("Idempotency-Key"), Some("k1"));
        assert_eq!(request.header("Other"), None);
    }
}
