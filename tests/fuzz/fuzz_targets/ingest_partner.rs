#![no_main]
//! The partner ingestion payload parser (bookings, guests, availability) on arbitrary bodies.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| pms_fuzz::check_ingest(body));
