//! Three instances on one PostgreSQL database behind a real load balancer (Debian's HAProxy,
//! round robin per request, `X-Forwarded-For` added): admin changes (clients, resources),
//! sign-ins, the sign-in and introspection limits and key rotation hold across them. The instances trust the balancer's
//! address only, so each browser is counted by its own address, not the balancer's.
//!
//! The instances' clocks are set to one instant and stand still, as the shared limits compare
//! times written by one instance with another's.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tessera_core::Clock as _;

use crate::browser::{Browser, Landing};
use crate::relying_parties::required_env;
use crate::signin::{CHALLENGE, PEOPLE, VERIFIER};
use crate::support::{TestServer, free_port, postgres_url};

const INSTANCE: &str = r#"
[http]
trusted_proxies = ["127.0.0.1"]

[login]
max_failures_per_account = 3
max_failures_per_address = 5
max_lockout = 600

[introspection]
max_inactive_per_minute = 3
"#;

const WEB_CB: &str = "https://web.example/cb";

/// HAProxy in front of `ports`, stopped when dropped.
struct Balancer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_balancer(port: u16, ports: &[u16]) -> Balancer {
    let binary = required_env("TESSERA_TEST_HAPROXY");
    let dir = tempfile::tempdir().unwrap();
    let servers: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("    server i{i} 127.0.0.1:{p}\n"))
        .collect();
    // Each request is balanced on its own (HTTP mode), and the answer names the instance that
    // served it, so that the test can see the requests spread.
    let config = format!(
        "global\n    maxconn 512\n\
         defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    \
         timeout server 60s\n    option forwardfor\n\
         frontend front\n    bind 127.0.0.1:{port}\n    default_backend instances\n\
         backend instances\n    balance roundrobin\n    \
         http-response set-header X-Instance %[srv_name]\n{servers}"
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let check = Command::new(&binary)
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "haproxy refuses its configuration: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(&binary)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let balancer = Balancer { child, _dir: dir };
    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    crate::support::eventually("the balancer to answer", || {
        let http = http.clone();
        let ready = ready.clone();
        async move {
            http.get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    balancer
}

/// Whether `check` holds within `limit`, polled every 20 ms.
#[allow(clippy::disallowed_methods)] // a real deadline: the notice travels in real time
async fn within<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn address(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

struct Deployment {
    base: String,
    instances: Vec<TestServer>,
    _balancer: Balancer,
    http: reqwest::Client,
}

impl Deployment {
    async fn start() -> Deployment {
        let url = postgres_url().await;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let extra = format!("{INSTANCE}{PEOPLE}{}", crate::admin::OPERATORS);
        let mut instances = Vec::new();
        for _ in 0..3 {
            instances.push(TestServer::start_instance(&url, Some(&base), &extra).await);
        }
        let now = instances[0].clock.now();
        for instance in &instances {
            instance.clock.set(now);
        }
        let ports: Vec<u16> = instances
            .iter()
            .map(|i| i.running.local_addr.port())
            .collect();
        let balancer = start_balancer(port, &ports).await;
        Deployment {
            base,
            instances,
            _balancer: balancer,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorize_url(&self) -> String {
        let redirect: String = url::form_urlencoded::byte_serialize(WEB_CB.as_bytes()).collect();
        self.url(&format!(
            "/authorize?client_id=web&redirect_uri={redirect}&response_type=code&scope=openid\
             &code_challenge={CHALLENGE}&code_challenge_method=S256"
        ))
    }

    /// A client_credentials request through the balancer: the status, the body and the
    /// instance that answered.
    async fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> (u16, Value, String) {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(self.url("/token"))
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .unwrap();
        let instance = served_by(&response);
        let status = response.status().as_u16();
        (status, response.json().await.unwrap(), instance)
    }

    /// A login attempt through the balancer from a browser at `from`.
    async fn login(&self, from: IpAddr, username: &str, password: &str) -> Landing {
        let browser = Browser::from_address(&self.base, from);
        let page = browser.open(&self.authorize_url()).await;
        let answer = browser.login(&page, username, password).await;
        if answer.is_consent() {
            return browser.allow(&answer, false).await;
        }
        answer
    }

    /// A login attempt that fails (or must wait) through the balancer from a browser at
    /// `from`, its form sent to instance `target`: its status.
    async fn refused_login_at(
        &self,
        target: usize,
        from: IpAddr,
        username: &str,
        password: &str,
    ) -> u16 {
        let browser = Browser::from_address(&self.base, from);
        let page = browser.open(&self.authorize_url()).await;
        self.steer(target).await;
        let answer = browser.login(&page, username, password).await;
        let Landing::Page {
            status, headers, ..
        } = &answer
        else {
            panic!("{username} was signed in at i{target}: {answer:?}");
        };
        assert!(
            !answer.is_consent(),
            "{username} was signed in at i{target}"
        );
        assert_eq!(headers["x-instance"], format!("i{target}").as_str());
        status.as_u16()
    }

    /// Sends requests through the balancer until the next one goes to instance `target` (the
    /// balancer takes them in turn).
    async fn steer(&self, target: usize) {
        let before = format!("i{}", (target + 2) % 3);
        for _ in 0..6 {
            let probe = self.http.get(self.url("/readyz")).send().await.unwrap();
            if served_by(&probe) == before {
                return;
            }
        }
        panic!("the balancer does not take the instances in turn");
    }
}

fn served_by(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-instance")
        .expect("the balancer names the instance")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_a_balancer_agree() {
    let d = Deployment::start().await;
    const OPS: (&str, &str) = ("ops", "ops-secret-0123456789abcdef0123456789");

    // Requests spread over the three instances.
    let mut seen = BTreeSet::new();
    let mut token = String::new();
    for _ in 0..6 {
        let (status, body, instance) = d.token(OPS.0, OPS.1, Some("tessera.admin.write")).await;
        assert_eq!(status, 200, "{body}");
        token = body["access_token"].as_str().unwrap().to_string();
        seen.insert(instance);
    }
    assert_eq!(seen.len(), 3, "the balancer uses every instance: {seen:?}");

    // An admin change through the balancer holds at every instance: a client made at one is
    // served by all, and once removed is refused by all.
    let svc = json!({"client_id": "svc", "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"], "allowed_scopes": ["tessera.admin.read"]});
    let made = d
        .http
        .post(d.url("/admin/v1/clients"))
        .bearer_auth(&token)
        .json(&svc)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let secret = made["client_secret"].as_str().unwrap().to_string();
    for instance in &d.instances {
        let answer = instance
            .http
            .post(instance.url("/token"))
            .basic_auth("svc", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "instance {}", instance.base);
    }
    let removed = d
        .http
        .delete(d.url("/admin/v1/clients/svc"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    for instance in &d.instances {
        let refused = within(Duration::from_secs(1), || async {
            let answer = instance
                .http
                .post(instance.url("/token"))
                .basic_auth("svc", Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            answer.status() == 401
        })
        .await;
        assert!(
            refused,
            "instance {} still serves a removed client",
            instance.base
        );
    }

    // A scope made through the balancer is offered by every instance within a second.
    let scope = d
        .http
        .post(d.url("/admin/v1/api-scopes"))
        .bearer_auth(&token)
        .json(&json!({"name": "stock.read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(scope.status(), 201);
    for instance in &d.instances {
        let offered = within(Duration::from_secs(1), || async {
            let doc = instance.get_json("/.well-known/openid-configuration").await;
            doc["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("stock.read"))
        })
        .await;
        assert!(
            offered,
            "instance {} does not offer the new scope",
            instance.base
        );
    }

    // A sign-in through the balancer: its pages, the login and the code go to different
    // instances, and the code is redeemed at yet another.
    let signed_in = d.login(address(10), "alice", "alice-password").await;
    let code = signed_in.param("code").expect("a code");
    let redeemed = d
        .http
        .post(d.url("/token"))
        .basic_auth("web", Some("web-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", WEB_CB),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 200);

    // Failed sign-ins are counted once for the whole deployment: three wrong passwords for bob,
    // one at each instance, slow bob down everywhere (each instance alone counted one).
    for target in 0..3 {
        let status = d
            .refused_login_at(target, address(20), "bob", "wrong")
            .await;
        assert_eq!(status, 200, "a wrong password is shown the page again");
    }
    for target in 0..3 {
        let from = address(21 + target as u8);
        let status = d
            .refused_login_at(target, from, "bob", "bob-password")
            .await;
        assert_eq!(
            status, 429,
            "bob waits, from any address, at every instance"
        );
    }
    // Per address: the balancer's own address is trusted, so each browser is counted by its
    // address. Five failures from one address, spread over the instances (for accounts that do
    // not exist), slow that address down everywhere; a browser at another address is not
    // affected.
    for i in 0..5 {
        let status = d
            .refused_login_at(i % 3, address(30), &format!("nobody{i}"), "guess")
            .await;
        assert_eq!(status, 200);
    }
    for target in 0..3 {
        let status = d
            .refused_login_at(target, address(30), "alice", "alice-password")
            .await;
        assert_eq!(status, 429, "the address waits at every instance");
    }
    let answer = d.login(address(31), "alice", "alice-password").await;
    assert!(answer.param("code").is_some(), "another address signs in");

    // The introspection budget (3 inactive answers a minute) is the deployment's, not each
    // instance's.
    for i in 0..4 {
        d.steer(i % 3).await;
        let answer = d
            .http
            .post(d.url("/introspect"))
            .basic_auth("web", Some("web-secret"))
            .form(&[("token", format!("guessed-{i}").as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(served_by(&answer), format!("i{}", i % 3));
        let expected = if i < 3 { 200 } else { 429 };
        assert_eq!(
            answer.status().as_u16(),
            expected,
            "guess {i}: three inactive answers a minute for the deployment"
        );
    }

    // A key rotated through the balancer is published by every instance.
    let rotated = d
        .http
        .post(d.url("/admin/v1/keys/rotate"))
        .bearer_auth(&token)
        .json(&json!({"algorithms": ["ES256"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 201);
    let rotated: Value = rotated.json().await.unwrap();
    let kid = rotated["items"][0]["kid"].as_str().unwrap().to_string();
    for instance in &d.instances {
        let jwks = instance.url(tessera_core::protocol::paths::JWKS);
        let published = within(Duration::from_secs(1), || async {
            let set: Value = instance
                .http
                .get(&jwks)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            set["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == kid.as_str())
        })
        .await;
        assert!(
            published,
            "instance {} does not publish {kid}",
            instance.base
        );
    }
}
