//! The one error type of the browser-facing pages. Handlers return `Result<_, PageError>` and
//! use `?`; [`render_error_pages`], which has the templates, turns it into the page, after one
//! log line. Nothing is redirected to a client from here (RFC 6749 §4.1.2.1).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_core::protocol::OAuthError;
use tessera_core::store::StoreError;

use crate::http::AppState;

/// What a page handler answers.
pub type Page = Result<Response, PageError>;

/// Why a page cannot go on.
#[derive(Debug, Clone)]
pub enum PageError {
    /// A protocol or server error, shown with its code.
    Protocol(OAuthError),
    /// A page's form refused for what it is, not for a protocol error.
    Refused(Refusal),
    /// A sign-in at an external identity provider failed: what the user is told (the reason
    /// was logged where it happened).
    Upstream(String),
}

/// A refused page form: what the user is shown, and the reason the log gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    status: StatusCode,
    title: &'static str,
    detail: &'static str,
    reason: &'static str,
}

impl PageError {
    /// The sign-in page's interaction is gone: expired, or already submitted.
    pub const EXPIRED: PageError = PageError::Refused(Refusal {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-in page has expired",
        detail: "Go back to the application and start the sign-in again.",
        reason: "the interaction is unknown, expired or already used",
    });
    /// The form was not sent from the page this browser opened (CSRF).
    pub const FORGED: PageError = PageError::Refused(Refusal {
        status: StatusCode::FORBIDDEN,
        title: "This form cannot be accepted",
        detail: "The form was not sent from the page this browser opened. Go back to the application and start the sign-in again.",
        reason: "the form's CSRF token or browser binding does not match",
    });
    /// The sign-in at an external provider is unknown, expired, already finished, or for
    /// another provider.
    pub const UPSTREAM_EXPIRED: PageError = PageError::Refused(Refusal {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-in has expired",
        detail: "The answer from the sign-in provider does not belong to a sign-in in progress in this browser. Go back to the application and start the sign-in again.",
        reason: "an upstream callback's state is unknown, expired, used or for another provider",
    });
    /// The account an upstream sign-in leads to is disabled.
    pub const ACCOUNT_DISABLED: PageError = PageError::Refused(Refusal {
        status: StatusCode::FORBIDDEN,
        title: "This account is disabled",
        detail: "The account you signed in to cannot be used here. Ask your administrator.",
        reason: "an upstream sign-in leads to a disabled account",
    });
    /// A passkey ceremony's answer failed its checks.
    pub const PASSKEY_FAILED: PageError = PageError::Refused(Refusal {
        status: StatusCode::BAD_REQUEST,
        title: "That passkey could not be used",
        detail: "The passkey was not accepted. Go back and try again, or use another way to sign in.",
        reason: "a passkey ceremony's answer failed its checks",
    });
    /// An account form came from a browser that is not signed in (any more).
    pub const ACCOUNT_SIGNED_OUT: PageError = PageError::Refused(Refusal {
        status: StatusCode::UNAUTHORIZED,
        title: "You are not signed in",
        detail: "Open your account page again and sign in.",
        reason: "an account form came without a live session",
    });
    /// An account form does not carry its session's CSRF token.
    pub const ACCOUNT_FORGED: PageError = PageError::Refused(Refusal {
        status: StatusCode::FORBIDDEN,
        title: "This form cannot be accepted",
        detail: "The form was not sent from your account page. Open your account page again.",
        reason: "an account form's CSRF token does not match the session",
    });
    /// A sign-in to the account page was cancelled.
    pub const ACCOUNT_CANCELLED: PageError = PageError::Refused(Refusal {
        status: StatusCode::OK,
        title: "Sign-in cancelled",
        detail: "You did not sign in. Open your account page again to sign in.",
        reason: "the user cancelled a sign-in to the account page",
    });
    /// The sign-out confirmation is gone: expired, or already submitted.
    pub const SIGN_OUT_EXPIRED: PageError = PageError::Refused(Refusal {
        status: StatusCode::BAD_REQUEST,
        title: "This sign-out page has expired",
        detail: "Go back to the application and sign out again.",
        reason: "the sign-out confirmation is unknown, expired or already used",
    });
    /// The sign-out form was not sent from the page this browser opened (CSRF).
    pub const SIGN_OUT_FORGED: PageError = PageError::Refused(Refusal {
        status: StatusCode::FORBIDDEN,
        title: "This form cannot be accepted",
        detail: "Go back to the application and sign out again.",
        reason: "the sign-out form's CSRF token or browser binding does not match",
    });
    /// Password reset by mail is not offered: no `[smtp]` is configured.
    pub const RESET_UNAVAILABLE: PageError = PageError::Refused(Refusal {
        status: StatusCode::NOT_FOUND,
        title: "Password reset by mail is not offered here",
        detail: "Ask your administrator to reset your password.",
        reason: "password reset asked for, but no [smtp] is configured",
    });
    /// A reset link that is unknown, expired, used, or no longer applies to its account.
    pub const RESET_GONE: PageError = PageError::Refused(Refusal {
        status: StatusCode::BAD_REQUEST,
        title: "This link has expired or was used",
        detail: "A password reset link works once, for 30 minutes. Ask for a new one from the sign-in page.",
        reason: "a password reset token is unknown, expired, used or no longer applies",
    });
    /// A password reset form was not sent from the page this browser opened (CSRF).
    pub const RESET_FORGED: PageError = PageError::Refused(Refusal {
        status: StatusCode::FORBIDDEN,
        title: "This form cannot be accepted",
        detail: "The form was not sent from the page this browser opened. Open the page again.",
        reason: "a password reset form's CSRF token or browser binding does not match",
    });
}

