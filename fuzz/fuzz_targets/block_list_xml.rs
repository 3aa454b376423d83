#![no_main]
//! See `batchdeck::fuzzing::block_list_xml` for what this target feeds and asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchdeck::fuzzing::block_list_xml(data));
