//! Runs the example API. Environment: `TESSERA_ISSUER` (default http://localhost:8080),
//! `API_AUDIENCE` (default urn:api1), `API_SECRET` (default api1-secret, for reference
//! tokens), `API_LISTEN` (default 127.0.0.1:5001).

use std::sync::Arc;

use tessera_validation::{TokenValidator, ValidationConfig};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let audience = env_or("API_AUDIENCE", "urn:api1");
    let config = ValidationConfig::new(
        env_or("TESSERA_ISSUER", "http://localhost:8080"),
        audience.clone(),
    )
    .with_introspection(audience, env_or("API_SECRET", "api1-secret"));
    let validator = TokenValidator::new(config).map_err(std::io::Error::other)?;
    let app = protected_api::router(Arc::new(validator));
    let listen = env_or("API_LISTEN", "127.0.0.1:5001");
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("protected API on http://{listen}/api/protected");
    axum::serve(listener, app).await
}
