//! Amazon SNS's HTTP(S) deliveries, as the domain sees them: the envelope SNS posts, the
//! string its signature covers, and which URLs of SNS's the gateway may fetch.
//!
//! The signature itself is checked by `crate::adapters::sns` (X.509 and RSA are an
//! adapter's business); nothing here knows HTTP or crypto.

use serde_json::{Map, Value};
use url::Url;

/// What SNS posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnsType {
    SubscriptionConfirmation,
    Notification,
    UnsubscribeConfirmation,
}

impl SnsType {
    pub fn name(self) -> &'static str {
        match self {
            SnsType::SubscriptionConfirmation => "SubscriptionConfirmation",
            SnsType::Notification => "Notification",
            SnsType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

/// The signature algorithm `SignatureVersion` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// `"1"`: SHA1withRSA.
    Sha1,
    /// `"2"`: SHA256withRSA.
    Sha256,
}

/// One message SNS posted: every field the signature covers, and those the gateway uses.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsEnvelope {
    pub kind: SnsType,
    pub message_id: String,
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
    pub timestamp: String,
    pub signature_version: SignatureVersion,
    /// The signature, base64 as SNS sends it.
    pub signature: String,
    pub signing_cert_url: String,
    /// Confirmation messages only.
    pub subscribe_url: Option<String>,
    pub token: Option<String>,
}

/// Why a body is not an SNS message the gateway can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not JSON")]
    NotJson,
    #[error("not an SNS message: {0}")]
    NotSns(&'static str),
    /// A field the signature needs is missing: such a message cannot be verified.
    #[error("the message lacks {0}, which its signature covers")]
    Unsigned(&'static str),
}

/// The longest `MessageId`, `TopicArn` or URL accepted (SNS's are far shorter).
const MAX_FIELD_CHARS: usize = 2048;

impl SnsEnvelope {
    pub fn parse(body: &[u8]) -> Result<SnsEnvelope, EnvelopeError> {
        let value: Value = serde_json::from_slice(body).map_err(|_| EnvelopeError::NotJson)?;
        let Value::Object(object) = value else {
            return Err(EnvelopeError::NotSns("the body is not a JSON object"));
        };
        let kind = match text(&object, "Type") {
            Some("SubscriptionConfirmation") => SnsType::SubscriptionConfirmation,
            Some("Notification") => SnsType::Notification,
            Some("UnsubscribeConfirmation") => SnsType::UnsubscribeConfirmation,
            _ => return Err(EnvelopeError::NotSns("Type is not one of SNS's")),
        };
        let required = |field: &'static str| -> Result<String, EnvelopeError> {
            match text(&object, field) {
                Some(value) if field == "Message" || value.chars().count() <= MAX_FIELD_CHARS => {
                    Ok(value.to_owned())
                }
                Some(_) => Err(EnvelopeError::NotSns("a field is too long")),
                None => Err(EnvelopeError::Unsigned(field)),
            }
        };
        let signature_version = match text(&object, "SignatureVersion") {
            Some("1") => SignatureVersion::Sha1,
            Some("2") => SignatureVersion::Sha256,
            _ => return Err(EnvelopeError::Unsigned("SignatureVersion 1 or 2")),
        };
        let confirmation = kind != SnsType::Notification;
        Ok(SnsEnvelope {
            kind,
            message_id: required("MessageId")?,
            topic_arn: required("TopicArn")?,
            subject: match object.get("Subject") {
                None | Some(Value::Null) => None,
                Some(Value::String(subject)) => Some(subject.clone()),
                Some(_) => return Err(EnvelopeError::NotSns("Subject is not a string")),
            },
            message: required("Message")?,
            timestamp: required("Timestamp")?,
            signature_version,
            signature: required("Signature")?,
            signing_cert_url: required("SigningCertURL")?,
            subscribe_url: if confirmation {
                Some(required("SubscribeURL")?)
            } else {
                None
            },
            token: if confirmation {
                Some(required("Token")?)
            } else {
                None
            },
        })
    }

    /// The string SNS signs: the covered fields' names and values, a line each, in SNS's
    /// order; a notification's `Subject` only when it has one.
    pub fn string_to_sign(&self) -> String {
        let mut fields: Vec<(&str, &str)> = vec![("Message", &self.message)];
        fields.push(("MessageId", &self.message_id));
        match self.kind {
            SnsType::Notification => {
                if let Some(subject) = &self.subject {
                    fields.push(("Subject", subject));
                }
            }
            _ => fields.push((
                "SubscribeURL",
                self.subscribe_url.as_deref().unwrap_or_default(),
            )),
        }
        fields.push(("Timestamp", &self.timestamp));
        if self.kind != SnsType::Notification {
            fields.push(("Token", self.token.as_deref().unwrap_or_default()));
        }
        fields.push(("TopicArn", &self.topic_arn));
        fields.push(("Type", self.kind.name()));
        let mut out = String::new();
        for (name, value) in fields {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        }
        out
    }
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

/// Why a URL in an SNS message is not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnsUrlError {
    #[error("not a URL")]
    Malformed,
    #[error("not https")]
    NotHttps,
    #[error("the host is not SNS's (sns.<region>.amazonaws.com)")]
    NotSnsHost,
}

