//! Each AWS event kind, in a module of its own: what its template sees (its extractor, where it
//! has one: the fields of an alarm, a finding, a pipeline, a task, a Health event, and the
//! generic fallback's view of anything else; each read from the event's documented shape,
//! bounded and encoded), its built-in template (minijinja, rendered in
//! [`crate::domain::template`]'s sandbox; an app may replace any of them), and its sample.

/// The line every event kind ends with: where and when, and the console.
macro_rules! where_and_link {
    ($account:expr, $region:expr, $time:expr) => {
        concat!(
            "\n{% if ",
            $account,
            " or ",
            $region,
            " %}Account {{ ",
            $account,
            " or \"?\" }}, {{ ",
            $region,
            " or \"?\" }}{% if ",
            $time,
            " %}, {{ ",
            $time,
            " }}{% endif %}{% endif %}",
            "\n{%- if console_url %}\n{{ console_url }}{% endif %}"
        )
    };
}

pub(super) mod chatbot;
pub(super) mod cloudwatch_alarm;
pub(super) mod codepipeline;
pub(super) mod ec2_state;
pub(super) mod ecs_task;
pub(super) mod generic;
pub(super) mod guardduty;
pub(super) mod health;
pub(super) mod securityhub;
pub(super) mod text;
