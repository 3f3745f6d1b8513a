#![no_main]
// Body and properties: tessera_fuzzing::form.
libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzzing::form(data));
