//! Migrations on a real PostgreSQL.

#[tokio::test]
async fn migrations_apply_and_are_idempotent() {
    let test = db::testing::database().await;
    let version = db::schema_version(&test.pool).await.unwrap();
    let newest = db::MIGRATOR.iter().map(|m| m.version).max().unwrap();
    assert_eq!(version, newest);
    // Running them again changes nothing and does not fail.
    db::migrate(&test.pool).await.unwrap();
    assert_eq!(db::schema_version(&test.pool).await.unwrap(), newest);
    db::require_migrated(&test.pool).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&test.pool)
    .await
    .unwrap();
    for table in ["jobs", "seeds"] {
        assert!(
            tables.iter().any(|t| t == table),
            "missing table {table} in {tables:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_database_is_reported_as_behind() {
    let test = db::testing::database().await;
    sqlx::query("DROP TABLE _sqlx_migrations")
        .execute(&test.pool)
        .await
        .unwrap();
    assert_eq!(db::schema_version(&test.pool).await.unwrap(), 0);
    let error = db::require_migrated(&test.pool).await.unwrap_err();
    assert!(error.to_string().contains("run `arena migrate`"), "{error}");
}

#[tokio::test]
async fn unreachable_database_is_one_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let error = db::connect("postgres://arena:secret@127.0.0.1:1/arena", 1)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("cannot connect to the database at postgres://arena:***@127.0.0.1:1/arena"),
        "{text}"
    );
    assert!(!text.contains("secret"), "password leaked: {text}");
}
