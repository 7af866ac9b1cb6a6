#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ikanos::fuzzing::mcp_jsonrpc(data));
