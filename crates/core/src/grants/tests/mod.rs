//! Tests that span several grants.

mod atomic_issue;
mod code_flow;
mod dpop_binding;

use crate::grants::TokenContext;
use crate::model::Client;
use crate::protocol::OAuthError;
use crate::protocol::form::Form;
use crate::protocol::token::{TokenRequest, TokenResponse};
use crate::store::UserStore;

/// A token request as the token endpoint runs it: the form body parsed, then dispatched.
async fn token(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    body: &str,
) -> Result<TokenResponse, OAuthError> {
    let request = TokenRequest::parse(&Form::parse(body.as_bytes()).unwrap())?;
    crate::grants::exchange(ctx, users, client, &request).await
}
