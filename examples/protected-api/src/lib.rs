//! An API protected by Tessera access tokens: `GET /api/protected` needs a valid token with the
//! `api1.read` scope and answers with what the token says.

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use tessera_validation::{Claims, RequireScopeLayer, TokenValidationLayer, TokenValidator};

/// `GET /api/protected`.
async fn protected(Extension(claims): Extension<Claims>) -> Json<Value> {
    Json(json!({
        "message": "hello from the protected API",
        "sub": claims.subject,
        "client_id": claims.client_id,
        "scope": claims.scopes.join(" "),
    }))
}

/// The API's routes behind token validation and the `api1.read` scope.
pub fn router(validator: Arc<TokenValidator>) -> Router {
    Router::new()
        .route("/api/protected", get(protected))
        .layer(RequireScopeLayer::new("api1.read"))
        .layer(TokenValidationLayer::new(validator))
}
