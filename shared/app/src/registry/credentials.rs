//! Phase-A facade (notes/split-facades.md): vendor credentials live in pms-vendor-kit, next to
//! the factory that parses them.

pub use pms_vendor_kit::registry::{OperaGrant, VendorCredentials};
