//! For tests: emulated AWS with everything `template.yaml` declares, on a free loopback port.

use std::collections::HashMap;

use anyhow::Result;
use gateway::config::Config;
use gateway::domain::UnixTime;
use gateway::dynamo::DynamoStore;
use gateway::ingest::Ingest;

use crate::admin::Admin;
use crate::iam::{function_credentials, IamGate, Identities, OPERATOR_ACCESS_KEY};
use crate::moto::Moto;
use crate::provision::{provision, Provisioned};
use crate::seed::Seed;
use crate::template::Template;

/// The start of a test double of a function: a bash script that speaks the Lambda Runtime API
/// with curl. `next` long-polls `/next` into `$DIR/body` and `$DIR/headers` and sets `$ID`;
/// `respond response|error` posts stdin for `$ID`. `$DIR` is the process's own directory
/// (instances run side by side) inside `$ROOT`, the script's.
pub const RUNTIME_API_PRELUDE: &str = r#"#!/bin/bash
set -u
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
ROOT="$(dirname "$0")"
DIR="$ROOT/$$"
mkdir -p "$DIR"
next() {
  curl -sS -D "$DIR/headers" -o "$DIR/body" "$API/invocation/next" || exit 1
  ID=$(tr -d '\r' < "$DIR/headers" | awk -F': ' 'tolower($1)=="lambda-runtime-aws-request-id" {print $2}')
}
respond() { curl -sS -o /dev/null -X POST --data-binary @- "$API/invocation/$ID/$1"; }
"#;

/// The bot token of the local stack and the tests.
pub const LOCAL_BOT_TOKEN: &str = "local-bot-token";
/// The secret the local FChat (the simulator) sends to the callback route.
pub const LOCAL_CALLBACK_SECRET: &str = "local-callback-secret";

pub struct LocalAws {
    pub moto: Moto,
    /// Signs as the account's administrator and talks to moto directly: the tests' setup and
    /// inspection. The product's own code runs under its roles through [`LocalAws::gate`].
    pub sdk: aws_config::SdkConfig,
    /// The IAM gate in front of moto: the functions' and the operator's endpoint.
    pub gate: IamGate,
    pub provisioned: Provisioned,
    pub config: Config,
    /// The template the stack was built from and whose policies the gate holds.
    pub template: std::path::PathBuf,
}

impl LocalAws {
    /// Starts moto and creates the template's tables, queues and SecureString parameters (the
    /// local bot token and callback secret) in it, with FChat's URL pointing nowhere.
    pub async fn start() -> Result<LocalAws> {
        Self::start_with_fchat("http://127.0.0.1:9").await
    }

    /// As [`LocalAws::start`], with FChat (or its simulator) at `fchat_url`.
    pub async fn start_with_fchat(fchat_url: &str) -> Result<LocalAws> {
        Self::start_with_template(fchat_url, &crate::workspace_root().join("template.yaml")).await
    }

    /// As [`LocalAws::start_with_fchat`], with the tables, queues and policies of the
    /// template at `template` (a test's altered copy of `template.yaml`, say).
    pub async fn start_with_template(
        fchat_url: &str,
        template: &std::path::Path,
    ) -> Result<LocalAws> {
        let moto = Moto::start()?;
        let sdk = moto.sdk_config().await;
        let parsed = Template::load(template)?;
        let parameters = HashMap::from([
            ("FChatApiUrl".to_owned(), fchat_url.to_owned()),
            ("FCHAT_BOT_TOKEN".to_owned(), LOCAL_BOT_TOKEN.to_owned()),
            (
                "FCHAT_CALLBACK_SECRET".to_owned(),
                LOCAL_CALLBACK_SECRET.to_owned(),
            ),
        ]);
        let provisioned = provision(&sdk, &parsed, "", &parameters).await?;
        let config = Config::from_vars(&provisioned.environment)?;
        let identities = Identities::from_template(&parsed, &parameters, "")?;
        let gate = IamGate::start(([127, 0, 0, 1], 0).into(), &moto.endpoint, identities).await?;
        Ok(LocalAws {
            moto,
            sdk,
            gate,
            provisioned,
            config,
            template: template.to_path_buf(),
        })
    }

    /// An SDK configuration through the IAM gate, signing as `access_key`
    /// ([`function_credentials`], [`OPERATOR_ACCESS_KEY`]).
    pub async fn sdk_as(&self, access_key: &str) -> aws_config::SdkConfig {
        crate::moto::local_sdk_config_as(&self.gate.url(), access_key).await
    }

