//! The bundled demo database: a small shop in SQLite with deliberate problems, so `dbabot chat`
//! has something real to diagnose on a fresh machine.
//!
//! Problems planted:
//! * `events` (120,000 rows) is looked up by `customer_id`, a foreign key no index leads with;
//! * `orders` has two identical indexes on `customer_id` (`idx_orders_customer`, `idx_orders_customer_dup`);
//! * `order_items` has no primary key.

use crate::config::{Engine, Secret, Target};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;

/// Errors creating the demo database.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot build the demo database: {0}")]
    Sqlite(#[from] sqlx::Error),
}

/// The alias the demo is registered under.
pub const ALIAS: &str = "demo";

const SCHEMA: &str = r#"
PRAGMA foreign_keys = ON;
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    status TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_orders_customer ON orders(customer_id);
CREATE INDEX idx_orders_customer_dup ON orders(customer_id);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price_cents INTEGER NOT NULL
);
CREATE INDEX idx_order_items_order ON order_items(order_id);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    payload TEXT,
    created_at TEXT NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO customers (id, email, name, country, created_at)
SELECT i, 'customer' || i || '@example.com', 'Customer ' || i,
       CASE i % 5 WHEN 0 THEN 'DE' WHEN 1 THEN 'US' WHEN 2 THEN 'FR' WHEN 3 THEN 'GB' ELSE 'NL' END,
       datetime('2024-01-01', '+' || (i % 700) || ' days')
  FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO orders (id, customer_id, status, total_cents, created_at)
SELECT i, 1 + (i * 7919) % 2000,
       CASE i % 10 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'pending' ELSE 'shipped' END,
       500 + (i * 37) % 20000, datetime('2024-01-01', '+' || (i % 700) || ' days')
  FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
INSERT INTO order_items (order_id, sku, quantity, price_cents)
SELECT 1 + (i * 104729) % 20000, 'SKU-' || (i % 500), 1 + i % 4, 100 + (i * 13) % 5000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000)
INSERT INTO events (id, customer_id, kind, payload, created_at)
SELECT i, 1 + (i * 31) % 2000,
       CASE i % 4 WHEN 0 THEN 'page_view' WHEN 1 THEN 'add_to_cart' WHEN 2 THEN 'search' ELSE 'checkout' END,
       '{"session":"' || (i % 9973) || '"}', datetime('2024-01-01', '+' || (i % 700) || ' days')
  FROM n;
ANALYZE;
"#;

/// Creates `<data_dir>/demo.sqlite` when it does not exist yet and returns its target.
///
/// # Errors
/// [`DemoError`] when the directory or the database cannot be written.
pub async fn ensure(data_dir: &Path) -> Result<Target, DemoError> {
    std::fs::create_dir_all(data_dir).map_err(|source| DemoError::Dir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let path = data_dir.join("demo.sqlite");
    if !path.exists() {
        let tmp = data_dir.join("demo.sqlite.building");
        let _ = std::fs::remove_file(&tmp);
        let mut conn = SqliteConnectOptions::new()
            .filename(&tmp)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Delete)
            .connect()
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&mut conn).await?;
        conn.close().await?;
        std::fs::rename(&tmp, &path).map_err(|source| DemoError::Dir {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(target(&path))
}

/// The demo target for an existing file.
pub fn target(path: &Path) -> Target {
    Target {
        alias: ALIAS.into(),
        aliases: vec!["demo-db".into(), "shop".into()],
        engine: Engine::Sqlite,
        environment: "dev".into(),
        cloud: "on-prem".into(),
        dsn_source: format!("bundled demo {}", path.display()),
        dsn: Secret::new(format!("sqlite://{}", path.display())),
    }
}
