//! The admin API's OpenAPI document, checked by openapi-spec-validator (a third party).

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::admin::OPERATORS;
use crate::support::TestServer;

#[tokio::test]
async fn the_openapi_document_is_valid_openapi_3_1_and_lists_every_route() {
    let server = TestServer::start(OPERATORS).await;
    let doc = server.get_json("/admin/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let python = std::env::var("TESSERA_TEST_PYTHON")
        .expect("TESSERA_TEST_PYTHON: run the tests with scripts/test.sh");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/validate_openapi.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("valid 3.1"));
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