    /// The environment of a function process: the template's variables and the gate's
    /// endpoint with the function's own credentials.
    pub fn function_environment(&self, binary: &str) -> HashMap<String, String> {
        let mut env = self.provisioned.environment.clone();
        env.extend(crate::moto::local_aws_environment(
            &self.gate.url(),
            &function_credentials(binary),
        ));
        env
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// The store on the template's tables.
    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb(), self.config.tables.clone())
    }

    /// The send API in process, wired as the `ingest` function wires it, on these tables and
    /// this delivery queue, under the ingest function's role.
    pub async fn ingest(&self) -> Result<Ingest> {
        let sdk = self.sdk_as(&function_credentials("ingest")).await;
        Ok(gateway::wiring::ingest(&sdk, &self.config).await?)
    }

    /// `fchat-admin`'s code on these tables and queues (the dead-letter queue included), as it
    /// runs against a deployed stack: under the operator's policy, webhooks must be https, and
    /// no simulator is told about groups. `now` is its clock.
    pub async fn admin(&self, now: fn() -> UnixTime) -> Admin {
        let sdk = self.sdk_as(OPERATOR_ACCESS_KEY).await;
        Admin {
            store: DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                self.config.tables.clone(),
            ),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            delivery_queue_url: self.config.delivery_queue_url.clone(),
            dead_letter_queue_url: Some(
                self.provisioned.queue_urls["DeliveryDeadLetterQueue"].clone(),
            ),
            local: false,
            simulator_url: None,
            now,
            lookup: std::sync::Arc::new(gateway::adapters::webhook::guard::SystemLookup),
        }
    }

    /// Sets a queue's visibility timeout: how long a received message stays hidden before it
    /// reappears.
    pub async fn set_visibility_timeout(&self, queue_url: &str, seconds: u64) -> Result<()> {
        self.sqs()
            .set_queue_attributes()
            .queue_url(queue_url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                seconds.to_string(),
            )
            .send()
            .await?;
        Ok(())
    }

    /// Every job on the delivery queue now, each once: received with a minute's visibility
    /// timeout, so that a test reads them all (they come back after it).
    pub async fn queued_jobs(&self) -> Result<Vec<gateway::job::Job>> {
        let sqs = self.sqs();
        let mut seen = std::collections::HashSet::new();
        let mut jobs = Vec::new();
        loop {
            let received = sqs
                .receive_message()
                .queue_url(&self.config.delivery_queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .send()
                .await?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(jobs);
            }
            for message in messages {
                if seen.insert(message.message_id.clone()) {
                    let body = message.body().unwrap_or_default();
                    jobs.push(gateway::job::Job::from_json(body)?);
                }
            }
        }
    }

    /// Receives what is on a queue now (up to 10 messages), leaving it there.
    pub async fn peek(&self, queue_url: &str) -> Result<Vec<String>> {
        let output = self
            .sqs()
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect())
    }
}

/// How [`Stack`] runs the functions.
#[derive(Debug, Clone)]
pub struct FunctionOptions {
    /// Every function's timeout.
    pub timeout: std::time::Duration,
    /// How many instances of each function may run at once. The delivery poller keeps at
    /// most this many batches in flight (and at most its event source's `MaximumConcurrency`).
    pub max_instances: usize,
}

impl Default for FunctionOptions {
    /// 30 seconds, one instance per function.
    fn default() -> Self {
        FunctionOptions {
            timeout: std::time::Duration::from_secs(30),
            max_instances: 1,
        }
    }
}

/// The whole product on loopback, for end-to-end tests: moto with the template's tables and
/// queues, the FChat simulator, the real function binaries under the Lambda runtime emulator,
/// the local API gateway in front of them, and the delivery queue's poller.
pub struct Stack {
    pub aws: LocalAws,
    pub fchat: fchat_simulator::Simulator,
    pub host: std::sync::Arc<crate::runtime::LambdaHost>,
    pub invoker: crate::invoke::Invoker,
    /// The local API gateway's base URL.
    pub api: String,
    pub options: FunctionOptions,
    /// The delivery queue's event source, as the template declares it.
    delivery_source: crate::template::QueueSource,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

impl Stack {
    /// Starts everything, with the functions named by binary (`("ingest", path)`), and loads
    /// the seed's tenants; the simulator knows the seed's users and group chats.
    pub async fn start(
        functions: &[(&str, &std::path::Path)],
        seed: &crate::seed::Seed,
    ) -> Result<Stack> {
        let (aws, fchat) = Self::start_services(seed).await?;
        Self::start_functions(aws, fchat, functions, HashMap::new()).await
    }

    /// [`Stack::start`] with one function, named after its binary (`.../ingest`: `ingest`).
    pub async fn start_one(binary: &std::path::Path, seed: &Seed) -> Result<Stack> {
        let name = binary
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| anyhow::anyhow!("{} names no function", binary.display()))?;
        Self::start(&[(name, binary)], seed).await
    }

