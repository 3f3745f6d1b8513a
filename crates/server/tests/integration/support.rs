//! Shared helpers: a real server on a loopback port (in-process, with a fixed clock), the real
//! binary as a child process, and a fresh PostgreSQL database per test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::{Clock, FixedClock, SystemClock};
use tessera_server::clock::{Clocks, ManualMonotonicClock};
use tessera_server::config::load_str;
use tessera_server::serve::{RunningServer, start};

/// Installs the process-wide TLS provider once (dev-dependencies bring in a second one).
pub fn init() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Configuration text for a test server on `port` with `database_url`, plus `extra` TOML,
/// which begins inside `[keys]`; its `profile = ...` line, a top-level key, goes to the top.
pub fn config_text(port: u16, database_url: &str, extra: &str) -> String {
    let (root, extra): (Vec<&str>, Vec<&str>) =
        extra.lines().partition(|l| l.starts_with("profile = "));
    let (root, extra) = (root.join("\n"), extra.join("\n"));
    format!(
        r#"issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
database_url = "{database_url}"
{root}

[keys]
refresh_interval = 1

{extra}
"#
    )
}

/// A SQLite URL for a file in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("tessera.db").display())
}

/// A new, empty database on the test PostgreSQL server.
pub async fn postgres_url() -> String {
    let admin = std::env::var("TESSERA_TEST_DATABASE_URL").expect(
        "TESSERA_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh, which starts a \
         throw-away PostgreSQL server",
    );
    let suffix: String = tessera_core::crypto::random_bytes(8)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    tessera_store_sql::create_postgres_database(&admin, &format!("server_{suffix}"))
        .await
        .unwrap()
}

/// A server running in this process on a loopback port.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub base: String,
    /// The running server.
    pub running: RunningServer,
    /// The server's clock.
    pub clock: Arc<FixedClock>,
    /// The clock of the server's in-memory limits (sign-in throttle, parking, introspection
    /// budget): it stands still until a test moves it.
    pub monotonic: Arc<ManualMonotonicClock>,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Holds the SQLite file's directory, if any.
    pub dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server on a fresh SQLite file.
    pub async fn start(extra: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(dir.path());
        let mut server = Self::start_on(&url, extra).await;
        server.dir = Some(dir);
        server
    }

    /// A server on `database_url`.
    pub async fn start_on(database_url: &str, extra: &str) -> TestServer {
        Self::start_instance(database_url, None, extra).await
    }

    /// A server on `database_url` with the given issuer (instances of one deployment share
    /// their issuer; by default it is the server's own address).
    pub async fn start_instance(
        database_url: &str,
        issuer: Option<&str>,
        extra: &str,
    ) -> TestServer {
        Self::start_listening(database_url, free_port(), issuer, extra).await
    }

    /// A server on a fresh SQLite file listening on `host:port` (chosen before, so that another
    /// server's configuration can name it; another loopback address than 127.0.0.1 keeps the
    /// browser's cookies of the two apart, as two hosts would).
    pub async fn start_at(host: &str, port: u16, extra: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(dir.path());
        let issuer = format!("http://{host}:{port}");
        let mut server = Self::start_listening(&url, port, Some(&issuer), extra).await;
        server.dir = Some(dir);
        server
    }

    async fn start_listening(
        database_url: &str,
        port: u16,
        issuer: Option<&str>,
        extra: &str,
    ) -> TestServer {
        init();
        let mut text = config_text(port, database_url, extra);
        if let Some(issuer) = issuer {
            text = text.replacen(
                &format!("issuer = \"http://127.0.0.1:{port}\""),
                &format!("issuer = \"{issuer}\""),
                1,
            );
            // An issuer on another loopback address listens there.
            if let Some(host) = issuer
                .strip_prefix("http://")
                .and_then(|h| h.split(':').next())
                && host.starts_with("127.")
            {
                text = text.replacen(
                    &format!("listen = \"127.0.0.1:{port}\""),
                    &format!("listen = \"{host}:{port}\""),
                    1,
                );
            }
        }
        let config =
            load_str(&text, false).unwrap_or_else(|e| panic!("test configuration invalid:\n{e}"));
        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let monotonic = Arc::new(ManualMonotonicClock::new());
        let clocks = Clocks {
            wall: clock.clone(),
            monotonic: monotonic.clone(),
        };
        let running = start(config, clocks).await.unwrap();
        let server = TestServer {
            base: format!("http://{}", running.local_addr),
            running,
            clock,
            monotonic,
            http: reqwest::Client::new(),
            dir: None,
        };
        server.wait_ready().await;
        server
    }

    /// Waits until `/readyz` answers 200.
    #[allow(clippy::disallowed_methods)] // a real deadline: the server starts in real time
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server did not become ready");
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path` and parse the JSON body.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Stops the server gracefully.
    pub async fn stop(self) {
        self.running.shutdown().await.unwrap();
    }
}

/// Polls `check` until it is true or 20 s pass.
#[allow(clippy::disallowed_methods)] // a real deadline: what is awaited happens in real time
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// The `tessera` binary built for these tests.
pub fn tessera() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    // The tests' own environment must not leak configuration into the child.
    for (key, _) in std::env::vars() {
        if key.starts_with("TESSERA_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

/// Runs `tessera ARGS` with `config` as its configuration file and `stdin` as input.
pub fn run_cli(config: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = tessera()
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A `tessera serve` child process.
pub struct ServerProcess {
    /// The child.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl ServerProcess {
    /// Starts `tessera --config FILE serve` and waits until it is ready.
    pub async fn start(config: &Path, port: u16) -> ServerProcess {
        Self::start_logging(config, port, None, "info").await
    }

    /// Like [`ServerProcess::start`], with standard output and error written to `log` and
    /// `RUST_LOG` set to `filter`.
    pub async fn start_logging(
        config: &Path,
        port: u16,
        log: Option<&Path>,
        filter: &str,
    ) -> ServerProcess {
        let output = || match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            None => Stdio::null(),
        };
        let child = tessera()
            .env("RUST_LOG", filter)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(output())
            .stderr(output())
            .spawn()
            .unwrap();
        let process = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let url = format!("{}/readyz", process.base);
        eventually("the server process to become ready", || {
            let http = http.clone();
            let url = url.clone();
            async move { matches!(http.get(&url).send().await, Ok(r) if r.status() == 200) }
        })
        .await;
        process
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// An HTTP client for the `openidconnect` crate, on our reqwest.
pub async fn oidc_http(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, std::io::Error> {
    let client = reqwest::Client::new();
    let (parts, body) = request.into_parts();
    let mut builder = client
        .request(parts.method.clone(), parts.uri.to_string())
        .body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(std::io::Error::other)?;
    let mut out = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let body = response.bytes().await.map_err(std::io::Error::other)?;
    out.body(body.to_vec()).map_err(std::io::Error::other)
}

/// Runs the test tool `tests/tools/NAME` with the tests' Python (scripts/test.sh prepares it),
/// `input` on its standard input; its standard output. The test fails with the tool's error
/// when it exits non-zero.
pub fn python_tool(name: &str, input: &str) -> String {
    use std::io::Write as _;
    let python = std::env::var("TESSERA_TEST_PYTHON")
        .expect("TESSERA_TEST_PYTHON: run the tests with scripts/test.sh");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tools")
        .join(name);
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
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name} refused its input: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}
