//! OpenTelemetry traces over OTLP/HTTP: the real binary with `[tracing] otlp_endpoint` exports
//! a span per request to a receiver that decodes them with OpenTelemetry's own protobuf
//! definitions (`tests/tools/otlp_receiver.py`). A request that sends a W3C `traceparent`
//! continues its caller's trace; one without, or with a malformed one, starts its own. Spans are
//! named by route and carry the request id, and no secret.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;

use crate::relying_parties::required_env;
use crate::support::{ServerProcess, free_port, write_file};

/// The receiver, stopped when dropped.
struct Receiver {
    child: Child,
    _stdin: ChildStdin,
    spans: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start(port: u16, dir: &Path) -> Receiver {
        let spans = dir.join("spans.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/otlp_receiver.py");
        let mut child = Command::new(required_env("TESSERA_TEST_PYTHON"))
            .arg(script)
            .arg(port.to_string())
            .arg(&spans)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the OTLP receiver did not start");
        Receiver {
            child,
            _stdin: stdin,
            spans,
        }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.spans).unwrap_or_default()
    }

    fn spans(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
/// OTLP's `SPAN_KIND_SERVER`.
const SERVER: u64 = 2;

#[tokio::test]
async fn requests_are_exported_as_spans_that_continue_the_callers_trace() {
    let dir = tempfile::tempdir().unwrap();
    let receiver_port = free_port();
    let receiver = Receiver::start(receiver_port, dir.path());
    let port = free_port();
    let config = format!(
        r#"issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
database_url = "sqlite://{db}"

[tracing]
otlp_endpoint = "http://127.0.0.1:{receiver_port}"
service_name = "tessera-under-test"

[[clients]]
client_id = "machine"
secrets = ["machine-secret-0123456789abcdef0123"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]

[[api_scopes]]
name = "api1.read"

[[api_resources]]
name = "urn:api1"
scopes = ["api1.read"]
"#,
        db = dir.path().join("tessera.db").display(),
    );
    let server = ServerProcess::start(&write_file(dir.path(), "tessera.toml", &config), port).await;
    let http = reqwest::Client::new();
    let token = http
        .post(format!("{}/token", server.base))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .basic_auth("machine", Some("machine-secret-0123456789abcdef0123"))
        .form(&[("grant_type", "client_credentials"), ("scope", "api1.read")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let request_id = token.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = token.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_string();
    let discovery = http
        .get(format!("{}/.well-known/openid-configuration", server.base))
        .header("traceparent", "00-not-a-trace-context")
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    // SIGTERM: the server drains, then sends the spans it still holds.
    assert!(server.terminate().success());
    crate::support::eventually("two spans at the receiver", || async {
        receiver.spans().len() >= 2
    })
    .await;
    let spans = receiver.spans();

    let token_span = spans
        .iter()
        .find(|s| s["name"] == "POST /token")
        .unwrap_or_else(|| panic!("no span for POST /token: {spans:#?}"));
    assert_eq!(token_span["trace_id"], CALLER_TRACE, "the caller's trace");
    assert_eq!(
        token_span["parent_span_id"], CALLER_SPAN,
        "the caller's span"
    );
    assert_eq!(token_span["kind"], SERVER);
    let attributes = &token_span["attributes"];
    assert_eq!(attributes["http.route"], "/token");
    assert_eq!(attributes["http.response.status_code"], 200);
    assert_eq!(attributes["request_id"], request_id.as_str());
    assert_eq!(attributes["client_id"], "machine");
    assert_eq!(token_span["resource"]["service.name"], "tessera-under-test");

    let discovery_span = spans
        .iter()
        .find(|s| s["name"] == "GET /.well-known/openid-configuration")
        .unwrap_or_else(|| panic!("no span for discovery: {spans:#?}"));
    assert_ne!(discovery_span["trace_id"], CALLER_TRACE);
    assert_eq!(discovery_span["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(
        discovery_span["parent_span_id"], "",
        "a malformed traceparent starts a new trace"
    );

    let exported = receiver.text();
    for secret in ["machine-secret-0123456789abcdef0123", &access_token] {
        assert!(!exported.contains(secret), "a secret was exported");
    }
}