    /// [`Stack::start`] with the `callback` binary and the `delivery` binary built beside it
    /// (see [`sibling_binary`]); the simulator's users act towards the callback route
    /// ([`Stack::route_callbacks_here`]).
    pub async fn start_with_callback(callback: &std::path::Path, seed: &Seed) -> Result<Stack> {
        let stack = Self::start(
            &[
                ("callback", callback),
                ("delivery", &sibling_binary(callback, "delivery")),
            ],
            seed,
        )
        .await?;
        stack.route_callbacks_here();
        Ok(stack)
    }

    /// The whole product: [`Stack::start`] with the `ingest`, `delivery` and `callback`
    /// binaries built beside `built` (see [`sibling_binary`]), the simulator's users acting
    /// towards the callback route.
    pub async fn start_all(built: &std::path::Path, seed: &Seed) -> Result<Stack> {
        let functions = ["ingest", "delivery", "callback"].map(|f| (f, sibling_binary(built, f)));
        let functions: Vec<(&str, &std::path::Path)> =
            functions.iter().map(|(f, p)| (*f, p.as_path())).collect();
        let stack = Self::start(&functions, seed).await?;
        stack.route_callbacks_here();
        Ok(stack)
    }

    /// Makes the simulator's users act towards this stack's callback route, with the local
    /// callback secret, as `make dev` has them.
    pub fn route_callbacks_here(&self) {
        self.fchat.set_callback(
            format!("{}/callback/fchat", self.api),
            LOCAL_CALLBACK_SECRET.into(),
        );
    }

    /// The first half of [`Stack::start`]: the simulator (knowing the seed's users and its
    /// groups' chats) and moto
    /// with the template's tables and queues and the seed's tenants.
    pub async fn start_services(
        seed: &crate::seed::Seed,
    ) -> Result<(LocalAws, fchat_simulator::Simulator)> {
        Self::start_services_with_template(seed, &crate::workspace_root().join("template.yaml"))
            .await
    }

    /// [`Stack::start_services`] on the template at `template`: its tables, queues, routes and
    /// policies (a test's altered copy of `template.yaml`).
    pub async fn start_services_with_template(
        seed: &crate::seed::Seed,
        template: &std::path::Path,
    ) -> Result<(LocalAws, fchat_simulator::Simulator)> {
        let users = seed
            .users
            .iter()
            .map(|u| fchat_simulator::SimUser {
                email: u.email.clone(),
                id: u.fchat_id.clone(),
                name: u.name.clone(),
            })
            .collect();
        let groups = seed
            .groups
            .iter()
            .filter_map(|g| g.beatchat_id.clone())
            .collect();
        let fchat = fchat_simulator::Simulator::start(
            ([127, 0, 0, 1], 0).into(),
            fchat_simulator::SimulatorConfig {
                bot_token: LOCAL_BOT_TOKEN.into(),
                users,
                groups,
            },
        )
        .await?;
        let aws = LocalAws::start_with_template(&fchat.url(), template).await?;
        let store = aws.store();
        seed.load_into(&store, &store).await?;
        Ok((aws, fchat))
    }

    /// The second half of [`Stack::start`]: the functions under the runtime emulator, the
    /// invoke API and the API gateway. `extra_env` is added to (and overrides) the functions'
    /// environment.
    pub async fn start_functions(
        aws: LocalAws,
        fchat: fchat_simulator::Simulator,
        functions: &[(&str, &std::path::Path)],
        extra_env: HashMap<String, String>,
    ) -> Result<Stack> {
        Self::start_functions_with(aws, fchat, functions, extra_env, FunctionOptions::default())
            .await
    }