/// Checks a `SigningCertURL` or `SubscribeURL`: `https`, no user info, no port but 443, and
/// the host `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`.
///
/// `allow_loopback` (the local stack's `SNS_ALLOW_LOOPBACK`, never set in a deployment) also
/// lets `http://127.0.0.1:<port>/...` through, so that end-to-end tests can serve their own
/// certificate.
pub fn check_sns_url(raw: &str, allow_loopback: bool) -> Result<Url, SnsUrlError> {
    let url = Url::parse(raw).map_err(|_| SnsUrlError::Malformed)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SnsUrlError::Malformed);
    }
    if allow_loopback && url.scheme() == "http" {
        return match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(url),
            _ => Err(SnsUrlError::NotHttps),
        };
    }
    if url.scheme() != "https" {
        return Err(SnsUrlError::NotHttps);
    }
    if url.port().is_some() {
        return Err(SnsUrlError::NotSnsHost);
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err(SnsUrlError::NotSnsHost);
    };
    if is_sns_host(host) {
        Ok(url)
    } else {
        Err(SnsUrlError::NotSnsHost)
    }
}

/// `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`, the region a word of
/// lower-case letters, digits and hyphens (`us-east-1`, `cn-north-1`, `us-gov-west-1`).
fn is_sns_host(host: &str) -> bool {
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"));
    let Some(region) = rest.and_then(|r| r.strip_prefix("sns.")) else {
        return false;
    };
    (2..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.bytes().any(|b| b.is_ascii_digit())
        && !region.starts_with('-')
        && !region.ends_with('-')
}

/// Whether `arn` is a topic's ARN (`arn:<partition>:sns:<region>:<account>:<name>`).
pub fn is_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty()
        && parts[5].len() <= 256
        && parts[5]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notification() -> Value {
        json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Subject": "My First Message",
            "Message": "Hello world!",
            "Timestamp": "2012-05-02T00:54:06.655Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEw6JRN...",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0"
        })
    }

    #[test]
    fn the_string_to_sign_follows_sns() {
        let envelope = SnsEnvelope::parse(notification().to_string().as_bytes()).unwrap();
        assert_eq!(envelope.kind, SnsType::Notification);
        assert_eq!(envelope.signature_version, SignatureVersion::Sha1);
        assert_eq!(
            envelope.string_to_sign(),
            "Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubject\nMy First Message\nTimestamp\n2012-05-02T00:54:06.655Z\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nNotification\n"
        );
        // Without a subject, the subject is not signed.
        let mut bare = notification();
        bare.as_object_mut().unwrap().remove("Subject");
        let envelope = SnsEnvelope::parse(bare.to_string().as_bytes()).unwrap();
        assert!(!envelope.string_to_sign().contains("Subject"));

        let confirmation = json!({
            "Type": "SubscriptionConfirmation", "MessageId": "165545c9", "Token": "2336412f37",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37",
            "Timestamp": "2012-04-26T20:45:04.751Z", "SignatureVersion": "2",
            "Signature": "EXAMPLEpH+", "SigningCertURL": "https://sns.us-west-2.amazonaws.com/x.pem"
        });
        let envelope = SnsEnvelope::parse(confirmation.to_string().as_bytes()).unwrap();
        assert_eq!(envelope.signature_version, SignatureVersion::Sha256);
        assert_eq!(
            envelope.string_to_sign(),
            "Message\nYou have chosen to subscribe to the topic.\nMessageId\n165545c9\nSubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37\nTimestamp\n2012-04-26T20:45:04.751Z\nToken\n2336412f37\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nSubscriptionConfirmation\n"
        );
    }

    #[test]
    fn messages_that_cannot_be_verified_are_refused() {
        assert_eq!(SnsEnvelope::parse(b"nope"), Err(EnvelopeError::NotJson));
        assert!(matches!(
            SnsEnvelope::parse(br#"{"text":"hi"}"#),
            Err(EnvelopeError::NotSns(_))
        ));
        for (field, value) in [
            ("SignatureVersion", json!("3")),
            ("Signature", Value::Null),
            ("SigningCertURL", json!(7)),
        ] {
            let mut body = notification();
            body[field] = value;
            assert!(
                matches!(
                    SnsEnvelope::parse(body.to_string().as_bytes()),
                    Err(EnvelopeError::Unsigned(_))
                ),
                "{field}"
            );
        }
        let mut body = notification();
        body["Type"] = json!("SubscriptionConfirmation");
        assert_eq!(
            SnsEnvelope::parse(body.to_string().as_bytes()),
            Err(EnvelopeError::Unsigned("SubscribeURL"))
        );
    }

    #[test]
    fn only_sns_hosts_over_https_are_fetched() {
        for good in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
            "https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
        ] {
            assert!(check_sns_url(good, false).is_ok(), "{good}");
        }
        for (bad, why) in [
            (
                "http://sns.us-east-1.amazonaws.com/x.pem",
                SnsUrlError::NotHttps,
            ),
            (
                "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
                SnsUrlError::NotSnsHost,
            ),
            (
                "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
                SnsUrlError::NotSnsHost,
            ),
            ("https://sns.amazonaws.com/x.pem", SnsUrlError::NotSnsHost),
            (
                "https://s3.us-east-1.amazonaws.com/x.pem",
                SnsUrlError::NotSnsHost,
            ),
            (
                "https://sns.us-east-1.amazonaws.com:8443/x.pem",
                SnsUrlError::NotSnsHost,
            ),
            (
                "https://x.sns.us-east-1.amazonaws.com/x.pem",
                SnsUrlError::NotSnsHost,
            ),
            (
                "https://user@sns.us-east-1.amazonaws.com/x.pem",
                SnsUrlError::Malformed,
            ),
            ("https://169.254.169.254/x.pem", SnsUrlError::NotSnsHost),
            ("not a url", SnsUrlError::Malformed),
            ("http://127.0.0.1:9/x.pem", SnsUrlError::NotHttps),
        ] {
            assert_eq!(check_sns_url(bad, false), Err(why), "{bad}");
        }
        // The local stack's setting lets loopback through, and only loopback.
        assert!(check_sns_url("http://127.0.0.1:45678/cert.pem", true).is_ok());
        assert_eq!(
            check_sns_url("http://10.0.0.1/cert.pem", true),
            Err(SnsUrlError::NotHttps)
        );
        assert_eq!(
            check_sns_url("http://localhost:80/cert.pem", true),
            Err(SnsUrlError::NotHttps)
        );
    }

    #[test]
    fn topic_arns_are_checked() {
        assert!(is_topic_arn("arn:aws:sns:eu-west-1:123456789012:alarms"));
        assert!(is_topic_arn(
            "arn:aws-cn:sns:cn-north-1:123456789012:a.fifo"
        ));
        for bad in [
            "arn:aws:sqs:eu-west-1:123456789012:alarms",
            "arn:aws:sns:eu-west-1:1234:alarms",
            "arn:aws:sns:eu-west-1:123456789012:",
            "arn:aws:sns:eu-west-1:123456789012:a:b",
            "alarms",
        ] {
            assert!(!is_topic_arn(bad), "{bad}");
        }
    }
}
