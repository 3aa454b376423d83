#![no_main]
//! See `batchdeck::fuzzing::batch_json` for what this target feeds and asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchdeck::fuzzing::batch_json(data));
