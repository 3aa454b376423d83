#![no_main]
//! See `batchdeck::fuzzing::shared_key` for what this target feeds and asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchdeck::fuzzing::shared_key(data));
