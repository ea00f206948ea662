//! Integration tests: the gateway in-process on port 0, against a fresh PostgreSQL database
//! and a fresh SQLite file, spoken to over real HTTP.

mod support;

mod accounts;
mod admin;
mod inbound;
mod lookup;
mod marketplace;
mod sandbox;
mod sdk;
