//! App tokens and webhook secrets: generated at random, stored hashed, compared in constant time.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Hex SHA-256 of a secret value; what the apps table stores instead of a token.
pub fn sha256_hex(value: &[u8]) -> String {
    hex::encode(Sha256::digest(value))
}

/// Compares two hashes without an early exit.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether `token` is the one whose hash is `stored_hash`, in constant time.
pub fn token_matches(token: &str, stored_hash: &str) -> bool {
    hashes_match(&sha256_hex(token.as_bytes()), stored_hash)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// A new app token: 256 random bits, URL-safe so it fits in a path segment.
pub fn generate_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A new Standard Webhooks signing secret: `whsec_` and 256 random bits in base64.
pub fn generate_webhook_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(random_bytes::<32>())
    )
}

/// HMAC-SHA256 of `parts` in order, keyed with `key`: webhook signatures both ways.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The key of a Standard Webhooks secret: the base64 after `whsec_`; `None` when it is not one.
pub fn standard_webhooks_key(secret: &str) -> Option<Vec<u8>> {
    secret
        .strip_prefix("whsec_")
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .filter(|key| !key.is_empty())
}

/// `user@example.com` becomes `u***@example.com` in logs; an address from outside is bounded
/// and escaped as any logged value is.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            crate::logging::loggable(&format!("{first}***@{domain}"))
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_url_safe_and_long() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn token_matches_its_hash_only() {
        let token = generate_token();
        let hash = sha256_hex(token.as_bytes());
        assert_eq!(hash.len(), 64);
        assert!(token_matches(&token, &hash));
        assert!(!token_matches("other", &hash));
        assert!(!token_matches(&token, ""));
    }

    #[test]
    fn webhook_secrets_have_the_standard_prefix() {
        let secret = generate_webhook_secret();
        let raw = secret.strip_prefix("whsec_").unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask_email("nguyen@fpt.com"), "n***@fpt.com");
        assert_eq!(mask_email("ệ@x.vn"), "ệ***@x.vn");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(mask_email("\nx@a\nb.c"), r"\u{a}***@a\u{a}b.c");
    }
}
