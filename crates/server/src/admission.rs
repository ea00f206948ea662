//! Admission: at most `server.max_in_flight` API requests are served at once. One more is
//! answered at once with 429 and Twilio's error 20429 (Too Many Requests) instead of joining
//! a queue, so that an overloaded gateway keeps its latency and memory bounded for the
//! requests it has taken, and clients can back off and retry. Health checks and metrics are
//! always admitted, so that an overloaded gateway can still be watched.

use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus::{IntCounter, Registry};

/// The Twilio error code of a request refused for load.
pub const TOO_MANY_REQUESTS: u32 = 20429;

/// Routes admitted whatever the load.
const ALWAYS_ADMITTED: [&str; 2] = ["/healthz", "/metrics"];

/// Counts the requests in progress against the limit.
#[derive(Debug)]
pub struct Admission {
    in_flight: AtomicUsize,
    limit: usize,
    refused: IntCounter,
}

/// A request's place among those in progress, given back when dropped (when the answer has
/// been produced, or when the client went away first).
#[derive(Debug)]
pub struct Admitted<'a>(Option<&'a Admission>);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(admission) = self.0 {
            admission.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Admission {
    /// At most `limit` requests at once; the counters are registered with `registry`.
    pub fn new(limit: usize, registry: &Registry) -> Admission {
        let refused = IntCounter::new(
            "http_requests_refused_total",
            "API requests refused with 429 (20429) because the gateway was at its limit",
        )
        .unwrap_or_else(|error| unreachable!("static metric definition: {error}"));
        registry
            .register(Box::new(refused.clone()))
            .unwrap_or_else(|error| unreachable!("each metric is registered once: {error}"));
        Admission {
            in_flight: AtomicUsize::new(0),
            limit: limit.max(1),
            refused,
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Admits a request to `route` (its matched path) if the limit allows, else counts it as
    /// refused and returns `None`.
    pub fn admit(&self, route: &str) -> Option<Admitted<'_>> {
        if ALWAYS_ADMITTED.contains(&route) {
            return Some(Admitted(None));
        }
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before < self.limit {
            return Some(Admitted(Some(self)));
        }
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.refused.inc();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_again_once_a_place_is_given_back() {
        let admission = Admission::new(2, &Registry::new());
        let first = admission.admit("/v1/PhoneNumbers/{phone_number}");
        let second = admission.admit("/v1/AvailableAddOns");
        assert!(first.is_some() && second.is_some());
        assert!(admission.admit("/v1/AvailableAddOns").is_none());
        assert!(admission.admit("/healthz").is_some(), "health checks always pass");
        drop(first);
        assert!(admission.admit("/v1/AvailableAddOns").is_some());
        assert_eq!(admission.refused.get(), 1);
    }
}
