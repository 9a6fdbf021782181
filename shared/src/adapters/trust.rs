//! The roots of trust of every outgoing TLS connection, compiled in:
//! - FChat and apps' webhooks: the Mozilla root program's certificates;
//! - AWS (DynamoDB, SQS, and STS for credentials): the Amazon Trust Services roots, which every
//!   AWS service endpoint's certificate chains to. `AWS_CA_BUNDLE` (a PEM file), as in the
//!   other AWS SDKs, replaces them, e.g. behind a TLS-inspecting proxy.
//!
//! Reading the system's store instead cost a cold start most of its time (`make bench`): the
//! CA bundle was read and parsed once per HTTP client (the SDK makes three, STS included), and
//! on some distributions every file of `/etc/ssl/certs` was read as well.

use std::sync::OnceLock;

use base64::Engine as _;

/// The roots for reqwest clients.
pub fn reqwest_roots() -> impl Iterator<Item = reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
}

/// Amazon Trust Services' roots (Amazon Root CA 1 to 4, and the Starfield Services root that
/// cross-signs them), as the PEM the AWS SDK's trust store takes.
pub fn aws_roots_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        let mut pem = String::new();
        for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            let der = der.as_ref();
            if !(contains(der, b"Amazon Root CA") || contains(der, b"Starfield Services Root")) {
                continue;
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(der);
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in encoded.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).unwrap_or_default());
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The AWS SDK's HTTPS client, trusting [`aws_roots_pem`] (or `AWS_CA_BUNDLE`) only.
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let pem = std::env::var_os("AWS_CA_BUNDLE")
        .and_then(|path| std::fs::read(path).ok())
        .unwrap_or_else(|| aws_roots_pem().as_bytes().to_vec());
    let trust = TrustStore::empty().with_pem_certificate(pem);
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Not expected: the context only holds certificates. The SDK's default still works.
        Err(_) => builder.build_https(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_roots_are_the_mozilla_program() {
        let count = reqwest_roots().count();
        assert_eq!(count, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(count > 100, "{count} roots");
    }

    #[test]
    fn aws_trusts_the_amazon_trust_services_roots_only() {
        let pem = aws_roots_pem();
        let certificates: Vec<&str> = pem
            .split("-----END CERTIFICATE-----")
            .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
            .collect();
        // Amazon Root CA 1, 2, 3, 4 and Starfield Services Root Certificate Authority - G2.
        assert_eq!(certificates.len(), 5, "{pem}");
        for certificate in certificates {
            let body: String = certificate
                .lines()
                .filter(|l| !l.starts_with("-----") && !l.is_empty())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap();
            assert!(
                contains(&der, b"Amazon") || contains(&der, b"Starfield Services"),
                "an unexpected root"
            );
        }
    }
}
