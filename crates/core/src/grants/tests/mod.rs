//! Tests that span several grants.

mod atomic_issue;
mod code_flow;
