//! Argon2id verifications per second, at the parameters Tessera hashes with: the ceiling of
//! full sign-ins (bench/signin.py compares against it). Measured on one thread, then on one
//! thread per core at once (memory bandwidth is shared, so the per-core rate drops).
//!
//! `cargo bench -p tessera-core --bench password_rate`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use std::time::{Duration, Instant};

use tessera_core::passwords::{hash_password, verify_password};

const PASSWORD: &str = "correct horse battery staple";

#[allow(clippy::disallowed_methods)] // a benchmark measures real time
fn verify_for(hash: &str, time: Duration) -> u32 {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < time {
        assert!(verify_password(PASSWORD, hash));
        n += 1;
    }
    n
}

fn main() {
    let hash = hash_password(PASSWORD).unwrap();
    let time = Duration::from_secs(3);
    let one = f64::from(verify_for(&hash, time)) / time.as_secs_f64();
    println!("argon2id verifications per second, one thread: {one:.1}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total: u32 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| s.spawn(|| verify_for(&hash, time)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let all = f64::from(total) / time.as_secs_f64();
    println!(
        "argon2id verifications per second, {cores} threads: {all:.1} ({:.1} per core)",
        all / cores as f64
    );
}
