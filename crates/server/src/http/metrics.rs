//! `/metrics` and the count and duration of every request, by the router's route pattern.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram, SharedString, counter, histogram};

use super::AppState;

/// Counts the request and times it, labelled with its method, route pattern and status.
/// Also names the request's span by its route (OpenTelemetry's HTTP semantic conventions:
/// `{method} {route}`, `http.route`, `http.response.status_code`).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str(),
        // The fallback: unknown paths share one label, whatever they are.
        None => "unmatched",
    };
    let route = intern(route);
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
    let status = response.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    let (duration, count) = handles(&route, method, status);
    duration.record(started.elapsed().as_secs_f64());
    count.increment(1);
    response
}

/// The route pattern as a shared string, made once per pattern (the router's patterns are a
/// fixed set).
fn intern(route: &str) -> Arc<str> {
    static ROUTES: OnceLock<RwLock<std::collections::HashSet<Arc<str>>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(RwLock::default);
    if let Ok(set) = routes.read()
        && let Some(known) = set.get(route)
    {
        return known.clone();
    }
    let made: Arc<str> = Arc::from(route);
    if let Ok(mut set) = routes.write()
        && set.len() < MAX_HANDLES
    {
        set.insert(made.clone());
    }
    made
}

/// A route's duration histogram and request counter for a method and status.
type Handles = (Histogram, Counter);

/// How many handles are kept, and each route's by method and status.
type Kept = (
    usize,
    HashMap<Arc<str>, HashMap<(&'static str, u16), Handles>>,
);

/// At most this many (route, method, status) handles are kept; routes and methods are fixed
/// sets, so only odd statuses could reach it, and those are then looked up each time.
const MAX_HANDLES: usize = 4_096;

/// The handles of a route, method and status: the registry's lookup builds and hashes every
/// label on each call, so they are looked up once and kept (the recorder lives as long as the
/// process).
fn handles(route: &Arc<str>, method: &'static str, status: u16) -> Handles {
    static KEPT: OnceLock<RwLock<Kept>> = OnceLock::new();
    let kept = KEPT.get_or_init(RwLock::default);
    if let Ok(map) = kept.read()
        && let Some(found) = map.1.get(route).and_then(|m| m.get(&(method, status)))
    {
        return found.clone();
    }
    let label = SharedString::from(route.clone());
    let made = (
        histogram!(
            "tessera_http_request_duration_seconds",
            "method" => method,
            "route" => label.clone()
        ),
        counter!(
            "tessera_http_requests_total",
            "method" => method,
            "route" => label,
            "status" => status.to_string()
        ),
    );
    if let Ok(mut map) = kept.write()
        && map.0 < MAX_HANDLES
    {
        map.0 += 1;
        let per_route = map.1.entry(route.clone()).or_default();
        per_route.insert((method, status), made.clone());
    }
    made
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
