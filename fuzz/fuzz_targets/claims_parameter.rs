#![no_main]
// Body and properties: tessera_fuzzing::claims_parameter.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzzing::claims_parameter(data));
