//! The browser-facing endpoints: `/authorize`, the login and consent pages, and their assets.

pub mod account;
pub mod check_session;
pub mod consent;
pub mod cookies;
pub mod device;
pub mod error;
pub mod factor;
pub mod federation;
pub mod federation_link;
pub mod flow;
pub mod interaction;
pub mod jarm;
pub mod login;
pub mod logout;
pub mod pages;
pub mod park;
pub mod passkey;
pub mod password_reset;
pub mod throttle;

use axum::extract::State;
use axum::response::Response;

use super::AppState;

/// `GET /assets/style.css`
pub async fn style(State(state): State<AppState>) -> Response {
    state.pages.style()
}

/// `GET /assets/signed_out.js`
pub async fn signed_out_script(State(state): State<AppState>) -> Response {
    state.pages.signed_out_script()
}

/// `GET /assets/form_post.js`
pub async fn form_post_script(State(state): State<AppState>) -> Response {
    state.pages.form_post_script()
}
