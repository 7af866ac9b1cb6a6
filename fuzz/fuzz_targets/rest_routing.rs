#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ikanos::fuzzing::rest_routing(data));
