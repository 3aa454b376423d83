#![no_main]
//! See `batchdeck::fuzzing::odata_filter` for what this target feeds and asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchdeck::fuzzing::odata_filter(data));
