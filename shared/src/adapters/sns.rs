//! Amazon SNS's side of an HTTPS subscription: its signing certificates, fetched under SNS's
//! host rule and through the SSRF guard, cached per cold start; the signatures checked with
//! them (rustls-webpki reads the X.509 certificate, aws-lc-rs checks RSA); and subscriptions
//! confirmed by fetching their `SubscribeURL`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
};
use url::Url;

use crate::adapters::webhook::guard::{check_url, is_blocked, webhook_client, OutboundPolicy};
use crate::domain::sources::sns::{check_sns_url, SignatureVersion, SnsEnvelope};
use crate::ports::{SnsGate, SnsRefusal};

/// How long SNS has to hand over a certificate or take a confirmation: well inside
/// EventBridge's and SNS's own timeouts.
pub const SNS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The most of an answer read: a certificate is about 2 kB, a confirmation's answer less.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Certificates kept per cold start; SNS signs with a handful.
const MAX_CACHED_CERTIFICATES: usize = 16;

/// Why a GET did not bring an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The SSRF guard refused the address: not retried.
    Refused(String),
    Failed(String),
}

/// An HTTP GET; a seam so that unit tests can serve certificates from memory.
#[async_trait]
pub trait Fetch: Send + Sync {
    async fn get(&self, url: Url) -> Result<Vec<u8>, FetchError>;
}

/// GETs through the SSRF guard's client: no redirects, no proxy, every address checked.
pub struct HttpFetch {
    client: reqwest::Client,
    policy: OutboundPolicy,
}

impl HttpFetch {
    pub fn new(policy: OutboundPolicy, timeout: Duration) -> Self {
        HttpFetch {
            client: webhook_client(policy, timeout),
            policy,
        }
    }
}

