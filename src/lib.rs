//! The gateway binary's pieces: the command line, the sandbox (demo accounts, demo publishers
//! and their Add-ons, a demo number and webhook, on an empty database) and manifest files.
#![forbid(unsafe_code)]

pub mod cli;
pub mod demo_webhook;
pub mod sandbox;
