//! Integration tests: the real server on loopback ports, real SQLite files, a real PostgreSQL
//! server, the real binary, and third-party clients (`openidconnect`, `jsonwebtoken`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod assertions;
mod browser;
mod cli;
mod config_errors;
mod diagnostics;
mod discovery;
mod faults;
mod faults_postgres;
mod flows;
mod harness;
mod hostile_input;
mod hostile_sweep;
mod keys;
mod keys_rotation;
mod log_scan;
mod outbound;
mod parking;
mod postgres;
mod provisioning;
mod relying_parties;
mod revocation;
mod revocation_jwt;
mod signin;
mod signin_acr;
mod signin_browser;
mod signin_fixation;
mod signin_flood;
mod signin_hybrid;
mod signin_instances;
mod signin_lockout;
mod signin_native;
mod signin_negative;
mod signin_pages;
mod signout;
mod signout_cli;
mod stored_state;
mod support;
mod tokens;
mod tokens_hostile;
mod tokens_introspection;
mod tokens_resource;
mod validation;
mod webdriver;
mod wire_formats;
