//! The EMF specification's rules for one log event, as CloudWatch applies them: what the tests
//! and the local stack's console check every document against.

use serde_json::Value;

/// The largest log event CloudWatch takes (and so the largest document), in bytes.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// The units CloudWatch knows.
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one log line: a valid EMF document and nothing else, or why not.
pub fn check_line(line: &str) -> Result<Value, String> {
    if line.len() > MAX_EVENT_BYTES {
        return Err(format!(
            "{} bytes: over a log event's {MAX_EVENT_BYTES}",
            line.len()
        ));
    }
    if line.contains('\n') {
        return Err("a document spans more than one line".into());
    }
    // The message is a JSON object with nothing before or after it.
    let document: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    check(&document)?;
    Ok(document)
}

/// Checks a document: the metadata at the root, its directives, and the target members they
/// reference.
pub fn check(document: &Value) -> Result<(), String> {
    let root = document.as_object().ok_or("the root is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object at the root")?;
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.is_u64() => {}
        other => {
            return Err(format!(
                "Timestamp is not milliseconds since the epoch: {other:?}"
            ))
        }
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("CloudWatchMetrics is not an array")?;
    if directives.is_empty() {
        return Err("no MetricDirective".into());
    }
    for directive in directives {
        let directive = directive
            .as_object()
            .ok_or("a MetricDirective is not an object")?;
        if let Some(extra) = directive
            .keys()
            .find(|key| !["Namespace", "Dimensions", "Metrics"].contains(&key.as_str()))
        {
            return Err(format!("a MetricDirective has a member {extra}"));
        }
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or("no Namespace")?;
        bounded("Namespace", namespace, 255)?;
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .filter(|sets| !sets.is_empty())
            .ok_or("Dimensions is not a non-empty array of DimensionSets")?;
        for set in sets {
            let set = set.as_array().ok_or("a DimensionSet is not an array")?;
            if set.len() > 9 {
                return Err(format!("a DimensionSet of {} keys (at most 9)", set.len()));
            }
            for key in set {
                let key = key.as_str().ok_or("a dimension key is not a string")?;
                bounded("a dimension key", key, 255)?;
                match root.get(key) {
                    Some(Value::String(value)) => bounded(key, value, 1024)?,
                    other => {
                        return Err(format!(
                            "dimension {key}'s target is {other:?}, not a string"
                        ))
                    }
                }
            }
        }
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("Metrics is not an array")?;
        if metrics.len() > 100 {
            return Err("more than 100 MetricDefinitions".into());
        }
        for metric in metrics {
            let metric = metric
                .as_object()
                .ok_or("a MetricDefinition is not an object")?;
            if let Some(extra) = metric
                .keys()
                .find(|key| !["Name", "Unit", "StorageResolution"].contains(&key.as_str()))
            {
                return Err(format!("a MetricDefinition has a member {extra}"));
            }
            let name = metric
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("no Name")?;
            bounded("a metric name", name, 255)?;
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().ok_or("Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{name}: {unit} is not a CloudWatch unit"));
                }
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => return Err(format!("metric {name}'s target is {other:?}, not a number")),
            }
        }
    }
    Ok(())
}

fn bounded(what: &str, value: &str, most: usize) -> Result<(), String> {
    let length = value.chars().count();
    if length == 0 || length > most || value.chars().any(char::is_control) {
        return Err(format!(
            "{what} {value:?}: 1 to {most} characters, none a control character"
        ));
    }
    Ok(())
}
