//! The local stack's IAM: every DynamoDB, SQS and SSM request passes through [`IamGate`], a
//! proxy in front of moto that checks it against the policy of whoever signed it, read from
//! `template.yaml` itself, action **and** resource, and answers what a policy does not allow
//! as AWS answers it (`AccessDeniedException`, naming the action and the resource).
//!
//! moto's own IAM enforcement passes `*` as the resource of DynamoDB and SSM calls, so it can
//! check actions only; this gate checks both.
//!
//! Who signs: each function signs with its own access key ([`function_credentials`]); its
//! role is its `Policies` plus what SAM attaches (see [`policy`]). The delivery queue's
//! poller signs as the function it feeds, as Lambda's event source mapping uses the
//! function's role. `fchat-admin` signs as the operator ([`OPERATOR_ACCESS_KEY`]), whose
//! policy is the template's `OperatorPolicy`. The test harness's own setup and inspection
//! sign with [`ROOT_ACCESS_KEY`], which may do anything (the account's administrator).
//! An unknown key is refused as AWS refuses an unknown key.

pub mod policy;
pub mod request;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::template::Template;
use policy::{allows, Resolver, Statement, LOCAL_ACCOUNT, OPERATOR_POLICY};
use request::{classify, Call, Protocol};

/// The access key of the account's administrator: the harness's setup and inspection.
pub const ROOT_ACCESS_KEY: &str = "testing";
/// The access key `fchat-admin` signs with in the local stack: the operator's policy.
pub const OPERATOR_ACCESS_KEY: &str = "AKIALOCALOPERATOR";
/// Every local key's secret (moto checks no signature; the gate reads the key only).
pub const LOCAL_SECRET_KEY: &str = "local-secret";

/// A function's access key in the local stack, from its binary's name.
pub fn function_credentials(binary: &str) -> String {
    let name: String = binary
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    format!("AKIALOCALFN{name}")
}

/// Someone who signs requests, and what they may do.
#[derive(Debug, Clone)]
pub struct Principal {
    /// As AWS names the caller in a refusal: an assumed role's session.
    pub arn: String,
    pub statements: Vec<Statement>,
}

/// Who holds which access key.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    by_key: HashMap<String, Principal>,
}

impl Identities {
    /// Every function of the template under its own role, and the operator under
    /// `OperatorPolicy` when the template has one. `parameters` are the template
    /// parameters' values (the others take their defaults); `prefix` is the one
    /// [`crate::provision::provision`] put before every table's and queue's name.
    pub fn from_template(
        template: &Template,
        parameters: &HashMap<String, String>,
        prefix: &str,
    ) -> Result<Identities> {
        let resolver = Resolver::new(template, parameters, prefix);
        let mut by_key = HashMap::new();
        for function in template.functions()? {
            let key = function_credentials(&function.binary);
            let principal = Principal {
                arn: format!(
                    "arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{}Role/{}",
                    function.logical_id, function.binary
                ),
                statements: resolver.function_statements(&function.logical_id)?,
            };
            if by_key.insert(key.clone(), principal).is_some() {
                bail!("two functions would sign with {key}");
            }
        }
        if template.resource(OPERATOR_POLICY).is_some() {
            by_key.insert(
                OPERATOR_ACCESS_KEY.to_owned(),
                Principal {
                    arn: format!(
                        "arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/fchat-operator/fchat-admin"
                    ),
                    statements: resolver.managed_policy_of_template(OPERATOR_POLICY)?,
                },
            );
        }
        Ok(Identities { by_key })
    }

    fn get(&self, key: &str) -> Option<&Principal> {
        self.by_key.get(key)
    }
}

/// A call the gate refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub principal: String,
    pub action: String,
    pub resource: String,
}

/// What the gate decided about a call.
enum Verdict {
    Allowed,
    UnknownKey,
    Denied(Denial),
}

fn judge(identities: &Identities, call: &Call) -> Verdict {
    let Some(key) = call.access_key.as_deref() else {
        return Verdict::UnknownKey;
    };
    if key == ROOT_ACCESS_KEY {
        return Verdict::Allowed;
    }
    let Some(principal) = identities.get(key) else {
        return Verdict::UnknownKey;
    };
    match call
        .needs
        .iter()
        .find(|(action, resource)| !allows(&principal.statements, action, resource))
    {
        None => Verdict::Allowed,
        Some((action, resource)) => Verdict::Denied(Denial {
            principal: principal.arn.clone(),
            action: action.clone(),
            resource: resource.clone(),
        }),
    }
}

/// The proxy: see the module docs. It stops when dropped.
pub struct IamGate {
    addr: SocketAddr,
    denials: Arc<Mutex<Vec<Denial>>>,
    server: tokio::task::JoinHandle<()>,
}

/// The most refusals a gate remembers (the oldest go first).
const REMEMBERED: usize = 1000;

