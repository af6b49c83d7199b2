//! Any bytes that decode as a signed event, admitted against a small ledger (genesis and
//! a generated district): every rule runs, with the signature check deferred so the
//! fuzzer gets past it, then once more with it; never a panic, and the two agree on
//! everything but the signature.
#![no_main]

use ledger_core::admission::{admit, admit_deferring_signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(wire) = foodtrace_fuzz::signed_event(data) else {
        return;
    };
    let Ok(event) = ledger_proto::decode_signed_event(wire) else {
        return;
    };
    let ledger = foodtrace_fuzz::ledger();
    let now = foodtrace_fuzz::now();
    let deferred = admit_deferring_signature(ledger, &event, ledger.next, now);
    let checked = admit(ledger, &event, ledger.next, now);
    if let Err(refusal) = &deferred {
        // Refused on its merits: the checked admission refuses it too.
        assert!(
            checked.is_err(),
            "deferred refused ({refusal}) but checked admitted"
        );
    }
});
