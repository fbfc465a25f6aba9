//! One module per subcommand.

pub mod db;
pub mod migrate;
pub mod serve;
pub mod up;
pub mod worker;
