//! Operations on the platform shared by the HTTP handlers, the CLI and the demo
//! seeding: each checks its input, then writes to the store and the database.

pub mod audit;
pub mod challenges;
pub mod datasets;
pub mod submissions;
