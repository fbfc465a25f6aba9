//! `sqlx::migrate!` embeds `migrations/` at compile time; rebuild this crate
//! when a migration is added or changed (cargo does not see those files
//! otherwise).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
