//! Any bytes that decode, admitted against a small ledger: see
//! [`fuzz_checks::admit_event`].
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::admit_event(data));
