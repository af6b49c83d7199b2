//! Any bytes as a signed event: see [`fuzz_checks::decode_event`].
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::decode_event(data));
