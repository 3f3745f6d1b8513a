#![no_main]
// Body and properties: tessera_fuzzing::jws.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzzing::jws(data));
