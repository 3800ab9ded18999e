#![no_main]
//! The Cloudbeds webhook parser on arbitrary bodies.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| pms_fuzz::check_webhook(pms_cloudbeds::webhook::parse, body));
