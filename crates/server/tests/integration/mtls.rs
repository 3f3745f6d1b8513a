//! Mutual TLS (RFC 8705) with certificates the test makes (rcgen) and a TLS client we did not
//! write (reqwest on rustls): `tls_client_auth` by SAN and by subject DN against a CA,
//! `self_signed_tls_client_auth` by registered key, certificate-bound access tokens checked at
//! userinfo and shown at introspection, the certificate header of a trusted proxy (RFC 9440),
//! and each way a certificate can be wrong (SEC-68, CVE-58, CVE-59).

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};
use serde_json::{Value, json};
use tessera_core::clients::jwk::ClientJwk;

use crate::browser::Browser;
use crate::signin::{CHALLENGE, VERIFIER, jwt_claims};
use crate::support::{TestServer, free_port, write_file};

const CB: &str = "https://pki-web.example/cb";

/// A certificate and its key, as PEM.
pub(crate) struct Pem {
    pub(crate) cert: String,
    pub(crate) key: String,
    pub(crate) der: Vec<u8>,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A client certificate for `cn` (O=Bank) with a dNSName SAN, issued by `issuer`.
fn client_cert(issuer: &CertifiedIssuer<'static, KeyPair>, cn: &str, dns: &str) -> Pem {
    let mut params = CertificateParams::new(vec![dns.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Bank");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// A self-signed client certificate, and its key as a JWK to register.
fn self_signed(cn: &str) -> (Pem, Value) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().to_vec();
    // The key's JWK, read back the way the server reads certificates' keys: P-256 x and y.
    let point = key.public_key_raw();
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": tessera_core::crypto::base64url(&point[1..33]),
        "y": tessera_core::crypto::base64url(&point[33..]),
    });
    assert!(ClientJwk::from_json(&jwk).is_ok());
    (
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der,
        },
        jwk,
    )
}

pub(crate) struct Setup {
    pub(crate) server: TestServer,
    pub(crate) tls_base: String,
    pub(crate) ca_pem: String,
    pub(crate) pki: Pem,
    pub(crate) rogue: Pem,
    pub(crate) selfie: Pem,
    pub(crate) other_self: Pem,
    /// The public keys of `selfie` (as registered) and of `other_self`.
    pub(crate) selfie_jwk: Value,
    pub(crate) other_self_jwk: Value,
    pub(crate) server_files: (std::path::PathBuf, std::path::PathBuf),
    _dir: tempfile::TempDir,
}

pub(crate) async fn setup() -> Setup {
    setup_with("Client-Cert").await
}

/// A server with a TLS listener and `header` trusted from 127.0.0.1.
pub(crate) async fn setup_with(header: &str) -> Setup {
    setup_extra(header, "").await
}

