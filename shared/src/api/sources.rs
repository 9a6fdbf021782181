//! The sources registry: every tool that posts to the gateway in its own format, in one table.
//!
//! A source's row names the path segment it posts to, what it may authenticate with when the
//! token is not in its path, what a body that is not of its kind is refused with, the message
//! templates it renders with, and where the public documents describe it. Routing reads the
//! table ([`crate::api::http::Route::parse`]); this module's tests hold the OpenAPI document,
//! the error catalogue and `docs/sources.md` to it, and `fchat-admin`'s template help is built
//! from the same template kinds.
//!
//! Adding a source: its parser and default template in `domain/`, one row here, its OpenAPI
//! paths and its docs (the tests below say what is missing).

use crate::api::error::ApiError;
use crate::domain::sources::alerts::AlertSource;

/// What a source's requests are turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An alert notification (Alertmanager, Grafana): one message per alert group.
    Alerts(AlertSource),
    /// Amazon SNS's HTTPS deliveries: subscription handshakes and notifications.
    Sns,
    /// An EventBridge event (API destinations).
    Events,
    /// An app's own custom source: `/hooks/{name}`, rendered by its template.
    Hooks,
}

/// What a request may carry its token in when the path has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHeader {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `x-api-key: <token>` (EventBridge connections, SNS through a header).
    ApiKey,
}

/// One row of the registry.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path segment after `/{app}/{token}` (or `/{app}` with the token in a header); also
    /// the route's name in logs and metrics.
    pub segment: &'static str,
    pub kind: SourceKind,
    /// Where the token may be when the path has none, in the order tried.
    pub token_headers: &'static [TokenHeader],
    /// The refusal of a body that is not of this source.
    pub not_its_body: ApiError,
    /// The paths `docs/openapi.yaml` describes it under.
    pub openapi_paths: &'static [&'static str],
}

/// Every source, in the order the docs list them.
pub const SOURCES: [Source; 5] = [
    Source {
        segment: "alertmanager",
        kind: SourceKind::Alerts(AlertSource::Alertmanager),
        token_headers: &[TokenHeader::Bearer],
        not_its_body: ApiError::NotAlertmanagerPayload,
        openapi_paths: &["/{app_name}/{token}/alertmanager"],
    },
    Source {
        segment: "grafana",
        kind: SourceKind::Alerts(AlertSource::Grafana),
        token_headers: &[TokenHeader::Bearer],
        not_its_body: ApiError::NotGrafanaPayload,
        openapi_paths: &["/{app_name}/{token}/grafana"],
    },
    Source {
        segment: crate::domain::sources::aws_events::SNS_ROUTE,
        kind: SourceKind::Sns,
        token_headers: &[TokenHeader::Bearer, TokenHeader::ApiKey],
        not_its_body: ApiError::NotSnsMessage,
        openapi_paths: &["/{app_name}/{token}/sns"],
    },
    Source {
        segment: crate::domain::sources::aws_events::EVENTS_ROUTE,
        kind: SourceKind::Events,
        token_headers: &[TokenHeader::Bearer, TokenHeader::ApiKey],
        not_its_body: ApiError::NotAnEvent,
        openapi_paths: &["/{app_name}/events", "/{app_name}/{token}/events"],
    },
    Source {
        segment: HOOKS_SEGMENT,
        kind: SourceKind::Hooks,
        token_headers: &[TokenHeader::Bearer],
        not_its_body: ApiError::BodyNotObject,
        openapi_paths: &["/{app_name}/{token}/hooks/{source}"],
    },
];

impl Source {
    /// The template kinds `fchat-admin app set-template` takes for it (none: a custom source's
    /// template is set with the source itself).
    pub fn template_kinds(&self) -> Vec<&'static str> {
        use crate::domain::sources::aws_events::AwsKind;
        match self.kind {
            SourceKind::Alerts(source) => vec![source.name()],
            SourceKind::Sns | SourceKind::Events => AwsKind::ALL.map(AwsKind::name).to_vec(),
            SourceKind::Hooks => Vec::new(),
        }
    }

    /// The route's name in logs and metrics.
    pub fn route_name(&self) -> &'static str {
        self.segment
    }
}

/// The segment before a custom source's name: `/{app}/{token}/hooks/{name}`.
pub const HOOKS_SEGMENT: &str = "hooks";

/// The source posting to `segment`, if one does.
pub fn by_segment(segment: &str) -> Option<&'static Source> {
    SOURCES.iter().find(|source| source.segment == segment)
}

/// Whether `segment` names a source: such a word is never a token, nor an app's name that
/// could be read as one.
pub fn is_source_segment(segment: &str) -> bool {
    by_segment(segment).is_some()
}

#[cfg(test)]
mod tests;
