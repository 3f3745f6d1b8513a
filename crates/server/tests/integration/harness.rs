//! A test app without a socket: the state built from parts (`AppState::build`) on the memory
//! store or a SQLite file, the router driven with `tower::ServiceExt::oneshot`, and both clocks
//! in the test's hands. For what needs no network: wire formats, error bodies, headers, the
//! token and introspection endpoints. Tests that need connections, a browser or the binary use
//! `support::TestServer` and `support::ServerProcess`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use tessera_core::FixedClock;
use tessera_core::store::{MemoryStore, Store};
use tessera_server::clock::{Clocks, ManualMonotonicClock};
use tessera_server::config::load_str;
use tessera_server::http::{AppState, router};
use tower::ServiceExt as _;

use crate::support::{init, sqlite_url};

/// The issuer of every test app.
pub const ISSUER: &str = "https://tessera.test";
/// Where a test app's clock stands when it is built (2026-01-01T00:00:00Z): tokens are stamped
/// with it, so check them against this clock, not the real one.
pub const NOW: i64 = 1_767_225_600;

/// The application, built without a listener.
pub struct TestApp {
    /// The state the handlers reach.
    pub state: AppState,
    /// The wall clock: tokens, grants, sessions, and the shared limits (sign-in throttle,
    /// introspection budget).
    pub clock: Arc<FixedClock>,
    router: Router,
    /// Holds the SQLite file's directory, if any.
    _dir: Option<tempfile::TempDir>,
}

/// A response, read to its end.
#[derive(Debug)]
pub struct TestResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl TestResponse {
    /// Reads a response that came over a socket, for helpers shared with `TestServer` tests.
    pub async fn read(response: reqwest::Response) -> TestResponse {
        TestResponse {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap(),
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} with a body that is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `Authorization: Basic` for `id` and `secret`, each form-urlencoded first (RFC 6749 §2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

impl TestApp {
    /// An app on the memory store with the configuration `extra` (TOML).
    pub async fn new(extra: &str) -> TestApp {
        let config = config("", extra);
        Self::build(config, Arc::new(MemoryStore::new()), None).await
    }

    /// An app on a fresh SQLite file with the configuration `extra`.
    pub async fn on_sqlite(extra: &str) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(dir.path());
        let config = config(&format!("database_url = \"{url}\""), extra);
        let store = tessera_store_sql::SqlStore::open(&url, &config.database)
            .await
            .unwrap();
        Self::build(config, Arc::new(store), Some(dir)).await
    }

    async fn build(
        config: tessera_server::config::Config,
        store: Arc<dyn Store>,
        dir: Option<tempfile::TempDir>,
    ) -> TestApp {
        let clock = Arc::new(FixedClock::new(NOW));
        let monotonic = Arc::new(ManualMonotonicClock::new());
        let clocks = Clocks {
            wall: clock.clone(),
            monotonic,
        };
        let (state, pending) = AppState::build(Arc::new(config), store, clocks)
            .await
            .unwrap();
        // The server checks configured passwords in the background; here they are checked
        // before the first request, so the app is ready once built.
        state.check_configured_passwords(pending).await.unwrap();
        TestApp {
            router: router(state.clone()),
            state,
            clock,
            _dir: dir,
        }
    }

    /// Sends `request` through the router and reads the response.
    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: axum::body::to_bytes(body, usize::MAX).await.unwrap(),
        }
    }

    /// `method path` with `headers` and `body`; a body gets its `Content-Length`, as on the
    /// wire.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_LENGTH, body.len());
                Body::from(body)
            }
            None => Body::empty(),
        };
        self.request(request.body(body).unwrap()).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, &[], None).await
    }

    /// `POST path` with a form body, and Basic credentials when given.
    pub async fn post_form(
        &self,
        path: &str,
        credentials: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> TestResponse {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let authorization = credentials.map(|(id, secret)| basic(id, secret));
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        headers.extend(authorization.as_deref().map(|a| ("authorization", a)));
        self.send(Method::POST, path, &headers, Some(body.into_bytes()))
            .await
    }

    /// The discovery document (OpenID Connect Discovery 1.0 §4).
    pub async fn discovery(&self) -> Value {
        let response = self.get("/.well-known/openid-configuration").await;
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()
    }

    /// A client_credentials token request (RFC 6749 §4.4) with Basic credentials and `extra`
    /// parameters.
    pub async fn client_credentials(
        &self,
        id: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> TestResponse {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        self.post_form("/token", Some((id, secret)), &form).await
    }

    /// Introspects `token` as `caller` (RFC 7662 §2.1): a 200 that must not be cached.
    pub async fn introspect(&self, caller: (&str, &str), token: &str) -> Value {
        let response = self
            .post_form("/introspect", Some(caller), &[("token", token)])
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.headers["cache-control"], "no-store");
        response.json()
    }
}

/// A validated configuration with the test issuer, `database` (a `database_url` line or
/// nothing) and `extra`.
fn config(database: &str, extra: &str) -> tessera_server::config::Config {
    init();
    let text = format!("issuer = \"{ISSUER}\"\n{database}\n\n{extra}\n");
    load_str(&text, false).unwrap_or_else(|e| panic!("test configuration invalid:\n{e}"))
}

#[tokio::test]
async fn the_app_answers_on_the_memory_store_and_on_sqlite() {
    for app in [TestApp::new("").await, TestApp::on_sqlite("").await] {
        assert_eq!(app.get("/readyz").await.json()["status"], "ready");
        assert_eq!(app.discovery().await["issuer"], ISSUER);
        assert_eq!(tessera_core::Clock::now(app.state.clock.as_ref()), NOW);
    }
}