#[async_trait]
impl Fetch for HttpFetch {
    async fn get(&self, url: Url) -> Result<Vec<u8>, FetchError> {
        // An address written in the URL is never resolved: the guard checks it here.
        let url = check_url(url.as_str(), self.policy)
            .map_err(|blocked| FetchError::Refused(blocked.to_string()))?;
        let mut response = self
            .client
            .get(url)
            .header(
                "user-agent",
                concat!("fchat-gateway/", env!("CARGO_PKG_VERSION")),
            )
            .send()
            .await
            .map_err(|error| {
                let blocked = is_blocked(&error);
                let text = error.without_url().to_string();
                if blocked {
                    FetchError::Refused(text)
                } else {
                    FetchError::Failed(text)
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Failed(format!("answered {}", status.as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Failed(e.without_url().to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                return Err(FetchError::Failed("the answer is too large".into()));
            }
        }
        Ok(body)
    }
}

/// SNS's signatures and confirmations.
pub struct SnsClient {
    fetch: Arc<dyn Fetch>,
    /// The local stack's `SNS_ALLOW_LOOPBACK`: certificates and confirmations may be served
    /// over http on 127.0.0.1. Never set in a deployment.
    allow_loopback: bool,
    /// DER certificates by URL, for this cold start.
    certificates: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl SnsClient {
    /// Over HTTP, through the SSRF guard (which allows loopback only when `allow_loopback`).
    pub fn new(allow_loopback: bool) -> Self {
        let policy = OutboundPolicy { allow_loopback };
        Self::with_fetch(
            Arc::new(HttpFetch::new(policy, SNS_FETCH_TIMEOUT)),
            allow_loopback,
        )
    }

    pub fn with_fetch(fetch: Arc<dyn Fetch>, allow_loopback: bool) -> Self {
        SnsClient {
            fetch,
            allow_loopback,
            certificates: Mutex::new(HashMap::new()),
        }
    }

    fn url(&self, raw: &str, what: &str) -> Result<Url, SnsRefusal> {
        check_sns_url(raw, self.allow_loopback)
            .map_err(|error| SnsRefusal::Forged(format!("{what}: {error}")))
    }

    /// The certificate at `raw` (a `SigningCertURL`), from the cache or fetched.
    async fn certificate(&self, raw: &str) -> Result<Arc<Vec<u8>>, SnsRefusal> {
        let url = self.url(raw, "SigningCertURL")?;
        if let Some(found) = self.cached(url.as_str()) {
            return Ok(found);
        }
        let pem = self
            .fetch
            .get(url.clone())
            .await
            .map_err(|error| match error {
                FetchError::Refused(why) => SnsRefusal::Forged(format!("SigningCertURL: {why}")),
                FetchError::Failed(why) => {
                    SnsRefusal::Unavailable(format!("the signing certificate: {why}"))
                }
            })?;
        let der = CertificateDer::from_pem_slice(&pem)
            .map_err(|_| SnsRefusal::Forged("the signing certificate is not PEM".into()))?;
        webpki::EndEntityCert::try_from(&der)
            .map_err(|_| SnsRefusal::Forged("the signing certificate cannot be read".into()))?;
        let der = Arc::new(der.as_ref().to_vec());
        if let Ok(mut cache) = self.certificates.lock() {
            if cache.len() >= MAX_CACHED_CERTIFICATES {
                cache.clear();
            }
            cache.insert(url.to_string(), der.clone());
        }
        Ok(der)
    }

    fn cached(&self, url: &str) -> Option<Arc<Vec<u8>>> {
        self.certificates.lock().ok()?.get(url).cloned()
    }
}

#[async_trait]
impl SnsGate for SnsClient {
    async fn verify(&self, envelope: &SnsEnvelope) -> Result<(), SnsRefusal> {
        let certificate = self.certificate(&envelope.signing_cert_url).await?;
        verify_signature(
            &certificate,
            envelope.signature_version,
            envelope.string_to_sign().as_bytes(),
            &envelope.signature,
        )
        .map_err(SnsRefusal::Forged)
    }

    async fn confirm(&self, envelope: &SnsEnvelope) -> Result<(), SnsRefusal> {
        let raw = envelope
            .subscribe_url
            .as_deref()
            .ok_or_else(|| SnsRefusal::Forged("no SubscribeURL".into()))?;
        let url = self.url(raw, "SubscribeURL")?;
        match self.fetch.get(url).await {
            Ok(_) => Ok(()),
            Err(FetchError::Refused(why)) => {
                Err(SnsRefusal::Forged(format!("SubscribeURL: {why}")))
            }
            Err(FetchError::Failed(why)) => Err(SnsRefusal::Unavailable(format!(
                "confirming the subscription: {why}"
            ))),
        }
    }
}

/// SHA1withRSA (PKCS #1 v1.5), which SNS's `SignatureVersion` 1 uses and rustls-webpki does
/// not offer: aws-lc-rs's legacy verifier, for this one purpose.
#[derive(Debug)]
struct RsaPkcs1Sha1;

/// `sha1WithRSAEncryption` (1.2.840.113549.1.1.5) with its NULL parameters, as an
/// AlgorithmIdentifier's contents.
const RSA_PKCS1_SHA1: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
]);

impl SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        RSA_PKCS1_SHA1
    }
}

/// Checks SNS's `signature` (base64) of `message` with the certificate's RSA key. The error
/// says why, for the log.
pub fn verify_signature(
    certificate_der: &[u8],
    version: SignatureVersion,
    message: &[u8],
    signature: &str,
) -> Result<(), String> {
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| "the signature is not base64".to_owned())?;
    let der = CertificateDer::from(certificate_der);
    let certificate = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| "the signing certificate cannot be read".to_owned())?;
    let algorithm: &dyn SignatureVerificationAlgorithm = match version {
        SignatureVersion::Sha1 => &RsaPkcs1Sha1,
        SignatureVersion::Sha256 => webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    };
    certificate
        .verify_signature(algorithm, message, &signature)
        .map_err(|_| "the signature does not verify".to_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::sources::sns::SnsType;

    /// The tests' own signing certificate and key (never trusted outside tests).
    pub const TEST_CERT_PEM: &str =
        include_str!("../../tests/fixtures/sns/test-only-signing-cert.pem");
    pub const TEST_KEY_PEM: &str =
        include_str!("../../tests/fixtures/sns/test-only-signing-key.pem");
    pub const TEST_CERT_URL: &str =
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test-only.pem";

    /// Signs `envelope` as SNS does, with the tests' key (SHA256withRSA, version 2).
    pub fn sign_v2(envelope: &mut SnsEnvelope) {
        use rustls_pki_types::PrivateKeyDer;
        let key = PrivateKeyDer::from_pem_slice(TEST_KEY_PEM.as_bytes()).unwrap();
        let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(key.secret_der()).unwrap();
        let mut signature = vec![0; pair.public_modulus_len()];
        envelope.signature_version = SignatureVersion::Sha256;
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            envelope.string_to_sign().as_bytes(),
            &mut signature,
        )
        .unwrap();
        envelope.signature = base64::engine::general_purpose::STANDARD.encode(signature);
    }

    /// Serves URLs from memory and counts the requests.
    #[derive(Default)]
    pub struct MemoryFetch {
        pub answers: Mutex<HashMap<String, Vec<u8>>>,
        pub requested: Mutex<Vec<String>>,
    }

    impl MemoryFetch {
        pub fn serving_test_certificate() -> Arc<MemoryFetch> {
            let fetch = MemoryFetch::default();
            fetch
                .answers
                .lock()
                .unwrap()
                .insert(TEST_CERT_URL.into(), TEST_CERT_PEM.as_bytes().to_vec());
            Arc::new(fetch)
        }

        pub fn requests(&self) -> Vec<String> {
            self.requested.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Fetch for MemoryFetch {
        async fn get(&self, url: Url) -> Result<Vec<u8>, FetchError> {
            self.requested.lock().unwrap().push(url.to_string());
            // A confirmation answers anything; a certificate URL only what is served.
            if url
                .query()
                .is_some_and(|q| q.contains("ConfirmSubscription"))
            {
                return Ok(b"<ConfirmSubscriptionResponse/>".to_vec());
            }
            self.answers
                .lock()
                .unwrap()
                .get(url.as_str())
                .cloned()
                .ok_or_else(|| FetchError::Failed("answered 404".into()))
        }
    }

    fn fixture(name: &str) -> SnsEnvelope {
        let path = format!("{}/tests/fixtures/sns/{name}", env!("CARGO_MANIFEST_DIR"));
        SnsEnvelope::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn both_signature_versions_verify_and_anything_changed_does_not() {
        let fetch = MemoryFetch::serving_test_certificate();
        let sns = SnsClient::with_fetch(fetch.clone(), false);
        // Version 1 (SHA1withRSA), signed once with openssl; version 2 signed here.
        let v1 = fixture("notification-v1-signed.json");
        assert_eq!(v1.signature_version, SignatureVersion::Sha1);
        assert_eq!(sns.verify(&v1).await, Ok(()));
        let mut v2 = v1.clone();
        sign_v2(&mut v2);
        assert_eq!(sns.verify(&v2).await, Ok(()));
        // The certificate was fetched once: it is cached for the cold start.
        assert_eq!(fetch.requests(), vec![TEST_CERT_URL.to_owned()]);

        // Any covered field changed, or the signature of the other version: refused.
        for tampered in [
            SnsEnvelope {
                message: v1.message.replace("ALARM", "OK"),
                ..v1.clone()
            },
            SnsEnvelope {
                subject: None,
                ..v1.clone()
            },
            SnsEnvelope {
                topic_arn: "arn:aws:sns:eu-west-1:123456789012:other".into(),
                ..v2.clone()
            },
            SnsEnvelope {
                signature_version: SignatureVersion::Sha256,
                ..v1.clone()
            },
            SnsEnvelope {
                kind: SnsType::SubscriptionConfirmation,
                subscribe_url: Some(
                    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription".into(),
                ),
                token: Some("t".into()),
                ..v2.clone()
            },
            SnsEnvelope {
                signature: "bm90IGEgc2lnbmF0dXJl".into(),
                ..v2.clone()
            },
            SnsEnvelope {
                signature: "***".into(),
                ..v2.clone()
            },
        ] {
            assert!(
                matches!(sns.verify(&tampered).await, Err(SnsRefusal::Forged(_))),
                "{tampered:?}"
            );
        }
    }

    #[tokio::test]
    async fn certificates_and_confirmations_come_from_sns_hosts_only() {
        let fetch = MemoryFetch::serving_test_certificate();
        let sns = SnsClient::with_fetch(fetch.clone(), false);
        let mut message = fixture("notification-v1-signed.json");
        for url in [
            "https://evil.example/SimpleNotificationService-test-only.pem",
            "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test-only.pem",
            "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
            "http://127.0.0.1:1/x.pem",
        ] {
            message.signing_cert_url = url.into();
            assert!(
                matches!(sns.verify(&message).await, Err(SnsRefusal::Forged(_))),
                "{url}"
            );
        }
        let mut confirmation = message.clone();
        confirmation.kind = SnsType::SubscriptionConfirmation;
        for url in [
            "https://attacker.example/?Action=ConfirmSubscription",
            "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
            "https://169.254.169.254/latest/meta-data/?Action=ConfirmSubscription",
        ] {
            confirmation.subscribe_url = Some(url.into());
            assert!(
                matches!(sns.confirm(&confirmation).await, Err(SnsRefusal::Forged(_))),
                "{url}"
            );
        }
        // Nothing off SNS's hosts was ever requested.
        assert!(fetch.requests().is_empty(), "{:?}", fetch.requests());
        // A certificate SNS's host does not serve is a failure to retry, not a forgery.
        message.signing_cert_url = "https://sns.eu-west-1.amazonaws.com/missing.pem".into();
        assert!(matches!(
            sns.verify(&message).await,
            Err(SnsRefusal::Unavailable(_))
        ));
        confirmation.subscribe_url =
            Some("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x".into());
        assert_eq!(sns.confirm(&confirmation).await, Ok(()));
    }

    #[tokio::test]
    async fn the_guarded_client_refuses_private_addresses() {
        // The local setting lets a loopback URL through the host rule, but a deployment's
        // client (loopback not allowed) refuses to connect to it.
        let fetch = Arc::new(HttpFetch::new(
            OutboundPolicy {
                allow_loopback: false,
            },
            Duration::from_secs(1),
        ));
        let sns = SnsClient::with_fetch(fetch, true);
        let mut message = fixture("notification-v1-signed.json");
        message.signing_cert_url = "http://127.0.0.1:9/x.pem".into();
        assert!(matches!(
            sns.verify(&message).await,
            Err(SnsRefusal::Forged(_))
        ));
    }
}
