//! Keys, clients and tokens the targets check inputs against, made once per process.

use std::collections::HashMap;
use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Map, Value, json};
use tessera_core::Secret;
use tessera_core::clients::assertion::{ASSERTION_TYPE, SharedSecrets};
use tessera_core::clients::jwk::ClientJwk;
use tessera_core::crypto::base64url;
use tessera_core::model::{Client, KeyRecord, TokenEndpointAuthMethod};
use tessera_core::tokens::jws::sign_compact;
use tessera_core::tokens::keyring::classify;
use tessera_core::tokens::{KeyRing, SigningAlg, SigningKey};

/// The time every check runs at.
pub const NOW: i64 = 1_700_000_000;
/// Our issuer.
pub const ISSUER: &str = "https://id.example";
/// The token endpoint, the other accepted assertion audience.
pub const ENDPOINT: &str = "https://id.example/token";
/// The HMAC key of the `client_secret_jwt` client.
const SHARED_SECRET: &str = "0123456789abcdef0123456789abcdef-fuzz";

/// What the targets compare against.
pub struct Fixture {
    /// Our key ring: one ES256 and one RS256 key.
    pub ring: KeyRing,
    /// Access tokens we signed, one per algorithm.
    pub own_tokens: Vec<String>,
    /// The claims in them.
    pub own_claims: Map<String, Value>,
    /// A `private_key_jwt` client with an EC P-256 key.
    pub key_client: Client,
    /// A `client_secret_jwt` client.
    pub secret_client: Client,
    /// Its HMAC key.
    pub shared_secrets: SharedSecrets,
    /// Valid assertions: ES256 by `key_client`, HS256 by `secret_client`.
    pub assertions: Vec<String>,
}

/// The fixture, made on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(make)
}

/// The assertion type the fixture's assertions are sent with.
pub fn assertion_type() -> &'static str {
    ASSERTION_TYPE
}

fn client(id: &str, method: TokenEndpointAuthMethod, jwks: Vec<ClientJwk>) -> Client {
    Client::builder(id)
        .grant_types(&["client_credentials"])
        .consent(false)
        .auth_method(method)
        .jwks(jwks)
        .build()
}

fn compact(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let mut out = base64url(header.to_string().as_bytes());
    out.push('.');
    out.push_str(&base64url(claims.to_string().as_bytes()));
    let signature = sign(out.as_bytes());
    out.push('.');
    out.push_str(&base64url(&signature));
    out
}

fn assertion_claims(client_id: &str, jti: &str) -> Value {
    json!({"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": NOW + 120, "iat": NOW, "jti": jti})
}

#[allow(clippy::expect_used)] // A fixture that cannot be made is a broken build, not an input.
fn make() -> Fixture {
    let records: Vec<KeyRecord> = SigningAlg::ALL
        .iter()
        .map(|alg| {
            let (key, der) = SigningKey::generate(*alg).expect("signing key");
            KeyRecord {
                kid: key.kid().into(),
                alg: alg.name().into(),
                private_pkcs8: Secret::new(der),
                created_at: 0,
                activates_at: 0,
            }
        })
        .collect();
    let ring = KeyRing::build(&classify(&records, 10, 100)).expect("key ring");
    let own_claims = json!({"iss": ISSUER, "sub": "alice", "aud": "urn:api", "exp": NOW + 300});
    let own_tokens = SigningAlg::ALL
        .iter()
        .map(|alg| {
            let key = ring.signing_key(*alg).expect("active key");
            sign_compact(key, "at+jwt", &own_claims).expect("signed token")
        })
        .collect();

    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("EC key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("EC key pair");
    let point = pair.public_key().as_ref();
    let jwk = ClientJwk::from_json(&json!({
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
        "x": base64url(&point[1..33]), "y": base64url(&point[33..65]),
    }))
    .expect("client JWK");
    let es256 = compact(
        &json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}),
        &assertion_claims("key-client", "a1"),
        |input| {
            pair.sign(&rng, input)
                .expect("ECDSA signature")
                .as_ref()
                .to_vec()
        },
    );
    let hmac_key =
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SHARED_SECRET.as_bytes());
    let hs256 = compact(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &assertion_claims("secret-client", "a2"),
        |input| aws_lc_rs::hmac::sign(&hmac_key, input).as_ref().to_vec(),
    );
    let shared_secrets: SharedSecrets = HashMap::from([(
        "secret-client".to_string(),
        vec![Secret::new(SHARED_SECRET.to_string())],
    )]);
    Fixture {
        ring,
        own_tokens,
        own_claims: match own_claims {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        key_client: client(
            "key-client",
            TokenEndpointAuthMethod::PrivateKeyJwt,
            vec![jwk],
        ),
        secret_client: client(
            "secret-client",
            TokenEndpointAuthMethod::ClientSecretJwt,
            vec![],
        ),
        shared_secrets,
        assertions: vec![es256, hs256],
    }
}
