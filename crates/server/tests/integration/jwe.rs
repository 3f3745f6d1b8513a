//! Encrypted identity tokens and UserInfo responses (OIDC Core §10.2, RFC 7516): Tessera
//! encrypts to keys a client registered (`RSA-OAEP-256`, `ECDH-ES`; `A256GCM`), and panva's
//! jose, which we did not write, decrypts them with the client's private keys; registrations
//! asking for what is not offered are refused, naming why.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::relying_parties::required_env;
use crate::signin::{VERIFIER, jwt_claims, redeem};
use crate::support::TestServer;

/// The Node.js decrypter.
struct Jose {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Jose {
    fn start() -> Jose {
        let mut child = Command::new(required_env("TESSERA_TEST_NODE"))
            .arg("decrypt.mjs")
            .current_dir(required_env("TESSERA_TEST_OPENID_CLIENT_DIR"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Jose {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, input: Value) -> Value {
        writeln!(self.stdin, "{input}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for Jose {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn toml_jwk(jwk: &Value) -> String {
    let fields: Vec<String> = jwk
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

fn client(id: &str, key: &Value, extra: &str) -> String {
    format!(
        r#"
[[clients]]
client_id = "{id}"
secrets = ["{id}-secret-{id}-secret-{id}-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://{id}.example/cb"]
allowed_scopes = ["openid", "profile"]
require_consent = false
token_endpoint_auth_method = "client_secret_basic"
{extra}
jwks = {{ keys = [ {} ] }}
"#,
        toml_jwk(key)
    )
}

#[tokio::test]
async fn identity_tokens_and_userinfo_are_encrypted_to_the_clients_key() {
    let mut jose = Jose::start();
    let keys = jose.ask(json!({"generate": ["ECDH-ES", "RSA-OAEP-256"]}));
    let (ec, rsa) = (&keys["ECDH-ES"], &keys["RSA-OAEP-256"]);
    let config = format!(
        "{}{}\n[[users]]\nusername = \"alice\"\npassword = \"alice-password\"\nclaims = {{ name = \"Alice Smith\" }}\n",
        client(
            "sealed-ec",
            &ec["public"],
            "id_token_encrypted_response_alg = \"ECDH-ES\"\nid_token_encrypted_response_enc = \"A256GCM\"\nuserinfo_encrypted_response_alg = \"ECDH-ES\"\nuserinfo_encrypted_response_enc = \"A256GCM\"",
        ),
        client(
            "sealed-rsa",
            &rsa["public"],
            "id_token_encrypted_response_alg = \"RSA-OAEP-256\"\nid_token_encrypted_response_enc = \"A256GCM\"\nuserinfo_signed_response_alg = \"RS256\"\nuserinfo_encrypted_response_alg = \"RSA-OAEP-256\"\nuserinfo_encrypted_response_enc = \"A256GCM\"",
        ),
    );
    let server = TestServer::start(&config).await;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["id_token_encryption_alg_values_supported"],
        json!(["RSA-OAEP-256", "ECDH-ES"])
    );
    assert_eq!(
        discovery["userinfo_encryption_enc_values_supported"],
        json!(["A256GCM"])
    );
    let browser = Browser::new(&server.base);
    for (id, key, alg) in [
        ("sealed-ec", ec, "ECDH-ES"),
        ("sealed-rsa", rsa, "RSA-OAEP-256"),
    ] {
        let cb = format!("https://{id}.example/cb");
        let url = crate::signin::authorize_url(&server, id, &cb, "&scope=openid+profile&nonce=n1");
        let code = browser
            .authorize(&url, "alice", "alice-password")
            .await
            .param("code")
            .unwrap();
        let secret = format!("{id}-secret-{id}-secret-{id}-secret");
        let (status, tokens) = redeem(&server, (id, &secret), &cb, &code, Some(VERIFIER)).await;
        assert_eq!(status, 200, "{tokens}");
        let id_token = tokens["id_token"].as_str().unwrap();
        assert_eq!(id_token.split('.').count(), 5, "{id}: a JWE");
        let opened = jose.ask(json!({"jwe": id_token, "jwk": key["private"]}));
        assert_eq!(opened["header"]["alg"], alg, "{opened}");
        assert_eq!(opened["header"]["enc"], "A256GCM");
        assert_eq!(
            opened["header"]["cty"], "JWT",
            "a nested JWT (OIDC Core §10.2)"
        );
        let inner = opened["plaintext"].as_str().unwrap();
        let claims = jwt_claims(inner);
        assert_eq!(
            (claims["aud"].as_str(), claims["nonce"].as_str()),
            (Some(id), Some("n1"))
        );

        let userinfo = server
            .http
            .get(server.url("/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.headers()["content-type"], "application/jwt");
        let body = userinfo.text().await.unwrap();
        let opened = jose.ask(json!({"jwe": body, "jwk": key["private"]}));
        let plaintext = opened["plaintext"]
            .as_str()
            .unwrap_or_else(|| panic!("{opened}"));
        let claims: Value = match id {
            // Signed, then encrypted: a nested JWT.
            "sealed-rsa" => {
                assert_eq!(opened["header"]["cty"], "JWT");
                jwt_claims(plaintext)
            }
            // Encrypted only: the JSON claims themselves.
            _ => serde_json::from_str(plaintext).unwrap(),
        };
        assert_eq!(claims["name"], "Alice Smith", "{id}");
    }
    // The client's other key opens nothing.
    let cb = "https://sealed-ec.example/cb";
    let url = crate::signin::authorize_url(&server, "sealed-ec", cb, "&scope=openid");
    let code = browser
        .authorize(&url, "alice", "alice-password")
        .await
        .param("code")
        .unwrap();
    let (_, tokens) = redeem(
        &server,
        (
            "sealed-ec",
            "sealed-ec-secret-sealed-ec-secret-sealed-ec-secret",
        ),
        cb,
        &code,
        Some(VERIFIER),
    )
    .await;
    let wrong = jose.ask(json!({"jwe": tokens["id_token"], "jwk": rsa["private"]}));
    assert!(wrong["error"].is_string(), "{wrong}");
}

/// JARM §2.3: a client that registered `authorization_encrypted_response_alg` gets its JWT
/// responses signed, then encrypted to its key; errors too.
#[tokio::test]
async fn jwt_authorization_responses_are_encrypted_to_the_clients_key() {
    let mut jose = Jose::start();
    let keys = jose.ask(json!({"generate": ["ECDH-ES", "RSA-OAEP-256"]}));
    let (ec, rsa) = (&keys["ECDH-ES"], &keys["RSA-OAEP-256"]);
    let config = format!(
        "{}\n[[users]]\nusername = \"alice\"\npassword = \"alice-password\"\n",
        client(
            "sealed-jarm",
            &ec["public"],
            "authorization_encrypted_response_alg = \"ECDH-ES\"\nauthorization_encrypted_response_enc = \"A256GCM\"",
        ),
    );
    let server = TestServer::start(&config).await;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["authorization_encryption_alg_values_supported"],
        json!(["RSA-OAEP-256", "ECDH-ES"])
    );
    assert_eq!(
        discovery["authorization_encryption_enc_values_supported"],
        json!(["A256GCM"])
    );
    let browser = Browser::new(&server.base);
    let cb = "https://sealed-jarm.example/cb";
    let url = crate::signin::authorize_url(
        &server,
        "sealed-jarm",
        cb,
        "&scope=openid&state=st&response_mode=jwt",
    );
    let landing = browser.authorize(&url, "alice", "alice-password").await;
    let response = crate::jarm::response_param(&landing);
    assert_eq!(response.split('.').count(), 5, "a JWE: {response}");
    let opened = jose.ask(json!({"jwe": response, "jwk": ec["private"]}));
    assert_eq!(
        (&opened["header"]["alg"], &opened["header"]["enc"]),
        (&json!("ECDH-ES"), &json!("A256GCM")),
        "{opened}"
    );
    assert_eq!(opened["header"]["cty"], "JWT", "signed, then encrypted");
    let inner = opened["plaintext"].as_str().unwrap();
    let (_, claims) = crate::jarm::verified(&server, inner, "sealed-jarm").await;
    assert_eq!(claims["state"], "st");
    let secret = "sealed-jarm-secret-sealed-jarm-secret-sealed-jarm-secret";
    let (status, tokens) = redeem(
        &server,
        ("sealed-jarm", secret),
        cb,
        claims["code"].as_str().unwrap(),
        Some(VERIFIER),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    // Another key opens nothing.
    let wrong = jose.ask(json!({"jwe": response, "jwk": rsa["private"]}));
    assert!(wrong["error"].is_string(), "{wrong}");

    // An error, once the redirect URI is verified, is encrypted the same way.
    let bad = browser
        .open(&url.replace("scope=openid", "scope=openid+admin"))
        .await;
    let response = crate::jarm::response_param(&bad);
    let opened = jose.ask(json!({"jwe": response, "jwk": ec["private"]}));
    let (_, claims) = crate::jarm::verified(
        &server,
        opened["plaintext"].as_str().unwrap(),
        "sealed-jarm",
    )
    .await;
    assert_eq!(claims["error"], "invalid_scope");
    assert_eq!(claims["state"], "st");
    // Without a JWT response mode, the response is as ever.
    let plain = browser.open(&url.replace("&response_mode=jwt", "")).await;
    assert!(plain.param("code").is_some());
}

/// OIDC Registration §2: a client registering itself may send its encryption key beside its
/// signing keys and ask for encrypted responses; both are kept.
#[tokio::test]
async fn a_registered_client_may_ask_for_encryption_to_its_key() {
    let mut jose = Jose::start();
    let keys = jose.ask(json!({"generate": ["ECDH-ES"]}));
    let key = &keys["ECDH-ES"];
    let server = TestServer::start(&format!(
        "{}{}",
        crate::signin::PEOPLE,
        crate::admin::OPERATORS
    ))
    .await;
    let token = crate::registration::initial_token(&server).await;
    let body = json!({
        "redirect_uris": ["https://sealed.example/cb"],
        "jwks": {"keys": [key["public"]]},
        "id_token_encrypted_response_alg": "ECDH-ES",
        "id_token_encrypted_response_enc": "A256GCM",
        "authorization_encrypted_response_alg": "ECDH-ES",
        "authorization_encrypted_response_enc": "A256GCM",
    });
    let (status, registered) =
        crate::registration::register(&server, Some(&token), &body.to_string()).await;
    assert_eq!(status, 201, "{registered}");
    for field in [
        "id_token_encrypted_response_alg",
        "authorization_encrypted_response_alg",
    ] {
        assert_eq!(registered[field], "ECDH-ES", "{field}: {registered}");
    }
    assert_eq!(registered["jwks"]["keys"][0]["use"], "enc", "{registered}");
    // Asking for encryption without a key to encrypt to is refused, naming why.
    let token = crate::registration::initial_token(&server).await;
    let mut keyless = body.clone();
    keyless.as_object_mut().unwrap().remove("jwks");
    let (status, refused) =
        crate::registration::register(&server, Some(&token), &keyless.to_string()).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_client_metadata");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("id_token_encrypted_response_alg"),
        "{refused}"
    );
}

#[test]
fn encryption_that_is_not_offered_is_refused_at_registration() {
    let ec = json!({"kty": "EC", "crv": "P-256", "use": "enc",
        "x": "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ",
        "y": "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"});
    let cases = [
        (
            "id_token_encrypted_response_alg = \"ECDH-ES\"",
            "clients[0].id_token_encrypted_response_enc: is required: its default, A128CBC-HS256, is not offered",
        ),
        (
            "id_token_encrypted_response_alg = \"RSA1_5\"\nid_token_encrypted_response_enc = \"A256GCM\"",
            "clients[0].id_token_encrypted_response_alg: `RSA1_5` is not supported",
        ),
        (
            "userinfo_encrypted_response_alg = \"RSA-OAEP-256\"\nuserinfo_encrypted_response_enc = \"A256GCM\"",
            "clients[0].userinfo_encrypted_response_alg: needs a key in jwks to encrypt to with RSA-OAEP-256",
        ),
        (
            "authorization_encrypted_response_alg = \"ECDH-ES\"",
            "clients[0].authorization_encrypted_response_enc: is required",
        ),
        (
            "userinfo_encrypted_response_enc = \"A256GCM\"",
            "clients[0].userinfo_encrypted_response_enc: is only used with userinfo_encrypted_response_alg",
        ),
    ];
    for (extra, expected) in cases {
        let config = client("sealed", &ec, extra);
        let error = tessera_server::config::load_str(&config, false)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{extra}: {error}");
    }
}
