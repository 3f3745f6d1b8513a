#![no_main]
// Body and properties: tessera_fuzzing::basic_header.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzzing::basic_header(data));
