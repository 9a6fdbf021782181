//! The HTTP shape of the public API, independent of API Gateway's event types: routes, the
//! request and response the handlers see, and the success body.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
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
}

impl Route {
    pub fn parse(method: &str, path: &str) -> Result<Route, ApiError> {
        let mut segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if segments.len() == 3 && segments[0] == BASE_PATH_SEGMENT {
            segments.remove(0);
        }
        let route = match segments.as_slice() {
            [token, "fchat"] if !token.is_empty() => Route::UserMessage {
                token: (*token).to_owned(),
            },
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
        }
    }
}

/// The contract's base URL ends in `/webhooks`; deployments may keep it or not.
const BASE_PATH_SEGMENT: &str = "webhooks";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_contract() {
        assert_eq!(
            Route::parse("POST", "/MY_APP/MY_TOKEN"),
            Ok(Route::GroupMessage { app: "MY_APP".into(), token: "MY_TOKEN".into() })
        );
        assert_eq!(
            Route::parse("POST", "/MY_TOKEN/fchat"),
            Ok(Route::UserMessage { token: "MY_TOKEN".into() })
        );
    }

    #[test]
    fn the_webhooks_base_path_is_accepted() {
        assert_eq!(
            Route::parse("POST", "/webhooks/MY_APP/MY_TOKEN"),
            Ok(Route::GroupMessage { app: "MY_APP".into(), token: "MY_TOKEN".into() })
        );
        assert_eq!(
            Route::parse("post", "/webhooks/T/fchat"),
            Ok(Route::UserMessage { token: "T".into() })
        );
        // An app may itself be called "webhooks".
        assert_eq!(
            Route::parse("POST", "/webhooks/T"),
            Ok(Route::GroupMessage { app: "webhooks".into(), token: "T".into() })
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        for path in ["/", "/one", "/a/b/c", "/a//", "//b", "/a/b/c/d"] {
            assert_eq!(Route::parse("POST", path), Err(ApiError::RouteNotFound), "{path}");
        }
        assert_eq!(Route::parse("GET", "/a/b"), Err(ApiError::MethodNotAllowed("POST")));
        let response = HttpResponse::error(&ApiError::MethodNotAllowed("POST"));
        assert_eq!(response.status, 405);
        assert!(response.headers.contains(&("allow".into(), "POST".into())));
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
            headers: vec![("idempotency-key".into(), "k1".into())],
            ..Default::default()
        };
        assert_eq!(request.header("Idempotency-Key"), Some("k1"));
        assert_eq!(request.header("Other"), None);
    }
}
