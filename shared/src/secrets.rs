//! The functions' secrets (FChat's bot token, the callback secret), read by name from SSM
//! Parameter Store once per cold start. The deployment gives each function the *names* of the
//! `SecureString` parameters it may read, never their values: a value is in no environment
//! variable, no log line, no error text and no `Debug` output.

use aws_sdk_ssm::error::{DisplayErrorContext, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;

/// A secret's value. `Debug` never shows it; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a secret could not be read. Each names the parameter and the variable that names it,
/// never a value.
#[derive(thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "configuration: SSM parameter {name} ({variable}) does not exist; create it with `aws ssm put-parameter --type SecureString --name {name} --value ...`"
    )]
    NotFound {
        variable: &'static str,
        name: String,
    },
    #[error(
        "configuration: SSM parameter {name} ({variable}) is a {kind} parameter; secrets must be SecureString"
    )]
    NotSecure {
        variable: &'static str,
        name: String,
        kind: String,
    },
    #[error("configuration: SSM parameter {name} ({variable}) is empty")]
    Empty {
        variable: &'static str,
        name: String,
    },
    /// Access denied, KMS refusing to decrypt, SSM unreachable, a malformed name...
    #[error("configuration: SSM parameter {name} ({variable}) cannot be read: {reason}")]
    Unreadable {
        variable: &'static str,
        name: String,
        reason: String,
    },
}

// `main` reports an error that stops a cold start with `Debug`: make it the clear message.
impl std::fmt::Debug for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The SecureString parameter `name` (named by the variable `variable`), decrypted.
pub async fn read_secret(
    ssm: &aws_sdk_ssm::Client,
    variable: &'static str,
    name: &str,
) -> Result<Secret, SecretError> {
    let output = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|error| match &error {
            SdkError::ServiceError(service)
                if matches!(service.err(), GetParameterError::ParameterNotFound(_)) =>
            {
                SecretError::NotFound {
                    variable,
                    name: name.to_owned(),
                }
            }
            _ => SecretError::Unreadable {
                variable,
                name: name.to_owned(),
                // The SDK's description of a failed GetParameter (the service's code and
                // message, or the connection's trouble) carries no parameter value.
                reason: DisplayErrorContext(&error).to_string(),
            },
        })?;
    let parameter = output.parameter.ok_or_else(|| SecretError::Unreadable {
        variable,
        name: name.to_owned(),
        reason: "SSM answered without the parameter".into(),
    })?;
    match parameter.r#type {
        Some(ParameterType::SecureString) => {}
        other => {
            return Err(SecretError::NotSecure {
                variable,
                name: name.to_owned(),
                kind: other.map_or_else(|| "typeless".to_owned(), |t| t.as_str().to_owned()),
            })
        }
    }
    match parameter.value {
        Some(value) if !value.trim().is_empty() => Ok(Secret(value)),
        _ => Err(SecretError::Empty {
            variable,
            name: name.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_never_shown_by_debug() {
        let secret = Secret::new("s3cr3t-value");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(secret.clone())),
            "Some(Secret(<redacted>))"
        );
        assert_eq!(secret.expose(), "s3cr3t-value");
    }

    #[test]
    fn errors_name_the_parameter_and_its_variable() {
        let error = SecretError::NotFound {
            variable: "X_PARAMETER",
            name: "/app/x".into(),
        };
        let text = format!("{error:?}");
        assert_eq!(text, error.to_string());
        assert!(text.contains("/app/x") && text.contains("X_PARAMETER"), "{text}");
    }
}
