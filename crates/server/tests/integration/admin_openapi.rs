//! The admin API's OpenAPI document, checked by openapi-spec-validator (a third party).

use crate::admin::OPERATORS;
use crate::support::{TestServer, python_tool};

#[tokio::test]
async fn the_openapi_document_is_valid_openapi_3_1_and_lists_every_route() {
    let server = TestServer::start(OPERATORS).await;
    let doc = server.get_json("/admin/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let verdict = python_tool("validate_openapi.py", &doc.to_string());
    assert!(verdict.starts_with("valid 3.1"), "{verdict}");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/admin/v1/clients",
        "/admin/v1/clients/{client_id}",
        "/admin/v1/clients/{client_id}/secret",
        "/admin/v1/users",
        "/admin/v1/users/{subject}",
        "/admin/v1/users/{subject}/disable",
        "/admin/v1/keys",
        "/admin/v1/keys/rotate",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"];
    assert_eq!(flow["tokenUrl"], server.url("/token"));
    assert!(flow["scopes"].get("tessera.admin.write").is_some());
    server.stop().await;
}
