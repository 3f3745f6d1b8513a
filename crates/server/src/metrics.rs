//! Prometheus metrics: what is counted, the recorder every crate records through (the `metrics`
//! facade), and the text exposition `/metrics` serves.
//!
//! Labels are bounded: routes are the router's patterns (never a raw path), methods and
//! statuses come from fixed sets, errors are protocol error codes, and client ids are the
//! registered clients' up to [`MAX_CLIENT_LABELS`] of them (then `_other`). No token, user,
//! session or address is ever a label.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use metrics::{
    Counter, SharedString, counter, describe_counter, describe_gauge, describe_histogram, gauge,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tessera_core::events::{Event, SessionEnd, Subscriber};

/// Buckets of every `*_duration_seconds` histogram: from half a millisecond to ten seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How many distinct client ids become label values; further clients count as `_other`.
pub const MAX_CLIENT_LABELS: usize = 1000;

/// How often histograms are compacted between scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The one recorder of this process: a second server in the same process (tests) shares it.
static RECORDER: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the process's recorder, once, and returns its handle.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let mut installed = RECORDER
        .lock()
        .map_err(|_| anyhow::anyhow!("the metrics recorder's lock is poisoned"))?;
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), DURATION_BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
    describe();
    gauge!("tessera_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    *installed = Some(handle.clone());
    Ok(handle)
}

/// The help text of every metric.
fn describe() {
    describe_gauge!("tessera_build_info", "The running version; always 1.");
    describe_counter!(
        "tessera_http_requests_total",
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        "tessera_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method and route."
    );
    describe_counter!(
        "tessera_tokens_issued_total",
        "Token responses, by grant type and client."
    );
    describe_counter!(
        "tessera_refresh_tokens_rotated_total",
        "Refresh tokens used and replaced."
    );
    describe_counter!(
        "tessera_token_exchanges_total",
        "Token exchanges (RFC 8693), by whether they impersonate."
    );
    describe_counter!(
        "tessera_refusals_total",
        "Requests refused, by protocol error code."
    );
    describe_counter!(
        "tessera_replays_detected_total",
        "Single-use codes and refresh tokens presented again, by kind."
    );
    describe_counter!(
        "tessera_client_authentication_failures_total",
        "Failed client authentications."
    );
    describe_counter!(
        "tessera_sign_ins_total",
        "Sign-in attempts, by outcome and method."
    );
    describe_counter!(
        "tessera_factor_results_total",
        "Second-factor attempts and changes, by outcome."
    );
    describe_counter!("tessera_consents_total", "Consents given.");
    describe_counter!(
        "tessera_admin_changes_total",
        "Changes made through the admin API or the CLI, by action."
    );
    describe_counter!("tessera_sessions_ended_total", "Sessions ended, by reason.");
    describe_counter!(
        "tessera_outbound_deliveries_total",
        "Messages the server sent out (back-channel logout, mail), by kind and outcome."
    );
    describe_histogram!(
        "tessera_database_query_duration_seconds",
        metrics::Unit::Seconds,
        "Time of a database statement, by operation (read, write)."
    );
    describe_counter!(
        "tessera_database_errors_total",
        "Database statements that failed, by operation and kind."
    );
}

/// The exposition, Prometheus text format 0.0.4.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.render()
}

/// Counts a refusal by its protocol error code.
pub fn refusal(code: &'static str) {
    counter!("tessera_refusals_total", "error" => code).increment(1);
}

/// Counts a message sent out, or not.
pub fn outbound(kind: &'static str, delivered: bool) {
    let outcome = if delivered { "delivered" } else { "failed" };
    counter!("tessera_outbound_deliveries_total", "kind" => kind, "outcome" => outcome)
        .increment(1);
}

