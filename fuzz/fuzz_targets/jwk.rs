#![no_main]
// Body and properties: tessera_fuzzing::jwk.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzzing::jwk(data));