impl IamGate {
    /// Listens on `addr` and forwards what it allows to `upstream` (moto's URL).
    pub async fn start(
        addr: SocketAddr,
        upstream: &str,
        identities: Identities,
    ) -> Result<IamGate> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let denials = Arc::new(Mutex::new(Vec::new()));
        let client = crate::relay::client();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            identities,
            denials: denials.clone(),
            client,
            usage: std::env::var_os("FCHAT_IAM_USAGE").map(std::path::PathBuf::from),
            writes: tokio::sync::Mutex::new(()),
        });
        let server = fchat_loopback::spawn(listener, move |request, _peer| {
            let shared = shared.clone();
            async move { shared.handle(request).await }
        });
        Ok(IamGate {
            addr,
            denials,
            server,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The calls refused so far, oldest first.
    pub fn denials(&self) -> Vec<Denial> {
        self.denials.lock().expect("denials").clone()
    }
}

impl Drop for IamGate {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Shared {
    upstream: String,
    identities: Identities,
    denials: Arc<Mutex<Vec<Denial>>>,
    client: crate::relay::Client,
    /// `FCHAT_IAM_USAGE`, read once when the gate starts.
    usage: Option<std::path::PathBuf>,
    /// DynamoDB applies each write to an item atomically (a conditional update, an atomic
    /// counter); moto's threaded server does not, so two concurrent updates can read the same
    /// counter. The gate passes DynamoDB's writes on one at a time, so that the local stack
    /// holds DynamoDB's rule.
    writes: tokio::sync::Mutex<()>,
}

/// DynamoDB's operations that write items.
const DYNAMODB_WRITES: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

impl Shared {
    async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let call = classify(header("x-amz-target"), header("authorization"), &body);
        match judge(&self.identities, &call) {
            Verdict::Allowed => record_use(self.usage.as_deref(), &self.identities, &call),
            Verdict::UnknownKey => return Ok(unknown_key(call.protocol)),
            Verdict::Denied(denial) => {
                eprintln!(
                    "local IAM: refused {} {} on {}",
                    denial.principal, denial.action, denial.resource
                );
                let answer = access_denied(call.protocol, &denial);
                let mut denials = self.denials.lock().expect("denials");
                if denials.len() >= REMEMBERED {
                    denials.remove(0);
                }
                denials.push(denial);
                return Ok(answer);
            }
        }
        let dynamodb_write = DYNAMODB_WRITES.contains(&call.operation.as_str())
            && call
                .needs
                .iter()
                .any(|(action, _)| action.starts_with("dynamodb:"));
        let _turn = match dynamodb_write {
            true => Some(self.writes.lock().await),
            false => None,
        };
        let (head, body) = crate::relay::relay(&self.client, &self.upstream, &parts, body).await?;
        Ok(Response::from_parts(head, Full::new(body)))
    }
}

/// With `FCHAT_IAM_USAGE=FILE`, each allowed call of a role is appended to FILE as
/// `role action resource`: after a test run, `sort -u` of it against the template's grants
/// shows a grant no code uses (docs/iam.md).
fn record_use(path: Option<&std::path::Path>, identities: &Identities, call: &Call) {
    let Some(path) = path else {
        return;
    };
    let Some(principal) = call.access_key.as_deref().and_then(|k| identities.get(k)) else {
        return;
    };
    let lines: String = call
        .needs
        .iter()
        .map(|(action, resource)| format!("{} {action} {resource}\n", principal.arn))
        .collect();
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, lines.as_bytes()));
    if let Err(error) = appended {
        eprintln!(
            "local IAM: FCHAT_IAM_USAGE {}: {error}",
            path.to_string_lossy()
        );
    }
}

fn plain(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert("content-type", value);
    }
    if let Ok(value) = uuid::Uuid::new_v4().to_string().parse() {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// AWS's refusal of a call no policy allows, in the shape of the call's protocol.
fn access_denied(protocol: Protocol, denial: &Denial) -> Response<Full<Bytes>> {
    let Denial {
        principal,
        action,
        resource,
    } = denial;
    // SQS writes its actions in lower case in this message.
    let action = match protocol {
        Protocol::SqsJson | Protocol::SqsQuery => action.to_ascii_lowercase(),
        _ => action.clone(),
    };
    let message = format!(
        "User: {principal} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
    );
    error(protocol, "AccessDenied", &message)
}

fn unknown_key(protocol: Protocol) -> Response<Full<Bytes>> {
    error(
        protocol,
        "UnrecognizedClient",
        "The security token included in the request is invalid.",
    )
}

/// An error in each protocol's shape. `kind` is `AccessDenied` or `UnrecognizedClient`.
fn error(protocol: Protocol, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let json_body = |type_name: &str, message_field: &str| {
        serde_json::json!({"__type": type_name, message_field: message}).to_string()
    };
    match (protocol, kind) {
        (Protocol::DynamoDb, "AccessDenied") => plain(
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            json_body("com.amazon.coral.service#AccessDeniedException", "Message"),
        ),
        (Protocol::DynamoDb, _) => plain(
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            json_body(
                "com.amazon.coral.service#UnrecognizedClientException",
                "message",
            ),
        ),
        (Protocol::SqsJson, _) => {
            let code = if kind == "AccessDenied" {
                "AccessDenied"
            } else {
                "InvalidClientTokenId"
            };
            let mut response = plain(
                StatusCode::FORBIDDEN,
                "application/x-amz-json-1.0",
                json_body(&format!("com.amazon.coral.service#{code}"), "message"),
            );
            if let Ok(value) = format!("{code};Sender").parse() {
                response.headers_mut().insert("x-amzn-query-error", value);
            }
            response
        }
        (Protocol::SqsQuery, _) => {
            let code = if kind == "AccessDenied" {
                "AccessDenied"
            } else {
                "InvalidClientTokenId"
            };
            plain(
                StatusCode::FORBIDDEN,
                "text/xml",
                format!(
                    "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message><Detail/></Error></ErrorResponse>",
                    xml_escape(message)
                ),
            )
        }
        (_, "AccessDenied") => plain(
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.1",
            json_body("AccessDeniedException", "message"),
        ),
        _ => plain(
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.1",
            json_body("UnrecognizedClientException", "message"),
        ),
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
