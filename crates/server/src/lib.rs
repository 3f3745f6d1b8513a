//! The `tessera` server: configuration, CLI, HTTP endpoints and the server lifecycle.

pub mod audit;
pub mod backchannel;
pub mod cli;
pub mod client_keys;
pub mod clientcache;
pub mod clock;
pub mod config;
pub mod connections;
pub mod federation;
pub mod hashing;
pub mod http;
pub mod keycache;
pub mod mail;
pub mod metrics;
pub mod mtls;
pub mod outbound;
pub mod provision;
pub mod resources;
pub mod serve;
pub mod state;
pub mod telemetry;
