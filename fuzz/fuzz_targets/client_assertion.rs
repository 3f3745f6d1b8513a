#![no_main]
// Body and properties: tessera_fuzzing::client_assertion.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzzing::client_assertion(data));
