//! The domain of the PMS integration layer: the canonical model and its validated newtypes
//! ([`domain`]), the ports the application depends on ([`ports`]) and their in-memory adapters
//! ([`memory`]), hotel configuration ([`config`]), and what a PMS adapter is ([`pms`]: the
//! trait, its error, the retry policy). It depends on no other crate of the workspace.

pub mod config;
pub mod domain;
pub mod memory;
pub mod pms;
pub mod ports;
