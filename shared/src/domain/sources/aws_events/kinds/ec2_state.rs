//! An Amazon EC2 instance's state change (EventBridge's "EC2 Instance State-change
//! Notification"). Its console link is set where the event is read, in the parent module.

/// The built-in template.
pub(in crate::domain::sources::aws_events) const TEMPLATE: &str = concat!(
    r#"[EC2] Instance {{ detail["instance-id"] }} is {{ detail.state }}"#,
    where_and_link!("account", "region", "time")
);

/// A sample event, as AWS sends it.
pub(in crate::domain::sources::aws_events) const SAMPLE: &str =
    include_str!("../samples/eventbridge-ec2-state-change.json");
