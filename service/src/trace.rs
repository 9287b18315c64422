//! W3C trace context: a `traceparent` on every request and response, so one id follows a
//! read from the gateway to the nodes and into their audit.
//!
//! Two small functions written here: the crates that parse trace context come with the
//! OpenTelemetry SDK, which the services do not otherwise use.

/// A valid W3C `traceparent`, or `None`.
pub fn valid_traceparent(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    match parts.as_slice() {
        [version, trace, parent, flags]
            if hex(version, 2)
                && hex(trace, 32)
                && hex(parent, 16)
                && hex(flags, 2)
                && *trace != "00000000000000000000000000000000" =>
        {
            Some(value)
        }
        _ => None,
    }
}

/// A new `traceparent` with a random trace id.
pub fn new_traceparent() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let parent = &uuid::Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{parent}-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_validation() {
        assert!(valid_traceparent(&new_traceparent()).is_some());
        assert!(
            valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_some()
        );
        assert!(
            valid_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(valid_traceparent("garbage").is_none());
    }
}
