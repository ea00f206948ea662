//! The gateway binary's pieces: the command line, the sandbox (demo accounts, demo publishers
//! and their Add-ons on an empty database) and manifest files.
#![forbid(unsafe_code)]

pub mod cli;
pub mod sandbox;
