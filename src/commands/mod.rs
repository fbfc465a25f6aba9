//! One module per subcommand.

pub mod challenge;
pub mod compile;
pub mod dataset;
pub mod db;
pub mod migrate;
pub mod rtl;
pub mod serve;
pub mod simulate;
pub mod submit;
pub mod token;
pub mod up;
pub mod user;
pub mod worker;
