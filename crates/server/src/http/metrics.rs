//! `/metrics` and the count and duration of every request, by the router's route pattern.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{SharedString, counter, histogram};

use super::AppState;

/// Counts the request and times it, labelled with its method, route pattern and status.
/// Also names the request's span by its route (OpenTelemetry's HTTP semantic conventions:
/// `{method} {route}`, `http.route`, `http.response.status_code`).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => SharedString::from(Arc::<str>::from(path.as_str())),
        // The fallback: unknown paths share one label, whatever they are.
        None => SharedString::const_str("unmatched"),
    };
    let method = method_label(request.method());
    let span = tracing::Span::current();
    crate::telemetry::name_span(&span, || format!("{method} {route}"));
    span.record("http.route", &*route);
    if state.metrics.is_none() {
        let response = next.run(request).await;
        span.record(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        );
        return response;
    }
    // A measurement for metrics only: no decision depends on it.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let response = next.run(request).await;
    span.record(
        "http.response.status_code",
        i64::from(response.status().as_u16()),
    );
    let status = SharedString::from(response.status().as_u16().to_string());
    histogram!(
        "tessera_http_request_duration_seconds",
        "method" => method,
        "route" => route.clone()
    )
    .record(started.elapsed().as_secs_f64());
    counter!(
        "tessera_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status
    )
    .increment(1);
    response
}

/// The method, from a fixed set: any other is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}

/// `GET /metrics`: the Prometheus text exposition (format 0.0.4); 404 when `[metrics]` is off.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return super::error::not_found().await;
    };
    let mut response = crate::metrics::render(handle).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
