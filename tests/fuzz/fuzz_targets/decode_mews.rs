#![no_main]
//! Every Mews response decoder (wire types, mapping) on arbitrary bodies.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| pms_fuzz::check_decoders(pms_mews::decode::DECODERS, body));