/// Client ids as label values, bounded: the first [`MAX_CLIENT_LABELS`] seen keep their own,
/// every later one is `_other`. Each client's token counter per grant type is kept with it, as
/// the registry's lookup builds and hashes the labels on every call.
#[derive(Debug, Default)]
pub struct ClientLabels(RwLock<HashMap<Arc<str>, HashMap<&'static str, Counter>>>);

impl ClientLabels {
    /// The counter of tokens issued to `client_id` by `grant_type`.
    pub fn tokens_issued(&self, grant_type: &'static str, client_id: &str) -> Counter {
        if let Ok(seen) = self.0.read()
            && let Some(counter) = seen.get(client_id).and_then(|c| c.get(grant_type))
        {
            return counter.clone();
        }
        let Ok(mut seen) = self.0.write() else {
            return Counter::noop();
        };
        let known = seen.contains_key(client_id);
        let id: Arc<str> = if known || seen.len() < MAX_CLIENT_LABELS {
            Arc::from(client_id)
        } else {
            Arc::from(OTHER)
        };
        let counter = counter!(
            "tessera_tokens_issued_total",
            "grant_type" => grant_type,
            "client_id" => SharedString::from(id.clone())
        );
        let entry = seen.entry(id).or_default();
        entry.insert(grant_type, counter.clone());
        counter
    }
}

/// The label of every client past [`MAX_CLIENT_LABELS`].
const OTHER: &str = "_other";

/// Counts domain events.
#[derive(Debug, Default)]
pub struct MetricsSubscriber {
    clients: ClientLabels,
}

impl Subscriber for MetricsSubscriber {
    fn on(&self, event: &Event<'_>) {
        match *event {
            Event::TokensIssued {
                grant_type,
                client_id,
            } => (self.clients)
                .tokens_issued(grant_type.name(), client_id)
                .increment(1),
            Event::RefreshRotated { .. } => {
                counter!("tessera_refresh_tokens_rotated_total").increment(1);
            }
            Event::TokenExchanged { impersonation, .. } => counter!(
                "tessera_token_exchanges_total",
                "impersonation" => if impersonation { "true" } else { "false" }
            )
            .increment(1),
            Event::ReplayDetected { kind, .. } => {
                counter!("tessera_replays_detected_total", "kind" => replay_kind(kind))
                    .increment(1);
            }
            Event::SignInSucceeded { method, .. } => {
                counter!(
                    "tessera_sign_ins_total",
                    "outcome" => "success",
                    "method" => method.as_str()
                )
                .increment(1);
                if method.is_second_factor() {
                    counter!("tessera_factor_results_total", "outcome" => "accepted").increment(1);
                }
            }
            Event::SignInFailed { .. } => counter!(
                "tessera_sign_ins_total",
                "outcome" => "failure",
                "method" => "password"
            )
            .increment(1),
            Event::FactorFailed { .. } => {
                counter!("tessera_factor_results_total", "outcome" => "refused").increment(1);
            }
            Event::FactorChanged { enrolled, .. } => counter!(
                "tessera_factor_results_total",
                "outcome" => if enrolled { "enrolled" } else { "removed" }
            )
            .increment(1),
            Event::ClientAuthenticationFailed { .. } => {
                counter!("tessera_client_authentication_failures_total").increment(1);
            }
            Event::ConsentGiven { .. } => counter!("tessera_consents_total").increment(1),
            Event::AdminChanged { action, .. } => {
                counter!("tessera_admin_changes_total", "action" => action).increment(1);
            }
            Event::SessionEnded { why, .. } => {
                let why = match why {
                    SessionEnd::SignedOut => "signed_out",
                    SessionEnd::Replaced => "replaced",
                    SessionEnd::PasswordReset => "password_reset",
                };
                counter!("tessera_sessions_ended_total", "why" => why).increment(1);
            }
        }
    }
}

/// The stored kinds a replay can be of, as a fixed set of label values.
fn replay_kind(kind: &str) -> &'static str {
    match kind {
        "authorization_code" => "authorization_code",
        "refresh_token" => "refresh_token",
        "device_code" => "device_code",
        _ => "other",
    }
}
