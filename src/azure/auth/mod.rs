//! Credentials: one abstraction over Shared Key and Microsoft Entra ID tokens, for both
//! services, and the signing rules the clients sign with and the emulator verifies with.
//!
//! - `shared_key`: Shared Key signing and verification (one implementation for both sides);
//! - `sas`: service, account and user delegation SAS fields, strings to sign, query form;
//! - `certificate`: a service principal's certificate, signing the client assertions a token
//!   request carries;
//! - `entra`: tokens from Microsoft's `azure_identity` credentials, in the Azure SDKs' order,
//!   cached per scope and refreshed before they expire;
//! - `credential`: [`Credential`], what a client signs or authorizes its requests with.

pub mod certificate;
mod credential;
pub mod entra;
mod sas;
mod shared_key;

pub use credential::{AuthMode, Credential};
pub use sas::*;
pub use shared_key::*;
