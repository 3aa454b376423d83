#![no_main]
//! See `batchdeck::fuzzing::sas` for what this target feeds and asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchdeck::fuzzing::sas(data));
