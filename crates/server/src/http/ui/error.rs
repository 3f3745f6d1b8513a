//! The one error type of the browser-facing pages. Handlers return `Result<_, PageError>` and
//! use `?`; [`render_error_pages`], which has the templates, turns it into the page, after one
//! log line. Nothing is redirected to a client from here (RFC 6749 §4.1.2.1).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_core::protocol::OAuthError;
use tessera_core::store::StoreError;

use crate::http::AppState;

/// Why a page cannot go on.
#[derive(Debug, Clone)]
pub enum PageError {
    /// A protocol or server error, shown with its code.
    Protocol(OAuthError),
    /// The page's interaction is gone: expired, or already submitted.
    Expired,
    /// The form was not sent from the page this browser opened (CSRF).
    Forged,
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

/// Renders the page of a handler's [`PageError`].
pub async fn render_error_pages(State(state): State<AppState>, mut response: Response) -> Response {
    match response.extensions_mut().remove::<PageError>() {
        None => response,
        Some(PageError::Protocol(e)) => state.error_page(&e),
        Some(PageError::Expired) => state.pages.error(
            StatusCode::BAD_REQUEST,
            "This sign-in page has expired",
            "Go back to the application and start the sign-in again.",
            "",
        ),
        Some(PageError::Forged) => state.pages.error(
            StatusCode::FORBIDDEN,
            "This form cannot be accepted",
            "The form was not sent from the page this browser opened. Go back to the application and start the sign-in again.",
            "",
        ),
    }
}
