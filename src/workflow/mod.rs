//! The tutorial workflow (steps 1-9) and the monitor that watches a job. Both only send
//! `Event`s; they never touch the terminal.
pub mod events;
pub mod spec;
