#![no_main]
//! The Mews webhook parser on arbitrary bodies.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| pms_fuzz::check_webhook(pms_mews::webhook::parse, body));