impl From<OAuthError> for PageError {
    fn from(e: OAuthError) -> Self {
        Self::Protocol(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        Self::Protocol(e.into())
    }
}

impl IntoResponse for PageError {
    /// A placeholder carrying the error; [`render_error_pages`] replaces it with the page.
    fn into_response(self) -> Response {
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders the page of a handler's [`PageError`], after its one log line.
pub async fn render_error_pages(State(state): State<AppState>, mut response: Response) -> Response {
    match response.extensions_mut().remove::<PageError>() {
        None => response,
        Some(PageError::Protocol(e)) => state.error_page(&e),
        Some(PageError::Refused(r)) => {
            crate::metrics::refusal("page_refused");
            tracing::info!(reason = r.reason, answer = "page", "request refused");
            state.pages.error(r.status, r.title, r.detail, "")
        }
        Some(PageError::Upstream(detail)) => {
            let title = "The sign-in could not be completed";
            state
                .pages
                .error(StatusCode::BAD_GATEWAY, title, &detail, "")
        }
    }
}

impl AppState {
    /// An error page for the user; nothing is redirected (RFC 6749 §4.1.2.1).
    pub fn error_page(&self, error: &OAuthError) -> Response {
        crate::http::error::log_refusal(error, "page");
        let (status, title) = match crate::http::error::status_of(error) {
            StatusCode::SERVICE_UNAVAILABLE => {
                (StatusCode::SERVICE_UNAVAILABLE, "Try again shortly")
            }
            s if s.is_server_error() => (s, "Something went wrong"),
            _ => (
                StatusCode::BAD_REQUEST,
                "This sign-in request cannot be completed",
            ),
        };
        self.pages
            .error(status, title, error.description(), error.code())
    }
}

/// A form posted from one of our pages: its headers, parameters and the peer's address.
pub struct PageForm {
    /// Its headers (cookies).
    pub headers: axum::http::HeaderMap,
    /// Its parameters.
    pub form: tessera_core::protocol::form::Form,
    /// The address of the connection's peer.
    pub peer: Option<std::net::IpAddr>,
}

impl axum::extract::FromRequest<AppState> for PageForm {
    /// A body that cannot be read gets the body extractor's answer (413 past the limit); a
    /// malformed form is an error page.
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let peer = (parts.extensions.get::<crate::connections::PeerAddr>()).map(|p| p.0.ip());
        let (headers, uri) = (parts.headers.clone(), parts.uri.clone());
        let request = axum::extract::Request::from_parts(parts, body);
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = crate::http::form::read_form(&headers, &uri, &body)
            .map_err(|e| PageError::from(e).into_response())?;
        Ok(PageForm {
            headers,
            form,
            peer,
        })
    }
}
