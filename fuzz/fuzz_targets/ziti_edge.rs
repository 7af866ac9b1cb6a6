#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ikanos_ziti::fuzzing::edge(data));
