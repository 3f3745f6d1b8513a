//! POSTed browser requests (`/authorize`, `/end_session`) arrive from the client's site without
//! our SameSite=Lax cookies. Their parameters are parked server-side for a moment and the
//! browser continues with a 303 to a GET on our own site that names only the parked request,
//! so that the session cookie is sent and no parameter (an `id_token_hint`, say) moves into
//! a URL.

use std::net::IpAddr;
use std::time::Duration;

use tessera_core::authorize::parked::{PARKED_LIFETIME, park_request, take_parked_request};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::error::PageError;
use super::flow::see_other;
use crate::http::AppState;
use crate::http::form::read_form;
use crate::http::window_limit::{Exceeded, WindowLimit};

/// The query parameter that names a parked request.
pub const CONTINUE: &str = "continue";

/// Parked requests are unauthenticated writes: bounded in size, per address and overall, so
/// that a flood cannot grow the database (each window is one parked request's lifetime, so at
/// most two windows' worth are alive; the purge removes them within a minute after). Past a
/// bound nobody is refused: the browser gets a page of ours that posts the same form to us
/// again, now from our own site, so that its cookies come along and nothing is stored
/// ([`RESUBMITTED`]).
/// Largest parked request, in bytes: authorization and end-session parameters fit easily.
pub const MAX_PARKED_BYTES: usize = 16 * 1024;
/// Parked requests one address (an IPv6 /64) may make per window.
pub const PER_ADDRESS: u32 = 20;
/// Parked requests this instance takes per window from everyone.
pub const OVERALL: u32 = 1_000;
const WINDOW: Duration = Duration::from_secs(PARKED_LIFETIME.unsigned_abs());

/// The marker of a form our own page posted again: handled at once, not parked.
pub const RESUBMITTED: &str = "resubmitted";

/// The limit on parked requests: [`PER_ADDRESS`] and [`OVERALL`] per parked lifetime.
pub fn parking_limit() -> WindowLimit {
    WindowLimit::new(PER_ADDRESS, OVERALL, WINDOW)
}

/// The form of a browser GET: the parked request its query names, or the query itself.
pub async fn get_form(state: &AppState, query: Option<&str>) -> Result<Form, OAuthError> {
    continued(state, &Form::parse(query.unwrap_or_default().as_bytes())?).await
}

/// A browser request to `/authorize` or `/end_session`, by GET or POST: its parameters, or the
/// answer already given (the redirect to the parked request, or our page that posts it
/// again).
pub enum BrowserRequest {
    /// Answered already.
    Answered(Response),
    /// Continue with these parameters, sent with these headers.
    Form(Form, HeaderMap),
}

impl BrowserRequest {
    /// The answer given already, or what `start` answers for the parameters and headers.
    pub async fn answer(
        self,
        start: impl AsyncFnOnce(Form, HeaderMap) -> Result<Response, PageError>,
    ) -> Result<Response, PageError> {
        match self {
            Self::Answered(response) => Ok(response),
            Self::Form(form, headers) => start(form, headers).await,
        }
    }
}

impl axum::extract::FromRequest<AppState> for BrowserRequest {
    /// A body that cannot be read gets the body extractor's answer (413 past the limit); other
    /// refusals are error pages.
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Response> {
        use axum::response::IntoResponse as _;
        // GET (and HEAD) carry the parameters in the query; a POST in its body.
        if request.method() != axum::http::Method::POST {
            let form = get_form(state, request.uri().query()).await;
            let headers = request.headers().clone();
            return form
                .map(|form| Self::Form(form, headers))
                .map_err(|e| PageError::from(e).into_response());
        }
        let (parts, body) = request.into_parts();
        let address = (parts.extensions.get::<crate::connections::PeerAddr>()).map(|p| p.0.ip());
        let (headers, uri) = (parts.headers.clone(), parts.uri.clone());
        let request = axum::extract::Request::from_parts(parts, body);
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| rejection.into_response())?;
        let posted = park_post(state, (&headers, &uri, &body), address, uri.path()).await;
        match posted.map_err(|e| e.into_response())? {
            Posted::Answered(response) => Ok(Self::Answered(response)),
            Posted::Continue(form) => Ok(Self::Form(form, headers)),
        }
    }
}

/// What a browser POST becomes.
pub enum Posted {
    /// Answered already: the redirect to the parked request, or the page that posts the form
    /// again.
    Answered(Response),
    /// Posted again from our own page: continue with this form now.
    Continue(Form),
}

/// A browser POST to `path` from `address`: its form is parked and the browser continues with
/// a GET there; past the parking bounds, our page posts it again (same-site, with cookies).
pub async fn park_post(
    state: &AppState,
    (headers, uri, body): (&HeaderMap, &Uri, &[u8]),
    address: Option<IpAddr>,
    path: &str,
) -> Result<Posted, PageError> {
    let form = read_form(headers, uri, body)?;
    if form.has(RESUBMITTED) {
        return Ok(Posted::Continue(form.without(RESUBMITTED)));
    }
    let refused = if body.len() > MAX_PARKED_BYTES {
        Some("too large to park")
    } else {
        state
            .parking
            .admit(address, state.monotonic.now())
            .err()
            .map(|why| match why {
                Exceeded::Address => "this address parked its share",
                Exceeded::Overall => "the instance parked its share",
            })
    };
    if let Some(reason) = refused {
        tracing::info!(
            reason,
            "browser POST posted again from our page instead of parked"
        );
        return Ok(Posted::Answered(post_again(state, &form, path)));
    }
    Ok(Posted::Answered(park(state, &form, path).await?))
}

/// Our page that posts `form` to `path` again (with JavaScript at once, else with a button).
fn post_again(state: &AppState, form: &Form, path: &str) -> Response {
    let base = state.config.issuer.trim_end_matches('/');
    let mut params: Vec<(&str, &str)> = form.pairs();
    params.push((RESUBMITTED, "1"));
    state.pages.render(
        StatusCode::OK,
        "form_post.html",
        minijinja::context! {
            redirect_uri => format!("{base}{path}"),
            params,
        },
    )
}

/// Parks `form` and sends the browser to `path` to continue it.
async fn park(state: &AppState, form: &Form, path: &str) -> Result<Response, OAuthError> {
    let handle = park_request(state.store.as_ref(), form, state.clock.now()).await?;
    let base = state.config.issuer.trim_end_matches('/');
    Ok(see_other(&format!("{base}{path}?{CONTINUE}={handle}")))
}

/// The request a GET continues: the parked one it names (used once), or its own query.
async fn continued(state: &AppState, query: &Form) -> Result<Form, OAuthError> {
    let Some(handle) = query.one(CONTINUE)? else {
        return Ok(query.clone());
    };
    take_parked_request(state.store.as_ref(), handle, state.clock.now())
        .await?
        .ok_or_else(expired)
}

fn expired() -> OAuthError {
    OAuthError::InvalidRequest(
        "this request has expired or was already used; go back to the application".into(),
    )
}
