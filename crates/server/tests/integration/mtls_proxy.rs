//! Mutual TLS beyond the TLS listener: behind Debian's nginx, which terminates TLS and passes
//! the certificate in a header; and RFC 8705 §4, a public client's refresh token bound to the
//! certificate it was issued over.

use serde_json::json;

use crate::browser::Browser;
use crate::mtls::{machine, setup, setup_with, thumbprint, tls_client, token};
use crate::signin::{CHALLENGE, VERIFIER, jwt_claims};
use crate::support::{free_port, write_file};

#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_certificate() {
    let s = setup().await;
    let cb = "https://pki-spa.example/cb";
    let redirect: String = url::form_urlencoded::byte_serialize(cb.as_bytes()).collect();
    let url = s.server.url(&format!(
        "/authorize?client_id=pki-spa&redirect_uri={redirect}&response_type=code\
         &scope=openid+offline_access&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    let browser = Browser::new(&s.server.base);
    let code = browser
        .authorize(&url, "alice", "alice-password")
        .await
        .param("code")
        .unwrap();
    let mtls = tls_client(&s, Some(&s.pki));
    let (status, tokens) = token(
        &mtls,
        &s.tls_base,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "pki-spa"),
            ("code", &code),
            ("redirect_uri", cb),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(jwt_claims(tokens["access_token"].as_str().unwrap())["cnf"]["x5t#S256"].is_string());
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "pki-spa"),
        ("refresh_token", refresh.as_str()),
    ];
    // Another certificate: refused, and the token is not burned.
    let (status, body) = token(&tls_client(&s, Some(&s.selfie)), &s.tls_base, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // Its own certificate: refreshed.
    let (status, body) = token(&mtls, &s.tls_base, &form).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn behind_nginx_a_proxied_certificate_authenticates_and_binds() {
    let nginx = crate::relying_parties::required_env("TESSERA_TEST_NGINX");
    let s = setup_with("X-SSL-Client-Cert").await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let upstream = s.server.running.local_addr;
    let (cert, key) = &s.server_files;
    let d = dir.path().display();
    // nginx terminates TLS, asks for a certificate from any issuer, and passes it URL-encoded.
    let config = format!(
        "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {};\n    ssl_certificate_key {};\n\
             ssl_verify_client optional_no_ca;\n\
             location / {{\n      proxy_pass http://{upstream};\n\
               proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;\n    }}\n  }}\n}}\n",
        cert.display(),
        key.display(),
    );
    let conf = write_file(dir.path(), "nginx.conf", &config);
    let mut child = std::process::Command::new(nginx)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    crate::support::eventually("nginx to listen", || {
        let http = tls_client(&s, None);
        let url = format!("{base}/healthz");
        async move { http.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    let (status, body) = token(&tls_client(&s, Some(&s.pki)), &base, &machine("pki")).await;
    let (status_without, _) = token(&tls_client(&s, None), &base, &machine("pki")).await;
    let (status_rogue, _) = token(&tls_client(&s, Some(&s.rogue)), &base, &machine("pki")).await;
    // SIGTERM, not SIGKILL: the master stops its workers before it exits.
    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"],
        json!(thumbprint(&s.pki.der))
    );
    assert_eq!(status_without, 401, "no certificate through the proxy");
    assert_eq!(
        status_rogue, 401,
        "a certificate from an unknown CA through the proxy"
    );
}

#[test]
fn a_certificate_header_needs_proxies_of_its_own() {
    // The address proxies of [http] trusted_proxies do not make the header trusted.
    let config = "[http]\ntrusted_proxies = [\"10.0.0.1\"]\n[tls]\nclient_certificate_header = \"Client-Cert\"\n";
    let error = tessera_server::config::load_str(config, false)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tls.client_certificate_header: is read only from tls.client_certificate_proxies, which lists none"),
        "{error}"
    );
    let config = "[tls]\nclient_certificate_header = \"Client-Cert\"\nclient_certificate_proxies = [\"proxy\"]\n";
    let error = tessera_server::config::load_str(config, false)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tls.client_certificate_proxies[0]: `proxy` is not an address"),
        "{error}"
    );
}
