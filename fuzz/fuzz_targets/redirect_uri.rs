#![no_main]
// Body and properties: tessera_fuzzing::redirect_uri.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzzing::redirect_uri(data));
