//! Clients of the Azure REST APIs, and the pieces they share with the emulator.
pub mod auth;
pub mod batch;
pub mod crc64;
pub mod models;
pub mod retry;
pub mod storage;
