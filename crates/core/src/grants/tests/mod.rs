//! Tests that span several grants.

mod code_flow;