    /// [`Stack::start_functions`] with the functions' timeout and concurrency.
    pub async fn start_functions_with(
        aws: LocalAws,
        fchat: fchat_simulator::Simulator,
        functions: &[(&str, &std::path::Path)],
        extra_env: HashMap<String, String>,
        options: FunctionOptions,
    ) -> Result<Stack> {
        use std::sync::Arc;

        let mut env = HashMap::new();
        env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
        // The functions' logs go to the test's output: warnings and errors only.
        env.insert("AWS_LAMBDA_LOG_LEVEL".into(), "WARN".into());
        // Retries a second apart, so that retry scenarios finish quickly.
        env.insert("DELIVERY_MAX_RETRY_DELAY_SECONDS".into(), "1".into());
        env.insert("FORWARD_MAX_RETRY_DELAY_SECONDS".into(), "1".into());
        // The simulator's rate limits are off unless a test turns them on; so is pacing (a
        // test of FChat's limits passes FCHAT_PACING=on in `extra_env`).
        env.insert("FCHAT_PACING".into(), "off".into());
        // The tests' app webhooks listen on loopback.
        env.insert("WEBHOOK_ALLOW_LOOPBACK".into(), "true".into());
        // The tests serve SNS's certificate and SubscribeURL on loopback themselves.
        env.insert("SNS_ALLOW_LOOPBACK".into(), "true".into());
        env.extend(extra_env);
        let specs = functions
            .iter()
            .map(|(name, binary)| crate::runtime::FunctionSpec {
                name: (*name).to_owned(),
                binary: binary.to_path_buf(),
                // Each function under its own role, through the IAM gate.
                env: aws
                    .function_environment(name)
                    .into_iter()
                    .chain(env.clone())
                    .collect(),
                timeout: options.timeout,
                max_instances: options.max_instances.max(1),
            })
            .collect();
        let host = Arc::new(crate::runtime::LambdaHost::start(specs).await?);
        let invoke_addr = host
            .clone()
            .serve_invoke_api(([127, 0, 0, 1], 0).into())
            .await?;
        let invoker = crate::invoke::Invoker::new(format!("http://{invoke_addr}"));
        let template = Template::load(&aws.template)?;
        let delivery_source = template
            .queue_sources()?
            .into_iter()
            .find(|s| s.function == "delivery")
            .ok_or_else(|| anyhow::anyhow!("template.yaml has no event source for delivery"))?;
        let api_addr = crate::gateway::LocalGateway::new(template.http_routes()?, invoker.clone())
            .serve(([127, 0, 0, 1], 0).into())
            .await?;
        Ok(Stack {
            aws,
            fchat,
            host,
            invoker,
            api: format!("http://{api_addr}"),
            options,
            delivery_source,
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
        })
    }

    /// A poller of the delivery queue, as the template's event source declares it: its batch
    /// size, and as many batches in flight as its `MaximumConcurrency` and the functions'
    /// `max_instances` allow; it gives up on an invocation after the functions' timeout plus
    /// [`crate::poller::INVOKE_MARGIN`].
    pub async fn delivery_poller(&self) -> crate::poller::Poller {
        let source = &self.delivery_source;
        // The event source mapping polls with the function's role.
        let sdk = self
            .aws
            .sdk_as(&function_credentials(&source.function))
            .await;
        crate::poller::Poller {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            queue_url: self.aws.config.delivery_queue_url.clone(),
            queue_arn: self.aws.provisioned.queue_arns[&source.queue].clone(),
            function: source.function.clone(),
            invoker: self.invoker.clone(),
            batch_size: source.batch_size,
            concurrency: source
                .max_concurrency
                .unwrap_or(crate::poller::DEFAULT_CONCURRENCY)
                .min(self.options.max_instances)
                .max(1),
            invoke_timeout: self.options.timeout + crate::poller::INVOKE_MARGIN,
        }
    }

    /// `fchat-admin`'s code as `make dev` runs it: on this stack's tables and queues, loopback
    /// webhooks allowed, a group's FChat chat created in this stack's simulator.
    pub async fn admin(&self, now: fn() -> UnixTime) -> Admin {
        Admin {
            local: true,
            simulator_url: Some(self.fchat.url()),
            ..self.aws.admin(now).await
        }
    }

    /// Sends a request to the local API gateway; answers the status, the JSON body and the headers.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, serde_json::Value, hyper::HeaderMap)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.request_bytes(method, path, body.as_bytes(), headers)
            .await
    }

    /// As [`Stack::request`], with the body's bytes as given (a signed body, a body that is not
    /// JSON).
    pub async fn request_bytes(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<(u16, serde_json::Value, hyper::HeaderMap)> {
        use http_body_util::BodyExt;

        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.api))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .http
            .request(
                request.body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
                    body,
                )))?,
            )
            .await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await?.to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status, json, headers))
    }

    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value)> {
        let (status, json, _) = self.request("POST", path, Some(body), &[]).await?;
        Ok((status, json))
    }

    pub async fn get(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        let (status, json, _) = self.request("GET", path, None, &[]).await?;
        Ok((status, json))
    }
}

/// The seed `make dev` loads: `infra/local/seed.json`.
pub fn dev_seed() -> Result<Seed> {
    Seed::load(&crate::workspace_root().join("infra/local/seed.json"))
}

/// Another function's binary, beside the one a test was built with (`env!("CARGO_BIN_EXE_...")`):
/// `cargo test --workspace` builds every function.
pub fn sibling_binary(built: &std::path::Path, function: &str) -> std::path::PathBuf {
    let path = built.with_file_name(function);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p {function}` (make test does)",
        path.display()
    );
    path
}
