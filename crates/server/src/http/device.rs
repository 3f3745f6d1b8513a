//! `POST /device_authorization` (RFC 8628 §3.1-§3.2): a device asks for a device code and a
//! user code; and the pacing of its polls at the token endpoint (§3.5), kept in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::device::{self, Pace, PollPacer};
use tessera_core::model::Client;
use tessera_core::protocol::paths;

use super::error::ApiError;
use super::form::FormRequest;
use super::{AppState, cors};
use crate::clock::MonotonicClock;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Serialize)]
struct DeviceAuthorizationResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

/// The device authorization endpoint: the client authenticates as at the token endpoint
/// (RFC 8628 §3.1: "The client authentication requirements of Section 3.2.1 of [RFC6749]
/// apply"); its registered origins may read the answer (SEC-64).
pub async fn post_device_authorization(
    State(state): State<AppState>,
    posted: FormRequest,
) -> Result<Response, ApiError> {
    let client = state.authenticate(&posted).await?;
    let origin = cors::allowed_origin(&posted.headers, &client);
    let answer = authorize(&state, &posted, &client)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    Ok(cors::allow(answer, origin))
}

async fn authorize(
    state: &AppState,
    posted: &FormRequest,
    client: &Client,
) -> Result<Response, ApiError> {
    let scope = posted.form.one("scope")?;
    let resources = posted.form.all("resource").to_vec();
    let (ring, live) = (state.keys.current(), state.resources.current());
    let ctx = state.token_context((&ring, &live), Some(&posted.context));
    let settings = state.config.device_flow;
    let started = device::start(&ctx, client, (scope, &resources), settings).await?;
    let base = state.config.issuer.trim_end_matches('/');
    let verification_uri = format!("{base}{}", paths::DEVICE);
    // §3.3.1: the code in the URI, for a QR code; the user still confirms it on our page.
    let verification_uri_complete = format!("{verification_uri}?user_code={}", started.user_code);
    let body = DeviceAuthorizationResponse {
        device_code: started.device_code,
        user_code: started.user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: started.expires_in,
        interval: started.interval,
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response())
}

/// Devices tracked at most; each entry is a digest and two numbers.
const MAX_DEVICES: usize = 100_000;
/// A device not heard from for this long is forgotten (longer than any code lives).
const FORGET_AFTER: Duration = Duration::from_secs(600 + 60);

/// When each device polled last, and its interval now.
pub struct DevicePolls {
    clock: Arc<dyn MonotonicClock>,
    devices: Mutex<HashMap<String, Polled>>,
}

#[derive(Clone, Copy)]
struct Polled {
    last: Instant,
    interval: u64,
}

impl DevicePolls {
    /// No device has polled yet.
    pub fn new(clock: Arc<dyn MonotonicClock>) -> DevicePolls {
        DevicePolls {
            clock,
            devices: Mutex::default(),
        }
    }
}

impl PollPacer for DevicePolls {
    /// RFC 8628 §3.5: a poll sooner than the interval after the last one is `slow_down`, and
    /// the interval grows by 5 seconds "for this and all subsequent requests".
    fn poll(&self, digest: &str, interval: u64) -> Pace {
        let now = self.clock.now();
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        if devices.len() >= MAX_DEVICES && !devices.contains_key(digest) {
            devices.retain(|_, p| now.duration_since(p.last) < FORGET_AFTER);
            if devices.len() >= MAX_DEVICES {
                // Every tracked device is live: this one goes unpaced rather than forgetting
                // another's raised interval.
                return Pace::OnTime;
            }
        }
        let Some(polled) = devices.get_mut(digest) else {
            devices.insert(
                digest.to_string(),
                Polled {
                    last: now,
                    interval,
                },
            );
            return Pace::OnTime;
        };
        let waited = now.duration_since(polled.last);
        polled.last = now;
        if waited < Duration::from_secs(polled.interval) {
            polled.interval = polled.interval.saturating_add(5);
            Pace::TooSoon
        } else {
            Pace::OnTime
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualMonotonicClock;

    #[test]
    fn polls_sooner_than_the_interval_slow_the_device_down_by_five_seconds_each() {
        let clock = Arc::new(ManualMonotonicClock::new());
        let polls = DevicePolls::new(clock.clone());
        assert_eq!(polls.poll("d", 5), Pace::OnTime);
        clock.advance(Duration::from_secs(5));
        assert_eq!(polls.poll("d", 5), Pace::OnTime);
        clock.advance(Duration::from_secs(4));
        assert_eq!(polls.poll("d", 5), Pace::TooSoon);
        // Now 10 seconds, counted from the poll that was too soon.
        clock.advance(Duration::from_secs(9));
        assert_eq!(polls.poll("d", 5), Pace::TooSoon);
        clock.advance(Duration::from_secs(15));
        assert_eq!(polls.poll("d", 5), Pace::OnTime);
        clock.advance(Duration::from_secs(15));
        assert_eq!(polls.poll("d", 5), Pace::OnTime);
        // Another device has its own pace.
        assert_eq!(polls.poll("e", 5), Pace::OnTime);
    }
}