/// As [`setup_with`], with `extra` at the end of the configuration.
pub(crate) async fn setup_extra(header: &str, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let authority = ca("Test clients CA");
    let server_params = {
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p
    };
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server_params.signed_by(&server_key, &authority).unwrap();
    let cert_file = write_file(dir.path(), "server.pem", &server_cert.pem());
    let key_file = write_file(dir.path(), "server.key", &server_key.serialize_pem());
    let ca_file = write_file(dir.path(), "ca.pem", &authority.pem());
    let pki = client_cert(&authority, "pki-client", "client.bank.example");
    let rogue = client_cert(&ca("Rogue CA"), "pki-client", "client.bank.example");
    let (selfie, selfie_jwk) = self_signed("selfie");
    let (other_self, other_self_jwk) = self_signed("selfie");
    let tls_port = free_port();
    let jwk = |v: &Value| {
        let fields: Vec<String> = v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        format!("jwks = {{ keys = [ {{ {} }} ] }}", fields.join(", "))
    };
    let config = format!(
        r#"
[tls]
listen = "127.0.0.1:{tls_port}"
certificate_file = "{}"
private_key_file = "{}"
client_ca_file = "{}"
client_certificate_header = "{header}"
client_certificate_proxies = ["127.0.0.1"]

[[api_scopes]]
name = "api1.read"

[[api_resources]]
name = "urn:api1"
scopes = ["api1.read"]
secrets = ["api1-secret"]

[[clients]]
client_id = "pki"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_san_dns = "client.bank.example"
tls_client_certificate_bound_access_tokens = true

[[clients]]
client_id = "pki-dn"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_subject_dn = "CN=pki-client, O=Bank"

[[clients]]
client_id = "pki-other-dn"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_subject_dn = "CN=someone-else,O=Bank"

[[clients]]
client_id = "selfie"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "self_signed_tls_client_auth"
tls_client_certificate_bound_access_tokens = true
{}

[[clients]]
client_id = "pki-web"
grant_types = ["authorization_code"]
redirect_uris = ["{CB}"]
allowed_scopes = ["openid", "profile"]
require_consent = false
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_san_dns = "client.bank.example"
tls_client_certificate_bound_access_tokens = true

[[clients]]
client_id = "pki-spa"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://pki-spa.example/cb"]
allowed_scopes = ["openid", "offline_access"]
require_consent = false
tls_client_certificate_bound_access_tokens = true

[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Smith" }}
{extra}
"#,
        cert_file.display(),
        key_file.display(),
        ca_file.display(),
        jwk(&selfie_jwk),
    );
    let server_files = (cert_file.clone(), key_file.clone());
    Setup {
        server: TestServer::start(&config).await,
        tls_base: format!("https://127.0.0.1:{tls_port}"),
        ca_pem: authority.pem(),
        pki,
        rogue,
        selfie,
        other_self,
        selfie_jwk,
        other_self_jwk,
        server_files,
        _dir: dir,
    }
}

/// A client of the TLS listener trusting our CA only, presenting `identity` if given.
pub(crate) fn tls_client(s: &Setup, identity: Option<&Pem>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(s.ca_pem.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder().tls_certs_only([ca]);
    if let Some(pem) = identity {
        let both = format!("{}{}", pem.cert, pem.key);
        builder = builder.identity(reqwest::Identity::from_pem(both.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

pub(crate) async fn token(
    http: &reqwest::Client,
    base: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = http
        .post(format!("{base}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn machine(client_id: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("scope", "api1.read"),
    ]
}

pub(crate) fn thumbprint(der: &[u8]) -> String {
    tessera_core::crypto::base64url(&tessera_core::crypto::sha256(der))
}

#[tokio::test]
async fn clients_authenticate_with_their_certificates_and_get_tokens_bound_to_them() {
    let s = setup().await;
    let discovery = s.server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["tls_client_certificate_bound_access_tokens"],
        json!(true)
    );
    let methods = discovery["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("tls_client_auth")));
    assert!(methods.contains(&json!("self_signed_tls_client_auth")));
    assert_eq!(
        discovery["mtls_endpoint_aliases"]["token_endpoint"],
        json!(format!("{}/token", s.tls_base))
    );

    // tls_client_auth by SAN: a bound token (RFC 8705 §3.1), still a Bearer token.
    let (status, body) = token(&tls_client(&s, Some(&s.pki)), &s.tls_base, &machine("pki")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        jwt_claims(access)["cnf"]["x5t#S256"],
        json!(thumbprint(&s.pki.der))
    );
    // Introspection shows the binding (§3.2).
    let introspected: Value = s
        .server
        .http
        .post(s.server.url("/introspect"))
        .basic_auth("urn%3Aapi1", Some("api1-secret"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], json!(true), "{introspected}");
    assert_eq!(
        introspected["cnf"]["x5t#S256"],
        json!(thumbprint(&s.pki.der))
    );

    // tls_client_auth by subject DN (order and spacing of the DN do not matter); not bound.
    let (status, body) = token(
        &tls_client(&s, Some(&s.pki)),
        &s.tls_base,
        &machine("pki-dn"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        jwt_claims(body["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );

    // self_signed_tls_client_auth: the certificate's key is the registered key.
    let (status, body) = token(
        &tls_client(&s, Some(&s.selfie)),
        &s.tls_base,
        &machine("selfie"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"],
        json!(thumbprint(&s.selfie.der))
    );
}

#[tokio::test]
async fn sec68_cve58_certificates_wrong_in_one_way_each_are_refused() {
    let s = setup().await;
    let refused =
        |(status, body): (u16, Value)| (status, body["error"].as_str().unwrap_or("-").to_string());
    let cases: Vec<(&str, Option<&Pem>, &str)> = vec![
        // Same names, from a CA that is not configured (nothing is fetched to check it).
        ("rogue CA", Some(&s.rogue), "pki"),
        ("no certificate", None, "pki"),
        ("another DN", Some(&s.pki), "pki-other-dn"),
        (
            "a CA-issued certificate for a self-signed client",
            Some(&s.pki),
            "selfie",
        ),
        ("another self-signed key", Some(&s.other_self), "selfie"),
        (
            "a self-signed certificate for a CA client",
            Some(&s.selfie),
            "pki",
        ),
    ];
    for (why, identity, client) in cases {
        let answer = token(&tls_client(&s, identity), &s.tls_base, &machine(client)).await;
        assert_eq!(refused(answer), (401, "invalid_client".into()), "{why}");
    }
    // The plain listener has no certificate: mTLS clients cannot authenticate there.
    let answer = token(&s.server.http, &s.server.base, &machine("pki")).await;
    assert_eq!(refused(answer), (401, "invalid_client".into()));

    // CVE-58: a certificate from an unknown CA whose CRL distribution point and issuer URL name
    // a canary: the canary is never contacted.
    let canary = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let canary_url = format!("http://{}/crl", canary.local_addr().unwrap());
    let contacted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = contacted.clone();
    tokio::spawn(async move {
        while canary.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let rogue_ca = ca("Rogue CA with a CRL");
    let mut params = CertificateParams::new(vec!["client.bank.example".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "pki-client");
    params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
        uris: vec![canary_url],
    }];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &rogue_ca).unwrap();
    let with_crl = Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().to_vec(),
    };
    let answer = token(
        &tls_client(&s, Some(&with_crl)),
        &s.tls_base,
        &machine("pki"),
    )
    .await;
    assert_eq!(refused(answer), (401, "invalid_client".into()));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(contacted.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cve59_a_certificate_header_counts_only_from_a_trusted_proxy_and_never_over_tls() {
    use base64::Engine as _;
    let s = setup().await;
    let header = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(&s.pki.der)
    );
    // From 127.0.0.1, a trusted proxy: the header is the client's certificate (RFC 9440).
    let proxied = s
        .server
        .http
        .post(s.server.url("/token"))
        .header("Client-Cert", &header)
        .form(&machine("pki"))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    // From 127.0.0.2, not a proxy: ignored.
    let direct = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let answer = direct
        .post(s.server.url("/token"))
        .header("Client-Cert", &header)
        .form(&machine("pki"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    // Over our own TLS only the handshake's certificate counts, whoever connects.
    let over_tls = tls_client(&s, None)
        .post(format!("{}/token", s.tls_base))
        .header("Client-Cert", &header)
        .form(&machine("pki"))
        .send()
        .await
        .unwrap();
    assert_eq!(over_tls.status(), 401);
    // A malformed header is no certificate.
    let malformed = s
        .server
        .http
        .post(s.server.url("/token"))
        .header("Client-Cert", ":not base64!:")
        .form(&machine("pki"))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 401);
}

#[tokio::test]
async fn sec68_a_bound_token_works_only_with_its_certificate() {
    let s = setup().await;
    let server = &s.server;
    let browser = Browser::new(&server.base);
    let redirect: String = url::form_urlencoded::byte_serialize(CB.as_bytes()).collect();
    let url = server.url(&format!(
        "/authorize?client_id=pki-web&redirect_uri={redirect}&response_type=code&scope=openid+profile\
         &code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
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
            ("client_id", "pki-web"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = |http: reqwest::Client, base: String| {
        let access = access.to_string();
        async move {
            let r = http
                .get(format!("{base}/userinfo"))
                .bearer_auth(access)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            (
                status,
                challenge,
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, _, body) = userinfo(mtls.clone(), s.tls_base.clone()).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Alice Smith")));
    // Without the certificate, or with another one: invalid_token (RFC 8705 §3).
    for (why, http, base) in [
        ("no TLS", server.http.clone(), server.base.clone()),
        (
            "TLS without a certificate",
            tls_client(&s, None),
            s.tls_base.clone(),
        ),
        (
            "another certificate",
            tls_client(&s, Some(&s.selfie)),
            s.tls_base.clone(),
        ),
    ] {
        let (status, challenge, _) = userinfo(http, base).await;
        assert_eq!(status, 401, "{why}");
        assert!(challenge.contains("invalid_token"), "{why}: {challenge}");
    }
}

#[tokio::test]
async fn sec68_the_validation_crate_accepts_a_bound_token_only_with_its_certificate() {
    use tower::ServiceExt as _;
    let s = setup().await;
    let (status, body) = token(&tls_client(&s, Some(&s.pki)), &s.tls_base, &machine("pki")).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let validator = tessera_validation::TokenValidator::new(
        tessera_validation::ValidationConfig::new(&s.server.base, "urn:api1"),
    )
    .unwrap();
    let app = protected_api::router(std::sync::Arc::new(validator));
    // The API's TLS layer puts the connection's certificate into the request's extensions.
    let call = |certificate: Option<&[u8]>| {
        let mut request = axum::http::Request::builder()
            .uri("/api/protected")
            .header("authorization", format!("Bearer {access}"))
            .body(axum::body::Body::empty())
            .unwrap();
        if let Some(der) = certificate {
            request
                .extensions_mut()
                .insert(tessera_validation::ClientCertificate(der.to_vec()));
        }
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap().status().as_u16() }
    };
    assert_eq!(call(Some(&s.pki.der)).await, 200);
    assert_eq!(call(None).await, 401, "without the certificate");
    assert_eq!(
        call(Some(&s.selfie.der)).await,
        401,
        "with another certificate"
    );
}
