//! The functions' secrets (FChat's bot token, the callback secret), read by name from SSM
//! Parameter Store once per cold start. The deployment gives each function the *names* of the
//! `SecureString` parameters it may read, never their values: a value is in no environment
//! variable, no log line, no error text and no `Debug` output.

use aws_sdk_ssm::error::DisplayErrorContext;
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
    /// Access denied, KMS refusing to decrypt, SSM unreachable, a malformed name... `names`
    /// lists every parameter of the request, each with its variable.
    #[error("configuration: SSM parameters {names} cannot be read: {reason}")]
    Unreadable { names: String, reason: String },
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
    let [secret] = read_secrets(ssm, [(variable, name)]).await?;
    Ok(secret)
}

/// Several SecureString parameters, each `(variable, name)`, decrypted, in the order asked:
/// one `GetParameters` request (at most 10 names), so a cold start waits for one round trip.
pub async fn read_secrets<const N: usize>(
    ssm: &aws_sdk_ssm::Client,
    wanted: [(&'static str, &str); N],
) -> Result<[Secret; N], SecretError> {
    let unreadable = |reason: String| SecretError::Unreadable {
        names: wanted
            .iter()
            .map(|(variable, name)| format!("{name} ({variable})"))
            .collect::<Vec<_>>()
            .join(", "),
        reason,
    };
    let output = ssm
        .get_parameters()
        .set_names(Some(wanted.iter().map(|(_, n)| (*n).to_owned()).collect()))
        .with_decryption(true)
        .send()
        .await
        // The SDK's description of a failed GetParameters (the service's code and message,
        // or the connection's trouble) carries no parameter value.
        .map_err(|error| unreadable(DisplayErrorContext(&error).to_string()))?;
    let mut found = Vec::with_capacity(N);
    for (variable, name) in wanted {
        if output.invalid_parameters().iter().any(|n| n == name) {
            return Err(SecretError::NotFound {
                variable,
                name: name.to_owned(),
            });
        }
        let parameter = output
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .ok_or_else(|| unreadable(format!("SSM answered without {name}")))?;
        match parameter.r#type() {
            Some(ParameterType::SecureString) => {}
            other => {
                return Err(SecretError::NotSecure {
                    variable,
                    name: name.to_owned(),
                    kind: other.map_or_else(|| "typeless".to_owned(), |t| t.as_str().to_owned()),
                })
            }
        }
        match parameter.value() {
            Some(value) if !value.trim().is_empty() => found.push(Secret(value.to_owned())),
            _ => {
                return Err(SecretError::Empty {
                    variable,
                    name: name.to_owned(),
                })
            }
        }
    }
    found
        .try_into()
        .map_err(|_| unreadable("SSM answered a different number of parameters".into()))
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
        assert!(
            text.contains("/app/x") && text.contains("X_PARAMETER"),
            "{text}"
        );
    }
}
