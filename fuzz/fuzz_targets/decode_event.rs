//! Any bytes as a signed event: decoding refuses or accepts, never panics; what it
//! accepts is canonical (its body bytes are kept as received and hash to its hash).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(wire) = foodtrace_fuzz::signed_event(data) else {
        return;
    };
    let body = wire.body.clone();
    if let Ok(event) = ledger_proto::decode_signed_event(wire) {
        assert_eq!(event.body_bytes(), &body[..]);
        assert_eq!(event.hash(), ledger_core::contract::event_hash(&body));
        // A refusal's text is made without panicking too.
        let _ = ledger_proto::refusal_message(&ledger_core::Refusal::new(
            ledger_core::RefusalCode::InvalidArgument,
            "body",
            format!("{:?}", event.body().kind.name()),
        ));
    }
});
