//! Signatures per second on one core for the two signing algorithms, with Tessera's own keys
//! and JWS code: the ceiling of JWT access tokens per core (bench/compare.py compares the
//! client_credentials rows against it).
//!
//! `cargo bench -p tessera-core --bench signing_rate`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use std::time::{Duration, Instant};

use serde_json::json;
use tessera_core::tokens::jws::sign_compact;
use tessera_core::tokens::{SigningAlg, SigningKey};

#[allow(clippy::disallowed_methods)] // a benchmark measures real time
fn main() {
    let claims = json!({
        "iss": "http://127.0.0.1:8080", "exp": 1_800_000_000, "iat": 1_799_996_400,
        "nbf": 1_799_996_400, "aud": "urn:api1", "sub": "machine", "client_id": "machine",
        "scope": "api1.read", "jti": "0123456789abcdefghijkl"
    });
    for alg in SigningAlg::ALL {
        let (key, _) = SigningKey::generate(alg).unwrap();
        let time = Duration::from_secs(2);
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < time {
            sign_compact(&key, "at+jwt", &claims).unwrap();
            n += 1;
        }
        let rate = f64::from(n) / start.elapsed().as_secs_f64();
        println!(
            "{} access tokens signed per second on one core: {rate:.0}",
            alg.name()
        );
    }
}
